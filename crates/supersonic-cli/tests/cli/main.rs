//! End-to-end tests of the `supersonic` binary: real daemons, real remotes (bare path,
//! `git daemon`, smart HTTP on 127.0.0.1), real files. Modules mirror the user journeys.

mod common;
mod conflicts;
mod devices;
mod doctor;
mod errors;
mod faults;
mod history;
mod hydrate;
mod kill;
mod notifications;
mod odd_names;
mod quarantine;
mod reload;
mod resources;
mod scale;
mod secrets;
mod security;
mod signing;
mod soak;
mod sync;
mod undo;
mod user_git;
mod volume;
mod webhooks;
