//! Preflight: whether syncing is safe now (the user's git operations, HEAD, free disk), and
//! recovery of lock files left behind by crashed processes.

use std::path::{Path, PathBuf};

use crate::error::is_disk_full;
use crate::ignore::IgnoreRules;
use crate::{Error, Result};

use super::{GitRepo, STALE_LOCK_AGE};

impl GitRepo {
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
}

pub(super) fn state_name(state: git2::RepositoryState) -> &'static str {
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
pub(super) fn git_process_in(dir: &Path) -> Option<u32> {
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
pub(super) fn process_holding(path: &Path) -> Option<u32> {
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
