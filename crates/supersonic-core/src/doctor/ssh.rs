//! The SSH checks: what `ssh -G` says ssh would use (identity files, host, port, known-hosts
//! files), the agent's keys, the keys' health by `ssh-keygen`'s verdict, and the host in
//! `known_hosts`. Helpers run without a shell, stdin closed, under [`SSH_TIMEOUT`].

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::remote::SshTarget;

use super::{Finding, Level, SSH_TIMEOUT};

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
pub(super) fn ssh_options(folder: &Path) -> Vec<String> {
    let command = std::env::var("GIT_SSH_COMMAND")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| crate::git::config_value(folder, "core.sshCommand"));
    command.map(|c| parse_ssh_command(&c)).unwrap_or_default()
}

/// ssh's options that take a value (`ssh(1)`), so a value is never mistaken for the host.
pub(super) const SSH_VALUE_FLAGS: &str = "BbcDEeFIiJLlmOoPpQRSWw";

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
pub(super) fn run_quick<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
) -> Result<Output, String> {
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
pub(super) fn ssh_home() -> PathBuf {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .unwrap_or_default()
}

/// Asks `ssh -G` what ssh would use for `target`; falls back to ssh's defaults when it cannot.
pub(super) fn ssh_config(target: &SshTarget, options: &[String]) -> SshConfig {
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
pub(super) fn check_agent() -> (Finding, usize) {
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
pub(super) fn key_problem(key: &Path) -> Option<KeyProblem> {
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
pub(super) fn check_keys(config: &SshConfig, agent_keys: usize) -> Vec<Finding> {
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

pub(super) fn check_known_host(config: &SshConfig) -> Finding {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
