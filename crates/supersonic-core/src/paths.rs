//! Where things live: the config dir (app config), the data dir (embedded remotes, device id,
//! folder status), and safe file writes (temp file in the same directory, fsync, rename), which
//! every file the engine writes goes through so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directories the engine uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Holds `config.yaml`.
    pub config_dir: PathBuf,
    /// Holds the embedded remotes, device id and runtime status.
    pub data_dir: PathBuf,
}

impl Dirs {
    /// Resolves the dirs from the environment: `SUPERSONIC_CONFIG_DIR` / `SUPERSONIC_DATA_DIR`,
    /// else the XDG dirs, else `~/.config` / `~/.local/share`.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Dirs> {
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let pick = |own: &str, xdg: &str, fallback: &str| -> Result<PathBuf> {
            if let Some(dir) = env.get(own).filter(|d| !d.is_empty()) {
                return Ok(absolute(Path::new(dir)));
            }
            if let Some(dir) = env.get(xdg).filter(|d| !d.is_empty()) {
                return Ok(PathBuf::from(dir).join("supersonic-sync"));
            }
            match &home {
                Some(home) => Ok(home.join(fallback).join("supersonic-sync")),
                None => Err(Error::Invalid(format!("neither {own}, {xdg} nor HOME is set"))),
            }
        };
        Ok(Dirs {
            config_dir: pick("SUPERSONIC_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")?,
            data_dir: pick("SUPERSONIC_DATA_DIR", "XDG_DATA_HOME", ".local/share")?,
        })
    }

    /// Returns the app config file.
    pub fn app_config_file(&self) -> PathBuf {
        self.config_dir.join(crate::config::APP_CONFIG_FILE)
    }

    /// Returns the directory holding embedded (local bare) remotes.
    pub fn remotes_dir(&self) -> PathBuf {
        self.data_dir.join("remotes")
    }

    /// Returns the directory holding per-folder runtime status files.
    pub fn status_dir(&self) -> PathBuf {
        self.data_dir.join("status")
    }
}

/// Returns `path` made absolute against the current directory (without resolving symlinks).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes).map_err(|e| Error::io(&tmp.0, e))?;
    tmp.1.sync_all().map_err(|e| Error::io(&tmp.0, e))?;
    drop(tmp.1);
    std::fs::rename(&tmp.0, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp.0);
        Error::io(path, e)
    })
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    for _ in 0..16 {
        let name = format!(".supersonic-tmp-{:016x}", rand::random::<u64>());
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(dir, e)),
        }
    }
    Err(Error::Invalid(format!("cannot create a temp file in {}", dir.display())))
}

/// Returns a short stable id for a folder path (used for status files and embedded remotes).
pub fn folder_id(path: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(40)
        .collect();
    format!("{}-{}", if name.is_empty() { "folder" } else { &name }, &hex::encode(digest)[..10])
}
