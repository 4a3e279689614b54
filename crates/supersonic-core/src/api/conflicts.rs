//! Conflicts: listing them, one with both versions' content for a preview, and the user's
//! decisions (resolve, undo an automatic resolution), each followed by a sync.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Api, SyncedBy};
use crate::config::FolderConfig;
use crate::conflicts::{self, Action, ConflictView};
use crate::git::objects::BlobRead;
use crate::git::{self, GitRepo};
use crate::history::{self, History, HistoryEvent};
use crate::paths;
use crate::{Error, Result};

/// Largest conflict version [`Api::conflict_blob`] returns. A camera photo or a screenshot fits;
/// the whole version is held in memory (and sent as base64 over IPC), so a video does not.
pub const MAX_BLOB_BYTES: u64 = 32 * 1024 * 1024;

/// Which version of a conflicting file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This device's version.
    Local,
    /// The other device's version.
    Remote,
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "local" => Ok(Side::Local),
            "remote" => Ok(Side::Remote),
            other => Err(format!("unknown side `{other}` (expected local or remote)")),
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Remote => "remote",
        })
    }
}

/// The content of one version of a conflicting file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictBlob {
    /// The folder.
    pub folder: PathBuf,
    /// The repo-relative file this version is (the path, or its conflict copy).
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// What a conflict action did.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// The conflict as it was before the action.
    pub conflict: ConflictView,
    /// How the result reaches the remote.
    pub synced: SyncedBy,
}

impl Api {
    /// Lists conflicts of one folder or all: pending ones, and with `include_auto` the
    /// automatic resolutions that can be undone.
    pub fn conflicts(
        &self,
        folder: Option<&Path>,
        include_auto: bool,
    ) -> Result<Vec<(PathBuf, ConflictView)>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let targets: Vec<&FolderConfig> = match folder {
            Some(p) => vec![self.find_folder(&folders, p)?],
            None => folders.iter().collect(),
        };
        let mut out = Vec::new();
        for cfg in targets {
            let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
            for c in conflicts::list(&repo, &device.name, include_auto)? {
                out.push((cfg.path.clone(), c));
            }
        }
        Ok(out)
    }

    /// Returns one conflict by id (or unique id prefix), with its folder.
    pub fn conflict(&self, id: &str) -> Result<(PathBuf, ConflictView)> {
        let mut found: Vec<(PathBuf, ConflictView)> = self
            .conflicts(None, true)?
            .into_iter()
            .filter(|(_, c)| c.id == id || (id.len() >= 4 && c.id.starts_with(id)))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Invalid(format!(
                "no conflict with id {id} (see `supersonic conflicts list`)"
            ))),
            _ => Err(Error::Invalid(format!("id {id} is ambiguous; give more characters"))),
        }
    }

    /// Returns the content of one side of a conflict (id or unique prefix), for a preview.
    ///
    /// A version on disk (the path, or the conflict copy) is read from there: without following
    /// a symbolic link, nor a linked directory that leads out of the folder, and only if it
    /// still holds the content the conflict lists (else `worktree_changed`: look again). A
    /// version only history holds (automatic and marker resolutions) is read from the
    /// repository. A deleted side, or one over [`MAX_BLOB_BYTES`], is an `invalid_request`.
    pub fn conflict_blob(&self, id: &str, side: Side) -> Result<ConflictBlob> {
        let (folder, c) = self.conflict(id)?;
        let version = match side {
            Side::Local => &c.local,
            Side::Remote => &c.remote,
        };
        if version.deleted {
            return Err(Error::Invalid(format!(
                "{} was deleted on the {side} side; there is no content to show",
                c.path
            )));
        }
        let too_large = |size: u64| {
            Error::Invalid(format!(
                "the {side} version of {} has {size} bytes; previews stop at {MAX_BLOB_BYTES}",
                c.path
            ))
        };
        if version.size > MAX_BLOB_BYTES {
            return Err(too_large(version.size));
        }
        let bytes = match (&version.file, &version.blob) {
            (Some(file), _) => read_in_folder(&folder, file, MAX_BLOB_BYTES)?,
            (None, Some(blob)) => match git::objects::read_blob(&folder, blob, MAX_BLOB_BYTES)? {
                BlobRead::Content(bytes) => bytes,
                BlobRead::TooLarge(size) => return Err(too_large(size)),
            },
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "no content is recorded for the {side} version of {}",
                    c.path
                )))
            }
        };
        let blob = git::objects::blob_id(&bytes)?;
        if version.blob.as_deref().is_some_and(|listed| listed != blob) {
            return Err(Error::WorktreeChanged(format!(
                "{} changed since the conflict was listed; look again",
                version.file.as_deref().unwrap_or(&c.path)
            )));
        }
        let name = version.file.clone().unwrap_or_else(|| c.path.clone());
        Ok(ConflictBlob { folder, name, bytes })
    }

    /// Applies the user's decision on a pending conflict, then syncs the folder (unless a
    /// running daemon holds it, which then syncs the change itself).
    pub fn resolve_conflict(&self, id: &str, action: Action) -> Result<ConflictOutcome> {
        self.conflict_action(id, |repo, device, id| conflicts::resolve(repo, device, id, action))
    }

    /// Undoes an automatic resolution (the other version comes back as a conflict copy).
    pub fn undo_conflict(&self, id: &str) -> Result<ConflictOutcome> {
        self.conflict_action(id, conflicts::undo)
    }

    fn conflict_action(
        &self,
        id: &str,
        act: impl FnOnce(&GitRepo, &str, &str) -> Result<ConflictView>,
    ) -> Result<ConflictOutcome> {
        let (folder, found) = self.conflict(id)?;
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let cfg = self.find_folder(&folders, &folder)?;
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        let conflict = act(&repo, &device.name, &found.id)?;
        drop(repo);
        if let Ok(h) = History::open(&self.history_path()) {
            let mut row = HistoryEvent::new(
                &folder.display().to_string(),
                history::CONFLICT_RESOLVED,
                chrono::Utc::now(),
            );
            row.reason = Some(format!("{} ({}) on {}", conflict.path, conflict.kind, device.name));
            let _ = h.record(&row);
        }
        let synced = self.synced_after_change(&folder)?;
        Ok(ConflictOutcome { folder, conflict, synced })
    }
}

/// Reads the file `rel` of the folder at `root`, at most `limit` bytes.
///
/// `rel` must be a plain relative path with no link on the way ([`paths::resolve_inside`]);
/// the file itself is opened without following a link (`O_NOFOLLOW`) nor blocking on a FIFO
/// (`O_NONBLOCK`), and must be a regular file.
fn read_in_folder(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = paths::resolve_inside(root, Path::new(rel))?;
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(flags.bits()).open(&path).map_err(
            |e| match e.raw_os_error() {
                Some(code) if code == nix::errno::Errno::ELOOP as i32 => {
                    Error::Invalid(format!("{rel} is a symbolic link; not read"))
                }
                _ => Error::io(&path, e),
            },
        )?;
    let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
    if !meta.is_file() {
        return Err(Error::Invalid(format!("{rel} is not a regular file; not read")));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::Invalid(format!("{rel} is over {limit} bytes; not read")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_folder_reads_plain_files_only_and_never_more_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("pics")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("pics/a.png"), b"12345").unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("link.png")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        assert_eq!(read_in_folder(&root, "pics/a.png", 5).unwrap(), b"12345");
        for (rel, limit, why) in [
            ("pics/a.png", 4, "it is over the limit"),
            ("link.png", 5, "the file is a link"),
            ("out/secret", 5, "a directory on the way is a link out of the folder"),
            ("../outside/secret", 5, "`..` leaves the folder"),
            ("/etc/hostname", 5, "an absolute path is not in the folder"),
            ("pics\0/a.png", 5, "NUL is refused"),
            ("fifo", 5, "a FIFO is not a file (and opening it does not wait for a writer)"),
            ("pics", 5, "a directory is not a file"),
        ] {
            let err = read_in_folder(&root, rel, limit).expect_err(why);
            assert_eq!(err.code(), "invalid_request", "{rel}: {why}: {err}");
        }
    }
}
