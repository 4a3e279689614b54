//! Devices: the per-device sync records under [`DEVICE_REFS`](super::DEVICE_REFS) and the
//! devices the folder's history knows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::Signature;

use crate::{Error, Result};

use super::commit::{commit_device, commit_time, trailers};
use super::process::run_network;
use super::transport::remote_error;
use super::{GitRepo, Identity, DEVICE_REFS, REMOTE, REMOTE_DEVICE_REFS};

impl GitRepo {
    /// Records that this device synced to HEAD at `now`: points its device ref at a new tiny
    /// commit (empty tree, no parent, the device trailers and a `Synced-To:` line) and pushes
    /// that ref alone (forced: only this device writes it) within `timeout`. Nothing lands on
    /// the branch; each record replaces the last, so the remote holds one small commit per
    /// device.
    pub fn publish_seen(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Result<()> {
        let head = self.head()?.map(|h| h.to_string()).unwrap_or_default();
        let tree = self
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .and_then(|oid| self.repo.find_tree(oid))
            .map_err(Error::git("write the empty tree"))?;
        let base = self.signature(identity)?;
        let time = git2::Time::new(now.timestamp(), 0);
        let sig = Signature::new(
            base.name().unwrap_or("supersonic"),
            base.email().unwrap_or("supersonic@supersonic-sync.invalid"),
            &time,
        )
        .map_err(Error::git("make signature"))?;
        let message = format!(
            "supersonic: {} synced\n\nSynced-To: {head}{}",
            identity.device.name,
            trailers(identity)
        );
        let name = format!("{DEVICE_REFS}{}", identity.device.id);
        let commit = self
            .repo
            .commit(None, &sig, &sig, &message, &tree, &[])
            .map_err(Error::git("record the last sync"))?;
        self.repo
            .reference(&name, commit, true, "supersonic: synced")
            .map_err(Error::git("record the last sync"))?;
        let refspec = format!("+{name}:{name}");
        let out = run_network(
            "push",
            &self.remote_url,
            Some(&self.workdir),
            &["push", "--porcelain", "--no-verify", REMOTE, &refspec],
            timeout,
        )?;
        if out.success {
            // Our own record counts as seen on the remote too.
            let _ = self.repo.reference(
                &format!("{REMOTE_DEVICE_REFS}{}", identity.device.id),
                commit,
                true,
                "supersonic: synced",
            );
            Ok(())
        } else {
            Err(remote_error("push", &self.remote_url, &format!("{}\n{}", out.stderr, out.stdout)))
        }
    }

    /// Returns every device's last recorded sync, by device id: from the fetched records, and
    /// this device's own local one.
    pub fn last_syncs(&self) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        let mut out: Vec<(String, String, DateTime<Utc>)> = Vec::new();
        for glob in [format!("{REMOTE_DEVICE_REFS}*"), format!("{DEVICE_REFS}*")] {
            let refs = self.repo.references_glob(&glob).map_err(Error::git("list device refs"))?;
            for r in refs.flatten() {
                let Ok(c) = r.peel_to_commit() else { continue };
                let msg = c.message().unwrap_or_default();
                let Some(id) = msg
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("Sync-Device-Id: "))
                    .map(|v| v.trim().to_string())
                else {
                    continue;
                };
                let when = commit_time(&c);
                match out.iter_mut().find(|(i, _, _)| *i == id) {
                    Some(seen) => seen.2 = seen.2.max(when),
                    None => out.push((id, commit_device(&c), when)),
                }
            }
        }
        Ok(out)
    }

    /// Returns every device seen in the last `depth` commits of this branch and the remote's
    /// (by their `Sync-Device-Id` trailer; commits made without Supersonic count under their
    /// author), most recently active first.
    pub fn devices(&self, depth: usize) -> Result<Vec<DeviceSeen>> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TIME).map_err(Error::git("revwalk"))?;
        let mut tips = 0;
        for tip in [self.head()?, self.remote_head()?].into_iter().flatten() {
            walk.push(tip).map_err(Error::git("revwalk"))?;
            tips += 1;
        }
        if tips == 0 {
            return Ok(Vec::new());
        }
        let mut seen: Vec<DeviceSeen> = Vec::new();
        for oid in walk.take(depth).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let msg = c.message().unwrap_or_default();
            let trailer = |key: &str| {
                msg.lines().rev().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
            };
            let id = trailer("Sync-Device-Id: ");
            let name = commit_device(&c);
            let when = commit_time(&c);
            let key = |d: &DeviceSeen| match (&id, &d.id) {
                (Some(a), Some(b)) => a == b,
                (None, None) => d.name == name,
                _ => false,
            };
            match seen.iter_mut().find(|d| key(d)) {
                Some(d) => {
                    d.commits += 1;
                    d.last_commit = d.last_commit.max(when);
                    d.first_commit = d.first_commit.min(when);
                }
                None => seen.push(DeviceSeen {
                    id: id.clone(),
                    name,
                    commits: 1,
                    last_commit: when,
                    first_commit: when,
                    via_supersonic: id.is_some(),
                    last_sync: None,
                }),
            }
        }
        for (id, name, when) in self.last_syncs()? {
            match seen.iter_mut().find(|d| d.id.as_deref() == Some(id.as_str())) {
                Some(d) => d.last_sync = Some(when),
                // A device that only receives: seen syncing, never committing (in this depth).
                None => seen.push(DeviceSeen {
                    id: Some(id),
                    name,
                    commits: 0,
                    last_commit: when,
                    first_commit: when,
                    via_supersonic: true,
                    last_sync: Some(when),
                }),
            }
        }
        seen.sort_by_key(|d| {
            std::cmp::Reverse(d.last_sync.unwrap_or(d.last_commit).max(d.last_commit))
        });
        Ok(seen)
    }

    /// Returns this device's commits (by `Sync-Device-Id` trailer) among the last `depth`
    /// commits from HEAD, newest first, with their time and number of files in the body.
    pub fn own_commits(
        &self,
        device_id: &str,
        depth: usize,
    ) -> Result<Vec<(String, DateTime<Utc>, usize)>> {
        let Some(head) = self.head()? else { return Ok(Vec::new()) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.set_sorting(git2::Sort::TIME).map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        let trailer = format!("Sync-Device-Id: {device_id}");
        let mut out = Vec::new();
        for oid in walk.take(depth).map_while(std::result::Result::ok) {
            let Ok(c) = self.repo.find_commit(oid) else { continue };
            let msg = c.message().unwrap_or_default();
            if c.parent_count() < 2 && msg.lines().any(|l| l == trailer) {
                let files = msg
                    .lines()
                    .filter(|l| l.len() > 2 && l.as_bytes()[1] == b' ' && "AMDR".contains(&l[..1]))
                    .count();
                out.push((oid.to_string(), commit_time(&c), files));
            }
        }
        Ok(out)
    }
}

/// A device as the folder's history knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSeen {
    /// Its stable id (`Sync-Device-Id`), when it synced with Supersonic.
    pub id: Option<String>,
    /// Its name in its latest commit (or the commit author).
    pub name: String,
    /// Commits it made.
    pub commits: usize,
    /// Its latest commit.
    pub last_commit: DateTime<Utc>,
    /// Its first commit (within the walked history).
    pub first_commit: DateTime<Utc>,
    /// Whether its commits carry Supersonic's trailers (else: edits made with git directly).
    pub via_supersonic: bool,
    /// When it last synced, as it recorded (see [`DEVICE_REFS`]); a device that only receives
    /// has this recent while its `last_commit` ages. `None` for devices that never recorded it
    /// (older versions, plain git). With `commits: 0`, `last_commit` is this time too.
    pub last_sync: Option<DateTime<Utc>>,
}
