//! The façade every shell calls (the CLI, the local HTTP API and the desktop app). Each method
//! is one user-level action, returns typed results, and leaves presentation to the shell.
//!
//! [`Api`] is defined here with the lookups every task shares (the configuration, this device,
//! a folder by path); its methods are grouped by user task in the submodules: adding folders
//! (`folders`, `operation` for hydrate and seed in the background), syncing (`sync`),
//! conflicts, held files (`quarantine`), ignore rules (`ignore`), devices, history and metrics
//! (`history`), settings, and webhook tests (`webhooks`). The requests and answers the HTTP
//! routes and the desktop IPC share are in [`control`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{AppConfig, FolderConfig};
use crate::device::Device;
use crate::folder;
use crate::paths::{self, Dirs};
use crate::{Error, Result};

mod conflicts;
pub mod control;
mod devices;
mod folders;
mod history;
mod ignore;
mod operation;
mod quarantine;
mod settings;
mod sync;
mod webhooks;

pub use conflicts::{ConflictBlob, ConflictOutcome, Side, MAX_BLOB_BYTES};
pub use devices::{DeviceView, FolderDevices, DEVICE_DEPTH};
pub use folders::{InitOutcome, InitRequest, HYDRATE_TIMEOUT};
pub use history::{Backoff, Metrics, ThrottleStatus};
pub use ignore::IgnoreCheck;
pub use operation::Operation;
pub use quarantine::FolderQuarantine;
pub use settings::EffectiveConfig;
pub use sync::{SyncedBy, UndoReport};

/// Deadline for checking that a remote is reachable when a folder is added or its remote changes.
pub const REMOTE_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's façade, bound to a set of dirs and an environment.
#[derive(Debug, Clone)]
pub struct Api {
    dirs: Dirs,
    env: BTreeMap<String, String>,
}

impl Api {
    /// Creates the façade from the process environment (`SUPERSONIC_*`, XDG, HOME).
    pub fn from_env(env: BTreeMap<String, String>) -> Result<Api> {
        Ok(Api { dirs: Dirs::from_env(&env)?, env })
    }

    /// Returns the dirs in use.
    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// Loads and resolves the whole configuration.
    pub fn load(&self) -> Result<(AppConfig, Vec<FolderConfig>)> {
        folder::resolve_all(&self.dirs, &self.env)
    }

    /// Returns this device's identity.
    pub fn device(&self, app: &AppConfig) -> Result<Device> {
        Device::load(&self.dirs, app.device.name.as_deref(), &self.env)
    }

    /// Returns the configured folders' paths (all, or the one at `path`).
    pub fn folder_paths(&self, path: Option<&Path>) -> Result<Vec<PathBuf>> {
        let (_, folders) = self.load()?;
        match path {
            Some(p) => Ok(vec![self.find_folder(&folders, p)?.path.clone()]),
            None => Ok(folders.into_iter().map(|f| f.path).collect()),
        }
    }

    /// Returns the configured folders, or the one at `path`.
    fn folders(&self, path: Option<&Path>) -> Result<Vec<FolderConfig>> {
        let (_, folders) = self.load()?;
        match path {
            Some(p) => Ok(vec![self.find_folder(&folders, p)?.clone()]),
            None => Ok(folders),
        }
    }

    /// Returns the configured folder at `path` among `folders`.
    fn find_folder<'a>(
        &self,
        folders: &'a [FolderConfig],
        path: &Path,
    ) -> Result<&'a FolderConfig> {
        let abs = paths::absolute(path);
        folders.iter().find(|f| f.path == abs).ok_or_else(|| {
            Error::Invalid(format!(
                "{} is not a synced folder (see `supersonic status`)",
                abs.display()
            ))
        })
    }

    /// Returns the folder of `file` among `folders` and the file's absolute path: `folder` when
    /// given (a relative `file` is inside it), else the longest configured folder containing it.
    fn folder_of<'a>(
        &self,
        folders: &'a [FolderConfig],
        folder: Option<&Path>,
        file: &Path,
    ) -> Result<(&'a FolderConfig, PathBuf)> {
        let abs = match folder {
            Some(f) if file.is_relative() => paths::absolute(f).join(file),
            _ => paths::absolute(file),
        };
        let cfg = match folder {
            Some(f) => self.find_folder(folders, f)?,
            None => folders
                .iter()
                .filter(|c| abs.starts_with(&c.path))
                .max_by_key(|c| c.path.as_os_str().len())
                .ok_or_else(|| {
                    Error::Invalid(format!("{} is not inside a synced folder", abs.display()))
                })?,
        };
        Ok((cfg, abs))
    }

    /// Runs the doctor on every folder, or the one at `path`.
    pub fn doctor(&self, path: Option<&Path>) -> Result<Vec<crate::doctor::Report>> {
        Ok(self.folders(path)?.iter().map(crate::doctor::examine).collect())
    }

    /// Returns the path of the history database.
    fn history_path(&self) -> PathBuf {
        self.dirs.data_dir.join(crate::history::HISTORY_FILE)
    }
}

/// Makes a local-path remote absolute (URLs and scp-style `host:path` stay as they are).
fn normalise_remote(url: &str) -> String {
    let is_url = url.contains("://");
    let is_scp =
        !url.starts_with('/') && url.find(':').is_some_and(|c| url.find('/').is_none_or(|s| c < s));
    if is_url || is_scp {
        url.to_string()
    } else {
        paths::absolute(Path::new(url)).display().to_string()
    }
}
