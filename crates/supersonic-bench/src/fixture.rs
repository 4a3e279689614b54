//! The benchmarks' fixtures: synced trees of N files in a testkit [`Sandbox`] (hermetic git),
//! devices running the real `supersonic` binary, and the outside observations the rows are
//! timed by (a branch's tip, a line in the daemon's log).
//!
//! A tree of N files has N/10 leaf directories of 10 files each, grouped under √(N/10) top
//! directories, committed and pushed to a bare remote before any measurement: the state of a
//! folder that is already in sync when the daemon starts.

use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use supersonic_testkit::{Device, Sandbox};

/// The branch every fixture syncs.
pub const BRANCH: &str = "main";

/// The engine's quiet period the benchmarks run with: the default (seed 002).
pub const QUIET_MS: u64 = 500;

/// Pause between two looks at a file or `/proc`: short against the figures measured (tens of
/// milliseconds and up), and still cheap, since each look is one small read.
pub const POLL: Duration = Duration::from_millis(1);

/// Attempts at a measurement whose daemon another process stopped (see [`with_retries`]).
const ATTEMPTS: usize = 3;

/// Lines of a daemon log shown when a wait on it fails.
const LOG_TAIL_LINES: usize = 15;

/// How long a stopping daemon may take to commit pending changes and exit after SIGTERM before
/// it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's settings for every benchmark: the defaults, stated explicitly so an inherited
/// `SUPERSONIC_*` variable cannot change them, except the remote operations per hour, raised
/// so that dozens of measured pushes never meet the throttle (which would time the throttle).
const ENGINE_ENV: &[(&str, &str)] = &[
    ("SUPERSONIC_INTERVAL_SEC", "300"),
    ("SUPERSONIC_BACKOFF_INITIAL_SEC", "60"),
    ("SUPERSONIC_BACKOFF_MAX_SEC", "3600"),
    ("SUPERSONIC_MAX_PER_HOUR", "100000"),
    ("SUPERSONIC_NETWORK_TIMEOUT_SEC", "120"),
    ("SUPERSONIC_RESCAN_INTERVAL_SEC", "3600"),
    ("SUPERSONIC_LOG", "info"),
    ("NO_COLOR", "1"),
];

/// A folder of files in a git repository, committed and pushed to its bare remote.
#[derive(Debug)]
pub struct Tree {
    /// The working tree.
    pub folder: PathBuf,
    /// The bare remote it is pushed to.
    pub remote: PathBuf,
    /// Every file, relative to `folder`.
    pub files: Vec<PathBuf>,
    /// Directories an engine watches: the folder itself and every directory below it but `.git`.
    pub dirs: usize,
}

impl Tree {
    /// Creates `<sandbox>/<name>` holding `files` files, commits them and pushes them to the bare
    /// remote `<sandbox>/remotes/<name>.git`.
    pub fn create(sandbox: &Sandbox, name: &str, files: usize) -> Result<Tree> {
        let folder = sandbox.path().join(name);
        let remote = sandbox.remotes_dir().join(format!("{name}.git"));
        fs::create_dir_all(&folder).with_context(|| format!("create {}", folder.display()))?;
        git(
            sandbox,
            &sandbox.remotes_dir(),
            &["init", "-q", "--bare", "-b", BRANCH, &path_arg(&remote)?],
        )?;
        let leaves = files.div_ceil(10).max(1);
        let tops = (leaves as f64).sqrt().ceil() as usize;
        let mut paths = Vec::with_capacity(files);
        for i in 0..files {
            let leaf = i / 10;
            let rel = PathBuf::from(format!("d{:03}/s{leaf:05}/f{i:06}.txt", leaf % tops));
            let abs = folder.join(&rel);
            if i % 10 == 0 {
                let dir = abs.parent().expect("a file path has a parent");
                fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            }
            fs::write(&abs, format!("file {i} of {name}\n"))
                .with_context(|| format!("write {}", abs.display()))?;
            paths.push(rel);
        }
        git(sandbox, &folder, &["init", "-q", "-b", BRANCH])?;
        git(sandbox, &folder, &["add", "-A"])?;
        git(sandbox, &folder, &["commit", "-q", "-m", "fixture"])?;
        git(sandbox, &folder, &["remote", "add", "origin", &path_arg(&remote)?])?;
        git(sandbox, &folder, &["push", "-q", "origin", BRANCH])?;
        let dirs = 1 + tops.min(leaves) + leaves;
        Ok(Tree { folder, remote, files: paths, dirs })
    }

    /// Returns the tip of the working repository's branch, if it has one.
    pub fn local_tip(&self) -> Option<String> {
        read_ref(&self.folder.join(".git"), BRANCH)
    }

    /// Returns the tip of the bare remote's branch, if it has one.
    pub fn remote_tip(&self) -> Option<String> {
        read_ref(&self.remote, BRANCH)
    }
}

/// A sandbox with one synced tree in it, kept for the rows that share it.
#[derive(Debug)]
pub struct Fixture {
    /// The hermetic git environment (dropping it deletes everything).
    pub sandbox: Sandbox,
    /// The tree.
    pub tree: Tree,
}

impl Fixture {
    /// Creates a sandbox holding one synced tree of `files` files named `tree`.
    pub fn create(files: usize) -> Result<Fixture> {
        let sandbox = Sandbox::new();
        let started = Instant::now();
        let tree = Tree::create(&sandbox, "tree", files)
            .with_context(|| format!("create the {files}-file fixture"))?;
        eprintln!(
            "  fixture: {files} files in {} directories, committed and pushed in {:.1} s",
            tree.dirs,
            started.elapsed().as_secs_f64()
        );
        Ok(Fixture { sandbox, tree })
    }
}

/// Returns a device named `name` in `sandbox`, running `bin` with [`ENGINE_ENV`] and the
/// default quiet period.
pub fn device(sandbox: &Sandbox, bin: &Path, name: &str) -> Device {
    let mut device = Device::new(sandbox, bin, name);
    for (key, value) in ENGINE_ENV {
        device.set_env(key, value);
    }
    device.set_env("SUPERSONIC_DEBOUNCE_MS", &QUIET_MS.to_string());
    device
}

/// Runs `supersonic args` as `device` and returns its stdout, or an error with its stderr.
pub fn cli(device: &Device, args: &[&str]) -> Result<String> {
    let out = device.run(args);
    if !out.status.success() {
        bail!(
            "supersonic {} ({}) failed: {}{}",
            args.join(" "),
            device.name(),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Registers `tree`'s folder with `device`, syncing with the tree's bare remote.
pub fn init(device: &Device, tree: &Tree) -> Result<()> {
    cli(device, &["init", &path_arg(&tree.folder)?, "--remote", &path_arg(&tree.remote)?])?;
    Ok(())
}

/// A long-running child process (`supersonic run`, `serve`, the app) with its output in a log
/// file; stopped with SIGTERM by [`Daemon::stop`], killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    /// When the process was spawned: the start of every "time to ..." measurement.
    pub spawned: Instant,
}

impl Daemon {
    /// Spawns `cmd` with stdout and stderr appended to `log` (truncated first).
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Result<Daemon> {
        let file = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = file.try_clone()?;
        let spawned = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {cmd:?}"))?;
        Ok(Daemon { child: Some(child), log, spawned })
    }

    /// Starts `supersonic args` as `device`, logging to `<name>.log` in its data dir's parent.
    pub fn start(device: &Device, args: &[&str]) -> Result<Daemon> {
        let log = device.config_dir().with_file_name(format!("{}.log", args.join("-")));
        Daemon::spawn(device.command(args), log)
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Returns the log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Returns the last lines of the log, to explain a failed wait.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n    ");
        format!("last lines of {}:\n    {tail}", self.log.display())
    }

    /// Fails, with the log's tail, when the process has exited; with [`StoppedFromOutside`]
    /// when a signal the harness did not send stopped it.
    pub fn ensure_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else { bail!("the process was stopped") };
        if let Some(status) = child.try_wait()? {
            let log = self.log();
            let signalled = status.signal().is_some()
                || log.contains("received SIGTERM")
                || log.contains("received SIGINT");
            if signalled {
                return Err(StoppedFromOutside(format!("{status}; {}", self.log_tail())).into());
            }
            bail!("the process exited ({status}); {}", self.log_tail());
        }
        Ok(())
    }

    /// Waits until `needle` occurs `count` times in the log and returns when it was seen.
    pub fn wait_for_log(
        &mut self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().matches(needle).count() >= count {
                return Ok(Instant::now());
            }
            self.ensure_running()?;
            if Instant::now() >= deadline {
                bail!(
                    "`{needle}` did not appear {count} time(s) within {timeout:?}; {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the engine finished the start cycle of `folders` folders (each logs
    /// `sync ok` once its first fetch, integrate and push are done).
    pub fn wait_synced(&mut self, folders: usize, timeout: Duration) -> Result<()> {
        self.wait_for_log("sync ok", folders, timeout)?;
        Ok(())
    }

    /// Stops the process with SIGTERM (the engine commits pending changes first) and waits for
    /// it; kills it when it does not exit within [`STOP_TIMEOUT`].
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The error of a process stopped by a signal the harness did not send: on a shared machine
/// another user's clean-up (`pkill`) may hit the benchmark's daemons. [`with_retries`] retries
/// the measurement then.
#[derive(Debug)]
pub struct StoppedFromOutside(String);

impl std::fmt::Display for StoppedFromOutside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the process was stopped by a signal the benchmark did not send ({})", self.0)
    }
}

impl std::error::Error for StoppedFromOutside {}

/// Runs `measure` again (at most [`ATTEMPTS`] times in all) while it fails because another
/// process stopped one of its daemons; any other outcome is returned as it is.
pub fn with_retries<T>(what: &str, mut measure: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match measure() {
            Err(e) if attempt < ATTEMPTS && e.chain().any(|c| c.is::<StoppedFromOutside>()) => {
                eprintln!("  {what}: a daemon was stopped from outside (attempt {attempt}); again");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Polls `condition` every [`POLL`] until it holds and returns the instant it was seen to hold;
/// fails with `what` after `timeout`.
pub fn wait_until(
    what: &dyn Fn() -> String,
    timeout: Duration,
    mut condition: impl FnMut() -> Result<bool>,
) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        if condition()? {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {}", what());
        }
        std::thread::sleep(POLL);
    }
}

/// Returns the commit `refs/heads/<branch>` points at in the repository at `git_dir`: the
/// loose ref if there is one, else the packed one. Reads files only, so it is cheap enough to
/// poll every millisecond (git updates a loose ref by renaming a lock file over it).
pub fn read_ref(git_dir: &Path, branch: &str) -> Option<String> {
    let name = format!("refs/heads/{branch}");
    if let Ok(text) = fs::read_to_string(git_dir.join(&name)) {
        let tip = text.trim();
        if !tip.is_empty() {
            return Some(tip.to_string());
        }
    }
    let packed = fs::read_to_string(git_dir.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (hash, refname) = line.split_once(' ')?;
        (refname == name).then(|| hash.to_string())
    })
}

/// Appends a line to `file`, the smallest edit a user makes.
pub fn append(file: &Path, line: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(file)
        .with_context(|| format!("open {}", file.display()))?;
    writeln!(f, "{line}").with_context(|| format!("write {}", file.display()))
}

/// Runs `git args` in `cwd` with the sandbox's hermetic environment; returns trimmed stdout.
pub fn git(sandbox: &Sandbox, cwd: &Path, args: &[&str]) -> Result<String> {
    let out = sandbox
        .git_command(cwd, args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("start git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} in {} failed ({}): {}",
            args.join(" "),
            cwd.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Times `git add -A && git commit` in `repo` (the user's way to snapshot everything), in one
/// shell as a user would type it; returns milliseconds.
pub fn time_git_add_commit(sandbox: &Sandbox, repo: &Path, message: &str) -> Result<f64> {
    let script = format!("git add -A && git commit -q -m '{message}'");
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(&script).current_dir(repo).stdin(Stdio::null());
    sandbox.apply_env(&mut shell);
    let started = Instant::now();
    let out = shell.output().context("start sh")?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!("`{script}` in {} failed: {}", repo.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(crate::stats::ms(elapsed))
}

/// Returns `path` as a UTF-8 argument.
pub fn path_arg(path: &Path) -> Result<String> {
    path.to_str().map(str::to_string).with_context(|| format!("{} is not UTF-8", path.display()))
}
