//! A `git daemon` serving a directory over the git protocol, pushes included.
//!
//! The daemon runs `git-daemon` from git's exec path directly (not through the `git` wrapper,
//! which would stay in between as a parent) in a process group of its own. Stopping kills the
//! whole group, so connections being served die with the daemon, the way they would when a
//! server goes down, and the port refuses connections once `stop` returns.
//!
//! The port is chosen once; `restart` binds the same port again (with `--reuseaddr`), so URLs a
//! test handed out stay valid across an outage.

use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::sandbox::apply_vars;
use crate::{free_port, wait_until, Sandbox};

/// How long a daemon may take to accept connections after it was started.
///
/// It is usually ready within milliseconds; the bound is generous for loaded CI machines.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `restart` keeps trying to bind the previous port.
///
/// With `--reuseaddr` the port is normally free at once; the retries cover a port still held
/// by a dying connection process.
const REBIND_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between two checks whether a starting daemon is ready; it is usually ready within a
/// few milliseconds.
const READY_POLL: Duration = Duration::from_millis(10);

/// How many fresh ports `start` tries when another process takes the chosen port first.
const START_ATTEMPTS: usize = 5;

/// Pause between two attempts to bind a port that is still taken.
const REBIND_PAUSE: Duration = Duration::from_millis(100);

/// A running `git daemon` on 127.0.0.1 with receive-pack enabled; dropping it stops it.
///
/// Its `--verbose` log (one line per connection and service) is
/// `<sandbox>/logs/git-daemon-PORT.log`, kept across restarts.
#[derive(Debug)]
pub struct GitDaemon {
    program: PathBuf,
    base_path: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl GitDaemon {
    /// Starts a daemon exporting every repository under `base_path` on a free port, and waits
    /// until it accepts connections.
    ///
    /// # Panics
    ///
    /// Panics when the daemon does not come up, with its stderr.
    pub fn start(sandbox: &Sandbox, base_path: &Path) -> GitDaemon {
        let mut daemon = GitDaemon {
            program: sandbox.git_program("git-daemon"),
            base_path: base_path.to_owned(),
            env: sandbox.env(),
            log: PathBuf::new(),
            port: 0,
            child: None,
        };
        let logs = sandbox.logs_dir();
        for attempt in 1..=START_ATTEMPTS {
            daemon.port = free_port();
            daemon.log = logs.join(format!("git-daemon-{}.log", daemon.port));
            match daemon.spawn_and_wait() {
                Ok(()) => return daemon,
                Err(err) if attempt == START_ATTEMPTS => panic!("{err}"),
                Err(_) => continue,
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Returns the port the daemon listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the git URL of `repo_name`, a path relative to the base path such as
    /// `notes.git`.
    pub fn url(&self, repo_name: &str) -> String {
        format!("git://127.0.0.1:{}/{}", self.port, repo_name.trim_start_matches('/'))
    }

    /// Kills the daemon and the connections it is serving, and waits until the port refuses
    /// connections. Does nothing when the daemon is already stopped.
    ///
    /// # Panics
    ///
    /// Panics when the port still accepts connections after the daemon was killed.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        kill_group(&mut child);
        let addr = self.addr();
        wait_until("the stopped git daemon's port to refuse connections", READY_TIMEOUT, || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .is_err_and(|err| err.kind() == io::ErrorKind::ConnectionRefused)
        });
    }

    /// Starts the daemon again on the same port, stopping it first if it is running.
    ///
    /// # Panics
    ///
    /// Panics when the port cannot be bound again within ten seconds.
    pub fn restart(&mut self) {
        self.stop();
        let start = Instant::now();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(err) if start.elapsed() >= REBIND_TIMEOUT => {
                    panic!("restart on port {} for {:.1?}: {err}", self.port, start.elapsed())
                }
                Err(_) => std::thread::sleep(REBIND_PAUSE),
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Spawns the daemon on `self.port` and waits until it accepts connections, or returns why
    /// it did not (typically: the port is taken, and the daemon exited).
    ///
    /// Ready means the daemon logged "Ready to rumble" (it has bound the port; a successful
    /// connect alone could reach another process that took the port first) and a connection
    /// succeeds.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|err| format!("open {}: {err}", self.log.display()))?;
        let log_start = log.metadata().map_or(0, |meta| meta.len() as usize);
        let this_run = || {
            let log = fs::read(&self.log).unwrap_or_default();
            String::from_utf8_lossy(log.get(log_start..).unwrap_or_default()).into_owned()
        };
        let mut cmd = Command::new(&self.program);
        apply_vars(&mut cmd, &self.env);
        cmd.arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--base-path={}", self.base_path.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--informative-errors")
            .arg("--verbose")
            .current_dir(&self.base_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = cmd.spawn().map_err(|err| format!("spawn {cmd:?}: {err}"))?;
        let addr = self.addr();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "git daemon exited ({status}) on port {}:\n{}",
                    self.port,
                    this_run()
                ));
            }
            if this_run().contains("Ready to rumble")
                && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            {
                self.child = Some(child);
                return Ok(());
            }
            if start.elapsed() >= READY_TIMEOUT {
                kill_group(&mut child);
                return Err(format!(
                    "git daemon on port {} not ready in {READY_TIMEOUT:?}:\n{}",
                    self.port,
                    this_run()
                ));
            }
            std::thread::sleep(READY_POLL);
        }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

/// Kills the process group led by `child` and reaps `child`.
fn kill_group(child: &mut Child) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits in i32"));
    // The group may already be gone; reaping below is what matters.
    let _ = killpg(pid, Signal::SIGKILL);
    let _ = child.wait();
}
