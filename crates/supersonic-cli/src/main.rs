//! `supersonic`: the headless Supersonic Sync daemon and its maintenance commands.
//!
//! Process policy only: argument parsing, logging, signals, exit codes and output formats.
//! Every behaviour lives in `supersonic_core::api`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

mod control;
mod notify;
mod progress;

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
    /// Run the daemon and the local HTTP API (web UI, JSON, events) on 127.0.0.1.
    Serve {
        /// Port (default: `http.port` in config.yaml, else 8385); 0 picks a free one.
        #[arg(long)]
        port: Option<u16>,
        /// Print the API token and exit.
        #[arg(long)]
        print_token: bool,
    },
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
    /// Sync statistics over a window (the seed's stats).
    Stats {
        /// Window in hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Only this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Print the whole metrics object (stats, hourly, recent, throttle) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Syncs per hour (the seed's sparkline data).
    Hourly {
        /// Window in hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Only this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recent sync history; `history clear`, `history import FILE`.
    History {
        #[command(subcommand)]
        command: Option<HistoryCmd>,
        /// Rows to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Throttle state (`throttle status`) and reset (`throttle clear`).
    Throttle {
        #[command(subcommand)]
        command: ThrottleCmd,
    },
    /// List, show, resolve and undo conflicts.
    Conflicts {
        #[command(subcommand)]
        command: ConflictCmd,
    },
    /// Restore a synced folder on this device: clone REMOTE into DIR (new or empty) with
    /// progress, then sync it like `init`. An interrupted hydrate starts over cleanly.
    Hydrate {
        /// The remote to clone.
        remote: String,
        /// Where the folder goes.
        dir: PathBuf,
        /// Branch (default: the remote's default branch).
        #[arg(long)]
        branch: Option<String>,
        /// two-way, push-only or pull-only.
        #[arg(long, default_value = "two-way")]
        mode: Mode,
    },
    /// Fill an empty remote with an existing folder: register it, commit everything and push,
    /// with progress.
    Seed {
        /// The folder.
        dir: PathBuf,
        /// The empty remote to fill.
        #[arg(long)]
        remote: String,
        /// Branch (default main).
        #[arg(long)]
        branch: Option<String>,
    },
    /// Files held back because they look like secrets: `list`, `release FILE`, `ignore FILE`.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCmd,
    },
    /// Take back what the last sync brought in (a new commit: nothing rewritten, nothing lost).
    Undo {
        /// The folder (needed when several are configured).
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every device that synced the folders (from their history), with its last sync.
    Devices {
        /// Only this folder.
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check what keeps folders from syncing (git, remote access, SSH, inotify, disk, nesting),
    /// each finding with its fix; exit 1 when any check fails.
    Doctor {
        /// Only this folder.
        dir: Option<PathBuf>,
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
    /// Webhooks: `webhook test EVENT` sends a sample event and prints what happened.
    Webhook {
        #[command(subcommand)]
        command: WebhookCmd,
    },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Send a sample EVENT (sync_success, sync_failure, needs_attention, sync_start,
    /// rate_limit_hit, conflict_detected, warning); exit 1 if any URL did not accept it.
    Test {
        /// The event to send.
        event: String,
        /// Send to this URL instead of the configured ones.
        #[arg(long)]
        url: Option<String>,
        /// The folder whose webhook settings apply (default: the only configured folder).
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum HistoryCmd {
    /// Delete history rows (all, or --folder's).
    Clear {
        /// Only this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
    },
    /// Import a seed-format JSONL history file into a folder's history.
    Import {
        /// The JSONL file.
        file: PathBuf,
        /// The folder it belongs to (default: the only configured folder).
        #[arg(long)]
        folder: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum QuarantineCmd {
    /// List the files held back (all folders, or DIR).
    List {
        /// The folder.
        dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Commit FILE after all (on this device), then sync.
    Release {
        /// The held file.
        file: PathBuf,
        /// The folder FILE is relative to.
        #[arg(long)]
        folder: Option<PathBuf>,
    },
    /// Never sync FILE: add it to the folder's .syncignore (synced to every device).
    Ignore {
        /// The held file.
        file: PathBuf,
        /// The folder FILE is relative to.
        #[arg(long)]
        folder: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ThrottleCmd {
    /// Show whether each folder may reach its remote now, and why not.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget the rate window and backoff (all folders, or DIR).
    Clear {
        /// The folder.
        dir: Option<PathBuf>,
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
        Cmd::Run if api.folder_paths(None)?.is_empty() => {
            Err(supersonic_core::Error::Invalid(format!(
                "no folders configured in {}; add one with `supersonic init DIR` (or use \
                 `supersonic serve` and add it in the web UI)",
                api.dirs().app_config_file().display()
            ))
            .into())
        }
        Cmd::Run => daemon(&api, HttpApi::WhenEnabled),
        Cmd::Serve { print_token: true, .. } => {
            println!("{}", supersonic_http::load_or_create_token(&api.dirs().config_dir)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve { port, .. } => daemon(&api, HttpApi::Always { port }),
        Cmd::Sync { dir, allow_mass_delete } => {
            let results = api.sync_once(dir.as_deref(), allow_mass_delete)?;
            let mut failed = false;
            for (path, result) in results {
                failed |= !print_cycle(&path, or_via_daemon(&api, &path, result));
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
                failed |= !print_cycle(&path, result);
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Cmd::Pause { dir } => pause_resume(&api, dir, true),
        Cmd::Resume { dir } => pause_resume(&api, dir, false),
        Cmd::Hydrate { remote, dir, branch, mode } => {
            let mut shown = progress::Line::new();
            let req = InitRequest { path: dir, remote: Some(remote), branch, mode };
            let out = api.hydrate(
                req,
                Box::new(move |phase, done, total| shown.update(phase, done, total)),
            )?;
            eprintln!();
            println!(
                "hydrated {} from {} (branch {}, {}); `supersonic run` keeps it in sync",
                out.path.display(),
                out.remote,
                out.branch,
                out.mode
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Seed { dir, remote, branch } => {
            let req = InitRequest { path: dir, remote: Some(remote), branch, mode: Mode::TwoWay };
            let shown = std::sync::Mutex::new(progress::Line::new());
            let (out, report) = api.seed(req, move |event| {
                if let Event::Progress { phase, done, total, .. } = event {
                    shown.lock().unwrap_or_else(|e| e.into_inner()).update(phase, *done, *total);
                }
            })?;
            eprintln!();
            println!(
                "seeded {} with {} file(s) into {} (branch {}); {}",
                out.path.display(),
                report.files_changed,
                out.remote,
                out.branch,
                if report.pushed { "pushed" } else { "nothing to push" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Quarantine { command: QuarantineCmd::List { dir, json } } => {
            let folders = api.quarantine(dir.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&folders)?);
            }
            for f in folders.iter().filter(|_| !json) {
                println!("{}", f.folder.display());
                if f.held.is_empty() {
                    println!("  nothing held back");
                }
                for h in &f.held {
                    println!("  {}: {}", h.path, h.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Quarantine { command: QuarantineCmd::Release { file, folder } } => {
            let dir = api.release_held(folder.as_deref(), &file)?;
            println!("released {}; syncing {}", file.display(), dir.display());
            sync_folder(&api, &dir)
        }
        Cmd::Quarantine { command: QuarantineCmd::Ignore { file, folder } } => {
            let dir = api.ignore_held(folder.as_deref(), &file)?;
            println!("{} is ignored from now on (rule added to .syncignore)", file.display());
            sync_folder(&api, &dir)
        }
        Cmd::Undo { dir, json } => {
            let report = api.undo_last_sync(dir.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{}: undid the last sync ({} file(s) restored, commit {}); {}",
                    report.folder.display(),
                    report.undone.files,
                    &report.undone.commit[..8],
                    synced(&report.synced)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Devices { dir, json } => {
            let folders = api.devices(dir.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&folders)?);
            }
            for f in folders.iter().filter(|_| !json) {
                println!("{}", f.folder.display());
                if f.devices.is_empty() {
                    println!("  no commits yet");
                }
                for d in &f.devices {
                    let synced = d
                        .seen
                        .last_sync
                        .map(|t| format!("  synced {}", t.format("%Y-%m-%d %H:%M")))
                        .unwrap_or_default();
                    println!(
                        "  {:<20} {:>6} commit(s)  last {}{synced}{}{}",
                        d.seen.name,
                        d.seen.commits,
                        d.seen.last_commit.format("%Y-%m-%d %H:%M"),
                        if d.this_device { "  (this device)" } else { "" },
                        if d.seen.via_supersonic { "" } else { "  (git, not Supersonic)" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Doctor { dir, json } => {
            use supersonic_core::doctor::Level;
            let reports = api.doctor(dir.as_deref())?;
            let worst = reports.iter().map(|r| r.level()).max().unwrap_or(Level::Ok);
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
            for r in reports.iter().filter(|_| !json) {
                println!("{} ({})", r.folder.display(), r.remote);
                for f in &r.findings {
                    let mark = match f.level {
                        Level::Ok => "ok  ",
                        Level::Warning => "warn",
                        Level::Error => "FAIL",
                    };
                    println!("  {mark} {:<10} {}", f.check, f.message);
                    if !f.fix.is_empty() {
                        println!("       {:<10} fix: {}", "", f.fix);
                    }
                }
            }
            Ok(if worst == Level::Error { ExitCode::FAILURE } else { ExitCode::SUCCESS })
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
                    if let Some(g) = &s.growth {
                        println!(
                            "  size:      files {} ({} tracked), .git {} (packs {}, {} loose \
                             object(s)), {} commit(s)",
                            human_bytes(g.worktree_bytes),
                            g.tracked_files,
                            human_bytes(g.git_bytes),
                            human_bytes(g.pack_bytes),
                            g.loose_objects,
                            g.commits
                        );
                        println!("  last gc:   {}", g.last_gc.as_deref().unwrap_or("never"));
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
        Cmd::Stats { hours, folder, json } => {
            let m = api.metrics(folder.as_deref(), hours)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                let s = &m.stats;
                println!("last {hours} h:");
                println!(
                    "  syncs:         {} ({} ok, {} failed)",
                    s.total_syncs, s.successful_syncs, s.failed_syncs
                );
                println!("  success rate:  {}%", s.success_rate);
                println!("  avg duration:  {} s", s.avg_duration_sec);
                println!("  files changed: {}", s.total_files_changed);
                println!("  rate limits:   {}", s.rate_limit_hits);
                println!("  last success:  {}", s.last_success.as_deref().unwrap_or("-"));
                println!("  last failure:  {}", s.last_failure.as_deref().unwrap_or("-"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hourly { hours, folder, json } => {
            let m = api.metrics(folder.as_deref(), hours)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&m.hourly)?);
            } else {
                let max = m.hourly.iter().map(|b| b.total).max().unwrap_or(0).max(1);
                for b in &m.hourly {
                    let bar = "#".repeat((b.total * 40 / max) as usize);
                    println!(
                        "{}  {:>4} syncs {:>4} ok {:>4} failed  {bar}",
                        b.hour, b.total, b.successful, b.failed
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::History { command: Some(HistoryCmd::Clear { folder }), .. } => {
            let n = api.clear_history(folder.as_deref())?;
            println!("deleted {n} history row(s)");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::History { command: Some(HistoryCmd::Import { file, folder }), .. } => {
            let folder = match folder {
                Some(f) => f,
                None => match api.folder_paths(None)?.as_slice() {
                    [only] => only.clone(),
                    _ => anyhow::bail!("several folders are configured; say which with --folder"),
                },
            };
            let report = api.import_history(&file, &folder)?;
            for (line, reason) in &report.skipped {
                eprintln!("{}:{line}: skipped: {reason}", file.display());
            }
            println!(
                "imported {} event(s) into {}; skipped {} bad line(s)",
                report.imported,
                folder.display(),
                report.skipped.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::History { command: None, limit, folder, json } => {
            let rows = api.recent(folder.as_deref(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows.iter().rev() {
                    let detail = r
                        .error_msg
                        .clone()
                        .or_else(|| r.reason.clone())
                        .or_else(|| r.commit_hash.as_ref().map(|c| c[..8.min(c.len())].to_string()))
                        .unwrap_or_default();
                    let secs = r.duration_sec.map(|d| format!(" {d:.2}s")).unwrap_or_default();
                    println!("{}  {:<18} {}{secs}  {detail}", r.timestamp, r.event_type, r.folder);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Throttle { command: ThrottleCmd::Status { json } } => {
            let status = api.throttle_status(None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                for t in status {
                    println!(
                        "{}: {} ({} of {} remote operations in the last hour){}",
                        t.folder.display(),
                        if t.allowed {
                            "allowed".to_string()
                        } else {
                            format!("blocked: {}", t.reason)
                        },
                        t.syncs_last_hour,
                        t.max_per_hour,
                        t.next_allowed
                            .map(|n| format!("; allowed again at {n}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Throttle { command: ThrottleCmd::Clear { dir } } => {
            for path in api.folder_paths(dir.as_deref())? {
                match via_daemon(&api, "throttle-clear", &path) {
                    Ok(_) => println!("{}: throttle cleared (running daemon told)", path.display()),
                    Err(e) if e.to_string().contains("no daemon") => {
                        api.clear_throttle(Some(&path))?;
                        println!("{}: throttle cleared", path.display());
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Webhook { command: WebhookCmd::Test { event, url, folder, json } } => {
            let reports = api.webhook_test(folder.as_deref(), &event, url.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for r in &reports {
                    println!("{}", r.summary());
                }
            }
            Ok(if reports.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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

/// Syncs `folder` now: through the running daemon when it holds the folder, else here.
fn sync_folder(api: &Api, folder: &std::path::Path) -> Result<ExitCode> {
    let Some((_, result)) = api.sync_once(Some(folder), false)?.pop() else {
        anyhow::bail!("{} is not synced", folder.display())
    };
    let ok = print_cycle(folder, or_via_daemon(api, folder, result));
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Returns the outcome of a sync of `folder` in this process, or, when a running daemon holds
/// the folder, asks the daemon to sync it and returns its outcome.
fn or_via_daemon(
    api: &Api,
    folder: &std::path::Path,
    result: supersonic_core::Result<supersonic_core::folder::CycleReport>,
) -> Result<supersonic_core::folder::CycleReport> {
    match result {
        Err(supersonic_core::Error::Invalid(m)) if m.contains("already being synced") => {
            via_daemon(api, "sync", folder).map(|r| r.unwrap_or_default())
        }
        other => other.map_err(anyhow::Error::from),
    }
}

/// Prints what a cycle of `folder` did, or its error; returns whether it succeeded.
fn print_cycle(
    folder: &std::path::Path,
    result: Result<supersonic_core::folder::CycleReport>,
) -> bool {
    match &result {
        Ok(r) => println!("{}: {}", folder.display(), describe(r)),
        Err(e) => eprintln!("supersonic: error: {}: {e:#}", folder.display()),
    }
    result.is_ok()
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

fn daemon(api: &Api, http: HttpApi) -> Result<ExitCode> {
    use nix::sys::signal::{SigSet, Signal};
    // Block the signals before any thread starts, so every thread inherits the mask and the
    // main thread receives them synchronously below.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    let bus = supersonic_core::events::EventBus::default();
    let events = bus.subscribe();
    let (_, folders) = api.load()?;
    let (notify_updates, updates) = crossbeam_channel::unbounded();
    let _notifications = notify::start(
        supersonic_core::notifications::folder_settings(&folders),
        bus.subscribe(),
        updates,
    );
    std::thread::spawn(move || {
        for event in events {
            log_event(&event);
        }
    });
    // Subscribed before the engine starts, so no event is missed; dropped after it stops, so
    // the last events are still sent (briefly bounded).
    let webhooks = std::sync::Arc::new(std::sync::Mutex::new(Some(start_webhooks(api, &bus)?)));
    let engine = api.start(bus.clone())?;
    supersonic_core::outlets::follow(
        engine.control().subscribe_config(),
        notify_updates,
        webhooks.clone(),
    );
    control::serve(&api.dirs().data_dir.join(control::SOCKET), engine.control())?;
    let http = start_http(api, http, Some(engine.control()), bus)?;
    tracing::info!("supersonic running (pid {}); stop with Ctrl-C", std::process::id());
    let signal = signals.wait()?;
    tracing::info!("received {signal:?}; committing pending changes and stopping");
    drop(http);
    engine.stop();
    drop(webhooks.lock().unwrap_or_else(|e| e.into_inner()).take());
    Ok(ExitCode::SUCCESS)
}

/// When the daemon serves the local HTTP API.
enum HttpApi {
    /// `supersonic run`: when `http.enabled` is set in config.yaml.
    WhenEnabled,
    /// `supersonic serve`: always, on `port` or the configured one.
    Always { port: Option<u16> },
}

/// Starts the HTTP API if `http` asks for it; `serve` prints the URL to open with the token in
/// its fragment (as Jupyter does), `run` only logs the address so the token stays out of logs.
fn start_http(
    api: &Api,
    http: HttpApi,
    control: Option<supersonic_core::engine::EngineControl>,
    bus: supersonic_core::events::EventBus,
) -> Result<Option<supersonic_http::ServerHandle>> {
    let settings = supersonic_core::config::load_app_config(&api.dirs().app_config_file())?.http;
    let port = match http {
        HttpApi::Always { port } => port.unwrap_or(settings.port),
        HttpApi::WhenEnabled if settings.enabled => settings.port,
        HttpApi::WhenEnabled => return Ok(None),
    };
    let token = supersonic_http::load_or_create_token(&api.dirs().config_dir)?;
    let opts = supersonic_http::ServeOptions {
        addr: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
        token: token.clone(),
        ui_dir: ui_dir(),
    };
    let server = supersonic_http::start(opts, api.clone(), control, bus)?;
    match http {
        HttpApi::Always { .. } => println!("open {}", server.url_with_token(&token)),
        HttpApi::WhenEnabled => tracing::info!(
            "web UI on http://{} (`supersonic serve --print-token` prints the token)",
            server.addr()
        ),
    }
    Ok(Some(server))
}

/// Returns the built web UI to serve: `$SUPERSONIC_UI_DIR`, else the `ui/dist` of the source
/// tree this binary was built from, when it holds a build.
fn ui_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SUPERSONIC_UI_DIR") {
        return Some(PathBuf::from(dir));
    }
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    dist.join("index.html").is_file().then_some(dist)
}

/// Starts webhook delivery for every configured folder; its events were subscribed before the
/// engine started, so none is missed.
fn start_webhooks(
    api: &Api,
    bus: &supersonic_core::events::EventBus,
) -> Result<supersonic_core::webhooks::WebhookHandle> {
    let (app, folders) = api.load()?;
    let device = api.device(&app)?;
    let settings = supersonic_core::webhooks::folder_settings(&folders);
    let history = api.dirs().data_dir.join(supersonic_core::history::HISTORY_FILE);
    Ok(supersonic_core::webhooks::start(settings, device.name, bus, history)?)
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
        Event::Stale { message, cleared: false, .. } => tracing::warn!("{folder}: {message}"),
        Event::Stale { alert, cleared: true, .. } => tracing::info!("{folder}: {alert} cleared"),
        Event::OperationFinished { operation, ok: true, .. } => {
            tracing::info!("{folder}: {operation:?} finished")
        }
        Event::OperationFinished { operation, error, .. } => {
            tracing::warn!("{folder}: {operation:?} failed: {}", error.as_deref().unwrap_or("?"))
        }
        Event::Progress { operation, phase, done, total, finished, .. } => match total {
            _ if *finished => tracing::debug!("{folder}: {operation:?} finished"),
            Some(total) => tracing::debug!("{folder}: {operation:?} {phase} {done}/{total}"),
            None => tracing::debug!("{folder}: {operation:?} {phase} {done}"),
        },
    }
}

/// Returns `bytes` in binary units with one decimal ("1.5 MiB"), plain bytes below 1 KiB.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
