//! `conflicts list|show|resolve|undo`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::Api;
use supersonic_core::conflicts::{Action, ConflictView, SideView};

use super::sync::synced;
use crate::cli::ConflictCmd;

/// Runs a `conflicts` subcommand.
pub fn run(api: &Api, command: ConflictCmd) -> Result<ExitCode> {
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
    fn line(folder: &Path, c: &ConflictView) -> String {
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
