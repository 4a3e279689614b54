//! End-to-end tests of the `supersonic` binary: real daemons, real remotes (bare path,
//! `git daemon`, smart HTTP on 127.0.0.1), real files. Modules mirror the user journeys.

mod common;
mod conflicts;
mod errors;
mod faults;
mod history;
mod notifications;
mod reload;
mod sync;
mod volume;
mod webhooks;
