//! The remote step of a cycle: push first when only local changes are known, otherwise rounds
//! of fetch → integrate (fast-forward, or a merge keeping both versions of conflicting files)
//! → push, until the push is accepted or the remote kept moving for [`MAX_PUSH_ROUNDS`].

use std::time::Duration;

use super::cycle::CycleReport;
use super::Folder;
use crate::batcher::Batch;
use crate::events::{Event, ProgressOp};
use crate::git::{Integration, Oid, PushOutcome};
use crate::{Error, FailureClass, Result};

/// Rounds of fetch → integrate → push per cycle before giving up on a remote that keeps moving
/// (another device pushing at the same moment); each round is cheap, and the next cycle retries.
pub const MAX_PUSH_ROUNDS: usize = 5;
/// Times a cycle re-snapshots when the user edits a file the checkout was about to write.
pub const MAX_WORKTREE_RETRIES: usize = 3;

impl Folder {
    pub(super) fn remote_step(&mut self, report: &mut CycleReport, push_first: bool) -> Result<()> {
        let timeout = self.timeout();
        let mode = self.config.mode;
        if push_first && mode.pushes() {
            if let PushOutcome::Pushed = self.push(timeout)? {
                // Accepted as a fast-forward: the remote had nothing this device lacks.
                self.last_remote_ok = self.now();
                report.pushed = true;
                return Ok(());
            }
        }
        for _round in 0..MAX_PUSH_ROUNDS {
            let progress = self.progress(ProgressOp::Fetch);
            let fetched = self.repo.fetch_with_progress(timeout, Some(progress.callback()));
            progress.finish();
            let remote_has_branch = fetched?;
            self.last_remote_ok = self.now();
            if remote_has_branch && mode.pulls() {
                self.integrate(report)?;
            }
            if !mode.pushes() {
                return Ok(());
            }
            let (ahead, behind) = self.repo.ahead_behind()?;
            if !mode.pulls() && behind > 0 {
                return Err(Error::Blocked(format!(
                    "the remote has {behind} commit(s) this push-only folder does not have; \
                     push-only never applies remote changes. Switch the folder to two-way or \
                     clean up the remote branch {}",
                    self.config.branch
                )));
            }
            if ahead == 0 {
                return Ok(());
            }
            match self.push(timeout)? {
                PushOutcome::Pushed => {
                    report.pushed = true;
                    return Ok(());
                }
                PushOutcome::Rejected => continue, // someone pushed meanwhile: fetch again
            }
        }
        Err(Error::Remote {
            op: "push",
            remote: crate::config::redact_url(&self.config.remote),
            message: format!("the remote kept moving for {MAX_PUSH_ROUNDS} rounds; will retry"),
            class: FailureClass::Transient,
        })
    }

    pub(super) fn push(&mut self, timeout: Duration) -> Result<PushOutcome> {
        let progress = self.progress(ProgressOp::Push);
        let pushed = self.repo.push_with_progress(timeout, Some(progress.callback()));
        progress.finish();
        pushed
    }

    pub(super) fn integrate(&mut self, report: &mut CycleReport) -> Result<()> {
        let mut attempt = 0;
        loop {
            let before = self.repo.head()?;
            match self.repo.integrate(&self.identity, &self.policy) {
                Ok(Integration::FastForwarded { .. }) => {
                    report.pulled = true;
                    self.record_undo_point(before);
                    return Ok(());
                }
                Ok(Integration::Merged { conflicts, .. }) => {
                    report.pulled = true;
                    self.record_undo_point(before);
                    for c in &conflicts {
                        self.emit(Event::ConflictDetected {
                            folder: self.folder_name(),
                            path: c.path.clone(),
                            copy: c.copy.clone(),
                            conflict_kind: c.kind.clone(),
                            strategy: c.strategy.to_string(),
                        });
                    }
                    report.conflicts.extend(conflicts);
                    return Ok(());
                }
                Ok(_) => return Ok(()),
                Err(Error::WorktreeChanged(what)) if attempt < MAX_WORKTREE_RETRIES => {
                    // The user edited a file the update touches: commit the edit first, so the
                    // merge keeps it, then try again.
                    attempt += 1;
                    tracing::info!("{}: {what}; re-snapshotting", self.folder_name());
                    if !self.config.mode.commits_local_changes() {
                        return Err(Error::Blocked(format!(
                            "local edits block a remote update in this pull-only folder: {what}. \
                             Move or revert the edited files"
                        )));
                    }
                    self.snapshot(&Batch::Full, report)?;
                }
                Err(Error::WorktreeChanged(what)) => {
                    // Committing did not clear the way (a skipped or ignored file, a file that
                    // never stops changing): stop and say which, rather than retry forever.
                    return Err(Error::Blocked(format!(
                        "a remote update cannot be applied without overwriting local files: \
                         {what}. Move them aside (or stop writing to them) and sync again"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lets `supersonic undo` take back the integrate that just moved HEAD from `before`.
    pub(super) fn record_undo_point(&self, before: Option<Oid>) {
        let (Some(pre), Ok(Some(post))) = (before, self.repo.head()) else { return };
        if let Err(e) = self.repo.record_undo_point(pre, post) {
            tracing::warn!("{}: cannot record the undo point: {e}", self.folder_name());
        }
    }
}
