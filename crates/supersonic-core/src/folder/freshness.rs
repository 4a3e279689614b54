//! Freshness: the alerts raised when work goes stale (unpushed commits waiting, a remote not
//! reached, another device silent), and the record on the remote of this device's last sync
//! that lets other devices tell whether it is silent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use super::Folder;
use crate::events::Event;

/// Shortest time between two records of this device's last sync on the remote (one tiny
/// forced ref push each, outside the branch): often enough that a device which only receives
/// never looks silent, rarely enough to cost nothing next to the syncs themselves.
pub const DEVICE_SEEN_EVERY: Duration = Duration::from_secs(600);

impl Folder {
    /// Raises (once) and clears the freshness alerts of `freshness:`: unpushed work older than
    /// `unpushed_max_min`, a remote not reached for `remote_unreached_max_min`, another device
    /// silent for `device_silent_max_hours` (checked at most hourly).
    pub(super) fn check_freshness(&mut self) {
        let f = self.config.settings.freshness.clone();
        let now = self.now();
        let age_min = |t: SystemTime| now.duration_since(t).unwrap_or_default().as_secs() / 60;
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        if f.unpushed_max_min > 0 && self.unpushed > 0 && self.config.mode.pushes() {
            if let Ok(Some(oldest)) = self.repo.oldest_unpushed() {
                let waited = age_min(oldest.into());
                if waited >= f.unpushed_max_min {
                    found.insert(
                        "unpushed".into(),
                        format!(
                            "{} commit(s) have waited {} to be pushed",
                            self.unpushed,
                            words(waited)
                        ),
                    );
                }
            }
        }
        if f.remote_unreached_max_min > 0 {
            let waited = age_min(self.last_remote_ok);
            if waited >= f.remote_unreached_max_min {
                found.insert(
                    "remote_unreached".into(),
                    format!("the remote has not been reached for {}", words(waited)),
                );
            }
        }
        if f.device_silent_max_hours > 0 {
            let due = self.devices_checked.is_none_or(|t| t.elapsed() >= DEVICE_CHECK_EVERY);
            if due {
                self.devices_checked = Some(Instant::now());
                let silent: Vec<String> = self
                    .repo
                    .devices(DEVICE_CHECK_DEPTH)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|d| {
                        d.via_supersonic && d.id.as_deref() != Some(&self.identity.device.id)
                    })
                    .filter(|d| age_min(d.last_commit.into()) >= f.device_silent_max_hours * 60)
                    .map(|d| format!("{} ({})", d.name, words(age_min(d.last_commit.into()))))
                    .collect();
                if !silent.is_empty() {
                    found.insert(
                        "device_silent".into(),
                        format!("no sync from {} ", silent.join(", ")).trim_end().to_string(),
                    );
                }
            } else if let Some(kept) = self.stale.get("device_silent") {
                found.insert("device_silent".into(), kept.clone());
            }
        }
        let folder = self.folder_name();
        let cleared: Vec<String> =
            self.stale.keys().filter(|k| !found.contains_key(*k)).cloned().collect();
        for alert in cleared {
            self.stale.remove(&alert);
            self.emit(Event::Stale {
                folder: folder.clone(),
                alert,
                message: String::new(),
                cleared: true,
            });
        }
        for (alert, message) in found {
            if !self.stale.contains_key(&alert) {
                tracing::warn!("{folder}: {message}");
                self.emit(Event::Stale {
                    folder: folder.clone(),
                    alert: alert.clone(),
                    message: message.clone(),
                    cleared: false,
                });
            }
            self.stale.insert(alert, message);
        }
        self.write_status();
    }

    /// Records on the remote that this device just synced, when the last record is older than
    /// [`DEVICE_SEEN_EVERY`] (a mirror, which never writes to the remote, does not). A failure
    /// is logged, never the cycle's: the record only informs the devices view.
    pub(super) fn publish_seen(&mut self) {
        if !self.config.mode.pushes()
            || self.seen_published.is_some_and(|t| t.elapsed() < DEVICE_SEEN_EVERY)
        {
            return;
        }
        self.seen_published = Some(Instant::now());
        let now = DateTime::<Utc>::from(self.now());
        if let Err(e) = self.repo.publish_seen(&self.identity, now, self.timeout()) {
            tracing::warn!("{}: cannot record this device's last sync: {e}", self.folder_name());
        }
    }
}

/// How often other devices' last syncs are looked up for the `device_silent` alert.
const DEVICE_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Commits walked for the `device_silent` alert.
const DEVICE_CHECK_DEPTH: usize = 5_000;

/// Minutes in words: "45 min", "3 h", "2 days".
fn words(minutes: u64) -> String {
    match minutes {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}
