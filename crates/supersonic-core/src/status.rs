//! Folder state as users see it: the state machine's current state, last sync, last error and
//! queue figures. The running engine writes one status file per folder (atomically) into the
//! data dir, so `supersonic status` in another process can show what the daemon is doing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::FailureClass;

/// The state of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FolderState {
    /// Nothing to do.
    Idle,
    /// A cycle is running.
    Syncing,
    /// Paused by the user.
    Paused,
    /// Waiting for something outside the engine (a user's git operation, the throttle).
    Waiting {
        /// What it waits for.
        reason: String,
    },
    /// Stopped because syncing would be dangerous or the user must act.
    Error {
        /// What is wrong and what to do.
        message: String,
        /// Machine-readable code.
        code: String,
        /// Whether the engine retries by itself.
        class: FailureClass,
    },
}

/// What `status` shows for a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderStatus {
    /// Folder path.
    pub path: PathBuf,
    /// Remote URL (redacted).
    pub remote: String,
    /// Branch.
    pub branch: String,
    /// Mode.
    pub mode: String,
    /// Current state.
    #[serde(flatten)]
    pub state: FolderState,
    /// Whether a daemon is running for this folder right now.
    pub running: bool,
    /// Process id of the engine that wrote this status.
    pub pid: Option<u32>,
    /// HEAD commit.
    pub head: Option<String>,
    /// Commits not yet on the remote.
    pub unpushed_commits: usize,
    /// Changed files not yet committed.
    pub pending_changes: usize,
    /// Last successful sync (RFC 3339).
    pub last_sync: Option<String>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Next remote attempt (RFC 3339), when waiting for backoff or the throttle.
    pub next_retry: Option<String>,
}

/// Writes a folder's status file.
pub fn write(status_dir: &Path, id: &str, status: &FolderStatus) -> crate::Result<()> {
    std::fs::create_dir_all(status_dir).map_err(|e| crate::Error::io(status_dir, e))?;
    let json = serde_json::to_vec_pretty(status).expect("status serialises");
    crate::paths::write_atomic(&status_dir.join(format!("{id}.json")), &json)
}

/// Reads a folder's status file, if any.
pub fn read(status_dir: &Path, id: &str) -> Option<FolderStatus> {
    let bytes = std::fs::read(status_dir.join(format!("{id}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}
