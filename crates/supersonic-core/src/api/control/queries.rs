//! Reading requests and answers: settings changes, history and metrics windows, ignore checks,
//! webhook tests, and the metrics answer with every folder's status and pending conflicts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::{Api, Metrics};
use crate::conflicts::ConflictView;
use crate::status::FolderStatus;

/// History rows returned when `limit` is not given (the seed's "last 50 operations").
pub const DEFAULT_HISTORY_LIMIT: usize = 50;

/// Most history rows one request returns; a page of the History view, not a database dump.
pub const MAX_HISTORY_LIMIT: usize = 5_000;

/// The seed's window for `stats` and `hourly` ("Success rate (24h)").
pub const DEFAULT_METRICS_HOURS: u32 = 24;

/// A settings change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// The folder whose device-local settings change; without it, `defaults:` changes.
    pub folder: Option<PathBuf>,
    /// A JSON merge patch over the keys of `.supersonic-sync.conf`.
    pub settings: serde_json::Value,
}

/// Which history rows to read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many rows (default [`DEFAULT_HISTORY_LIMIT`], at most [`MAX_HISTORY_LIMIT`]).
    pub limit: Option<usize>,
    /// Only this folder's.
    pub folder: Option<PathBuf>,
}

impl HistoryQuery {
    /// Returns the number of rows to read.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_HISTORY_LIMIT).min(MAX_HISTORY_LIMIT)
    }
}

/// Which paths to check against the ignore rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIgnore {
    /// The folder relative paths are in; without it, absolute paths pick their folder.
    pub folder: Option<PathBuf>,
    /// The paths.
    pub paths: Vec<PathBuf>,
}

/// A webhook test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTest {
    /// The event to send (`sync_success`, `sync_failure`, ...).
    pub event: String,
    /// The folder whose webhook settings apply (default: the only one).
    pub folder: Option<PathBuf>,
    /// Send to this URL instead of the configured ones (Settings' Test button on a new URL).
    pub url: Option<String>,
}

/// Which metrics to read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// Window in hours (default [`DEFAULT_METRICS_HOURS`]).
    pub hours: Option<u32>,
    /// Only this folder's.
    pub folder: Option<PathBuf>,
}

/// The seed's metrics (`stats`, `hourly`, `recent`, `throttle`) plus every folder's status and
/// a summary of the pending conflicts.
#[derive(Debug, Serialize)]
pub struct MetricsBody {
    #[serde(flatten)]
    metrics: Metrics,
    folders: Vec<FolderStatus>,
    conflicts: Vec<ConflictSummary>,
}

/// A pending conflict, without the contents.
#[derive(Debug, Serialize)]
pub struct ConflictSummary {
    folder: PathBuf,
    id: String,
    path: String,
    kind: String,
    strategy: String,
    copy: Option<String>,
}

/// Returns the metrics answer.
pub fn metrics(api: &Api, q: &MetricsQuery) -> crate::Result<MetricsBody> {
    let hours = q.hours.unwrap_or(DEFAULT_METRICS_HOURS);
    let metrics = api.metrics(q.folder.as_deref(), hours)?;
    let folders = api.status()?;
    let conflicts = pending_conflicts(api)
        .into_iter()
        .filter(|(f, _)| q.folder.as_ref().is_none_or(|only| only == f))
        .map(|(folder, c)| ConflictSummary {
            folder,
            id: c.id,
            path: c.path,
            kind: c.kind,
            strategy: c.strategy.to_string(),
            copy: c.copy,
        })
        .collect();
    Ok(MetricsBody { metrics, folders, conflicts })
}

/// Returns the pending conflicts of every folder whose repository can be read; a folder that
/// cannot is left out here, since its status already carries that error.
pub fn pending_conflicts(api: &Api) -> Vec<(PathBuf, ConflictView)> {
    let folders = api.folder_paths(None).unwrap_or_default();
    folders.iter().flat_map(|f| api.conflicts(Some(f), false).unwrap_or_default()).collect()
}
