//! Acting on a folder where it is synced: through the engine running in this process when it
//! holds the folder (its lock would refuse a second writer), else through the [`Api`] alone.
//! Sync now, pause and resume, decisions on held files, and undoing the last sync.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{absolute, Failure};
use crate::api::{Api, SyncedBy, UndoReport};
use crate::engine::EngineControl;
use crate::folder::CycleReport;
use crate::Error;

/// What pause and resume did.
#[derive(Debug, Serialize)]
pub struct PauseOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// Whether it is paused now.
    pub paused: bool,
    /// Whether the engine running in this process was told at once.
    pub engine_told: bool,
}

/// Returns the running engine's control when it syncs `folder`.
pub fn engine_for<'a>(
    control: Option<&'a EngineControl>,
    folder: &Path,
) -> Option<&'a EngineControl> {
    control.filter(|c| c.folders().iter().any(|f| f == folder))
}

/// Runs a cycle of `folder` now, through the running engine when it holds the folder (its lock
/// would refuse a second writer), else once through the [`Api`].
pub fn sync_now(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
) -> crate::Result<CycleReport> {
    match engine_for(control, folder) {
        Some(engine) => engine.sync_now(folder),
        None => match api.sync_once(Some(folder), false)?.pop() {
            Some((_, result)) => result,
            None => Err(Error::Invalid(format!("{} is not a synced folder", folder.display()))),
        },
    }
}

/// Records a pause (or resume) in the config, so it survives a restart, and tells the running
/// engine when it holds the folder.
pub fn set_paused(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
    paused: bool,
) -> crate::Result<PauseOutcome> {
    let folder = api.set_paused(folder, paused)?;
    let engine = engine_for(control, &folder);
    if let Some(engine) = engine {
        engine.set_paused(&folder, paused)?;
    }
    Ok(PauseOutcome { engine_told: engine.is_some(), folder, paused })
}

/// A decision on a file the secret guard holds back: `{"folder": "/abs", "path": "rel/file"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldRequest {
    /// The folder, by absolute path.
    pub folder: PathBuf,
    /// The held file, relative to the folder.
    pub path: PathBuf,
}

impl HeldRequest {
    /// Returns the folder and the file, refusing a relative folder and a file path that is not a
    /// plain path inside it (absolute, `..`, `.git`, empty). The core checks again.
    pub fn checked(self) -> Result<(PathBuf, PathBuf), Failure> {
        let folder = absolute(&self.folder)?;
        crate::paths::check_relative(&self.path)
            .map_err(|e| Failure::bad_request(e.to_string()))?;
        Ok((folder, self.path))
    }
}

/// What to do with a held file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldDecision {
    /// Commit it after all (recorded on this device; the file then reaches every device).
    Release,
    /// Ignore it for good (a `.syncignore` rule, synced to every device).
    Ignore,
}

/// What a quarantine decision did.
#[derive(Debug, Serialize)]
pub struct HeldOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// The file decided on, relative to the folder.
    pub path: PathBuf,
    /// The sync that took the decision to the remote, when it ran.
    pub cycle: Option<CycleReport>,
    /// Why that sync failed: the decision stands, and the next cycle retries.
    pub sync_error: Option<Failure>,
}

/// Releases or ignores a held file, then syncs the folder ([`sync_now`]: through the running
/// engine when it holds the folder) so the decision takes effect at once. A failed sync does
/// not undo the decision; it is reported in [`HeldOutcome::sync_error`].
pub fn decide_held(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
    path: &Path,
    decision: HeldDecision,
) -> crate::Result<HeldOutcome> {
    let folder = match decision {
        HeldDecision::Release => api.release_held(Some(folder), path)?,
        HeldDecision::Ignore => api.ignore_held(Some(folder), path)?,
    };
    let (cycle, sync_error) = match sync_now(api, control, &folder) {
        Ok(report) => (Some(report), None),
        Err(e) => (None, Some(Failure::from(e))),
    };
    Ok(HeldOutcome { folder, path: path.to_path_buf(), cycle, sync_error })
}

/// Takes back what the folder's last sync brought in, as a new commit. The core syncs it
/// itself unless the running engine holds the folder; then the engine is asked to sync it
/// now, and the answer says whether that failed.
pub fn undo_last_sync(
    api: &Api,
    control: Option<&EngineControl>,
    folder: Option<&Path>,
) -> crate::Result<UndoReport> {
    let mut report = api.undo_last_sync(folder)?;
    if report.synced == SyncedBy::RunningEngine {
        if let Some(engine) = engine_for(control, &report.folder) {
            if let Err(e) = engine.sync_now(&report.folder) {
                report.synced = SyncedBy::Failed(e.to_string());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_file_is_named_by_a_plain_path_inside_an_absolute_folder() {
        let req =
            |folder: &str, path: &str| HeldRequest { folder: folder.into(), path: path.into() };
        let (folder, path) = req("/n", "keys/id_deploy").checked().unwrap();
        assert_eq!(
            (folder.as_path(), path.as_path()),
            (Path::new("/n"), Path::new("keys/id_deploy"))
        );
        for (folder, path, why) in [
            ("n", "a", "a relative folder means nothing to the server"),
            ("/n", "/etc/passwd", "an absolute file path"),
            ("/n", "../other/id_rsa", "a path out of the folder"),
            ("/n", "a/../../b", "a path out of the folder through a subfolder"),
            ("/n", ".git/config", "the repository itself"),
            ("/n", "", "no file at all"),
        ] {
            let err = req(folder, path).checked().unwrap_err();
            assert_eq!(err.code, "bad_request", "{why}: {err:?}");
        }
    }
}
