//! Commands that add folders and decide what they sync: `init`, `hydrate`, `seed`,
//! `quarantine` (files held back as secrets) and `check-ignore`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use supersonic_core::api::{Api, InitRequest};
use supersonic_core::config::Mode;
use supersonic_core::events::Event;

use super::sync::sync_folder;
use crate::cli::QuarantineCmd;
use crate::progress;

/// `init`: registers a folder.
pub fn init(api: &Api, req: InitRequest) -> Result<ExitCode> {
    let out = api.init_folder(req)?;
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

/// `hydrate`: clones a remote into a new folder, with progress on stderr.
pub fn hydrate(api: &Api, req: InitRequest) -> Result<ExitCode> {
    let mut shown = progress::Line::new();
    let out =
        api.hydrate(req, Box::new(move |phase, done, total| shown.update(phase, done, total)))?;
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

/// `seed`: fills an empty remote with an existing folder, with progress on stderr.
pub fn seed(api: &Api, dir: PathBuf, remote: String, branch: Option<String>) -> Result<ExitCode> {
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

/// `quarantine list|release|ignore`.
pub fn quarantine(api: &Api, command: QuarantineCmd) -> Result<ExitCode> {
    match command {
        QuarantineCmd::List { dir, json } => {
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
        QuarantineCmd::Release { file, folder } => {
            let dir = api.release_held(folder.as_deref(), &file)?;
            println!("released {}; syncing {}", file.display(), dir.display());
            sync_folder(api, &dir)
        }
        QuarantineCmd::Ignore { file, folder } => {
            let dir = api.ignore_held(folder.as_deref(), &file)?;
            println!("{} is ignored from now on (rule added to .syncignore)", file.display());
            sync_folder(api, &dir)
        }
    }
}

/// `check-ignore`: prints the ignored paths; exit 0 when any is ignored, 1 when none is.
pub fn check_ignore(
    api: &Api,
    folder: Option<PathBuf>,
    verbose: bool,
    paths: Vec<PathBuf>,
) -> Result<ExitCode> {
    let checks = api.check_ignore(folder.as_deref(), &paths)?;
    let mut any = false;
    for c in checks {
        if let Some(rule) = c.rule {
            any = true;
            if verbose {
                println!("{}:{}:{}\t{}", rule.source, rule.line, rule.pattern, c.path.display());
            } else {
                println!("{}", c.path.display());
            }
        }
    }
    Ok(if any { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
