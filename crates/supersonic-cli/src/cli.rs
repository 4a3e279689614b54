//! The command line: every subcommand, flag and help text (clap's derive definitions). What a
//! command does is in [`crate::commands`]; running the daemon is in [`crate::daemon`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use supersonic_core::config::Mode;

// The `supersonic` command line (plain comments here: a doc comment would become help text).
#[derive(Parser)]
#[command(name = "supersonic", version, about = "Keep folders in sync through git remotes")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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
pub enum WebhookCmd {
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
pub enum HistoryCmd {
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
pub enum QuarantineCmd {
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
pub enum ThrottleCmd {
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
pub enum ConflictCmd {
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
