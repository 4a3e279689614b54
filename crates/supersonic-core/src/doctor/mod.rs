//! The credential and environment doctor: per folder, everything that commonly keeps a git
//! sync from working, each finding with the fix in words. Run by `supersonic doctor`, the HTTP
//! API and the Settings panel. Checks only read (a `git ls-remote` is the one network call).
//!
//! - git: installed and recent enough;
//! - remote: reachable and the credentials work (auth, host key), classified like a sync
//!   failure; for SSH remotes, an agent with keys, the keys ssh would offer (readable by ssh,
//!   not open to others) and the host (with its port) in the `known_hosts` files ssh reads;
//! - inotify: the watch limit (the smaller of the system's and the user namespace's) against
//!   the folder's directory count;
//! - disk: free space against `sync.min_free_disk_mb`;
//! - nesting: the folder inside another sync tool's folder (Dropbox, Syncthing, Nextcloud,
//!   OneDrive, Resilio) or holding nested git repositories.
//!
//! SSH checks ask ssh itself what it would do: `ssh -G` (with the options of `GIT_SSH_COMMAND`
//! or `core.sshCommand` when those are a plain `ssh` with options) prints the identity files,
//! host name, port and known-hosts files after every `~/.ssh/config` rule. Like ssh, `~` means
//! the home directory of the user's passwd entry, not `$HOME`. Helpers run directly (no shell)
//! with stdin closed, `BatchMode`, and a [`SSH_TIMEOUT`] deadline; key contents are never
//! read into a finding (only `ssh-keygen`'s verdict on them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::FolderConfig;
pub use crate::remote::{ssh_host, ssh_target, SshTarget};
use crate::FailureClass;

mod local;
mod ssh;

pub use local::effective_watch_limit;
use local::{check_disk, check_inotify, check_nesting};
use ssh::{check_agent, check_keys, check_known_host, ssh_config, ssh_options};
pub use ssh::{classify_keygen_error, parse_ssh_command, parse_ssh_g, KeyProblem, SshConfig};

/// The oldest git the engine is tested with (`--no-write-fetch-head`, `--porcelain` push).
pub const MIN_GIT: (u32, u32) = (2, 29);

/// How long the remote check may take.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one local ssh helper (`ssh -G`, `ssh-keygen`, `ssh-add`) may take. They read
/// local files only, so a few seconds is plenty; longer means a hung agent or a
/// `ProxyCommand`-like surprise, and the doctor must not hang on it.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Which check (`git`, `remote`, `ssh_agent`, `ssh_key`, `host_key`, `inotify`, `disk`, `nesting`).
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
    findings.extend(check_remote(&folder.remote, &folder.path));
    findings.push(check_inotify(&folder.path));
    findings.push(check_disk(&folder.path, folder.settings.sync.min_free_disk_mb));
    findings.extend(check_nesting(&folder.path));
    Report {
        folder: folder.path.clone(),
        remote: crate::remote::redact_url(&folder.remote),
        findings,
    }
}

fn check_git() -> Finding {
    let Some(text) = crate::git::installed_version() else {
        return Finding::new(
            "git",
            Level::Error,
            "git is not installed (or not on PATH)".into(),
            "Install git (e.g. `apt install git`).",
        );
    };
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

fn check_remote(remote: &str, folder: &Path) -> Vec<Finding> {
    let redacted = crate::remote::redact_url(remote);
    let mut findings = Vec::new();
    if let Some(target) = ssh_target(remote) {
        let (agent, agent_keys) = check_agent();
        findings.push(agent);
        let config = ssh_config(&target, &ssh_options(folder));
        findings.extend(check_keys(&config, agent_keys));
        findings.push(check_known_host(&config));
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

    #[test]
    fn ssh_targets_keep_user_and_port() {
        let t = |user: Option<&str>, host: &str, port| SshTarget {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        };
        assert_eq!(ssh_target("git@github.com:me/n.git"), Some(t(Some("git"), "github.com", None)));
        assert_eq!(
            ssh_target("ssh://git@127.0.0.1:2222/r.git"),
            Some(t(Some("git"), "127.0.0.1", Some(2222)))
        );
        assert_eq!(ssh_target("ssh://host/r.git"), Some(t(None, "host", None)));
        assert_eq!(ssh_target("ssh://me@[::1]:2200/r.git"), Some(t(Some("me"), "::1", Some(2200))));
        assert_eq!(ssh_target("ssh://host:notaport/r.git"), None);
        assert_eq!(ssh_target("https://host/r.git"), None);
    }
}
