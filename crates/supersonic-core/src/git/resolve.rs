//! Resolving conflicting paths during a merge by the folder's policy (keep both, newest, local,
//! remote, union, markers, external command), and the records of those decisions.

use std::path::Path;

use chrono::{DateTime, Utc};
use git2::{IndexEntry, Oid};

use crate::config::Strategy;
use crate::conflicts::policy::{self, Policy, Resolution, Version};
use crate::conflicts::{command, merge, naming};
use crate::{Error, Result};

use super::commit::{commit_device, commit_time};
use super::staging::bytes_to_path;
use super::{GitRepo, NAME_MASK, STAGE_MASK};

impl GitRepo {
    /// Resolves one conflicted path in the merge index by the path's policy, and returns what
    /// was decided (recorded in the merge commit, so any device can show and undo it).
    pub(super) fn resolve_conflict(
        &self,
        index: &mut git2::Index,
        conflict: git2::IndexConflict,
        ctx: &MergeCtx<'_>,
    ) -> Result<Vec<Resolution>> {
        for entry in [&conflict.ancestor, &conflict.our, &conflict.their].into_iter().flatten() {
            let _ = index.conflict_remove(&bytes_to_path(&entry.path));
        }
        let base_blob = conflict.ancestor.as_ref().map(|e| e.id.to_string());
        let ours = conflict.our;
        let theirs = conflict.their;
        let mut out = Vec::new();
        match (ours, theirs) {
            (Some(ours), Some(theirs)) if ours.path == theirs.path => {
                let path = String::from_utf8_lossy(&ours.path).into_owned();
                let local =
                    self.version(&ours, ctx.local_tip, ctx.base, &path, &ctx.local_device)?;
                let remote =
                    self.version(&theirs, ctx.remote_tip, ctx.base, &path, &ctx.remote_device)?;
                let binary = self.is_binary(ours.id)? || self.is_binary(theirs.id)?;
                let kind = if conflict.ancestor.is_some() { "content" } else { "add/add" };
                let (strategy, rule) = ctx.policy.decide(&path);
                let mut r = Resolution {
                    path: path.clone(),
                    kind: kind.into(),
                    binary,
                    strategy,
                    rule,
                    copy: None,
                    local: Some(local.clone()),
                    remote: Some(remote.clone()),
                    base: base_blob,
                    result: None,
                    note: None,
                };
                let local_newer = local.time >= remote.time;
                let fallback = |r: &mut Resolution, why: &str| {
                    r.note = Some(format!("{} fell back to ask: {why}", r.strategy));
                    r.strategy = Strategy::Ask;
                };
                if matches!(strategy, Strategy::Union | Strategy::Markers) && binary {
                    fallback(&mut r, "binary file");
                }
                match r.strategy {
                    Strategy::Union => {
                        match self.union_merge(&conflict.ancestor, &ours, &theirs, &path)? {
                            Some(blob) => {
                                let mut merged = dup(&ours);
                                merged.id = blob;
                                index.add(&stage0(merged, None)).map_err(Error::git("union"))?;
                                r.result = Some(blob.to_string());
                            }
                            None => fallback(&mut r, "keys collide or a side does not parse"),
                        }
                    }
                    Strategy::Markers => {
                        let base = self.ancestor_or_empty(&conflict.ancestor, &ours)?;
                        let mut fo = git2::MergeFileOptions::new();
                        fo.our_label(format!("local ({})", local.device));
                        fo.their_label(format!("remote ({})", remote.device));
                        fo.ancestor_label("base");
                        let merged = self
                            .repo
                            .merge_file_from_index(&base, &ours, &theirs, Some(&mut fo))
                            .map_err(Error::git("merge file"))?;
                        let blob =
                            self.repo.blob(merged.content()).map_err(Error::git("write blob"))?;
                        let mut entry = dup(&ours);
                        entry.id = blob;
                        index.add(&stage0(entry, None)).map_err(Error::git("markers"))?;
                        r.result = Some(blob.to_string());
                        if merged.is_automergeable() {
                            r.note = Some("merged cleanly; no markers needed".into());
                        }
                    }
                    Strategy::Command => {
                        let command = ctx.policy.command_for(&path).unwrap_or_default();
                        match self.command_merge(
                            command,
                            &conflict.ancestor,
                            &ours,
                            &theirs,
                            &path,
                            ctx.policy,
                        )? {
                            Ok(blob) => {
                                let mut entry = dup(&ours);
                                entry.id = blob;
                                index.add(&stage0(entry, None)).map_err(Error::git("command"))?;
                                r.result = Some(blob.to_string());
                                r.note = Some(format!("merged by `{}`", command[0]));
                            }
                            Err(why) => {
                                tracing::warn!(
                                    "{}: merge command for {path} failed, keeping both \
                                     versions: {why}",
                                    self.workdir.display()
                                );
                                fallback(&mut r, &why);
                            }
                        }
                    }
                    _ => {}
                }
                match r.strategy {
                    Strategy::Newest | Strategy::Local | Strategy::Remote => {
                        let take_local = match r.strategy {
                            Strategy::Local => true,
                            Strategy::Remote => false,
                            _ => local_newer,
                        };
                        let winner = if take_local { ours } else { theirs };
                        r.result = Some(winner.id.to_string());
                        index.add(&stage0(winner, None)).map_err(Error::git("resolve"))?;
                    }
                    Strategy::Ask => {
                        let (winner, loser, loser_v) = if local_newer {
                            (ours, theirs, &remote)
                        } else {
                            (theirs, ours, &local)
                        };
                        r.result = Some(winner.id.to_string());
                        index.add(&stage0(winner, None)).map_err(Error::git("resolve"))?;
                        if naming::is_conflict_copy(&path) {
                            // Never a copy of a copy: the older one stays in history.
                            r.note = Some(
                                "a conflict copy conflicted: the newer version kept it, \
                                           the older is in history"
                                    .into(),
                            );
                        } else {
                            let copy = self.copy_name(index, &path, loser_v);
                            index
                                .add(&stage0(loser, Some(copy.as_bytes())))
                                .map_err(Error::git("keep conflict copy"))?;
                            r.copy = Some(copy);
                        }
                    }
                    Strategy::Union | Strategy::Markers | Strategy::Command => {}
                }
                out.push(r);
            }
            (ours, theirs) => {
                // Modify/delete (either way), renames to different names, file vs directory.
                let renamed = matches!((&ours, &theirs), (Some(o), Some(t)) if o.path != t.path);
                let path = [&ours, &theirs, &conflict.ancestor]
                    .into_iter()
                    .flatten()
                    .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                    .next()
                    .unwrap_or_default();
                let (strategy, rule) = ctx.policy.decide(&path);
                let local = match &ours {
                    Some(e) => {
                        Some(self.version(e, ctx.local_tip, ctx.base, &path, &ctx.local_device)?)
                    }
                    None => None,
                };
                let remote = match &theirs {
                    Some(e) => Some(self.version(
                        e,
                        ctx.remote_tip,
                        ctx.base,
                        &path,
                        &ctx.remote_device,
                    )?),
                    None => None,
                };
                let kind = if renamed {
                    "rename/rename"
                } else if ours.is_none() {
                    "delete/modify"
                } else {
                    "modify/delete"
                };
                // Which sides survive: `local`/`remote` may pick the deletion; everything else
                // keeps every modification (nothing is lost by default).
                let keep: Vec<(IndexEntry, &Version)> = match (strategy, renamed) {
                    (Strategy::Local, false) => {
                        ours.iter().zip(local.iter()).map(|(e, v)| (dup(e), v)).collect()
                    }
                    (Strategy::Remote, false) => {
                        theirs.iter().zip(remote.iter()).map(|(e, v)| (dup(e), v)).collect()
                    }
                    _ => ours
                        .iter()
                        .zip(local.iter())
                        .chain(theirs.iter().zip(remote.iter()))
                        .map(|(e, v)| (dup(e), v))
                        .collect(),
                };
                let mut r = Resolution {
                    path: path.clone(),
                    kind: kind.into(),
                    binary: false,
                    strategy: if matches!(strategy, Strategy::Local | Strategy::Remote) && !renamed
                    {
                        strategy
                    } else {
                        Strategy::Newest
                    },
                    rule,
                    copy: None,
                    local: local.clone(),
                    remote: remote.clone(),
                    base: base_blob,
                    result: None,
                    note: Some(if renamed {
                        "both sides renamed the file: each name keeps its side's version".into()
                    } else if keep.is_empty() {
                        "the deletion was kept; the modification is in history".into()
                    } else {
                        "the modification was kept".into()
                    }),
                };
                for (entry, v) in keep {
                    let entry_path = String::from_utf8_lossy(&entry.path).into_owned();
                    if occupied(index, &entry.path) {
                        // A file where the other side now has a directory: keep it beside.
                        let copy = self.copy_name(index, &entry_path, v);
                        index
                            .add(&stage0(entry, Some(copy.as_bytes())))
                            .map_err(Error::git("keep conflict copy"))?;
                        r.kind = "file/directory".into();
                        r.strategy = Strategy::Ask;
                        r.copy = Some(copy);
                    } else {
                        r.result = Some(entry.id.to_string());
                        index.add(&stage0(entry, None)).map_err(Error::git("resolve conflict"))?;
                    }
                }
                out.push(r);
            }
        }
        Ok(out)
    }

    pub(super) fn copy_name(&self, index: &git2::Index, path: &str, v: &Version) -> String {
        let name = naming::conflict_copy_name(path, v.time, &v.device);
        naming::unique_name(&name, |n| {
            index.get_path(Path::new(n), 0).is_some() || self.workdir.join(n).exists()
        })
    }

    /// Describes one side's version of `path`: blob, size, and who changed it last and when
    /// (the newest commit on that side since the merge base that changed the path).
    pub(super) fn version(
        &self,
        entry: &IndexEntry,
        tip: Oid,
        base: Option<Oid>,
        path: &str,
        fallback_device: &str,
    ) -> Result<Version> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(tip).map_err(Error::git("revwalk"))?;
        if let Some(base) = base {
            let _ = walk.hide(base);
        }
        let p = Path::new(path);
        let mut found = None;
        for oid in walk.take(1000).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let here = c.tree().ok().and_then(|t| t.get_path(p).ok()).map(|e| e.id());
            let before = c
                .parent(0)
                .ok()
                .and_then(|pc| pc.tree().ok())
                .and_then(|t| t.get_path(p).ok())
                .map(|e| e.id());
            if here != before {
                found = Some((commit_time(&c), commit_device(&c)));
                break;
            }
        }
        let (time, device) = match found {
            Some(f) => f,
            None => {
                let c = self.repo.find_commit(tip).map_err(Error::git("read tip"))?;
                (commit_time(&c), fallback_device.to_string())
            }
        };
        Ok(Version { blob: entry.id.to_string(), device, time, size: u64::from(entry.file_size) })
    }

    pub(super) fn is_binary(&self, blob: Oid) -> Result<bool> {
        Ok(self.repo.find_blob(blob).map_err(Error::git("read blob"))?.is_binary())
    }

    pub(super) fn ancestor_or_empty(
        &self,
        ancestor: &Option<IndexEntry>,
        like: &IndexEntry,
    ) -> Result<IndexEntry> {
        match ancestor {
            Some(a) => Ok(dup(a)),
            None => {
                let mut e = dup(like);
                e.id = self.repo.blob(b"").map_err(Error::git("write blob"))?;
                e.file_size = 0;
                Ok(e)
            }
        }
    }

    /// Runs the rule's merge `command` on the three versions (see
    /// [`command::run_merge_command`]) and returns the merged blob, or why it failed (the
    /// caller falls back to `ask`). Errors reading or writing the repository are the outer
    /// `Err`.
    pub(super) fn command_merge(
        &self,
        command: &[String],
        ancestor: &Option<IndexEntry>,
        ours: &IndexEntry,
        theirs: &IndexEntry,
        path: &str,
        policy: &Policy,
    ) -> Result<std::result::Result<Oid, String>> {
        let read = |oid: Oid| -> Result<Vec<u8>> {
            Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
        };
        let base = match ancestor {
            Some(a) => read(a.id)?,
            None => Vec::new(),
        };
        let (local, remote) = (read(ours.id)?, read(theirs.id)?);
        let input = command::MergeInput { base: &base, local: &local, remote: &remote, path };
        let merged =
            command::run_merge_command(command, input, &self.workdir, policy.command_timeout);
        match merged {
            Ok(bytes) => Ok(Ok(self.repo.blob(&bytes).map_err(Error::git("write blob"))?)),
            Err(why) => Ok(Err(why)),
        }
    }

    /// Returns the union of both sides as a new blob, or None when the union is not safe: JSON
    /// whose keys truly collide or that does not parse.
    pub(super) fn union_merge(
        &self,
        ancestor: &Option<IndexEntry>,
        ours: &IndexEntry,
        theirs: &IndexEntry,
        path: &str,
    ) -> Result<Option<Oid>> {
        let read = |oid: Oid| -> Result<Vec<u8>> {
            Ok(self.repo.find_blob(oid).map_err(Error::git("read blob"))?.content().to_vec())
        };
        let o = read(ours.id)?;
        let t = read(theirs.id)?;
        let b = match ancestor {
            Some(a) => Some(read(a.id)?),
            None => None,
        };
        let merged = if path.to_ascii_lowercase().ends_with(".json") {
            match merge::merge_json_bytes(b.as_deref(), &o, &t) {
                Some(bytes) => bytes,
                None => return Ok(None),
            }
        } else {
            let base = self.ancestor_or_empty(ancestor, ours)?;
            let mut fo = git2::MergeFileOptions::new();
            fo.favor(git2::FileFavor::Union);
            let result = self
                .repo
                .merge_file_from_index(&base, ours, theirs, Some(&mut fo))
                .map_err(Error::git("union merge"))?;
            merge::drop_union_duplicates(result.content(), &o, &t)
        };
        Ok(Some(self.repo.blob(&merged).map_err(Error::git("write blob"))?))
    }

    /// Keeps at most `max` conflict copies per file: the oldest go, but only when their content
    /// is already in history (committed on either side), so pruning loses nothing.
    pub(super) fn prune_copies(
        &self,
        index: &mut git2::Index,
        resolutions: &mut [Resolution],
        max: usize,
        lc: &git2::Commit,
        rc: &git2::Commit,
    ) -> Result<()> {
        let trees = [lc.tree().ok(), rc.tree().ok()];
        for r in resolutions.iter_mut().filter(|r| r.copy.is_some()) {
            let mut copies: Vec<String> = index
                .iter()
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .filter(|p| naming::original_of(p).as_deref() == Some(r.path.as_str()))
                .collect();
            if copies.len() <= max {
                continue;
            }
            copies.sort_by_key(|p| naming::copy_timestamp(p));
            let excess = copies.len() - max;
            for old in copies.into_iter().take(excess) {
                let blob = index.get_path(Path::new(&old), 0).map(|e| e.id);
                let in_history = trees.iter().flatten().any(|t| {
                    t.get_path(Path::new(&old)).ok().map(|e| e.id()) == blob && blob.is_some()
                });
                if in_history {
                    index.remove_path(Path::new(&old)).map_err(Error::git("prune copy"))?;
                    let note = format!("pruned old copy {old} (in history)");
                    r.note = Some(match r.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note,
                    });
                }
            }
        }
        Ok(())
    }

    /// Returns the conflict resolutions recorded in the last `max_commits` commits reachable
    /// from HEAD (newest first), with the merge commit and its time.
    pub fn conflict_records(
        &self,
        max_commits: usize,
    ) -> Result<Vec<(Oid, DateTime<Utc>, Resolution)>> {
        let Some(head) = self.head()? else { return Ok(Vec::new()) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        let mut out = Vec::new();
        for oid in walk.take(max_commits).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            if c.parent_count() < 2 {
                continue;
            }
            for line in c.message_bytes().split(|&b| b == b'\n') {
                let Some(json) = line.strip_prefix(policy::TRAILER.as_bytes()) else { continue };
                if let Ok(r) = serde_json::from_slice::<Resolution>(json) {
                    out.push((oid, commit_time(&c), r));
                }
            }
        }
        Ok(out)
    }

    /// Returns every tracked conflict copy (from the index: no work-tree scan).
    pub fn conflict_copies(&self) -> Result<Vec<String>> {
        let index = self.repo.index().map_err(Error::git("open index"))?;
        Ok(index
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .filter(|p| naming::is_conflict_copy(p))
            .collect())
    }
}

pub(super) struct MergeCtx<'a> {
    pub(super) local_tip: Oid,
    pub(super) remote_tip: Oid,
    pub(super) base: Option<Oid>,
    pub(super) local_device: String,
    pub(super) remote_device: String,
    pub(super) policy: &'a Policy,
}

/// Returns whether adding a file at `path` would clash with a resolved entry: a file under
/// `path/` or a file at one of `path`'s parents.
pub(super) fn occupied(index: &git2::Index, path: &[u8]) -> bool {
    let under = index.iter().any(|e| {
        e.flags & STAGE_MASK == 0
            && e.path.starts_with(path)
            && e.path.get(path.len()) == Some(&b'/')
    });
    if under {
        return true;
    }
    let mut parent = path;
    while let Some(i) = parent.iter().rposition(|&b| b == b'/') {
        parent = &parent[..i];
        if index.get_path(&bytes_to_path(parent), 0).is_some() {
            return true;
        }
    }
    false
}

/// Returns a copy of an index entry (git2's `IndexEntry` is not `Clone`).
pub(super) fn dup(e: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: e.ctime,
        mtime: e.mtime,
        dev: e.dev,
        ino: e.ino,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        file_size: e.file_size,
        id: e.id,
        flags: e.flags,
        flags_extended: e.flags_extended,
        path: e.path.clone(),
    }
}

pub(super) fn stage0(mut entry: IndexEntry, path: Option<&[u8]>) -> IndexEntry {
    if let Some(path) = path {
        entry.path = path.to_vec();
    }
    let len = entry.path.len().min(NAME_MASK as usize) as u16;
    entry.flags = (entry.flags & !(STAGE_MASK | NAME_MASK)) | len;
    entry
}
