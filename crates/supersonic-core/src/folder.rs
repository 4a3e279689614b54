//! One synced folder: its state machine, its sync cycle, and the worker thread that drives it.
//!
//! The cycle (DESIGN §3.1): preflight (dangerous states stop the folder), snapshot the batch
//! into one commit, then — if the throttle allows — fetch, integrate (fast-forward or merge
//! keeping both versions of conflicting files), and push, looping back to fetch when the push
//! is rejected as non-fast-forward. A cycle started by local changes pushes first and fetches
//! only when that push is rejected (one git process instead of two when nobody else pushed).
//! Failures are classified: transient ones back off
//! exponentially, needs-attention ones stop the folder until the user acts.
//!
//! The worker owns the watcher, the batcher and the timers; it blocks on its channels with the
//! next deadline as timeout, so an idle folder costs nothing but the remote poll and the rescan.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};

use crate::batcher::{Batch, Batcher};
use crate::config::{FolderConfig, Mode};
use crate::conflicts::{Policy, Resolution};
use crate::events::{Event, EventBus, ProgressOp};
use crate::git::{GitRepo, Identity, Integration, PushOutcome, SnapshotLimits};
use crate::history::{self, History, HistoryEvent};
use crate::ignore::IgnoreRules;
use crate::paths::Dirs;
use crate::status::{FolderState, FolderStatus, HeldFile, RepoGrowth};
use crate::throttle::{Limits, Throttle, Verdict};
use crate::watcher::{FolderWatch, WatchMsg};
use crate::{Error, FailureClass, Result};

/// Rounds of fetch → integrate → push per cycle before giving up on a remote that keeps moving
/// (another device pushing at the same moment); each round is cheap, and the next cycle retries.
pub const MAX_PUSH_ROUNDS: usize = 5;
/// Times a cycle re-snapshots when the user edits a file the checkout was about to write.
pub const MAX_WORKTREE_RETRIES: usize = 3;
/// Delay before re-checking when something outside the engine holds the repo (a user's git
/// command, a fresh lock): short, because such operations usually take seconds.
pub const BUSY_RETRY: Duration = Duration::from_secs(2);
/// History rows recorded between two retention passes: pruning is index-backed but not free,
/// and retention does not need to be exact to the row.
pub const PRUNE_EVERY: usize = 100;
/// Commits walked back from HEAD when reconciling history after a crash.
pub const RECONCILE_DEPTH: usize = 500;
/// Shortest time between two growth measurements while syncs keep changing the repository:
/// a measurement walks `.git` and the history (milliseconds to a few hundred on a large
/// repository), so it follows changes, but never per change.
pub const GROWTH_REFRESH: Duration = Duration::from_secs(180);
/// How long a folder must have been quiet (no commit, pull or push) before `git gc` runs, so a
/// burst of edits is not slowed by a repack. Capped at half the gc interval, so a short
/// interval (a test's) still finds a quiet moment.
pub const GC_QUIET: Duration = Duration::from_secs(120);
/// Deadline of one `git gc`: a full repack of a large repository at low priority takes
/// minutes; past this it is killed (git's own files stay consistent) and retried next interval.
pub const GC_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Shortest time between two records of this device's last sync on the remote (one tiny
/// forced ref push each, outside the branch): often enough that a device which only receives
/// never looks silent, rarely enough to cost nothing next to the syncs themselves.
pub const DEVICE_SEEN_EVERY: Duration = Duration::from_secs(600);
/// Name of the lock file that keeps two Supersonic processes off the same folder.
pub const FOLDER_LOCK_FILE: &str = "supersonic.lock";

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
        }
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

/// Why a folder is stopped, which decides how it resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// A condition the engine re-checks by itself at every poll (folder missing).
    Recheck,
    /// The disk is full: re-checked once more space is free than when it stopped (`free`
    /// bytes), or [`DISK_FULL_RETRY`] after `at`. Retrying against a disk still full would only
    /// fail again, with a failure row, an event and a log line at every poll.
    DiskFull {
        /// Bytes free just after the failure.
        free: u64,
        /// When the folder stopped.
        at: SystemTime,
    },
    /// Only the user's action resumes (auth failure, mass delete, bad config).
    User,
}

/// A folder and everything needed to sync it.
pub struct Folder {
    config: FolderConfig,
    id: String,
    status_dir: PathBuf,
    identity: Identity,
    repo: GitRepo,
    ignore: Arc<IgnoreRules>,
    policy: Policy,
    throttle: Throttle,
    bus: EventBus,
    state: FolderState,
    stop: Option<Stop>,
    last_sync: Option<DateTime<Utc>>,
    last_error: Option<String>,
    retry_at: Option<SystemTime>,
    throttle_reported: bool,
    history: Option<History>,
    records_since_prune: usize,
    clock: fn() -> SystemTime,
    needs_full: bool,
    allow_mass_delete: bool,
    pending: usize,
    /// Files held back by the secret guard, with the reason (the quarantine).
    held: BTreeMap<String, String>,
    /// When the remote last answered a fetch (or when the engine started).
    last_remote_ok: SystemTime,
    /// Freshness alerts raised and not cleared: alert name -> message.
    stale: BTreeMap<String, String>,
    /// When other devices' activity was last checked (the walk is not for every poll).
    devices_checked: Option<Instant>,
    /// How long work runs before its progress is reported.
    progress_delay: Duration,
    /// Commits not on the remote yet, as last counted (after a commit, a fetch or a push):
    /// status reads it instead of walking history on every state change.
    unpushed: usize,
    rules_version: u64,
    /// The repository's size, as last measured, and when.
    growth: Option<RepoGrowth>,
    growth_at: Option<Instant>,
    /// Whether syncs changed the repository since the last measurement.
    growth_dirty: bool,
    /// When `git gc` last ran (kept across restarts in the status file).
    last_gc: Option<DateTime<Utc>>,
    /// When the gc schedule started counting when no gc ran yet (the engine start).
    gc_epoch: SystemTime,
    /// Whether syncs changed the repository since the last gc (then `gc --auto` runs when quiet).
    gc_dirty: bool,
    /// When a cycle last changed something (committed, pulled or pushed).
    last_change: Instant,
    /// When this device's last sync was last recorded on the remote.
    seen_published: Option<Instant>,
    _lock: File,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder")
            .field("path", &self.config.path)
            .field("state", &self.state)
            .finish()
    }
}

impl Folder {
    /// Opens a folder for syncing: takes its lock (one Supersonic per folder), opens the repo,
    /// loads ignore rules and mirrors them into `.git/info/exclude`.
    pub fn open(
        config: FolderConfig,
        dirs: &Dirs,
        identity: Identity,
        bus: EventBus,
    ) -> Result<Folder> {
        let repo = GitRepo::open(&config.path, &config.branch, &config.remote)?;
        let lock = take_folder_lock(&config.path)?;
        let ignore = Arc::new(load_ignore(&config)?);
        let policy = Policy::compile(
            &config.settings.conflicts,
            &config.path,
            &config.path.join(crate::config::FOLDER_CONFIG_FILE),
        )?;
        repo.write_info_exclude(&ignore)?;
        let folder_name = config.path.display().to_string();
        let history = match History::open(&dirs.data_dir.join(crate::history::HISTORY_FILE)) {
            Ok(h) => Some(h),
            Err(e) => {
                // History is a record, not a precondition: sync on without it, loudly.
                tracing::warn!("{folder_name}: history unavailable, not recording: {e}");
                None
            }
        };
        let unpushed = repo.ahead_behind().map_or(0, |(ahead, _)| ahead);
        let id = crate::paths::folder_id(&config.path);
        // A restart (or a reload after a settings change) keeps the last sync it knew of.
        let last_sync = crate::status::read(&dirs.status_dir(), &id)
            .and_then(|s| s.last_sync)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        let recorded = crate::status::read(&dirs.status_dir(), &id);
        let last_gc = recorded
            .and_then(|s| s.growth)
            .and_then(|g| g.last_gc)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        let throttle = history
            .as_ref()
            .and_then(|h| h.load_throttle(&folder_name).ok().flatten())
            .unwrap_or_default();
        Ok(Folder {
            id,
            status_dir: dirs.status_dir(),
            identity,
            repo,
            ignore,
            policy,
            throttle,
            history,
            records_since_prune: 0,
            clock: SystemTime::now,
            bus,
            state: if config.paused { FolderState::Paused } else { FolderState::Idle },
            stop: None,
            last_sync,
            last_error: None,
            retry_at: None,
            throttle_reported: false,
            needs_full: true,
            allow_mass_delete: false,
            pending: 0,
            held: BTreeMap::new(),
            last_remote_ok: SystemTime::now(),
            stale: BTreeMap::new(),
            devices_checked: None,
            progress_delay: PROGRESS_DELAY,
            unpushed,
            rules_version: 0,
            growth: None,
            growth_at: None,
            growth_dirty: true,
            last_gc,
            gc_epoch: SystemTime::now(),
            gc_dirty: false,
            last_change: Instant::now(),
            seen_published: None,
            _lock: lock,
            config,
        })
    }

    /// Returns the folder's config.
    pub fn config(&self) -> &FolderConfig {
        &self.config
    }

    /// Returns the current state.
    pub fn state(&self) -> &FolderState {
        &self.state
    }

    /// Returns the compiled ignore rules.
    pub fn ignore(&self) -> &Arc<IgnoreRules> {
        &self.ignore
    }

    /// Allows the next snapshot to commit a mass delete (the user confirmed it).
    pub fn allow_mass_delete(&mut self) {
        self.allow_mass_delete = true;
    }

    fn folder_name(&self) -> String {
        self.config.path.display().to_string()
    }

    fn set_state(&mut self, state: FolderState) {
        if self.state != state {
            let was_paused = self.state == FolderState::Paused;
            let now_paused = state == FolderState::Paused;
            self.state = state.clone();
            if was_paused != now_paused {
                let kind = if now_paused { history::PAUSED } else { history::RESUMED };
                self.record(HistoryEvent::new(&self.folder_name(), kind, Utc::now()));
            }
            self.emit(Event::State { folder: self.folder_name(), state });
        }
        self.write_status();
    }

    /// Sends `event` to the bus and records it in the history.
    fn emit(&mut self, event: Event) {
        if let Some(row) = history_row(&event) {
            self.record(row);
        }
        self.bus.emit(event);
    }

    fn record(&mut self, row: HistoryEvent) {
        let Some(history) = &self.history else { return };
        if let Err(e) = history.record(&row) {
            tracing::warn!("{}: cannot record history: {e}", self.folder_name());
            return;
        }
        self.records_since_prune += 1;
        if self.records_since_prune >= PRUNE_EVERY {
            self.records_since_prune = 0;
            let m = &self.config.settings.metrics;
            let _ = history.prune(m.history_max_entries, m.history_max_age_days, Utc::now());
        }
    }

    fn save_throttle(&self) {
        if let Some(h) = &self.history {
            if let Err(e) = h.save_throttle(&self.folder_name(), &self.throttle) {
                tracing::warn!("{}: cannot save throttle state: {e}", self.folder_name());
            }
        }
    }

    /// Records in history the commits of this device that a crash kept from being recorded
    /// (git is the source of truth): walks back from HEAD until a recorded commit.
    pub fn reconcile_history(&mut self) {
        let Some(history) = &self.history else { return };
        let folder = self.folder_name();
        let commits = match self.repo.own_commits(&self.identity.device.id, RECONCILE_DEPTH) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{folder}: cannot read git log to reconcile history: {e}");
                return;
            }
        };
        let mut missing = Vec::new();
        for (oid, time, files) in commits {
            if history.has_commit(&folder, &oid).unwrap_or(true) {
                break;
            }
            let mut row = HistoryEvent::new(&folder, history::COMMIT, time);
            row.commit_hash = Some(oid);
            row.files_changed = Some(files as i64);
            row.reason = Some("reconciled from git log after an unclean stop".into());
            missing.push(row);
        }
        if !missing.is_empty() {
            tracing::info!("{folder}: recorded {} commit(s) missing from history", missing.len());
            let _ = history.record_batch(&missing);
        }
    }

    /// Returns the status as `status` shows it.
    pub fn status(&self) -> FolderStatus {
        let ahead = self.unpushed;
        FolderStatus {
            path: self.config.path.clone(),
            remote: crate::config::redact_url(&self.config.remote),
            branch: self.config.branch.clone(),
            mode: self.config.mode.to_string(),
            state: self.state.clone(),
            running: true,
            pid: Some(std::process::id()),
            head: self.repo.head().ok().flatten().map(|o| o.to_string()),
            unpushed_commits: if self.config.mode == Mode::PullOnly { 0 } else { ahead },
            pending_changes: self.pending,
            stale: self.stale.values().cloned().collect(),
            held_back: self
                .held
                .iter()
                .map(|(path, reason)| HeldFile { path: path.clone(), reason: reason.clone() })
                .collect(),
            last_sync: self.last_sync.map(|t| t.to_rfc3339()),
            last_error: self.last_error.clone(),
            consecutive_failures: self.throttle.consecutive_failures(),
            next_retry: self.retry_at.map(|t| DateTime::<Utc>::from(t).to_rfc3339()),
            growth: self.growth.clone().map(|mut g| {
                g.last_gc = self.last_gc.map(|t| t.to_rfc3339());
                g
            }),
        }
    }

    fn write_status(&self) {
        if let Err(e) = crate::status::write(&self.status_dir, &self.id, &self.status()) {
            tracing::warn!("cannot write status of {}: {e}", self.folder_name());
        }
    }

    fn limits(&self) -> Limits {
        let s = &self.config.settings.sync;
        Limits {
            max_per_hour: s.max_per_hour,
            backoff_enabled: s.backoff_enabled,
            backoff_initial: Duration::from_secs(s.backoff_initial_sec),
            backoff_max: Duration::from_secs(s.backoff_max_sec),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.settings.sync.network_timeout_sec)
    }

    /// Runs one cycle: snapshot `batch` (if any), then the remote step when `trigger` or the
    /// snapshot calls for it. Updates state, status and events; returns the error that stopped
    /// the cycle, if any.
    pub fn cycle(&mut self, batch: Option<Batch>, trigger: Trigger) -> Result<CycleReport> {
        let paused = self.state == FolderState::Paused;
        let stopped = matches!(self.stop, Some(Stop::User | Stop::DiskFull { .. }));
        if (paused || stopped) && trigger != Trigger::Manual {
            if batch.is_some() {
                self.needs_full = true; // look at these changes once syncing resumes
            }
            if !paused {
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
        // A local change is pushed at once: its index is written while the push runs.
        self.repo.set_defer_index_write(
            matches!(trigger, Trigger::Changes | Trigger::Rescan)
                && self.config.mode != Mode::PullOnly,
        );
        let outcome = self.run_cycle(batch, trigger);
        // Whatever happened (throttled, refused, failed), the index is on disk after a cycle.
        let flushed = self.repo.flush_index();
        self.repo.set_defer_index_write(false);
        let outcome = outcome.and_then(|r| flushed.map(|()| r));
        let outcome = outcome.map_err(|e| self.disk_full_explained(e));
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

    fn fail(&mut self, err: &Error) {
        let message = err.to_string();
        self.last_error = Some(message.clone());
        self.needs_full = true;
        let mut retry_in = None;
        let state = match err {
            Error::Busy(reason) => {
                self.retry_at = Some(self.now() + BUSY_RETRY);
                FolderState::Waiting { reason: reason.clone() }
            }
            _ if err.class() == FailureClass::Transient => {
                let unit: f64 = rand::random();
                let limits = self.limits();
                let delay = self
                    .throttle
                    .record_failure(&limits, self.now(), unit)
                    .unwrap_or(Duration::from_secs(self.config.settings.sync.interval_sec));
                self.retry_at = Some(self.now() + delay);
                retry_in = Some(delay.as_secs());
                let mut row = HistoryEvent::new(&self.folder_name(), history::BACKOFF, Utc::now());
                row.reason = Some(format!(
                    "{} consecutive failure(s); next attempt in {} s",
                    self.throttle.consecutive_failures(),
                    delay.as_secs()
                ));
                self.record(row);
                FolderState::Error {
                    message: message.clone(),
                    code: err.code().into(),
                    class: err.class(),
                }
            }
            _ => {
                self.stop = Some(match err {
                    Error::DiskFull { .. } => {
                        Stop::DiskFull { free: self.repo.free_bytes().unwrap_or(0), at: self.now() }
                    }
                    Error::Dangerous(_) => Stop::Recheck,
                    _ => Stop::User,
                });
                self.retry_at = None;
                FolderState::Error {
                    message: message.clone(),
                    code: err.code().into(),
                    class: err.class(),
                }
            }
        };
        if !matches!(err, Error::Busy(_)) {
            tracing::warn!("{}: {message}", self.folder_name());
            self.emit(Event::SyncFailure {
                folder: self.folder_name(),
                error: message,
                code: err.code().into(),
                class: err.class(),
                retry_in_sec: retry_in,
            });
        }
        self.set_state(state);
    }

    /// Returns `err` as [`Error::DiskFull`] when a write failed for want of space, so the folder
    /// says so in words (libgit2 says "failed to read file into stream: No space left on
    /// device; class=Os (2)") and stops until space returns.
    fn disk_full_explained(&self, err: Error) -> Error {
        if matches!(err, Error::DiskFull { .. }) || !crate::git::error_is_disk_full(&err) {
            return err;
        }
        Error::DiskFull { path: self.config.path.clone(), detail: err.to_string() }
    }

    fn run_cycle(&mut self, batch: Option<Batch>, trigger: Trigger) -> Result<CycleReport> {
        let removed =
            self.repo.preflight(self.config.settings.sync.min_free_disk_mb * 1024 * 1024)?;
        for lock in removed {
            self.emit(Event::Warning {
                folder: self.folder_name(),
                message: format!("removed stale lock {} left by a crashed process", lock.display()),
            });
        }
        let mut report = CycleReport::default();
        let mut batch = batch;
        if let Some(b) = &batch {
            if self.touches_rules(b) {
                self.ignore = Arc::new(load_ignore(&self.config)?);
                self.repo.write_info_exclude(&self.ignore)?;
                self.rules_version += 1;
                // New rules change what is synced (and held back) anywhere: look at it all.
                batch = Some(Batch::Full);
            }
        }
        self.set_state(FolderState::Syncing);
        if let Some(batch) = batch {
            self.snapshot(&batch, &mut report)?;
        }
        self.needs_full = false;
        let (ahead, _) = self.repo.ahead_behind()?;
        self.unpushed = ahead;
        let wants_remote =
            matches!(trigger, Trigger::Start | Trigger::Poll | Trigger::Manual | Trigger::Retry)
                || report.commit.is_some()
                || (ahead > 0 && self.config.mode != Mode::PullOnly);
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

    fn touches_rules(&self, batch: &Batch) -> bool {
        match batch {
            Batch::Full => true,
            Batch::Paths(paths) => paths.iter().any(|p| {
                p == Path::new(crate::ignore::SYNCIGNORE_FILE) || p == Path::new(".gitignore")
            }),
        }
    }

    fn snapshot(&mut self, batch: &Batch, report: &mut CycleReport) -> Result<()> {
        if self.config.mode == Mode::PullOnly {
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

    fn remote_step(&mut self, report: &mut CycleReport, push_first: bool) -> Result<()> {
        let timeout = self.timeout();
        let mode = self.config.mode;
        if push_first && mode != Mode::PullOnly {
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
            if remote_has_branch && mode != Mode::PushOnly {
                self.integrate(report)?;
            }
            if mode == Mode::PullOnly {
                return Ok(());
            }
            let (ahead, behind) = self.repo.ahead_behind()?;
            if mode == Mode::PushOnly && behind > 0 {
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

    fn push(&mut self, timeout: Duration) -> Result<PushOutcome> {
        let progress = self.progress(ProgressOp::Push);
        let pushed = self.repo.push_with_progress(timeout, Some(progress.callback()));
        progress.finish();
        pushed
    }

    fn integrate(&mut self, report: &mut CycleReport) -> Result<()> {
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
                    if self.config.mode == Mode::PullOnly {
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

    /// Raises (once) and clears the freshness alerts of `freshness:`: unpushed work older than
    /// `unpushed_max_min`, a remote not reached for `remote_unreached_max_min`, another device
    /// silent for `device_silent_max_hours` (checked at most hourly).
    fn check_freshness(&mut self) {
        let f = self.config.settings.freshness.clone();
        let now = self.now();
        let age_min = |t: SystemTime| now.duration_since(t).unwrap_or_default().as_secs() / 60;
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        if f.unpushed_max_min > 0 && self.unpushed > 0 && self.config.mode != Mode::PullOnly {
            if let Ok(Some(oldest)) = self.repo.oldest_unpushed() {
                let waited = age_min(oldest.into());
                if waited >= f.unpushed_max_min {
                    found.insert(
                        "unpushed".into(),
                        format!(
                            "{} commit(s) have waited {} to be pushed",
                            self.unpushed,
                            words(waited)
                        ),
                    );
                }
            }
        }
        if f.remote_unreached_max_min > 0 {
            let waited = age_min(self.last_remote_ok);
            if waited >= f.remote_unreached_max_min {
                found.insert(
                    "remote_unreached".into(),
                    format!("the remote has not been reached for {}", words(waited)),
                );
            }
        }
        if f.device_silent_max_hours > 0 {
            let due = self.devices_checked.is_none_or(|t| t.elapsed() >= DEVICE_CHECK_EVERY);
            if due {
                self.devices_checked = Some(Instant::now());
                let silent: Vec<String> = self
                    .repo
                    .devices(DEVICE_CHECK_DEPTH)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|d| {
                        d.via_supersonic && d.id.as_deref() != Some(&self.identity.device.id)
                    })
                    .filter(|d| age_min(d.last_commit.into()) >= f.device_silent_max_hours * 60)
                    .map(|d| format!("{} ({})", d.name, words(age_min(d.last_commit.into()))))
                    .collect();
                if !silent.is_empty() {
                    found.insert(
                        "device_silent".into(),
                        format!("no sync from {} ", silent.join(", ")).trim_end().to_string(),
                    );
                }
            } else if let Some(kept) = self.stale.get("device_silent") {
                found.insert("device_silent".into(), kept.clone());
            }
        }
        let folder = self.folder_name();
        let cleared: Vec<String> =
            self.stale.keys().filter(|k| !found.contains_key(*k)).cloned().collect();
        for alert in cleared {
            self.stale.remove(&alert);
            self.emit(Event::Stale {
                folder: folder.clone(),
                alert,
                message: String::new(),
                cleared: true,
            });
        }
        for (alert, message) in found {
            if !self.stale.contains_key(&alert) {
                tracing::warn!("{folder}: {message}");
                self.emit(Event::Stale {
                    folder: folder.clone(),
                    alert: alert.clone(),
                    message: message.clone(),
                    cleared: false,
                });
            }
            self.stale.insert(alert, message);
        }
        self.write_status();
    }

    /// Keeps the quarantine in step with a snapshot of `batch`: files the snapshot held back
    /// are added (a warning the first time), files it looked at and did not hold are dropped
    /// (committed, released, ignored or deleted).
    fn update_held(&mut self, batch: &Batch, held: &[(String, String)]) {
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

    /// Lets `supersonic undo` take back the integrate that just moved HEAD from `before`.
    fn record_undo_point(&self, before: Option<git2::Oid>) {
        let (Some(pre), Ok(Some(post))) = (before, self.repo.head()) else { return };
        if let Err(e) = self.repo.record_undo_point(pre, post) {
            tracing::warn!("{}: cannot record the undo point: {e}", self.folder_name());
        }
    }

    /// Returns a reporter of `op`'s progress for this folder.
    /// Records on the remote that this device just synced, when the last record is older than
    /// [`DEVICE_SEEN_EVERY`] (a mirror, which never writes to the remote, does not). A failure
    /// is logged, never the cycle's: the record only informs the devices view.
    fn publish_seen(&mut self) {
        if self.config.mode == Mode::PullOnly
            || self.seen_published.is_some_and(|t| t.elapsed() < DEVICE_SEEN_EVERY)
        {
            return;
        }
        self.seen_published = Some(Instant::now());
        let now = DateTime::<Utc>::from(self.now());
        if let Err(e) = self.repo.publish_seen(&self.identity, now, self.timeout()) {
            tracing::warn!("{}: cannot record this device's last sync: {e}", self.folder_name());
        }
    }

    /// Measures the repository's size now and publishes it in the status.
    pub fn measure_growth(&mut self) {
        match self.repo.growth(Utc::now()) {
            Ok(g) => {
                self.growth = Some(g);
                self.growth_at = Some(Instant::now());
                self.growth_dirty = false;
                self.write_status();
            }
            Err(e) => tracing::warn!("{}: cannot measure the repository: {e}", self.folder_name()),
        }
    }

    /// Returns the gc interval, `None` when gc is off.
    fn gc_interval(&self) -> Option<Duration> {
        let hours = self.config.settings.sync.gc_interval_hours;
        (hours > 0.0).then(|| Duration::from_secs_f64(hours * 3600.0))
    }

    /// Returns whether the folder may be maintained now: neither paused nor stopped.
    fn maintainable(&self) -> bool {
        self.state != FolderState::Paused
            && self.stop.is_none()
            && !matches!(self.state, FolderState::Error { .. })
    }

    /// Returns when [`Folder::maintain`] next has work: a growth refresh after changes, a
    /// `gc --auto` once quiet after changes, a scheduled gc; `now` when it is due already.
    /// `None` when nothing is pending.
    pub fn maintenance_due(&self, now: Instant) -> Option<Instant> {
        if !self.maintainable() {
            return None;
        }
        let growth = match self.growth_at {
            None => Some(now),
            Some(at) if self.growth_dirty => Some(at + GROWTH_REFRESH),
            Some(_) => None,
        };
        let gc = self.gc_interval().map(|interval| {
            let quiet = self.last_change + GC_QUIET.min(interval / 2);
            if self.gc_dirty {
                return quiet;
            }
            let since = self.last_gc.map_or(self.gc_epoch, SystemTime::from);
            let wait = (since + interval).duration_since(self.now()).unwrap_or_default();
            quiet.max(now + wait)
        });
        growth.into_iter().chain(gc).min()
    }

    /// Does the maintenance that is due at `now` (see [`Folder::maintenance_due`]). Runs in the
    /// worker between cycles, so `git gc` never overlaps a sync of this folder.
    pub fn maintain(&mut self, now: Instant) {
        if !self.maintainable() {
            return;
        }
        let Some(interval) = self.gc_interval() else {
            return self.refresh_growth(now);
        };
        let quiet = now >= self.last_change + GC_QUIET.min(interval / 2);
        let since = self.last_gc.map_or(self.gc_epoch, SystemTime::from);
        let scheduled = self.now().duration_since(since).is_ok_and(|d| d >= interval);
        if quiet && (scheduled || self.gc_dirty) {
            let _ = self.gc(!scheduled);
        }
        self.refresh_growth(now);
    }

    fn refresh_growth(&mut self, now: Instant) {
        let due = match self.growth_at {
            None => true,
            Some(at) => self.growth_dirty && now >= at + GROWTH_REFRESH,
        };
        if due {
            self.measure_growth();
        }
    }

    /// Runs `git gc` now (`auto`: `git gc --auto`, which acts only past git's thresholds) and
    /// records it in history with the `.git` size before and after; an automatic run that
    /// changed nothing is not recorded (it runs after every burst of syncs). Returns the
    /// `.git` sizes before and after.
    pub fn gc(&mut self, auto: bool) -> Result<(u64, u64)> {
        let started = Instant::now();
        let before = self.repo.growth(Utc::now())?;
        let outcome = self.repo.gc(auto, GC_TIMEOUT);
        self.gc_dirty = false;
        if !auto || outcome.is_err() {
            self.last_gc = Some(DateTime::<Utc>::from(self.now()));
        }
        let after = self.repo.growth(Utc::now())?;
        let changed = after.git_bytes != before.git_bytes
            || after.loose_objects != before.loose_objects
            || after.pack_bytes != before.pack_bytes;
        if !auto || changed || outcome.is_err() {
            let mut row = HistoryEvent::new(&self.folder_name(), history::GC, Utc::now());
            row.duration_sec = Some(started.elapsed().as_secs_f64());
            row.reason = Some(format!(
                "{}: .git {} -> {} bytes",
                if auto { "git gc --auto" } else { "git gc" },
                before.git_bytes,
                after.git_bytes
            ));
            row.error_msg = outcome.as_ref().err().map(|e| e.to_string());
            row.data = Some(serde_json::json!({
                "auto": auto,
                "git_bytes_before": before.git_bytes,
                "git_bytes_after": after.git_bytes,
                "loose_objects_before": before.loose_objects,
                "loose_objects_after": after.loose_objects,
            }));
            self.record(row);
        }
        self.growth = Some(after.clone());
        self.growth_at = Some(Instant::now());
        self.growth_dirty = false;
        self.write_status();
        if let Err(e) = &outcome {
            tracing::warn!("{}: git gc failed: {e}", self.folder_name());
        }
        outcome.map(|_| (before.git_bytes, after.git_bytes))
    }

    fn progress(&self, op: ProgressOp) -> Progress {
        Progress::new(self.bus.clone(), self.folder_name(), op, self.progress_delay)
    }

    /// Returns the current time as the folder sees it (the clock is an input, see
    /// [`Folder::set_clock`]).
    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Sets how long work runs before its progress is reported (tests report everything).
    pub fn set_progress_delay(&mut self, delay: Duration) {
        self.progress_delay = delay;
    }

    /// Replaces the clock the throttle and backoff read (tests move time forward with it).
    pub fn set_clock(&mut self, clock: fn() -> SystemTime) {
        self.clock = clock;
    }

    /// Returns the throttle state.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Returns when a retry is due, if one is scheduled.
    pub fn retry_at(&self) -> Option<SystemTime> {
        self.retry_at
    }

    /// Returns whether the folder is stopped on a condition the engine re-checks, and it is
    /// time to check it again.
    fn rechecks(&self) -> bool {
        match self.stop {
            Some(Stop::Recheck) => true,
            Some(Stop::DiskFull { free, at }) => {
                self.repo.free_bytes().is_some_and(|now| now >= free + DISK_FULL_GROWTH)
                    || self.now().duration_since(at).unwrap_or_default() >= DISK_FULL_RETRY
            }
            Some(Stop::User) | None => false,
        }
    }

    /// Forgets the throttle's window and backoff (the user's "clear").
    pub fn clear_throttle(&mut self) {
        self.throttle = Throttle::default();
        self.retry_at = None;
        self.throttle_reported = false;
        self.save_throttle();
        self.write_status();
    }

    /// Pauses the folder (no commits, no remote work) until [`Folder::resume`].
    pub fn pause(&mut self) {
        self.set_state(FolderState::Paused);
    }

    /// Resumes a paused or stopped folder with a full rescan.
    pub fn resume(&mut self) {
        self.stop = None;
        self.needs_full = true;
        self.set_state(FolderState::Idle);
    }
}

/// How much free space must grow before a folder stopped on a full disk tries again.
///
/// Deleting any sizeable file passes it at once; the churn of other programs on the same disk
/// (logs, caches) does not cause a failing retry at every poll.
const DISK_FULL_GROWTH: u64 = 1024 * 1024;

/// How long a folder stopped on a full disk waits at most before it tries again even though
/// free space did not grow: space freed before the stop was measured, or a quota (EDQUOT) that
/// free space does not show. One failure row per quarter hour at worst.
const DISK_FULL_RETRY: Duration = Duration::from_secs(15 * 60);

/// How often other devices' last syncs are looked up for the `device_silent` alert.
const DEVICE_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Commits walked for the `device_silent` alert.
const DEVICE_CHECK_DEPTH: usize = 5_000;

/// Minutes in words: "45 min", "3 h", "2 days".
fn words(minutes: u64) -> String {
    match minutes {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

/// How long an operation runs before its progress is reported (short ones never are).
const PROGRESS_DELAY: Duration = Duration::from_millis(500);

/// Least time between two progress events of one operation.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Turns a long operation's counts into [`Event::Progress`] events: none for work that ends
/// within [`PROGRESS_DELAY`], then at most one per [`PROGRESS_EVERY`], and a last one marked
/// finished. Shared with the reader thread of a network command, hence the lock.
#[derive(Clone)]
pub(crate) struct Progress {
    inner: Arc<std::sync::Mutex<ProgressState>>,
}

struct ProgressState {
    bus: EventBus,
    folder: String,
    op: ProgressOp,
    started: Instant,
    delay: Duration,
    last: Option<Instant>,
    phase: String,
    done: u64,
    total: Option<u64>,
}

impl Progress {
    pub(crate) fn new(bus: EventBus, folder: String, op: ProgressOp, delay: Duration) -> Progress {
        let state = ProgressState {
            bus,
            folder,
            op,
            started: Instant::now(),
            delay,
            last: None,
            phase: String::new(),
            done: 0,
            total: None,
        };
        Progress { inner: Arc::new(std::sync::Mutex::new(state)) }
    }

    pub(crate) fn update(&mut self, phase: &str, done: u64, total: Option<u64>) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.phase != phase {
            s.phase = phase.to_string();
        }
        s.done = done;
        s.total = total;
        let now = Instant::now();
        if now.duration_since(s.started) < s.delay
            || s.last.is_some_and(|last| now.duration_since(last) < PROGRESS_EVERY)
        {
            return;
        }
        s.last = Some(now);
        s.emit(false);
    }

    /// A callback for [`GitRepo::fetch_with_progress`] and friends.
    pub(crate) fn callback(&self) -> crate::git::ProgressFn {
        let mut this = self.clone();
        Box::new(move |phase, done, total| this.update(phase, done, total))
    }

    /// Ends the operation: a last event, if any was sent.
    pub(crate) fn finish(self) {
        let s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.last.is_some() {
            s.emit(true);
        }
    }
}

impl ProgressState {
    fn emit(&self, finished: bool) {
        self.bus.emit(Event::Progress {
            folder: self.folder.clone(),
            operation: self.op,
            phase: self.phase.clone(),
            done: self.done,
            total: self.total,
            finished,
        });
    }
}

fn load_ignore(config: &FolderConfig) -> Result<IgnoreRules> {
    IgnoreRules::load(
        &config.path,
        &config.settings.exclude_patterns,
        &config.path.join(crate::config::FOLDER_CONFIG_FILE),
    )
}

/// Takes the folder lock (`.git/supersonic.lock`), which the OS releases when the process dies.
pub fn take_folder_lock(folder: &Path) -> Result<File> {
    let path = folder.join(".git").join(FOLDER_LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::{Seek, Write};
            let _ = file.set_len(0);
            let _ = file.seek(std::io::SeekFrom::Start(0));
            let _ = write!(file, "{}", std::process::id());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            Err(Error::Invalid(format!(
                "{} is already being synced by another Supersonic process (pid {}); stop it or \
                 use that one",
                folder.display(),
                holder.trim()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Commands a running folder worker accepts.
#[derive(Debug)]
pub enum Command {
    /// Run a full cycle now and answer with its outcome.
    SyncNow(Sender<std::result::Result<CycleReport, String>>),
    /// Clear the backoff and run a cycle now ("retry now").
    Retry(Sender<std::result::Result<CycleReport, String>>),
    /// Forget the throttle's window and backoff ("clear").
    ClearThrottle,
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Commit the pending changes locally and stop.
    Shutdown,
}

/// Runs the worker loop of `folder` until a [`Command::Shutdown`] arrives or `commands` closes.
/// A change of the folder's own config file is signalled on `config_changed` (the engine
/// reloads, which restarts this worker with the new settings).
pub fn run_worker(mut folder: Folder, commands: Receiver<Command>, config_changed: Sender<()>) {
    let s = folder.config.settings.sync.clone();
    let root = folder.config.path.clone();
    let name = folder.folder_name();
    let (wtx, mut wrx) = crossbeam_channel::unbounded::<WatchMsg>();
    let mut watch = match FolderWatch::start(&root, &folder.ignore, wtx) {
        Ok((watch, report)) => {
            if let Some(warning) = report.limit_warning {
                folder.emit(Event::Warning { folder: name.clone(), message: warning });
            }
            Some(watch)
        }
        Err(e) => {
            folder.emit(Event::Warning { folder: name.clone(), message: e.to_string() });
            None
        }
    };
    let mut rescan_every = if watch.as_ref().is_some_and(|w| !w.limit_hit()) {
        Duration::from_secs(s.rescan_interval_sec)
    } else {
        Duration::from_secs(s.rescan_interval_sec.min(60))
    };
    let poll_every = Duration::from_secs(s.interval_sec);
    let mut batcher = Batcher::new(
        Duration::from_millis(s.debounce_ms),
        Duration::from_millis(s.max_latency_ms),
        s.batch_cap,
    );
    folder.reconcile_history();
    let _ = folder.cycle(Some(Batch::Full), Trigger::Start);
    let mut rules_seen = folder.rules_version;
    let mut next_poll = Instant::now() + poll_every;
    let mut next_rescan = Instant::now() + rescan_every;
    loop {
        let now = Instant::now();
        let retry =
            folder.retry_at().map(|t| now + t.duration_since(folder.now()).unwrap_or_default());
        // Maintenance waits while a batch is pending (the batch's deadline comes first).
        let maintenance =
            if batcher.due_at().is_none() { folder.maintenance_due(now) } else { None };
        let deadline = [batcher.due_at(), Some(next_poll), Some(next_rescan), retry, maintenance]
            .into_iter()
            .flatten()
            .min()
            .expect("poll deadline always present");
        let timeout = deadline.saturating_duration_since(now);
        crossbeam_channel::select! {
            recv(commands) -> cmd => match cmd {
                Ok(Command::SyncNow(reply)) => {
                    let batch = batcher.take().unwrap_or(Batch::Full);
                    folder.pending = 0;
                    let result = folder.cycle(Some(batch), Trigger::Manual).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                    next_poll = Instant::now() + poll_every;
                }
                Ok(Command::Retry(reply)) => {
                    folder.throttle.clear_backoff();
                    folder.retry_at = None;
                    let batch = batcher.take().unwrap_or(Batch::Full);
                    folder.pending = 0;
                    let result = folder.cycle(Some(batch), Trigger::Manual).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
                Ok(Command::ClearThrottle) => folder.clear_throttle(),
                Ok(Command::Pause) => folder.pause(),
                Ok(Command::Resume) => {
                    folder.resume();
                    let _ = folder.cycle(Some(Batch::Full), Trigger::Manual);
                }
                Ok(Command::Shutdown) | Err(_) => {
                    // Commit what is pending so no edit waits on a stopped engine.
                    while let Ok(msg) = wrx.try_recv() {
                        handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    }
                    if folder.needs_full {
                        batcher.push_full(Instant::now());
                    }
                    if let Some(batch) = batcher.take() {
                        if folder.state != FolderState::Paused && folder.stop.is_none() {
                            let mut report = CycleReport::default();
                            let _ = folder.repo.preflight(0).and_then(|_| folder.snapshot(&batch, &mut report));
                        }
                    }
                    break;
                }
            },
            recv(wrx) -> msg => match msg {
                Ok(msg) => {
                    handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    // Drain what else is queued without waking per event.
                    while let Ok(msg) = wrx.try_recv() {
                        handle_watch_msg(&root, &folder.ignore, watch.as_mut(), &mut batcher, msg);
                    }
                    folder.pending = batcher.len_hint();
                }
                Err(_) => {
                    // The watcher is gone (it failed to start or its thread died): a
                    // disconnected channel is always ready, so stop selecting on it and rely on
                    // rescans, which run every minute at most from now on.
                    wrx = crossbeam_channel::never();
                    rescan_every = rescan_every.min(Duration::from_secs(60));
                    next_rescan = next_rescan.min(Instant::now() + rescan_every);
                    folder.emit(Event::Warning {
                        folder: name.clone(),
                        message: "file watching stopped; changes are found by rescans every \
                                  minute"
                            .into(),
                    });
                }
            },
            default(timeout) => {},
        }
        if folder.rules_version != rules_seen {
            // Directories that stopped being ignored need watches now.
            rules_seen = folder.rules_version;
            if let Some(w) = watch.as_mut() {
                w.add_tree(&root, &folder.ignore);
            }
        }
        let now = Instant::now();
        if let Some(batch) = batcher.take_due(now) {
            folder.pending = 0;
            if let Batch::Paths(paths) = &batch {
                if paths.contains(Path::new(crate::config::FOLDER_CONFIG_FILE)) {
                    let _ = config_changed.send(());
                }
            }
            let _ = folder.cycle(Some(batch), Trigger::Changes);
        }
        if now >= next_poll {
            next_poll = now + poll_every;
            if folder.rechecks() {
                folder.resume();
            }
            let _ = folder.cycle(None, Trigger::Poll);
        }
        if now >= next_rescan {
            next_rescan = now + rescan_every;
            let _ = folder.cycle(Some(Batch::Full), Trigger::Rescan);
        }
        if folder.retry_at().is_some_and(|t| t <= folder.now()) {
            folder.retry_at = None;
            let _ = folder.cycle(None, Trigger::Retry);
        }
        if batcher.due_at().is_none() && folder.maintenance_due(now).is_some_and(|t| t <= now) {
            folder.maintain(now);
        }
    }
}

fn handle_watch_msg(
    root: &Path,
    ignore: &IgnoreRules,
    watch: Option<&mut FolderWatch>,
    batcher: &mut Batcher,
    msg: WatchMsg,
) {
    let now = Instant::now();
    match msg {
        WatchMsg::Rescan => {
            tracing::info!(
                "file events were lost in {} (inotify queue overflow); rescanning everything",
                root.display()
            );
            batcher.push_full(now);
        }
        WatchMsg::Error(e) => {
            tracing::warn!("watcher error in {}: {e}; rescanning", root.display());
            batcher.push_full(now);
        }
        WatchMsg::Paths { paths, removal } => {
            let mut watch = watch;
            for abs in paths {
                let Ok(rel) = abs.strip_prefix(root) else { continue };
                if rel.as_os_str().is_empty() {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&abs).ok();
                let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
                if ignore.is_ignored(rel, is_dir) {
                    continue;
                }
                if let Some(w) = watch.as_deref_mut() {
                    if removal && w.is_watched(&abs) {
                        w.forget_tree(&abs);
                    }
                    if is_dir && !w.is_watched(&abs) {
                        w.add_tree(&abs, ignore);
                    } else if meta.is_none() && w.is_watched(&abs) {
                        w.forget_tree(&abs);
                    }
                }
                batcher.push(rel.to_path_buf(), now);
            }
        }
    }
}

/// Resolves every configured folder of the app config (used by the engine and the CLI).
pub fn resolve_all(
    dirs: &Dirs,
    env: &BTreeMap<String, String>,
) -> Result<(crate::config::AppConfig, Vec<FolderConfig>)> {
    let file = dirs.app_config_file();
    let app = crate::config::load_app_config(&file)?;
    let folders = app
        .folders
        .iter()
        .map(|entry| crate::config::resolve_folder(&file, &app, entry, env))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((app, folders))
}

/// Returns the history row for an event, if it is one that history keeps.
fn history_row(event: &Event) -> Option<HistoryEvent> {
    let now = Utc::now();
    let mut row = HistoryEvent::new(event.folder(), "", now);
    match event {
        Event::State { .. } | Event::Progress { .. } | Event::OperationFinished { .. } => {
            return None
        }
        Event::Stale { alert, message, cleared, .. } => {
            row.event_type = history::STALE.into();
            row.reason = Some(if *cleared { format!("{alert} cleared") } else { message.clone() });
            row.data = Some(serde_json::json!({ "alert": alert, "cleared": cleared }));
        }
        Event::SyncStart { trigger, .. } => {
            row.event_type = history::SYNC_START.into();
            row.reason = Some(trigger.clone());
        }
        Event::Committed { commit, files_changed, .. } => {
            row.event_type = history::COMMIT.into();
            row.commit_hash = Some(commit.clone());
            row.files_changed = Some(*files_changed as i64);
        }
        Event::SyncSuccess { duration_sec, files_changed, commit, pulled, pushed, .. } => {
            row.event_type = history::SYNC_SUCCESS.into();
            row.duration_sec = Some(*duration_sec);
            row.files_changed = Some(*files_changed as i64);
            row.commit_hash = commit.clone();
            row.data = Some(serde_json::json!({ "pulled": pulled, "pushed": pushed }));
        }
        Event::SyncFailure { error, code, class, retry_in_sec, .. } => {
            row.event_type = history::SYNC_FAILURE.into();
            row.error_msg = Some(error.clone());
            row.reason = Some(code.clone());
            row.data = Some(serde_json::json!({ "class": class, "retry_in_sec": retry_in_sec }));
        }
        Event::RateLimitHit { reason, retry_in_sec, .. } => {
            row.event_type = history::RATE_LIMIT_HIT.into();
            row.reason = Some(format!("{reason}; next attempt in {retry_in_sec} s"));
        }
        Event::ConflictDetected { path, copy, conflict_kind, strategy, .. } => {
            row.event_type = history::CONFLICT_DETECTED.into();
            row.reason = Some(format!("{path}: {conflict_kind}, {strategy}"));
            row.data = Some(serde_json::json!({ "path": path, "copy": copy }));
        }
        Event::FileSkipped { path, reason, .. } => {
            row.event_type = history::WARNING.into();
            row.reason = Some(format!("not syncing {path}: {reason}"));
        }
        Event::Warning { message, .. } => {
            row.event_type = history::WARNING.into();
            row.reason = Some(message.clone());
        }
    }
    Some(row)
}
