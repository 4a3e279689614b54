//! The rows of the history: [`HistoryEvent`] (what is recorded, and how an engine event or a
//! webhook delivery becomes one, in this one place) and [`HistoryRow`] (what a query returns).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    COMMIT, CONFLICT_DETECTED, RATE_LIMIT_HIT, STALE, SYNC_FAILURE, SYNC_START, SYNC_SUCCESS,
    WARNING, WEBHOOK,
};
use crate::events::Event;

/// One event to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The folder's name.
    pub folder: String,
    /// One of the event type constants of this module ([`SYNC_SUCCESS`], ...).
    pub event_type: String,
    /// When it happened (stored with millisecond precision).
    pub timestamp: DateTime<Utc>,
    /// How long the work took, in seconds.
    pub duration_sec: Option<f64>,
    /// How many files the commit or sync changed.
    pub files_changed: Option<i64>,
    /// The commit made or pushed.
    pub commit_hash: Option<String>,
    /// Why it failed, scrubbed of credentials.
    pub error_msg: Option<String>,
    /// Why it happened (a block's reason, a backoff's delay, a pause's cause).
    pub reason: Option<String>,
    /// Anything else, as JSON (fields of an imported line that have no column).
    pub data: Option<serde_json::Value>,
}

impl HistoryEvent {
    /// Creates an event with no details; set the fields that apply.
    pub fn new(folder: &str, event_type: &str, timestamp: DateTime<Utc>) -> Self {
        HistoryEvent {
            folder: folder.to_string(),
            event_type: event_type.to_string(),
            timestamp,
            duration_sec: None,
            files_changed: None,
            commit_hash: None,
            error_msg: None,
            reason: None,
            data: None,
        }
    }

    /// Returns the row an engine event is recorded as, stamped now, or `None` for events that
    /// are not history (state changes, progress, finished operations).
    pub fn from_event(event: &Event) -> Option<HistoryEvent> {
        let now = Utc::now();
        let mut row = HistoryEvent::new(event.folder(), "", now);
        match event {
            Event::State { .. } | Event::Progress { .. } | Event::OperationFinished { .. } => {
                return None
            }
            Event::Stale { alert, message, cleared, .. } => {
                row.event_type = STALE.into();
                row.reason =
                    Some(if *cleared { format!("{alert} cleared") } else { message.clone() });
                row.data = Some(serde_json::json!({ "alert": alert, "cleared": cleared }));
            }
            Event::SyncStart { trigger, .. } => {
                row.event_type = SYNC_START.into();
                row.reason = Some(trigger.clone());
            }
            Event::Committed { commit, files_changed, .. } => {
                row.event_type = COMMIT.into();
                row.commit_hash = Some(commit.clone());
                row.files_changed = Some(*files_changed as i64);
            }
            Event::SyncSuccess { duration_sec, files_changed, commit, pulled, pushed, .. } => {
                row.event_type = SYNC_SUCCESS.into();
                row.duration_sec = Some(*duration_sec);
                row.files_changed = Some(*files_changed as i64);
                row.commit_hash = commit.clone();
                row.data = Some(serde_json::json!({ "pulled": pulled, "pushed": pushed }));
            }
            Event::SyncFailure { error, code, class, retry_in_sec, .. } => {
                row.event_type = SYNC_FAILURE.into();
                row.error_msg = Some(error.clone());
                row.reason = Some(code.clone());
                row.data =
                    Some(serde_json::json!({ "class": class, "retry_in_sec": retry_in_sec }));
            }
            Event::RateLimitHit { reason, retry_in_sec, .. } => {
                row.event_type = RATE_LIMIT_HIT.into();
                row.reason = Some(format!("{reason}; next attempt in {retry_in_sec} s"));
            }
            Event::ConflictDetected { path, copy, conflict_kind, strategy, .. } => {
                row.event_type = CONFLICT_DETECTED.into();
                row.reason = Some(format!("{path}: {conflict_kind}, {strategy}"));
                row.data = Some(serde_json::json!({ "path": path, "copy": copy }));
            }
            Event::FileSkipped { path, reason, .. } => {
                row.event_type = WARNING.into();
                row.reason = Some(format!("not syncing {path}: {reason}"));
            }
            Event::Warning { message, .. } => {
                row.event_type = WARNING.into();
                row.reason = Some(message.clone());
            }
        }
        Some(row)
    }

    /// Returns the row of one webhook delivery (event type [`WEBHOOK`]), stamped `now`: its
    /// wall time, its error (no URL in it), its one-line `summary` as the reason and the whole
    /// `report` as data.
    pub fn webhook_delivery(
        folder: &str,
        now: DateTime<Utc>,
        duration_sec: f64,
        error: Option<String>,
        summary: String,
        report: Option<serde_json::Value>,
    ) -> HistoryEvent {
        let mut row = HistoryEvent::new(folder, WEBHOOK, now);
        row.duration_sec = Some(duration_sec);
        row.error_msg = error;
        row.reason = Some(summary);
        row.data = report;
        row
    }
}

/// One recorded event, as [`History::recent`](super::History::recent) returns it (the seed's `recent` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Row id: increases with insertion order.
    pub id: i64,
    /// The folder's name.
    pub folder: String,
    /// The event type.
    pub event_type: String,
    /// When it happened; serialised as RFC 3339 in UTC with `Z`.
    pub timestamp: DateTime<Utc>,
    /// How long the work took, in seconds.
    pub duration_sec: Option<f64>,
    /// How many files changed.
    pub files_changed: Option<i64>,
    /// The commit made or pushed.
    pub commit_hash: Option<String>,
    /// Why it failed.
    pub error_msg: Option<String>,
    /// Why it happened.
    pub reason: Option<String>,
    /// Anything else, as JSON.
    pub data: Option<serde_json::Value>,
}
