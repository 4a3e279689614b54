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
    /// Files held back because they look like secrets (the quarantine).
    #[serde(default)]
    pub held_back: Vec<HeldFile>,
    /// Freshness alerts that hold now, in words.
    #[serde(default)]
    pub stale: Vec<String>,
    /// How big the repository has grown, as last measured (the engine refreshes it after
    /// syncs, at most every few minutes).
    #[serde(default)]
    pub growth: Option<RepoGrowth>,
}

/// How big a folder's repository is: cheap figures, measured off the hot path.
///
/// `worktree_bytes` sums the sizes the git index records for tracked files (no walk of the
/// folder); `git_bytes` is the size of every file under `.git`; `pack_bytes` and the loose
/// figures split the object store the way `git count-objects -v` does; `commits` counts the
/// commits reachable from HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoGrowth {
    /// Bytes of the tracked files, as the index records them.
    pub worktree_bytes: u64,
    /// Tracked files.
    pub tracked_files: u64,
    /// Bytes under `.git`.
    pub git_bytes: u64,
    /// Bytes of pack files (`objects/pack/*.pack`).
    pub pack_bytes: u64,
    /// Loose objects (`objects/XX/*`).
    pub loose_objects: u64,
    /// Bytes of loose objects.
    pub loose_bytes: u64,
    /// Commits reachable from HEAD.
    pub commits: u64,
    /// When these figures were measured (RFC 3339).
    pub measured_at: String,
    /// When `git gc` last ran on the folder (RFC 3339).
    #[serde(default)]
    pub last_gc: Option<String>,
}

/// A file the secret guard holds back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFile {
    /// Repo-relative path.
    pub path: String,
    /// Why it looks like a secret.
    pub reason: String,
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

/// What all folders together look like at a glance: the state a tray icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrayState {
    /// Every folder is up to date or waiting for its next cycle.
    Idle,
    /// At least one folder is syncing.
    Syncing,
    /// Every folder is paused by the user.
    Paused,
    /// At least one folder stopped on an error.
    Error,
    /// Conflicts wait for the user's decision.
    Conflict,
}

/// Returns the aggregate state of `folders` with `pending_conflicts` waiting for a decision.
///
/// The most urgent wins: an error (syncing stopped, possibly until the user acts) before a
/// conflict (data is safe, a decision is pending) before syncing before paused. Paused means
/// every folder is paused; one paused folder among idle ones is idle, since the others still
/// sync. No folders at all is idle.
pub fn aggregate(folders: &[FolderStatus], pending_conflicts: usize) -> TrayState {
    if folders.iter().any(|f| matches!(f.state, FolderState::Error { .. })) {
        TrayState::Error
    } else if pending_conflicts > 0 {
        TrayState::Conflict
    } else if folders.iter().any(|f| f.state == FolderState::Syncing) {
        TrayState::Syncing
    } else if !folders.is_empty() && folders.iter().all(|f| f.state == FolderState::Paused) {
        TrayState::Paused
    } else {
        TrayState::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(state: FolderState) -> FolderStatus {
        FolderStatus {
            path: PathBuf::from("/notes"),
            remote: "/remote.git".into(),
            branch: "main".into(),
            mode: "sync".into(),
            state,
            running: true,
            pid: None,
            head: None,
            unpushed_commits: 0,
            pending_changes: 0,
            last_sync: None,
            last_error: None,
            consecutive_failures: 0,
            next_retry: None,
            held_back: Vec::new(),
            stale: Vec::new(),
            growth: None,
        }
    }

    fn error() -> FolderState {
        FolderState::Error {
            message: "authentication failed".into(),
            code: "auth".into(),
            class: FailureClass::NeedsAttention,
        }
    }

    #[test]
    fn no_folders_is_idle() {
        assert_eq!(aggregate(&[], 0), TrayState::Idle);
    }

    #[test]
    fn a_pending_conflict_turns_idle_folders_to_conflict() {
        let folders = [folder(FolderState::Idle), folder(FolderState::Idle)];
        assert_eq!(aggregate(&folders, 0), TrayState::Idle);
        assert_eq!(aggregate(&folders, 1), TrayState::Conflict, "a decision is waiting");
    }

    #[test]
    fn a_conflict_outranks_syncing_and_paused() {
        let folders = [folder(FolderState::Syncing), folder(FolderState::Paused)];
        assert_eq!(aggregate(&folders, 2), TrayState::Conflict);
    }

    #[test]
    fn an_error_outranks_a_conflict() {
        let folders = [folder(FolderState::Idle), folder(error())];
        assert_eq!(aggregate(&folders, 3), TrayState::Error, "syncing stopped: most urgent");
    }

    #[test]
    fn any_syncing_folder_makes_it_syncing() {
        let folders = [folder(FolderState::Idle), folder(FolderState::Syncing)];
        assert_eq!(aggregate(&folders, 0), TrayState::Syncing);
    }

    #[test]
    fn paused_only_when_every_folder_is_paused() {
        let all = [folder(FolderState::Paused), folder(FolderState::Paused)];
        assert_eq!(aggregate(&all, 0), TrayState::Paused);
        let some = [folder(FolderState::Paused), folder(FolderState::Idle)];
        assert_eq!(aggregate(&some, 0), TrayState::Idle, "the idle folder still syncs");
    }

    #[test]
    fn waiting_is_idle() {
        let folders = [folder(FolderState::Waiting { reason: "throttle".into() })];
        assert_eq!(aggregate(&folders, 0), TrayState::Idle);
    }
}
