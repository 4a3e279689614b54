//! The only module that touches git.
//!
//! Local work (status, index, commit, merge analysis, in-memory merges, checkout) goes through
//! `git2` on a repository kept open by the folder worker, so one changed file costs one hash and
//! one tree write, not a process spawn. Network work (fetch, push, ls-remote) runs the system
//! `git`, so the user's SSH config, agent and credential helpers apply; every such call runs in
//! its own process group with a deadline and is killed with its group when the deadline passes.
//! No prompt ever appears (`GIT_TERMINAL_PROMPT=0`, ssh `BatchMode`), and git's output is
//! scrubbed of credentials before it is logged or stored.
//!
//! Invariants kept here:
//! - Working-tree writes only happen through a *safe* checkout: libgit2 first compares every
//!   file it would touch with the content the engine expects (the current HEAD) and refuses if
//!   any differs, so an edit made after the snapshot is never overwritten.
//! - The branch ref moves only after the checkout finished, so a crash mid-checkout leaves the
//!   old HEAD and files that the next snapshot sees as changes: nothing is lost.
//! - Merges are done in memory (no `MERGE_HEAD`), so a crash never leaves a half-done merge of
//!   ours behind; any merge or rebase state in the repo is the user's, and the engine waits.
//! - Every commit goes through one writer (`write_commit`), which signs it when the repo's git
//!   config asks for signing ([`crate::signing`]) and writes nothing when signing fails.
//!
//! One job per file: `preflight` (is syncing safe now, stale locks), `staging` (the
//! watcher's paths into one commit, the quarantine) with `bulk` (bursts of new files written
//! as one pack), `commit` (the one commit writer, messages, trailers), `transport` (fetch,
//! push, failure classes) over `process` (the git process runner), `integrate`
//! (fast-forward or merge) with `resolve` (conflicting paths by policy) and `checkout` (the
//! safe checkout), `devices`, `undo` and `health` (growth, gc); `objects` (small operations
//! on a repository by path, for the façade) and `libgit` (libgit2's error type and branch names,
//! a leaf for `error` and `config`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::Repository;

use crate::conflicts::policy::Resolution;
use crate::device::Device;
use crate::{Error, Result};

mod bulk;
mod checkout;
mod commit;
mod devices;
mod health;
mod integrate;
pub mod libgit;
pub mod objects;
mod preflight;
mod process;
mod resolve;
mod staging;
mod transport;
mod undo;

pub use crate::remote::scrub;
pub use commit::commit_device;
pub use devices::DeviceSeen;
pub use git2::Oid;
pub use preflight::error_is_disk_full;
pub use process::{
    config_value, installed_version, run_network, run_network_with_progress, NetOutput, ProgressFn,
};
pub use transport::{check_remote, remote_error};
pub use undo::UndoOutcome;

/// Name of the remote the engine syncs with.
pub const REMOTE: &str = "origin";
/// Age after which a git lock file that no process holds open is considered left behind by a
/// crashed process. Long enough to skip a lock a live git just created and not yet written to,
/// short enough that recovery after `kill -9` is quick.
pub const STALE_LOCK_AGE: Duration = Duration::from_secs(2);
/// Where each device records when it last synced: `refs/supersonic/devices/<device id>` points at
/// a tiny commit (empty tree, no parent, never on the branch) made at the sync. Pushed beside the
/// branch, fetched into [`REMOTE_DEVICE_REFS`].
pub const DEVICE_REFS: &str = "refs/supersonic/devices/";
/// Where the other devices' records land when fetched.
pub const REMOTE_DEVICE_REFS: &str = "refs/supersonic/remote-devices/";
/// Batches up to this many paths are described by a diff limited to them; larger ones (and
/// full rescans) diff whole trees.
const MAX_SCOPED_DIFF_PATHS: usize = 4096;
/// How many lines of changed paths a commit message lists before summarising the rest.
pub const MESSAGE_MAX_PATHS: usize = 50;

const STAGE_MASK: u16 = 0x3000;
const NAME_MASK: u16 = 0x0fff;

/// Who commits and how to describe the device in commits.
#[derive(Debug, Clone)]
pub struct Identity {
    /// This device.
    pub device: Device,
    /// Configured author name (else the repo's `user.name`, else the device name).
    pub user: Option<String>,
    /// Configured author email (else the repo's `user.email`).
    pub email: Option<String>,
    /// Whether commits must be signed whatever the git config says (`git.sign`).
    pub sign: bool,
}

/// Limits that decide what a snapshot may commit.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotLimits {
    /// Files larger than this are skipped with a warning.
    pub max_file_size: u64,
    /// Share of tracked files whose deletion stops the folder.
    pub mass_delete_ratio: f64,
    /// Minimum number of deletions for the mass-delete stop.
    pub mass_delete_min_files: usize,
    /// Whether the user confirmed a mass delete.
    pub allow_mass_delete: bool,
    /// Whether files that look like secrets are held back ([`crate::guard`]).
    pub secret_guard: bool,
}

/// What a snapshot did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The commit made, if anything changed.
    pub commit: Option<Oid>,
    /// Files in the commit.
    pub files_changed: usize,
    /// Files not synced, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Files held back because they look like secrets, with the reason (the quarantine).
    pub held: Vec<(String, String)>,
}

/// What integrating the remote branch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Integration {
    /// The remote branch does not exist yet.
    RemoteEmpty,
    /// Nothing new on either side.
    UpToDate,
    /// Only local commits are new; a push is due.
    LocalAhead,
    /// Remote commits were applied by a fast-forward.
    FastForwarded {
        /// Files updated.
        files: usize,
    },
    /// Both sides had new commits; a merge commit joins them.
    Merged {
        /// The merge commit.
        commit: Oid,
        /// Files updated in the working tree.
        files: usize,
        /// How each conflicting path was resolved.
        conflicts: Vec<Resolution>,
    },
}

/// Outcome of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote accepted (or already had) our branch.
    Pushed,
    /// The remote has commits we do not have (non-fast-forward).
    Rejected,
}

/// A repository the engine syncs: work tree, branch and remote.
pub struct GitRepo {
    repo: Repository,
    workdir: PathBuf,
    branch: String,
    remote_url: String,
    /// Whether a snapshot may leave writing the index to the push that follows it.
    defer_index_write: std::cell::Cell<bool>,
    /// The in-memory index holds what was committed but is not on disk yet.
    index_pending: std::cell::Cell<bool>,
}

impl Drop for GitRepo {
    fn drop(&mut self) {
        if let Err(e) = self.flush_index() {
            tracing::warn!("{}: {e}", self.workdir.display());
        }
    }
}

impl std::fmt::Debug for GitRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepo")
            .field("workdir", &self.workdir)
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

impl GitRepo {
    /// Opens the repository at `workdir` (it must exist) and points `origin` at `remote_url`.
    pub fn open(workdir: &Path, branch: &str, remote_url: &str) -> Result<Self> {
        if !workdir.is_dir() {
            return Err(Error::Dangerous(format!(
                "folder {} is missing or not a directory (unmounted?); syncing stopped",
                workdir.display()
            )));
        }
        if !workdir.join(".git").exists() {
            return Err(Error::Dangerous(format!(
                "{} has no .git directory; run `supersonic init {}`",
                workdir.display(),
                workdir.display()
            )));
        }
        let repo = Repository::open(workdir)
            .map_err(Error::git(format!("cannot open repository {}", workdir.display())))?;
        let this = GitRepo {
            repo,
            workdir: workdir.to_path_buf(),
            branch: branch.to_string(),
            remote_url: remote_url.to_string(),
            defer_index_write: std::cell::Cell::new(false),
            index_pending: std::cell::Cell::new(false),
        };
        this.ensure_remote()?;
        Ok(this)
    }

    /// Creates the repository at `workdir` if needed (HEAD on `branch`), then opens it.
    pub fn init(workdir: &Path, branch: &str, remote_url: &str) -> Result<Self> {
        if !workdir.join(".git").exists() {
            let mut opts = git2::RepositoryInitOptions::new();
            opts.initial_head(branch).no_reinit(true).mkdir(false);
            Repository::init_opts(workdir, &opts).map_err(Error::git(format!(
                "cannot create a repository in {}",
                workdir.display()
            )))?;
        }
        Self::open(workdir, branch, remote_url)
    }

    fn ensure_remote(&self) -> Result<()> {
        let spec = "+refs/heads/*:refs/remotes/origin/*";
        match self.repo.find_remote(REMOTE) {
            Ok(remote) if remote.url() == Some(self.remote_url.as_str()) => Ok(()),
            Ok(_) => {
                self.repo.remote_set_url(REMOTE, &self.remote_url).map_err(Error::git("set origin"))
            }
            Err(_) => self
                .repo
                .remote_with_fetch(REMOTE, &self.remote_url, spec)
                .map(|_| ())
                .map_err(Error::git("add origin")),
        }
    }

    /// Returns the work tree.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    fn remote_ref(&self) -> String {
        format!("refs/remotes/{REMOTE}/{}", self.branch)
    }

    /// Returns the local branch's commit, if the branch exists.
    pub fn head(&self) -> Result<Option<Oid>> {
        match self.repo.refname_to_id(&self.branch_ref()) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Error::git("read HEAD")(e)),
        }
    }

    /// Returns the remote-tracking branch's commit, if fetched.
    pub fn remote_head(&self) -> Result<Option<Oid>> {
        match self.repo.refname_to_id(&self.remote_ref()) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Error::git("read remote-tracking branch")(e)),
        }
    }

    /// Returns a blob's content by id.
    pub fn blob_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let oid = Oid::from_str(id).map_err(Error::git("parse blob id"))?;
        Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
    }
}

/// Returns the current time as `SystemTime` (the one place git-facing code reads the clock).
pub fn now() -> SystemTime {
    SystemTime::now()
}
