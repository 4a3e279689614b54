//! Commands over the history database: `stats`, `hourly`, `history` (list, clear, import),
//! `throttle` (status, clear) and `webhook test`, whose deliveries are recorded there.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::Api;

use super::sync::via_daemon;
use crate::cli::{HistoryCmd, ThrottleCmd};

/// `stats`: sync statistics over the last `hours`.
pub fn stats(api: &Api, hours: u32, folder: Option<PathBuf>, json: bool) -> Result<ExitCode> {
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

/// `hourly`: syncs per hour over the last `hours`.
pub fn hourly(api: &Api, hours: u32, folder: Option<PathBuf>, json: bool) -> Result<ExitCode> {
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

/// `history`: the newest rows, or `history clear|import`.
pub fn history(
    api: &Api,
    command: Option<HistoryCmd>,
    limit: usize,
    folder: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    match command {
        Some(HistoryCmd::Clear { folder }) => {
            let n = api.clear_history(folder.as_deref())?;
            println!("deleted {n} history row(s)");
            Ok(ExitCode::SUCCESS)
        }
        Some(HistoryCmd::Import { file, folder }) => {
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
        None => {
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
    }
}

/// `throttle status|clear`.
pub fn throttle(api: &Api, command: ThrottleCmd) -> Result<ExitCode> {
    match command {
        ThrottleCmd::Status { json } => {
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
        ThrottleCmd::Clear { dir } => {
            for path in api.folder_paths(dir.as_deref())? {
                match via_daemon(api, "throttle-clear", &path) {
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
    }
}

/// `webhook test`: sends a sample event; exit 1 when a URL did not accept it.
pub fn webhook_test(
    api: &Api,
    event: String,
    url: Option<String>,
    folder: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
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
