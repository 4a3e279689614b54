//! Commands that show what is configured and how it is going: `status`, `config`, `devices`
//! and `doctor`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::Api;
use supersonic_core::status::FolderState;

/// `status`: each folder's state.
pub fn status(api: &Api, json: bool) -> Result<ExitCode> {
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

/// `config`: the effective configuration, secrets redacted.
pub fn config(api: &Api, json: bool) -> Result<ExitCode> {
    let config = api.effective_config()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&config)?);
    } else {
        println!("# {}", config.config_file.display());
        println!("# device {} ({})", config.device.name, config.device.id);
        let value = serde_json::to_value(&config.folders)?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "folders": value }))?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `devices`: every device the folders' history shows.
pub fn devices(api: &Api, dir: Option<PathBuf>, json: bool) -> Result<ExitCode> {
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

/// `doctor`: what keeps folders from syncing; exit 1 when a check fails.
pub fn doctor(api: &Api, dir: Option<PathBuf>, json: bool) -> Result<ExitCode> {
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
