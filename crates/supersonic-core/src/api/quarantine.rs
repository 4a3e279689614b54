//! Files the secret guard holds back: listing them, and the user's decision on one (release it
//! on this device, or ignore it for good).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Api;
use crate::config::FolderConfig;
use crate::git::GitRepo;
use crate::paths;
use crate::Result;

/// The files one folder's secret guard holds back.
#[derive(Debug, Clone, Serialize)]
pub struct FolderQuarantine {
    /// The folder.
    pub folder: PathBuf,
    /// The held files.
    pub held: Vec<crate::status::HeldFile>,
}

impl Api {
    /// Returns, per folder, the files the secret guard holds back now.
    pub fn quarantine(&self, path: Option<&Path>) -> Result<Vec<FolderQuarantine>> {
        self.folders(path)?
            .into_iter()
            .map(|f| {
                let repo = GitRepo::open(&f.path, &f.branch, &f.remote)?;
                let held = repo
                    .held_back()?
                    .into_iter()
                    .map(|(path, reason)| crate::status::HeldFile { path, reason })
                    .collect();
                Ok(FolderQuarantine { folder: f.path, held })
            })
            .collect()
    }

    /// Releases `file` (inside a synced folder, or relative to `folder`) from the secret guard
    /// on this device: it is committed with the folder's next sync. Returns the folder.
    pub fn release_held(&self, folder: Option<&Path>, file: &Path) -> Result<PathBuf> {
        let (cfg, rel) = self.locate(folder, file)?;
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        repo.release_held(&rel.to_string_lossy())?;
        Ok(cfg.path)
    }

    /// Ignores `file` for good: appends an anchored rule for it to the folder's `.syncignore`
    /// (synced, so every device ignores it). Returns the folder.
    pub fn ignore_held(&self, folder: Option<&Path>, file: &Path) -> Result<PathBuf> {
        let (cfg, rel) = self.locate(folder, file)?;
        let path = cfg.path.join(crate::ignore::SYNCIGNORE_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let rule = format!("/{}", crate::ignore::escape_rule(&rel.to_string_lossy()));
        text.push_str(&format!("# held back as a secret, ignored by the user\n{rule}\n"));
        paths::write_atomic(&path, text.as_bytes())?;
        Ok(cfg.path)
    }

    /// Finds the folder of `file` and its plain relative path inside it.
    fn locate(&self, folder: Option<&Path>, file: &Path) -> Result<(FolderConfig, PathBuf)> {
        let (_, folders) = self.load()?;
        let (cfg, abs) = self.folder_of(&folders, folder, file)?;
        let rel = paths::folder_relative(&cfg.path, &abs)?;
        paths::resolve_inside(&cfg.path, &rel)?;
        Ok((cfg.clone(), rel))
    }
}
