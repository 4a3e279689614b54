//! `supersonic`: the headless Supersonic Sync daemon and its maintenance commands.
//!
//! Process policy only: argument parsing, logging, signals, exit codes and output formats.
//! Every behaviour lives in `supersonic_core::api`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

mod control;

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
    /// Clear the backoff and sync now (all folders, or DIR).
    Retry {
        /// The folder.
        dir: Option<PathBuf>,
    },
    /// Pause syncing (all folders, or DIR); kept across restarts.
    Pause {
        /// The folder.
        dir: Option<PathBuf>,
    },
    /// Resume syncing (all folders, or DIR).
    Resume {
        /// The folder.
        dir: Option<PathBuf>,
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
    /// List, show, resolve and undo conflicts.
    Conflicts {
        #[command(subcommand)]
        command: ConflictCmd,
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

#[derive(Subcommand)]
enum ConflictCmd {
    /// List pending conflicts (and, with --auto, automatic resolutions that can be undone).
    List {
        /// Only this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Include automatic resolutions.
        #[arg(long)]
        auto: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one conflict with both sides.
    Show {
        /// The conflict id (or a unique prefix).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decide a pending conflict.
    Resolve {
        /// The conflict id (or a unique prefix).
        id: String,
        /// Which version wins: local (this device's), remote (the other device's), or both.
        #[arg(long, value_parser = ["local", "remote", "both"], conflicts_with = "merged")]
        take: Option<String>,
        /// A file holding the merged text to keep.
        #[arg(long)]
        merged: Option<PathBuf>,
    },
    /// Undo an automatic resolution (the other version comes back as a conflict copy).
    Undo {
        /// The conflict id (or a unique prefix).
        id: String,
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
                let result = match result {
                    // A running daemon holds the folder: ask it instead.
                    Err(supersonic_core::Error::Invalid(m))
                        if m.contains("already being synced") =>
                    {
                        via_daemon(&api, "sync", &path).map(|r| r.unwrap_or_default())
                    }
                    other => other.map_err(anyhow::Error::from),
                };
                match result {
                    Ok(r) => println!("{}: {}", path.display(), describe(&r)),
                    Err(e) => {
                        failed = true;
                        eprintln!("supersonic: error: {}: {e:#}", path.display());
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Cmd::Retry { dir } => {
            let mut failed = false;
            for path in api.folder_paths(dir.as_deref())? {
                let result = match via_daemon(&api, "retry", &path) {
                    Err(e) if e.to_string().contains("no daemon") => {
                        // No daemon: a manual cycle ignores the backoff.
                        match api.sync_once(Some(&path), false)?.pop() {
                            Some((_, r)) => r.map_err(anyhow::Error::from),
                            None => Ok(Default::default()),
                        }
                    }
                    other => other.map(|r| r.unwrap_or_default()),
                };
                match result {
                    Ok(r) => println!("{}: {}", path.display(), describe(&r)),
                    Err(e) => {
                        failed = true;
                        eprintln!("supersonic: error: {}: {e:#}", path.display());
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Cmd::Pause { dir } => pause_resume(&api, dir, true),
        Cmd::Resume { dir } => pause_resume(&api, dir, false),
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
        Cmd::Conflicts { command } => conflicts(&api, command),
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

fn conflicts(api: &Api, command: ConflictCmd) -> Result<ExitCode> {
    use supersonic_core::conflicts::{Action, ConflictView, SideView};
    fn side(label: &str, s: &SideView) -> String {
        if s.deleted {
            return format!("{label}: deleted");
        }
        format!(
            "{label}: {} ({}, {} bytes{})",
            if s.device.is_empty() { "?" } else { &s.device },
            s.time
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or("time unknown".into()),
            s.size,
            s.file.as_ref().map(|f| format!(", in {f}")).unwrap_or_default()
        )
    }
    fn line(folder: &std::path::Path, c: &ConflictView) -> String {
        format!(
            "{}  {:<8} {:<14} {}/{}  [{}]",
            c.id,
            c.status,
            c.kind,
            folder.display(),
            c.path,
            c.strategy
        )
    }
    match command {
        ConflictCmd::List { folder, auto, json } => {
            let list = api.conflicts(folder.as_deref(), auto)?;
            if json {
                let items: Vec<_> = list
                    .iter()
                    .map(|(f, c)| serde_json::json!({ "folder": f, "conflict": c }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if list.is_empty() {
                println!("no conflicts");
            } else {
                for (f, c) in &list {
                    println!("{}", line(f, c));
                }
            }
        }
        ConflictCmd::Show { id, json } => {
            let (folder, c) = api.conflict(&id)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "folder": folder, "conflict": c })
                    )?
                );
            } else {
                println!("{}", line(&folder, &c));
                println!("  rule:   {}", c.rule);
                println!("  {}", side("local ", &c.local));
                println!("  {}", side("remote", &c.remote));
                if let Some(note) = &c.note {
                    println!("  note:   {note}");
                }
                for (label, s) in [("local", &c.local), ("remote", &c.remote)] {
                    if let Some(text) = &s.text {
                        println!("--- {label} ---\n{text}");
                    }
                }
            }
        }
        ConflictCmd::Resolve { id, take, merged } => {
            let action = match (take.as_deref(), merged) {
                (Some("local"), None) => Action::TakeLocal,
                (Some("remote"), None) => Action::TakeRemote,
                (Some("both"), None) => Action::KeepBoth,
                (None, Some(file)) => Action::Merged(
                    std::fs::read(&file)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?,
                ),
                _ => anyhow::bail!("give --take local|remote|both or --merged FILE"),
            };
            let out = api.resolve_conflict(&id, action)?;
            println!(
                "resolved {} in {}; {}",
                out.conflict.path,
                out.folder.display(),
                synced(&out.synced)
            );
        }
        ConflictCmd::Undo { id } => {
            let out = api.undo_conflict(&id)?;
            println!(
                "undid the automatic resolution of {} in {}: both versions are back; {}",
                out.conflict.path,
                out.folder.display(),
                synced(&out.synced)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pause_resume(api: &Api, dir: Option<PathBuf>, pause: bool) -> Result<ExitCode> {
    let cmd = if pause { "pause" } else { "resume" };
    for path in api.folder_paths(dir.as_deref())? {
        api.set_paused(&path, pause)?;
        let live = match via_daemon(api, cmd, &path) {
            Ok(_) => " (running daemon told)",
            Err(e) if e.to_string().contains("no daemon") => "",
            Err(e) => return Err(e),
        };
        println!("{}: {}{live}", path.display(), if pause { "paused" } else { "resumed" });
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the running daemon (through its control socket) to act on `folder`.
fn via_daemon(
    api: &Api,
    cmd: &str,
    folder: &std::path::Path,
) -> Result<Option<supersonic_core::folder::CycleReport>> {
    let socket = api.dirs().data_dir.join(control::SOCKET);
    match control::request(&socket, cmd, folder)? {
        None => anyhow::bail!("no daemon is running for {}", folder.display()),
        Some(r) if r.ok => Ok(r.report),
        Some(r) => anyhow::bail!("{}", r.error.unwrap_or_else(|| "the daemon failed".into())),
    }
}

/// Returns a one-line description of what a cycle did.
fn describe(r: &supersonic_core::folder::CycleReport) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &r.commit {
        parts.push(format!("committed {} file(s) as {}", r.files_changed, &c[..8]));
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
            None => format!("conflict in {} (resolved by {})", c.path, c.strategy),
        });
    }
    if let Some(t) = &r.throttled {
        parts.push(format!("remote step throttled: {t}"));
    }
    if parts.is_empty() {
        parts.push("up to date".to_string());
    }
    parts.join(", ")
}

fn synced(by: &supersonic_core::api::SyncedBy) -> String {
    use supersonic_core::api::SyncedBy;
    match by {
        SyncedBy::ThisCommand => "synced".into(),
        SyncedBy::RunningEngine => "the running daemon syncs it".into(),
        SyncedBy::Failed(e) => format!("saved locally, sync failed ({e}); it is retried"),
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
    control::serve(&api.dirs().data_dir.join(control::SOCKET), engine.control())?;
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
        Event::ConflictDetected { path, copy, strategy, .. } => match copy {
            Some(copy) => {
                tracing::warn!("{folder}: conflict in {path}: kept both, other is {copy}")
            }
            None => tracing::warn!("{folder}: conflict in {path}: resolved by {strategy}"),
        },
        Event::FileSkipped { path, reason, .. } => {
            tracing::warn!("{folder}: not syncing {path}: {reason}")
        }
        Event::Warning { message, .. } => tracing::warn!("{folder}: {message}"),
    }
}
