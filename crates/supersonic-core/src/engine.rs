//! The engine owns one worker thread per folder. Starting it returns an [`EngineHandle`];
//! dropping the handle (or calling [`EngineHandle::stop`]) commits pending changes locally and
//! stops every worker.

use std::thread::JoinHandle;

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;

use crate::config::FolderConfig;
use crate::events::EventBus;
use crate::folder::{run_worker, Command, CycleReport, Folder};
use crate::git::Identity;
use crate::paths::Dirs;
use crate::{Error, Result};

struct Worker {
    path: PathBuf,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

/// A running engine. Dropping it stops every folder.
pub struct EngineHandle {
    workers: Vec<Worker>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("folders", &self.workers.len()).finish()
    }
}

/// Starts a worker for every folder. A folder that cannot be opened fails the whole start, so
/// the user sees the problem at once instead of a half-running daemon.
pub fn start(
    folders: Vec<FolderConfig>,
    dirs: &Dirs,
    identity: Identity,
    bus: EventBus,
) -> Result<EngineHandle> {
    let mut opened = Vec::new();
    let mut failures = Vec::new();
    for config in folders {
        let mut identity = identity.clone();
        identity.user = config.settings.git.user.clone();
        identity.email = config.settings.git.email.clone();
        let path = config.path.clone();
        match Folder::open(config, dirs, identity, bus.clone()) {
            Ok(folder) => opened.push(folder),
            // One bad folder (missing, unmounted, held by another process) must not keep the
            // others from syncing: report it and go on.
            Err(e) => {
                bus.emit(crate::events::Event::SyncFailure {
                    folder: path.display().to_string(),
                    error: e.to_string(),
                    code: e.code().into(),
                    class: e.class(),
                    retry_in_sec: None,
                });
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    if opened.is_empty() && !failures.is_empty() {
        return Err(Error::Invalid(format!("no folder could be started: {}", failures.join("; "))));
    }
    let workers = opened
        .into_iter()
        .map(|folder| {
            let path = folder.config().path.clone();
            let (tx, rx) = crossbeam_channel::unbounded();
            let thread = std::thread::Builder::new()
                .name(format!("folder {}", path.display()))
                .spawn(move || run_worker(folder, rx))
                .map_err(|e| Error::Invalid(format!("cannot start a worker thread: {e}")))?;
            Ok(Worker { path, commands: tx, thread: Some(thread) })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EngineHandle { workers })
}

/// A cheap, cloneable remote control of a running engine (for control sockets and IPC).
#[derive(Debug, Clone)]
pub struct EngineControl {
    folders: Vec<(PathBuf, Sender<Command>)>,
}

impl EngineControl {
    /// Returns the folders the engine syncs.
    pub fn folders(&self) -> Vec<PathBuf> {
        self.folders.iter().map(|(p, _)| p.clone()).collect()
    }

    fn sender(&self, path: &Path) -> Result<&Sender<Command>> {
        self.folders.iter().find(|(p, _)| p == path).map(|(_, s)| s).ok_or_else(|| {
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
        self.sender(path)?.send(cmd).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::Invalid("the folder worker has stopped".into())
}

impl EngineHandle {
    /// Returns a remote control of this engine.
    pub fn control(&self) -> EngineControl {
        EngineControl {
            folders: self.workers.iter().map(|w| (w.path.clone(), w.commands.clone())).collect(),
        }
    }

    /// Stops every worker after it committed its pending changes.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for w in &self.workers {
            let _ = w.commands.send(Command::Shutdown);
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
