//! The credential and environment doctor: per folder, everything that commonly keeps a git
//! sync from working, each finding with the fix in words. Run by `supersonic doctor`, the HTTP
//! API and the Settings panel. Checks only read (a `git ls-remote` is the one network call).
//!
//! - git: installed and recent enough;
//! - remote: reachable and the credentials work (auth, host key), classified like a sync
//!   failure; for SSH remotes, an agent with keys and the host in `known_hosts`;
//! - inotify: the watch limit against the folder's directory count;
//! - disk: free space against `sync.min_free_disk_mb`;
//! - nesting: the folder inside another sync tool's folder (Dropbox, Syncthing, Nextcloud,
//!   OneDrive, Resilio) or holding nested git repositories.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::config::FolderConfig;
use crate::FailureClass;

/// The oldest git the engine is tested with (`--no-write-fetch-head`, `--porcelain` push).
pub const MIN_GIT: (u32, u32) = (2, 29);

/// How long the remote check may take.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(20);

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// All good.
    Ok,
    /// Works, but worth the user's attention.
    Warning,
    /// Keeps the folder from syncing.
    Error,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check (`git`, `remote`, `ssh_agent`, `host_key`, `inotify`, `disk`, `nesting`).
    pub check: String,
    /// Its outcome.
    pub level: Level,
    /// What was found.
    pub message: String,
    /// What to do about it (empty when all is well).
    pub fix: String,
}

impl Finding {
    fn new(check: &str, level: Level, message: String, fix: &str) -> Finding {
        Finding { check: check.into(), level, message, fix: fix.into() }
    }
}

/// Every finding about one folder.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The folder.
    pub folder: PathBuf,
    /// The remote, redacted.
    pub remote: String,
    /// The findings, in check order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst level among the findings.
    pub fn level(&self) -> Level {
        self.findings.iter().map(|f| f.level).max().unwrap_or(Level::Ok)
    }
}

/// Examines `folder`.
pub fn examine(folder: &FolderConfig) -> Report {
    let mut findings = vec![check_git()];
    findings.extend(check_remote(&folder.remote));
    findings.push(check_inotify(&folder.path));
    findings.push(check_disk(&folder.path, folder.settings.sync.min_free_disk_mb));
    findings.extend(check_nesting(&folder.path));
    Report {
        folder: folder.path.clone(),
        remote: crate::config::redact_url(&folder.remote),
        findings,
    }
}

fn check_git() -> Finding {
    let out = Command::new("git").arg("--version").stdin(Stdio::null()).output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return Finding::new(
            "git",
            Level::Error,
            "git is not installed (or not on PATH)".into(),
            "Install git (e.g. `apt install git`).",
        );
    };
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match parse_git_version(&text) {
        Some(v) if v >= MIN_GIT => Finding::new("git", Level::Ok, text, ""),
        Some(_) => Finding::new(
            "git",
            Level::Error,
            format!("{text} is older than {}.{}", MIN_GIT.0, MIN_GIT.1),
            "Update git to a recent release.",
        ),
        None => Finding::new("git", Level::Warning, format!("unrecognised version: {text}"), ""),
    }
}

/// Parses `git version 2.39.5` (and vendor suffixes) into (major, minor).
pub fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let v = text.strip_prefix("git version ")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn check_remote(remote: &str) -> Vec<Finding> {
    let redacted = crate::config::redact_url(remote);
    let mut findings = Vec::new();
    if let Some(host) = ssh_host(remote) {
        findings.push(check_agent());
        findings.push(check_known_host(&host));
    } else if !remote.contains("://") && !Path::new(remote).exists() {
        findings.push(Finding::new(
            "remote",
            Level::Error,
            format!("the remote {redacted} does not exist"),
            "Check the remote path in Settings, or create the repository (`git init --bare`).",
        ));
        return findings;
    }
    findings.push(match crate::git::check_remote(remote, REMOTE_TIMEOUT) {
        Ok(()) => {
            Finding::new("remote", Level::Ok, format!("{redacted} answers; access works"), "")
        }
        Err(e) => {
            let message = e.to_string();
            let fix = match e.class() {
                FailureClass::Transient => {
                    "The remote did not answer: check the network or the server; syncing \
                     retries by itself."
                }
                _ => crate::notifications::fix_for(&message),
            };
            Finding::new("remote", Level::Error, message, fix)
        }
    });
    findings
}

/// Returns the host of an SSH remote (`git@host:path`, `ssh://[user@]host[:port]/path`).
pub fn ssh_host(remote: &str) -> Option<String> {
    if let Some(rest) = remote.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host = authority.rsplit('@').next()?;
        return Some(host.split(':').next()?.to_string());
    }
    if remote.contains("://") || Path::new(remote).is_absolute() {
        return None;
    }
    // scp-like: [user@]host:path, where host has no slash before the colon.
    let (before, _) = remote.split_once(':')?;
    (!before.contains('/')).then(|| before.rsplit('@').next().unwrap_or(before).to_string())
}

fn check_agent() -> Finding {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return Finding::new(
            "ssh_agent",
            Level::Warning,
            "no SSH agent is visible (SSH_AUTH_SOCK is not set)".into(),
            "Start an agent and add your key (`ssh-add`), or use a key without a passphrase \
             configured in ~/.ssh/config for this host.",
        );
    }
    let out = Command::new("ssh-add").arg("-l").stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() => {
            let keys = String::from_utf8_lossy(&o.stdout).lines().count();
            Finding::new("ssh_agent", Level::Ok, format!("SSH agent holds {keys} key(s)"), "")
        }
        Ok(_) => Finding::new(
            "ssh_agent",
            Level::Warning,
            "the SSH agent holds no key".into(),
            "Add your key to the agent: `ssh-add ~/.ssh/id_ed25519`.",
        ),
        Err(_) => Finding::new(
            "ssh_agent",
            Level::Warning,
            "ssh-add is not installed; cannot ask the agent".into(),
            "Install the OpenSSH client.",
        ),
    }
}

fn check_known_host(host: &str) -> Finding {
    let out = Command::new("ssh-keygen").args(["-F", host]).stdin(Stdio::null()).output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            Finding::new("host_key", Level::Ok, format!("{host} is in known_hosts"), "")
        }
        Ok(_) => Finding::new(
            "host_key",
            Level::Error,
            format!("{host} is not in ~/.ssh/known_hosts; the engine never accepts a key blindly"),
            "Connect once by hand (`ssh -T git@HOST`), check the fingerprint the host publishes, \
             and accept it.",
        ),
        Err(_) => Finding::new(
            "host_key",
            Level::Warning,
            "ssh-keygen is not installed; cannot check known_hosts".into(),
            "Install the OpenSSH client.",
        ),
    }
}

fn check_inotify(folder: &Path) -> Finding {
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let dirs = walkdir::WalkDir::new(folder)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir())
        .count() as u64;
    match limit {
        Some(limit) if dirs * 2 > limit => Finding::new(
            "inotify",
            Level::Warning,
            format!("{} to watch; the inotify limit is {limit} for all programs", dirs_words(dirs)),
            "Raise it: `echo fs.inotify.max_user_watches=524288 | sudo tee \
             /etc/sysctl.d/90-inotify.conf && sudo sysctl --system`. Until then changes are \
             found by rescans.",
        ),
        Some(limit) => Finding::new(
            "inotify",
            Level::Ok,
            format!("{} to watch; limit {limit}", dirs_words(dirs)),
            "",
        ),
        None => Finding::new("inotify", Level::Warning, "cannot read the inotify limit".into(), ""),
    }
}

fn dirs_words(n: u64) -> String {
    if n == 1 {
        "1 directory".into()
    } else {
        format!("{n} directories")
    }
}

fn check_disk(folder: &Path, min_free_mb: u64) -> Finding {
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
const FOREIGN_MARKERS: &[(&str, &str)] = &[
    (".dropbox", "Dropbox"),
    (".dropbox.cache", "Dropbox"),
    (".stfolder", "Syncthing"),
    (".sync", "Resilio Sync"),
    (".owncloudsync.log", "Nextcloud/ownCloud"),
    (".nextcloudsync.log", "Nextcloud"),
    (".849C9593-D756-4E56-8D6E-42412F2A707B", "Google Drive"),
];

fn check_nesting(folder: &Path) -> Vec<Finding> {
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
    fn git_versions_and_ssh_hosts_are_parsed() {
        assert_eq!(parse_git_version("git version 2.39.5"), Some((2, 39)));
        assert_eq!(parse_git_version("git version 2.45.1.windows.1"), Some((2, 45)));
        assert_eq!(parse_git_version("hub 1.0"), None);
        assert_eq!(ssh_host("git@github.com:me/notes.git").as_deref(), Some("github.com"));
        assert_eq!(ssh_host("ssh://git@host.example:2222/n.git").as_deref(), Some("host.example"));
        assert_eq!(ssh_host("https://github.com/me/notes.git"), None);
        assert_eq!(ssh_host("/srv/git/notes.git"), None);
        assert_eq!(ssh_host("../relative/path.git"), None);
    }
}
