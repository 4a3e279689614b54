//! The safe checkout: writes the working tree only where files still hold what the engine
//! expects, and moves the branch ref after the checkout finished.

use git2::build::CheckoutBuilder;
use git2::Oid;

use crate::{Error, Result};

use super::GitRepo;

impl GitRepo {
    /// Safely checks out `target` over the current HEAD (`from`), then moves the branch to it.
    /// Returns the number of files written or removed.
    pub(super) fn checkout_and_move(
        &self,
        from: Option<Oid>,
        target: Oid,
        why: &str,
    ) -> Result<usize> {
        let target_commit = self.repo.find_commit(target).map_err(Error::git("read target"))?;
        let target_tree = target_commit.tree().map_err(Error::git("read target tree"))?;
        let from_tree = match from {
            Some(oid) => Some(
                self.repo
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(Error::git("read HEAD tree"))?,
            ),
            None => None,
        };
        let files = self
            .repo
            .diff_tree_to_tree(from_tree.as_ref(), Some(&target_tree), None)
            .map_err(Error::git("diff"))?
            .deltas()
            .len();
        // Compare-and-swap: libgit2 checks the work tree against the *current* HEAD, so if the
        // user committed or switched meanwhile, stop instead of overwriting their work.
        if self.head()? != from || self.repo.head_detached().unwrap_or(false) {
            return Err(Error::Busy(format!(
                "HEAD of {} moved during the sync (a git command of yours?); syncing again",
                self.workdir.display()
            )));
        }
        let conflicts = std::cell::RefCell::new(Vec::<String>::new());
        let mut cb = CheckoutBuilder::new();
        cb.safe();
        // Ignore rules differ between devices: a file ignored here may be synced elsewhere, and
        // must never be overwritten by it.
        cb.overwrite_ignored(false);
        cb.notify_on(git2::CheckoutNotificationType::CONFLICT);
        cb.notify(|_, path, _, _, _| {
            if let Some(p) = path {
                conflicts.borrow_mut().push(p.display().to_string());
            }
            true
        });
        let result = self.repo.checkout_tree(target_tree.as_object(), Some(&mut cb));
        drop(cb);
        if let Err(e) = result {
            let paths = conflicts.into_inner();
            if !paths.is_empty() || e.code() == git2::ErrorCode::Conflict {
                return Err(Error::WorktreeChanged(format!(
                    "{} changed since the snapshot; not overwritten",
                    if paths.is_empty() { "a file".to_string() } else { paths.join(", ") }
                )));
            }
            if e.message().to_ascii_lowercase().contains("no space left") {
                return Err(Error::io(
                    &self.workdir,
                    std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
                ));
            }
            return Err(Error::git("checkout")(e));
        }
        let message = format!("supersonic: {why}");
        let moved = match from {
            Some(from) => {
                self.repo.reference_matching(&self.branch_ref(), target, true, from, &message)
            }
            None => self.repo.reference(&self.branch_ref(), target, false, &message),
        };
        moved.map_err(|e| match e.code() {
            git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked => {
                Error::Busy(format!("the branch moved during the sync: {}", e.message()))
            }
            _ => Error::git("move branch")(e),
        })?;
        if self.repo.head().is_err() {
            self.repo.set_head(&self.branch_ref()).map_err(Error::git("set HEAD"))?;
        }
        Ok(files)
    }
}
