//! The batcher turns a stream of changed paths into batches: one batch after a quiet period
//! (no change for `quiet`), or at the latest `max_latency` after the first change (a file that
//! keeps changing is still committed), and a batch that grew past `cap` paths becomes one full
//! rescan instead of a path list. Time is an input (`now`), so tests need no sleeps.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Default quiet period: long enough to coalesce an editor's save (write temp, rename, chmod)
/// and a burst of writes into one commit, short enough that a save feels synced at once
/// (seed 002's 0.5 s).
pub const DEFAULT_QUIET: Duration = Duration::from_millis(500);
/// Default maximum latency: a file that is written continuously (a log, a download) still gets
/// committed every 10 s instead of never; shorter means more commits during long writes.
pub const DEFAULT_MAX_LATENCY: Duration = Duration::from_secs(10);
/// Default cap of tracked paths per batch: beyond it a full status is cheaper than tracking
/// each path, and memory stays bounded during mass changes (a checkout of another branch).
pub const DEFAULT_CAP: usize = 5_000;

/// What a batch asks the snapshot to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Exactly these repo-relative paths changed (files or directories).
    Paths(BTreeSet<PathBuf>),
    /// Look at everything (start, rescan, overflow).
    Full,
}

impl Batch {
    /// Returns the number of paths in the batch (`None` for a full rescan).
    pub fn path_count(&self) -> Option<usize> {
        match self {
            Batch::Paths(p) => Some(p.len()),
            Batch::Full => None,
        }
    }
}

/// Collects changes until they are due.
#[derive(Debug)]
pub struct Batcher {
    quiet: Duration,
    max_latency: Duration,
    cap: usize,
    paths: BTreeSet<PathBuf>,
    full: bool,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

impl Batcher {
    /// Creates a batcher with the given quiet period, maximum latency and path cap.
    pub fn new(quiet: Duration, max_latency: Duration, cap: usize) -> Self {
        Batcher {
            quiet,
            max_latency: max_latency.max(quiet),
            cap: cap.max(1),
            paths: BTreeSet::new(),
            full: false,
            first_at: None,
            last_at: None,
        }
    }

    /// Records that `path` changed at `now`.
    pub fn push(&mut self, path: PathBuf, now: Instant) {
        if !self.full {
            self.paths.insert(path);
            if self.paths.len() > self.cap {
                self.paths.clear();
                self.full = true;
            }
        }
        self.touch(now);
    }

    /// Records that everything must be looked at (watcher overflow, rescan).
    pub fn push_full(&mut self, now: Instant) {
        self.paths.clear();
        self.full = true;
        self.touch(now);
    }

    fn touch(&mut self, now: Instant) {
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    /// Returns how many paths are pending (the cap when a full rescan is pending).
    pub fn len_hint(&self) -> usize {
        if self.full {
            self.cap
        } else {
            self.paths.len()
        }
    }

    /// Returns whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.first_at.is_none()
    }

    /// Returns when the pending batch becomes due, if anything is pending.
    pub fn due_at(&self) -> Option<Instant> {
        let first = self.first_at?;
        let last = self.last_at.unwrap_or(first);
        Some((last + self.quiet).min(first + self.max_latency))
    }

    /// Takes the pending batch if it is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Batch> {
        if self.due_at()? > now {
            return None;
        }
        self.take()
    }

    /// Takes whatever is pending, due or not (shutdown, "sync now").
    pub fn take(&mut self) -> Option<Batch> {
        self.first_at?;
        self.first_at = None;
        self.last_at = None;
        if std::mem::take(&mut self.full) {
            self.paths.clear();
            Some(Batch::Full)
        } else {
            Some(Batch::Paths(std::mem::take(&mut self.paths)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_becomes_one_batch_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut b = Batcher::new(ms(500), ms(10_000), 100);
        for i in 0..50 {
            b.push(PathBuf::from(format!("f{i}")), t0 + ms(i * 10));
        }
        assert_eq!(b.take_due(t0 + ms(900)), None, "last change at 490 ms: not quiet yet");
        let batch = b.take_due(t0 + ms(990)).expect("quiet for 500 ms");
        assert_eq!(batch.path_count(), Some(50));
        assert!(b.is_empty());
        assert_eq!(b.take_due(t0 + ms(5_000)), None, "nothing left");
    }

    #[test]
    fn a_file_that_keeps_changing_is_still_committed_at_max_latency() {
        let t0 = Instant::now();
        let mut b = Batcher::new(ms(500), ms(2_000), 100);
        let mut t = t0;
        while t < t0 + ms(1_900) {
            b.push(PathBuf::from("log"), t);
            t += ms(100);
        }
        assert_eq!(b.due_at(), Some(t0 + ms(2_000)), "due at first change + max latency");
        assert!(b.take_due(t0 + ms(2_000)).is_some());
    }

    #[test]
    fn overflowing_the_cap_turns_into_a_full_rescan() {
        let t0 = Instant::now();
        let mut b = Batcher::new(ms(500), ms(2_000), 3);
        for i in 0..4 {
            b.push(PathBuf::from(format!("f{i}")), t0);
        }
        assert_eq!(b.take_due(t0 + ms(500)), Some(Batch::Full));
    }

    #[test]
    fn same_path_twice_is_one_entry() {
        let t0 = Instant::now();
        let mut b = Batcher::new(ms(1), ms(2), 10);
        b.push(PathBuf::from("a"), t0);
        b.push(PathBuf::from("a"), t0);
        assert_eq!(b.take(), Some(Batch::Paths([PathBuf::from("a")].into())));
    }
}
