//! What the history database tells: the seed's metrics (stats, hourly buckets, recent events,
//! throttle state), history rows, totals for counters, and clearing or importing history.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Api;
use crate::history::{History, HistoryRow, HourBucket, ImportReport, Stats};
use crate::paths;
use crate::throttle;
use crate::Result;

/// The seed's `/api/sync/metrics` shape.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Totals over the window.
    pub stats: Stats,
    /// Hourly buckets (sparkline data).
    pub hourly: Vec<HourBucket>,
    /// The newest events.
    pub recent: Vec<HistoryRow>,
    /// Throttle per folder.
    pub throttle: Vec<ThrottleStatus>,
}

/// A folder's throttle state (the seed's `throttle` object, per folder).
#[derive(Debug, Clone, Serialize)]
pub struct ThrottleStatus {
    /// The folder.
    pub folder: PathBuf,
    /// Whether a remote operation may run now.
    pub allowed: bool,
    /// `OK`, or why not.
    pub reason: String,
    /// Remote operations in the last hour.
    pub syncs_last_hour: usize,
    /// The limit.
    pub max_per_hour: u32,
    /// The running backoff, if any.
    pub backoff: Option<Backoff>,
    /// When a remote operation will be allowed again (RFC 3339), when blocked.
    pub next_allowed: Option<String>,
}

/// A running backoff.
#[derive(Debug, Clone, Serialize)]
pub struct Backoff {
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When it ends (RFC 3339).
    pub until: String,
}

impl Api {
    /// Opens the history for reading (safe while a daemon writes; empty if none yet).
    pub fn history_reader(&self) -> Result<History> {
        History::open_readonly(&self.history_path())
    }

    fn folder_key(&self, folder: Option<&Path>) -> Result<Option<String>> {
        match folder {
            Some(p) => {
                let (_, folders) = self.load()?;
                Ok(Some(self.find_folder(&folders, p)?.path.display().to_string()))
            }
            None => Ok(None),
        }
    }

    /// Returns the seed's metrics over the last `hours`: `stats`, `hourly`, `recent` (50) and
    /// `throttle`, for one folder or all.
    pub fn metrics(&self, folder: Option<&Path>, hours: u32) -> Result<Metrics> {
        let key = self.folder_key(folder)?;
        let h = self.history_reader()?;
        let now = chrono::Utc::now();
        let since = now - chrono::Duration::hours(i64::from(hours.max(1)));
        Ok(Metrics {
            stats: h.stats(key.as_deref(), since)?,
            hourly: h.hourly(key.as_deref(), since, now)?,
            recent: h.recent(key.as_deref(), 50)?,
            throttle: self.throttle_status(folder)?,
        })
    }

    /// Returns the newest `limit` history rows.
    pub fn recent(&self, folder: Option<&Path>, limit: usize) -> Result<Vec<HistoryRow>> {
        let key = self.folder_key(folder)?;
        self.history_reader()?.recent(key.as_deref(), limit)
    }

    /// Deletes history rows (of one folder or all); returns how many.
    pub fn clear_history(&self, folder: Option<&Path>) -> Result<usize> {
        let key = self.folder_key(folder)?;
        History::open(&self.history_path())?.clear(key.as_deref())
    }

    /// Imports a seed-format JSONL history file into the folder's history.
    pub fn import_history(&self, file: &Path, folder: &Path) -> Result<ImportReport> {
        let key = self.folder_key(Some(folder))?.expect("a folder was given");
        History::open(&self.history_path())?.import_jsonl(file, &key)
    }

    /// Returns each folder's throttle state in the seed's shape.
    pub fn throttle_status(&self, folder: Option<&Path>) -> Result<Vec<ThrottleStatus>> {
        let (_, folders) = self.load()?;
        let h = self.history_reader()?;
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for cfg in folders.iter().filter(|f| folder.is_none_or(|p| paths::absolute(p) == f.path)) {
            let name = cfg.path.display().to_string();
            let mut t = h.load_throttle(&name)?.unwrap_or_default();
            let s = &cfg.settings.sync;
            let limits = throttle::Limits {
                max_per_hour: s.max_per_hour,
                backoff_enabled: s.backoff_enabled,
                backoff_initial: std::time::Duration::from_secs(s.backoff_initial_sec),
                backoff_max: std::time::Duration::from_secs(s.backoff_max_sec),
            };
            let verdict = t.check(&limits, now);
            let rfc =
                |t: std::time::SystemTime| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
            let (allowed, reason, next) = match verdict {
                throttle::Verdict::Allowed => (true, "OK".to_string(), None),
                throttle::Verdict::Blocked { reason, until } => (false, reason, Some(rfc(until))),
            };
            out.push(ThrottleStatus {
                folder: cfg.path.clone(),
                allowed,
                reason,
                syncs_last_hour: t.ops_in_window(now),
                max_per_hour: s.max_per_hour,
                backoff: t.backoff_until().filter(|u| *u > now).map(|u| Backoff {
                    consecutive_failures: t.consecutive_failures(),
                    until: rfc(u),
                }),
                next_allowed: next,
            });
        }
        Ok(out)
    }

    /// Forgets persisted throttle state (of one folder or all) when no daemon holds it.
    pub fn clear_throttle(&self, folder: Option<&Path>) -> Result<usize> {
        let key = self.folder_key(folder)?;
        History::open(&self.history_path())?.clear_throttle(key.as_deref())
    }

    /// Returns each folder's figures over its whole retained history, for counters that only
    /// grow while history is kept (Prometheus' `supersonic_syncs_total`).
    pub fn totals(&self) -> Result<Vec<(PathBuf, Stats)>> {
        let (_, folders) = self.load()?;
        let h = self.history_reader()?;
        let since = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        folders
            .into_iter()
            .map(|f| Ok((f.path.clone(), h.stats(Some(&f.path.display().to_string()), since)?)))
            .collect()
    }
}
