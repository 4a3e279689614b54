//! The git process runner: every network git call runs in its own process group with a
//! deadline, no prompts, the user's ssh command kept, progress parsed from stderr and the output
//! scrubbed of credentials.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Repository;

use crate::remote::scrub;
use crate::{Error, FailureClass, Result};

/// Output of a network git command.
#[derive(Debug)]
pub struct NetOutput {
    /// Whether git exited with 0.
    pub success: bool,
    /// stdout (scrubbed).
    pub stdout: String,
    /// stderr (scrubbed).
    pub stderr: String,
}

/// Receives a network operation's progress: phase (git's words, e.g. "Writing objects"), units
/// done and units in all when known. Called from a reader thread.
pub type ProgressFn = Box<dyn FnMut(&str, u64, Option<u64>) + Send>;

/// Runs a network git command with no prompts, in its own process group, killed with the group
/// when `timeout` passes.
pub fn run_network(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
) -> Result<NetOutput> {
    run_network_with_progress(op, remote, cwd, args, timeout, None)
}

/// [`run_network`], asking git for `--progress` and passing it to `progress` when given (the
/// progress lines are kept out of the returned stderr).
pub fn run_network_with_progress(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
    progress: Option<ProgressFn>,
) -> Result<NetOutput> {
    run_git(op, remote, cwd, args, timeout, RunOptions { progress, ..RunOptions::default() })
}

/// Options added to every ssh the engine's git runs: never prompt, give up on a dead host.
pub(super) const SSH_BATCH_OPTIONS: &str = "-o BatchMode=yes -o ConnectTimeout=30";

/// The ssh command git would use for the repository at `cwd` (`core.sshCommand` from its
/// config, or the global one when there is no repository yet), else plain `ssh`.
pub(super) fn user_ssh_command(cwd: Option<&Path>) -> String {
    let config = match cwd.and_then(|d| Repository::open(d).ok()) {
        Some(repo) => repo.config().ok(),
        None => git2::Config::open_default().ok(),
    };
    config
        .and_then(|c| c.get_string("core.sshCommand").ok())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "ssh".to_string())
}

/// How [`run_git`] runs git beyond its command line.
#[derive(Default)]
pub(super) struct RunOptions<'a> {
    /// Where git's `--progress` goes.
    pub(super) progress: Option<ProgressFn>,
    /// Under `nice -n 19` when `nice` is installed (plain git otherwise).
    pub(super) low_priority: bool,
    /// Work done while git runs (after it started, before waiting for it).
    pub(super) meanwhile: Option<&'a mut dyn FnMut()>,
}

/// Runs git as [`run_network_with_progress`] says, with `options`.
pub(super) fn run_git(
    op: &'static str,
    remote: &str,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
    options: RunOptions<'_>,
) -> Result<NetOutput> {
    use std::os::unix::process::CommandExt;
    let RunOptions { progress, low_priority, meanwhile } = options;
    let nice = low_priority.then(find_nice).flatten();
    let mut cmd = match &nice {
        Some(nice) => {
            let mut cmd = Command::new(nice);
            cmd.args(["-n", "19", "git"]);
            cmd
        }
        None => Command::new("git"),
    };
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut args = args.to_vec();
    if progress.is_some() {
        // After the subcommand: `git push --progress ...`.
        args.insert(1, "--progress");
    }
    cmd.args(&args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if std::env::var_os("GIT_SSH_COMMAND").is_none() && std::env::var_os("GIT_SSH").is_none() {
        // GIT_SSH_COMMAND outranks `core.sshCommand`: keep the user's command (a key named
        // with -i, a wrapper) and only add the options that keep ssh from prompting.
        cmd.env("GIT_SSH_COMMAND", format!("{} {SSH_BATCH_OPTIONS}", user_ssh_command(cwd)));
    }
    let mut child = cmd.spawn().map_err(|e| Error::Remote {
        op,
        remote: crate::remote::redact_url(remote),
        message: format!("cannot run git: {e}"),
        class: FailureClass::NeedsAttention,
    })?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (out_tx, out_rx) = crossbeam_channel::bounded(1);
    let (err_tx, err_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        let _ = out_tx.send(buf);
    });
    std::thread::spawn(move || {
        let buf = match progress {
            Some(mut progress) => read_progress(&mut stderr, &mut *progress),
            None => {
                let mut buf = Vec::new();
                let _ = stderr.read_to_end(&mut buf);
                buf
            }
        };
        let _ = err_tx.send(buf);
    });
    let deadline = Instant::now() + timeout;
    // A thread waits for the exit, so the caller learns of it at once (no polling).
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (exit_tx, exit_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    if let Some(work) = meanwhile {
        work();
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let status = match exit_rx.recv_timeout(remaining) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(Error::io("git", e)),
        Err(_) => {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = exit_rx.recv(); // reaped by the waiting thread
                                    // The reader threads end when every process of the group has exited.
            return Err(Error::Timeout {
                op,
                remote: crate::remote::redact_url(remote),
                secs: timeout.as_secs(),
            });
        }
    };
    // A helper that detached but kept our pipes open must not hang the worker: wait for the
    // output only until the deadline.
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let stdout = out_rx.recv_timeout(remaining).unwrap_or_default();
    let stderr = err_rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    Ok(NetOutput {
        success: status.success(),
        stdout: scrub(&String::from_utf8_lossy(&stdout)),
        stderr: scrub(&String::from_utf8_lossy(&stderr)),
    })
}

/// Returns the `nice` program from `PATH`, if installed.
pub(super) fn find_nice() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("nice"))
        .find(|p| p.is_file())
}

/// The phases git reports with `--progress` (sent and received, local and `remote:`).
pub(super) const PROGRESS_PHASES: &[&str] = &[
    "Enumerating objects",
    "Counting objects",
    "Compressing objects",
    "Writing objects",
    "Receiving objects",
    "Resolving deltas",
    "Unpacking objects",
    "Checking out files",
    "Updating files",
];

/// Reads git's stderr to its end, passing progress lines (ended by `\r` or `\n`) to `progress`
/// and returning the other lines.
pub(super) fn read_progress(
    stderr: &mut impl Read,
    progress: &mut dyn FnMut(&str, u64, Option<u64>),
) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut flush = |line: &mut Vec<u8>, end: u8, kept: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line);
        match parse_progress(&text) {
            Some((phase, done, total)) => progress(phase, done, total),
            None if !line.is_empty() => {
                kept.extend_from_slice(line);
                kept.push(if end == b'\r' { b'\n' } else { end });
            }
            None => {}
        }
        line.clear();
    };
    loop {
        let n = match stderr.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\r' || b == b'\n' {
                flush(&mut line, b, &mut kept);
            } else {
                line.push(b);
            }
        }
    }
    flush(&mut line, b'\n', &mut kept);
    kept
}

/// Parses one progress line of git, e.g. `Writing objects:  45% (9/20), 1.2 MiB | 3 MiB/s` or
/// `remote: Counting objects: 7, done.`, into (phase, done, total).
pub(super) fn parse_progress(line: &str) -> Option<(&str, u64, Option<u64>)> {
    let line = line.trim();
    let line = line.strip_prefix("remote:").map_or(line, str::trim_start);
    let (phase, rest) = line.split_once(':')?;
    if !PROGRESS_PHASES.contains(&phase) {
        return None;
    }
    if let Some(open) = rest.find('(') {
        let close = open + rest[open..].find(')')?;
        let (done, total) = rest[open + 1..close].split_once('/')?;
        return Some((phase, done.trim().parse().ok()?, Some(total.trim().parse().ok()?)));
    }
    let count = rest.split(',').next()?.trim();
    Some((phase, count.parse().ok()?, None))
}

/// Returns what `git --version` prints, or `None` when git is missing or fails.
pub fn installed_version() -> Option<String> {
    let out = Command::new("git").arg("--version").stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Returns the value git's own configuration gives `key` in `dir` (`git config --get`, every
/// scope git reads), or `None` when it is unset or git fails.
pub fn config_value(dir: &Path, key: &str) -> Option<String> {
    let out = Command::new("git")
        .args(["config", "--get", key])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_parsed_and_kept_out_of_the_error_text() {
        assert_eq!(
            parse_progress("Writing objects:  45% (9/20), 1.20 MiB | 3.00 MiB/s"),
            Some(("Writing objects", 9, Some(20)))
        );
        assert_eq!(
            parse_progress("remote: Counting objects: 7, done."),
            Some(("Counting objects", 7, None))
        );
        assert_eq!(parse_progress("fatal: unable to access 'x': 403"), None);
        assert_eq!(parse_progress("error: failed to push some refs to 'x'"), None);
        let stderr = b"Enumerating objects: 3, done.\rCounting objects:  33% (1/3)\rCounting \
                       objects: 100% (3/3), done.\nfatal: the remote hung up\n";
        let mut seen = Vec::new();
        let kept = read_progress(&mut &stderr[..], &mut |p, d, t| seen.push((p.to_string(), d, t)));
        assert_eq!(String::from_utf8(kept).unwrap(), "fatal: the remote hung up\n");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2], ("Counting objects".to_string(), 3, Some(3)));
    }
}
