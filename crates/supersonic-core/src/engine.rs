//! The engine owns one worker thread per folder. Starting it returns an [`EngineHandle`];
//! dropping the handle (or calling [`EngineHandle::stop`]) commits pending changes locally and
//! stops every worker.
//!
//! The set of folders is not fixed: [`EngineControl::reload`] starts workers for folders that
//! appeared in the config, stops the ones that were removed and restarts the ones whose config
//! changed. [`EngineHandle::watch_config`] calls it whenever the app config file (or a folder's
//! `.supersonic-sync.conf`) changes, so a folder added in the UI, with `supersonic init` or by
//! editing `config.yaml` is synced by the running engine without a restart. A configured folder
//! that cannot be opened (missing, unmounted) is retried every [`RETRY_MISSING`] until it can.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::config::FolderConfig;
use crate::events::{Event, EventBus};
use crate::folder::{run_worker, Command, CycleReport, Folder};
use crate::git::Identity;
use crate::paths::Dirs;
use crate::{Error, Result};

/// How often a configured folder that could not be opened is tried again.
pub const RETRY_MISSING: Duration = Duration::from_secs(10);

/// How long config changes settle before a reload (editors write in several steps).
const CONFIG_SETTLE: Duration = Duration::from_millis(300);

struct Worker {
    config: FolderConfig,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn stop(mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the engine shares between its handle, its controls and its config watcher.
struct Shared {
    workers: Mutex<Vec<Worker>>,
    /// Folders configured but not running, with the error that kept each from starting.
    failed: Mutex<BTreeMap<PathBuf, (FolderConfig, String)>>,
    dirs: Dirs,
    identity: Identity,
    bus: EventBus,
    /// Tells the config watcher (if any) that a folder's own config file changed.
    config_changed: Sender<()>,
    /// Told every folder config after each reload (webhooks, notifications follow them).
    config_subscribers: Mutex<Vec<Sender<Vec<FolderConfig>>>>,
}

impl Shared {
    fn workers(&self) -> MutexGuard<'_, Vec<Worker>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self) -> MutexGuard<'_, BTreeMap<PathBuf, (FolderConfig, String)>> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens `config`'s folder and starts its worker; a failure is reported on the bus once per
    /// distinct error and remembered for a later retry.
    fn spawn(&self, config: FolderConfig) -> Result<Worker> {
        let path = config.path.clone();
        let mut identity = self.identity.clone();
        identity.user = config.settings.git.user.clone();
        identity.email = config.settings.git.email.clone();
        identity.sign = config.settings.git.sign;
        let opened = Folder::open(config.clone(), &self.dirs, identity, self.bus.clone()).and_then(
            |folder| {
                let (tx, rx) = crossbeam_channel::unbounded();
                let notify = self.config_changed.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("folder {}", path.display()))
                    .spawn(move || run_worker(folder, rx, notify))
                    .map_err(|e| Error::Invalid(format!("cannot start a worker thread: {e}")))?;
                Ok(Worker { config: config.clone(), commands: tx, thread: Some(thread) })
            },
        );
        match opened {
            Ok(worker) => {
                self.failed().remove(&path);
                Ok(worker)
            }
            Err(e) => {
                let message = e.to_string();
                let known = self.failed().get(&path).is_some_and(|(_, m)| *m == message);
                if !known {
                    // One bad folder (missing, unmounted, held by another process) must not
                    // keep the others from syncing: report it and go on.
                    tracing::warn!("{}: not syncing: {message}", path.display());
                    self.bus.emit(Event::SyncFailure {
                        folder: path.display().to_string(),
                        error: message.clone(),
                        code: e.code().into(),
                        class: e.class(),
                        retry_in_sec: Some(RETRY_MISSING.as_secs()),
                    });
                }
                self.failed().insert(path, (config, message));
                Err(e)
            }
        }
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Folders that started syncing.
    pub started: Vec<PathBuf>,
    /// Folders that stopped (removed from the config).
    pub stopped: Vec<PathBuf>,
    /// Folders restarted because their config changed.
    pub restarted: Vec<PathBuf>,
    /// Folders configured that could not be started, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

impl ReloadReport {
    /// Returns whether the reload changed nothing.
    pub fn is_empty(&self) -> bool {
        self.started.is_empty()
            && self.stopped.is_empty()
            && self.restarted.is_empty()
            && self.failed.is_empty()
    }
}

/// A running engine. Dropping it stops every folder.
pub struct EngineHandle {
    shared: Arc<Shared>,
    /// Signals of folder config changes, until [`EngineHandle::watch_config`] takes it.
    config_changes: Option<crossbeam_channel::Receiver<()>>,
    watcher: Option<ConfigWatch>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("folders", &self.shared.workers().len()).finish()
    }
}

/// Starts a worker for every folder. A folder that cannot be opened is reported (and retried
/// by the config watcher, if one runs) while the others sync; the start fails only when every
/// folder failed, so the user of a one-folder daemon sees the problem at once.
pub fn start(
    folders: Vec<FolderConfig>,
    dirs: &Dirs,
    identity: Identity,
    bus: EventBus,
) -> Result<EngineHandle> {
    let (config_changed, config_changes) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        workers: Mutex::new(Vec::new()),
        failed: Mutex::new(BTreeMap::new()),
        dirs: dirs.clone(),
        identity,
        bus,
        config_changed,
        config_subscribers: Mutex::new(Vec::new()),
    });
    let handle = EngineHandle { shared, config_changes: Some(config_changes), watcher: None };
    let report = handle.control().reload(folders);
    if report.started.is_empty() && !report.failed.is_empty() {
        let failures: Vec<String> =
            report.failed.iter().map(|(p, e)| format!("{}: {e}", p.display())).collect();
        return Err(Error::Invalid(format!("no folder could be started: {}", failures.join("; "))));
    }
    Ok(handle)
}

/// A cheap, cloneable remote control of a running engine (for control sockets and IPC).
#[derive(Clone)]
pub struct EngineControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EngineControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineControl").field("folders", &self.folders()).finish()
    }
}

impl EngineControl {
    /// Returns the folders the engine syncs now.
    pub fn folders(&self) -> Vec<PathBuf> {
        self.shared.workers().iter().map(|w| w.config.path.clone()).collect()
    }

    /// Returns the configured folders the engine could not start, with the reason.
    pub fn failed(&self) -> Vec<(PathBuf, String)> {
        self.shared.failed().iter().map(|(p, (_, e))| (p.clone(), e.clone())).collect()
    }

    /// Brings the running workers in line with `folders`: starts the new ones, stops the removed
    /// ones (after they committed their pending changes), restarts those whose config changed
    /// and passes a pause or resume on without a restart.
    pub fn reload(&self, folders: Vec<FolderConfig>) -> ReloadReport {
        self.shared
            .config_subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|tx| tx.send(folders.clone()).is_ok());
        let mut report = ReloadReport::default();
        let wanted: BTreeMap<PathBuf, FolderConfig> =
            folders.into_iter().map(|f| (f.path.clone(), f)).collect();
        // Take the workers to stop out under the lock, stop them outside it: a stopping worker
        // commits first, and commands to the other folders must not wait for that.
        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        {
            let mut workers = self.shared.workers();
            let mut kept = Vec::new();
            for w in workers.drain(..) {
                match wanted.get(&w.config.path) {
                    None => {
                        report.stopped.push(w.config.path.clone());
                        to_stop.push(w);
                    }
                    Some(new) if !same_but_paused(&w.config, new) => {
                        report.restarted.push(w.config.path.clone());
                        to_start.push(new.clone());
                        to_stop.push(w);
                    }
                    Some(new) => {
                        if new.paused != w.config.paused {
                            let cmd = if new.paused { Command::Pause } else { Command::Resume };
                            let _ = w.commands.send(cmd);
                        }
                        kept.push(Worker { config: new.clone(), ..w });
                    }
                }
            }
            *workers = kept;
            let running: Vec<PathBuf> = workers.iter().map(|w| w.config.path.clone()).collect();
            for (path, config) in &wanted {
                if !running.contains(path) && !to_start.iter().any(|c| c.path == *path) {
                    to_start.push(config.clone());
                }
            }
        }
        self.shared.failed().retain(|p, _| wanted.contains_key(p));
        for w in to_stop {
            w.stop();
        }
        for config in to_start {
            let path = config.path.clone();
            match self.shared.spawn(config) {
                Ok(worker) => {
                    if !report.restarted.contains(&path) {
                        report.started.push(path);
                    }
                    self.shared.workers().push(worker);
                }
                Err(e) => {
                    report.restarted.retain(|p| *p != path);
                    report.failed.push((path, e.to_string()));
                }
            }
        }
        if !report.is_empty() {
            tracing::info!(
                "engine reloaded: {} started, {} stopped, {} restarted, {} failed",
                report.started.len(),
                report.stopped.len(),
                report.restarted.len(),
                report.failed.len()
            );
        }
        report
    }

    /// Returns a channel that receives the folder configs of every later reload, so what is
    /// configured per folder outside the engine (webhooks, notifications) follows the config.
    pub fn subscribe_config(&self) -> crossbeam_channel::Receiver<Vec<FolderConfig>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.shared.config_subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Tries again every configured folder that could not be started.
    pub fn retry_failed(&self) -> ReloadReport {
        let failed: Vec<FolderConfig> =
            self.shared.failed().values().map(|(config, _)| config.clone()).collect();
        let mut report = ReloadReport::default();
        for config in failed {
            let path = config.path.clone();
            match self.shared.spawn(config) {
                Ok(worker) => {
                    tracing::info!("{}: available again; syncing", path.display());
                    self.shared.workers().push(worker);
                    report.started.push(path);
                }
                Err(e) => report.failed.push((path, e.to_string())),
            }
        }
        report
    }

    fn sender(&self, path: &Path) -> Result<Sender<Command>> {
        self.shared
            .workers()
            .iter()
            .find(|w| w.config.path == path)
            .map(|w| w.commands.clone())
            .ok_or_else(|| {
                Error::Invalid(format!("{} is not synced by this engine", path.display()))
            })
    }

    fn ask(
        &self,
        path: &Path,
        make: impl FnOnce(Sender<std::result::Result<CycleReport, String>>) -> Command,
    ) -> Result<CycleReport> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.sender(path)?.send(make(tx)).map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?.map_err(Error::Invalid)
    }

    /// Runs a cycle of the folder at `path` now and waits for its outcome.
    pub fn sync_now(&self, path: &Path) -> Result<CycleReport> {
        self.ask(path, Command::SyncNow)
    }

    /// Clears the backoff of the folder at `path` and runs a cycle now.
    pub fn retry(&self, path: &Path) -> Result<CycleReport> {
        self.ask(path, Command::Retry)
    }

    /// Forgets the throttle state of the folder at `path`.
    pub fn clear_throttle(&self, path: &Path) -> Result<()> {
        self.sender(path)?.send(Command::ClearThrottle).map_err(|_| stopped())
    }

    /// Pauses or resumes the folder at `path`.
    pub fn set_paused(&self, path: &Path, paused: bool) -> Result<()> {
        let cmd = if paused { Command::Pause } else { Command::Resume };
        self.sender(path)?.send(cmd).map_err(|_| stopped())?;
        if let Some(w) = self.shared.workers().iter_mut().find(|w| w.config.path == path) {
            w.config.paused = paused; // so a reload from the saved config sees no change
        }
        Ok(())
    }
}

/// Whether two configs of a folder differ at most in `paused`.
fn same_but_paused(a: &FolderConfig, b: &FolderConfig) -> bool {
    let mut b = b.clone();
    b.paused = a.paused;
    *a == b
}

fn stopped() -> Error {
    Error::Invalid("the folder worker has stopped".into())
}

impl EngineHandle {
    /// Returns a remote control of this engine.
    pub fn control(&self) -> EngineControl {
        EngineControl { shared: Arc::clone(&self.shared) }
    }

    /// Reloads the engine from `load` whenever `config_file` changes (it is watched through its
    /// directory, so atomic replaces and a file that does not exist yet are seen) or a folder's
    /// own config file changes, and retries folders that could not be started every
    /// [`RETRY_MISSING`]. A config that does not load is reported and the engine keeps running
    /// on the last good one.
    pub fn watch_config(
        &mut self,
        config_file: &Path,
        load: impl Fn() -> Result<Vec<FolderConfig>> + Send + 'static,
    ) -> Result<()> {
        let tx = self.shared.config_changed.clone();
        let rx = self
            .config_changes
            .take()
            .ok_or_else(|| Error::Invalid("the engine already watches its configuration".into()))?;
        let dir = config_file.parent().unwrap_or(Path::new(".")).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let name = config_file.file_name().map(|n| n.to_os_string());
        let file_tx = tx.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            // Reading the file (our own reload included) is no change: reacting to it once
            // reloaded every settle period, forever (990 wakeups a minute while idle).
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                return;
            }
            if ev.paths.iter().any(|p| p.file_name().map(|n| n.to_os_string()) == name) {
                let _ = file_tx.send(());
            }
        })
        .map_err(|e| Error::Invalid(format!("cannot watch {}: {e}", dir.display())))?;
        notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| Error::Invalid(format!("cannot watch {}: {e}", dir.display())))?;
        // Pick up changes made between the engine's start and now.
        let _ = tx.send(());
        let control = self.control();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let config_file = config_file.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("config watch".into())
            .spawn(move || {
                let _watcher = watcher;
                let mut last_error = None;
                loop {
                    let retry = if control.failed().is_empty() {
                        crossbeam_channel::never()
                    } else {
                        crossbeam_channel::after(RETRY_MISSING)
                    };
                    crossbeam_channel::select! {
                        recv(stop_rx) -> _ => return,
                        recv(retry) -> _ => { control.retry_failed(); }
                        recv(rx) -> msg => {
                            if msg.is_err() {
                                return;
                            }
                            // Let a burst of writes settle, then reload once.
                            let settle = Instant::now() + CONFIG_SETTLE;
                            while let Ok(()) = rx.recv_deadline(settle) {}
                            match load() {
                                Ok(folders) => {
                                    last_error = None;
                                    control.reload(folders);
                                }
                                Err(e) => {
                                    let message = format!(
                                        "{}; still syncing with the previous configuration",
                                        e
                                    );
                                    if last_error.as_ref() != Some(&message) {
                                        tracing::warn!(
                                            "config {} not reloaded: {message}",
                                            config_file.display()
                                        );
                                        control.shared.bus.emit(Event::Warning {
                                            folder: config_file.display().to_string(),
                                            message: message.clone(),
                                        });
                                        last_error = Some(message);
                                    }
                                }
                            }
                        }
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start the config watcher: {e}")))?;
        self.watcher = Some(ConfigWatch { stop: stop_tx, thread: Some(thread) });
        Ok(())
    }

    /// Stops every worker after it committed its pending changes.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            drop(w.stop);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        let workers: Vec<Worker> = self.shared.workers().drain(..).collect();
        for w in &workers {
            let _ = w.commands.send(Command::Shutdown);
        }
        for w in workers {
            w.stop();
        }
    }
}

struct ConfigWatch {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
