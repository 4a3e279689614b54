//! What a folder records: events go to the bus and, when history keeps them, into the history
//! database (pruned every [`PRUNE_EVERY`] rows); the throttle state is saved there too, and
//! commits a crash kept from being recorded are reconciled from the git log.

use chrono::Utc;

use super::Folder;
use crate::events::Event;
use crate::history::{self, HistoryEvent};

/// History rows recorded between two retention passes: pruning is index-backed but not free,
/// and retention does not need to be exact to the row.
pub const PRUNE_EVERY: usize = 100;
/// Commits walked back from HEAD when reconciling history after a crash.
pub const RECONCILE_DEPTH: usize = 500;

impl Folder {
    /// Sends `event` to the bus and records it in the history.
    pub(super) fn emit(&mut self, event: Event) {
        if let Some(row) = HistoryEvent::from_event(&event) {
            self.record(row);
        }
        self.bus.emit(event);
    }

    pub(super) fn record(&mut self, row: HistoryEvent) {
        let Some(history) = &self.history else { return };
        if let Err(e) = history.record(&row) {
            tracing::warn!("{}: cannot record history: {e}", self.folder_name());
            return;
        }
        self.records_since_prune += 1;
        if self.records_since_prune >= PRUNE_EVERY {
            self.records_since_prune = 0;
            let m = &self.config.settings.metrics;
            let _ = history.prune(m.history_max_entries, m.history_max_age_days, Utc::now());
        }
    }

    pub(super) fn save_throttle(&self) {
        if let Some(h) = &self.history {
            if let Err(e) = h.save_throttle(&self.folder_name(), &self.throttle) {
                tracing::warn!("{}: cannot save throttle state: {e}", self.folder_name());
            }
        }
    }

    /// Records in history the commits of this device that a crash kept from being recorded
    /// (git is the source of truth): walks back from HEAD until a recorded commit.
    pub fn reconcile_history(&mut self) {
        let Some(history) = &self.history else { return };
        let folder = self.folder_name();
        let commits = match self.repo.own_commits(&self.identity.device.id, RECONCILE_DEPTH) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{folder}: cannot read git log to reconcile history: {e}");
                return;
            }
        };
        let mut missing = Vec::new();
        for (oid, time, files) in commits {
            if history.has_commit(&folder, &oid).unwrap_or(true) {
                break;
            }
            let mut row = HistoryEvent::new(&folder, history::COMMIT, time);
            row.commit_hash = Some(oid);
            row.files_changed = Some(files as i64);
            row.reason = Some("reconciled from git log after an unclean stop".into());
            missing.push(row);
        }
        if !missing.is_empty() {
            tracing::info!("{folder}: recorded {} commit(s) missing from history", missing.len());
            let _ = history.record_batch(&missing);
        }
    }
}
