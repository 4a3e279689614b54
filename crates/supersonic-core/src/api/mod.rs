//! The façade every shell calls (the CLI, the local HTTP API and the desktop app). Each method
//! is one user-level action, returns typed results, and leaves presentation to the shell; the
//! requests and answers the HTTP routes and the desktop IPC share are in [`control`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{self, AppConfig, FolderConfig, FolderEntry, Mode};
use crate::conflicts::{self, Action, ConflictView};
use crate::device::Device;
use crate::engine::{self, EngineHandle};
use crate::events::{EventBus, ProgressOp};
use crate::folder::{self, CycleReport, Folder, Trigger};
use crate::git::{self, GitRepo, Identity};
use crate::history::{self, History, HistoryEvent, HistoryRow, HourBucket, ImportReport, Stats};
use crate::ignore::{IgnoreRules, Match};
use crate::paths::{self, Dirs};
use crate::status::{FolderState, FolderStatus};
use crate::throttle;
use crate::{Error, Result};

pub mod control;

/// Deadline for checking that a remote is reachable when a folder is added or its remote changes.
pub const REMOTE_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The files one folder's secret guard holds back.
#[derive(Debug, Clone, Serialize)]
pub struct FolderQuarantine {
    /// The folder.
    pub folder: PathBuf,
    /// The held files.
    pub held: Vec<crate::status::HeldFile>,
}

/// What `undo` did.
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// The folder.
    pub folder: PathBuf,
    /// The undo commit and the files it restored.
    pub undone: git::UndoOutcome,
    /// Who pushes it.
    pub synced: SyncedBy,
}

/// Returns the branch to hydrate when none is given: the remote's HEAD when it names an
/// existing branch (a bare repository's HEAD often names `master` while `main` is pushed),
/// else `main`, else `master`, else the only branch; `None` for an empty remote.
fn remote_default_branch(remote: &str) -> Result<Option<String>> {
    let out = git::run_network(
        "ls-remote",
        remote,
        None,
        &["ls-remote", "--symref", remote, "HEAD", "refs/heads/*"],
        REMOTE_CHECK_TIMEOUT,
    )?;
    if !out.success {
        return Err(git::remote_error("ls-remote", remote, &out.stderr));
    }
    let mut head = None;
    let mut branches = Vec::new();
    for line in out.stdout.lines() {
        if let Some(rest) = line.strip_prefix("ref: refs/heads/") {
            head = rest.split('\t').next().map(str::to_string);
        } else if let Some((_, name)) = line.split_once("\trefs/heads/") {
            branches.push(name.to_string());
        }
    }
    let has = |b: &str| branches.iter().any(|x| x == b);
    Ok(head
        .filter(|h| has(h))
        .or_else(|| ["main", "master"].into_iter().find(|b| has(b)).map(str::to_string))
        .or_else(|| (branches.len() == 1).then(|| branches[0].clone())))
}

/// Deadline of the clone of `hydrate` (progress shows it is alive; a dead remote still fails).
pub const HYDRATE_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// How often `undo` tries again when a running engine moved the branch under it.
const UNDO_BUSY_RETRIES: usize = 10;

/// How many commits the devices view walks per folder.
pub const DEVICE_DEPTH: usize = 100_000;

/// The devices one folder's history shows.
#[derive(Debug, Clone, Serialize)]
pub struct FolderDevices {
    /// The folder.
    pub folder: PathBuf,
    /// Its devices, most recently active first.
    pub devices: Vec<DeviceView>,
}

/// A device, and whether it is this one.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// What the history shows of it.
    #[serde(flatten)]
    pub seen: git::DeviceSeen,
    /// Whether it is the device this runs on.
    pub this_device: bool,
}

/// Largest conflict version [`Api::conflict_blob`] returns. A camera photo or a screenshot fits;
/// the whole version is held in memory (and sent as base64 over IPC), so a video does not.
pub const MAX_BLOB_BYTES: u64 = 32 * 1024 * 1024;

/// The keys of a settings patch that change a folder's entry in the app config (where it syncs
/// to, and how) rather than its settings layer.
const ENTRY_KEYS: [&str; 3] = ["remote", "branch", "mode"];

/// The engine's façade, bound to a set of dirs and an environment.
#[derive(Debug, Clone)]
pub struct Api {
    dirs: Dirs,
    env: BTreeMap<String, String>,
}

/// What `init` should register.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// The folder to sync (created if missing and its parent exists).
    pub path: PathBuf,
    /// Remote URL or path; `None` uses the folder's existing `origin`, else an embedded bare
    /// repository in the data dir.
    pub remote: Option<String>,
    /// Branch (default: the repo's current branch, else `main`).
    pub branch: Option<String>,
    /// Mode.
    pub mode: Mode,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitOutcome {
    /// The registered folder.
    pub path: PathBuf,
    /// Its remote (redacted).
    pub remote: String,
    /// Whether the remote is an embedded bare repository created for it.
    pub embedded_remote: bool,
    /// Branch.
    pub branch: String,
    /// Mode.
    pub mode: Mode,
}

/// The effective configuration, secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveConfig {
    /// The app config file.
    pub config_file: PathBuf,
    /// The data dir.
    pub data_dir: PathBuf,
    /// This device.
    pub device: Device,
    /// Every folder, fully resolved.
    pub folders: Vec<FolderConfig>,
}

/// Which version of a conflicting file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This device's version.
    Local,
    /// The other device's version.
    Remote,
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "local" => Ok(Side::Local),
            "remote" => Ok(Side::Remote),
            other => Err(format!("unknown side `{other}` (expected local or remote)")),
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Remote => "remote",
        })
    }
}

/// The content of one version of a conflicting file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictBlob {
    /// The folder.
    pub folder: PathBuf,
    /// The repo-relative file this version is (the path, or its conflict copy).
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Folders with a hydrate or seed running in this process: a second one on the same folder
/// would fight over it.
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A long operation running in the background (hydrate, seed).
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// Its id; the [`Event::OperationFinished`](crate::events::Event::OperationFinished) that
    /// ends it carries the same.
    pub id: String,
    /// Which operation.
    pub operation: ProgressOp,
    /// The folder it works on (the events name it).
    pub folder: PathBuf,
}

impl Operation {
    /// Runs `work` on a thread with a progress reporter on `bus`, then reports its end.
    fn spawn(
        operation: ProgressOp,
        folder: PathBuf,
        bus: EventBus,
        work: impl FnOnce(&crate::folder::Progress) -> Result<()> + Send + 'static,
    ) -> Result<Operation> {
        if !RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(folder.clone()) {
            return Err(Error::Busy(format!(
                "a hydrate or seed of {} is already running",
                folder.display()
            )));
        }
        let op = Operation { id: format!("{:016x}", rand::random::<u64>()), operation, folder };
        let name = op.folder.display().to_string();
        let done = op.clone();
        let spawned =
            std::thread::Builder::new().name(format!("{operation:?} {name}")).spawn(move || {
                let progress = crate::folder::Progress::new(
                    bus.clone(),
                    name.clone(),
                    operation,
                    Duration::ZERO,
                );
                let result = work(&progress);
                progress.finish();
                RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&done.folder);
                if let Err(e) = &result {
                    tracing::warn!("{name}: {operation:?} failed: {e}");
                }
                bus.emit(crate::events::Event::OperationFinished {
                    folder: name,
                    id: done.id,
                    operation,
                    ok: result.is_ok(),
                    code: result.as_ref().err().map(|e| e.code().to_string()),
                    error: result.err().map(|e| git::scrub(&e.to_string())),
                });
            });
        if let Err(e) = spawned {
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&op.folder);
            return Err(Error::Invalid(format!("cannot start a thread: {e}")));
        }
        Ok(op)
    }
}

/// Outcome of `check-ignore` for one path.
#[derive(Debug, Clone, Serialize)]
pub struct IgnoreCheck {
    /// The path as given.
    pub path: PathBuf,
    /// The rule that ignores it, if any.
    pub rule: Option<Match>,
}

impl Api {
    /// Creates the façade from the process environment (`SUPERSONIC_*`, XDG, HOME).
    pub fn from_env(env: BTreeMap<String, String>) -> Result<Api> {
        Ok(Api { dirs: Dirs::from_env(&env)?, env })
    }

    /// Returns the dirs in use.
    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// Loads and resolves the whole configuration.
    pub fn load(&self) -> Result<(AppConfig, Vec<FolderConfig>)> {
        folder::resolve_all(&self.dirs, &self.env)
    }

    /// Returns this device's identity.
    pub fn device(&self, app: &AppConfig) -> Result<Device> {
        Device::load(&self.dirs, app.device.name.as_deref(), &self.env)
    }

    /// Registers a folder: validates everything first (path, config files, ignore rules,
    /// remote reachability), and only then creates the repo, the embedded remote if needed, and
    /// the config entry. Bad input leaves nothing written.
    pub fn init_folder(&self, req: InitRequest) -> Result<InitOutcome> {
        let (entry, outcome) = self.prepare_folder(req)?;
        self.register(entry)?;
        Ok(outcome)
    }

    /// Adds `entry` to the app config (a running engine picks it up from there).
    fn register(&self, entry: FolderEntry) -> Result<()> {
        let file = self.dirs.app_config_file();
        let mut app = config::load_app_config(&file)?;
        if app.folders.iter().any(|f| f.path == entry.path) {
            return Err(Error::Invalid(format!("{} is already synced", entry.path.display())));
        }
        app.folders.push(entry);
        config::save_app_config(&file, &app)
    }

    /// Does everything `init` does but the config entry: validates, then creates the folder,
    /// the embedded remote if needed and the repository; returns the entry to register.
    fn prepare_folder(&self, req: InitRequest) -> Result<(FolderEntry, InitOutcome)> {
        let path = paths::absolute(&req.path);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::Invalid(format!("{} is not a directory", path.display()))),
            Err(_) if path.parent().is_some_and(Path::is_dir) => {}
            Err(_) => {
                return Err(Error::Invalid(format!(
                    "{} does not exist (nor does its parent directory)",
                    path.display()
                )))
            }
        }
        let file = self.dirs.app_config_file();
        let app = config::load_app_config(&file)?;
        if let Some(existing) = app.folders.iter().find(|f| f.path == path) {
            return Err(Error::Invalid(format!(
                "{} is already synced (remote {})",
                path.display(),
                config::redact_url(&existing.remote)
            )));
        }
        let existing_repo = git2::Repository::open(&path).ok();
        let existing_origin = existing_repo.as_ref().and_then(|r| {
            r.find_remote(git::REMOTE).ok().and_then(|o| o.url().map(str::to_string))
        });
        let branch = req
            .branch
            .clone()
            .or_else(|| {
                existing_repo.as_ref().and_then(|r| {
                    r.find_reference("HEAD")
                        .ok()?
                        .symbolic_target()
                        .map(|t| t.trim_start_matches("refs/heads/").to_string())
                })
            })
            .unwrap_or_else(|| "main".to_string());
        let (remote, embedded) = match req.remote.as_deref().or(existing_origin.as_deref()) {
            Some(url) => (normalise_remote(url), false),
            None => {
                let bare = self.dirs.remotes_dir().join(format!("{}.git", paths::folder_id(&path)));
                (bare.display().to_string(), true)
            }
        };
        let entry = FolderEntry {
            path: path.clone(),
            remote: remote.clone(),
            branch: branch.clone(),
            mode: req.mode,
            paused: false,
            overrides: BTreeMap::new(),
        };
        // Validate the folder's own config and ignore rules (when the folder exists).
        if path.is_dir() {
            let resolved = config::resolve_folder(&file, &app, &entry, &self.env)?;
            IgnoreRules::load(
                &path,
                &resolved.settings.exclude_patterns,
                &path.join(config::FOLDER_CONFIG_FILE),
            )?;
        } else {
            let probe = FolderEntry { path: std::env::temp_dir(), ..entry.clone() };
            config::resolve_folder(&file, &app, &probe, &self.env)?;
        }
        if !embedded {
            git::check_remote(&remote, REMOTE_CHECK_TIMEOUT).map_err(|e| match e {
                Error::Remote { op, remote, message, class } => Error::Remote {
                    op,
                    remote: remote.clone(),
                    message: format!("remote is not usable: {message}"),
                    class,
                },
                other => other,
            })?;
        }
        // Everything checked: now write.
        if !path.exists() {
            std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        }
        if embedded {
            let bare = PathBuf::from(&remote);
            if !bare.exists() {
                std::fs::create_dir_all(self.dirs.remotes_dir())
                    .map_err(|e| Error::io(self.dirs.remotes_dir(), e))?;
                let mut opts = git2::RepositoryInitOptions::new();
                opts.bare(true).initial_head(&branch);
                git2::Repository::init_opts(&bare, &opts)
                    .map_err(Error::git(format!("create embedded remote {}", bare.display())))?;
            }
        }
        GitRepo::init(&path, &branch, &remote)?;
        let outcome = InitOutcome {
            path,
            remote: config::redact_url(&remote),
            embedded_remote: embedded,
            branch,
            mode: req.mode,
        };
        Ok((entry, outcome))
    }

    /// Returns the effective configuration with secrets redacted.
    pub fn effective_config(&self) -> Result<EffectiveConfig> {
        let (app, folders) = self.load()?;
        Ok(EffectiveConfig {
            config_file: self.dirs.app_config_file(),
            data_dir: self.dirs.data_dir.clone(),
            device: self.device(&app)?,
            folders: folders.iter().map(FolderConfig::redacted).collect(),
        })
    }

    /// Returns the status of every folder: from the running engine's status file when a daemon
    /// syncs it, else read from the repository.
    pub fn status(&self) -> Result<Vec<FolderStatus>> {
        let (_, folders) = self.load()?;
        let mut out = Vec::new();
        for cfg in folders {
            let id = paths::folder_id(&cfg.path);
            let running =
                cfg.path.join(".git").is_dir() && folder::take_folder_lock(&cfg.path).is_err();
            let recorded = crate::status::read(&self.dirs.status_dir(), &id);
            if running {
                if let Some(mut s) = recorded {
                    s.running = true;
                    out.push(s);
                    continue;
                }
            }
            let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote);
            // No engine measures it: measure now (one walk of `.git`, none of the folder).
            let growth =
                repo.as_ref().ok().and_then(|r| r.growth(chrono::Utc::now()).ok()).map(|mut g| {
                    g.last_gc = recorded.as_ref().and_then(|r| r.growth.as_ref()?.last_gc.clone());
                    g
                });
            let (state, head, ahead, pending) = match &repo {
                Ok(repo) => {
                    let (ahead, _) = repo.ahead_behind().unwrap_or((0, 0));
                    let pending = repo.changed_paths().map(|p| p.len()).unwrap_or(0);
                    let state = if cfg.paused { FolderState::Paused } else { FolderState::Idle };
                    (state, repo.head().ok().flatten().map(|o| o.to_string()), ahead, pending)
                }
                Err(e) => (
                    FolderState::Error {
                        message: e.to_string(),
                        code: e.code().into(),
                        class: e.class(),
                    },
                    None,
                    0,
                    0,
                ),
            };
            out.push(FolderStatus {
                path: cfg.path.clone(),
                remote: config::redact_url(&cfg.remote),
                branch: cfg.branch.clone(),
                mode: cfg.mode.to_string(),
                state,
                running,
                pid: None,
                head,
                unpushed_commits: ahead,
                pending_changes: pending,
                last_sync: recorded.as_ref().and_then(|r| r.last_sync.clone()),
                last_error: recorded.as_ref().and_then(|r| r.last_error.clone()),
                consecutive_failures: recorded.as_ref().map_or(0, |r| r.consecutive_failures),
                next_retry: None,
                held_back: recorded.as_ref().map(|r| r.held_back.clone()).unwrap_or_default(),
                stale: if running {
                    recorded.as_ref().map(|r| r.stale.clone()).unwrap_or_default()
                } else {
                    Vec::new()
                },
                growth,
            });
        }
        Ok(out)
    }

    /// Runs one full cycle on the folder at `path` (or on every folder) in this process.
    /// Fails for a folder a running daemon holds.
    pub fn sync_once(
        &self,
        path: Option<&Path>,
        allow_mass_delete: bool,
    ) -> Result<Vec<(PathBuf, Result<CycleReport>)>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let targets: Vec<FolderConfig> = match path {
            Some(p) => vec![self.find_folder(&folders, p)?.clone()],
            None => folders,
        };
        let mut results = Vec::new();
        for cfg in targets {
            let identity = Identity {
                device: device.clone(),
                user: cfg.settings.git.user.clone(),
                email: cfg.settings.git.email.clone(),
                sign: cfg.settings.git.sign,
            };
            let path = cfg.path.clone();
            let outcome =
                Folder::open(cfg, &self.dirs, identity, EventBus::default()).and_then(|mut f| {
                    if allow_mass_delete {
                        f.allow_mass_delete();
                    }
                    f.cycle(Some(crate::batcher::Batch::Full), Trigger::Manual)
                });
            results.push((path, outcome));
        }
        Ok(results)
    }

    /// Tells which of `paths` are ignored, and by which rule. Paths are relative to the folder,
    /// or absolute; without `folder`, the folder is the configured one containing each path.
    pub fn check_ignore(
        &self,
        folder: Option<&Path>,
        paths: &[PathBuf],
    ) -> Result<Vec<IgnoreCheck>> {
        let (_, folders) = self.load()?;
        let mut out = Vec::new();
        let mut cache: BTreeMap<PathBuf, IgnoreRules> = BTreeMap::new();
        for p in paths {
            let (cfg, abs) = self.folder_of(&folders, folder, p)?;
            if !cache.contains_key(&cfg.path) {
                let rules = IgnoreRules::load(
                    &cfg.path,
                    &cfg.settings.exclude_patterns,
                    &cfg.path.join(config::FOLDER_CONFIG_FILE),
                )?;
                cache.insert(cfg.path.clone(), rules);
            }
            let rules = &cache[&cfg.path];
            // A plain relative path inside the folder (no `..`, nothing through a link).
            let rel = paths::folder_relative(&cfg.path, &abs)?;
            let on_disk = std::fs::symlink_metadata(paths::resolve_inside(&cfg.path, &rel)?);
            let is_dir =
                on_disk.is_ok_and(|m| m.is_dir()) || p.as_os_str().to_string_lossy().ends_with('/');
            out.push(IgnoreCheck { path: p.clone(), rule: rules.explain(&rel, is_dir) });
        }
        Ok(out)
    }

    /// Starts the engine on every configured folder (paused ones start paused), and keeps it in
    /// step with the configuration: folders added, removed or changed later (in the UI, with
    /// `supersonic init`, or by editing the files) are picked up without a restart. With no
    /// folder configured yet the engine starts empty and waits for one.
    pub fn start(&self, bus: EventBus) -> Result<EngineHandle> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let identity = Identity { device, user: None, email: None, sign: false };
        let mut engine = engine::start(folders, &self.dirs, identity, bus)?;
        let api = self.clone();
        engine.watch_config(&self.dirs.app_config_file(), move || Ok(api.load()?.1))?;
        Ok(engine)
    }

    /// Marks the folder at `path` paused (or not) in the app config, so the state survives a
    /// restart. A running engine is told separately by the shell.
    pub fn set_paused(&self, path: &Path, paused: bool) -> Result<PathBuf> {
        let file = self.dirs.app_config_file();
        let mut app = config::load_app_config(&file)?;
        let abs = paths::absolute(path);
        let entry =
            app.folders.iter_mut().find(|f| f.path == abs).ok_or_else(|| {
                Error::Invalid(format!("{} is not a synced folder", abs.display()))
            })?;
        entry.paused = paused;
        config::save_app_config(&file, &app)?;
        Ok(abs)
    }

    /// Returns the configured folders, or the one at `path`.
    fn folders(&self, path: Option<&Path>) -> Result<Vec<FolderConfig>> {
        let (_, folders) = self.load()?;
        match path {
            Some(p) => Ok(vec![self.find_folder(&folders, p)?.clone()]),
            None => Ok(folders),
        }
    }

    /// Returns, per folder, every device its history shows (the last [`DEVICE_DEPTH`] commits
    /// of this branch and the remote's), with this device marked.
    pub fn devices(&self, path: Option<&Path>) -> Result<Vec<FolderDevices>> {
        let (app, _) = self.load()?;
        let me = self.device(&app)?;
        self.folders(path)?
            .into_iter()
            .map(|f| {
                let repo = GitRepo::open(&f.path, &f.branch, &f.remote)?;
                let devices = repo
                    .devices(DEVICE_DEPTH)?
                    .into_iter()
                    .map(|d| DeviceView { this_device: d.id.as_deref() == Some(&me.id), seen: d })
                    .collect();
                Ok(FolderDevices { folder: f.path, devices })
            })
            .collect()
    }

    /// Checks what `hydrate` can check without the network: a remote is given, the folder is
    /// not synced yet and is missing or empty. Returns the absolute folder and the remote.
    pub fn check_hydrate(&self, req: &InitRequest) -> Result<(PathBuf, String)> {
        let path = paths::absolute(&req.path);
        let Some(remote) = req.remote.as_deref().map(normalise_remote) else {
            return Err(Error::Invalid("hydrate needs the remote to clone (--remote URL)".into()));
        };
        self.check_unsynced(&path)?;
        match std::fs::read_dir(&path).map(|mut entries| entries.next().is_some()) {
            Ok(true) => Err(Error::Invalid(format!(
                "{} is not empty; hydrate restores into a new or empty folder (use `init` to \
                 sync an existing one)",
                path.display()
            ))),
            Ok(false) => Ok((path, remote)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((path, remote)),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Fails when the folder at `path` (absolute) is in the config already.
    fn check_unsynced(&self, path: &Path) -> Result<()> {
        let app = config::load_app_config(&self.dirs.app_config_file())?;
        if app.folders.iter().any(|f| f.path == path) {
            return Err(Error::Invalid(format!("{} is already synced", path.display())));
        }
        Ok(())
    }

    /// Checks what `seed` can check without the network: a remote is given, and the folder
    /// exists and is not synced yet. Returns the absolute folder.
    pub fn check_seed(&self, req: &InitRequest) -> Result<PathBuf> {
        let path = paths::absolute(&req.path);
        if req.remote.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::Invalid("seed needs the remote to fill (--remote URL)".into()));
        }
        if !path.is_dir() {
            return Err(Error::Invalid(format!(
                "{} is not an existing folder; seed pushes a folder that exists",
                path.display()
            )));
        }
        self.check_unsynced(&path)?;
        Ok(path)
    }

    /// Starts `hydrate` on a thread of its own after [`Api::check_hydrate`]: its progress, and
    /// then an [`Event::OperationFinished`](crate::events::Event::OperationFinished), go to
    /// `bus`. Returns at once with the operation's id.
    pub fn start_hydrate(&self, req: InitRequest, bus: EventBus) -> Result<Operation> {
        let (path, _) = self.check_hydrate(&req)?;
        let api = self.clone();
        Operation::spawn(ProgressOp::Hydrate, path, bus, move |progress| {
            api.hydrate(req, progress.callback()).map(|_| ())
        })
    }

    /// Starts `seed` on a thread of its own after [`Api::check_seed`], reporting as
    /// [`Api::start_hydrate`] does.
    pub fn start_seed(&self, req: InitRequest, bus: EventBus) -> Result<Operation> {
        let path = self.check_seed(&req)?;
        let api = self.clone();
        Operation::spawn(ProgressOp::Seed, path, bus, move |progress| {
            let folder = progress.clone();
            api.seed(req, move |event| {
                // Staging and pushing report as the seed they are part of.
                if let crate::events::Event::Progress {
                    phase, done, total, finished: false, ..
                } = event
                {
                    folder.clone().update(phase, *done, *total);
                }
            })
            .map(|_| ())
        })
    }

    /// Restores a synced folder on a new device: clones `req.remote` into `req.path` (which
    /// must not exist or be empty) with `progress` reporting the transfer, then registers it
    /// like `init`. The clone goes to a hidden sibling directory first and is moved into place
    /// only when complete, so an interrupted hydrate leaves no half folder: running it again
    /// starts over cleanly.
    pub fn hydrate(&self, req: InitRequest, progress: git::ProgressFn) -> Result<InitOutcome> {
        let (path, remote) = self.check_hydrate(&req)?;
        let parent = path.parent().ok_or_else(|| Error::Invalid("no parent directory".into()))?;
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = parent.join(format!(".{name}.supersonic-hydrate"));
        if partial.exists() {
            tracing::info!("removing an interrupted hydrate at {}", partial.display());
            std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        }
        let partial_arg = partial.display().to_string();
        let branch = match req.branch.clone() {
            Some(b) => Some(b),
            None => remote_default_branch(&remote)?,
        };
        let mut args = vec!["clone", "--no-tags", "--origin", git::REMOTE];
        if let Some(branch) = branch.as_deref() {
            args.extend(["--branch", branch]);
        }
        args.extend(["--", remote.as_str(), partial_arg.as_str()]);
        let out = git::run_network_with_progress(
            "clone",
            &remote,
            Some(parent),
            &args,
            HYDRATE_TIMEOUT,
            Some(progress),
        );
        let out = match out {
            Ok(out) if out.success => out,
            Ok(out) => {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(git::remote_error("clone", &remote, &out.stderr));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
        };
        tracing::debug!("clone: {}", out.stderr.trim());
        if path.exists() {
            std::fs::remove_dir(&path).map_err(|e| Error::io(&path, e))?; // empty, checked
        }
        std::fs::rename(&partial, &path).map_err(|e| Error::io(&path, e))?;
        self.init_folder(InitRequest { path, remote: Some(remote), branch, mode: req.mode })
    }

    /// Seeds an empty remote with an existing folder: registers it like `init` (refused when
    /// the remote already has the branch: that is `init`'s merge, or `hydrate` elsewhere),
    /// then commits everything and pushes it, with `progress` reporting staging and the push.
    pub fn seed(
        &self,
        req: InitRequest,
        progress: impl Fn(&crate::events::Event) + Send + 'static,
    ) -> Result<(InitOutcome, CycleReport)> {
        let Some(remote) = req.remote.as_deref().map(normalise_remote) else {
            return Err(Error::Invalid("seed needs the remote to fill (--remote URL)".into()));
        };
        let branch = req.branch.clone().unwrap_or_else(|| "main".to_string());
        let out = git::run_network(
            "ls-remote",
            &remote,
            None,
            &["ls-remote", "--heads", &remote, &format!("refs/heads/{branch}")],
            REMOTE_CHECK_TIMEOUT,
        )?;
        if !out.success {
            return Err(git::remote_error("ls-remote", &remote, &out.stderr));
        }
        if !out.stdout.trim().is_empty() {
            return Err(Error::Invalid(format!(
                "the remote {} already has branch {branch}; seed fills an empty remote. Use \
                 `supersonic init DIR --remote URL` to merge this folder with it",
                config::redact_url(&remote)
            )));
        }
        // Registered only once pushed: a running engine must not take the folder meanwhile,
        // and a failed seed leaves no folder in the config.
        let (entry, outcome) = self.prepare_folder(InitRequest { branch: Some(branch), ..req })?;
        let file = self.dirs.app_config_file();
        let app = config::load_app_config(&file)?;
        let cfg = config::resolve_folder(&file, &app, &entry, &self.env)?;
        let identity = Identity {
            device: self.device(&app)?,
            user: cfg.settings.git.user.clone(),
            email: cfg.settings.git.email.clone(),
            sign: cfg.settings.git.sign,
        };
        let bus = EventBus::default();
        let events = bus.subscribe();
        let printer = std::thread::spawn(move || events.iter().for_each(|e| progress(&e)));
        let mut folder = Folder::open(cfg, &self.dirs, identity, bus)?;
        folder.set_progress_delay(Duration::ZERO);
        let report = folder.cycle(Some(crate::batcher::Batch::Full), Trigger::Manual);
        drop(folder); // the last sender: the printer ends
        let _ = printer.join();
        let report = report?;
        self.register(entry)?;
        Ok((outcome, report))
    }

    /// Returns, per folder, the files the secret guard holds back now.
    pub fn quarantine(&self, path: Option<&Path>) -> Result<Vec<FolderQuarantine>> {
        self.folders(path)?
            .into_iter()
            .map(|f| {
                let repo = GitRepo::open(&f.path, &f.branch, &f.remote)?;
                let held = repo
                    .held_back()?
                    .into_iter()
                    .map(|(path, reason)| crate::status::HeldFile { path, reason })
                    .collect();
                Ok(FolderQuarantine { folder: f.path, held })
            })
            .collect()
    }

    /// Releases `file` (inside a synced folder, or relative to `folder`) from the secret guard
    /// on this device: it is committed with the folder's next sync. Returns the folder.
    pub fn release_held(&self, folder: Option<&Path>, file: &Path) -> Result<PathBuf> {
        let (cfg, rel) = self.locate(folder, file)?;
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        repo.release_held(&rel.to_string_lossy())?;
        Ok(cfg.path)
    }

    /// Ignores `file` for good: appends an anchored rule for it to the folder's `.syncignore`
    /// (synced, so every device ignores it). Returns the folder.
    pub fn ignore_held(&self, folder: Option<&Path>, file: &Path) -> Result<PathBuf> {
        let (cfg, rel) = self.locate(folder, file)?;
        let path = cfg.path.join(crate::ignore::SYNCIGNORE_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let rule = format!("/{}", crate::ignore::escape_rule(&rel.to_string_lossy()));
        text.push_str(&format!("# held back as a secret, ignored by the user\n{rule}\n"));
        paths::write_atomic(&path, text.as_bytes())?;
        Ok(cfg.path)
    }

    /// Finds the folder of `file` and its plain relative path inside it.
    fn locate(&self, folder: Option<&Path>, file: &Path) -> Result<(FolderConfig, PathBuf)> {
        let (_, folders) = self.load()?;
        let (cfg, abs) = self.folder_of(&folders, folder, file)?;
        let rel = paths::folder_relative(&cfg.path, &abs)?;
        paths::resolve_inside(&cfg.path, &rel)?;
        Ok((cfg.clone(), rel))
    }

    /// Returns the folder of `file` among `folders` and the file's absolute path: `folder` when
    /// given (a relative `file` is inside it), else the longest configured folder containing it.
    fn folder_of<'a>(
        &self,
        folders: &'a [FolderConfig],
        folder: Option<&Path>,
        file: &Path,
    ) -> Result<(&'a FolderConfig, PathBuf)> {
        let abs = match folder {
            Some(f) if file.is_relative() => paths::absolute(f).join(file),
            _ => paths::absolute(file),
        };
        let cfg = match folder {
            Some(f) => self.find_folder(folders, f)?,
            None => folders
                .iter()
                .filter(|c| abs.starts_with(&c.path))
                .max_by_key(|c| c.path.as_os_str().len())
                .ok_or_else(|| {
                    Error::Invalid(format!("{} is not inside a synced folder", abs.display()))
                })?,
        };
        Ok((cfg, abs))
    }

    /// Takes back what the last sync brought into the folder at `path` (or the only folder),
    /// as a new commit (nothing rewritten; other devices receive the undo), then syncs it
    /// unless a running daemon holds the folder (which then pushes it itself).
    pub fn undo_last_sync(&self, path: Option<&Path>) -> Result<UndoReport> {
        let (app, folders) = self.load()?;
        let cfg = match path {
            Some(p) => self.find_folder(&folders, p)?.clone(),
            None if folders.len() == 1 => folders[0].clone(),
            None => {
                return Err(Error::Invalid(
                    "several folders are configured; say which folder's last sync to undo".into(),
                ))
            }
        };
        let identity = Identity {
            device: self.device(&app)?,
            user: cfg.settings.git.user.clone(),
            email: cfg.settings.git.email.clone(),
            sign: cfg.settings.git.sign,
        };
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        // A running engine may move the branch mid-way (its own cycle): the undo's checkout
        // then refuses (compare-and-swap on HEAD) and is simply tried again on the new HEAD.
        let mut attempt = 0;
        let undone = loop {
            match repo.undo_last_sync(&identity) {
                Err(Error::Busy(_)) if attempt < UNDO_BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                }
                other => break other?,
            }
        };
        drop(repo);
        if let Ok(h) = History::open(&self.history_path()) {
            let mut row = HistoryEvent::new(
                &cfg.path.display().to_string(),
                history::SYNC_UNDONE,
                chrono::Utc::now(),
            );
            row.commit_hash = Some(undone.commit.clone());
            row.files_changed = Some(undone.files as i64);
            row.reason = Some(format!("last sync undone on {}", identity.device.name));
            let _ = h.record(&row);
        }
        let synced = self.synced_after_change(&cfg.path)?;
        Ok(UndoReport { folder: cfg.path, undone, synced })
    }

    /// Runs the doctor on every folder, or the one at `path`.
    pub fn doctor(&self, path: Option<&Path>) -> Result<Vec<crate::doctor::Report>> {
        Ok(self.folders(path)?.iter().map(crate::doctor::examine).collect())
    }

    /// Returns the configured folders' paths (all, or the one at `path`).
    pub fn folder_paths(&self, path: Option<&Path>) -> Result<Vec<PathBuf>> {
        let (_, folders) = self.load()?;
        match path {
            Some(p) => Ok(vec![self.find_folder(&folders, p)?.path.clone()]),
            None => Ok(folders.into_iter().map(|f| f.path).collect()),
        }
    }

    /// Lists conflicts of one folder or all: pending ones, and with `include_auto` the
    /// automatic resolutions that can be undone.
    pub fn conflicts(
        &self,
        folder: Option<&Path>,
        include_auto: bool,
    ) -> Result<Vec<(PathBuf, ConflictView)>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let targets: Vec<&FolderConfig> = match folder {
            Some(p) => vec![self.find_folder(&folders, p)?],
            None => folders.iter().collect(),
        };
        let mut out = Vec::new();
        for cfg in targets {
            let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
            for c in conflicts::list(&repo, &device.name, include_auto)? {
                out.push((cfg.path.clone(), c));
            }
        }
        Ok(out)
    }

    /// Returns one conflict by id (or unique id prefix), with its folder.
    pub fn conflict(&self, id: &str) -> Result<(PathBuf, ConflictView)> {
        let mut found: Vec<(PathBuf, ConflictView)> = self
            .conflicts(None, true)?
            .into_iter()
            .filter(|(_, c)| c.id == id || (id.len() >= 4 && c.id.starts_with(id)))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Invalid(format!(
                "no conflict with id {id} (see `supersonic conflicts list`)"
            ))),
            _ => Err(Error::Invalid(format!("id {id} is ambiguous; give more characters"))),
        }
    }

    /// Returns the content of one side of a conflict (id or unique prefix), for a preview.
    ///
    /// A version on disk (the path, or the conflict copy) is read from there: without following
    /// a symbolic link, nor a linked directory that leads out of the folder, and only if it
    /// still holds the content the conflict lists (else `worktree_changed`: look again). A
    /// version only history holds (automatic and marker resolutions) is read from the
    /// repository. A deleted side, or one over [`MAX_BLOB_BYTES`], is an `invalid_request`.
    pub fn conflict_blob(&self, id: &str, side: Side) -> Result<ConflictBlob> {
        let (folder, c) = self.conflict(id)?;
        let version = match side {
            Side::Local => &c.local,
            Side::Remote => &c.remote,
        };
        if version.deleted {
            return Err(Error::Invalid(format!(
                "{} was deleted on the {side} side; there is no content to show",
                c.path
            )));
        }
        let too_large = |size: u64| {
            Error::Invalid(format!(
                "the {side} version of {} has {size} bytes; previews stop at {MAX_BLOB_BYTES}",
                c.path
            ))
        };
        if version.size > MAX_BLOB_BYTES {
            return Err(too_large(version.size));
        }
        let bytes = match (&version.file, &version.blob) {
            (Some(file), _) => read_in_folder(&folder, file, MAX_BLOB_BYTES)?,
            (None, Some(blob)) => {
                let repo = git2::Repository::open(&folder)
                    .map_err(Error::git(format!("cannot open repository {}", folder.display())))?;
                let oid = git2::Oid::from_str(blob).map_err(Error::git("parse blob id"))?;
                let (size, _) = repo
                    .odb()
                    .and_then(|odb| odb.read_header(oid))
                    .map_err(Error::git(format!("read blob {blob}")))?;
                if size as u64 > MAX_BLOB_BYTES {
                    return Err(too_large(size as u64));
                }
                let found = repo.find_blob(oid).map_err(Error::git(format!("read blob {blob}")))?;
                found.content().to_vec()
            }
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "no content is recorded for the {side} version of {}",
                    c.path
                )))
            }
        };
        let blob = git2::Oid::hash_object(git2::ObjectType::Blob, &bytes)
            .map_err(Error::git("hash content"))?;
        if version.blob.as_deref().is_some_and(|listed| listed != blob.to_string()) {
            return Err(Error::WorktreeChanged(format!(
                "{} changed since the conflict was listed; look again",
                version.file.as_deref().unwrap_or(&c.path)
            )));
        }
        let name = version.file.clone().unwrap_or_else(|| c.path.clone());
        Ok(ConflictBlob { folder, name, bytes })
    }

    /// Applies the user's decision on a pending conflict, then syncs the folder (unless a
    /// running daemon holds it, which then syncs the change itself).
    pub fn resolve_conflict(&self, id: &str, action: Action) -> Result<ConflictOutcome> {
        self.conflict_action(id, |repo, device, id| conflicts::resolve(repo, device, id, action))
    }

    /// Undoes an automatic resolution (the other version comes back as a conflict copy).
    pub fn undo_conflict(&self, id: &str) -> Result<ConflictOutcome> {
        self.conflict_action(id, conflicts::undo)
    }

    fn conflict_action(
        &self,
        id: &str,
        act: impl FnOnce(&GitRepo, &str, &str) -> Result<ConflictView>,
    ) -> Result<ConflictOutcome> {
        let (folder, found) = self.conflict(id)?;
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let cfg = self.find_folder(&folders, &folder)?;
        let repo = GitRepo::open(&cfg.path, &cfg.branch, &cfg.remote)?;
        let conflict = act(&repo, &device.name, &found.id)?;
        drop(repo);
        if let Ok(h) = History::open(&self.history_path()) {
            let mut row = HistoryEvent::new(
                &folder.display().to_string(),
                history::CONFLICT_RESOLVED,
                chrono::Utc::now(),
            );
            row.reason = Some(format!("{} ({}) on {}", conflict.path, conflict.kind, device.name));
            let _ = h.record(&row);
        }
        let synced = self.synced_after_change(&folder)?;
        Ok(ConflictOutcome { folder, conflict, synced })
    }

    /// Syncs `folder` after a change made on the user's behalf, and tells who takes the change
    /// to the remote: this call, or a running daemon that holds the folder.
    fn synced_after_change(&self, folder: &Path) -> Result<SyncedBy> {
        Ok(match self.sync_once(Some(folder), false)?.pop() {
            Some((_, Ok(_))) => SyncedBy::ThisCommand,
            Some((_, Err(Error::Invalid(m)))) if m.contains("already being synced") => {
                SyncedBy::RunningEngine
            }
            Some((_, Err(e))) => SyncedBy::Failed(e.to_string()),
            None => SyncedBy::Failed("folder vanished".into()),
        })
    }

    fn history_path(&self) -> PathBuf {
        self.dirs.data_dir.join(history::HISTORY_FILE)
    }

    /// Opens the history for reading (safe while a daemon writes; empty if none yet).
    pub fn history_reader(&self) -> Result<History> {
        History::open_readonly(&self.history_path())
    }

    fn folder_key(&self, folder: Option<&Path>) -> Result<Option<String>> {
        match folder {
            Some(p) => {
                let (_, folders) = self.load()?;
                Ok(Some(self.find_folder(&folders, p)?.path.display().to_string()))
            }
            None => Ok(None),
        }
    }

    /// Returns the seed's metrics over the last `hours`: `stats`, `hourly`, `recent` (50) and
    /// `throttle`, for one folder or all.
    pub fn metrics(&self, folder: Option<&Path>, hours: u32) -> Result<Metrics> {
        let key = self.folder_key(folder)?;
        let h = self.history_reader()?;
        let now = chrono::Utc::now();
        let since = now - chrono::Duration::hours(i64::from(hours.max(1)));
        Ok(Metrics {
            stats: h.stats(key.as_deref(), since)?,
            hourly: h.hourly(key.as_deref(), since, now)?,
            recent: h.recent(key.as_deref(), 50)?,
            throttle: self.throttle_status(folder)?,
        })
    }

    /// Returns the newest `limit` history rows.
    pub fn recent(&self, folder: Option<&Path>, limit: usize) -> Result<Vec<HistoryRow>> {
        let key = self.folder_key(folder)?;
        self.history_reader()?.recent(key.as_deref(), limit)
    }

    /// Deletes history rows (of one folder or all); returns how many.
    pub fn clear_history(&self, folder: Option<&Path>) -> Result<usize> {
        let key = self.folder_key(folder)?;
        History::open(&self.history_path())?.clear(key.as_deref())
    }

    /// Imports a seed-format JSONL history file into the folder's history.
    pub fn import_history(&self, file: &Path, folder: &Path) -> Result<ImportReport> {
        let key = self.folder_key(Some(folder))?.expect("a folder was given");
        History::open(&self.history_path())?.import_jsonl(file, &key)
    }

    /// Returns each folder's throttle state in the seed's shape.
    pub fn throttle_status(&self, folder: Option<&Path>) -> Result<Vec<ThrottleStatus>> {
        let (_, folders) = self.load()?;
        let h = self.history_reader()?;
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for cfg in folders.iter().filter(|f| folder.is_none_or(|p| paths::absolute(p) == f.path)) {
            let name = cfg.path.display().to_string();
            let mut t = h.load_throttle(&name)?.unwrap_or_default();
            let s = &cfg.settings.sync;
            let limits = throttle::Limits {
                max_per_hour: s.max_per_hour,
                backoff_enabled: s.backoff_enabled,
                backoff_initial: std::time::Duration::from_secs(s.backoff_initial_sec),
                backoff_max: std::time::Duration::from_secs(s.backoff_max_sec),
            };
            let verdict = t.check(&limits, now);
            let rfc =
                |t: std::time::SystemTime| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
            let (allowed, reason, next) = match verdict {
                throttle::Verdict::Allowed => (true, "OK".to_string(), None),
                throttle::Verdict::Blocked { reason, until } => (false, reason, Some(rfc(until))),
            };
            out.push(ThrottleStatus {
                folder: cfg.path.clone(),
                allowed,
                reason,
                syncs_last_hour: t.ops_in_window(now),
                max_per_hour: s.max_per_hour,
                backoff: t.backoff_until().filter(|u| *u > now).map(|u| Backoff {
                    consecutive_failures: t.consecutive_failures(),
                    until: rfc(u),
                }),
                next_allowed: next,
            });
        }
        Ok(out)
    }

    /// Forgets persisted throttle state (of one folder or all) when no daemon holds it.
    pub fn clear_throttle(&self, folder: Option<&Path>) -> Result<usize> {
        let key = self.folder_key(folder)?;
        History::open(&self.history_path())?.clear_throttle(key.as_deref())
    }

    fn find_folder<'a>(
        &self,
        folders: &'a [FolderConfig],
        path: &Path,
    ) -> Result<&'a FolderConfig> {
        let abs = paths::absolute(path);
        folders.iter().find(|f| f.path == abs).ok_or_else(|| {
            Error::Invalid(format!(
                "{} is not a synced folder (see `supersonic status`)",
                abs.display()
            ))
        })
    }

    /// Sends a sample `event` to the webhooks of the folder at `folder` (or of the only folder),
    /// or to `url` with that folder's format, secret, timeout and retries; records each delivery
    /// in history and returns one report per URL.
    ///
    /// With `url` and no folder to take settings from, the app config's `defaults:` apply.
    pub fn webhook_test(
        &self,
        folder: Option<&Path>,
        event: &str,
        url: Option<&str>,
    ) -> Result<Vec<crate::webhooks::DeliveryReport>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let (label, settings) = match (folder, folders.as_slice(), url) {
            (Some(p), _, _) => {
                let cfg = self.find_folder(&folders, p)?;
                (cfg.path.display().to_string(), cfg.settings.webhooks.clone())
            }
            (None, [only], _) => (only.path.display().to_string(), only.settings.webhooks.clone()),
            (None, _, Some(_)) => {
                let defaults: config::FolderSettings = match &app.defaults {
                    serde_yaml::Value::Null => Default::default(),
                    value => serde_yaml::from_value(value.clone())
                        .map_err(|e| Error::Invalid(format!("defaults: {e}")))?,
                };
                (String::new(), defaults.webhooks)
            }
            (None, [], None) => {
                return Err(Error::Invalid(
                    "no folders configured: pass --url URL, or add a folder with webhooks".into(),
                ))
            }
            (None, _, None) => {
                return Err(Error::Invalid(
                    "several folders are configured; say which with --folder, or pass --url".into(),
                ))
            }
        };
        let reports = crate::webhooks::send_test(&settings, &label, event, url, &device.name)?;
        match History::open(&self.history_path()) {
            Ok(h) => {
                for report in &reports {
                    let row = crate::webhooks::history_row(report, chrono::Utc::now());
                    if let Err(e) = h.record(&row) {
                        tracing::warn!("cannot record a webhook test in history: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("cannot record webhook tests in history: {e}"),
        }
        Ok(reports)
    }

    /// Returns each folder's figures over its whole retained history, for counters that only
    /// grow while history is kept (Prometheus' `supersonic_syncs_total`).
    pub fn totals(&self) -> Result<Vec<(PathBuf, Stats)>> {
        let (_, folders) = self.load()?;
        let h = self.history_reader()?;
        let since = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        folders
            .into_iter()
            .map(|f| Ok((f.path.clone(), h.stats(Some(&f.path.display().to_string()), since)?)))
            .collect()
    }

    /// Applies `patch` (a JSON merge patch over the keys of `.supersonic-sync.conf`: mappings
    /// merge, `null` removes a key so it falls back to the layer below, anything else replaces)
    /// to the device-local settings of the folder at `folder`, or to `defaults:` without one,
    /// and saves the app config.
    ///
    /// With a folder, the patch may also change where and how it syncs: `remote` (a URL or
    /// path, checked to be reachable; the redacted form shown in output means "unchanged"),
    /// `branch` (a valid branch name) and `mode` (`two-way`, `push-only` or `pull-only`). A new
    /// remote becomes the repository's `origin`; a new branch is created at the current commit
    /// (or taken as it is when it already points there) and checked out, so no file changes.
    ///
    /// Every folder is resolved again and its ignore rules compiled before anything is written,
    /// so an invalid value is an error naming its key and the files stay as they were. A running
    /// engine started by [`Api::start`] picks the change up through its config watcher.
    pub fn update_settings(
        &self,
        folder: Option<&Path>,
        patch: &serde_json::Value,
    ) -> Result<EffectiveConfig> {
        use serde_yaml::Value;
        let file = self.dirs.app_config_file();
        let mut app = config::load_app_config(&file)?;
        let mut patch: Value = serde_yaml::to_value(patch)
            .map_err(|e| Error::Invalid(format!("settings patch: {e}")))?;
        let Value::Mapping(fields) = &mut patch else {
            return Err(Error::Invalid(
                "a settings patch is a mapping of keys such as `sync` or `exclude_patterns`".into(),
            ));
        };
        let entry_fields: Vec<(String, Value)> = ENTRY_KEYS
            .iter()
            .filter_map(|k| fields.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        let mut retarget = None;
        match folder {
            Some(p) => {
                let abs = paths::absolute(p);
                let entry = app.folders.iter_mut().find(|f| f.path == abs).ok_or_else(|| {
                    Error::Invalid(format!("{} is not a synced folder", abs.display()))
                })?;
                let before = entry.clone();
                for (key, value) in &entry_fields {
                    apply_entry_field(&file, entry, key, value)?;
                }
                if entry.remote != before.remote || entry.branch != before.branch {
                    retarget = Some((before, entry.clone()));
                }
                let mut current = Value::Mapping(
                    entry
                        .overrides
                        .iter()
                        .map(|(k, v)| (Value::String(k.clone()), v.clone()))
                        .collect(),
                );
                merge_patch(&mut current, &patch);
                entry.overrides = serde_yaml::from_value(current)
                    .map_err(|e| Error::Invalid(format!("settings patch: {e}")))?;
            }
            None => {
                if let Some((key, _)) = entry_fields.first() {
                    return Err(entry_error(
                        &file,
                        key,
                        format!("`{key}` belongs to one folder; say which folder to change"),
                    )
                    .into());
                }
                merge_patch(&mut app.defaults, &patch);
            }
        }
        let defaults = if app.defaults.is_null() {
            Value::Mapping(Default::default())
        } else {
            app.defaults.clone()
        };
        let defaults = serde_path_to_error::deserialize::<_, config::FolderSettings>(defaults)
            .map_err(|e| config::ConfigError {
                file: file.clone(),
                line: None,
                column: None,
                key: Some(format!("defaults.{}", e.path())),
                message: e.into_inner().to_string(),
            })?;
        defaults.conflicts.check(&file, "defaults")?;
        for entry in &app.folders {
            let resolved = config::resolve_folder(&file, &app, entry, &self.env)?;
            if entry.path.is_dir() {
                IgnoreRules::load(
                    &entry.path,
                    &resolved.settings.exclude_patterns,
                    &entry.path.join(config::FOLDER_CONFIG_FILE),
                )?;
            }
        }
        if let Some((before, after)) = &retarget {
            if after.remote != before.remote {
                git::check_remote(&after.remote, REMOTE_CHECK_TIMEOUT)?;
            }
            retarget_repo(&file, before, after)?;
        }
        config::save_app_config(&file, &app)?;
        self.effective_config()
    }
}

/// Returns a configuration error about the folder entry's `key`.
fn entry_error(file: &Path, key: &str, message: String) -> config::ConfigError {
    config::ConfigError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        key: Some(key.to_string()),
        message,
    }
}

/// Validates one of [`ENTRY_KEYS`] from a settings patch and sets it on `entry`. Messages never
/// repeat a URL as given (it may hold a password).
fn apply_entry_field(
    file: &Path,
    entry: &mut FolderEntry,
    key: &str,
    value: &serde_yaml::Value,
) -> Result<()> {
    let bad = |message: String| -> Error { entry_error(file, key, message).into() };
    let Some(text) = value.as_str().map(str::trim) else {
        return Err(bad(format!("`{key}` must be a string")));
    };
    match key {
        "remote" => {
            if text.is_empty() {
                return Err(bad("the remote cannot be empty".into()));
            }
            // The UI shows (and may send back) the redacted URL: that means "unchanged".
            if text == config::redact_url(&entry.remote) {
                return Ok(());
            }
            if text.contains("***@") {
                return Err(bad("the URL holds `***` where a password was hidden; type the \
                     whole URL with its credentials, or use a credential helper"
                    .into()));
            }
            entry.remote = normalise_remote(text);
        }
        "branch" => {
            let valid = !text.starts_with('-')
                && git2::Reference::is_valid_name(&format!("refs/heads/{text}"));
            if !valid {
                return Err(bad(format!("`{text}` is not a valid branch name")));
            }
            entry.branch = text.to_string();
        }
        "mode" => entry.mode = text.parse().map_err(bad)?,
        _ => unreachable!("only ENTRY_KEYS are applied"),
    }
    Ok(())
}

/// Points the folder's repository at a changed remote and branch: `origin` gets the new URL, and
/// HEAD moves to the new branch, which is created at the current commit when missing. A branch
/// that exists at another commit is refused, since checking it out would rewrite files. A folder
/// without a repository yet gets both when it is opened.
fn retarget_repo(file: &Path, before: &FolderEntry, after: &FolderEntry) -> Result<()> {
    if !after.path.join(".git").exists() {
        return Ok(());
    }
    if after.branch != before.branch {
        let repo = git2::Repository::open(&after.path)
            .map_err(Error::git(format!("cannot open repository {}", after.path.display())))?;
        let target = format!("refs/heads/{}", after.branch);
        let current = repo.head().ok().and_then(|h| h.target());
        match repo.refname_to_id(&target) {
            Ok(existing) if Some(existing) != current => {
                return Err(entry_error(
                    file,
                    "branch",
                    format!(
                        "branch `{}` already exists in {} at another commit; switch to it with \
                         `git switch {}` first, so that no file is overwritten",
                        after.branch,
                        after.path.display(),
                        after.branch
                    ),
                )
                .into());
            }
            Ok(_) => {}
            Err(_) => {
                if let Some(commit) = current {
                    repo.reference(&target, commit, false, "supersonic: sync another branch")
                        .map_err(Error::git(format!("create branch {}", after.branch)))?;
                }
            }
        }
        repo.set_head(&target).map_err(Error::git(format!("switch to {}", after.branch)))?;
    }
    // Opening sets `origin` to the folder's remote, as every sync does.
    GitRepo::open(&after.path, &after.branch, &after.remote)?;
    Ok(())
}

/// Reads the file `rel` of the folder at `root`, at most `limit` bytes.
///
/// `rel` must be a plain relative path with no link on the way ([`paths::resolve_inside`]);
/// the file itself is opened without following a link (`O_NOFOLLOW`) nor blocking on a FIFO
/// (`O_NONBLOCK`), and must be a regular file.
fn read_in_folder(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = paths::resolve_inside(root, Path::new(rel))?;
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(flags.bits()).open(&path).map_err(
            |e| match e.raw_os_error() {
                Some(code) if code == nix::errno::Errno::ELOOP as i32 => {
                    Error::Invalid(format!("{rel} is a symbolic link; not read"))
                }
                _ => Error::io(&path, e),
            },
        )?;
    let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
    if !meta.is_file() {
        return Err(Error::Invalid(format!("{rel} is not a regular file; not read")));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::Invalid(format!("{rel} is over {limit} bytes; not read")));
    }
    Ok(bytes)
}

/// Applies a JSON merge patch (RFC 7396) to a YAML value.
fn merge_patch(target: &mut serde_yaml::Value, patch: &serde_yaml::Value) {
    use serde_yaml::Value;
    let Value::Mapping(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_mapping() {
        *target = Value::Mapping(Default::default());
    }
    let Value::Mapping(target) = target else { unreachable!("made a mapping above") };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The seed's `/api/sync/metrics` shape.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Totals over the window.
    pub stats: Stats,
    /// Hourly buckets (sparkline data).
    pub hourly: Vec<HourBucket>,
    /// The newest events.
    pub recent: Vec<HistoryRow>,
    /// Throttle per folder.
    pub throttle: Vec<ThrottleStatus>,
}

/// A folder's throttle state (the seed's `throttle` object, per folder).
#[derive(Debug, Clone, Serialize)]
pub struct ThrottleStatus {
    /// The folder.
    pub folder: PathBuf,
    /// Whether a remote operation may run now.
    pub allowed: bool,
    /// `OK`, or why not.
    pub reason: String,
    /// Remote operations in the last hour.
    pub syncs_last_hour: usize,
    /// The limit.
    pub max_per_hour: u32,
    /// The running backoff, if any.
    pub backoff: Option<Backoff>,
    /// When a remote operation will be allowed again (RFC 3339), when blocked.
    pub next_allowed: Option<String>,
}

/// A running backoff.
#[derive(Debug, Clone, Serialize)]
pub struct Backoff {
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When it ends (RFC 3339).
    pub until: String,
}

/// Who takes a conflict decision to the remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncedBy {
    /// This command ran a sync cycle.
    ThisCommand,
    /// A running daemon holds the folder and syncs the change.
    RunningEngine,
    /// The sync failed; the change is on disk and the next cycle retries.
    Failed(String),
}

/// What a conflict action did.
#[derive(Debug, Clone, Serialize)]
pub struct ConflictOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// The conflict as it was before the action.
    pub conflict: ConflictView,
    /// How the result reaches the remote.
    pub synced: SyncedBy,
}

/// Makes a local-path remote absolute (URLs and scp-style `host:path` stay as they are).
fn normalise_remote(url: &str) -> String {
    let is_url = url.contains("://");
    let is_scp =
        !url.starts_with('/') && url.find(':').is_some_and(|c| url.find('/').is_none_or(|s| c < s));
    if is_url || is_scp {
        url.to_string()
    } else {
        paths::absolute(Path::new(url)).display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_folder_reads_plain_files_only_and_never_more_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("pics")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("pics/a.png"), b"12345").unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("link.png")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        assert_eq!(read_in_folder(&root, "pics/a.png", 5).unwrap(), b"12345");
        for (rel, limit, why) in [
            ("pics/a.png", 4, "it is over the limit"),
            ("link.png", 5, "the file is a link"),
            ("out/secret", 5, "a directory on the way is a link out of the folder"),
            ("../outside/secret", 5, "`..` leaves the folder"),
            ("/etc/hostname", 5, "an absolute path is not in the folder"),
            ("pics\0/a.png", 5, "NUL is refused"),
            ("fifo", 5, "a FIFO is not a file (and opening it does not wait for a writer)"),
            ("pics", 5, "a directory is not a file"),
        ] {
            let err = read_in_folder(&root, rel, limit).expect_err(why);
            assert_eq!(err.code(), "invalid_request", "{rel}: {why}: {err}");
        }
    }
}
