//! `supersonic`: the headless Supersonic Sync daemon and its maintenance commands.
//!
//! Process policy only: argument parsing, logging, signals, exit codes and the error line.
//! The commands are in [`commands`] (their output formats) and [`daemon`]; every behaviour
//! lives in `supersonic_core::api`.

use std::collections::BTreeMap;
use std::process::ExitCode;

mod cli;
mod commands;
mod control;
mod daemon;
mod event_log;
mod notify;
mod progress;

use anyhow::Result;
use clap::Parser;
use supersonic_core::api::Api;

use crate::cli::Cli;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`supersonic history | head`) like other Unix tools,
    // instead of panicking in println!.
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    #[allow(unsafe_code)]
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SUPERSONIC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let msg = format!("{err:#}").replace('\n', " ");
            eprintln!("supersonic: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line's command with the façade bound to this process's environment.
fn run(cli: Cli) -> Result<ExitCode> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let api = Api::from_env(env)?;
    commands::run(&api, cli.command)
}
