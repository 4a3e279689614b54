//! One sync cycle: what started it, what it did, and its steps in order: the gate (paused or
//! stopped folders wait), preflight, a reload of the ignore rules when they changed, the
//! snapshot into one commit, and the remote step when the trigger or the snapshot calls for it.
//! The outcome updates state, status and events; a failure goes to [`super::failure`].

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::failure::Stop;
use super::{load_ignore, Folder};
use crate::batcher::Batch;
use crate::conflicts::Resolution;
use crate::events::{Event, ProgressOp};
use crate::git::SnapshotLimits;
use crate::status::FolderState;
use crate::throttle::Verdict;
use crate::Result;

/// What started a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The engine started.
    Start,
    /// The watcher reported changes.
    Changes,
    /// The periodic remote poll.
    Poll,
    /// The periodic full rescan.
    Rescan,
    /// The user asked ("sync now").
    Manual,
    /// A backoff or throttle wait ended.
    Retry,
    /// The worker is stopping (the engine stops or restarts the folder): commit what is pending.
    Shutdown,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Changes => "changes",
            Trigger::Poll => "poll",
            Trigger::Rescan => "rescan",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
            Trigger::Shutdown => "shutdown",
        }
    }

    /// Returns whether the cycle only commits the pending edits, locally and silently: the
    /// shutdown cycle. It does not wait on the network, the free-space guard does not refuse
    /// the (small) commit, and it reports neither state, failure nor freshness: the worker is
    /// going away, and the folder's next start reports afresh. A stopped folder (for any
    /// reason) commits nothing.
    fn commits_only(self) -> bool {
        self == Trigger::Shutdown
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CycleReport {
    /// The local commit made, if any.
    pub commit: Option<String>,
    /// Files in it.
    pub files_changed: usize,
    /// Whether remote changes were applied.
    pub pulled: bool,
    /// Whether commits were pushed.
    pub pushed: bool,
    /// Conflicts kept both ways.
    pub conflicts: Vec<Resolution>,
    /// Set when the throttle held the remote step back.
    pub throttled: Option<String>,
    /// Whether the remote step ran.
    pub remote_step: bool,
}

impl Folder {
    /// Runs one cycle: snapshot `batch` (if any), then the remote step when `trigger` or the
    /// snapshot calls for it. Updates state, status and events; returns the error that stopped
    /// the cycle, if any.
    pub fn cycle(&mut self, batch: Option<Batch>, trigger: Trigger) -> Result<CycleReport> {
        let paused = self.state == FolderState::Paused;
        let stopped = if trigger.commits_only() {
            self.stop.is_some()
        } else {
            matches!(self.stop, Some(Stop::User | Stop::DiskFull { .. }))
        };
        if (paused || stopped) && trigger != Trigger::Manual {
            if batch.is_some() {
                self.needs_full = true; // look at these changes once syncing resumes
            }
            if !paused && !trigger.commits_only() {
                self.check_freshness(); // stopped for the user: exactly when work goes stale
            }
            return Ok(CycleReport::default());
        }
        if trigger == Trigger::Manual {
            self.throttle.clear_backoff();
            self.retry_at = None;
        }
        let started = Instant::now();
        let batch = if self.needs_full || self.stop.is_some() { Some(Batch::Full) } else { batch };
        if batch.is_none() && trigger.commits_only() {
            return Ok(CycleReport::default()); // nothing pending
        }
        // A local change is pushed at once: its index is written while the push runs.
        self.repo.set_defer_index_write(
            matches!(trigger, Trigger::Changes | Trigger::Rescan) && self.config.mode.pushes(),
        );
        let outcome = self.run_cycle(batch, trigger);
        // Whatever happened (throttled, refused, failed), the index is on disk after a cycle.
        let flushed = self.repo.flush_index();
        self.repo.set_defer_index_write(false);
        let outcome = outcome.and_then(|r| flushed.map(|()| r));
        let outcome = outcome.map_err(|e| self.disk_full_explained(e));
        if trigger.commits_only() {
            return outcome;
        }
        let result = match outcome {
            Ok(report) => {
                self.stop = None;
                self.allow_mass_delete = false;
                if report.remote_step && report.throttled.is_none() {
                    self.throttle.record_success();
                    self.retry_at = None;
                    self.last_sync = Some(Utc::now());
                    self.last_error = None;
                    self.emit(Event::SyncSuccess {
                        folder: self.folder_name(),
                        duration_sec: started.elapsed().as_secs_f64(),
                        files_changed: report.files_changed,
                        commit: self.repo.head().ok().flatten().map(|o| o.to_string()),
                        pulled: report.pulled,
                        pushed: report.pushed,
                    });
                    self.publish_seen();
                }
                if report.commit.is_some() || report.pulled || report.pushed {
                    self.growth_dirty = true;
                    self.gc_dirty = true;
                    self.last_change = Instant::now();
                }
                let state = match &report.throttled {
                    _ if paused => FolderState::Paused,
                    Some(reason) => FolderState::Waiting { reason: reason.clone() },
                    None => FolderState::Idle,
                };
                self.set_state(state);
                Ok(report)
            }
            Err(err) => {
                self.fail(&err);
                Err(err)
            }
        };
        self.save_throttle(); // a restart keeps the window and the backoff
        if !paused {
            self.check_freshness();
        }
        result
    }

    pub(super) fn run_cycle(
        &mut self,
        batch: Option<Batch>,
        trigger: Trigger,
    ) -> Result<CycleReport> {
        let min_free = if trigger.commits_only() {
            0
        } else {
            self.config.settings.sync.min_free_disk_mb * 1024 * 1024
        };
        let removed = self.repo.preflight(min_free)?;
        if !trigger.commits_only() {
            for lock in removed {
                self.emit(Event::Warning {
                    folder: self.folder_name(),
                    message: format!(
                        "removed stale lock {} left by a crashed process",
                        lock.display()
                    ),
                });
            }
        }
        let mut report = CycleReport::default();
        let mut batch = batch;
        if let Some(b) = &batch {
            if self.touches_rules(b) {
                self.ignore = Arc::new(load_ignore(&self.config)?);
                self.repo.write_info_exclude(&self.ignore)?;
                self.rules_reloaded = true;
                // New rules change what is synced (and held back) anywhere: look at it all.
                batch = Some(Batch::Full);
            }
        }
        if !trigger.commits_only() {
            self.set_state(FolderState::Syncing);
        }
        if let Some(batch) = batch {
            self.snapshot(&batch, &mut report)?;
        }
        if trigger.commits_only() {
            return Ok(report); // the commit goes out after the next start
        }
        self.needs_full = false;
        let (ahead, _) = self.repo.ahead_behind()?;
        self.unpushed = ahead;
        let wants_remote =
            matches!(trigger, Trigger::Start | Trigger::Poll | Trigger::Manual | Trigger::Retry)
                || report.commit.is_some()
                || (ahead > 0 && self.config.mode.pushes());
        if !wants_remote {
            return Ok(report);
        }
        let limits = self.limits();
        if let Verdict::Blocked { reason, until } = self.throttle.check(&limits, self.now()) {
            self.retry_at = Some(until);
            let retry_in = until.duration_since(self.now()).unwrap_or_default().as_secs();
            if !self.throttle_reported {
                self.throttle_reported = true;
                self.emit(Event::RateLimitHit {
                    folder: self.folder_name(),
                    reason: reason.clone(),
                    retry_in_sec: retry_in,
                });
            }
            report.throttled = Some(format!("{reason}; next attempt in {retry_in} s"));
            return Ok(report);
        }
        self.throttle_reported = false;
        self.throttle.record_attempt(self.now());
        report.remote_step = true;
        self.emit(Event::SyncStart {
            folder: self.folder_name(),
            trigger: trigger.as_str().into(),
        });
        // A local change with nothing else known: in the common single-writer case the remote
        // has not moved, so push straight away and skip a fetch; a rejection falls back to the
        // fetch → integrate → push rounds. Polls, starts and manual syncs always fetch.
        let push_first = matches!(trigger, Trigger::Changes | Trigger::Rescan) && ahead > 0;
        let stepped = self.remote_step(&mut report, push_first);
        if let Ok((ahead, _)) = self.repo.ahead_behind() {
            self.unpushed = ahead;
        }
        stepped?;
        Ok(report)
    }

    pub(super) fn touches_rules(&self, batch: &Batch) -> bool {
        match batch {
            Batch::Full => true,
            Batch::Paths(paths) => paths.iter().any(|p| {
                p == Path::new(crate::ignore::SYNCIGNORE_FILE) || p == Path::new(".gitignore")
            }),
        }
    }

    pub(super) fn snapshot(&mut self, batch: &Batch, report: &mut CycleReport) -> Result<()> {
        if !self.config.mode.commits_local_changes() {
            return Ok(());
        }
        let s = &self.config.settings.sync;
        let limits = SnapshotLimits {
            max_file_size: self.config.max_file_size(),
            mass_delete_ratio: s.mass_delete_ratio,
            mass_delete_min_files: s.mass_delete_min_files,
            allow_mass_delete: self.allow_mass_delete,
            secret_guard: s.secret_guard,
        };
        let mut progress = self.progress(ProgressOp::Stage);
        let snap = self.repo.snapshot_with_progress(
            batch,
            &self.ignore,
            &limits,
            &self.identity,
            &mut |done, total| progress.update("staging", done, Some(total)),
        );
        progress.finish();
        let snap = snap?;
        self.update_held(batch, &snap.held);
        for (path, reason) in &snap.skipped {
            tracing::warn!("{}: not syncing {path}: {reason}", self.folder_name());
            self.emit(Event::FileSkipped {
                folder: self.folder_name(),
                path: path.clone(),
                reason: reason.clone(),
            });
        }
        if let Some(commit) = snap.commit {
            report.commit = Some(commit.to_string());
            report.files_changed += snap.files_changed;
            self.unpushed += 1;
            self.emit(Event::Committed {
                folder: self.folder_name(),
                commit: commit.to_string(),
                files_changed: snap.files_changed,
            });
            self.write_status();
        }
        Ok(())
    }

    /// Keeps the quarantine in step with a snapshot of `batch`: files the snapshot held back
    /// are added (a warning the first time), files it looked at and did not hold are dropped
    /// (committed, released, ignored or deleted).
    pub(super) fn update_held(&mut self, batch: &Batch, held: &[(String, String)]) {
        match batch {
            Batch::Full => self.held.retain(|path, _| held.iter().any(|(p, _)| p == path)),
            Batch::Paths(paths) => self.held.retain(|path, _| {
                held.iter().any(|(p, _)| p == path)
                    || !paths.iter().any(|b| Path::new(path).starts_with(b))
            }),
        }
        for (path, reason) in held {
            if self.held.insert(path.clone(), reason.clone()).is_none() {
                tracing::warn!("{}: holding back {path}: {reason}", self.folder_name());
                self.emit(Event::FileSkipped {
                    folder: self.folder_name(),
                    path: path.clone(),
                    reason: format!(
                        "held back: {reason}. Release it with `supersonic quarantine release \
                         {path}` or ignore it"
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use supersonic_testkit::Sandbox;

    use super::*;
    use crate::config::{FolderConfig, FolderSettings, Mode};
    use crate::device::Device;
    use crate::events::EventBus;
    use crate::git::{GitRepo, Identity};
    use crate::paths::Dirs;

    /// A two-way folder on a fresh repository, its bare remote, and the bus it reports on.
    fn folder(sb: &Sandbox, bus: &EventBus) -> (Folder, PathBuf, PathBuf) {
        let remote = sb.bare_remote("r");
        let dir = sb.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        GitRepo::init(&dir, "main", remote.to_str().unwrap()).unwrap();
        let config = FolderConfig {
            path: dir.clone(),
            remote: remote.display().to_string(),
            branch: "main".into(),
            mode: Mode::TwoWay,
            paused: false,
            settings: FolderSettings::default(),
        };
        let dirs = Dirs { config_dir: sb.path().join("cfg"), data_dir: sb.path().join("data") };
        let identity = Identity {
            device: Device { id: "0123456789abcdef".into(), name: "alpha".into() },
            user: Some("alpha user".into()),
            email: Some("alpha@example.com".into()),
            sign: false,
        };
        (Folder::open(config, &dirs, identity, bus.clone()).unwrap(), dir, remote)
    }

    #[test]
    fn a_shutdown_commits_pending_edits_locally_and_reports_no_state() {
        let sb = Sandbox::new();
        let bus = EventBus::default();
        let events = bus.subscribe();
        let (mut folder, dir, remote) = folder(&sb, &bus);
        std::fs::write(dir.join("n.md"), "note\n").unwrap();
        let batch = Batch::Paths([PathBuf::from("n.md")].into());
        let report = folder.cycle(Some(batch), Trigger::Shutdown).unwrap();
        assert!(report.commit.is_some(), "the pending edit is committed: {report:?}");
        assert!(!report.remote_step, "a stopping engine does not wait on the network");
        assert_eq!(sb.commit_count(&remote, "main"), 0, "the commit goes out after the next start");
        let seen: Vec<Event> = events.try_iter().collect();
        assert!(
            seen.iter().all(|e| matches!(e, Event::Committed { .. })),
            "a shutdown reports its commit and nothing else: {seen:?}"
        );
        assert_eq!(folder.state(), &FolderState::Idle, "the state is left as it was");
    }

    #[test]
    fn a_paused_folder_commits_nothing_on_shutdown() {
        let sb = Sandbox::new();
        let bus = EventBus::default();
        let (mut folder, dir, _remote) = folder(&sb, &bus);
        folder.pause();
        std::fs::write(dir.join("n.md"), "note\n").unwrap();
        let report = folder.cycle(Some(Batch::Full), Trigger::Shutdown).unwrap();
        assert_eq!(report, CycleReport::default(), "paused means no commit, even on shutdown");
        assert_eq!(folder.repo.head().unwrap(), None, "nothing was committed");
    }
}
