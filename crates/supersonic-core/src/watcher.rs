//! The watcher: inotify (through `notify`) on every non-ignored directory of a folder.
//!
//! Watches are added one directory at a time (non-recursive), so ignored trees (`.git`, build
//! output, `node_modules`) are never entered and symlinked directories are never followed. The
//! notify callback only forwards raw events; [`FolderChanges`] turns them into repo-relative
//! paths, adds watches for new directories, and feeds the batcher, so the folder worker only
//! takes batches when they are due. A queue overflow asks for a full rescan; running out of
//! inotify watches is reported with the fix, and the folder keeps syncing through periodic
//! rescans.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvError, Sender};
use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::batcher::{Batch, Batcher};
use crate::ignore::IgnoreRules;

/// What the watcher reports to the folder worker.
#[derive(Debug)]
pub enum WatchMsg {
    /// These absolute paths changed.
    Paths {
        /// The paths.
        paths: Vec<PathBuf>,
        /// Whether they were removed or renamed away (a watch on them is now stale, even if a
        /// new directory already stands at the same path).
        removal: bool,
    },
    /// Events were lost (queue overflow): look at everything.
    Rescan,
    /// The watch backend failed.
    Error(String),
}

/// A live watch on one folder. Dropping it removes every watch.
pub struct FolderWatch {
    watcher: notify::RecommendedWatcher,
    root: PathBuf,
    watched: HashSet<PathBuf>,
    limit_hit: bool,
}

impl std::fmt::Debug for FolderWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatch")
            .field("root", &self.root)
            .field("dirs", &self.watched.len())
            .finish()
    }
}

/// Outcome of adding watches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AddReport {
    /// Directories newly watched.
    pub added: usize,
    /// Set when the inotify watch limit was reached (with the message to show).
    pub limit_warning: Option<String>,
}

impl FolderWatch {
    /// Starts watching `root` and every non-ignored directory below it; events go to `tx`.
    pub fn start(
        root: &Path,
        ignore: &IgnoreRules,
        tx: Sender<WatchMsg>,
    ) -> crate::Result<(Self, AddReport)> {
        let handler = move |res: notify::Result<notify::Event>| {
            let msg = match res {
                Ok(ev) if ev.need_rescan() => WatchMsg::Rescan,
                Ok(ev) => match ev.kind {
                    EventKind::Access(_) => return,
                    EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Name(RenameMode::From | RenameMode::Both)) => {
                        WatchMsg::Paths { paths: ev.paths, removal: true }
                    }
                    _ => WatchMsg::Paths { paths: ev.paths, removal: false },
                },
                Err(e) => WatchMsg::Error(e.to_string()),
            };
            let _ = tx.send(msg);
        };
        let watcher = notify::recommended_watcher(handler)
            .map_err(|e| crate::Error::Invalid(format!("cannot start the file watcher: {e}")))?;
        let mut this = FolderWatch {
            watcher,
            root: root.to_path_buf(),
            watched: HashSet::new(),
            limit_hit: false,
        };
        let report = this.add_tree(root, ignore);
        Ok((this, report))
    }

    /// Watches `dir` and every non-ignored directory below it (not following symlinks).
    /// Returns how many were added; stops adding (with a warning) at the inotify limit.
    pub fn add_tree(&mut self, dir: &Path, ignore: &IgnoreRules) -> AddReport {
        let mut report = AddReport::default();
        let walker = walkdir::WalkDir::new(dir).follow_links(false).into_iter();
        let root = self.root.clone();
        for entry in walker.filter_entry(|e| {
            if !e.file_type().is_dir() {
                return false;
            }
            match e.path().strip_prefix(&root) {
                Ok(rel) if rel.as_os_str().is_empty() => true,
                Ok(rel) => !ignore.is_ignored(rel, true),
                Err(_) => false,
            }
        }) {
            let Ok(entry) = entry else { continue };
            let path = entry.path().to_path_buf();
            if self.watched.contains(&path) || self.limit_hit {
                continue;
            }
            match self.watcher.watch(&path, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(path);
                    report.added += 1;
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    self.limit_hit = true;
                    report.limit_warning = Some(format!(
                        "inotify watch limit reached after {} directories in {}: changes in the \
                         rest are found by periodic rescans only. Raise the limit with \
                         `sudo sysctl fs.inotify.max_user_watches=524288` (and add it to \
                         /etc/sysctl.conf)",
                        self.watched.len(),
                        self.root.display()
                    ));
                }
                Err(_) => {} // vanished meanwhile, or unreadable: the rescan catches it
            }
        }
        report
    }

    /// Forgets watches of directories at or under `dir` (they were removed or renamed away).
    pub fn forget_tree(&mut self, dir: &Path) {
        let gone: Vec<PathBuf> =
            self.watched.iter().filter(|p| p.starts_with(dir)).cloned().collect();
        for p in gone {
            let _ = self.watcher.unwatch(&p);
            self.watched.remove(&p);
        }
    }

    /// Returns whether `dir` is watched.
    pub fn is_watched(&self, dir: &Path) -> bool {
        self.watched.contains(dir)
    }

    /// Returns the number of watched directories.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Returns whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Returns whether the watch limit was hit (the folder relies on rescans).
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }
}

/// One folder's changes as the watcher finds them: the watch (when it started), its raw
/// events, and the batcher they feed. The folder worker blocks on [`FolderChanges::events`],
/// hands whatever arrives to [`FolderChanges::absorb`] and takes batches when they are due; it
/// never reads a [`WatchMsg`] itself.
#[derive(Debug)]
pub struct FolderChanges {
    root: PathBuf,
    watch: Option<FolderWatch>,
    events: Receiver<WatchMsg>,
    batcher: Batcher,
}

impl FolderChanges {
    /// Starts watching `root` and every non-ignored directory below it, feeding `batcher`.
    /// Returns the warning to show when watching could not start or hit the inotify limit (the
    /// folder then relies on rescans).
    pub fn start(
        root: &Path,
        ignore: &IgnoreRules,
        batcher: Batcher,
    ) -> (FolderChanges, Option<String>) {
        let (tx, events) = crossbeam_channel::unbounded::<WatchMsg>();
        let (watch, warning) = match FolderWatch::start(root, ignore, tx) {
            Ok((watch, report)) => (Some(watch), report.limit_warning),
            Err(e) => (None, Some(e.to_string())),
        };
        (FolderChanges { root: root.to_path_buf(), watch, events, batcher }, warning)
    }

    /// Returns whether every directory is watched (no rescan needed to find changes).
    pub fn complete(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| !w.limit_hit())
    }

    /// Returns the channel of raw watch events, to wait on.
    pub fn events(&self) -> &Receiver<WatchMsg> {
        &self.events
    }

    /// Takes in what [`FolderChanges::events`] gave at `now`, and whatever else is queued
    /// (without waking per event). Returns `false` when the watch is gone (it failed to start
    /// or its thread died): from then on only rescans find changes.
    pub fn absorb(
        &mut self,
        received: Result<WatchMsg, RecvError>,
        ignore: &IgnoreRules,
        now: Instant,
    ) -> bool {
        match received {
            Ok(msg) => {
                self.handle(msg, ignore, now);
                self.drain(ignore, now);
                true
            }
            Err(_) => {
                // A disconnected channel is always ready: stop offering it to wait on.
                self.events = crossbeam_channel::never();
                false
            }
        }
    }

    /// Takes in every watch event queued at `now` (before a shutdown commits what is pending).
    pub fn drain(&mut self, ignore: &IgnoreRules, now: Instant) {
        while let Ok(msg) = self.events.try_recv() {
            self.handle(msg, ignore, now);
        }
    }

    /// Watches the directories that stopped being ignored under the new `ignore` rules.
    pub fn rules_changed(&mut self, ignore: &IgnoreRules) {
        if let Some(w) = self.watch.as_mut() {
            w.add_tree(&self.root, ignore);
        }
    }

    /// Returns how many paths are pending (see [`Batcher::len_hint`]).
    pub fn len_hint(&self) -> usize {
        self.batcher.len_hint()
    }

    /// Returns when the pending batch becomes due, if anything is pending.
    pub fn due_at(&self) -> Option<Instant> {
        self.batcher.due_at()
    }

    /// Takes the pending batch if it is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Batch> {
        self.batcher.take_due(now)
    }

    /// Takes whatever is pending, due or not (shutdown, "sync now").
    pub fn take(&mut self) -> Option<Batch> {
        self.batcher.take()
    }

    fn handle(&mut self, msg: WatchMsg, ignore: &IgnoreRules, now: Instant) {
        let root = &self.root;
        match msg {
            WatchMsg::Rescan => {
                tracing::info!(
                    "file events were lost in {} (inotify queue overflow); rescanning everything",
                    root.display()
                );
                self.batcher.push_full(now);
            }
            WatchMsg::Error(e) => {
                tracing::warn!("watcher error in {}: {e}; rescanning", root.display());
                self.batcher.push_full(now);
            }
            WatchMsg::Paths { paths, removal } => {
                for abs in paths {
                    let Ok(rel) = abs.strip_prefix(root) else { continue };
                    if rel.as_os_str().is_empty() {
                        continue;
                    }
                    let meta = std::fs::symlink_metadata(&abs).ok();
                    let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
                    if ignore.is_ignored(rel, is_dir) {
                        continue;
                    }
                    if let Some(w) = self.watch.as_mut() {
                        if removal && w.is_watched(&abs) {
                            w.forget_tree(&abs);
                        }
                        if is_dir && !w.is_watched(&abs) {
                            w.add_tree(&abs, ignore);
                        } else if meta.is_none() && w.is_watched(&abs) {
                            w.forget_tree(&abs);
                        }
                    }
                    self.batcher.push(rel.to_path_buf(), now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn changes(root: &Path, ignore: &IgnoreRules) -> FolderChanges {
        let batcher = Batcher::new(Duration::from_millis(1), Duration::from_millis(2), 100);
        let (changes, warning) = FolderChanges::start(root, ignore, batcher);
        assert_eq!(warning, None, "a small tree is watched whole");
        changes
    }

    #[test]
    fn watch_events_become_repo_relative_batches_without_ignored_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        let ignore = IgnoreRules::load(root, &[], &root.join("no-config")).unwrap();
        let mut changes = changes(root, &ignore);
        std::fs::create_dir(root.join("new")).unwrap();
        let msg = WatchMsg::Paths {
            paths: vec![root.to_path_buf(), root.join(".git").join("index"), root.join("new")],
            removal: false,
        };
        assert!(changes.absorb(Ok(msg), &ignore, Instant::now()), "the watch runs");
        let watch = changes.watch.as_ref().expect("watching started");
        assert!(watch.is_watched(&root.join("new")), "a new directory is watched at once");
        assert_eq!(
            changes.take(),
            Some(Batch::Paths([PathBuf::from("new")].into())),
            "the root itself and .git are not changes to sync"
        );
    }

    #[test]
    fn a_gone_watch_is_no_longer_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let ignore = IgnoreRules::load(dir.path(), &[], &dir.path().join("no-config")).unwrap();
        let mut changes = changes(dir.path(), &ignore);
        assert!(!changes.absorb(Err(RecvError), &ignore, Instant::now()), "the watch is gone");
        assert!(
            matches!(
                changes.events().recv_timeout(Duration::from_millis(10)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout)
            ),
            "a disconnected channel would always be ready; it is replaced by one never ready"
        );
    }
}
