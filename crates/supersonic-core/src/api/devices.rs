//! The devices each folder's history shows, this one marked.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Api;
use crate::git::{self, GitRepo};
use crate::Result;

/// How many commits the devices view walks per folder.
pub const DEVICE_DEPTH: usize = 100_000;

/// The devices one folder's history shows.
#[derive(Debug, Clone, Serialize)]
pub struct FolderDevices {
    /// The folder.
    pub folder: PathBuf,
    /// Its devices, most recently active first.
    pub devices: Vec<DeviceView>,
}

/// A device, and whether it is this one.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// What the history shows of it.
    #[serde(flatten)]
    pub seen: git::DeviceSeen,
    /// Whether it is the device this runs on.
    pub this_device: bool,
}

impl Api {
    /// Returns, per folder, every device its history shows (the last [`DEVICE_DEPTH`] commits
    /// of this branch and the remote's), with this device marked.
    pub fn devices(&self, path: Option<&Path>) -> Result<Vec<FolderDevices>> {
        let (app, _) = self.load()?;
        let me = self.device(&app)?;
        self.folders(path)?
            .into_iter()
            .map(|f| {
                let repo = GitRepo::open(&f.path, &f.branch, &f.remote)?;
                let devices = repo
                    .devices(DEVICE_DEPTH)?
                    .into_iter()
                    .map(|d| DeviceView { this_device: d.id.as_deref() == Some(&me.id), seen: d })
                    .collect();
                Ok(FolderDevices { folder: f.path, devices })
            })
            .collect()
    }
}
