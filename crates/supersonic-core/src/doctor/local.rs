//! The checks of the folder on this machine: inotify watches against its directories, free
//! disk against `sync.min_free_disk_mb`, and nesting inside another sync tool's folder or over
//! nested git repositories.

use std::path::Path;

use super::{Finding, Level};

/// Where the user namespace's inotify watch limit lives (Linux 4.9+; per user namespace).
const NAMESPACE_WATCHES: &str = "/proc/sys/user/max_inotify_watches";
/// Where the system-wide inotify watch limit lives.
const SYSTEM_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";
/// Returns the inotify watch limit in effect and where it comes from: the smaller of the
/// system's and this user namespace's.
pub fn effective_watch_limit(
    system: Option<u64>,
    namespace: Option<u64>,
) -> Option<(u64, &'static str)> {
    match (system, namespace) {
        (Some(s), Some(n)) if n < s => Some((n, "user.max_inotify_watches")),
        (Some(s), _) => Some((s, "fs.inotify.max_user_watches")),
        (None, Some(n)) => Some((n, "user.max_inotify_watches")),
        (None, None) => None,
    }
}

pub(super) fn check_inotify(folder: &Path) -> Finding {
    let read =
        |path: &str| std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let limit = effective_watch_limit(read(SYSTEM_WATCHES), read(NAMESPACE_WATCHES));
    let dirs = walkdir::WalkDir::new(folder)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir())
        .count() as u64;
    match limit {
        Some((limit, source)) if dirs * 2 > limit => Finding {
            check: "inotify".into(),
            level: Level::Warning,
            message: format!(
                "{} to watch; the inotify limit ({source}) is {limit} for all programs",
                dirs_words(dirs)
            ),
            fix: if source == "user.max_inotify_watches" {
                "Raise it where this user namespace (container, sandbox) is set up: \
                 `sysctl user.max_inotify_watches=524288` there. Until then changes are found by \
                 rescans."
                    .into()
            } else {
                "Raise it: `echo fs.inotify.max_user_watches=524288 | sudo tee \
                 /etc/sysctl.d/90-inotify.conf && sudo sysctl --system`. Until then changes are \
                 found by rescans."
                    .into()
            },
        },
        Some((limit, source)) => Finding::new(
            "inotify",
            Level::Ok,
            format!("{} to watch; limit {limit} ({source})", dirs_words(dirs)),
            "",
        ),
        None => Finding::new("inotify", Level::Warning, "cannot read the inotify limit".into(), ""),
    }
}

pub(super) fn dirs_words(n: u64) -> String {
    if n == 1 {
        "1 directory".into()
    } else {
        format!("{n} directories")
    }
}

pub(super) fn check_disk(folder: &Path, min_free_mb: u64) -> Finding {
    let Ok(stat) = nix::sys::statvfs::statvfs(folder) else {
        return Finding::new(
            "disk",
            Level::Error,
            format!("cannot read the free space of {}", folder.display()),
            "Check that the folder exists and its disk is mounted.",
        );
    };
    let free_mb = stat.blocks_available() * stat.fragment_size() / (1024 * 1024);
    if free_mb < min_free_mb {
        Finding::new(
            "disk",
            Level::Error,
            format!("{free_mb} MB free; syncing stops below {min_free_mb} MB"),
            "Free some space on this disk; syncing resumes by itself.",
        )
    } else if free_mb < min_free_mb * 4 {
        Finding::new(
            "disk",
            Level::Warning,
            format!("{free_mb} MB free; syncing stops below {min_free_mb} MB"),
            "Free some space soon.",
        )
    } else {
        Finding::new("disk", Level::Ok, format!("{free_mb} MB free"), "")
    }
}

/// Markers other sync tools leave at the top of the folders they sync.
pub(super) const FOREIGN_MARKERS: &[(&str, &str)] = &[
    (".dropbox", "Dropbox"),
    (".dropbox.cache", "Dropbox"),
    (".stfolder", "Syncthing"),
    (".sync", "Resilio Sync"),
    (".owncloudsync.log", "Nextcloud/ownCloud"),
    (".nextcloudsync.log", "Nextcloud"),
    (".849C9593-D756-4E56-8D6E-42412F2A707B", "Google Drive"),
];

pub(super) fn check_nesting(folder: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut dir = Some(folder);
    while let Some(d) = dir {
        for (marker, tool) in FOREIGN_MARKERS {
            if d.join(marker).exists() {
                findings.push(Finding::new(
                    "nesting",
                    Level::Warning,
                    format!("{} is inside a {tool} folder ({})", folder.display(), d.display()),
                    "Two sync tools on one folder race each other and can corrupt the git \
                     repository: sync it with one tool only, or move it out.",
                ));
            }
        }
        let name = d.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name == "onedrive" || name.starts_with("onedrive -") {
            findings.push(Finding::new(
                "nesting",
                Level::Warning,
                format!("{} is inside a OneDrive folder ({})", folder.display(), d.display()),
                "Sync it with one tool only, or move it out.",
            ));
        }
        dir = d.parent();
    }
    let nested: Vec<String> = walkdir::WalkDir::new(folder)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git"))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == ".git" && e.depth() > 1)
        .filter_map(|e| {
            e.path().parent()?.strip_prefix(folder).ok().map(|p| p.display().to_string())
        })
        .take(5)
        .collect();
    if !nested.is_empty() {
        findings.push(Finding::new(
            "nesting",
            Level::Warning,
            format!("nested git repositories are not synced: {}", nested.join(", ")),
            "Their files stay on this device only. Move them out, or remove their .git to sync \
             the files as part of this folder.",
        ));
    }
    if findings.is_empty() {
        findings.push(Finding::new(
            "nesting",
            Level::Ok,
            "not inside another sync tool's folder; no nested repositories".into(),
            "",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smaller_inotify_limit_wins_and_is_named() {
        assert_eq!(
            effective_watch_limit(Some(524288), Some(20)),
            Some((20, "user.max_inotify_watches"))
        );
        assert_eq!(
            effective_watch_limit(Some(8192), Some(1048576)),
            Some((8192, "fs.inotify.max_user_watches"))
        );
        assert_eq!(
            effective_watch_limit(Some(8192), None),
            Some((8192, "fs.inotify.max_user_watches"))
        );
        assert_eq!(effective_watch_limit(None, None), None);
    }
}
