//! The folder worker: one thread per folder that owns the watcher, the batcher and the timers,
//! and blocks on its channels with the next deadline as timeout, so an idle folder costs nothing
//! but the remote poll and the rescan. It answers the engine's [`Command`]s.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::cycle::{CycleReport, Trigger};
use super::Folder;
use crate::batcher::{Batch, Batcher};
use crate::events::Event;
use crate::ignore::IgnoreRules;
use crate::status::FolderState;
use crate::watcher::{FolderWatch, WatchMsg};

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
    let root = folder.config.path.clone();
    let name = folder.folder_name();
    let (wtx, mut wrx) = crossbeam_channel::unbounded::<WatchMsg>();
    let mut watch = match FolderWatch::start(&root, &folder.ignore, wtx) {
        Ok((watch, report)) => {
            if let Some(warning) = report.limit_warning {
                folder.emit(Event::Warning { folder: name.clone(), message: warning });
            }
            Some(watch)
        }
        Err(e) => {
            folder.emit(Event::Warning { folder: name.clone(), message: e.to_string() });
            None
        }
    };
    let mut rescan_every = if watch.as_ref().is_some_and(|w| !w.limit_hit()) {
        Duration::from_secs(s.rescan_interval_sec)
    } else {
        Duration::from_secs(s.rescan_interval_sec.min(60))
    };
    let poll_every = Duration::from_secs(s.interval_sec);
    let mut batcher = Batcher::new(
        Duration::from_millis(s.debounce_ms),
        Duration::from_millis(s.max_latency_ms),
        s.batch_cap,
    );
    folder.reconcile_history();
    let _ = folder.cycle(Some(Batch::Full), Trigger::Start);
    let mut rules_seen = folder.rules_version;
    let mut next_poll = Instant::now() + poll_every;
    let mut next_rescan = Instant::now() + rescan_every;
    loop {
        let now = Instant::now();
        let retry =
            folder.retry_at().map(|t| now + t.duration_since(folder.now()).unwrap_or_default());
        // Maintenance waits while a batch is pending (the batch's deadline comes first).
        let maintenance =
            if batcher.due_at().is_none() { folder.maintenance_due(now) } else { None };
        let deadline = [batcher.due_at(), Some(next_poll), Some(next_rescan), retry, maintenance]
            .into_iter()
            .flatten()
            .min()
            .expect("poll deadline always present");
        let timeout = deadline.saturating_duration_since(now);
        crossbeam_channel::select! {
            recv(commands) -> cmd => match cmd {
                Ok(Command::SyncNow(reply)) => {
                    let batch = batcher.take().unwrap_or(Batch::Full);
                    folder.pending = 0;
                    let result = folder.cycle(Some(batch), Trigger::Manual).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                    next_poll = Instant::now() + poll_every;
                }
                Ok(Command::Retry(reply)) => {
                    folder.throttle.clear_backoff();
                    folder.retry_at = None;
                    let batch = batcher.take().unwrap_or(Batch::Full);
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
                    while let Ok(msg) = wrx.try_recv() {
                        handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    }
                    if folder.needs_full {
                        batcher.push_full(Instant::now());
                    }
                    if let Some(batch) = batcher.take() {
                        if folder.state != FolderState::Paused && folder.stop.is_none() {
                            let mut report = CycleReport::default();
                            let _ = folder.repo.preflight(0).and_then(|_| folder.snapshot(&batch, &mut report));
                        }
                    }
                    break;
                }
            },
            recv(wrx) -> msg => match msg {
                Ok(msg) => {
                    handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    // Drain what else is queued without waking per event.
                    while let Ok(msg) = wrx.try_recv() {
                        handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    }
                    folder.pending = batcher.len_hint();
                }
                Err(_) => {
                    // The watcher is gone (it failed to start or its thread died): a
                    // disconnected channel is always ready, so stop selecting on it and rely on
                    // rescans, which run every minute at most from now on.
                    wrx = crossbeam_channel::never();
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
        if folder.rules_version != rules_seen {
            // Directories that stopped being ignored need watches now.
            rules_seen = folder.rules_version;
            if let Some(w) = watch.as_mut() {
                w.add_tree(&root, &folder.ignore);
            }
        }
        let now = Instant::now();
        if let Some(batch) = batcher.take_due(now) {
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
        if batcher.due_at().is_none() && folder.maintenance_due(now).is_some_and(|t| t <= now) {
            folder.maintain(now);
        }
    }
}

fn handle_watch_msg(
    root: &Path,
    ignore: &IgnoreRules,
    watch: Option<&mut FolderWatch>,
    batcher: &mut Batcher,
    msg: WatchMsg,
) {
    let now = Instant::now();
    match msg {
        WatchMsg::Rescan => {
            tracing::info!(
                "file events were lost in {} (inotify queue overflow); rescanning everything",
                root.display()
            );
            batcher.push_full(now);
        }
        WatchMsg::Error(e) => {
            tracing::warn!("watcher error in {}: {e}; rescanning", root.display());
            batcher.push_full(now);
        }
        WatchMsg::Paths { paths, removal } => {
            let mut watch = watch;
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
                if let Some(w) = watch.as_deref_mut() {
                    if removal && w.is_watched(&abs) {
                        w.forget_tree(&abs);
                    }
                    if is_dir && !w.is_watched(&abs) {
                        w.add_tree(&abs, ignore);
                    } else if meta.is_none() && w.is_watched(&abs) {
                        w.forget_tree(&abs);
                    }
                }
                batcher.push(rel.to_path_buf(), now);
            }
        }
    }
}
