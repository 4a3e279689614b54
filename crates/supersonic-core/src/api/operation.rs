//! Long operations in the background (hydrate, seed): one thread each, at most one per folder,
//! reporting progress and their end on the event bus.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Api, InitRequest};
use crate::events::{EventBus, ProgressOp};
use crate::git;
use crate::{Error, Result};

/// Folders with a hydrate or seed running in this process: a second one on the same folder
/// would fight over it.
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A long operation running in the background (hydrate, seed).
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// Its id; the [`Event::OperationFinished`](crate::events::Event::OperationFinished) that
    /// ends it carries the same.
    pub id: String,
    /// Which operation.
    pub operation: ProgressOp,
    /// The folder it works on (the events name it).
    pub folder: PathBuf,
}

impl Operation {
    /// Runs `work` on a thread with a progress reporter on `bus`, then reports its end.
    fn spawn(
        operation: ProgressOp,
        folder: PathBuf,
        bus: EventBus,
        work: impl FnOnce(&crate::folder::Progress) -> Result<()> + Send + 'static,
    ) -> Result<Operation> {
        if !RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(folder.clone()) {
            return Err(Error::Busy(format!(
                "a hydrate or seed of {} is already running",
                folder.display()
            )));
        }
        let op = Operation { id: format!("{:016x}", rand::random::<u64>()), operation, folder };
        let name = op.folder.display().to_string();
        let done = op.clone();
        let spawned =
            std::thread::Builder::new().name(format!("{operation:?} {name}")).spawn(move || {
                let progress = crate::folder::Progress::new(
                    bus.clone(),
                    name.clone(),
                    operation,
                    Duration::ZERO,
                );
                let result = work(&progress);
                progress.finish();
                RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&done.folder);
                if let Err(e) = &result {
                    tracing::warn!("{name}: {operation:?} failed: {e}");
                }
                bus.emit(crate::events::Event::OperationFinished {
                    folder: name,
                    id: done.id,
                    operation,
                    ok: result.is_ok(),
                    code: result.as_ref().err().map(|e| e.code().to_string()),
                    error: result.err().map(|e| git::scrub(&e.to_string())),
                });
            });
        if let Err(e) = spawned {
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&op.folder);
            return Err(Error::Invalid(format!("cannot start a thread: {e}")));
        }
        Ok(op)
    }
}

impl Api {
    /// Starts `hydrate` on a thread of its own after [`Api::check_hydrate`]: its progress, and
    /// then an [`Event::OperationFinished`](crate::events::Event::OperationFinished), go to
    /// `bus`. Returns at once with the operation's id.
    pub fn start_hydrate(&self, req: InitRequest, bus: EventBus) -> Result<Operation> {
        let (path, _) = self.check_hydrate(&req)?;
        let api = self.clone();
        Operation::spawn(ProgressOp::Hydrate, path, bus, move |progress| {
            api.hydrate(req, progress.callback()).map(|_| ())
        })
    }

    /// Starts `seed` on a thread of its own after [`Api::check_seed`], reporting as
    /// [`Api::start_hydrate`] does.
    pub fn start_seed(&self, req: InitRequest, bus: EventBus) -> Result<Operation> {
        let path = self.check_seed(&req)?;
        let api = self.clone();
        Operation::spawn(ProgressOp::Seed, path, bus, move |progress| {
            let folder = progress.clone();
            api.seed(req, move |event| {
                // Staging and pushing report as the seed they are part of.
                if let crate::events::Event::Progress {
                    phase, done, total, finished: false, ..
                } = event
                {
                    folder.clone().update(phase, *done, *total);
                }
            })
            .map(|_| ())
        })
    }
}
