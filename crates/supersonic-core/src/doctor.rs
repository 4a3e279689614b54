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

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::config::FolderConfig;
pub use crate::remote::{ssh_host, ssh_target, SshTarget};
use crate::FailureClass;

/// The oldest git the engine is tested with (`--no-write-fetch-head`, `--porcelain` push).
pub const MIN_GIT: (u32, u32) = (2, 29);

/// How long the remote check may take.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one local ssh helper (`ssh -G`, `ssh-keygen`, `ssh-add`) may take. They read
/// local files only, so a few seconds is plenty; longer means a hung agent or a
/// `ProxyCommand`-like surprise, and the doctor must not hang on it.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the system-wide inotify watch limit lives.
const SYSTEM_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Where the user namespace's inotify watch limit lives (Linux 4.9+; per user namespace).
const NAMESPACE_WATCHES: &str = "/proc/sys/user/max_inotify_watches";

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

/// What `ssh -G` says ssh would use for a target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshConfig {
    /// The name host keys are stored under: `HostKeyAlias`, else `HostName`.
    pub host: String,
    /// The port ssh connects to.
    pub port: u16,
    /// The identity files ssh offers, `~` expanded, whether or not they exist.
    pub identity_files: Vec<PathBuf>,
    /// The user and system known-hosts files ssh reads, `~` expanded.
    pub known_hosts: Vec<PathBuf>,
}

impl SshConfig {
    /// Returns the name ssh looks the host up under in `known_hosts`: `host`, or
    /// `[host]:port` for a port other than 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// Parses the output of `ssh -G`, expanding a leading `~` (and `%d`) with `home`.
///
/// Identity files holding other `%` tokens are left out: expanding them needs more than the
/// doctor knows.
pub fn parse_ssh_g(text: &str, home: &Path) -> SshConfig {
    let expand = |word: &str| -> Option<PathBuf> {
        let word = word.replace("%d", &home.display().to_string()).replace("%%", "\u{1}");
        if word.contains('%') {
            return None;
        }
        let word = word.replace('\u{1}', "%");
        Some(match word.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None if word == "~" => home.to_path_buf(),
            None => PathBuf::from(word),
        })
    };
    let mut config = SshConfig { port: 22, ..SshConfig::default() };
    let mut hostname = None;
    let mut alias = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        match key {
            "hostname" => hostname = Some(value.to_string()),
            "hostkeyalias" => alias = Some(value.to_string()),
            "port" => config.port = value.parse().unwrap_or(22),
            "identityfile" => config.identity_files.extend(expand(value)),
            "userknownhostsfile" | "globalknownhostsfile" => config
                .known_hosts
                .extend(value.split_whitespace().filter(|f| *f != "none").filter_map(expand)),
            _ => {}
        }
    }
    config.host = alias.or(hostname).unwrap_or_default();
    config
}

/// Returns the options of the ssh command git uses (`GIT_SSH_COMMAND`, else the folder's
/// `core.sshCommand`) that change what `ssh -G` prints: `-i`, `-o`, `-F`, `-p`, `-l`.
///
/// Only a plain `ssh ...` without quotes or shell syntax is understood; anything else yields
/// no options (the doctor then checks ssh's defaults).
fn ssh_options(folder: &Path) -> Vec<String> {
    let command = std::env::var("GIT_SSH_COMMAND")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| crate::git::config_value(folder, "core.sshCommand"));
    command.map(|c| parse_ssh_command(&c)).unwrap_or_default()
}

/// ssh's options that take a value (`ssh(1)`), so a value is never mistaken for the host.
const SSH_VALUE_FLAGS: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// Returns the `-i`, `-o`, `-F`, `-p`, `-l` options (with their values) of a plain
/// `ssh ...` command line, or none when it is not one (quotes, shell syntax, another program).
pub fn parse_ssh_command(command: &str) -> Vec<String> {
    if command.contains(|c: char| "'\"\\$`;|&<>(){}".contains(c)) {
        return Vec::new();
    }
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or_default();
    if Path::new(program).file_name().is_none_or(|n| n != "ssh") {
        return Vec::new();
    }
    let mut options = Vec::new();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix('-') else { break };
        let Some(letter) = flag.chars().next() else { break };
        if !SSH_VALUE_FLAGS.contains(letter) {
            continue; // a switch such as -v or -T
        }
        let value = if flag.len() > 1 {
            Some(flag[1..].to_string())
        } else {
            words.next().map(str::to_string)
        };
        if let Some(value) = value.filter(|_| "ioFpl".contains(letter)) {
            options.push(format!("-{letter}"));
            options.push(value);
        }
    }
    options
}

/// Runs `program args` with stdin closed and output captured, killing it after
/// [`SSH_TIMEOUT`]. Returns why it did not finish.
fn run_quick<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Result<Output, String> {
    let child = Command::new(program)
        .args(args)
        .env("SSH_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(SSH_TIMEOUT) {
        Ok(out) => out.map_err(|e| format!("{program} failed: {e}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            Err(format!("{program} did not finish within {}s", SSH_TIMEOUT.as_secs()))
        }
    }
}

/// Returns the home directory ssh expands `~` to: the passwd entry's, not `$HOME`.
fn ssh_home() -> PathBuf {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .unwrap_or_default()
}

/// Asks `ssh -G` what ssh would use for `target`; falls back to ssh's defaults when it cannot.
fn ssh_config(target: &SshTarget, options: &[String]) -> SshConfig {
    let mut args: Vec<String> = vec!["-G".into(), "-o".into(), "BatchMode=yes".into()];
    args.extend(options.iter().cloned());
    if let Some(port) = target.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &target.user {
        args.extend(["-l".into(), user.clone()]);
    }
    // `--` keeps a host that starts with `-` from being read as an option.
    args.extend(["--".into(), target.host.clone()]);
    let home = ssh_home();
    match run_quick("ssh", &args) {
        Ok(out) if out.status.success() => {
            parse_ssh_g(&String::from_utf8_lossy(&out.stdout), &home)
        }
        _ => {
            let defaults: String =
                ["id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"]
                    .iter()
                    .map(|k| format!("identityfile ~/.ssh/{k}\n"))
                    .collect();
            parse_ssh_g(
                &format!(
                    "hostname {}\nport {}\n{defaults}userknownhostsfile ~/.ssh/known_hosts \
                     ~/.ssh/known_hosts2\nglobalknownhostsfile /etc/ssh/ssh_known_hosts\n",
                    target.host,
                    target.port.unwrap_or(22)
                ),
                &home,
            )
        }
    }
}

/// Checks the SSH agent; returns the finding and how many keys the agent holds.
fn check_agent() -> (Finding, usize) {
    if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) {
        let finding = Finding::new(
            "ssh_agent",
            Level::Warning,
            "no SSH agent is visible (SSH_AUTH_SOCK is not set)".into(),
            "Start an agent and add your key (`ssh-add`), or use a key without a passphrase \
             configured in ~/.ssh/config for this host.",
        );
        return (finding, 0);
    }
    match run_quick("ssh-add", &["-l"]) {
        Ok(o) if o.status.success() => {
            let keys = String::from_utf8_lossy(&o.stdout).lines().count();
            let message = format!("SSH agent holds {keys} key(s)");
            (Finding::new("ssh_agent", Level::Ok, message, ""), keys)
        }
        Ok(_) => {
            let finding = Finding::new(
                "ssh_agent",
                Level::Warning,
                "the SSH agent holds no key".into(),
                "Add your key to the agent: `ssh-add ~/.ssh/id_ed25519`.",
            );
            (finding, 0)
        }
        Err(e) => {
            let message = format!("cannot ask the SSH agent for its keys: {e}");
            (Finding::new("ssh_agent", Level::Warning, message, "Install the OpenSSH client."), 0)
        }
    }
}

/// What is wrong with a private key file, as ssh would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Group or others may read it; ssh ignores such a key ("UNPROTECTED PRIVATE KEY FILE").
    TooOpen(u32),
    /// ssh cannot parse it (`ssh-keygen` says why, e.g. "invalid format").
    Unreadable(String),
    /// It needs a passphrase, so only the agent can use it.
    Passphrase,
}

/// Classifies `ssh-keygen -y -P '' -f KEY`'s stderr after a failure.
pub fn classify_keygen_error(stderr: &str) -> KeyProblem {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("incorrect passphrase") || lower.contains("passphrase is required") {
        return KeyProblem::Passphrase;
    }
    if let Some(mode) = lower.lines().find_map(|l| {
        let rest = l.strip_prefix("permissions ")?;
        u32::from_str_radix(rest.split_whitespace().next()?, 8).ok()
    }) {
        return KeyProblem::TooOpen(mode);
    }
    // `Load key "KEY": invalid format` names the file we already name: keep the reason only.
    let reason = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.rsplit_once("\": ").map_or(l, |(_, r)| r))
        .unwrap_or("ssh-keygen cannot read it");
    KeyProblem::Unreadable(reason.to_string())
}

/// Returns what keeps ssh from using the private key at `key`, if anything.
fn key_problem(key: &Path) -> Option<KeyProblem> {
    // ssh's own rule (sshkey_perm_ok): a key of ours that group or others can access is ignored.
    let meta = std::fs::metadata(key).ok()?;
    let mode = meta.mode() & 0o777;
    if meta.uid() == nix::unistd::getuid().as_raw() && mode & 0o077 != 0 {
        return Some(KeyProblem::TooOpen(mode));
    }
    let args: [&std::ffi::OsStr; 5] =
        ["-y".as_ref(), "-P".as_ref(), "".as_ref(), "-f".as_ref(), key.as_os_str()];
    match run_quick("ssh-keygen", &args) {
        Ok(out) if out.status.success() => None, // stdout (the public key) is dropped unread
        Ok(out) => Some(classify_keygen_error(&String::from_utf8_lossy(&out.stderr))),
        Err(e) => Some(KeyProblem::Unreadable(e)),
    }
}

/// Checks the identity files ssh would offer for the remote.
fn check_keys(config: &SshConfig, agent_keys: usize) -> Vec<Finding> {
    let existing: Vec<&PathBuf> = config.identity_files.iter().filter(|k| k.is_file()).collect();
    if existing.is_empty() {
        let tried = config
            .identity_files
            .iter()
            .map(|k| k.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return vec![if agent_keys > 0 {
            Finding::new(
                "ssh_key",
                Level::Ok,
                format!("no key file ({tried}); the agent's keys are offered"),
                "",
            )
        } else {
            Finding::new(
                "ssh_key",
                Level::Warning,
                format!("no SSH key: none of {tried} exists and no agent holds a key"),
                "Create a key (`ssh-keygen -t ed25519`) and add its .pub to the server, or name \
                 your key with `IdentityFile` in ~/.ssh/config for this host.",
            )
        }];
    }
    let mut findings = Vec::new();
    let mut usable = Vec::new();
    for key in existing {
        let shown = key.display();
        match key_problem(key) {
            None => usable.push(shown.to_string()),
            Some(KeyProblem::Passphrase) if agent_keys > 0 => {
                usable.push(format!("{shown} (passphrase; via the agent)"))
            }
            Some(KeyProblem::Passphrase) => findings.push(Finding::new(
                "ssh_key",
                Level::Warning,
                format!("{shown} needs a passphrase and no agent holds a key"),
                "Add it to an agent (`ssh-add KEY`): the engine never prompts.",
            )),
            Some(KeyProblem::TooOpen(mode)) => findings.push(Finding {
                check: "ssh_key".into(),
                level: Level::Error,
                message: format!(
                    "{shown} is readable by others (mode {mode:04o}); ssh ignores it as an \
                     UNPROTECTED PRIVATE KEY FILE"
                ),
                fix: format!("Restrict it to yourself: `chmod 600 {shown}`."),
            }),
            Some(KeyProblem::Unreadable(reason)) => findings.push(Finding {
                check: "ssh_key".into(),
                level: Level::Error,
                message: format!("ssh cannot read the private key {shown}: {reason}"),
                fix: format!(
                    "Restore {shown} from a backup, or replace it: `ssh-keygen -t ed25519 -f \
                     {shown}`, then add the new .pub to the server."
                ),
            }),
        }
    }
    if !usable.is_empty() {
        findings.push(Finding::new(
            "ssh_key",
            Level::Ok,
            format!("usable key(s): {}", usable.join(", ")),
            "",
        ));
    }
    findings
}

fn check_known_host(config: &SshConfig) -> Finding {
    let name = config.known_hosts_name();
    let files: Vec<&PathBuf> = config.known_hosts.iter().filter(|f| f.is_file()).collect();
    for file in &files {
        let args: [&std::ffi::OsStr; 4] =
            ["-F".as_ref(), name.as_ref(), "-f".as_ref(), file.as_os_str()];
        match run_quick("ssh-keygen", &args) {
            Ok(o) if o.status.success() && !o.stdout.is_empty() => {
                let message = format!("{name} is in {}", file.display());
                return Finding::new("host_key", Level::Ok, message, "");
            }
            Ok(_) => {}
            Err(e) => {
                let message = format!("cannot check known_hosts: {e}");
                return Finding::new("host_key", Level::Warning, message, "");
            }
        }
    }
    let searched =
        config.known_hosts.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
    let connect = if config.port == 22 {
        format!("ssh -T {}", config.host)
    } else {
        format!("ssh -T -p {} {}", config.port, config.host)
    };
    Finding {
        check: "host_key".into(),
        level: Level::Error,
        message: format!(
            "{name} is not in known_hosts ({searched}); the engine never accepts a key blindly"
        ),
        fix: format!(
            "Connect once by hand (`{connect}`), check the fingerprint the host publishes, \
             and accept it."
        ),
    }
}

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

fn check_inotify(folder: &Path) -> Finding {
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

    #[test]
    fn ssh_g_output_gives_the_known_hosts_name_keys_and_files() {
        let home = Path::new("/home/me");
        let text = "user git\nhostname 127.0.0.1\nport 2222\n\
                    identityfile ~/.ssh/id_ed25519\nidentityfile %d/.ssh/work\n\
                    identityfile ~/.ssh/id_%r\nidentityfile /keys/deploy\n\
                    globalknownhostsfile /etc/ssh/ssh_known_hosts\n\
                    userknownhostsfile ~/.ssh/known_hosts /tmp/kh2\n";
        let config = parse_ssh_g(text, home);
        assert_eq!(
            config.known_hosts_name(),
            "[127.0.0.1]:2222",
            "a non-default port is bracketed"
        );
        assert_eq!(
            config.identity_files,
            [
                PathBuf::from("/home/me/.ssh/id_ed25519"),
                PathBuf::from("/home/me/.ssh/work"),
                PathBuf::from("/keys/deploy"),
            ],
            "~ and %d expanded; a key with other % tokens is left out"
        );
        assert_eq!(
            config.known_hosts,
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/home/me/.ssh/known_hosts"),
                PathBuf::from("/tmp/kh2"),
            ]
        );
        let aliased = parse_ssh_g("hostname 10.0.0.1\nport 22\nhostkeyalias gitbox\n", home);
        assert_eq!(
            aliased.known_hosts_name(),
            "gitbox",
            "HostKeyAlias names the key; port 22 bare"
        );
    }

    #[test]
    fn only_a_plain_ssh_command_gives_options() {
        assert_eq!(
            parse_ssh_command("ssh -i /k/deploy -J jump -o UserKnownHostsFile=/k/kh -v -p2200"),
            ["-i", "/k/deploy", "-o", "UserKnownHostsFile=/k/kh", "-p", "2200"]
        );
        assert!(parse_ssh_command("ssh -i \"/my keys/k\"").is_empty(), "quotes: not simple");
        assert!(parse_ssh_command("plink -i k").is_empty(), "another program");
        assert!(parse_ssh_command("ssh $OPTS").is_empty(), "shell syntax");
    }

    #[test]
    fn keygen_failures_are_told_apart() {
        assert_eq!(
            classify_keygen_error(
                "Load key \"/k\": incorrect passphrase supplied to decrypt private key"
            ),
            KeyProblem::Passphrase
        );
        assert_eq!(
            classify_keygen_error("Load key \"/k\": invalid format\n"),
            KeyProblem::Unreadable("invalid format".into())
        );
        assert_eq!(
            classify_keygen_error("Load key \"/k\": error in libcrypto"),
            KeyProblem::Unreadable("error in libcrypto".into())
        );
        let open = "@@@\n@ WARNING: UNPROTECTED PRIVATE KEY FILE! @\n@@@\n\
                    Permissions 0644 for '/k' are too open.\nLoad key \"/k\": bad permissions";
        assert_eq!(classify_keygen_error(open), KeyProblem::TooOpen(0o644));
    }

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
