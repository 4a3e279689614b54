//! Shared helpers: the binary, file helpers, and a pair of devices on one remote.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use supersonic_testkit::{
    tree, wait_until, write, Device, GitDaemon, HangingServer, Rng, Sandbox, SmartHttp, SshAgent,
    SshServer,
};

/// Generous bound for convergence waits: the daemons poll every second, so anything that takes
/// longer than this is a hang, not slowness.
pub const CONVERGE: Duration = Duration::from_secs(60);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_supersonic"))
}

pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Where the shared remote lives.
pub enum RemoteKind {
    Path,
    GitDaemon,
    SmartHttp,
}

/// Two devices syncing one remote.
pub struct Pair {
    pub a: Device,
    pub b: Device,
    pub a_dir: PathBuf,
    pub b_dir: PathBuf,
    pub remote_path: PathBuf,
    pub daemon: Option<GitDaemon>,
    /// Keeps the smart HTTP server alive for the pair's lifetime.
    pub _http: Option<SmartHttp>,
    pub sb: Sandbox,
}

impl Pair {
    pub fn new(kind: RemoteKind) -> Pair {
        let sb = Sandbox::new();
        let remote_path = sb.bare_remote("notes");
        let (url, daemon, http) = match kind {
            RemoteKind::Path => (remote_path.display().to_string(), None, None),
            RemoteKind::GitDaemon => {
                let d = GitDaemon::start(&sb, &sb.remotes_dir());
                (d.url("notes.git"), Some(d), None)
            }
            RemoteKind::SmartHttp => {
                let h = SmartHttp::start(&sb, &sb.remotes_dir(), Some(("alice", "s3cret")));
                (h.url_with_credentials("notes.git", "alice", "s3cret"), None, Some(h))
            }
        };
        let a = Device::new(&sb, &bin(), "alpha");
        let b = Device::new(&sb, &bin(), "beta");
        let a_dir = sb.path().join("alpha-notes");
        let b_dir = sb.path().join("beta-notes");
        a.cli(&["init", a_dir.to_str().unwrap(), "--remote", &url]);
        b.cli(&["init", b_dir.to_str().unwrap(), "--remote", &url]);
        Pair { a, b, a_dir, b_dir, remote_path, daemon, _http: http, sb }
    }

    pub fn start(&mut self) {
        self.a.start();
        self.b.start();
    }

    /// Returns the remote's commit count on main.
    pub fn remote_commits(&self) -> usize {
        self.sb.commit_count(&self.remote_path, "main")
    }

    /// Waits until both folders hold the same files, and fails with both trees otherwise.
    pub fn wait_converged(&self, what: &str) {
        wait_until(what, CONVERGE, || tree(&self.a_dir) == tree(&self.b_dir));
    }

    pub fn logs(&self) -> String {
        format!("--- alpha ---\n{}\n--- beta ---\n{}", self.a.log(), self.b.log())
    }

    /// Makes both devices edit `file` while the remote is away: starts them on `base`, waits
    /// for it to reach beta, stops the git daemon, writes `alpha`'s and `beta`'s versions,
    /// waits until each device committed its own, and brings the daemon back. Needs a
    /// [`RemoteKind::GitDaemon`] pair.
    pub fn conflict_offline(&mut self, file: &str, base: &str, alpha: &str, beta: &str) {
        write(&self.a_dir.join(file), base);
        self.start();
        self.wait_converged("the base file to reach beta");
        self.daemon.as_mut().expect("a git daemon remote").stop();
        write(&self.a_dir.join(file), alpha);
        write(&self.b_dir.join(file), beta);
        // Read while the daemons work: a failed read counts as "not yet" (and says why).
        let last_message = |dir: &Path| {
            let out = self.sb.git_output(dir, &["log", "-1", "--format=%B"]);
            if !out.status.success() {
                eprintln!("git log in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        wait_until("both devices to commit their edit locally", CONVERGE, || {
            last_message(&self.a_dir).contains(file) && last_message(&self.b_dir).contains(file)
        });
        self.daemon.as_mut().expect("a git daemon remote").restart();
    }
}
