//! `supersonic`: the headless Supersonic Sync daemon and its maintenance commands.
//!
//! Process policy only: argument parsing, logging, signals, exit codes and output formats.
//! Every behaviour lives in `supersonic_core::api`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use supersonic_core::api::{Api, InitRequest};
use supersonic_core::config::Mode;
use supersonic_core::events::Event;
use supersonic_core::status::FolderState;

#[derive(Parser)]
#[command(name = "supersonic", version, about = "Keep folders in sync through git remotes")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register a folder for syncing (creates its repository if needed).
    Init {
        /// The folder to sync.
        dir: PathBuf,
        /// Remote URL or path (default: the folder's origin, else a local bare repository in
        /// the data dir).
        #[arg(long)]
        remote: Option<String>,
        /// Branch to sync (default: the repo's current branch, else main).
        #[arg(long)]
        branch: Option<String>,
        /// two-way, push-only or pull-only.
        #[arg(long, default_value = "two-way")]
        mode: Mode,
    },
    /// Run the sync daemon for every configured folder until SIGINT/SIGTERM.
    Run,
    /// Run one full sync cycle now (all folders, or DIR).
    Sync {
        /// The folder to sync.
        dir: Option<PathBuf>,
        /// Commit a deletion of many files that would otherwise stop the folder.
        #[arg(long)]
        allow_mass_delete: bool,
    },
    /// Show each folder's state.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the effective configuration (secrets redacted).
    Config {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print which paths are ignored (exit 0 if any is, 1 if none is).
    CheckIgnore {
        /// The synced folder the paths are relative to.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Show the rule that ignores each path.
        #[arg(short, long)]
        verbose: bool,
        /// Paths to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
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

fn run(cli: Cli) -> Result<ExitCode> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let api = Api::from_env(env)?;
    match cli.command {
        Cmd::Init { dir, remote, branch, mode } => {
            let out = api.init_folder(InitRequest { path: dir, remote, branch, mode })?;
            println!(
                "syncing {} with {}{} (branch {}, {})",
                out.path.display(),
                out.remote,
                if out.embedded_remote { " (embedded local remote)" } else { "" },
                out.branch,
                out.mode
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run => daemon(&api),
        Cmd::Sync { dir, allow_mass_delete } => {
            let results = api.sync_once(dir.as_deref(), allow_mass_delete)?;
            let mut failed = false;
            for (path, result) in results {
                match result {
                    Ok(r) => {
                        let mut parts = Vec::new();
                        if let Some(c) = &r.commit {
                            parts.push(format!(
                                "committed {} file(s) as {}",
                                r.files_changed,
                                &c[..8]
                            ));
                        }
                        if r.pulled {
                            parts.push("pulled".to_string());
                        }
                        if r.pushed {
                            parts.push("pushed".to_string());
                        }
                        for c in &r.conflicts {
                            parts.push(match &c.copy {
                                Some(copy) => format!("conflict in {} (kept both: {copy})", c.path),
                                None => format!("conflict in {} (kept both)", c.path),
                            });
                        }
                        if let Some(t) = &r.throttled {
                            parts.push(format!("remote step throttled: {t}"));
                        }
                        if parts.is_empty() {
                            parts.push("up to date".to_string());
                        }
                        println!("{}: {}", path.display(), parts.join(", "));
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("supersonic: error: {}: {e}", path.display());
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Cmd::Status { json } => {
            let statuses = api.status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&statuses)?);
            } else if statuses.is_empty() {
                println!("no folders configured; add one with `supersonic init DIR`");
            } else {
                for s in statuses {
                    let state = match &s.state {
                        FolderState::Idle => "idle".to_string(),
                        FolderState::Syncing => "syncing".to_string(),
                        FolderState::Paused => "paused".to_string(),
                        FolderState::Waiting { reason } => format!("waiting: {reason}"),
                        FolderState::Error { message, .. } => format!("error: {message}"),
                    };
                    println!("{}", s.path.display());
                    println!(
                        "  state:     {state}{}",
                        if s.running { "" } else { " (daemon not running)" }
                    );
                    println!("  remote:    {} ({}, {})", s.remote, s.branch, s.mode);
                    println!("  last sync: {}", s.last_sync.as_deref().unwrap_or("never"));
                    println!("  unpushed:  {} commit(s)", s.unpushed_commits);
                    println!("  pending:   {} change(s)", s.pending_changes);
                    if let Some(next) = &s.next_retry {
                        println!("  next try:  {next}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Config { json } => {
            let config = api.effective_config()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&config)?);
            } else {
                println!("# {}", config.config_file.display());
                println!("# device {} ({})", config.device.name, config.device.id);
                let value = serde_json::to_value(&config.folders)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "folders": value }))?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CheckIgnore { folder, verbose, paths } => {
            let checks = api.check_ignore(folder.as_deref(), &paths)?;
            let mut any = false;
            for c in checks {
                if let Some(rule) = c.rule {
                    any = true;
                    if verbose {
                        println!(
                            "{}:{}:{}\t{}",
                            rule.source,
                            rule.line,
                            rule.pattern,
                            c.path.display()
                        );
                    } else {
                        println!("{}", c.path.display());
                    }
                }
            }
            Ok(if any { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn daemon(api: &Api) -> Result<ExitCode> {
    use nix::sys::signal::{SigSet, Signal};
    // Block the signals before any thread starts, so every thread inherits the mask and the
    // main thread receives them synchronously below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    let bus = supersonic_core::events::EventBus::default();
    let events = bus.subscribe();
    std::thread::spawn(move || {
        for event in events {
            log_event(&event);
        }
    });
    let engine = api.start(bus)?;
    tracing::info!("supersonic running (pid {}); stop with Ctrl-C", std::process::id());
    let signal = signals.wait()?;
    tracing::info!("received {signal:?}; committing pending changes and stopping");
    engine.stop();
    Ok(ExitCode::SUCCESS)
}

fn log_event(event: &Event) {
    let folder = event.folder();
    match event {
        Event::State { .. } | Event::SyncStart { .. } => {
            tracing::debug!("{}", serde_json::to_string(event).unwrap_or_default())
        }
        Event::Committed { commit, files_changed, .. } => {
            tracing::info!("{folder}: committed {files_changed} file(s) as {}", &commit[..8])
        }
        Event::SyncSuccess { duration_sec, pulled, pushed, .. } => tracing::info!(
            "{folder}: sync ok in {duration_sec:.2} s{}{}",
            if *pulled { ", pulled" } else { "" },
            if *pushed { ", pushed" } else { "" }
        ),
        Event::SyncFailure { error, retry_in_sec, .. } => match retry_in_sec {
            Some(s) => tracing::warn!("{folder}: sync failed: {error}; retrying in {s} s"),
            None => tracing::error!("{folder}: sync stopped: {error}"),
        },
        Event::RateLimitHit { reason, retry_in_sec, .. } => {
            tracing::warn!("{folder}: {reason}; next attempt in {retry_in_sec} s")
        }
        Event::ConflictDetected { path, copy, .. } => match copy {
            Some(copy) => {
                tracing::warn!("{folder}: conflict in {path}: kept both, older is {copy}")
            }
            None => tracing::warn!("{folder}: conflict in {path}: kept both (older in history)"),
        },
        Event::FileSkipped { path, reason, .. } => {
            tracing::warn!("{folder}: not syncing {path}: {reason}")
        }
        Event::Warning { message, .. } => tracing::warn!("{folder}: {message}"),
    }
}
