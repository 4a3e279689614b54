//! Pending conflicts, derived from the repository (conflict copies, flagged marker files,
//! resolution records), and the user's operations on them: list, show, resolve, undo. Every
//! write goes through the safe-write path: a file is only replaced if it still holds the content
//! the user saw.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Strategy;
use crate::{Error, Result};

use super::naming::{conflict_copy_name, copy_device, original_of, unique_name};
use super::policy::Version;

/// Lines of git-style conflict markers.
const MARKER_START: &[u8] = b"<<<<<<< ";

/// Commits searched for resolution records.
pub const RECORD_WINDOW: usize = 2000;

/// Text shown for a side is capped at this size (the picker shows metadata beyond it).
pub const MAX_TEXT: usize = 1024 * 1024;

/// One side of a conflict as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideView {
    /// The device that made this version.
    pub device: String,
    /// When it was made.
    pub time: Option<DateTime<Utc>>,
    /// Size in bytes (0 when deleted).
    pub size: u64,
    /// Where this version is on disk now (the path or the copy), if it is.
    pub file: Option<String>,
    /// Whether this side deleted the file.
    pub deleted: bool,
    /// Blob id, when known.
    pub blob: Option<String>,
    /// The content, when it is UTF-8 text below [`MAX_TEXT`].
    pub text: Option<String>,
}

/// A conflict the user can act on: pending (needs a decision) or resolved automatically (can be
/// undone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictView {
    /// Stable id (the same on every device).
    pub id: String,
    /// The path both sides changed.
    pub path: String,
    /// `content`, `add/add`, `modify/delete`, `markers`, ...
    pub kind: String,
    /// `pending` or `auto`.
    pub status: String,
    /// The strategy that handled it.
    pub strategy: Strategy,
    /// The rule that chose the strategy.
    pub rule: String,
    /// Whether either side is binary.
    pub binary: bool,
    /// The conflict copy, for keep-both conflicts.
    pub copy: Option<String>,
    /// This device's version.
    pub local: SideView,
    /// The other device's version.
    pub remote: SideView,
    /// The common ancestor's text, when known.
    pub base: Option<String>,
    /// The merge commit that recorded it.
    pub commit: Option<String>,
    /// Extra information (fallbacks, pruning).
    pub note: Option<String>,
}

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// This device's version wins.
    TakeLocal,
    /// The other device's version wins.
    TakeRemote,
    /// Both stay, the copy under a plain name.
    KeepBoth,
    /// This merged text replaces both.
    Merged(Vec<u8>),
}

fn short_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// Returns a repo-relative path validated for writing: relative, no `..`, no NUL, not in
/// `.git` ([`crate::paths::check_relative`]).
pub fn checked_rel(rel: &str) -> Result<std::path::PathBuf> {
    crate::paths::check_relative(Path::new(rel)).map(Path::to_path_buf)
}

/// Returns the file at `rel` for a conflict action: checked, and reached without following a
/// symbolic link ([`crate::paths::resolve_inside`]), so no action reads, writes or removes
/// anything outside the folder.
fn full_path(root: &Path, rel: &str) -> Result<std::path::PathBuf> {
    crate::paths::resolve_inside(root, Path::new(rel))
}

/// Returns whether `rel` names something (a file, a directory or a link, even a dangling one).
fn taken(root: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(root.join(rel)).is_ok()
}

/// Reads `rel` for listing; a path the folder refuses (traversal, a link on the way, the file
/// itself a link) is None with a warning, so one crafted entry never hides the others.
fn read_listed(root: &Path, rel: &str) -> Result<Option<Option<Vec<u8>>>> {
    match read_opt(root, rel) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Invalid(why)) => {
            tracing::warn!("{}: not listing a conflict on `{rel}`: {why}", root.display());
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn read_opt(root: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let full = full_path(root, rel)?;
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::Invalid(format!("{rel} is a symbolic link; resolve it by hand")))
        }
        Ok(_) => std::fs::read(&full).map(Some).map_err(|e| Error::io(&full, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&full, e)),
    }
}

fn text_of(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_TEXT || bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes.to_vec()).ok()
}

fn blob_id(bytes: &[u8]) -> String {
    crate::git::objects::blob_id(bytes).unwrap_or_default()
}

/// Replaces `rel` with `new` only if it still holds `expected` (None: absent): the safe write.
pub fn safe_replace(root: &Path, rel: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<()> {
    let current = read_opt(root, rel)?;
    if current.as_deref() != expected {
        return Err(Error::WorktreeChanged(format!(
            "{rel} changed since it was read; nothing written, look again"
        )));
    }
    let full = full_path(root, rel)?;
    if let Some(dir) = full.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::paths::write_atomic(&full, new)
}

/// Removes `rel` only if it still holds `expected`.
pub fn safe_remove(root: &Path, rel: &str, expected: &[u8]) -> Result<()> {
    if read_opt(root, rel)?.as_deref() != Some(expected) {
        return Err(Error::WorktreeChanged(format!(
            "{rel} changed since it was read; nothing removed, look again"
        )));
    }
    let full = full_path(root, rel)?;
    std::fs::remove_file(&full).map_err(|e| Error::io(&full, e))
}

fn view_from_version(
    v: &Option<Version>,
    repo: &crate::git::GitRepo,
    file: Option<String>,
) -> SideView {
    match v {
        Some(v) => SideView {
            device: v.device.clone(),
            time: Some(v.time),
            size: v.size,
            file,
            deleted: false,
            blob: Some(v.blob.clone()),
            text: repo.blob_bytes(&v.blob).ok().and_then(|b| text_of(&b)),
        },
        None => SideView {
            device: String::new(),
            time: None,
            size: 0,
            file: None,
            deleted: true,
            blob: None,
            text: None,
        },
    }
}

/// Lists the conflicts of a folder: pending ones (conflict copies present, marker files not
/// yet cleaned) and, with `include_auto`, automatic resolutions that can still be undone.
pub fn list(
    repo: &crate::git::GitRepo,
    device: &str,
    include_auto: bool,
) -> Result<Vec<ConflictView>> {
    let root = repo.workdir().to_path_buf();
    let records = repo.conflict_records(RECORD_WINDOW)?;
    let mut out = Vec::new();
    for copy in repo.conflict_copies()? {
        let Some(Some(copy_bytes)) = read_listed(&root, &copy)? else { continue };
        let Some(original) = original_of(&copy) else { continue };
        let record = records.iter().find(|(_, _, r)| r.copy.as_deref() == Some(copy.as_str()));
        let Some(path_bytes) = read_listed(&root, &original)? else { continue };
        let copy_dev = copy_device(&copy).unwrap_or_default();
        let (copy_version, path_version) = match record {
            Some((_, _, r)) => {
                let copy_is_local =
                    r.local.as_ref().is_some_and(|l| r.result.as_deref() != Some(&l.blob));
                if copy_is_local {
                    (r.local.clone(), r.remote.clone())
                } else {
                    (r.remote.clone(), r.local.clone())
                }
            }
            None => (None, None),
        };
        let copy_side = SideView {
            device: copy_version.as_ref().map(|v| v.device.clone()).unwrap_or(copy_dev.clone()),
            time: copy_version.as_ref().map(|v| v.time),
            size: copy_bytes.len() as u64,
            file: Some(copy.clone()),
            deleted: false,
            blob: Some(blob_id(&copy_bytes)),
            text: text_of(&copy_bytes),
        };
        let path_side = SideView {
            device: path_version.as_ref().map(|v| v.device.clone()).unwrap_or_default(),
            time: path_version.as_ref().map(|v| v.time),
            size: path_bytes.as_ref().map_or(0, |b| b.len() as u64),
            file: path_bytes.as_ref().map(|_| original.clone()),
            deleted: path_bytes.is_none(),
            blob: path_bytes.as_deref().map(blob_id),
            text: path_bytes.as_deref().and_then(text_of),
        };
        let copy_is_local = copy_side.device == device;
        let (local, remote) =
            if copy_is_local { (copy_side, path_side) } else { (path_side, copy_side) };
        let r = record.map(|(_, _, r)| r);
        out.push(ConflictView {
            id: short_id(&["copy", &copy]),
            path: original.clone(),
            kind: r.map_or("content".into(), |r| r.kind.clone()),
            status: "pending".into(),
            strategy: Strategy::Ask,
            rule: r.map_or("default".into(), |r| r.rule.clone()),
            binary: r.is_some_and(|r| r.binary) || local.text.is_none() && !local.deleted,
            copy: Some(copy.clone()),
            local,
            remote,
            base: r
                .and_then(|r| r.base.as_ref())
                .and_then(|b| repo.blob_bytes(b).ok())
                .and_then(|b| text_of(&b)),
            commit: record.map(|(c, _, _)| c.to_string()),
            note: r.and_then(|r| r.note.clone()),
        });
    }
    for (commit, _, r) in &records {
        // Records come from commit messages any device (or anyone with push access) wrote.
        let Some(current) = read_listed(&root, &r.path)? else { continue };
        let current_blob = current.as_deref().map(blob_id);
        if current_blob != r.result {
            continue; // superseded by a later change: nothing left to decide or undo here
        }
        let status = match r.strategy {
            Strategy::Markers => {
                let has_markers = current
                    .as_deref()
                    .is_some_and(|b| b.split(|&c| c == b'\n').any(|l| l.starts_with(MARKER_START)));
                if !has_markers {
                    continue;
                }
                "pending"
            }
            Strategy::Ask => continue, // listed through its copy
            _ if include_auto => "auto",
            _ => continue,
        };
        // Records say local/remote from the merging device's side; turn them to this one's.
        let mut local = view_from_version(&r.local, repo, None);
        let mut remote = view_from_version(&r.remote, repo, None);
        if remote.device == device && local.device != device {
            std::mem::swap(&mut local, &mut remote);
        }
        let id_kind = if status == "pending" { "markers" } else { "auto" };
        let commit_s = commit.to_string();
        out.push(ConflictView {
            id: short_id(&[id_kind, &commit_s, &r.path]),
            path: r.path.clone(),
            kind: if status == "pending" { "markers".into() } else { r.kind.clone() },
            status: status.into(),
            strategy: r.strategy,
            rule: r.rule.clone(),
            binary: r.binary,
            copy: None,
            local,
            remote,
            base: r.base.as_ref().and_then(|b| repo.blob_bytes(b).ok()).and_then(|b| text_of(&b)),
            commit: Some(commit_s),
            note: r.note.clone(),
        });
    }
    Ok(out)
}

/// Returns the plain name a kept copy gets (`notes.sync-conflict-…-beta.md` → `notes-beta.md`).
pub fn plain_name(copy: &str, root: &Path) -> String {
    let original = original_of(copy).unwrap_or_else(|| copy.to_string());
    let device = copy_device(copy).unwrap_or_else(|| "other".into());
    let slash = original.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (stem, ext) = match original[slash..].rfind('.') {
        Some(0) | None => (original.as_str(), ""),
        Some(i) => original.split_at(slash + i),
    };
    unique_name(&format!("{stem}-{device}{ext}"), |n| taken(root, n))
}

/// Applies the user's decision on a pending conflict through safe writes. The running engine
/// (or the next `sync`) commits and pushes the result.
pub fn resolve(
    repo: &crate::git::GitRepo,
    device: &str,
    id: &str,
    action: Action,
) -> Result<ConflictView> {
    let root = repo.workdir().to_path_buf();
    let c = find(repo, device, id)?;
    if c.status != "pending" {
        return Err(Error::Invalid(format!(
            "conflict {id} was resolved automatically ({}); use `conflicts undo {id}`",
            c.strategy
        )));
    }
    let path_now = read_opt(&root, &c.path)?;
    match &c.copy {
        Some(copy) => {
            let copy_bytes = read_opt(&root, copy)?
                .ok_or_else(|| Error::WorktreeChanged(format!("{copy} disappeared; look again")))?;
            let copy_is_local = c.local.file.as_deref() == Some(copy.as_str());
            let take_copy = match &action {
                Action::TakeLocal => Some(copy_is_local),
                Action::TakeRemote => Some(!copy_is_local),
                _ => None,
            };
            match action {
                Action::TakeLocal | Action::TakeRemote => {
                    if take_copy == Some(true) {
                        safe_replace(&root, &c.path, path_now.as_deref(), &copy_bytes)?;
                    }
                    safe_remove(&root, copy, &copy_bytes)?;
                }
                Action::KeepBoth => {
                    let plain = plain_name(copy, &root);
                    safe_replace(&root, &plain, None, &copy_bytes)?;
                    safe_remove(&root, copy, &copy_bytes)?;
                }
                Action::Merged(bytes) => {
                    safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?;
                    safe_remove(&root, copy, &copy_bytes)?;
                }
            }
        }
        None => {
            // A marker file: both versions come from the recorded blobs.
            let blob = |side: &SideView| -> Result<Option<Vec<u8>>> {
                side.blob.as_deref().map(|b| repo.blob_bytes(b)).transpose()
            };
            match action {
                Action::TakeLocal | Action::TakeRemote => {
                    let side = if action == Action::TakeLocal { &c.local } else { &c.remote };
                    match blob(side)? {
                        Some(bytes) => safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?,
                        None => {
                            safe_remove(&root, &c.path, path_now.as_deref().unwrap_or_default())?
                        }
                    }
                }
                Action::KeepBoth => {
                    let (Some(l), Some(r)) = (blob(&c.local)?, blob(&c.remote)?) else {
                        return Err(Error::Invalid("one side was deleted; take a side".into()));
                    };
                    let time = c.remote.time.unwrap_or_else(Utc::now);
                    let copy =
                        unique_name(&conflict_copy_name(&c.path, time, &c.remote.device), |n| {
                            taken(&root, n)
                        });
                    safe_replace(&root, &copy, None, &r)?;
                    safe_replace(&root, &c.path, path_now.as_deref(), &l)?;
                }
                Action::Merged(bytes) => safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?,
            }
        }
    }
    Ok(c)
}

/// Undoes an automatic resolution: the version that lost comes back as a conflict copy (for
/// union, markers and command: this device's version at the path, the other as the copy), so the
/// conflict is pending again and nothing is lost either way.
pub fn undo(repo: &crate::git::GitRepo, device: &str, id: &str) -> Result<ConflictView> {
    let root = repo.workdir().to_path_buf();
    let c = find(repo, device, id)?;
    if c.status != "auto" {
        return Err(Error::Invalid(format!("conflict {id} was not resolved automatically")));
    }
    let current = read_opt(&root, &c.path)?;
    let current_blob = current.as_deref().map(blob_id);
    let blob = |side: &SideView| -> Result<Option<Vec<u8>>> {
        side.blob.as_deref().map(|b| repo.blob_bytes(b)).transpose()
    };
    match c.strategy {
        Strategy::Union | Strategy::Markers | Strategy::Command => {
            let (Some(l), Some(r)) = (blob(&c.local)?, blob(&c.remote)?) else {
                return Err(Error::Invalid("one side was deleted; nothing to split".into()));
            };
            let time = c.remote.time.unwrap_or_else(Utc::now);
            let copy = unique_name(&conflict_copy_name(&c.path, time, &c.remote.device), |n| {
                taken(&root, n)
            });
            safe_replace(&root, &copy, None, &r)?;
            safe_replace(&root, &c.path, current.as_deref(), &l)?;
        }
        _ => {
            let loser = if c.local.blob == current_blob { &c.remote } else { &c.local };
            match blob(loser)? {
                Some(bytes) => {
                    let time = loser.time.unwrap_or_else(Utc::now);
                    let copy =
                        unique_name(&conflict_copy_name(&c.path, time, &loser.device), |n| {
                            taken(&root, n)
                        });
                    safe_replace(&root, &copy, None, &bytes)?;
                }
                // The deletion lost: apply it (the kept version stays in history).
                None => safe_remove(&root, &c.path, current.as_deref().unwrap_or_default())?,
            }
        }
    }
    Ok(c)
}

/// Finds a conflict (pending or automatic) by id.
pub fn find(repo: &crate::git::GitRepo, device: &str, id: &str) -> Result<ConflictView> {
    list(repo, device, true)?
        .into_iter()
        .find(|c| c.id == id || (id.len() >= 4 && c.id.starts_with(id)))
        .ok_or_else(|| {
            Error::Invalid(format!("no conflict with id {id} (see `supersonic conflicts list`)"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_writes_never_go_through_a_link_or_out_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("known.txt"), b"known").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        std::os::unix::fs::symlink(outside.join("known.txt"), root.join("link.txt")).unwrap();
        for rel in ["evil/new.txt", "../outside/new.txt", "/tmp/new.txt", ".git/new.txt"] {
            assert!(safe_replace(&root, rel, None, b"x").is_err(), "write to {rel}");
        }
        for rel in ["evil/known.txt", "../outside/known.txt", "link.txt"] {
            assert!(safe_remove(&root, rel, b"known").is_err(), "remove {rel}");
            assert!(safe_replace(&root, rel, Some(b"known"), b"x").is_err(), "replace {rel}");
            assert!(read_opt(&root, rel).is_err(), "read {rel}");
        }
        let left: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "nothing created outside");
        assert_eq!(std::fs::read(outside.join("known.txt")).unwrap(), b"known");
        // Inside the folder, new directories are made as real ones.
        safe_replace(&root, "new/dir/a.txt", None, b"a").unwrap();
        assert_eq!(std::fs::read(root.join("new/dir/a.txt")).unwrap(), b"a");
        assert!(taken(&root, "link.txt") && !taken(&root, "free.txt"), "links count as taken");
    }
}
