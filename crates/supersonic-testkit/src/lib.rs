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
//! Servers stop when dropped. Helpers shared by every crate's tests:
//!
//! - [`write`] saves a file (creating its folders); [`tree`] reads a folder's files (without
//!   `.git`) to compare devices, and [`tree_with_links`] records what a directory holds, links
//!   included, to prove nothing in it changed.
//! - [`wait_until`] polls for an expected outcome with a generous bound instead of sleeping.
//! - [`Rng`] is the seeded generator of randomized tests, so a printed seed replays the run.
//! - [`free_port`] picks a port for a server that binds itself, and [`conflict_id`] computes
//!   the engine's conflict id without the engine.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod conflict;
mod daemon;
mod device;
mod fs;
mod hanging;
mod http;
mod ignore_oracle;
mod namespace;
mod port;
mod receiver;
mod rng;
mod sandbox;
mod ssh;
mod wait;
mod wire;

pub use conflict::conflict_id;
pub use daemon::GitDaemon;
pub use device::{Device, FAST_ENV};
pub use fs::{tree, tree_with_links, write};
pub use hanging::HangingServer;
pub use http::SmartHttp;
pub use ignore_oracle::{CheckIgnore, GitVerdict, IgnoreCase};
pub use namespace::{inotify_limit_wrapper, Tmpfs};
pub use port::{free_listener, free_port};
pub use receiver::{Receiver, Reply, Request};
pub use rng::{spread, Rng};
pub use sandbox::Sandbox;
pub use ssh::{SshAgent, SshServer};
pub use wait::wait_until;
