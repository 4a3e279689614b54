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

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use git2::build::CheckoutBuilder;
use git2::{Delta, DiffOptions, IndexEntry, MergeOptions, Oid, Repository, Signature, Status};

use crate::batcher::Batch;
use crate::config::Strategy;
use crate::conflicts::{self, Policy, Resolution, Version};
use crate::device::Device;
use crate::error::is_disk_full;
use crate::ignore::IgnoreRules;
use crate::status::RepoGrowth;
use crate::{Error, FailureClass, Result};

mod bulk;
pub mod objects;

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

/// What staging leaves out, what the user released from the guard, and the new files put aside
/// for [`bulk`] staging.
struct Holds {
    skipped: Vec<(String, String)>,
    held: Vec<(String, String)>,
    guard: bool,
    released: std::collections::BTreeSet<String>,
    deferred: Vec<(PathBuf, std::fs::Metadata)>,
    /// Regular files whose content entered the index in this snapshot.
    staged: Vec<PathBuf>,
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

    /// Checks that syncing is safe now: the folder exists, no git operation of the user (or a
    /// crashed one) is in progress, HEAD is on the synced branch, enough disk is free. Removes
    /// lock files left behind by crashed processes and returns what it removed.
    pub fn preflight(&self, min_free_bytes: u64) -> Result<Vec<PathBuf>> {
        if !self.workdir.is_dir() {
            return Err(Error::Dangerous(format!(
                "folder {} is missing or not a directory (unmounted?); syncing stopped",
                self.workdir.display()
            )));
        }
        let removed = self.recover_stale_locks()?;
        let state = self.repo.state();
        if state != git2::RepositoryState::Clean {
            return Err(Error::Busy(format!(
                "a git {} is in progress in {}; syncing waits until it is finished or aborted",
                state_name(state),
                self.workdir.display()
            )));
        }
        if self.repo.head_detached().unwrap_or(false) {
            return Err(Error::Busy(format!(
                "HEAD is detached in {}; syncing waits until `git switch {}`",
                self.workdir.display(),
                self.branch
            )));
        }
        let head = self.repo.find_reference("HEAD").map_err(Error::git("read HEAD"))?;
        if let Some(target) = head.symbolic_target() {
            if target != self.branch_ref() {
                return Err(Error::Busy(format!(
                    "HEAD is on {} but this folder syncs {}; syncing waits until `git switch {}`",
                    target.trim_start_matches("refs/heads/"),
                    self.branch,
                    self.branch
                )));
            }
        }
        if let Some(free) = self.free_bytes() {
            if free < min_free_bytes {
                return Err(Error::DiskFull {
                    path: self.workdir.clone(),
                    detail: format!(
                        "only {} MB free, below sync.min_free_disk_mb ({} MB)",
                        free / (1024 * 1024),
                        min_free_bytes / (1024 * 1024)
                    ),
                });
            }
        }
        Ok(removed)
    }

    /// Returns the bytes free for this user on the folder's filesystem, if it can be read.
    pub fn free_bytes(&self) -> Option<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.workdir).ok()?;
        Some(stat.blocks_available() * stat.fragment_size())
    }

    /// Removes git lock files that no process holds open and that are older than
    /// [`STALE_LOCK_AGE`]; a lock held open by a live process means a git operation is running,
    /// and the engine waits ([`Error::Busy`]).
    pub fn recover_stale_locks(&self) -> Result<Vec<PathBuf>> {
        let git_dir = self.repo.path().to_path_buf();
        let candidates = [
            git_dir.join("index.lock"),
            git_dir.join("HEAD.lock"),
            git_dir.join("config.lock"),
            git_dir.join("packed-refs.lock"),
            git_dir.join(format!("{}.lock", self.branch_ref())),
            git_dir.join(format!("{}.lock", self.remote_ref())),
        ];
        let mut removed = Vec::new();
        for lock in candidates {
            let Ok(meta) = std::fs::metadata(&lock) else { continue };
            if let Some(pid) = process_holding(&lock).or_else(|| git_process_in(&self.workdir)) {
                return Err(Error::Busy(format!(
                    "{} is held by process {pid}: a git operation is running; syncing waits",
                    lock.display()
                )));
            }
            let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
            if age < STALE_LOCK_AGE {
                return Err(Error::Busy(format!(
                    "{} was just created: a git operation is starting; syncing waits",
                    lock.display()
                )));
            }
            std::fs::remove_file(&lock).map_err(|e| Error::io(&lock, e))?;
            removed.push(lock);
        }
        Ok(removed)
    }

    /// Mirrors the folder's ignore rules into `.git/info/exclude` (only when they changed).
    pub fn write_info_exclude(&self, ignore: &IgnoreRules) -> Result<()> {
        let path = self.repo.path().join("info").join("exclude");
        let text = ignore.as_exclude_file();
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        let dir = path.parent().expect("info/exclude has a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::paths::write_atomic(&path, text.as_bytes())
    }

    /// Lets the next snapshots leave the index file to be written while the push that follows
    /// runs (the cycle of a local change pushes at once): the commit is made from the index in
    /// memory first, so the push starts that much sooner. The index is written by the push
    /// ([`GitRepo::push_with_progress`]), by [`GitRepo::flush_index`], at the next snapshot, or
    /// when the repository is dropped. A crash before that leaves an index older than HEAD,
    /// which the next full snapshot brings up to date: nothing is lost.
    pub fn set_defer_index_write(&self, on: bool) {
        self.defer_index_write.set(on);
    }

    /// Writes the index if a snapshot left it to be written.
    pub fn flush_index(&self) -> Result<()> {
        if self.index_pending.get() {
            let mut index = self.repo.index().map_err(Error::git("open index"))?;
            index.write().map_err(Error::git("write index"))?;
            self.index_pending.set(false);
        }
        Ok(())
    }

    /// Stages the batch's paths (or everything, for [`Batch::Full`]) and commits them as one
    /// commit, unless nothing changed (same tree: checksums, not timestamps).
    pub fn snapshot(
        &mut self,
        batch: &Batch,
        ignore: &IgnoreRules,
        limits: &SnapshotLimits,
        identity: &Identity,
    ) -> Result<Snapshot> {
        self.snapshot_with_progress(batch, ignore, limits, identity, &mut |_, _| {})
    }

    /// [`GitRepo::snapshot`], calling `progress(done, total)` as paths are staged.
    pub fn snapshot_with_progress(
        &mut self,
        batch: &Batch,
        ignore: &IgnoreRules,
        limits: &SnapshotLimits,
        identity: &Identity,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Snapshot> {
        self.flush_index()?;
        let mut index = self.repo.index().map_err(Error::git("open index"))?;
        index.read(false).map_err(Error::git("read index"))?;
        let mut holds = Holds {
            skipped: Vec::new(),
            held: Vec::new(),
            guard: limits.secret_guard,
            released: if limits.secret_guard {
                crate::guard::released(self.repo.path())
            } else {
                Default::default()
            },
            deferred: Vec::new(),
            staged: Vec::new(),
        };
        let paths: Vec<PathBuf> = match batch {
            Batch::Paths(paths) => paths.iter().cloned().collect(),
            Batch::Full => self.changed_paths()?,
        };
        let total = paths.len() as u64;
        for (done, rel) in paths.iter().enumerate() {
            self.stage_path(&mut index, rel, ignore, limits, &mut holds)?;
            progress(done as u64 + 1, total);
        }
        self.stage_deferred(&mut index, &mut holds, progress)?;
        self.unstage_changed_while_staging(&mut index, &holds.staged)?;
        // write_tree before write: writing the index first drops its tree cache (DESIGN §3.1).
        let tree_oid = index.write_tree().map_err(Error::git("write tree"))?;
        let head = self.head()?;
        let head_commit = match head {
            Some(oid) => Some(self.repo.find_commit(oid).map_err(Error::git("read HEAD"))?),
            None => None,
        };
        let head_tree = match &head_commit {
            Some(c) => Some(c.tree().map_err(Error::git("read HEAD tree"))?),
            None => None,
        };
        if head_tree.as_ref().map(|t| t.id()) == Some(tree_oid)
            || (head_tree.is_none() && index.is_empty())
        {
            index.write().map_err(Error::git("write index"))?;
            let Holds { skipped, held, .. } = holds;
            return Ok(Snapshot { commit: None, files_changed: 0, skipped, held });
        }
        let new_tree = self.repo.find_tree(tree_oid).map_err(Error::git("read new tree"))?;
        // The batch names every path staged now: the diff only descends into those (a diff of
        // whole trees walks every directory of a large folder for a one-file change).
        let scope = match batch {
            Batch::Paths(p)
                if p.len() <= MAX_SCOPED_DIFF_PATHS
                    && !p.iter().any(|x| x.as_os_str().is_empty()) =>
            {
                Some(&paths[..])
            }
            _ => None,
        };
        let changes = self.describe_diff(head_tree.as_ref(), &new_tree, scope)?;
        let deletions = changes.iter().filter(|(s, _)| *s == 'D').count();
        let tracked_before = index.len() + deletions;
        if !limits.allow_mass_delete
            && deletions >= limits.mass_delete_min_files
            && deletions as f64 > limits.mass_delete_ratio * tracked_before as f64
        {
            // Put the deletions back into the index so nothing half-staged lingers.
            if let Some(tree) = &head_tree {
                index.read_tree(tree).map_err(Error::git("reset index"))?;
            }
            index.write().map_err(Error::git("write index"))?;
            return Err(Error::Blocked(format!(
                "mass delete: {deletions} of {tracked_before} files deleted in {}; not synced. \
                 Restore them, or confirm with `supersonic sync --allow-mass-delete {}`",
                self.workdir.display(),
                self.workdir.display()
            )));
        }
        if self.defer_index_write.get() {
            // Written while the push runs (see [`GitRepo::set_defer_index_write`]).
            self.index_pending.set(true);
        } else {
            index.write().map_err(Error::git("write index"))?;
        }
        let message = commit_message(&changes, identity);
        let parents: Vec<&git2::Commit> = head_commit.iter().collect();
        let oid = self.write_commit(identity, true, &message, &new_tree, &parents, "commit")?;
        let Holds { skipped, held, .. } = holds;
        Ok(Snapshot { commit: Some(oid), files_changed: changes.len(), skipped, held })
    }

    /// Writes a commit of `tree` on `parents` by `identity`, signed when the repository's
    /// effective git config asks for it (`commit.gpgsign`, or the folder's `git.sign`; see
    /// [`crate::signing`]), and returns it. With `move_branch`, the branch then moves to it,
    /// but only from its first parent (or from nothing, for the first commit): a branch moved
    /// meanwhile is [`Error::Busy`].
    ///
    /// Signing fails closed: when it is asked for and fails, no commit is written at all.
    fn write_commit(
        &self,
        identity: &Identity,
        move_branch: bool,
        message: &str,
        tree: &git2::Tree<'_>,
        parents: &[&git2::Commit<'_>],
        context: &str,
    ) -> Result<Oid> {
        let busy = |e: git2::Error| match e.code() {
            git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::Exists => {
                Error::Busy(format!("the branch moved while committing: {}", e.message()))
            }
            _ => Error::git(context)(e),
        };
        let branch = self.branch_ref();
        let sig = &self.signature(identity)?;
        let Some(signer) = self.signer(identity.sign)? else {
            let update = move_branch.then_some(branch.as_str());
            return self.repo.commit(update, sig, sig, message, tree, parents).map_err(busy);
        };
        let buffer = self
            .repo
            .commit_create_buffer(sig, sig, message, tree, parents)
            .map_err(Error::git(context))?;
        let buffer = buffer.as_str().ok_or_else(|| {
            Error::Invalid(format!("{context}: the commit is not UTF-8 and cannot be signed"))
        })?;
        let committer =
            format!("{} <{}>", sig.name().unwrap_or_default(), sig.email().unwrap_or_default());
        let signature = signer.sign(buffer, &committer, &self.workdir)?;
        let oid = self.repo.commit_signed(buffer, &signature, None).map_err(Error::git(context))?;
        if move_branch {
            let summary = message.lines().next().unwrap_or_default();
            let moved = match parents.first() {
                Some(parent) => self.repo.reference_matching(
                    &branch,
                    oid,
                    true,
                    parent.id(),
                    &format!("commit: {summary}"),
                ),
                None => self.repo.reference(
                    &branch,
                    oid,
                    false,
                    &format!("commit (initial): {summary}"),
                ),
            };
            moved.map_err(busy)?;
            if self.repo.head().is_err() {
                self.repo.set_head(&branch).map_err(Error::git("set HEAD"))?;
            }
        }
        Ok(oid)
    }

    /// Returns how commits are to be signed, read from the repository's effective git config
    /// (system, global, local: what `git commit` would use) at the moment of committing, so a
    /// fixed config applies to the next commit without a restart. `sign` (the folder's
    /// `git.sign`) turns `commit.gpgsign` on.
    fn signer(&self, sign: bool) -> Result<Option<crate::signing::Signer>> {
        let mut config = self.repo.config().map_err(Error::git("read the git config"))?;
        let config = config.snapshot().map_err(Error::git("read the git config"))?;
        let get = |key: &str| match (key, sign) {
            ("commit.gpgsign", true) => Some("true".to_string()),
            _ => config.get_string(key).ok(),
        };
        crate::signing::Signer::from_config(get, &self.workdir)
    }

    /// Returns every path whose working-tree state differs from the index or HEAD (full
    /// status; used at start, on rescan and on watcher overflow).
    pub fn changed_paths(&self) -> Result<Vec<PathBuf>> {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true)
            .renames_head_to_index(false);
        let statuses = self.repo.statuses(Some(&mut opts)).map_err(Error::git("status"))?;
        Ok(statuses
            .iter()
            .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
            .map(|s| bytes_to_path(s.path_bytes()))
            .collect())
    }

    fn stage_path(
        &self,
        index: &mut git2::Index,
        rel: &Path,
        ignore: &IgnoreRules,
        limits: &SnapshotLimits,
        holds: &mut Holds,
    ) -> Result<()> {
        if rel.as_os_str().is_empty() || has_symlink_parent(&self.workdir, rel) {
            return Ok(());
        }
        let full = self.workdir.join(rel);
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(e) if is_gone(&e) => {
                remove_from_index(index, rel)?;
                return Ok(());
            }
            Err(e) => return Err(Error::io(&full, e)),
        };
        if meta.is_dir() {
            if ignore.is_ignored(rel, true) {
                return Ok(());
            }
            // Files under the directory: stage what exists, drop what vanished.
            let walker = walkdir::WalkDir::new(&full).follow_links(false).into_iter();
            for entry in walker.filter_entry(|e| {
                let r = e.path().strip_prefix(&self.workdir).unwrap_or(e.path());
                !ignore.is_ignored(r, e.file_type().is_dir())
            }) {
                let Ok(entry) = entry else { continue };
                if entry.file_type().is_dir() {
                    continue;
                }
                let r = entry.path().strip_prefix(&self.workdir).unwrap_or(entry.path());
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(_) => continue,
                };
                self.stage_file(index, r, &meta, ignore, limits, holds)?;
            }
            let vanished: Vec<PathBuf> = entries_under(index, rel)
                .into_iter()
                .filter(|p| std::fs::symlink_metadata(self.workdir.join(p)).is_err())
                .collect();
            for p in vanished {
                remove_from_index(index, &p)?;
            }
            // A file at this path that became a directory.
            if index.get_path(rel, 0).is_some() {
                remove_from_index(index, rel)?;
            }
            return Ok(());
        }
        self.stage_file(index, rel, &meta, ignore, limits, holds)
    }

    fn stage_file(
        &self,
        index: &mut git2::Index,
        rel: &Path,
        meta: &std::fs::Metadata,
        ignore: &IgnoreRules,
        limits: &SnapshotLimits,
        holds: &mut Holds,
    ) -> Result<()> {
        let tracked = index.get_path(rel, 0).is_some();
        if !tracked && ignore.is_ignored(rel, false) {
            return Ok(());
        }
        if !(meta.is_file() || meta.file_type().is_symlink()) {
            return Ok(()); // sockets, fifos, devices
        }
        if meta.is_file() && meta.len() > limits.max_file_size {
            holds.skipped.push((
                rel.display().to_string(),
                format!(
                    "{} MB is over the size limit of {} MB (sync.max_file_size_mb)",
                    meta.len() / (1024 * 1024),
                    limits.max_file_size / (1024 * 1024)
                ),
            ));
            return Ok(());
        }
        if !tracked
            && meta.is_file()
            && meta.len() <= bulk::MAX_FILE
            && entries_under(index, rel).is_empty()
        {
            // A new file: staged with the others after the walk (in one pack if many).
            holds.deferred.push((rel.to_path_buf(), meta.clone()));
            return Ok(());
        }
        self.add_file(index, rel, meta, holds)
    }

    /// Stages the new files [`Self::stage_file`] put aside: through [`bulk`] when there are
    /// many and nothing could filter their content, else one by one. A file bulk staging hands
    /// back (it changed while read) goes the ordinary way.
    fn stage_deferred(
        &self,
        index: &mut git2::Index,
        holds: &mut Holds,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let mut deferred = std::mem::take(&mut holds.deferred);
        // A file both named by the batch and found under a directory of it comes twice.
        deferred.sort_by(|a, b| a.0.cmp(&b.0));
        deferred.dedup_by(|a, b| a.0 == b.0);
        if deferred.len() >= bulk::MIN_FILES
            && !bulk::filters_may_apply(&self.repo, index, &deferred)
        {
            let guard = holds.guard.then_some(&holds.released);
            let outcomes =
                bulk::stage(&self.repo, &self.workdir, index, &deferred, guard, progress)?;
            for ((rel, meta), outcome) in deferred.iter().zip(outcomes) {
                match outcome {
                    bulk::Outcome::Staged => holds.staged.push(rel.clone()),
                    bulk::Outcome::Held(reason) => {
                        holds.held.push((rel.to_string_lossy().into_owned(), reason));
                    }
                    bulk::Outcome::Retry => self.add_file(index, rel, meta, holds)?,
                }
            }
            return Ok(());
        }
        for (rel, meta) in &deferred {
            self.add_file(index, rel, meta, holds)?;
        }
        Ok(())
    }

    /// Adds one file that passed the ignore and size checks (guard, then libgit2).
    fn add_file(
        &self,
        index: &mut git2::Index,
        rel: &Path,
        meta: &std::fs::Metadata,
        holds: &mut Holds,
    ) -> Result<()> {
        if holds.guard && meta.is_file() && self.guard_holds(index, rel, meta, holds) {
            return Ok(());
        }
        // A directory that became a file: drop the entries under it.
        for p in entries_under(index, rel) {
            remove_from_index(index, &p)?;
        }
        match index.add_path(rel) {
            Ok(()) => {
                if meta.is_file() {
                    holds.staged.push(rel.to_path_buf());
                }
                Ok(())
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => remove_from_index(index, rel),
            Err(e) => {
                if std::fs::symlink_metadata(self.workdir.join(rel)).is_err() {
                    return remove_from_index(index, rel);
                }
                let msg = e.message().to_ascii_lowercase();
                if msg.contains("permission denied") {
                    holds.skipped.push((rel.display().to_string(), "not readable".into()));
                    return Ok(());
                }
                Err(Error::git(format!("stage {}", rel.display()))(e))
            }
        }
    }

    /// Takes back the staging of every file in `staged` that changed after it was read (its
    /// size or modification time is no longer the one recorded when its content was hashed):
    /// a save storm or a half-written file. Its entry goes back to HEAD's (or away, for a new
    /// file), so the commit holds no version that was being written; the write's own watcher
    /// event brings it into a later cycle. Returns how many were taken back.
    fn unstage_changed_while_staging(
        &self,
        index: &mut git2::Index,
        staged: &[PathBuf],
    ) -> Result<usize> {
        use std::os::unix::fs::MetadataExt;
        let changed: Vec<&PathBuf> = staged
            .iter()
            .filter(|rel| {
                let Some(entry) = index.get_path(rel, 0) else { return false };
                match std::fs::symlink_metadata(self.workdir.join(rel)) {
                    Ok(m) => {
                        m.len() as u32 != entry.file_size
                            || m.mtime() as i32 != entry.mtime.seconds()
                            || m.mtime_nsec() as u32 != entry.mtime.nanoseconds()
                    }
                    Err(_) => true,
                }
            })
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let head_tree = match self.head()? {
            Some(oid) => Some(
                self.repo
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(Error::git("read HEAD tree"))?,
            ),
            None => None,
        };
        for rel in &changed {
            tracing::debug!(
                "{}: {} changed while staged; left for the next cycle",
                self.workdir.display(),
                rel.display()
            );
            match head_tree.as_ref().and_then(|t| t.get_path(rel).ok()) {
                Some(committed) => {
                    let path = rel.as_os_str().as_encoded_bytes().to_vec();
                    let entry = IndexEntry {
                        ctime: git2::IndexTime::new(0, 0),
                        mtime: git2::IndexTime::new(0, 0),
                        dev: 0,
                        ino: 0,
                        mode: committed.filemode() as u32,
                        uid: 0,
                        gid: 0,
                        file_size: 0,
                        id: committed.id(),
                        flags: path.len().min(NAME_MASK as usize) as u16,
                        flags_extended: 0,
                        path,
                    };
                    index.add(&entry).map_err(Error::git("unstage a changing file"))?;
                }
                None => remove_from_index(index, rel)?,
            }
        }
        Ok(changed.len())
    }

    /// Whether `rel` (a file being staged) is held back by the secret guard: only new content
    /// is checked (an entry the index already has with this size and mtime passes).
    fn guard_holds(
        &self,
        index: &git2::Index,
        rel: &Path,
        meta: &std::fs::Metadata,
        holds: &mut Holds,
    ) -> bool {
        use std::os::unix::fs::MetadataExt;
        let unchanged = index.get_path(rel, 0).is_some_and(|e| {
            u64::from(e.file_size) == meta.len() && i64::from(e.mtime.seconds()) == meta.mtime()
        });
        let key = rel.to_string_lossy();
        if unchanged || holds.released.contains(key.as_ref()) {
            return false;
        }
        match crate::guard::check(rel, &self.workdir.join(rel)) {
            Some(reason) => {
                holds.held.push((key.into_owned(), reason));
                true
            }
            None => false,
        }
    }

    /// Lists the changes from `old` to `new` (renames found), within `scope` when given: the
    /// paths (files or directories) that may have changed.
    fn describe_diff(
        &self,
        old: Option<&git2::Tree>,
        new: &git2::Tree,
        scope: Option<&[PathBuf]>,
    ) -> Result<Vec<(char, String)>> {
        let mut opts = DiffOptions::new();
        opts.include_typechange(true);
        if let Some(paths) = scope {
            // Literal paths: a directory matches everything under it, nothing is a glob.
            opts.disable_pathspec_match(true);
            for p in paths {
                opts.pathspec(p);
            }
        }
        let mut diff = self
            .repo
            .diff_tree_to_tree(old, Some(new), Some(&mut opts))
            .map_err(Error::git("diff"))?;
        let mut find = git2::DiffFindOptions::new();
        find.renames(true);
        diff.find_similar(Some(&mut find)).map_err(Error::git("find renames"))?;
        Ok(diff
            .deltas()
            .map(|d| {
                let new_path =
                    d.new_file().path().map(|p| p.display().to_string()).unwrap_or_default();
                let old_path =
                    d.old_file().path().map(|p| p.display().to_string()).unwrap_or_default();
                match d.status() {
                    Delta::Added => ('A', new_path),
                    Delta::Deleted => ('D', old_path),
                    Delta::Renamed => ('R', format!("{old_path} -> {new_path}")),
                    _ => ('M', new_path),
                }
            })
            .collect())
    }

    fn signature(&self, identity: &Identity) -> Result<Signature<'static>> {
        let config = self.repo.config().ok();
        let get = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
        let name = identity
            .user
            .clone()
            .or_else(|| get("user.name"))
            .unwrap_or_else(|| identity.device.name.clone());
        let email = identity
            .email
            .clone()
            .or_else(|| get("user.email"))
            .unwrap_or_else(|| format!("{}@supersonic-sync.invalid", identity.device.id));
        Signature::now(&name, &email).map_err(Error::git("make signature"))
    }

    /// Fetches the synced branch from the remote within `timeout`. Returns false when the remote
    /// does not have the branch yet (an empty remote).
    pub fn fetch(&self, timeout: Duration) -> Result<bool> {
        self.fetch_with_progress(timeout, None)
    }

    /// [`GitRepo::fetch`], reporting the transfer to `progress`.
    pub fn fetch_with_progress(
        &self,
        timeout: Duration,
        progress: Option<ProgressFn>,
    ) -> Result<bool> {
        let refspec = format!("+{}:{}", self.branch_ref(), self.remote_ref());
        // The devices' last-sync records come along (a glob matching nothing is no error).
        let devices = format!("+{DEVICE_REFS}*:{REMOTE_DEVICE_REFS}*");
        let out = run_network_with_progress(
            "fetch",
            &self.remote_url,
            Some(&self.workdir),
            &["fetch", "--no-tags", "--no-write-fetch-head", REMOTE, &refspec, &devices],
            timeout,
            progress,
        )?;
        if out.success {
            return Ok(true);
        }
        if out.stderr.contains("couldn't find remote ref") {
            // The remote exists but has no such branch (yet): drop a stale tracking ref.
            if let Ok(mut r) = self.repo.find_reference(&self.remote_ref()) {
                let _ = r.delete();
            }
            return Ok(false);
        }
        Err(remote_error("fetch", &self.remote_url, &out.stderr))
    }

    /// Records that this device synced to HEAD at `now`: points its device ref at a new tiny
    /// commit (empty tree, no parent, the device trailers and a `Synced-To:` line) and pushes
    /// that ref alone (forced: only this device writes it) within `timeout`. Nothing lands on
    /// the branch; each record replaces the last, so the remote holds one small commit per
    /// device.
    pub fn publish_seen(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<()> {
        let head = self.head()?.map(|h| h.to_string()).unwrap_or_default();
        let tree = self
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .and_then(|oid| self.repo.find_tree(oid))
            .map_err(Error::git("write the empty tree"))?;
        let base = self.signature(identity)?;
        let time = git2::Time::new(now.timestamp(), 0);
        let sig = Signature::new(
            base.name().unwrap_or("supersonic"),
            base.email().unwrap_or("supersonic@supersonic-sync.invalid"),
            &time,
        )
        .map_err(Error::git("make signature"))?;
        let message = format!(
            "supersonic: {} synced\n\nSynced-To: {head}{}",
            identity.device.name,
            trailers(identity)
        );
        let name = format!("{DEVICE_REFS}{}", identity.device.id);
        let commit = self
            .repo
            .commit(None, &sig, &sig, &message, &tree, &[])
            .map_err(Error::git("record the last sync"))?;
        self.repo
            .reference(&name, commit, true, "supersonic: synced")
            .map_err(Error::git("record the last sync"))?;
        let refspec = format!("+{name}:{name}");
        let out = run_network(
            "push",
            &self.remote_url,
            Some(&self.workdir),
            &["push", "--porcelain", "--no-verify", REMOTE, &refspec],
            timeout,
        )?;
        if out.success {
            // Our own record counts as seen on the remote too.
            let _ = self.repo.reference(
                &format!("{REMOTE_DEVICE_REFS}{}", identity.device.id),
                commit,
                true,
                "supersonic: synced",
            );
            Ok(())
        } else {
            Err(remote_error("push", &self.remote_url, &format!("{}\n{}", out.stderr, out.stdout)))
        }
    }

    /// Returns every device's last recorded sync, by device id: from the fetched records, and
    /// this device's own local one.
    pub fn last_syncs(&self) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        let mut out: Vec<(String, String, DateTime<Utc>)> = Vec::new();
        for glob in [format!("{REMOTE_DEVICE_REFS}*"), format!("{DEVICE_REFS}*")] {
            let refs = self.repo.references_glob(&glob).map_err(Error::git("list device refs"))?;
            for r in refs.flatten() {
                let Ok(c) = r.peel_to_commit() else { continue };
                let msg = c.message().unwrap_or_default();
                let Some(id) = msg
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("Sync-Device-Id: "))
                    .map(|v| v.trim().to_string())
                else {
                    continue;
                };
                let when = commit_time(&c);
                match out.iter_mut().find(|(i, _, _)| *i == id) {
                    Some(seen) => seen.2 = seen.2.max(when),
                    None => out.push((id, commit_device(&c), when)),
                }
            }
        }
        Ok(out)
    }

    /// Pushes the synced branch within `timeout` (never forced).
    pub fn push(&self, timeout: Duration) -> Result<PushOutcome> {
        self.push_with_progress(timeout, None)
    }

    /// [`GitRepo::push`], reporting the transfer to `progress`.
    pub fn push_with_progress(
        &self,
        timeout: Duration,
        progress: Option<ProgressFn>,
    ) -> Result<PushOutcome> {
        let refspec = format!("{}:{}", self.branch_ref(), self.branch_ref());
        // An index a snapshot left unwritten is written while git pushes.
        let mut flushed = Ok(());
        let mut flush = || flushed = self.flush_index();
        let pushed = run_git(
            "push",
            &self.remote_url,
            Some(&self.workdir),
            &["push", "--porcelain", REMOTE, &refspec],
            timeout,
            RunOptions { progress, low_priority: false, meanwhile: Some(&mut flush) },
        );
        flushed?;
        let out = pushed?;
        if out.success {
            // Keep the tracking ref in step even if the remote's fetch refspec is unusual.
            if let Some(head) = self.head()? {
                self.repo
                    .reference(&self.remote_ref(), head, true, "supersonic: push")
                    .map_err(Error::git("update tracking ref"))?;
            }
            return Ok(PushOutcome::Pushed);
        }
        // Porcelain: "!\t<from>:<to>\t[rejected] (fetch first)". Someone else pushed first, or
        // pushed at the same instant (the remote's ref lock): fetch, integrate, push again.
        let refused: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('!')).collect();
        let remote_moved = |l: &&str| {
            ["(fetch first)", "(non-fast-forward)", "failed to update ref", "cannot lock ref"]
                .iter()
                .any(|p| l.contains(p))
        };
        if !refused.is_empty() && refused.iter().all(remote_moved) {
            return Ok(PushOutcome::Rejected);
        }
        if let Some(line) = refused.first() {
            // Refused for another reason (a hook, a protected branch): the user must act.
            let reason = line.rsplit('\t').next().unwrap_or(line);
            return Err(Error::Remote {
                op: "push",
                remote: crate::config::redact_url(&self.remote_url),
                message: format!("the remote refused the push: {reason}"),
                class: FailureClass::NeedsAttention,
            });
        }
        Err(remote_error("push", &self.remote_url, &format!("{}\n{}", out.stderr, out.stdout)))
    }

    /// Returns (unpushed commits, commits on the remote not yet integrated).
    pub fn ahead_behind(&self) -> Result<(usize, usize)> {
        match (self.head()?, self.remote_head()?) {
            (None, None) => Ok((0, 0)),
            (Some(local), Some(remote)) => {
                self.repo.graph_ahead_behind(local, remote).map_err(Error::git("ahead/behind"))
            }
            (Some(local), None) => Ok((self.count_commits(local)?, 0)),
            (None, Some(remote)) => Ok((0, self.count_commits(remote)?)),
        }
    }

    fn count_commits(&self, tip: Oid) -> Result<usize> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(tip).map_err(Error::git("revwalk"))?;
        // A revwalk that fails (an object gone: the folder deleted under us) keeps failing on
        // every call: stop at the first error, never count errors forever.
        let mut n = 0;
        for step in walk {
            step.map_err(Error::git("walk history"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Applies the fetched remote branch: fast-forward when possible, else an in-memory merge
    /// that keeps both versions of every conflicting file, then a safe checkout.
    pub fn integrate(&self, identity: &Identity, policy: &Policy) -> Result<Integration> {
        let Some(remote) = self.remote_head()? else { return Ok(Integration::RemoteEmpty) };
        let local = self.head()?;
        let Some(local) = local else {
            let files = self.checkout_and_move(None, remote, "fast-forward")?;
            return Ok(Integration::FastForwarded { files });
        };
        if local == remote {
            return Ok(Integration::UpToDate);
        }
        let base = match self.repo.merge_base(local, remote) {
            Ok(base) => Some(base),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(Error::git("merge base")(e)),
        };
        if base == Some(remote) {
            return Ok(Integration::LocalAhead);
        }
        if base == Some(local) {
            let files = self.checkout_and_move(Some(local), remote, "fast-forward")?;
            return Ok(Integration::FastForwarded { files });
        }
        self.merge(local, remote, identity, policy)
    }

    fn merge(
        &self,
        local: Oid,
        remote: Oid,
        identity: &Identity,
        policy: &Policy,
    ) -> Result<Integration> {
        let repo = &self.repo;
        let lc = repo.find_commit(local).map_err(Error::git("read local commit"))?;
        let rc = repo.find_commit(remote).map_err(Error::git("read remote commit"))?;
        let mut opts = MergeOptions::new();
        opts.find_renames(true);
        let mut index = repo.merge_commits(&lc, &rc, Some(&opts)).map_err(Error::git("merge"))?;
        let mut resolutions = Vec::new();
        if index.has_conflicts() {
            let conflicts: Vec<git2::IndexConflict> = index
                .conflicts()
                .map_err(Error::git("read conflicts"))?
                .collect::<std::result::Result<_, _>>()
                .map_err(Error::git("read conflicts"))?;
            let base = repo.merge_base(local, remote).ok();
            let ctx = MergeCtx {
                local_tip: local,
                remote_tip: remote,
                base,
                local_device: identity.device.name.clone(),
                remote_device: commit_device(&rc),
                policy,
            };
            for conflict in conflicts {
                resolutions.extend(self.resolve_conflict(&mut index, conflict, &ctx)?);
            }
            self.prune_copies(&mut index, &mut resolutions, policy.max_copies, &lc, &rc)?;
        }
        let tree_oid = index.write_tree_to(&self.repo).map_err(Error::git("write merge tree"))?;
        let tree = self.repo.find_tree(tree_oid).map_err(Error::git("read merge tree"))?;
        let mut message = format!("sync: merge remote changes on {}\n", identity.device.name);
        if !resolutions.is_empty() {
            message.push_str("\nConflicts:\n");
            for r in &resolutions {
                message.push_str(&format!("C {} ({}, {})\n", r.path, r.kind, r.strategy));
            }
        }
        message.push_str(&trailers(identity));
        for r in &resolutions {
            let json = serde_json::to_string(r).expect("a resolution serialises");
            message.push_str(&format!("{}{json}\n", conflicts::TRAILER));
        }
        let merge =
            self.write_commit(identity, false, &message, &tree, &[&lc, &rc], "commit merge")?;
        let files = self.checkout_and_move(Some(local), merge, "merge")?;
        Ok(Integration::Merged { commit: merge, files, conflicts: resolutions })
    }

    /// Resolves one conflicted path in the merge index by the path's policy, and returns what
    /// was decided (recorded in the merge commit, so any device can show and undo it).
    fn resolve_conflict(
        &self,
        index: &mut git2::Index,
        conflict: git2::IndexConflict,
        ctx: &MergeCtx<'_>,
    ) -> Result<Vec<Resolution>> {
        for entry in [&conflict.ancestor, &conflict.our, &conflict.their].into_iter().flatten() {
            let _ = index.conflict_remove(&bytes_to_path(&entry.path));
        }
        let base_blob = conflict.ancestor.as_ref().map(|e| e.id.to_string());
        let ours = conflict.our;
        let theirs = conflict.their;
        let mut out = Vec::new();
        match (ours, theirs) {
            (Some(ours), Some(theirs)) if ours.path == theirs.path => {
                let path = String::from_utf8_lossy(&ours.path).into_owned();
                let local =
                    self.version(&ours, ctx.local_tip, ctx.base, &path, &ctx.local_device)?;
                let remote =
                    self.version(&theirs, ctx.remote_tip, ctx.base, &path, &ctx.remote_device)?;
                let binary = self.is_binary(ours.id)? || self.is_binary(theirs.id)?;
                let kind = if conflict.ancestor.is_some() { "content" } else { "add/add" };
                let (strategy, rule) = ctx.policy.decide(&path);
                let mut r = Resolution {
                    path: path.clone(),
                    kind: kind.into(),
                    binary,
                    strategy,
                    rule,
                    copy: None,
                    local: Some(local.clone()),
                    remote: Some(remote.clone()),
                    base: base_blob,
                    result: None,
                    note: None,
                };
                let local_newer = local.time >= remote.time;
                let fallback = |r: &mut Resolution, why: &str| {
                    r.note = Some(format!("{} fell back to ask: {why}", r.strategy));
                    r.strategy = Strategy::Ask;
                };
                if matches!(strategy, Strategy::Union | Strategy::Markers) && binary {
                    fallback(&mut r, "binary file");
                }
                match r.strategy {
                    Strategy::Union => {
                        match self.union_merge(&conflict.ancestor, &ours, &theirs, &path)? {
                            Some(blob) => {
                                let mut merged = dup(&ours);
                                merged.id = blob;
                                index.add(&stage0(merged, None)).map_err(Error::git("union"))?;
                                r.result = Some(blob.to_string());
                            }
                            None => fallback(&mut r, "keys collide or a side does not parse"),
                        }
                    }
                    Strategy::Markers => {
                        let base = self.ancestor_or_empty(&conflict.ancestor, &ours)?;
                        let mut fo = git2::MergeFileOptions::new();
                        fo.our_label(format!("local ({})", local.device));
                        fo.their_label(format!("remote ({})", remote.device));
                        fo.ancestor_label("base");
                        let merged = self
                            .repo
                            .merge_file_from_index(&base, &ours, &theirs, Some(&mut fo))
                            .map_err(Error::git("merge file"))?;
                        let blob =
                            self.repo.blob(merged.content()).map_err(Error::git("write blob"))?;
                        let mut entry = dup(&ours);
                        entry.id = blob;
                        index.add(&stage0(entry, None)).map_err(Error::git("markers"))?;
                        r.result = Some(blob.to_string());
                        if merged.is_automergeable() {
                            r.note = Some("merged cleanly; no markers needed".into());
                        }
                    }
                    Strategy::Command => {
                        let command = ctx.policy.command_for(&path).unwrap_or_default();
                        match self.command_merge(
                            command,
                            &conflict.ancestor,
                            &ours,
                            &theirs,
                            &path,
                            ctx.policy,
                        )? {
                            Ok(blob) => {
                                let mut entry = dup(&ours);
                                entry.id = blob;
                                index.add(&stage0(entry, None)).map_err(Error::git("command"))?;
                                r.result = Some(blob.to_string());
                                r.note = Some(format!("merged by `{}`", command[0]));
                            }
                            Err(why) => {
                                tracing::warn!(
                                    "{}: merge command for {path} failed, keeping both \
                                     versions: {why}",
                                    self.workdir.display()
                                );
                                fallback(&mut r, &why);
                            }
                        }
                    }
                    _ => {}
                }
                match r.strategy {
                    Strategy::Newest | Strategy::Local | Strategy::Remote => {
                        let take_local = match r.strategy {
                            Strategy::Local => true,
                            Strategy::Remote => false,
                            _ => local_newer,
                        };
                        let winner = if take_local { ours } else { theirs };
                        r.result = Some(winner.id.to_string());
                        index.add(&stage0(winner, None)).map_err(Error::git("resolve"))?;
                    }
                    Strategy::Ask => {
                        let (winner, loser, loser_v) = if local_newer {
                            (ours, theirs, &remote)
                        } else {
                            (theirs, ours, &local)
                        };
                        r.result = Some(winner.id.to_string());
                        index.add(&stage0(winner, None)).map_err(Error::git("resolve"))?;
                        if conflicts::is_conflict_copy(&path) {
                            // Never a copy of a copy: the older one stays in history.
                            r.note = Some(
                                "a conflict copy conflicted: the newer version kept it, \
                                           the older is in history"
                                    .into(),
                            );
                        } else {
                            let copy = self.copy_name(index, &path, loser_v);
                            index
                                .add(&stage0(loser, Some(copy.as_bytes())))
                                .map_err(Error::git("keep conflict copy"))?;
                            r.copy = Some(copy);
                        }
                    }
                    Strategy::Union | Strategy::Markers | Strategy::Command => {}
                }
                out.push(r);
            }
            (ours, theirs) => {
                // Modify/delete (either way), renames to different names, file vs directory.
                let renamed = matches!((&ours, &theirs), (Some(o), Some(t)) if o.path != t.path);
                let path = [&ours, &theirs, &conflict.ancestor]
                    .into_iter()
                    .flatten()
                    .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                    .next()
                    .unwrap_or_default();
                let (strategy, rule) = ctx.policy.decide(&path);
                let local = match &ours {
                    Some(e) => {
                        Some(self.version(e, ctx.local_tip, ctx.base, &path, &ctx.local_device)?)
                    }
                    None => None,
                };
                let remote = match &theirs {
                    Some(e) => Some(self.version(
                        e,
                        ctx.remote_tip,
                        ctx.base,
                        &path,
                        &ctx.remote_device,
                    )?),
                    None => None,
                };
                let kind = if renamed {
                    "rename/rename"
                } else if ours.is_none() {
                    "delete/modify"
                } else {
                    "modify/delete"
                };
                // Which sides survive: `local`/`remote` may pick the deletion; everything else
                // keeps every modification (nothing is lost by default).
                let keep: Vec<(IndexEntry, &Version)> = match (strategy, renamed) {
                    (Strategy::Local, false) => {
                        ours.iter().zip(local.iter()).map(|(e, v)| (dup(e), v)).collect()
                    }
                    (Strategy::Remote, false) => {
                        theirs.iter().zip(remote.iter()).map(|(e, v)| (dup(e), v)).collect()
                    }
                    _ => ours
                        .iter()
                        .zip(local.iter())
                        .chain(theirs.iter().zip(remote.iter()))
                        .map(|(e, v)| (dup(e), v))
                        .collect(),
                };
                let mut r = Resolution {
                    path: path.clone(),
                    kind: kind.into(),
                    binary: false,
                    strategy: if matches!(strategy, Strategy::Local | Strategy::Remote) && !renamed
                    {
                        strategy
                    } else {
                        Strategy::Newest
                    },
                    rule,
                    copy: None,
                    local: local.clone(),
                    remote: remote.clone(),
                    base: base_blob,
                    result: None,
                    note: Some(if renamed {
                        "both sides renamed the file: each name keeps its side's version".into()
                    } else if keep.is_empty() {
                        "the deletion was kept; the modification is in history".into()
                    } else {
                        "the modification was kept".into()
                    }),
                };
                for (entry, v) in keep {
                    let entry_path = String::from_utf8_lossy(&entry.path).into_owned();
                    if occupied(index, &entry.path) {
                        // A file where the other side now has a directory: keep it beside.
                        let copy = self.copy_name(index, &entry_path, v);
                        index
                            .add(&stage0(entry, Some(copy.as_bytes())))
                            .map_err(Error::git("keep conflict copy"))?;
                        r.kind = "file/directory".into();
                        r.strategy = Strategy::Ask;
                        r.copy = Some(copy);
                    } else {
                        r.result = Some(entry.id.to_string());
                        index.add(&stage0(entry, None)).map_err(Error::git("resolve conflict"))?;
                    }
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    fn copy_name(&self, index: &git2::Index, path: &str, v: &Version) -> String {
        let name = conflicts::conflict_copy_name(path, v.time, &v.device);
        conflicts::unique_name(&name, |n| {
            index.get_path(Path::new(n), 0).is_some() || self.workdir.join(n).exists()
        })
    }

    /// Describes one side's version of `path`: blob, size, and who changed it last and when
    /// (the newest commit on that side since the merge base that changed the path).
    fn version(
        &self,
        entry: &IndexEntry,
        tip: Oid,
        base: Option<Oid>,
        path: &str,
        fallback_device: &str,
    ) -> Result<Version> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(tip).map_err(Error::git("revwalk"))?;
        if let Some(base) = base {
            let _ = walk.hide(base);
        }
        let p = Path::new(path);
        let mut found = None;
        for oid in walk.take(1000).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let here = c.tree().ok().and_then(|t| t.get_path(p).ok()).map(|e| e.id());
            let before = c
                .parent(0)
                .ok()
                .and_then(|pc| pc.tree().ok())
                .and_then(|t| t.get_path(p).ok())
                .map(|e| e.id());
            if here != before {
                found = Some((commit_time(&c), commit_device(&c)));
                break;
            }
        }
        let (time, device) = match found {
            Some(f) => f,
            None => {
                let c = self.repo.find_commit(tip).map_err(Error::git("read tip"))?;
                (commit_time(&c), fallback_device.to_string())
            }
        };
        Ok(Version { blob: entry.id.to_string(), device, time, size: u64::from(entry.file_size) })
    }

    fn is_binary(&self, blob: Oid) -> Result<bool> {
        Ok(self.repo.find_blob(blob).map_err(Error::git("read blob"))?.is_binary())
    }

    fn ancestor_or_empty(
        &self,
        ancestor: &Option<IndexEntry>,
        like: &IndexEntry,
    ) -> Result<IndexEntry> {
        match ancestor {
            Some(a) => Ok(dup(a)),
            None => {
                let mut e = dup(like);
                e.id = self.repo.blob(b"").map_err(Error::git("write blob"))?;
                e.file_size = 0;
                Ok(e)
            }
        }
    }

    /// Runs the rule's merge `command` on the three versions (see
    /// [`conflicts::run_merge_command`]) and returns the merged blob, or why it failed (the
    /// caller falls back to `ask`). Errors reading or writing the repository are the outer
    /// `Err`.
    fn command_merge(
        &self,
        command: &[String],
        ancestor: &Option<IndexEntry>,
        ours: &IndexEntry,
        theirs: &IndexEntry,
        path: &str,
        policy: &Policy,
    ) -> Result<std::result::Result<Oid, String>> {
        let read = |oid: Oid| -> Result<Vec<u8>> {
            Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
        };
        let base = match ancestor {
            Some(a) => read(a.id)?,
            None => Vec::new(),
        };
        let (local, remote) = (read(ours.id)?, read(theirs.id)?);
        let input = conflicts::MergeInput { base: &base, local: &local, remote: &remote, path };
        let merged =
            conflicts::run_merge_command(command, input, &self.workdir, policy.command_timeout);
        match merged {
            Ok(bytes) => Ok(Ok(self.repo.blob(&bytes).map_err(Error::git("write blob"))?)),
            Err(why) => Ok(Err(why)),
        }
    }

    /// Returns the union of both sides as a new blob, or None when the union is not safe: JSON
    /// whose keys truly collide or that does not parse.
    fn union_merge(
        &self,
        ancestor: &Option<IndexEntry>,
        ours: &IndexEntry,
        theirs: &IndexEntry,
        path: &str,
    ) -> Result<Option<Oid>> {
        let read = |oid: Oid| -> Result<Vec<u8>> {
            Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
        };
        let o = read(ours.id)?;
        let t = read(theirs.id)?;
        let b = match ancestor {
            Some(a) => Some(read(a.id)?),
            None => None,
        };
        let merged = if path.to_ascii_lowercase().ends_with(".json") {
            match conflicts::merge_json_bytes(b.as_deref(), &o, &t) {
                Some(bytes) => bytes,
                None => return Ok(None),
            }
        } else {
            let base = self.ancestor_or_empty(ancestor, ours)?;
            let mut fo = git2::MergeFileOptions::new();
            fo.favor(git2::FileFavor::Union);
            let result = self
                .repo
                .merge_file_from_index(&base, ours, theirs, Some(&mut fo))
                .map_err(Error::git("union merge"))?;
            conflicts::drop_union_duplicates(result.content(), &o, &t)
        };
        Ok(Some(self.repo.blob(&merged).map_err(Error::git("write blob"))?))
    }

    /// Keeps at most `max` conflict copies per file: the oldest go, but only when their content
    /// is already in history (committed on either side), so pruning loses nothing.
    fn prune_copies(
        &self,
        index: &mut git2::Index,
        resolutions: &mut [Resolution],
        max: usize,
        lc: &git2::Commit,
        rc: &git2::Commit,
    ) -> Result<()> {
        let trees = [lc.tree().ok(), rc.tree().ok()];
        for r in resolutions.iter_mut().filter(|r| r.copy.is_some()) {
            let mut copies: Vec<String> = index
                .iter()
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .filter(|p| conflicts::original_of(p).as_deref() == Some(r.path.as_str()))
                .collect();
            if copies.len() <= max {
                continue;
            }
            copies.sort_by_key(|p| conflicts::copy_timestamp(p));
            let excess = copies.len() - max;
            for old in copies.into_iter().take(excess) {
                let blob = index.get_path(Path::new(&old), 0).map(|e| e.id);
                let in_history = trees.iter().flatten().any(|t| {
                    t.get_path(Path::new(&old)).ok().map(|e| e.id()) == blob && blob.is_some()
                });
                if in_history {
                    index.remove_path(Path::new(&old)).map_err(Error::git("prune copy"))?;
                    let note = format!("pruned old copy {old} (in history)");
                    r.note = Some(match r.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note,
                    });
                }
            }
        }
        Ok(())
    }

    /// Returns the conflict resolutions recorded in the last `max_commits` commits reachable
    /// from HEAD (newest first), with the merge commit and its time.
    pub fn conflict_records(
        &self,
        max_commits: usize,
    ) -> Result<Vec<(Oid, DateTime<Utc>, Resolution)>> {
        let Some(head) = self.head()? else { return Ok(Vec::new()) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        let mut out = Vec::new();
        for oid in walk.take(max_commits).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            if c.parent_count() < 2 {
                continue;
            }
            for line in c.message_bytes().split(|&b| b == b'\n') {
                let Some(json) = line.strip_prefix(conflicts::TRAILER.as_bytes()) else { continue };
                if let Ok(r) = serde_json::from_slice::<Resolution>(json) {
                    out.push((oid, commit_time(&c), r));
                }
            }
        }
        Ok(out)
    }

    /// Returns every device seen in the last `depth` commits of this branch and the remote's
    /// (by their `Sync-Device-Id` trailer; commits made without Supersonic count under their
    /// author), most recently active first.
    pub fn devices(&self, depth: usize) -> Result<Vec<DeviceSeen>> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TIME).map_err(Error::git("revwalk"))?;
        let mut tips = 0;
        for tip in [self.head()?, self.remote_head()?].into_iter().flatten() {
            walk.push(tip).map_err(Error::git("revwalk"))?;
            tips += 1;
        }
        if tips == 0 {
            return Ok(Vec::new());
        }
        let mut seen: Vec<DeviceSeen> = Vec::new();
        for oid in walk.take(depth).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let msg = c.message().unwrap_or_default();
            let trailer = |key: &str| {
                msg.lines().rev().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
            };
            let id = trailer("Sync-Device-Id: ");
            let name = commit_device(&c);
            let when = commit_time(&c);
            let key = |d: &DeviceSeen| match (&id, &d.id) {
                (Some(a), Some(b)) => a == b,
                (None, None) => d.name == name,
                _ => false,
            };
            match seen.iter_mut().find(|d| key(d)) {
                Some(d) => {
                    d.commits += 1;
                    d.last_commit = d.last_commit.max(when);
                    d.first_commit = d.first_commit.min(when);
                }
                None => seen.push(DeviceSeen {
                    id: id.clone(),
                    name,
                    commits: 1,
                    last_commit: when,
                    first_commit: when,
                    via_supersonic: id.is_some(),
                    last_sync: None,
                }),
            }
        }
        for (id, name, when) in self.last_syncs()? {
            match seen.iter_mut().find(|d| d.id.as_deref() == Some(id.as_str())) {
                Some(d) => d.last_sync = Some(when),
                // A device that only receives: seen syncing, never committing (in this depth).
                None => seen.push(DeviceSeen {
                    id: Some(id),
                    name,
                    commits: 0,
                    last_commit: when,
                    first_commit: when,
                    via_supersonic: true,
                    last_sync: Some(when),
                }),
            }
        }
        seen.sort_by_key(|d| {
            std::cmp::Reverse(d.last_sync.unwrap_or(d.last_commit).max(d.last_commit))
        });
        Ok(seen)
    }

    /// Returns the changed files the secret guard holds back now (not released, not ignored),
    /// with the reason: the quarantine as the working tree shows it.
    pub fn held_back(&self) -> Result<Vec<(String, String)>> {
        let released = crate::guard::released(self.repo.path());
        let mut held = Vec::new();
        for rel in self.changed_paths()? {
            let full = self.workdir.join(&rel);
            let key = rel.to_string_lossy().into_owned();
            let is_file = std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_file());
            if !is_file || released.contains(&key) {
                continue;
            }
            if let Some(reason) = crate::guard::check(&rel, &full) {
                held.push((key, reason));
            }
        }
        Ok(held)
    }

    /// Releases `rel` from the secret guard in this repository (per device).
    pub fn release_held(&self, rel: &str) -> Result<()> {
        crate::guard::release(self.repo.path(), rel)
    }

    /// Returns the time of the oldest commit not on the remote yet, if any.
    pub fn oldest_unpushed(&self) -> Result<Option<DateTime<Utc>>> {
        let Some(head) = self.head()? else { return Ok(None) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        if let Some(remote) = self.remote_head()? {
            walk.hide(remote).map_err(Error::git("revwalk"))?;
        }
        let mut oldest = None;
        for oid in walk.map_while(std::result::Result::ok) {
            if let Ok(c) = self.repo.find_commit(oid) {
                let t = commit_time(&c);
                oldest = Some(oldest.map_or(t, |o: DateTime<Utc>| o.min(t)));
            }
        }
        Ok(oldest)
    }

    /// Remembers what an integrate just did (HEAD went from `pre` to `post`), so that
    /// [`GitRepo::undo_last_sync`] can take it back. Hidden refs: nothing the user sees moves.
    pub fn record_undo_point(&self, pre: Oid, post: Oid) -> Result<()> {
        for (name, oid) in [(UNDO_PRE, pre), (UNDO_POST, post)] {
            self.repo
                .reference(name, oid, true, "supersonic: before/after the last sync")
                .map_err(Error::git("record the undo point"))?;
        }
        Ok(())
    }

    /// Returns the last sync's undo point (HEAD before, HEAD after its integrate), if any.
    pub fn undo_point(&self) -> Result<Option<(Oid, Oid)>> {
        let target = |name| self.repo.find_reference(name).ok().and_then(|r| r.target());
        Ok(target(UNDO_PRE).zip(target(UNDO_POST)))
    }

    /// Takes back what the last sync brought in, as a new commit on top of HEAD (nothing is
    /// rewritten, so other devices simply receive the undo): the changes between the undo
    /// point's `pre` and `post` are reversed; edits made since stay. Refused when a later
    /// edit touched the same lines, or when there is nothing to undo. The working tree is
    /// updated safely (a file modified meanwhile is never overwritten).
    pub fn undo_last_sync(&self, identity: &Identity) -> Result<UndoOutcome> {
        let Some((pre, post)) = self.undo_point()? else {
            return Err(Error::Invalid(format!(
                "nothing to undo in {}: no sync brought changes in since the last undo",
                self.workdir.display()
            )));
        };
        let head = self.head()?.ok_or_else(|| Error::Invalid("the branch has no commit".into()))?;
        let tree = |oid: Oid| {
            self.repo.find_commit(oid).and_then(|c| c.tree()).map_err(Error::git("read a tree"))
        };
        let (pre_tree, post_tree, head_tree) = (tree(pre)?, tree(post)?, tree(head)?);
        // Three-way: the sync's effect (post -> pre, reversed) applied onto HEAD.
        let mut index = self
            .repo
            .merge_trees(&post_tree, &head_tree, &pre_tree, None)
            .map_err(Error::git("reverse the last sync"))?;
        if index.has_conflicts() {
            let paths: Vec<String> = index
                .conflicts()
                .map_err(Error::git("list conflicts"))?
                .flatten()
                .filter_map(|c| c.our.or(c.their).map(|e| bytes_to_path(&e.path)))
                .map(|p| p.display().to_string())
                .collect();
            return Err(Error::Blocked(format!(
                "the last sync cannot be undone: {} changed again since; undo those edits first",
                paths.join(", ")
            )));
        }
        let new_tree = index.write_tree_to(&self.repo).map_err(Error::git("write tree"))?;
        if new_tree == head_tree.id() {
            self.clear_undo_point();
            return Err(Error::Invalid("nothing to undo: the last sync's changes are gone".into()));
        }
        let new_tree = self.repo.find_tree(new_tree).map_err(Error::git("read tree"))?;
        let changes = self.describe_diff(Some(&head_tree), &new_tree, None)?;
        let mut message = commit_message(&changes, identity);
        message = message.replacen("sync:", "undo last sync:", 1);
        let head_commit = self.repo.find_commit(head).map_err(Error::git("read HEAD"))?;
        let commit = self.write_commit(
            identity,
            false,
            &message,
            &new_tree,
            &[&head_commit],
            "commit the undo",
        )?;
        self.checkout_and_move(Some(head), commit, "undo last sync")?;
        self.clear_undo_point();
        Ok(UndoOutcome { commit: commit.to_string(), files: changes.len() })
    }

    fn clear_undo_point(&self) {
        for name in [UNDO_PRE, UNDO_POST] {
            if let Ok(mut r) = self.repo.find_reference(name) {
                let _ = r.delete();
            }
        }
    }

    /// Returns this device's commits (by `Sync-Device-Id` trailer) among the last `depth`
    /// commits from HEAD, newest first, with their time and number of files in the body.
    pub fn own_commits(
        &self,
        device_id: &str,
        depth: usize,
    ) -> Result<Vec<(String, DateTime<Utc>, usize)>> {
        let Some(head) = self.head()? else { return Ok(Vec::new()) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TIME).map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        let trailer = format!("Sync-Device-Id: {device_id}");
        let mut out = Vec::new();
        for oid in walk.take(depth).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let msg = c.message().unwrap_or_default();
            if c.parent_count() < 2 && msg.lines().any(|l| l == trailer) {
                let files = msg
                    .lines()
                    .filter(|l| l.len() > 2 && l.as_bytes()[1] == b' ' && "AMDR".contains(&l[..1]))
                    .count();
                out.push((oid.to_string(), commit_time(&c), files));
            }
        }
        Ok(out)
    }

    /// Returns every tracked conflict copy (from the index: no work-tree scan).
    pub fn conflict_copies(&self) -> Result<Vec<String>> {
        let index = self.repo.index().map_err(Error::git("open index"))?;
        Ok(index
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .filter(|p| conflicts::is_conflict_copy(p))
            .collect())
    }

    /// Measures how big the repository is (see [`RepoGrowth`]): the index's record of tracked
    /// sizes, one walk of `.git` (never of the work tree) and one walk of the commits from HEAD.
    /// Costs milliseconds on a small repository and grows with history; the engine calls it off
    /// the hot path, at most every few minutes.
    pub fn growth(&self, now: DateTime<Utc>) -> Result<RepoGrowth> {
        let index = self.repo.index().map_err(Error::git("open index"))?;
        let (tracked_files, worktree_bytes) =
            index.iter().fold((0u64, 0u64), |(n, b), e| (n + 1, b + u64::from(e.file_size)));
        let git_dir = self.repo.path().to_path_buf();
        let mut g = RepoGrowth {
            worktree_bytes,
            tracked_files,
            measured_at: now.to_rfc3339(),
            ..RepoGrowth::default()
        };
        let mut stack = vec![git_dir.clone()];
        let objects = git_dir.join("objects");
        let packs = objects.join("pack");
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue }; // gone meanwhile
                let path = entry.path();
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                g.git_bytes += meta.len();
                if dir == packs {
                    if path.extension().is_some_and(|e| e == "pack") {
                        g.pack_bytes += meta.len();
                    }
                } else if dir.parent() == Some(objects.as_path())
                    && dir.file_name().is_some_and(|n| {
                        n.len() == 2 && n.to_string_lossy().bytes().all(|b| b.is_ascii_hexdigit())
                    })
                {
                    g.loose_objects += 1;
                    g.loose_bytes += meta.len();
                }
            }
        }
        if let Some(head) = self.head()? {
            let mut walk = self.repo.revwalk().map_err(Error::git("walk history"))?;
            walk.push(head).map_err(Error::git("walk history"))?;
            g.commits = walk.count() as u64;
        }
        Ok(g)
    }

    /// Runs `git gc` on the repository (`--auto`: only when git's own thresholds say so),
    /// at low priority (`nice`, when installed), in the foreground (never detached, so it ends
    /// before the next cycle), killed when `timeout` passes. The caller makes sure no cycle of
    /// the folder runs meanwhile.
    pub fn gc(&self, auto: bool, timeout: Duration) -> Result<()> {
        let workdir = self.workdir.display().to_string();
        let mut args = vec!["-c", "gc.autoDetach=false", "gc", "--quiet"];
        if auto {
            args.push("--auto");
        }
        let out = run_git(
            "gc",
            &workdir,
            Some(&self.workdir),
            &args,
            timeout,
            RunOptions { low_priority: true, ..RunOptions::default() },
        )?;
        // libgit2 keeps the old pack list; let it see the new packs at once.
        if let Ok(odb) = self.repo.odb() {
            let _ = odb.refresh();
        }
        if out.success {
            Ok(())
        } else {
            Err(Error::Git {
                context: format!("git gc in {workdir}"),
                source: git2::Error::from_str(out.stderr.trim()),
            })
        }
    }

    /// Returns a blob's content by id.
    pub fn blob_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let oid = Oid::from_str(id).map_err(Error::git("parse blob id"))?;
        Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
    }

    /// Safely checks out `target` over the current HEAD (`from`), then moves the branch to it.
    /// Returns the number of files written or removed.
    fn checkout_and_move(&self, from: Option<Oid>, target: Oid, why: &str) -> Result<usize> {
        let target_commit = self.repo.find_commit(target).map_err(Error::git("read target"))?;
        let target_tree = target_commit.tree().map_err(Error::git("read target tree"))?;
        let from_tree = match from {
            Some(oid) => Some(
                self.repo
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(Error::git("read HEAD tree"))?,
            ),
            None => None,
        };
        let files = self
            .repo
            .diff_tree_to_tree(from_tree.as_ref(), Some(&target_tree), None)
            .map_err(Error::git("diff"))?
            .deltas()
            .len();
        // Compare-and-swap: libgit2 checks the work tree against the *current* HEAD, so if the
        // user committed or switched meanwhile, stop instead of overwriting their work.
        if self.head()? != from || self.repo.head_detached().unwrap_or(false) {
            return Err(Error::Busy(format!(
                "HEAD of {} moved during the sync (a git command of yours?); syncing again",
                self.workdir.display()
            )));
        }
        let conflicts = std::cell::RefCell::new(Vec::<String>::new());
        let mut cb = CheckoutBuilder::new();
        cb.safe();
        // Ignore rules differ between devices: a file ignored here may be synced elsewhere, and
        // must never be overwritten by it.
        cb.overwrite_ignored(false);
        cb.notify_on(git2::CheckoutNotificationType::CONFLICT);
        cb.notify(|_, path, _, _, _| {
            if let Some(p) = path {
                conflicts.borrow_mut().push(p.display().to_string());
            }
            true
        });
        let result = self.repo.checkout_tree(target_tree.as_object(), Some(&mut cb));
        drop(cb);
        if let Err(e) = result {
            let paths = conflicts.into_inner();
            if !paths.is_empty() || e.code() == git2::ErrorCode::Conflict {
                return Err(Error::WorktreeChanged(format!(
                    "{} changed since the snapshot; not overwritten",
                    if paths.is_empty() { "a file".to_string() } else { paths.join(", ") }
                )));
            }
            if e.message().to_ascii_lowercase().contains("no space left") {
                return Err(Error::io(
                    &self.workdir,
                    std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
                ));
            }
            return Err(Error::git("checkout")(e));
        }
        let message = format!("supersonic: {why}");
        let moved = match from {
            Some(from) => {
                self.repo.reference_matching(&self.branch_ref(), target, true, from, &message)
            }
            None => self.repo.reference(&self.branch_ref(), target, false, &message),
        };
        moved.map_err(|e| match e.code() {
            git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked => {
                Error::Busy(format!("the branch moved during the sync: {}", e.message()))
            }
            _ => Error::git("move branch")(e),
        })?;
        if self.repo.head().is_err() {
            self.repo.set_head(&self.branch_ref()).map_err(Error::git("set HEAD"))?;
        }
        Ok(files)
    }
}

struct MergeCtx<'a> {
    local_tip: Oid,
    remote_tip: Oid,
    base: Option<Oid>,
    local_device: String,
    remote_device: String,
    policy: &'a Policy,
}

/// Returns whether adding a file at `path` would clash with a resolved entry: a file under
/// `path/` or a file at one of `path`'s parents.
fn occupied(index: &git2::Index, path: &[u8]) -> bool {
    let under = index.iter().any(|e| {
        e.flags & STAGE_MASK == 0
            && e.path.starts_with(path)
            && e.path.get(path.len()) == Some(&b'/')
    });
    if under {
        return true;
    }
    let mut parent = path;
    while let Some(i) = parent.iter().rposition(|&b| b == b'/') {
        parent = &parent[..i];
        if index.get_path(&bytes_to_path(parent), 0).is_some() {
            return true;
        }
    }
    false
}

/// Returns a copy of an index entry (git2's `IndexEntry` is not `Clone`).
fn dup(e: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: e.ctime,
        mtime: e.mtime,
        dev: e.dev,
        ino: e.ino,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        file_size: e.file_size,
        id: e.id,
        flags: e.flags,
        flags_extended: e.flags_extended,
        path: e.path.clone(),
    }
}

fn stage0(mut entry: IndexEntry, path: Option<&[u8]>) -> IndexEntry {
    if let Some(path) = path {
        entry.path = path.to_vec();
    }
    let len = entry.path.len().min(NAME_MASK as usize) as u16;
    entry.flags = (entry.flags & !(STAGE_MASK | NAME_MASK)) | len;
    entry
}

fn commit_time(c: &git2::Commit) -> DateTime<Utc> {
    Utc.timestamp_opt(c.time().seconds(), 0).single().unwrap_or_else(Utc::now)
}

/// Returns the device named in a commit's `Sync-Device:` trailer, else its author's name.
pub fn commit_device(c: &git2::Commit) -> String {
    c.message()
        .and_then(|m| m.lines().rev().find_map(|l| l.strip_prefix("Sync-Device: ")))
        .map(|d| d.trim().to_string())
        .or_else(|| c.author().name().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

fn trailers(identity: &Identity) -> String {
    format!("\nSync-Device: {}\nSync-Device-Id: {}\n", identity.device.name, identity.device.id)
}

/// Returns `path` as one line of a commit message: as it is, or when it holds a control
/// character (a newline could forge a trailer line), C-quoted the way git quotes it.
fn quote_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return path.into();
    }
    let mut out = String::from("\"");
    for c in path.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out.into()
}

fn commit_message(changes: &[(char, String)], identity: &Identity) -> String {
    let n = changes.len();
    let mut msg = format!(
        "sync: {n} file{} changed on {}\n\n",
        if n == 1 { "" } else { "s" },
        identity.device.name
    );
    for (status, path) in changes.iter().take(MESSAGE_MAX_PATHS) {
        msg.push_str(&format!("{status} {}\n", quote_path(path)));
    }
    if n > MESSAGE_MAX_PATHS {
        msg.push_str(&format!("... and {} more\n", n - MESSAGE_MAX_PATHS));
    }
    msg.push_str(&trailers(identity));
    msg
}

/// Removes `rel` from the index, as a file and as a directory (a directory moved away reports
/// only its own path).
fn remove_from_index(index: &mut git2::Index, rel: &Path) -> Result<()> {
    for result in [index.remove_path(rel), index.remove_dir(rel, 0)] {
        match result {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(Error::git(format!("unstage {}", rel.display()))(e)),
        }
    }
    Ok(())
}

fn is_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

fn has_symlink_parent(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        if comps.peek().is_none() {
            return false;
        }
        cur.push(c);
        if std::fs::symlink_metadata(&cur).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
            return true;
        }
    }
    false
}

/// Returns the paths of the index entries under the directory `rel`, found by binary search
/// (the index is sorted by path), so staging one file costs O(log n), not a scan of the index.
fn entries_under(index: &git2::Index, rel: &Path) -> Vec<PathBuf> {
    let mut prefix = path_to_bytes(rel);
    prefix.push(b'/');
    // Not found (or a name git cannot hold): nothing is under it.
    let Ok(start) = index.find_prefix(prefix.clone()) else { return Vec::new() };
    (start..index.len())
        .map_while(|i| index.get(i))
        .take_while(|e| e.path.starts_with(&prefix))
        .map(|e| bytes_to_path(&e.path))
        .collect()
}

fn path_to_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

fn bytes_to_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

fn state_name(state: git2::RepositoryState) -> &'static str {
    use git2::RepositoryState as S;
    match state {
        S::Merge => "merge",
        S::Revert | S::RevertSequence => "revert",
        S::CherryPick | S::CherryPickSequence => "cherry-pick",
        S::Bisect => "bisect",
        S::Rebase | S::RebaseInteractive | S::RebaseMerge => "rebase",
        S::ApplyMailbox | S::ApplyMailboxOrRebase => "am",
        S::Clean => "operation",
    }
}

/// Returns the pid of a `git` process whose working directory is inside `dir`, if any: such a
/// process may hold a lock it closed but not yet committed (`git commit` waiting for an editor).
fn git_process_in(dir: &Path) -> Option<u32> {
    let dir = std::fs::canonicalize(dir).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let is_git = std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|c| c.trim() == "git" || c.trim().starts_with("git-"));
        if is_git
            && std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        {
            return Some(pid);
        }
    }
    None
}

/// Returns the pid of a process that holds `path` open, if any (Linux: `/proc/*/fd`).
fn process_holding(path: &Path) -> Option<u32> {
    let target = std::fs::canonicalize(path).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).ok().as_deref() == Some(target.as_path()) {
                return Some(pid);
            }
        }
    }
    None
}

/// Hidden refs of the last sync's undo point.
const UNDO_PRE: &str = "refs/supersonic/undo/pre";
const UNDO_POST: &str = "refs/supersonic/undo/post";

/// What [`GitRepo::undo_last_sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UndoOutcome {
    /// The undo commit.
    pub commit: String,
    /// Files it restored.
    pub files: usize,
}

/// A device as the folder's history knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSeen {
    /// Its stable id (`Sync-Device-Id`), when it synced with Supersonic.
    pub id: Option<String>,
    /// Its name in its latest commit (or the commit author).
    pub name: String,
    /// Commits it made.
    pub commits: usize,
    /// Its latest commit.
    pub last_commit: DateTime<Utc>,
    /// Its first commit (within the walked history).
    pub first_commit: DateTime<Utc>,
    /// Whether its commits carry Supersonic's trailers (else: edits made with git directly).
    pub via_supersonic: bool,
    /// When it last synced, as it recorded (see [`DEVICE_REFS`]); a device that only receives
    /// has this recent while its `last_commit` ages. `None` for devices that never recorded it
    /// (older versions, plain git). With `commits: 0`, `last_commit` is this time too.
    pub last_sync: Option<DateTime<Utc>>,
}

/// Output of a network git command.
#[derive(Debug)]
pub struct NetOutput {
    /// Whether git exited with 0.
    pub success: bool,
    /// stdout (scrubbed).
    pub stdout: String,
    /// stderr (scrubbed).
    pub stderr: String,
}

/// Receives a network operation's progress: phase (git's words, e.g. "Writing objects"), units
/// done and units in all when known. Called from a reader thread.
pub type ProgressFn = Box<dyn FnMut(&str, u64, Option<u64>) + Send>;

/// Runs a network git command with no prompts, in its own process group, killed with the group
/// when `timeout` passes.
pub fn run_network(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
) -> Result<NetOutput> {
    run_network_with_progress(op, remote, cwd, args, timeout, None)
}

/// [`run_network`], asking git for `--progress` and passing it to `progress` when given (the
/// progress lines are kept out of the returned stderr).
pub fn run_network_with_progress(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
    progress: Option<ProgressFn>,
) -> Result<NetOutput> {
    run_git(op, remote, cwd, args, timeout, RunOptions { progress, ..RunOptions::default() })
}

/// Options added to every ssh the engine's git runs: never prompt, give up on a dead host.
const SSH_BATCH_OPTIONS: &str = "-o BatchMode=yes -o ConnectTimeout=30";

/// The ssh command git would use for the repository at `cwd` (`core.sshCommand` from its
/// config, or the global one when there is no repository yet), else plain `ssh`.
fn user_ssh_command(cwd: Option<&Path>) -> String {
    let config = match cwd.and_then(|d| Repository::open(d).ok()) {
        Some(repo) => repo.config().ok(),
        None => git2::Config::open_default().ok(),
    };
    config
        .and_then(|c| c.get_string("core.sshCommand").ok())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "ssh".to_string())
}

/// How [`run_git`] runs git beyond its command line.
#[derive(Default)]
struct RunOptions<'a> {
    /// Where git's `--progress` goes.
    progress: Option<ProgressFn>,
    /// Under `nice -n 19` when `nice` is installed (plain git otherwise).
    low_priority: bool,
    /// Work done while git runs (after it started, before waiting for it).
    meanwhile: Option<&'a mut dyn FnMut()>,
}

/// Runs git as [`run_network_with_progress`] says, with `options`.
fn run_git(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
    options: RunOptions<'_>,
) -> Result<NetOutput> {
    use std::os::unix::process::CommandExt;
    let RunOptions { progress, low_priority, meanwhile } = options;
    let nice = low_priority.then(find_nice).flatten();
    let mut cmd = match &nice {
        Some(nice) => {
            let mut cmd = Command::new(nice);
            cmd.args(["-n", "19", "git"]);
            cmd
        }
        None => Command::new("git"),
    };
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut args = args.to_vec();
    if progress.is_some() {
        // After the subcommand: `git push --progress ...`.
        args.insert(1, "--progress");
    }
    cmd.args(&args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
        // GIT_SSH_COMMAND outranks `core.sshCommand`: keep the user's command (a key named
        // with -i, a wrapper) and only add the options that keep ssh from prompting.
        cmd.env("GIT_SSH_COMMAND", format!("{} {SSH_BATCH_OPTIONS}", user_ssh_command(cwd)));
    }
    let mut child = cmd.spawn().map_err(|e| Error::Remote {
        op,
        remote: crate::config::redact_url(remote),
        message: format!("cannot run git: {e}"),
        class: FailureClass::NeedsAttention,
    })?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (out_tx, out_rx) = crossbeam_channel::bounded(1);
    let (err_tx, err_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        let _ = out_tx.send(buf);
    });
    std::thread::spawn(move || {
        let buf = match progress {
            Some(mut progress) => read_progress(&mut stderr, &mut *progress),
            None => {
                let mut buf = Vec::new();
                let _ = stderr.read_to_end(&mut buf);
                buf
            }
        };
        let _ = err_tx.send(buf);
    });
    let deadline = Instant::now() + timeout;
    // A thread waits for the exit, so the caller learns of it at once (no polling).
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (exit_tx, exit_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    if let Some(work) = meanwhile {
        work();
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let status = match exit_rx.recv_timeout(remaining) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(Error::io("git", e)),
        Err(_) => {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = exit_rx.recv(); // reaped by the waiting thread
                                    // The reader threads end when every process of the group has exited.
            return Err(Error::Timeout {
                op,
                remote: crate::config::redact_url(remote),
                secs: timeout.as_secs(),
            });
        }
    };
    // A helper that detached but kept our pipes open must not hang the worker: wait for the
    // output only until the deadline.
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let stdout = out_rx.recv_timeout(remaining).unwrap_or_default();
    let stderr = err_rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    Ok(NetOutput {
        success: status.success(),
        stdout: scrub(&String::from_utf8_lossy(&stdout)),
        stderr: scrub(&String::from_utf8_lossy(&stderr)),
    })
}

/// Returns the `nice` program from `PATH`, if installed.
fn find_nice() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("nice"))
        .find(|p| p.is_file())
}

/// The phases git reports with `--progress` (sent and received, local and `remote:`).
const PROGRESS_PHASES: &[&str] = &[
    "Enumerating objects",
    "Counting objects",
    "Compressing objects",
    "Writing objects",
    "Receiving objects",
    "Resolving deltas",
    "Unpacking objects",
    "Checking out files",
    "Updating files",
];

/// Reads git's stderr to its end, passing progress lines (ended by `\r` or `\n`) to `progress`
/// and returning the other lines.
fn read_progress(
    stderr: &mut impl Read,
    progress: &mut dyn FnMut(&str, u64, Option<u64>),
) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut flush = |line: &mut Vec<u8>, end: u8, kept: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line);
        match parse_progress(&text) {
            Some((phase, done, total)) => progress(phase, done, total),
            None if !line.is_empty() => {
                kept.extend_from_slice(line);
                kept.push(if end == b'\r' { b'\n' } else { end });
            }
            None => {}
        }
        line.clear();
    };
    loop {
        let n = match stderr.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\r' || b == b'\n' {
                flush(&mut line, b, &mut kept);
            } else {
                line.push(b);
            }
        }
    }
    flush(&mut line, b'\n', &mut kept);
    kept
}

/// Parses one progress line of git, e.g. `Writing objects:  45% (9/20), 1.2 MiB | 3 MiB/s` or
/// `remote: Counting objects: 7, done.`, into (phase, done, total).
fn parse_progress(line: &str) -> Option<(&str, u64, Option<u64>)> {
    let line = line.trim();
    let line = line.strip_prefix("remote:").map_or(line, str::trim_start);
    let (phase, rest) = line.split_once(':')?;
    if !PROGRESS_PHASES.contains(&phase) {
        return None;
    }
    if let Some(open) = rest.find('(') {
        let close = open + rest[open..].find(')')?;
        let (done, total) = rest[open + 1..close].split_once('/')?;
        return Some((phase, done.trim().parse().ok()?, Some(total.trim().parse().ok()?)));
    }
    let count = rest.split(',').next()?.trim();
    Some((phase, count.parse().ok()?, None))
}

/// Checks that `url` is a reachable git remote (`git ls-remote`), within `timeout`.
pub fn check_remote(url: &str, timeout: Duration) -> Result<()> {
    let out = run_network("ls-remote", url, None, &["ls-remote", "--heads", url], timeout)?;
    if out.success {
        Ok(())
    } else {
        Err(remote_error("ls-remote", url, &out.stderr))
    }
}

/// Replaces credentials in URLs found in `text` with `***`.
pub fn scrub(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .map(|token| {
            if token.contains("://") && token.contains('@') {
                let trimmed =
                    token.trim_end_matches(|c: char| c.is_whitespace() || c == '\'' || c == '"');
                format!("{}{}", crate::config::redact_url(trimmed), &token[trimmed.len()..])
            } else {
                token.to_string()
            }
        })
        .collect()
}

/// Builds the error for a failed network command, classifying it from git's stderr.
pub fn remote_error(op: &'static str, remote: &str, stderr: &str) -> Error {
    let lower = stderr.to_ascii_lowercase();
    let attention = [
        "authentication failed",
        "could not read username",
        "could not read password",
        "permission denied",
        "invalid username or password",
        "host key verification failed",
        "remote host identification has changed",
        "does not appear to be a git repository",
        "repository not found",
        "not found",
        "no space left on device",
        "unable to write",
        "corrupt",
        "returned error: 401",
        "returned error: 403",
        "rejected",
    ];
    let class = if attention.iter().any(|p| lower.contains(p)) {
        FailureClass::NeedsAttention
    } else {
        FailureClass::Transient
    };
    let git_line = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.contains("ERROR"))
        .or_else(|| stderr.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("git failed without a message")
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ");
    let over_ssh = crate::doctor::ssh_host(remote).is_some();
    let message = match ssh_reason(stderr).filter(|_| over_ssh) {
        Some(reason) => format!("{reason} ({git_line})"),
        None => git_line.to_string(),
    };
    Error::Remote { op, remote: crate::config::redact_url(remote), message, class }
}

/// What ssh said went wrong, when git's own last word ("Could not read from remote
/// repository.") hides it: a changed or unknown host key, a refused key, a host that cannot be
/// reached.
fn ssh_reason(stderr: &str) -> Option<String> {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("remote host identification has changed") {
        let offending = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Offending") && l.contains("known_hosts"))
            .map(|l| format!("; {l}"))
            .unwrap_or_default();
        return Some(format!(
            "the server's host key has changed: ssh refused it (REMOTE HOST IDENTIFICATION HAS \
             CHANGED{offending}). Check the new key with the server's owner, then replace the old \
             line in known_hosts"
        ));
    }
    let phrases = [
        "host key verification failed",
        "permission denied",
        "could not resolve hostname",
        "connection refused",
        "connection timed out",
        "no route to host",
    ];
    stderr
        .lines()
        .map(|l| l.trim().trim_matches('@').trim())
        .find(|l| phrases.iter().any(|p| l.to_ascii_lowercase().contains(p)))
        .map(|l| format!("ssh: {}", l.trim_end_matches('.')))
}

/// Returns whether an error from a write means the disk is full.
pub fn error_is_disk_full(err: &Error) -> bool {
    match err {
        Error::DiskFull { .. } => true,
        Error::Io { source, .. } => is_disk_full(source),
        Error::Git { source, .. } => {
            source.message().to_ascii_lowercase().contains("no space left")
        }
        Error::Remote { message, .. } => message.to_ascii_lowercase().contains("no space left"),
        _ => false,
    }
}

/// Returns the current time as `SystemTime` (the one place git-facing code reads the clock).
pub fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_with_a_newline_cannot_forge_a_trailer() {
        let identity = Identity {
            device: crate::device::Device { id: "0123456789abcdef".into(), name: "pc".into() },
            user: None,
            email: None,
            sign: false,
        };
        let evil = "a\nSync-Device-Id: ffffffffffffffff".to_string();
        let msg = commit_message(&[('A', evil), ('M', "plain name.txt".into())], &identity);
        assert!(msg.contains("A \"a\\nSync-Device-Id: ffffffffffffffff\"\n"), "{msg}");
        assert!(msg.contains("M plain name.txt\n"), "{msg}");
        let ids: Vec<&str> = msg.lines().filter(|l| l.starts_with("Sync-Device-Id:")).collect();
        assert_eq!(ids, vec!["Sync-Device-Id: 0123456789abcdef"]);
        assert_eq!(quote_path("tab\there"), "\"tab\\there\"");
    }

    #[test]
    fn progress_lines_are_parsed_and_kept_out_of_the_error_text() {
        assert_eq!(
            parse_progress("Writing objects:  45% (9/20), 1.20 MiB | 3.00 MiB/s"),
            Some(("Writing objects", 9, Some(20)))
        );
        assert_eq!(
            parse_progress("remote: Counting objects: 7, done."),
            Some(("Counting objects", 7, None))
        );
        assert_eq!(parse_progress("fatal: unable to access 'x': 403"), None);
        assert_eq!(parse_progress("error: failed to push some refs to 'x'"), None);
        let stderr = b"Enumerating objects: 3, done.\rCounting objects:  33% (1/3)\rCounting \
                       objects: 100% (3/3), done.\nfatal: the remote hung up\n";
        let mut seen = Vec::new();
        let kept = read_progress(&mut &stderr[..], &mut |p, d, t| seen.push((p.to_string(), d, t)));
        assert_eq!(String::from_utf8(kept).unwrap(), "fatal: the remote hung up\n");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2], ("Counting objects".to_string(), 3, Some(3)));
    }

    #[test]
    fn scrub_hides_passwords_in_urls_inside_messages() {
        let s = scrub("fatal: unable to access 'https://bob:hunter2@example.com/r.git/': 403\n");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("https://bob:***@example.com/r.git/"), "{s}");
    }

    #[test]
    fn auth_failures_need_attention_and_network_failures_are_transient() {
        let auth = remote_error("fetch", "u", "fatal: Authentication failed for 'http://x/'");
        assert_eq!(auth.class(), FailureClass::NeedsAttention);
        let down = remote_error(
            "fetch",
            "u",
            "fatal: unable to connect to 127.0.0.1:\nConnection refused",
        );
        assert_eq!(down.class(), FailureClass::Transient);
        assert!(!down.to_string().contains("ssh:"), "not an ssh remote: {down}");
    }

    #[test]
    fn ssh_says_why_when_git_only_says_it_could_not_read_from_the_remote() {
        let changed = remote_error(
            "push",
            "ssh://git@host/r.git",
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             Offending ED25519 key in /home/u/.ssh/known_hosts:3\n\
             Host key verification failed.\n\
             fatal: Could not read from remote repository.\n",
        );
        assert_eq!(changed.class(), FailureClass::NeedsAttention);
        let text = changed.to_string();
        assert!(text.contains("host key has changed"), "{text}");
        assert!(text.contains("known_hosts:3"), "names the line to replace: {text}");
        let refused = remote_error(
            "fetch",
            "git@host:r.git",
            "git@host: Permission denied (publickey).\nfatal: Could not read from remote repository.",
        );
        assert_eq!(refused.class(), FailureClass::NeedsAttention);
        assert!(refused.to_string().contains("ssh: git@host: Permission denied (publickey)"));
    }
}
