//! The folder worker: one thread per folder that owns the folder's changes (watcher and
//! batcher, see [`FolderChanges`]) and its timers, and blocks on its channels with the next
//! deadline as timeout, so an idle folder costs nothing but the remote poll and the rescan. It
//! answers the engine's [`Command`]s.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::cycle::{CycleReport, Trigger};
use super::Folder;
use crate::batcher::{Batch, Batcher};
use crate::events::Event;
use crate::watcher::FolderChanges;

/// Commands a running folder worker accepts.
#[derive(Debug)]
pub enum Command {
    /// Run a full cycle now and answer with its outcome.
    SyncNow(Sender<std::result::Result<CycleReport, String>>),
    /// Clear the backoff and run a cycle now ("retry now").
    Retry(Sender<std::result::Result<CycleReport, String>>),
    /// Forget the throttle's window and backoff ("clear").
    ClearThrottle,
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Commit the pending changes locally and stop.
    Shutdown,
}

/// Runs the worker loop of `folder` until a [`Command::Shutdown`] arrives or `commands` closes.
/// A change of the folder's own config file is signalled on `config_changed` (the engine
/// reloads, which restarts this worker with the new settings).
pub fn run_worker(mut folder: Folder, commands: Receiver<Command>, config_changed: Sender<()>) {
    let s = folder.config.settings.sync.clone();
    let name = folder.folder_name();
    let batcher = Batcher::new(
        Duration::from_millis(s.debounce_ms),
        Duration::from_millis(s.max_latency_ms),
        s.batch_cap,
    );
    let (mut changes, warning) = FolderChanges::start(&folder.config.path, &folder.ignore, batcher);
    if let Some(message) = warning {
        folder.emit(Event::Warning { folder: name.clone(), message });
    }
    let mut rescan_every = if changes.complete() {
        Duration::from_secs(s.rescan_interval_sec)
    } else {
        Duration::from_secs(s.rescan_interval_sec.min(60))
    };
    let poll_every = Duration::from_secs(s.interval_sec);
    folder.reconcile_history();
    let _ = folder.cycle(Some(Batch::Full), Trigger::Start);
    // The watch started with the rules `open` loaded; the start cycle read the same again.
    folder.take_rules_reloaded();
    let mut next_poll = Instant::now() + poll_every;
    let mut next_rescan = Instant::now() + rescan_every;
    loop {
        let now = Instant::now();
        let retry =
            folder.retry_at().map(|t| now + t.duration_since(folder.now()).unwrap_or_default());
        // Maintenance waits while a batch is pending (the batch's deadline comes first).
        let maintenance =
            if changes.due_at().is_none() { folder.maintenance_due(now) } else { None };
        let deadline = [changes.due_at(), Some(next_poll), Some(next_rescan), retry, maintenance]
            .into_iter()
            .flatten()
            .min()
            .expect("poll deadline always present");
        let timeout = deadline.saturating_duration_since(now);
        crossbeam_channel::select! {
            recv(commands) -> cmd => match cmd {
                Ok(Command::SyncNow(reply)) => {
                    let batch = changes.take().unwrap_or(Batch::Full);
                    folder.pending = 0;
                    let result = folder.cycle(Some(batch), Trigger::Manual).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                    next_poll = Instant::now() + poll_every;
                }
                Ok(Command::Retry(reply)) => {
                    folder.throttle.clear_backoff();
                    folder.retry_at = None;
                    let batch = changes.take().unwrap_or(Batch::Full);
                    folder.pending = 0;
                    let result = folder.cycle(Some(batch), Trigger::Manual).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
                Ok(Command::ClearThrottle) => folder.clear_throttle(),
                Ok(Command::Pause) => folder.pause(),
                Ok(Command::Resume) => {
                    folder.resume();
                    let _ = folder.cycle(Some(Batch::Full), Trigger::Manual);
                }
                Ok(Command::Shutdown) | Err(_) => {
                    // Commit what is pending so no edit waits on a stopped engine.
                    changes.drain(&folder.ignore, Instant::now());
                    let _ = folder.cycle(changes.take(), Trigger::Shutdown);
                    break;
                }
            },
            recv(changes.events()) -> received => {
                if changes.absorb(received, &folder.ignore, Instant::now()) {
                    folder.pending = changes.len_hint();
                } else {
                    // The watcher is gone: rely on rescans, which run every minute at most
                    // from now on.
                    rescan_every = rescan_every.min(Duration::from_secs(60));
                    next_rescan = next_rescan.min(Instant::now() + rescan_every);
                    folder.emit(Event::Warning {
                        folder: name.clone(),
                        message: "file watching stopped; changes are found by rescans every \
                                  minute"
                            .into(),
                    });
                }
            },
            default(timeout) => {},
        }
        if folder.take_rules_reloaded() {
            // Directories that stopped being ignored need watches now.
            changes.rules_changed(&folder.ignore);
        }
        let now = Instant::now();
        if let Some(batch) = changes.take_due(now) {
            folder.pending = 0;
            if let Batch::Paths(paths) = &batch {
                if paths.contains(Path::new(crate::config::FOLDER_CONFIG_FILE)) {
                    let _ = config_changed.send(());
                }
            }
            let _ = folder.cycle(Some(batch), Trigger::Changes);
        }
        if now >= next_poll {
            next_poll = now + poll_every;
            if folder.rechecks() {
                folder.resume();
            }
            let _ = folder.cycle(None, Trigger::Poll);
        }
        if now >= next_rescan {
            next_rescan = now + rescan_every;
            let _ = folder.cycle(Some(Batch::Full), Trigger::Rescan);
        }
        if folder.retry_at().is_some_and(|t| t <= folder.now()) {
            folder.retry_at = None;
            let _ = folder.cycle(None, Trigger::Retry);
        }
        if changes.due_at().is_none() && folder.maintenance_due(now).is_some_and(|t| t <= now) {
            folder.maintain(now);
        }
    }
}
