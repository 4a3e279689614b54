//! Upkeep of a folder's repository between cycles: its size measured after syncs changed it
//! (never per change), and `git gc`, automatic once quiet after changes and in full on the
//! configured schedule.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use super::Folder;
use crate::history::{self, HistoryEvent};
use crate::status::FolderState;
use crate::Result;

/// Shortest time between two growth measurements while syncs keep changing the repository:
/// a measurement walks `.git` and the history (milliseconds to a few hundred on a large
/// repository), so it follows changes, but never per change.
pub const GROWTH_REFRESH: Duration = Duration::from_secs(180);
/// How long a folder must have been quiet (no commit, pull or push) before `git gc` runs, so a
/// burst of edits is not slowed by a repack. Capped at half the gc interval, so a short
/// interval (a test's) still finds a quiet moment.
pub const GC_QUIET: Duration = Duration::from_secs(120);
/// Deadline of one `git gc`: a full repack of a large repository at low priority takes
/// minutes; past this it is killed (git's own files stay consistent) and retried next interval.
pub const GC_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Folder {
    /// Measures the repository's size now and publishes it in the status.
    pub fn measure_growth(&mut self) {
        match self.repo.growth(Utc::now()) {
            Ok(g) => {
                self.growth = Some(g);
                self.growth_at = Some(Instant::now());
                self.growth_dirty = false;
                self.write_status();
            }
            Err(e) => tracing::warn!("{}: cannot measure the repository: {e}", self.folder_name()),
        }
    }

    /// Returns the gc interval, `None` when gc is off.
    pub(super) fn gc_interval(&self) -> Option<Duration> {
        let hours = self.config.settings.sync.gc_interval_hours;
        (hours > 0.0).then(|| Duration::from_secs_f64(hours * 3600.0))
    }

    /// Returns whether the folder may be maintained now: neither paused nor stopped.
    pub(super) fn maintainable(&self) -> bool {
        self.state != FolderState::Paused
            && self.stop.is_none()
            && !matches!(self.state, FolderState::Error { .. })
    }

    /// Returns when [`Folder::maintain`] next has work: a growth refresh after changes, a
    /// `gc --auto` once quiet after changes, a scheduled gc; `now` when it is due already.
    /// `None` when nothing is pending.
    pub fn maintenance_due(&self, now: Instant) -> Option<Instant> {
        if !self.maintainable() {
            return None;
        }
        let growth = match self.growth_at {
            None => Some(now),
            Some(at) if self.growth_dirty => Some(at + GROWTH_REFRESH),
            Some(_) => None,
        };
        let gc = self.gc_interval().map(|interval| {
            let quiet = self.last_change + GC_QUIET.min(interval / 2);
            if self.gc_dirty {
                return quiet;
            }
            let since = self.last_gc.map_or(self.gc_epoch, SystemTime::from);
            let wait = (since + interval).duration_since(self.now()).unwrap_or_default();
            quiet.max(now + wait)
        });
        growth.into_iter().chain(gc).min()
    }

    /// Does the maintenance that is due at `now` (see [`Folder::maintenance_due`]). Runs in the
    /// worker between cycles, so `git gc` never overlaps a sync of this folder.
    pub fn maintain(&mut self, now: Instant) {
        if !self.maintainable() {
            return;
        }
        let Some(interval) = self.gc_interval() else {
            return self.refresh_growth(now);
        };
        let quiet = now >= self.last_change + GC_QUIET.min(interval / 2);
        let since = self.last_gc.map_or(self.gc_epoch, SystemTime::from);
        let scheduled = self.now().duration_since(since).is_ok_and(|d| d >= interval);
        if quiet && (scheduled || self.gc_dirty) {
            let _ = self.gc(!scheduled);
        }
        self.refresh_growth(now);
    }

    pub(super) fn refresh_growth(&mut self, now: Instant) {
        let due = match self.growth_at {
            None => true,
            Some(at) => self.growth_dirty && now >= at + GROWTH_REFRESH,
        };
        if due {
            self.measure_growth();
        }
    }

    /// Runs `git gc` now (`auto`: `git gc --auto`, which acts only past git's thresholds) and
    /// records it in history with the `.git` size before and after; an automatic run that
    /// changed nothing is not recorded (it runs after every burst of syncs). Returns the
    /// `.git` sizes before and after.
    pub fn gc(&mut self, auto: bool) -> Result<(u64, u64)> {
        let started = Instant::now();
        let before = self.repo.growth(Utc::now())?;
        let outcome = self.repo.gc(auto, GC_TIMEOUT);
        self.gc_dirty = false;
        if !auto || outcome.is_err() {
            self.last_gc = Some(DateTime::<Utc>::from(self.now()));
        }
        let after = self.repo.growth(Utc::now())?;
        let changed = after.git_bytes != before.git_bytes
            || after.loose_objects != before.loose_objects
            || after.pack_bytes != before.pack_bytes;
        if !auto || changed || outcome.is_err() {
            let mut row = HistoryEvent::new(&self.folder_name(), history::GC, Utc::now());
            row.duration_sec = Some(started.elapsed().as_secs_f64());
            row.reason = Some(format!(
                "{}: .git {} -> {} bytes",
                if auto { "git gc --auto" } else { "git gc" },
                before.git_bytes,
                after.git_bytes
            ));
            row.error_msg = outcome.as_ref().err().map(|e| e.to_string());
            row.data = Some(serde_json::json!({
                "auto": auto,
                "git_bytes_before": before.git_bytes,
                "git_bytes_after": after.git_bytes,
                "loose_objects_before": before.loose_objects,
                "loose_objects_after": after.loose_objects,
            }));
            self.record(row);
        }
        self.growth = Some(after.clone());
        self.growth_at = Some(Instant::now());
        self.growth_dirty = false;
        self.write_status();
        if let Err(e) = &outcome {
            tracing::warn!("{}: git gc failed: {e}", self.folder_name());
        }
        outcome.map(|_| (before.git_bytes, after.git_bytes))
    }
}
