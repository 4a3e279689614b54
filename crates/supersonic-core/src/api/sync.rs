//! Syncing: each folder's status, a cycle now, the engine over every folder, pause and resume,
//! and undoing the last sync.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::Api;
use crate::config::{self, FolderConfig};
use crate::engine::{self, EngineHandle};
use crate::events::EventBus;
use crate::folder::{self, CycleReport, Folder, Trigger};
use crate::git::{self, GitRepo, Identity};
use crate::history::{self, History, HistoryEvent};
use crate::paths;
use crate::status::{FolderState, FolderStatus};
use crate::{Error, Result};

/// What `undo` did.
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// The folder.
    pub folder: PathBuf,
    /// The undo commit and the files it restored.
    pub undone: git::UndoOutcome,
    /// Who pushes it.
    pub synced: SyncedBy,
}

/// How often `undo` tries again when a running engine moved the branch under it.
const UNDO_BUSY_RETRIES: usize = 10;

/// Who takes a conflict decision to the remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncedBy {
    /// This command ran a sync cycle.
    ThisCommand,
    /// A running daemon holds the folder and syncs the change.
    RunningEngine,
    /// The sync failed; the change is on disk and the next cycle retries.
    Failed(String),
}

impl Api {
    /// Returns the status of every folder: from the running engine's status file when a daemon
    /// syncs it, else read from the repository.
    pub fn status(&self) -> Result<Vec<FolderStatus>> {
        let (_, folders) = self.load()?;
        let mut out = Vec::new();
        for cfg in folders {
            let id = paths::folder_id(&cfg.path);
            let running =
                cfg.path.join(".git").is_dir() && folder::take_folder_lock(&cfg.path).is_err();
            let recorded = crate::status::read(&self.dirs.status_dir(), &id);
            if running {
                if let Some(mut s) = recorded {
                    s.running = true;
                    out.push(s);
                    continue;
                }
            }
            let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote);
            // No engine measures it: measure now (one walk of `.git`, none of the folder).
            let growth =
                repo.as_ref().ok().and_then(|r| r.growth(chrono::Utc::now()).ok()).map(|mut g| {
                    g.last_gc = recorded.as_ref().and_then(|r| r.growth.as_ref()?.last_gc.clone());
                    g
                });
            let (state, head, ahead, pending) = match &repo {
                Ok(repo) => {
                    let (ahead, _) = repo.ahead_behind().unwrap_or((0, 0));
                    let pending = repo.changed_paths().map(|p| p.len()).unwrap_or(0);
                    let state = if cfg.paused { FolderState::Paused } else { FolderState::Idle };
                    (state, repo.head().ok().flatten().map(|o| o.to_string()), ahead, pending)
                }
                Err(e) => (
                    FolderState::Error {
                        message: e.to_string(),
                        code: e.code().into(),
                        class: e.class(),
                    },
                    None,
                    0,
                    0,
                ),
            };
            out.push(FolderStatus {
                path: cfg.path.clone(),
                remote: config::redact_url(&cfg.remote),
                branch: cfg.branch.clone(),
                mode: cfg.mode.to_string(),
                state,
                running,
                pid: None,
                head,
                unpushed_commits: ahead,
                pending_changes: pending,
                last_sync: recorded.as_ref().and_then(|r| r.last_sync.clone()),
                last_error: recorded.as_ref().and_then(|r| r.last_error.clone()),
                consecutive_failures: recorded.as_ref().map_or(0, |r| r.consecutive_failures),
                next_retry: None,
                held_back: recorded.as_ref().map(|r| r.held_back.clone()).unwrap_or_default(),
                stale: if running {
                    recorded.as_ref().map(|r| r.stale.clone()).unwrap_or_default()
                } else {
                    Vec::new()
                },
                growth,
            });
        }
        Ok(out)
    }

    /// Runs one full cycle on the folder at `path` (or on every folder) in this process.
    /// Fails for a folder a running daemon holds.
    pub fn sync_once(
        &self,
        path: Option<&Path>,
        allow_mass_delete: bool,
    ) -> Result<Vec<(PathBuf, Result<CycleReport>)>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let targets: Vec<FolderConfig> = match path {
            Some(p) => vec![self.find_folder(&folders, p)?.clone()],
            None => folders,
        };
        let mut results = Vec::new();
        for cfg in targets {
            let identity = Identity {
                device: device.clone(),
                user: cfg.settings.git.user.clone(),
                email: cfg.settings.git.email.clone(),
                sign: cfg.settings.git.sign,
            };
            let path = cfg.path.clone();
            let outcome =
                Folder::open(cfg, &self.dirs, identity, EventBus::default()).and_then(|mut f| {
                    if allow_mass_delete {
                        f.allow_mass_delete();
                    }
                    f.cycle(Some(crate::batcher::Batch::Full), Trigger::Manual)
                });
            results.push((path, outcome));
        }
        Ok(results)
    }

    /// Starts the engine on every configured folder (paused ones start paused), and keeps it in
    /// step with the configuration: folders added, removed or changed later (in the UI, with
    /// `supersonic init`, or by editing the files) are picked up without a restart. With no
    /// folder configured yet the engine starts empty and waits for one.
    pub fn start(&self, bus: EventBus) -> Result<EngineHandle> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let identity = Identity { device, user: None, email: None, sign: false };
        let mut engine = engine::start(folders, &self.dirs, identity, bus)?;
        let api = self.clone();
        engine.watch_config(&self.dirs.app_config_file(), move || Ok(api.load()?.1))?;
        Ok(engine)
    }

    /// Marks the folder at `path` paused (or not) in the app config, so the state survives a
    /// restart. A running engine is told separately by the shell.
    pub fn set_paused(&self, path: &Path, paused: bool) -> Result<PathBuf> {
        let file = self.dirs.app_config_file();
        let mut app = config::load_app_config(&file)?;
        let abs = paths::absolute(path);
        let entry =
            app.folders.iter_mut().find(|f| f.path == abs).ok_or_else(|| {
                Error::Invalid(format!("{} is not a synced folder", abs.display()))
            })?;
        entry.paused = paused;
        config::save_app_config(&file, &app)?;
        Ok(abs)
    }

    /// Takes back what the last sync brought into the folder at `path` (or the only folder),
    /// as a new commit (nothing rewritten; other devices receive the undo), then syncs it
    /// unless a running daemon holds the folder (which then pushes it itself).
    pub fn undo_last_sync(&self, path: Option<&Path>) -> Result<UndoReport> {
        let (app, folders) = self.load()?;
        let cfg = match path {
            Some(p) => self.find_folder(&folders, p)?.clone(),
            None if folders.len() == 1 => folders[0].clone(),
            None => {
                return Err(Error::Invalid(
                    "several folders are configured; say which folder's last sync to undo".into(),
                ))
            }
        };
        let identity = Identity {
            device: self.device(&app)?,
            user: cfg.settings.git.user.clone(),
            email: cfg.settings.git.email.clone(),
            sign: cfg.settings.git.sign,
        };
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        // A running engine may move the branch mid-way (its own cycle): the undo's checkout
        // then refuses (compare-and-swap on HEAD) and is simply tried again on the new HEAD.
        let mut attempt = 0;
        let undone = loop {
            match repo.undo_last_sync(&identity) {
                Err(Error::Busy(_)) if attempt < UNDO_BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                }
                other => break other?,
            }
        };
        drop(repo);
        if let Ok(h) = History::open(&self.history_path()) {
            let mut row = HistoryEvent::new(
                &cfg.path.display().to_string(),
                history::SYNC_UNDONE,
                chrono::Utc::now(),
            );
            row.commit_hash = Some(undone.commit.clone());
            row.files_changed = Some(undone.files as i64);
            row.reason = Some(format!("last sync undone on {}", identity.device.name));
            let _ = h.record(&row);
        }
        let synced = self.synced_after_change(&cfg.path)?;
        Ok(UndoReport { folder: cfg.path, undone, synced })
    }

    /// Syncs `folder` after a change made on the user's behalf, and tells who takes the change
    /// to the remote: this call, or a running daemon that holds the folder.
    pub(super) fn synced_after_change(&self, folder: &Path) -> Result<SyncedBy> {
        Ok(match self.sync_once(Some(folder), false)?.pop() {
            Some((_, Ok(_))) => SyncedBy::ThisCommand,
            Some((_, Err(Error::Invalid(m)))) if m.contains("already being synced") => {
                SyncedBy::RunningEngine
            }
            Some((_, Err(e))) => SyncedBy::Failed(e.to_string()),
            None => SyncedBy::Failed("folder vanished".into()),
        })
    }
}
