//! Real test fixtures for Supersonic Sync: hermetic git, remotes and misbehaving servers.
//!
//! Every fixture runs real components on 127.0.0.1 only; nothing is mocked:
//!
//! - [`Sandbox`] owns a temporary directory with its own `HOME` and `.gitconfig`, and runs the
//!   system `git` with an environment that ignores the user's and the system's configuration.
//! - [`GitDaemon`] runs `git daemon` (git protocol) with pushes enabled, and can be stopped and
//!   restarted on the same port to simulate a remote that goes away and comes back.
//! - [`SmartHttp`] is a small HTTP/1.1 server in front of the `git http-backend` CGI program,
//!   with optional Basic authentication.
//! - [`Device`] runs the real `supersonic` binary as one simulated device (own config, data
//!   and name), so several devices sync one remote on one machine.
//! - [`HangingServer`] accepts TCP connections and never answers, the remote that makes a client
//!   without a deadline wait forever.
//! - [`Receiver`] is a webhook endpoint: it records every request and answers from a script of
//!   [`Reply`]s (statuses, headers, delays, or never).
//! - [`CheckIgnore`] asks `git check-ignore` about random [`IgnoreCase`]s: the oracle for
//!   differential tests of ignore rules.
//! - [`Tmpfs`] is a small disk that fills up: a tmpfs in a private mount namespace of the
//!   test's thread; [`inotify_limit_wrapper`] runs a daemon under a lowered inotify watch limit.
//!   Neither touches the host.
//!
//! Servers stop when dropped. Helpers [`wait_until`] and [`free_port`] cover polling for an
//! expected outcome with a generous bound, and picking a port for a server that binds itself;
//! [`tree_with_links`] records what a directory holds, to prove nothing in it changed, and
//! [`conflict_id`] computes the engine's conflict id without the engine.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod daemon;
mod device;
mod hanging;
mod http;
mod ignore_oracle;
mod namespace;
mod receiver;
mod sandbox;
mod ssh;
mod wire;

pub use daemon::GitDaemon;
pub use device::{Device, FAST_ENV};
pub use hanging::HangingServer;
pub use http::SmartHttp;
pub use ignore_oracle::{CheckIgnore, GitVerdict, IgnoreCase};
pub use namespace::{inotify_limit_wrapper, Tmpfs};
pub use receiver::{Receiver, Reply, Request};
pub use sandbox::Sandbox;
pub use ssh::{SshAgent, SshServer};

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Interval between two evaluations of a [`wait_until`] condition.
///
/// Short enough that a test is not slowed down noticeably, long enough that polling a condition
/// which runs `git` does not keep a core busy.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `condition` every 50 ms until it returns true.
///
/// The condition is evaluated once more right at the deadline, so a condition that becomes true
/// while the last interval elapses still counts.
///
/// # Panics
///
/// Panics with `what` and the elapsed time when `condition` is still false after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        let past_deadline = start.elapsed() >= timeout;
        if condition() {
            return;
        }
        if past_deadline {
            panic!("timed out after {:.1?} waiting for {what}", start.elapsed());
        }
        std::thread::sleep(POLL_INTERVAL.min(timeout.saturating_sub(start.elapsed())));
    }
}

/// Returns what `dir` holds: each file's bytes and each link as `-> target`, by path relative
/// to `dir`, without following any link.
///
/// # Panics
///
/// Panics when a directory, file or link below `dir` cannot be read.
pub fn tree_with_links(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Returns the id the engine gives a conflict: the first 12 hex digits of the SHA-256 of the
/// parts, each followed by a NUL, computed with coreutils' `sha256sum`, independently of the
/// engine's code.
///
/// # Panics
///
/// Panics when `sha256sum` cannot be run.
pub fn conflict_id(parts: &[&str]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut input = Vec::new();
    for p in parts {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..12].to_string()
}

/// Returns a free TCP port on 127.0.0.1.
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768..60999) that servers
/// binding port 0 draw from, and no port is handed out twice in one process: so a port given to
/// a daemon is never the one a `bind(0)` server of a concurrent test gets after the daemon
/// stops. Another process may still take it first; fixtures retry with a new port then.
///
/// # Panics
///
/// Panics when no port can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    free_listener().local_addr().expect("listener address").port()
}

/// Binds a listener on 127.0.0.1 to a port from [`free_port`]'s range, never handed out before
/// in this process: servers of the testkit use it rather than port 0, so after one stops, no
/// concurrent test's server can take its port and answer in its place.
///
/// # Panics
///
/// Panics when no port can be bound on 127.0.0.1.
pub fn free_listener() -> TcpListener {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = u64::from(std::process::id()) ^ nanos;
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20_000 + (x % 12_000) as u16;
        if handed.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            handed.insert(port);
            return listener;
        }
    }
    panic!("no free port in 20000..32000 on 127.0.0.1");
}
