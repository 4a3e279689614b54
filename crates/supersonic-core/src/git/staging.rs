//! Staging and snapshots: the watcher's paths (or a full status) into the index, honouring
//! ignore rules, size limits and the secret guard, then one commit. Also the quarantine of held
//! files.

use std::path::{Path, PathBuf};

use git2::{Delta, DiffOptions, IndexEntry, Status};

use crate::batcher::Batch;
use crate::ignore::IgnoreRules;
use crate::{Error, Result};

use super::bulk;

use super::commit::commit_message;
use super::{GitRepo, Identity, Snapshot, SnapshotLimits, MAX_SCOPED_DIFF_PATHS, NAME_MASK};

/// What staging leaves out, what the user released from the guard, and the new files put aside
/// for [`bulk`] staging.
pub(super) struct Holds {
    pub(super) skipped: Vec<(String, String)>,
    pub(super) held: Vec<(String, String)>,
    pub(super) guard: bool,
    pub(super) released: std::collections::BTreeSet<String>,
    pub(super) deferred: Vec<(PathBuf, std::fs::Metadata)>,
    /// Regular files whose content entered the index in this snapshot.
    pub(super) staged: Vec<PathBuf>,
}

impl GitRepo {
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
        // write_tree before write: writing the index first drops its tree cache; see docs/performance.md.
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

    pub(super) fn stage_path(
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

    pub(super) fn stage_file(
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
    pub(super) fn stage_deferred(
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
    pub(super) fn add_file(
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
    pub(super) fn unstage_changed_while_staging(
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
    pub(super) fn guard_holds(
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
    pub(super) fn describe_diff(
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
}

/// Removes `rel` from the index, as a file and as a directory (a directory moved away reports
/// only its own path).
pub(super) fn remove_from_index(index: &mut git2::Index, rel: &Path) -> Result<()> {
    for result in [index.remove_path(rel), index.remove_dir(rel, 0)] {
        match result {
            Ok(()) => {}
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(Error::git(format!("unstage {}", rel.display()))(e)),
        }
    }
    Ok(())
}

pub(super) fn is_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

pub(super) fn has_symlink_parent(root: &Path, rel: &Path) -> bool {
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
pub(super) fn entries_under(index: &git2::Index, rel: &Path) -> Vec<PathBuf> {
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

pub(super) fn path_to_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

pub(super) fn bytes_to_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}
