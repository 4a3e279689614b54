//! What each command does, over `supersonic_core::api`: one function per command, which prints
//! the answer (text, or JSON with `--json`) and returns the exit code. [`run`] dispatches.

mod conflicts;
mod folders;
mod history;
mod status;
mod sync;

use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::{Api, InitRequest};

use crate::cli::{Cmd, WebhookCmd};
use crate::daemon;

/// Runs `command`.
pub fn run(api: &Api, command: Cmd) -> Result<ExitCode> {
    match command {
        Cmd::Init { dir, remote, branch, mode } => {
            folders::init(api, InitRequest { path: dir, remote, branch, mode })
        }
        Cmd::Run => daemon::run(api),
        Cmd::Serve { print_token: true, .. } => daemon::print_token(api),
        Cmd::Serve { port, .. } => daemon::serve(api, port),
        Cmd::Sync { dir, allow_mass_delete } => sync::sync(api, dir, allow_mass_delete),
        Cmd::Retry { dir } => sync::retry(api, dir),
        Cmd::Pause { dir } => sync::pause_resume(api, dir, true),
        Cmd::Resume { dir } => sync::pause_resume(api, dir, false),
        Cmd::Hydrate { remote, dir, branch, mode } => {
            folders::hydrate(api, InitRequest { path: dir, remote: Some(remote), branch, mode })
        }
        Cmd::Seed { dir, remote, branch } => folders::seed(api, dir, remote, branch),
        Cmd::Quarantine { command } => folders::quarantine(api, command),
        Cmd::Undo { dir, json } => sync::undo(api, dir, json),
        Cmd::Devices { dir, json } => status::devices(api, dir, json),
        Cmd::Doctor { dir, json } => status::doctor(api, dir, json),
        Cmd::Status { json } => status::status(api, json),
        Cmd::Config { json } => status::config(api, json),
        Cmd::Conflicts { command } => conflicts::run(api, command),
        Cmd::Stats { hours, folder, json } => history::stats(api, hours, folder, json),
        Cmd::Hourly { hours, folder, json } => history::hourly(api, hours, folder, json),
        Cmd::History { command, limit, folder, json } => {
            history::history(api, command, limit, folder, json)
        }
        Cmd::Throttle { command } => history::throttle(api, command),
        Cmd::Webhook { command: WebhookCmd::Test { event, url, folder, json } } => {
            history::webhook_test(api, event, url, folder, json)
        }
        Cmd::CheckIgnore { folder, verbose, paths } => {
            folders::check_ignore(api, folder, verbose, paths)
        }
    }
}
