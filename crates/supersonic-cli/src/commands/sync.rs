//! Commands that run or steer syncing: `sync`, `retry`, `pause`, `resume` and `undo`, and how
//! any command reaches a running daemon: through its control socket ([`crate::control`]) when it
//! holds the folder, else in this process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::{Api, SyncedBy};
use supersonic_core::folder::CycleReport;

use crate::control;

/// `sync`: one full cycle now, of every folder or `dir`.
pub fn sync(api: &Api, dir: Option<PathBuf>, allow_mass_delete: bool) -> Result<ExitCode> {
    let results = api.sync_once(dir.as_deref(), allow_mass_delete)?;
    let mut failed = false;
    for (path, result) in results {
        failed |= !print_cycle(&path, or_via_daemon(api, &path, result));
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `retry`: clears the backoff and syncs now, through the running daemon when there is one.
pub fn retry(api: &Api, dir: Option<PathBuf>) -> Result<ExitCode> {
    let mut failed = false;
    for path in api.folder_paths(dir.as_deref())? {
        let result = match via_daemon(api, "retry", &path) {
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

/// `pause`/`resume`: records the state in the config and tells a running daemon.
pub fn pause_resume(api: &Api, dir: Option<PathBuf>, pause: bool) -> Result<ExitCode> {
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

/// `undo`: takes back what the last sync brought in.
pub fn undo(api: &Api, dir: Option<PathBuf>, json: bool) -> Result<ExitCode> {
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

/// Syncs `folder` now: through the running daemon when it holds the folder, else here.
pub fn sync_folder(api: &Api, folder: &Path) -> Result<ExitCode> {
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
    folder: &Path,
    result: supersonic_core::Result<CycleReport>,
) -> Result<CycleReport> {
    match result {
        Err(supersonic_core::Error::Invalid(m)) if m.contains("already being synced") => {
            via_daemon(api, "sync", folder).map(|r| r.unwrap_or_default())
        }
        other => other.map_err(anyhow::Error::from),
    }
}

/// Prints what a cycle of `folder` did, or its error; returns whether it succeeded.
fn print_cycle(folder: &Path, result: Result<CycleReport>) -> bool {
    match &result {
        Ok(r) => println!("{}: {}", folder.display(), describe(r)),
        Err(e) => eprintln!("supersonic: error: {}: {e:#}", folder.display()),
    }
    result.is_ok()
}

/// Asks the running daemon (through its control socket) to act on `folder`.
pub fn via_daemon(api: &Api, cmd: &str, folder: &Path) -> Result<Option<CycleReport>> {
    let socket = api.dirs().data_dir.join(control::SOCKET);
    match control::request(&socket, cmd, folder)? {
        None => anyhow::bail!("no daemon is running for {}", folder.display()),
        Some(r) if r.ok => Ok(r.report),
        Some(r) => anyhow::bail!("{}", r.error.unwrap_or_else(|| "the daemon failed".into())),
    }
}

/// Returns a one-line description of what a cycle did.
fn describe(r: &CycleReport) -> String {
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

/// Returns how a change made on the user's behalf reaches the remote, for people.
pub fn synced(by: &SyncedBy) -> String {
    match by {
        SyncedBy::ThisCommand => "synced".into(),
        SyncedBy::RunningEngine => "the running daemon syncs it".into(),
        SyncedBy::Failed(e) => format!("saved locally, sync failed ({e}); it is retried"),
    }
}
