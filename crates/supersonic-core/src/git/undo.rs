//! The undo point of the last sync and undoing it as a new commit.

use git2::Oid;

use crate::{Error, Result};

use super::commit::commit_message;
use super::staging::bytes_to_path;
use super::{GitRepo, Identity};

impl GitRepo {
    /// Remembers what an integrate just did (HEAD went from `pre` to `post`), so that
    /// [`GitRepo::undo_last_sync`] can take it back. Hidden refs: nothing the user sees moves.
    pub fn record_undo_point(&self, pre: Oid, post: Oid) -> Result<()> {
        for (name, oid) in [(UNDO_PRE, pre), (UNDO_POST, post)] {
            self.repo
                .reference(name, oid, true, "supersonic: before/after the last sync")
                .map_err(Error::git("record the undo point"))?;
        }
        Ok(())
    }

    /// Returns the last sync's undo point (HEAD before, HEAD after its integrate), if any.
    pub fn undo_point(&self) -> Result<Option<(Oid, Oid)>> {
        let target = |name| self.repo.find_reference(name).ok().and_then(|r| r.target());
        Ok(target(UNDO_PRE).zip(target(UNDO_POST)))
    }

    /// Takes back what the last sync brought in, as a new commit on top of HEAD (nothing is
    /// rewritten, so other devices simply receive the undo): the changes between the undo
    /// point's `pre` and `post` are reversed; edits made since stay. Refused when a later
    /// edit touched the same lines, or when there is nothing to undo. The working tree is
    /// updated safely (a file modified meanwhile is never overwritten).
    pub fn undo_last_sync(&self, identity: &Identity) -> Result<UndoOutcome> {
        let Some((pre, post)) = self.undo_point()? else {
            return Err(Error::Invalid(format!(
                "nothing to undo in {}: no sync brought changes in since the last undo",
                self.workdir.display()
            )));
        };
        let head = self.head()?.ok_or_else(|| Error::Invalid("the branch has no commit".into()))?;
        let tree = |oid: Oid| {
            self.repo.find_commit(oid).and_then(|c| c.tree()).map_err(Error::git("read a tree"))
        };
        let (pre_tree, post_tree, head_tree) = (tree(pre)?, tree(post)?, tree(head)?);
        // Three-way: the sync's effect (post -> pre, reversed) applied onto HEAD.
        let mut index = self
            .repo
            .merge_trees(&post_tree, &head_tree, &pre_tree, None)
            .map_err(Error::git("reverse the last sync"))?;
        if index.has_conflicts() {
            let paths: Vec<String> = index
                .conflicts()
                .map_err(Error::git("list conflicts"))?
                .flatten()
                .filter_map(|c| c.our.or(c.their).map(|e| bytes_to_path(&e.path)))
                .map(|p| p.display().to_string())
                .collect();
            return Err(Error::Blocked(format!(
                "the last sync cannot be undone: {} changed again since; undo those edits first",
                paths.join(", ")
            )));
        }
        let new_tree = index.write_tree_to(&self.repo).map_err(Error::git("write tree"))?;
        if new_tree == head_tree.id() {
            self.clear_undo_point();
            return Err(Error::Invalid("nothing to undo: the last sync's changes are gone".into()));
        }
        let new_tree = self.repo.find_tree(new_tree).map_err(Error::git("read tree"))?;
        let changes = self.describe_diff(Some(&head_tree), &new_tree, None)?;
        let mut message = commit_message(&changes, identity);
        message = message.replacen("sync:", "undo last sync:", 1);
        let head_commit = self.repo.find_commit(head).map_err(Error::git("read HEAD"))?;
        let commit = self.write_commit(
            identity,
            false,
            &message,
            &new_tree,
            &[&head_commit],
            "commit the undo",
        )?;
        self.checkout_and_move(Some(head), commit, "undo last sync")?;
        self.clear_undo_point();
        Ok(UndoOutcome { commit: commit.to_string(), files: changes.len() })
    }

    pub(super) fn clear_undo_point(&self) {
        for name in [UNDO_PRE, UNDO_POST] {
            if let Ok(mut r) = self.repo.find_reference(name) {
                let _ = r.delete();
            }
        }
    }
}

/// Hidden refs of the last sync's undo point.
pub(super) const UNDO_PRE: &str = "refs/supersonic/undo/pre";
pub(super) const UNDO_POST: &str = "refs/supersonic/undo/post";

/// What [`GitRepo::undo_last_sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UndoOutcome {
    /// The undo commit.
    pub commit: String,
    /// Files it restored.
    pub files: usize,
}
