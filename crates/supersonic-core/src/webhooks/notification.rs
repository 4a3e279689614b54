//! What a webhook says: a [`Notification`] (event name, folder, device, time and the details in
//! the seed's field names), built from an engine event or as a sample for `webhook test`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{EVENT_TYPES, NEEDS_ATTENTION};
use crate::events::Event;
use crate::history;
use crate::{Error, FailureClass, Result};

/// What a webhook says: one event, named, with its details in the seed's field names
/// (`duration_sec`, `files_changed`, `commit_hash`, `error_msg`, `reason`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The event name ([`EVENT_TYPES`]).
    pub event: String,
    /// The folder path.
    pub folder: String,
    /// This device's name.
    pub device: String,
    /// When the event happened.
    pub time: DateTime<Utc>,
    /// The details, a JSON object.
    pub data: Value,
}

impl Notification {
    /// Builds the notification of `event` under `name` (see [`event_name`](super::event_name)), stamped `now`.
    pub fn from_event(event: &Event, name: &str, device: &str, now: DateTime<Utc>) -> Self {
        let data = match event {
            Event::SyncStart { trigger, .. } => json!({ "trigger": trigger }),
            Event::SyncSuccess { duration_sec, files_changed, commit, pulled, pushed, .. } => {
                json!({
                    "duration_sec": duration_sec,
                    "files_changed": files_changed,
                    "commit_hash": commit,
                    "pulled": pulled,
                    "pushed": pushed,
                })
            }
            Event::SyncFailure { error, code, class, retry_in_sec, .. } => json!({
                "error_msg": error,
                "code": code,
                "class": class,
                "retry_in_sec": retry_in_sec,
            }),
            Event::RateLimitHit { reason, retry_in_sec, .. } => {
                json!({ "reason": reason, "retry_in_sec": retry_in_sec })
            }
            Event::ConflictDetected { path, copy, conflict_kind, strategy, .. } => json!({
                "path": path,
                "copy": copy,
                "conflict_kind": conflict_kind,
                "strategy": strategy,
            }),
            Event::FileSkipped { path, reason, .. } => {
                json!({ "message": format!("not syncing {path}: {reason}"), "path": path })
            }
            Event::Warning { message, .. } => json!({ "message": message }),
            Event::State { state, .. } => json!({ "state": state }),
            Event::Committed { commit, files_changed, .. } => {
                json!({ "commit_hash": commit, "files_changed": files_changed })
            }
            Event::Stale { alert, message, cleared, .. } => {
                json!({ "alert": alert, "message": message, "cleared": cleared })
            }
            Event::OperationFinished { id, operation, ok, error, code, .. } => json!({
                "id": id,
                "operation": operation,
                "ok": ok,
                "error": error,
                "code": code,
            }),
            Event::Progress { operation, phase, done, total, finished, .. } => json!({
                "operation": operation,
                "phase": phase,
                "done": done,
                "total": total,
                "finished": finished,
            }),
        };
        Notification {
            event: name.to_string(),
            folder: event.folder().to_string(),
            device: device.to_string(),
            time: now,
            data,
        }
    }

    /// Builds a sample notification of `event` (one of [`EVENT_TYPES`]) for `webhook test`, with
    /// the seed's example figures and `"test": true` in its data.
    pub fn sample(event: &str, folder: &str, device: &str, now: DateTime<Utc>) -> Result<Self> {
        let data = match event {
            history::SYNC_START => json!({ "trigger": "manual" }),
            history::SYNC_SUCCESS => json!({
                "duration_sec": 2.34,
                "files_changed": 8,
                "commit_hash": "abc123def4567890abc123def4567890abc123de",
                "pulled": false,
                "pushed": true,
            }),
            history::SYNC_FAILURE => json!({
                "error_msg": "fetch origin failed: could not resolve host (test)",
                "code": "remote_unreachable",
                "class": FailureClass::Transient,
                "retry_in_sec": 60,
            }),
            NEEDS_ATTENTION => json!({
                "error_msg": "push origin failed: authentication failed (test)",
                "code": "remote_needs_attention",
                "class": FailureClass::NeedsAttention,
                "retry_in_sec": null,
            }),
            history::RATE_LIMIT_HIT => {
                json!({ "reason": "20 remote operations in the last hour", "retry_in_sec": 300 })
            }
            history::STALE => json!({
                "alert": "unpushed",
                "message": "3 commit(s) have waited 2 h to be pushed (test)",
                "cleared": false,
            }),
            history::CONFLICT_DETECTED => json!({
                "path": "notes/todo.md",
                "copy": "notes/todo.sync-conflict-20250101-120000-laptop.md",
                "conflict_kind": "content",
                "strategy": "ask",
            }),
            history::WARNING => json!({ "message": "this is a test warning" }),
            other => {
                return Err(Error::Invalid(format!(
                    "unknown webhook event `{other}` (expected one of {})",
                    EVENT_TYPES.join(", ")
                )))
            }
        };
        let mut data = data;
        data["test"] = Value::Bool(true);
        Ok(Notification {
            event: event.to_string(),
            folder: folder.to_string(),
            device: device.to_string(),
            time: now,
            data,
        })
    }

    /// Returns the event time as RFC 3339 in UTC with `Z`, to the second.
    pub(super) fn time_text(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}
