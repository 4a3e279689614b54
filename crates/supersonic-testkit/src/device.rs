//! A simulated device: one `supersonic` binary with its own config dir, data dir and device
//! name, so several devices can sync the same remote on one machine. The daemon
//! (`supersonic run`) is a real child process, stopped gracefully or killed with SIGKILL.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::Sandbox;

/// Fast timings for tests: poll the remote every second, commit 200 ms after the last change,
/// retry quickly after failures, and never hit the rate limit.
pub const FAST_ENV: &[(&str, &str)] = &[
    ("SUPERSONIC_INTERVAL_SEC", "1"),
    ("SUPERSONIC_DEBOUNCE_MS", "200"),
    ("SUPERSONIC_BACKOFF_INITIAL_SEC", "1"),
    ("SUPERSONIC_BACKOFF_MAX_SEC", "2"),
    ("SUPERSONIC_MAX_PER_HOUR", "100000"),
    ("SUPERSONIC_NETWORK_TIMEOUT_SEC", "20"),
];

/// A simulated device running the `supersonic` binary.
#[derive(Debug)]
pub struct Device {
    bin: PathBuf,
    name: String,
    root: PathBuf,
    env: Vec<(String, String)>,
    daemon_wrapper: Vec<String>,
    child: Option<Child>,
}

impl Device {
    /// Creates a device named `name` whose dirs live in the sandbox, using the `supersonic`
    /// binary at `bin` with [`FAST_ENV`] timings.
    pub fn new(sandbox: &Sandbox, bin: &Path, name: &str) -> Device {
        let root = sandbox.path().join("devices").join(name);
        fs::create_dir_all(&root).expect("create the device dir");
        let mut env = sandbox.env();
        env.push(("SUPERSONIC_CONFIG_DIR".into(), root.join("config").display().to_string()));
        env.push(("SUPERSONIC_DATA_DIR".into(), root.join("data").display().to_string()));
        env.push(("SUPERSONIC_DEVICE_NAME".into(), name.to_string()));
        env.push(("SUPERSONIC_LOG".into(), "debug".into()));
        for (k, v) in FAST_ENV {
            env.push(((*k).into(), (*v).into()));
        }
        Device {
            bin: bin.to_path_buf(),
            name: name.into(),
            root,
            env,
            daemon_wrapper: Vec::new(),
            child: None,
        }
    }

    /// Returns the device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the device's config dir.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// Returns the device's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Sets (or replaces) an environment variable for every later command and daemon start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Makes later daemon starts ([`Device::start`], [`Device::start_with`]) run through
    /// `wrapper` (a program and its arguments, given the `supersonic` binary and its arguments
    /// last), such as [`crate::inotify_limit_wrapper`]; one-shot commands run directly.
    pub fn set_daemon_wrapper(&mut self, wrapper: Vec<String>) {
        self.daemon_wrapper = wrapper;
    }

    /// Returns a `supersonic ARGS` command with the device's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_via(&[], args)
    }

    fn command_via(&self, wrapper: &[String], args: &[&str]) -> Command {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.args(args);
        for var in
            ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "XDG_CONFIG_HOME", "XDG_DATA_HOME"]
        {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `supersonic ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().expect("run supersonic")
    }

    /// Runs `supersonic ARGS` through `wrapper` (such as [`crate::inotify_limit_wrapper`]) and
    /// returns its output.
    pub fn run_via(&self, wrapper: &[String], args: &[&str]) -> Output {
        self.command_via(wrapper, args).stdin(Stdio::null()).output().expect("run supersonic")
    }

    /// Runs `supersonic ARGS`, panics (with stderr) unless it succeeds, returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "supersonic {args:?} on {} failed: {}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `supersonic run` in the background (log in the device dir).
    pub fn start(&mut self) {
        self.start_with(&["run"]);
    }

    /// Starts `supersonic ARGS` (a daemon command such as `serve`) in the background, logging
    /// like [`Device::start`]; [`Device::stop`] and [`Device::kill9`] stop it.
    pub fn start_with(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the daemon log");
        let child = self
            .command_via(&self.daemon_wrapper, args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start the supersonic daemon");
        self.child = Some(child);
    }

    /// Returns the daemon's pid, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the daemon with SIGTERM and waits for it; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// Kills the daemon with SIGKILL (a crash) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Returns whether the daemon is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }

    /// Returns the daemon log path.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("daemon.log")
    }

    /// Returns the daemon log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.kill9();
    }
}
