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
//!
//! Servers stop when dropped. Helpers [`wait_until`] and [`free_port`] cover polling for an
//! expected outcome with a generous bound, and picking a port for a server that binds itself.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod daemon;
mod device;
mod hanging;
mod http;
mod sandbox;

pub use daemon::GitDaemon;
pub use device::{Device, FAST_ENV};
pub use hanging::HangingServer;
pub use http::SmartHttp;
pub use sandbox::Sandbox;

use std::net::{Ipv4Addr, TcpListener};
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

/// Returns a free TCP port on 127.0.0.1.
///
/// The port is found by binding port 0 and releasing it again, so another process may take it
/// before the caller binds it; fixtures that use it retry with a new port when the bind fails.
///
/// # Panics
///
/// Panics when no port can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral port on 127.0.0.1")
        .port()
}
