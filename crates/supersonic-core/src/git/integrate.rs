//! Integration of the fetched branch: fast-forward, or an in-memory merge whose conflicting
//! paths are resolved by policy ([`resolve`](super::resolve)), then a safe checkout.

use git2::{MergeOptions, Oid};

use crate::conflicts::policy::{self, Policy};
use crate::{Error, Result};

use super::commit::{commit_device, trailers};
use super::resolve::MergeCtx;
use super::{GitRepo, Identity, Integration};

impl GitRepo {
    /// Applies the fetched remote branch: fast-forward when possible, else an in-memory merge
    /// that keeps both versions of every conflicting file, then a safe checkout.
    pub fn integrate(&self, identity: &Identity, policy: &Policy) -> Result<Integration> {
        let Some(remote) = self.remote_head()? else { return Ok(Integration::RemoteEmpty) };
        let local = self.head()?;
        let Some(local) = local else {
            let files = self.checkout_and_move(None, remote, "fast-forward")?;
            return Ok(Integration::FastForwarded { files });
        };
        if local == remote {
            return Ok(Integration::UpToDate);
        }
        let base = match self.repo.merge_base(local, remote) {
            Ok(base) => Some(base),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(Error::git("merge base")(e)),
        };
        if base == Some(remote) {
            return Ok(Integration::LocalAhead);
        }
        if base == Some(local) {
            let files = self.checkout_and_move(Some(local), remote, "fast-forward")?;
            return Ok(Integration::FastForwarded { files });
        }
        self.merge(local, remote, identity, policy)
    }

    pub(super) fn merge(
        &self,
        local: Oid,
        remote: Oid,
        identity: &Identity,
        policy: &Policy,
    ) -> Result<Integration> {
        let repo = &self.repo;
        let lc = repo.find_commit(local).map_err(Error::git("read local commit"))?;
        let rc = repo.find_commit(remote).map_err(Error::git("read remote commit"))?;
        let mut opts = MergeOptions::new();
        opts.find_renames(true);
        let mut index = repo.merge_commits(&lc, &rc, Some(&opts)).map_err(Error::git("merge"))?;
        let mut resolutions = Vec::new();
        if index.has_conflicts() {
            let conflicts: Vec<git2::IndexConflict> = index
                .conflicts()
                .map_err(Error::git("read conflicts"))?
                .collect::<std::result::Result<_, _>>()
                .map_err(Error::git("read conflicts"))?;
            let base = repo.merge_base(local, remote).ok();
            let ctx = MergeCtx {
                local_tip: local,
                remote_tip: remote,
                base,
                local_device: identity.device.name.clone(),
                remote_device: commit_device(&rc),
                policy,
            };
            for conflict in conflicts {
                resolutions.extend(self.resolve_conflict(&mut index, conflict, &ctx)?);
            }
            self.prune_copies(&mut index, &mut resolutions, policy.max_copies, &lc, &rc)?;
        }
        let tree_oid = index.write_tree_to(&self.repo).map_err(Error::git("write merge tree"))?;
        let tree = self.repo.find_tree(tree_oid).map_err(Error::git("read merge tree"))?;
        let mut message = format!("sync: merge remote changes on {}\n", identity.device.name);
        if !resolutions.is_empty() {
            message.push_str("\nConflicts:\n");
            for r in &resolutions {
                message.push_str(&format!("C {} ({}, {})\n", r.path, r.kind, r.strategy));
            }
        }
        message.push_str(&trailers(identity));
        for r in &resolutions {
            let json = serde_json::to_string(r).expect("a resolution serialises");
            message.push_str(&format!("{}{json}\n", policy::TRAILER));
        }
        let merge =
            self.write_commit(identity, false, &message, &tree, &[&lc, &rc], "commit merge")?;
        let files = self.checkout_and_move(Some(local), merge, "merge")?;
        Ok(Integration::Merged { commit: merge, files, conflicts: resolutions })
    }
}
