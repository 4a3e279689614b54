//! The control surface's requests and answers, shared by every face that speaks it: the HTTP
//! routes of `supersonic-http` and the desktop app's IPC commands (the UI's `lib/types.ts`
//! mirrors these shapes by wire name). The small decisions on a request live here so both faces
//! agree: folders must be absolute paths, which conflict action a body means, which media type a
//! conflict version is served as, the history limits, which paths a quarantine decision may
//! name, and whether a folder is acted on through the engine running in this process or through
//! the [`Api`](super::Api) alone.
//!
//! Everything here is transport-free: a face parses its request into these types, calls the
//! function on a blocking thread, and renders a [`Failure`] as its `{code, message, key?}` error.
//!
//! By request family: adding folders (`folders`), conflicts (`conflicts`), acting on a folder
//! through the running engine or the façade (`engine`), and reading settings, history and
//! metrics (`queries`). Every name is re-exported here, so a face imports `control::X`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

mod conflicts;
mod engine;
mod folders;
mod queries;

pub use conflicts::{media_type, side, BlobPayload, ConflictsQuery, Resolve, Take};
pub use engine::{
    decide_held, engine_for, set_paused, sync_now, undo_last_sync, HeldDecision, HeldOutcome,
    HeldRequest, PauseOutcome,
};
pub use folders::{start_hydrate, start_seed, AddFolder, Hydrate, Seed};
pub use queries::{
    metrics, pending_conflicts, CheckIgnore, ConflictSummary, HistoryQuery, MetricsBody,
    MetricsQuery, UpdateConfig, WebhookTest, DEFAULT_HISTORY_LIMIT, DEFAULT_METRICS_HOURS,
    MAX_HISTORY_LIMIT,
};

/// The one error shape at the edge: `{code, message, key?}`.
///
/// `code` is [`crate::Error::code`] for engine errors or `bad_request` for a request
/// that cannot be acted on; `key` names the setting at fault for a `config_invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Machine-readable code the UI branches on.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The configuration key at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Failure {
    /// Returns a `bad_request` failure.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure { code: "bad_request".into(), message: message.into(), key: None }
    }

    /// Returns an `internal` failure: the face itself failed (a panicked task), not the engine.
    pub fn internal(message: impl std::fmt::Display) -> Failure {
        Failure { code: "internal".into(), message: message.to_string(), key: None }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let key = match &err {
            Error::Config(c) => c.key.clone(),
            _ => None,
        };
        Failure { code: err.code().into(), message: err.to_string(), key }
    }
}

/// Returns `path` when it is absolute: a face's working directory means nothing to its user.
pub fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Err(Failure::bad_request(format!("folder `{}` must be an absolute path", path.display())))
    }
}

/// A request naming one folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    /// The folder, by absolute path.
    pub folder: PathBuf,
}

/// `?folder=`: one folder, or every folder.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderQuery {
    /// Only this folder.
    pub folder: Option<PathBuf>,
}

/// A folder together with something about it (conflict lists, like `conflicts list --json`).
#[derive(Debug, Serialize)]
pub struct InFolder<T> {
    /// The folder.
    pub folder: PathBuf,
    /// The thing in it.
    pub conflict: T,
}
