//! Native notifications: the engine decides what deserves one; shells only show them.
//!
//! A [`Notifier`] consumes engine [`Event`]s and answers with at most one [`Notification`]
//! each: a failure streak (once per streak, when it reaches `failure_threshold`), a state that
//! needs the user (once, not per retry), a new conflict that waits for a decision, and the
//! recovery after a notified failure. Each kind can be turned off, and no folder gets more than
//! one notification of a kind per `min_interval_sec`, so a flapping remote cannot spam. Time is
//! an input (`now`), so the rules are tested without sleeping. [`Notifier::next`] is the loop
//! the shells run over the event bus and settings updates; they only deliver what it returns.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use serde::Serialize;

use crate::events::Event;
use crate::FailureClass;

pub use crate::config::{
    NotificationSettings, DEFAULT_FAILURE_THRESHOLD, DEFAULT_MIN_INTERVAL_SEC,
};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Syncing failed several times in a row.
    FailureStreak,
    /// The folder stopped until the user acts.
    NeedsAttention,
    /// A conflict waits for a decision.
    Conflict,
    /// Syncing works again.
    Recovered,
    /// Work waits too long (a freshness alert).
    Stale,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// What it is about.
    pub kind: Kind,
    /// The folder.
    pub folder: String,
    /// One-line title.
    pub title: String,
    /// Body text with the fix in words when there is one.
    pub body: String,
    /// The UI page a click should open (`status`, `conflicts`).
    pub page: &'static str,
    /// Whether it is urgent (failures that need the user).
    pub urgent: bool,
}

#[derive(Debug, Default)]
struct FolderTrack {
    streak: u32,
    streak_notified: bool,
    attention_notified: bool,
}

/// Decides which events deserve a notification.
#[derive(Debug, Default)]
pub struct Notifier {
    settings: HashMap<String, NotificationSettings>,
    tracks: HashMap<String, FolderTrack>,
    last_sent: HashMap<(String, Kind), Instant>,
}

/// Returns each folder's notification settings, keyed as events name folders.
pub fn folder_settings(
    folders: &[crate::config::FolderConfig],
) -> Vec<(String, NotificationSettings)> {
    folders
        .iter()
        .map(|f| (f.path.display().to_string(), f.settings.notifications.clone()))
        .collect()
}

impl Notifier {
    /// Creates a notifier with each folder's settings (folders not listed use the defaults).
    pub fn new(settings: impl IntoIterator<Item = (String, NotificationSettings)>) -> Self {
        Notifier { settings: settings.into_iter().collect(), ..Default::default() }
    }

    /// Replaces every folder's settings (the configuration changed); what was already sent
    /// still counts for the coalescing.
    pub fn set_settings(
        &mut self,
        settings: impl IntoIterator<Item = (String, NotificationSettings)>,
    ) {
        self.settings = settings.into_iter().collect();
    }

    /// Returns the notification `event` deserves at `now`, if any.
    pub fn on_event(&mut self, event: &Event, now: Instant) -> Option<Notification> {
        let folder = event.folder().to_string();
        let settings = self.settings.get(&folder).cloned().unwrap_or_default();
        if !settings.enabled {
            return None;
        }
        let name = short_name(&folder);
        let track = self.tracks.entry(folder.clone()).or_default();
        let candidate = match event {
            Event::SyncFailure { error, class: FailureClass::NeedsAttention, .. } => {
                track.streak += 1;
                if track.attention_notified || !settings.needs_attention {
                    None
                } else {
                    track.attention_notified = true;
                    track.streak_notified = true; // recovery is worth telling after this
                    Some(Notification {
                        kind: Kind::NeedsAttention,
                        folder: folder.clone(),
                        title: format!("{name}: syncing stopped"),
                        body: format!("{error}\n{}", fix_for(error)),
                        page: "status",
                        urgent: true,
                    })
                }
            }
            Event::SyncFailure { error, .. } => {
                track.streak += 1;
                if track.streak >= settings.failure_threshold.max(1)
                    && !track.streak_notified
                    && settings.failures
                {
                    track.streak_notified = true;
                    Some(Notification {
                        kind: Kind::FailureStreak,
                        folder: folder.clone(),
                        title: format!("{name}: sync failing"),
                        body: format!(
                            "{} attempts in a row failed: {error}\nChanges are kept and \
                             committed locally; syncing retries by itself.",
                            track.streak
                        ),
                        page: "status",
                        urgent: false,
                    })
                } else {
                    None
                }
            }
            Event::SyncSuccess { .. } => {
                let was_notified = track.streak_notified;
                *track = FolderTrack::default();
                (was_notified && settings.recovery).then(|| Notification {
                    kind: Kind::Recovered,
                    folder: folder.clone(),
                    title: format!("{name}: syncing again"),
                    body: "The remote is reachable again; pending changes were synced.".into(),
                    page: "status",
                    urgent: false,
                })
            }
            Event::Stale { message, cleared: false, .. } if settings.stale => Some(Notification {
                kind: Kind::Stale,
                folder: folder.clone(),
                title: format!("{name}: not in sync"),
                body: message.clone(),
                page: "status",
                urgent: false,
            }),
            Event::ConflictDetected { path, copy: Some(copy), .. } if settings.conflicts => {
                Some(Notification {
                    kind: Kind::Conflict,
                    folder: folder.clone(),
                    title: format!("{name}: conflict in {path}"),
                    body: format!(
                        "Two devices changed {path}. Both versions are kept ({copy}); pick one in \
                         Conflicts."
                    ),
                    page: "conflicts",
                    urgent: false,
                })
            }
            _ => None,
        }?;
        let key = (folder, candidate.kind);
        let gap = Duration::from_secs(settings.min_interval_sec);
        if let Some(last) = self.last_sent.get(&key) {
            if now.saturating_duration_since(*last) < gap {
                return None;
            }
        }
        self.last_sent.insert(key, now);
        Some(candidate)
    }

    /// Waits for the next notification to show: takes `events` in turn until one deserves a
    /// notification, applying new settings from `updates` as they come. Returns `None` once
    /// `events` is closed.
    ///
    /// This is the shells' notification loop, so they only deliver; it reads the clock for each
    /// event and leaves the rules to [`Notifier::on_event`].
    pub fn next(
        &mut self,
        events: &Receiver<Event>,
        updates: &Receiver<Vec<(String, NotificationSettings)>>,
    ) -> Option<Notification> {
        loop {
            let event = crossbeam_channel::select! {
                recv(events) -> event => event.ok()?,
                recv(updates) -> settings => match settings {
                    Ok(settings) => {
                        self.set_settings(settings);
                        continue;
                    }
                    // No settings will come any more (a closed channel is always ready): wait
                    // for the next event alone rather than spin on it.
                    Err(_) => events.recv().ok()?,
                },
            };
            if let Some(n) = self.on_event(&event, Instant::now()) {
                return Some(n);
            }
        }
    }
}

fn short_name(folder: &str) -> String {
    folder.rsplit('/').find(|s| !s.is_empty()).unwrap_or(folder).to_string()
}

/// Returns the fix, in words, for a needs-attention error message.
pub fn fix_for(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("authentication") || e.contains("could not read username") || e.contains("401") {
        "Authentication failed: check your SSH key or access token for this remote."
    } else if e.contains("permission denied") || e.contains("403") {
        "Access denied: this account may not write to the remote."
    } else if e.contains("host key") || e.contains("host identification") {
        "The server's host key changed: verify it, then update ~/.ssh/known_hosts."
    } else if e.contains("does not appear to be a git repository") || e.contains("not found") {
        "The remote repository was not found: check the remote URL in Settings."
    } else if e.contains("mass delete") {
        "Many files were deleted at once: restore them, or confirm the deletion."
    } else if e.contains("disk") || e.contains("no space") {
        "The disk is nearly full: free some space and syncing resumes."
    } else {
        "Open Supersonic Sync for details."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(class: FailureClass) -> Event {
        Event::SyncFailure {
            folder: "/home/u/notes".into(),
            error: "fetch failed: Connection refused".into(),
            code: "remote_unreachable".into(),
            class,
            retry_in_sec: Some(1),
        }
    }

    fn success() -> Event {
        Event::SyncSuccess {
            folder: "/home/u/notes".into(),
            duration_sec: 0.1,
            files_changed: 0,
            commit: None,
            pulled: false,
            pushed: true,
        }
    }

    #[test]
    fn a_streak_of_five_failures_notifies_once_and_recovery_once() {
        let mut n = Notifier::new([]);
        let t = Instant::now();
        let sent: Vec<Kind> = (0..5)
            .filter_map(|i| {
                n.on_event(&failure(FailureClass::Transient), t + Duration::from_secs(i))
            })
            .map(|x| x.kind)
            .collect();
        assert_eq!(sent, vec![Kind::FailureStreak], "one notification for the whole streak");
        let r = n.on_event(&success(), t + Duration::from_secs(10)).map(|x| x.kind);
        assert_eq!(r, Some(Kind::Recovered));
        assert_eq!(n.on_event(&success(), t + Duration::from_secs(11)), None, "only once");
    }

    #[test]
    fn short_blips_do_not_notify_at_all() {
        let mut n = Notifier::new([]);
        let t = Instant::now();
        assert_eq!(n.on_event(&failure(FailureClass::Transient), t), None);
        assert_eq!(n.on_event(&success(), t), None, "no recovery for an unnotified blip");
    }

    #[test]
    fn a_flapping_remote_is_rate_limited_per_kind() {
        let mut n = Notifier::new([]);
        let t = Instant::now();
        let mut count = 0;
        for round in 0..5u64 {
            for i in 0..3 {
                let at = t + Duration::from_secs(round * 60 + i);
                count += n.on_event(&failure(FailureClass::Transient), at).is_some() as usize;
            }
            n.on_event(&success(), t + Duration::from_secs(round * 60 + 30));
        }
        assert_eq!(count, 1, "five streaks within ten minutes notify once");
    }

    #[test]
    fn needs_attention_notifies_once_with_the_fix() {
        let mut n = Notifier::new([]);
        let t = Instant::now();
        let mut e = failure(FailureClass::NeedsAttention);
        if let Event::SyncFailure { error, .. } = &mut e {
            *error = "fetch x failed: Authentication failed for 'http://x/'".into();
        }
        let first = n.on_event(&e, t).unwrap();
        assert!(first.urgent && first.body.contains("SSH key or access token"), "{first:?}");
        assert_eq!(n.on_event(&e, t + Duration::from_secs(3600)), None, "no retry loop of notes");
    }

    #[test]
    fn kinds_can_be_turned_off() {
        let s = NotificationSettings { failures: false, ..Default::default() };
        let mut n = Notifier::new([("/home/u/notes".to_string(), s)]);
        let t = Instant::now();
        for i in 0..5 {
            assert_eq!(
                n.on_event(&failure(FailureClass::Transient), t + Duration::from_secs(i)),
                None
            );
        }
    }

    #[test]
    fn a_freshness_alert_is_notified_and_its_clearing_is_not() {
        let mut n = Notifier::default();
        let stale = |cleared| Event::Stale {
            folder: "/home/u/notes".into(),
            alert: "unpushed".into(),
            message: "2 commit(s) have waited 3 h to be pushed".into(),
            cleared,
        };
        let shown = n.on_event(&stale(false), Instant::now()).expect("notified");
        assert_eq!(shown.kind, Kind::Stale);
        assert_eq!(shown.body, "2 commit(s) have waited 3 h to be pushed");
        assert!(n.on_event(&stale(true), Instant::now()).is_none());
    }

    #[test]
    fn next_skips_quiet_events_and_ends_with_the_events() {
        let (send, events) = crossbeam_channel::unbounded();
        let (_keep, updates) = crossbeam_channel::unbounded();
        send.send(success()).unwrap();
        send.send(failure(FailureClass::NeedsAttention)).unwrap();
        drop(send);
        let mut n = Notifier::default();
        let shown = n.next(&events, &updates).map(|x| x.kind);
        assert_eq!(shown, Some(Kind::NeedsAttention), "a success alone deserves no notification");
        assert_eq!(n.next(&events, &updates), None, "the events ended, so does the loop");
    }

    #[test]
    fn next_keeps_serving_events_after_the_settings_channel_closed() {
        let (send, events) = crossbeam_channel::unbounded();
        let (updates_tx, updates) = crossbeam_channel::unbounded();
        drop(updates_tx);
        let later = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            send.send(failure(FailureClass::NeedsAttention)).unwrap();
        });
        let mut n = Notifier::default();
        let shown = n.next(&events, &updates).map(|x| x.kind);
        assert_eq!(shown, Some(Kind::NeedsAttention));
        later.join().unwrap();
        assert_eq!(n.next(&events, &updates), None);
    }
}
