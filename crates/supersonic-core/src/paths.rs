//! Where things live: the config dir (app config), the data dir (embedded remotes, device id,
//! folder status), the names of the config files, and safe file writes (temp file in the same directory, fsync, rename), which
//! every file the engine writes goes through so a crash never leaves half a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Name of the app config file inside the config dir.
pub const APP_CONFIG_FILE: &str = "config.yaml";
/// Name of the per-folder config file at the root of a synced folder.
pub const FOLDER_CONFIG_FILE: &str = ".supersonic-sync.conf";

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
        self.config_dir.join(APP_CONFIG_FILE)
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

/// Returns `rel` when it is a safe path inside a synced folder: relative, made of plain names
/// only (no `..`, `.`, root or empty part), without NUL, and not inside `.git`.
///
/// Paths reach the engine from outside it — the UI, the HTTP API, the CLI, and commit trailers
/// written by other devices — so every one is checked before it is joined to a folder.
pub fn check_relative(rel: &Path) -> Result<&Path> {
    // Segment by segment on the bytes: `Path::components` would quietly drop `.` and `//`.
    let bytes = rel.as_os_str().as_encoded_bytes();
    let plain = !bytes.is_empty()
        && !bytes.contains(&0)
        && bytes.split(|&b| b == b'/').all(|segment| {
            !segment.is_empty()
                && segment != b"."
                && segment != b".."
                && !segment.eq_ignore_ascii_case(b".git")
        });
    if plain {
        Ok(rel)
    } else {
        Err(Error::Invalid(format!(
            "`{}` is not a valid path inside the folder (it must be relative, without `..`)",
            rel.display()
        )))
    }
}

/// Returns `root/rel` once `rel` passed [`check_relative`] and no directory on the way from
/// `root` to it is a symbolic link or a file, so reading, writing or deleting the result never
/// leaves the folder through a link. Directories that do not exist yet are fine (a write
/// creates them, as real directories).
///
/// The last component is not checked: callers decide what a link there means (conflict
/// actions refuse to read, replace or remove one). A link swapped in by another process
/// between this check and the use of the path is not caught.
pub fn resolve_inside(root: &Path, rel: &Path) -> Result<PathBuf> {
    let rel = check_relative(rel)?;
    let mut dir = root.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "`{}` goes through the symbolic link {}; only real directories of the \
                     folder are followed",
                    rel.display(),
                    dir.display()
                )))
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::Invalid(format!(
                    "`{}` goes through {}, which is not a directory",
                    rel.display(),
                    dir.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Ok(root.join(rel))
}

/// Returns `given` relative to the folder `root`: a relative path as it is, an absolute one
/// with `root` removed; checked with [`check_relative`] either way, without touching the
/// filesystem (so `root/../elsewhere` is refused, not resolved).
pub fn folder_relative(root: &Path, given: &Path) -> Result<PathBuf> {
    let rel = if given.is_absolute() {
        given.strip_prefix(root).map_err(|_| {
            Error::Invalid(format!("{} is outside {}", given.display(), root.display()))
        })?
    } else {
        given
    };
    // `dir/` names a directory (check-ignore); the slash is not part of the name.
    let bytes = rel.as_os_str().as_encoded_bytes();
    let trimmed = bytes.strip_suffix(b"/").unwrap_or(bytes);
    let rel = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(trimmed));
    check_relative(rel).map(Path::to_path_buf)
}

/// Returns whether the file `path` of the folder at `root` is a symbolic link that leads out
/// of the folder (or to something that is not a regular file). Files that travel with the
/// folder (`.syncignore`, `.gitignore`, `.supersonic-sync.conf`) can be links made by another
/// device; one that leads outside must not be read, since its lines would be quoted back in
/// rule explanations and error messages. A dangling link does not lead anywhere: false.
pub fn links_outside(root: &Path, path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            match (std::fs::canonicalize(root), std::fs::canonicalize(path)) {
                (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => false,
                (Ok(root), Ok(target)) => !(target.starts_with(&root) && target.is_file()),
                _ => true,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_relative_refuses_everything_that_is_not_a_plain_relative_path() {
        for bad in
            ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "./a", ".git/config", "a/.GIT/x"]
        {
            assert!(check_relative(Path::new(bad)).is_err(), "`{bad}` must be refused");
        }
        assert!(check_relative(Path::new("a\0b")).is_err(), "NUL is refused");
        for good in ["a", "a/b.txt", "dir with space/ü.md", "a..b", "..a", ".gitignore", "x/.git-x"]
        {
            assert!(check_relative(Path::new(good)).is_ok(), "`{good}` is a plain path");
        }
    }

    #[test]
    fn folder_relative_strips_the_root_lexically() {
        let root = Path::new("/srv/notes");
        assert_eq!(folder_relative(root, Path::new("/srv/notes/a/b")).unwrap(), Path::new("a/b"));
        assert_eq!(folder_relative(root, Path::new("a/b")).unwrap(), Path::new("a/b"));
        assert!(folder_relative(root, Path::new("/srv/notes/../etc/passwd")).is_err());
        assert!(folder_relative(root, Path::new("/etc/passwd")).is_err());
        assert!(folder_relative(root, Path::new("../notes2/x")).is_err());
        assert_eq!(folder_relative(root, Path::new("build/")).unwrap(), Path::new("build"));
    }

    #[test]
    fn resolve_inside_refuses_a_symlinked_or_file_parent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        assert_eq!(resolve_inside(&root, Path::new("real/a")).unwrap(), root.join("real/a"));
        assert_eq!(resolve_inside(&root, Path::new("new/dir/a")).unwrap(), root.join("new/dir/a"));
        assert_eq!(resolve_inside(&root, Path::new("link")).unwrap(), root.join("link"));
        assert!(resolve_inside(&root, Path::new("link/a")).is_err(), "through a link");
        assert!(resolve_inside(&root, Path::new("file/a")).is_err(), "through a file");
        assert!(resolve_inside(&root, Path::new("../outside/a")).is_err());
    }
}
