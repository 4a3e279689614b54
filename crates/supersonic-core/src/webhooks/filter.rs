//! Which events an endpoint hears: the names an event goes by and the `webhooks.events` filter
//! (empty: [`DEFAULT_EVENTS`]).

use crate::events::Event;
use crate::history;
use crate::FailureClass;

/// Event name of a sync failure that stops the folder until the user acts.
pub const NEEDS_ATTENTION: &str = "needs_attention";

/// Every event name the `webhooks.events` filter accepts.
pub const EVENT_TYPES: &[&str] = &[
    history::SYNC_START,
    history::SYNC_SUCCESS,
    history::SYNC_FAILURE,
    NEEDS_ATTENTION,
    history::RATE_LIMIT_HIT,
    history::CONFLICT_DETECTED,
    history::STALE,
    history::WARNING,
];

/// The events sent when `webhooks.events` is empty: how each sync ended and what needs the
/// user. `sync_start` (one per cycle, and the cycle's end follows within seconds) and `warning`
/// are sent only when listed.
pub const DEFAULT_EVENTS: &[&str] = &[
    history::SYNC_SUCCESS,
    history::SYNC_FAILURE,
    NEEDS_ATTENTION,
    history::RATE_LIMIT_HIT,
    history::CONFLICT_DETECTED,
    history::STALE,
];

/// Returns the names `event` goes by in the filter, most specific first (empty for events that
/// are never sent).
fn names(event: &Event) -> &'static [&'static str] {
    match event {
        Event::SyncStart { .. } => &[history::SYNC_START],
        Event::SyncSuccess { .. } => &[history::SYNC_SUCCESS],
        Event::SyncFailure { class: FailureClass::NeedsAttention, .. } => {
            &[NEEDS_ATTENTION, history::SYNC_FAILURE]
        }
        Event::SyncFailure { .. } => &[history::SYNC_FAILURE],
        Event::RateLimitHit { .. } => &[history::RATE_LIMIT_HIT],
        Event::ConflictDetected { .. } => &[history::CONFLICT_DETECTED],
        Event::FileSkipped { .. } | Event::Warning { .. } => &[history::WARNING],
        Event::Stale { cleared: false, .. } => &[history::STALE],
        Event::State { .. }
        | Event::Committed { .. }
        | Event::Progress { .. }
        | Event::OperationFinished { .. }
        | Event::Stale { cleared: true, .. } => &[],
    }
}

/// Returns the name under which `event` is sent to an endpoint with `filter` (empty filter:
/// [`DEFAULT_EVENTS`]), or `None` when the endpoint does not want it.
///
/// A failure that needs attention is sent once: as `needs_attention` when the filter lists it,
/// else as `sync_failure` when the filter lists that.
pub fn event_name(event: &Event, filter: &[String]) -> Option<&'static str> {
    names(event).iter().copied().find(|name| {
        if filter.is_empty() {
            DEFAULT_EVENTS.contains(name)
        } else {
            filter.iter().any(|f| f == name)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::fixtures::{failure, success};

    #[test]
    fn needs_attention_is_sent_once_under_its_most_specific_subscribed_name() {
        let both = vec!["sync_failure".to_string(), "needs_attention".to_string()];
        let attention = failure(FailureClass::NeedsAttention);
        assert_eq!(event_name(&attention, &both), Some(NEEDS_ATTENTION));
        assert_eq!(event_name(&attention, &["sync_failure".into()]), Some("sync_failure"));
        assert_eq!(
            event_name(&failure(FailureClass::Transient), &["needs_attention".into()]),
            None
        );
        let start = Event::SyncStart { folder: "/f".into(), trigger: "poll".into() };
        assert_eq!(event_name(&start, &[]), None, "sync_start is not a default event");
        assert_eq!(event_name(&start, &["sync_start".into()]), Some("sync_start"));
        assert_eq!(event_name(&success(), &[]), Some("sync_success"));
    }
}
