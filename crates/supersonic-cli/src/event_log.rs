//! The daemon's log lines for engine events: what a person reading `journalctl` or the terminal
//! needs (commits, syncs, failures, conflicts, skipped files), the rest at debug level.

use crossbeam_channel::Receiver;
use supersonic_core::events::Event;

/// Logs every event of `events` on a thread of its own, which ends with the event bus.
pub fn start(events: Receiver<Event>) {
    std::thread::spawn(move || {
        for event in events {
            log_event(&event);
        }
    });
}

/// Logs one event.
fn log_event(event: &Event) {
    let folder = event.folder();
    match event {
        Event::State { .. } | Event::SyncStart { .. } => {
            tracing::debug!("{}", serde_json::to_string(event).unwrap_or_default())
        }
        Event::Committed { commit, files_changed, .. } => {
            tracing::info!("{folder}: committed {files_changed} file(s) as {}", &commit[..8])
        }
        Event::SyncSuccess { duration_sec, pulled, pushed, .. } => tracing::info!(
            "{folder}: sync ok in {duration_sec:.2} s{}{}",
            if *pulled { ", pulled" } else { "" },
            if *pushed { ", pushed" } else { "" }
        ),
        Event::SyncFailure { error, retry_in_sec, .. } => match retry_in_sec {
            Some(s) => tracing::warn!("{folder}: sync failed: {error}; retrying in {s} s"),
            None => tracing::error!("{folder}: sync stopped: {error}"),
        },
        Event::RateLimitHit { reason, retry_in_sec, .. } => {
            tracing::warn!("{folder}: {reason}; next attempt in {retry_in_sec} s")
        }
        Event::ConflictDetected { path, copy, strategy, .. } => match copy {
            Some(copy) => {
                tracing::warn!("{folder}: conflict in {path}: kept both, other is {copy}")
            }
            None => tracing::warn!("{folder}: conflict in {path}: resolved by {strategy}"),
        },
        Event::FileSkipped { path, reason, .. } => {
            tracing::warn!("{folder}: not syncing {path}: {reason}")
        }
        Event::Warning { message, .. } => tracing::warn!("{folder}: {message}"),
        Event::Stale { message, cleared: false, .. } => tracing::warn!("{folder}: {message}"),
        Event::Stale { alert, cleared: true, .. } => tracing::info!("{folder}: {alert} cleared"),
        Event::OperationFinished { operation, ok: true, .. } => {
            tracing::info!("{folder}: {operation:?} finished")
        }
        Event::OperationFinished { operation, error, .. } => {
            tracing::warn!("{folder}: {operation:?} failed: {}", error.as_deref().unwrap_or("?"))
        }
        Event::Progress { operation, phase, done, total, finished, .. } => match total {
            _ if *finished => tracing::debug!("{folder}: {operation:?} finished"),
            Some(total) => tracing::debug!("{folder}: {operation:?} {phase} {done}/{total}"),
            None => tracing::debug!("{folder}: {operation:?} {phase} {done}"),
        },
    }
}
