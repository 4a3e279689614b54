//! Progress of long operations (staging, fetch, push) as [`Event::Progress`] events, rate
//! limited so short work reports nothing and long work a few events a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Folder;
use crate::events::{Event, EventBus, ProgressOp};

/// How long an operation runs before its progress is reported (short ones never are).
pub(super) const PROGRESS_DELAY: Duration = Duration::from_millis(500);

/// Least time between two progress events of one operation.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Turns a long operation's counts into [`Event::Progress`] events: none for work that ends
/// within [`PROGRESS_DELAY`], then at most one per [`PROGRESS_EVERY`], and a last one marked
/// finished. Shared with the reader thread of a network command, hence the lock.
#[derive(Clone)]
pub(crate) struct Progress {
    inner: Arc<std::sync::Mutex<ProgressState>>,
}

struct ProgressState {
    bus: EventBus,
    folder: String,
    op: ProgressOp,
    started: Instant,
    delay: Duration,
    last: Option<Instant>,
    phase: String,
    done: u64,
    total: Option<u64>,
}

impl Progress {
    pub(crate) fn new(bus: EventBus, folder: String, op: ProgressOp, delay: Duration) -> Progress {
        let state = ProgressState {
            bus,
            folder,
            op,
            started: Instant::now(),
            delay,
            last: None,
            phase: String::new(),
            done: 0,
            total: None,
        };
        Progress { inner: Arc::new(std::sync::Mutex::new(state)) }
    }

    pub(crate) fn update(&mut self, phase: &str, done: u64, total: Option<u64>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.phase != phase {
            s.phase = phase.to_string();
        }
        s.done = done;
        s.total = total;
        let now = Instant::now();
        if now.duration_since(s.started) < s.delay
            || s.last.is_some_and(|last| now.duration_since(last) < PROGRESS_EVERY)
        {
            return;
        }
        s.last = Some(now);
        s.emit(false);
    }

    /// A callback for [`GitRepo::fetch_with_progress`] and friends.
    pub(crate) fn callback(&self) -> crate::git::ProgressFn {
        let mut this = self.clone();
        Box::new(move |phase, done, total| this.update(phase, done, total))
    }

    /// Ends the operation: a last event, if any was sent.
    pub(crate) fn finish(self) {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.last.is_some() {
            s.emit(true);
        }
    }
}

impl ProgressState {
    fn emit(&self, finished: bool) {
        self.bus.emit(Event::Progress {
            folder: self.folder.clone(),
            operation: self.op,
            phase: self.phase.clone(),
            done: self.done,
            total: self.total,
            finished,
        });
    }
}

impl Folder {
    /// Returns a reporter of `op`'s progress for this folder.
    pub(super) fn progress(&self, op: ProgressOp) -> Progress {
        Progress::new(self.bus.clone(), self.folder_name(), op, self.progress_delay)
    }
}
