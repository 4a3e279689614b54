//! One synced folder: its state, its sync cycle, and the worker thread that drives it.
//!
//! The cycle: preflight (dangerous states stop the folder), snapshot the batch into one commit,
//! then — if the throttle allows — fetch, integrate (fast-forward or merge keeping both versions
//! of conflicting files), and push, looping back to fetch when the push is rejected as
//! non-fast-forward. A cycle started by local changes pushes first and fetches only when that
//! push is rejected (one git process instead of two when nobody else pushed). Failures are
//! classified: transient ones back off exponentially, needs-attention ones stop the folder until
//! the user acts.
//!
//! This file holds the [`Folder`] itself (opening, status, pause and resume); the rest is one
//! job per file: `cycle` (one cycle, gate to snapshot), `remote` (fetch, integrate, push),
//! `failure` (backoff and stops), `freshness` (stale-work alerts), `maintenance` (growth and
//! gc), `record` (events and history rows), `progress` (progress events), `mode` (what
//! two-way, push-only and pull-only decide) and `worker` (the thread and its timers).

mod cycle;
mod failure;
mod freshness;
mod maintenance;
mod mode;
mod progress;
mod record;
mod remote;
mod worker;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use crate::config::FolderConfig;
use crate::conflicts::Policy;
use crate::events::{Event, EventBus};
use crate::git::{GitRepo, Identity};
use crate::history::{self, History, HistoryEvent};
use crate::ignore::IgnoreRules;
use crate::paths::Dirs;
use crate::status::{FolderState, FolderStatus, HeldFile, RepoGrowth};
use crate::throttle::{Limits, Throttle};
use crate::{Error, Result};

use failure::Stop;
use progress::PROGRESS_DELAY;

pub use cycle::{CycleReport, Trigger};
pub use failure::BUSY_RETRY;
pub use freshness::DEVICE_SEEN_EVERY;
pub use maintenance::{GC_QUIET, GC_TIMEOUT, GROWTH_REFRESH};
pub(crate) use progress::Progress;
pub use record::{PRUNE_EVERY, RECONCILE_DEPTH};
pub use remote::{MAX_PUSH_ROUNDS, MAX_WORKTREE_RETRIES};
pub use worker::{run_worker, Command};

/// Name of the lock file that keeps two Supersonic processes off the same folder.
pub const FOLDER_LOCK_FILE: &str = "supersonic.lock";

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
    /// Set when a cycle reloaded the ignore rules, until the worker takes the notice (see
    /// [`Folder::take_rules_reloaded`]).
    rules_reloaded: bool,
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
            rules_reloaded: false,
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

    /// Returns whether a cycle reloaded the ignore rules since the last call, and forgets it:
    /// the worker then watches the directories that stopped being ignored.
    fn take_rules_reloaded(&mut self) -> bool {
        std::mem::take(&mut self.rules_reloaded)
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
            unpushed_commits: if self.config.mode.pushes() { ahead } else { 0 },
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
