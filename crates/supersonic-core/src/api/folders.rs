//! Adding a folder: `init` (an existing folder, with its repository and remote checked before
//! anything is written), `hydrate` (clone a synced folder onto this device) and `seed` (fill an
//! empty remote with an existing folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{normalise_remote, Api, REMOTE_CHECK_TIMEOUT};
use crate::config::{self, FolderEntry, Mode};
use crate::events::EventBus;
use crate::folder::{CycleReport, Folder, Trigger};
use crate::git::{self, GitRepo, Identity};
use crate::ignore::IgnoreRules;
use crate::paths;
use crate::{Error, Result};

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

/// Deadline of the clone of `hydrate` (progress shows it is alive; a dead remote still fails).
pub const HYDRATE_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

impl Api {
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
        let existing = git::objects::existing_repo(&path).unwrap_or_default();
        let existing_origin = existing.origin;
        let branch =
            req.branch.clone().or(existing.head_branch).unwrap_or_else(|| "main".to_string());
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
                git::objects::init_bare_remote(&bare, &branch)?;
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
