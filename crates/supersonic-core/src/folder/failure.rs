//! How a failed cycle stops or delays its folder: transient failures back off exponentially
//! (with jitter), a busy repository is re-checked shortly, and needs-attention failures stop
//! the folder until the user acts, a full disk until space returns, a dangerous state until it
//! clears.

use std::time::{Duration, SystemTime};

use chrono::Utc;

use super::Folder;
use crate::events::Event;
use crate::history::{self, HistoryEvent};
use crate::status::FolderState;
use crate::{Error, FailureClass};

/// Delay before re-checking when something outside the engine holds the repo (a user's git
/// command, a fresh lock): short, because such operations usually take seconds.
pub const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Why a folder is stopped, which decides how it resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// A condition the engine re-checks by itself at every poll (folder missing).
    Recheck,
    /// The disk is full: re-checked once more space is free than when it stopped (`free`
    /// bytes), or [`DISK_FULL_RETRY`] after `at`. Retrying against a disk still full would only
    /// fail again, with a failure row, an event and a log line at every poll.
    DiskFull {
        /// Bytes free just after the failure.
        free: u64,
        /// When the folder stopped.
        at: SystemTime,
    },
    /// Only the user's action resumes (auth failure, mass delete, bad config).
    User,
}

impl Folder {
    pub(super) fn fail(&mut self, err: &Error) {
        let message = err.to_string();
        self.last_error = Some(message.clone());
        self.needs_full = true;
        let mut retry_in = None;
        let state = match err {
            Error::Busy(reason) => {
                self.retry_at = Some(self.now() + BUSY_RETRY);
                FolderState::Waiting { reason: reason.clone() }
            }
            _ if err.class() == FailureClass::Transient => {
                let unit: f64 = rand::random();
                let limits = self.limits();
                let delay = self
                    .throttle
                    .record_failure(&limits, self.now(), unit)
                    .unwrap_or(Duration::from_secs(self.config.settings.sync.interval_sec));
                self.retry_at = Some(self.now() + delay);
                retry_in = Some(delay.as_secs());
                let mut row = HistoryEvent::new(&self.folder_name(), history::BACKOFF, Utc::now());
                row.reason = Some(format!(
                    "{} consecutive failure(s); next attempt in {} s",
                    self.throttle.consecutive_failures(),
                    delay.as_secs()
                ));
                self.record(row);
                FolderState::Error {
                    message: message.clone(),
                    code: err.code().into(),
                    class: err.class(),
                }
            }
            _ => {
                self.stop = Some(match err {
                    Error::DiskFull { .. } => {
                        Stop::DiskFull { free: self.repo.free_bytes().unwrap_or(0), at: self.now() }
                    }
                    Error::Dangerous(_) => Stop::Recheck,
                    _ => Stop::User,
                });
                self.retry_at = None;
                FolderState::Error {
                    message: message.clone(),
                    code: err.code().into(),
                    class: err.class(),
                }
            }
        };
        if !matches!(err, Error::Busy(_)) {
            tracing::warn!("{}: {message}", self.folder_name());
            self.emit(Event::SyncFailure {
                folder: self.folder_name(),
                error: message,
                code: err.code().into(),
                class: err.class(),
                retry_in_sec: retry_in,
            });
        }
        self.set_state(state);
    }

    /// Returns `err` as [`Error::DiskFull`] when a write failed for want of space, so the folder
    /// says so in words (libgit2 says "failed to read file into stream: No space left on
    /// device; class=Os (2)") and stops until space returns.
    pub(super) fn disk_full_explained(&self, err: Error) -> Error {
        if matches!(err, Error::DiskFull { .. }) || !crate::git::error_is_disk_full(&err) {
            return err;
        }
        Error::DiskFull { path: self.config.path.clone(), detail: err.to_string() }
    }

    /// Returns whether the folder is stopped on a condition the engine re-checks, and it is
    /// time to check it again.
    pub(super) fn rechecks(&self) -> bool {
        match self.stop {
            Some(Stop::Recheck) => true,
            Some(Stop::DiskFull { free, at }) => {
                self.repo.free_bytes().is_some_and(|now| now >= free + DISK_FULL_GROWTH)
                    || self.now().duration_since(at).unwrap_or_default() >= DISK_FULL_RETRY
            }
            Some(Stop::User) | None => false,
        }
    }
}

/// How much free space must grow before a folder stopped on a full disk tries again.
///
/// Deleting any sizeable file passes it at once; the churn of other programs on the same disk
/// (logs, caches) does not cause a failing retry at every poll.
const DISK_FULL_GROWTH: u64 = 1024 * 1024;

/// How long a folder stopped on a full disk waits at most before it tries again even though
/// free space did not grow: space freed before the stop was measured, or a quota (EDQUOT) that
/// free space does not show. One failure row per quarter hour at worst.
const DISK_FULL_RETRY: Duration = Duration::from_secs(15 * 60);
