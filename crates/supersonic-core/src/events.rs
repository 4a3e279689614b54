//! The event bus: how the engine reports outward. Shells subscribe and translate events into
//! tray state, notifications, IPC events, SSE and logs; the engine never knows who listens.
//! A slow or gone subscriber never blocks the engine (unbounded channels, dead ones dropped).

use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;

use crate::status::FolderState;
use crate::FailureClass;

/// Something that happened in the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A folder's state changed.
    State {
        /// The folder path.
        folder: String,
        /// The new state.
        state: FolderState,
    },
    /// A sync cycle started.
    SyncStart {
        /// The folder path.
        folder: String,
        /// What started it (`changes`, `poll`, `rescan`, `manual`, `retry`).
        trigger: String,
    },
    /// Local changes were committed.
    Committed {
        /// The folder path.
        folder: String,
        /// The new commit id.
        commit: String,
        /// Number of files in it.
        files_changed: usize,
    },
    /// A sync cycle succeeded.
    SyncSuccess {
        /// The folder path.
        folder: String,
        /// Wall time of the cycle in seconds.
        duration_sec: f64,
        /// Files committed locally in this cycle.
        files_changed: usize,
        /// HEAD after the cycle.
        commit: Option<String>,
        /// Whether remote changes were applied.
        pulled: bool,
        /// Whether commits were pushed.
        pushed: bool,
    },
    /// A sync cycle failed.
    SyncFailure {
        /// The folder path.
        folder: String,
        /// The error, scrubbed of secrets.
        error: String,
        /// Machine-readable code.
        code: String,
        /// How the engine reacts.
        class: FailureClass,
        /// Seconds until the next retry (transient failures).
        retry_in_sec: Option<u64>,
    },
    /// The throttle blocked the remote step.
    RateLimitHit {
        /// The folder path.
        folder: String,
        /// Why.
        reason: String,
        /// Seconds until allowed again.
        retry_in_sec: u64,
    },
    /// Both sides changed a file; the policy resolved it (keeping both for `ask`).
    ConflictDetected {
        /// The folder path.
        folder: String,
        /// The path that conflicted.
        path: String,
        /// Where the other version was kept (None when resolved automatically).
        copy: Option<String>,
        /// `content`, `add/add`, `modify/delete`, ...
        conflict_kind: String,
        /// The strategy that resolved it (`ask` means pending for the user).
        strategy: String,
    },
    /// A file was not synced (too large, unreadable).
    FileSkipped {
        /// The folder path.
        folder: String,
        /// Repo-relative path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Something the user should know that is not a failure (watch limit, stale lock removed).
    Warning {
        /// The folder path.
        folder: String,
        /// What happened and what to do.
        message: String,
    },
    /// Work waits too long (a freshness alert, see `freshness:`): `alert` is `unpushed`,
    /// `remote_unreached` or `device_silent`; `cleared` when it no longer holds.
    Stale {
        /// The folder path.
        folder: String,
        /// Which alert.
        alert: String,
        /// What waits, and since when, in words.
        message: String,
        /// Whether the condition ended.
        cleared: bool,
    },
    /// Long work under way: staging many files, a fetch or push transferring objects, a
    /// hydrate or seed. Sent only for work that lasts (from about half a second in), at most a
    /// few times a second; a last event with `finished: true` ends it, whatever the outcome.
    Progress {
        /// The folder path.
        folder: String,
        /// Which operation.
        operation: ProgressOp,
        /// Its current phase in words ("staging", "Writing objects", ...).
        phase: String,
        /// Units done (files or objects).
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
        /// Whether this is the operation's last event.
        finished: bool,
    },
    /// A background operation (a hydrate or seed started from the UI or the HTTP API) ended.
    /// Its [`Event::Progress`] events name the same folder and operation.
    OperationFinished {
        /// The folder path.
        folder: String,
        /// The operation's id, as the request that started it answered.
        id: String,
        /// Which operation.
        operation: ProgressOp,
        /// Whether it succeeded (then the folder is in the config and the engine syncs it).
        ok: bool,
        /// Why it failed, scrubbed of secrets.
        error: Option<String>,
        /// The failure's machine-readable code.
        code: Option<String>,
    },
}

/// What long operation a [`Event::Progress`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressOp {
    /// Staging changed files for a commit.
    Stage,
    /// Fetching from the remote.
    Fetch,
    /// Pushing to the remote.
    Push,
    /// Cloning a folder onto a new device.
    Hydrate,
    /// The first push of an existing folder.
    Seed,
}

impl Event {
    /// Returns the folder the event is about.
    pub fn folder(&self) -> &str {
        match self {
            Event::State { folder, .. }
            | Event::SyncStart { folder, .. }
            | Event::Committed { folder, .. }
            | Event::SyncSuccess { folder, .. }
            | Event::SyncFailure { folder, .. }
            | Event::RateLimitHit { folder, .. }
            | Event::ConflictDetected { folder, .. }
            | Event::FileSkipped { folder, .. }
            | Event::Warning { folder, .. }
            | Event::Progress { folder, .. }
            | Event::OperationFinished { folder, .. }
            | Event::Stale { folder, .. } => folder,
        }
    }
}

/// A fan-out bus of [`Event`]s.
#[derive(Debug, Clone, Default)]
pub struct EventBus {
    subscribers: Arc<Mutex<Vec<Sender<Event>>>>,
}

impl EventBus {
    /// Returns a receiver of every event emitted from now on.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.subscribers.lock().expect("event bus lock").push(tx);
        rx
    }

    /// Sends `event` to every live subscriber.
    pub fn emit(&self, event: Event) {
        let mut subs = self.subscribers.lock().expect("event bus lock");
        subs.retain(|tx| tx.send(event.clone()).is_ok());
    }
}
