//! Supersonic Sync's engine: everything the product does, behind one façade ([`api`]).
//!
//! A folder is kept in sync through a git remote: the [`watcher`] reports changed paths, the
//! [`batcher`] turns bursts of changes into one batch, the [`folder`] worker snapshots the batch
//! into one commit and then fetches, integrates and pushes through the [`git`] module, which is
//! the only module that touches git. The [`engine`] owns one worker per folder and reports
//! outward through the [`events`] bus. Nothing here knows about a shell (Tauri, HTTP, CLI): the
//! shells call [`api`] and translate [`events::Event`]s into their own surfaces.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
pub mod batcher;
pub mod config;
pub mod conflicts;
pub mod device;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod events;
pub mod folder;
pub mod git;
pub mod guard;
pub mod history;
pub mod ignore;
pub mod notifications;
pub mod outlets;
pub mod paths;
pub mod program;
pub mod remote;
pub mod signing;
pub mod status;
pub mod throttle;
pub mod watcher;
pub mod webhooks;

pub use error::{Error, FailureClass, Result};
