//! Runs the external programs a user configures for the engine: commit signing programs
//! (`ssh-keygen`, `gpg`) and conflict merge drivers.
//!
//! A program is run directly from its argv (never through a shell, so nothing in a path or a
//! file name is ever interpreted), in its own process group, with a deadline: when the deadline
//! passes the whole group is killed with SIGKILL, so a program that hangs (waiting for a
//! passphrase, looping) can never stall the folder worker. Input is written and output read on
//! their own threads, so a program that fills a pipe cannot deadlock against the engine.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a running program is checked for exit: short against the deadlines used here
/// (seconds), cheap enough (one `waitpid`) to not matter.
const POLL: Duration = Duration::from_millis(10);

/// What a program that ran to its end produced.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// Returns the first non-empty line of stderr (for messages; gpg's `[GNUPG:]` status lines
    /// are machine talk and skipped), or a description of the exit.
    pub fn reason(&self) -> String {
        String::from_utf8_lossy(&self.stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("[GNUPG:]"))
            .map(str::to_string)
            .unwrap_or_else(|| match self.status.code() {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".to_string(),
            })
    }
}

/// Why a program did not run to its end.
#[derive(Debug)]
pub enum Failure {
    /// It could not be started (not found, not executable).
    Spawn(std::io::Error),
    /// It passed its deadline and was killed with its process group.
    TimedOut,
}

/// Runs `cmd` with `stdin` as its standard input (or none), killing it and its process group
/// when `timeout` passes.
pub fn run(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> std::result::Result<Finished, Failure> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(Failure::Spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program that exits without reading its input closes the pipe: ignore that error.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let (out_tx, out_rx) = crossbeam_channel::bounded(1);
    let (err_tx, err_rx) = crossbeam_channel::bounded(1);
    for (pipe, tx) in [
        (child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>), out_tx),
        (child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>), err_tx),
    ] {
        let Some(mut pipe) = pipe else { continue };
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(Failure::TimedOut);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                kill_group(&mut child);
                return Err(Failure::Spawn(e));
            }
        }
    };
    // A helper the program left running may keep the pipes open: wait for the output only
    // until the deadline (at least a moment), then go on with what arrived.
    let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let stdout = out_rx.recv_timeout(remaining).unwrap_or_default();
    let stderr = err_rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    Ok(Finished { status, stdout, stderr })
}

fn kill_group(child: &mut std::process::Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_reaches_the_program_and_its_output_comes_back() {
        let done = run(Command::new("cat"), Some(b"hello\n".to_vec()), Duration::from_secs(10))
            .expect("cat runs");
        assert!(done.status.success());
        assert_eq!(done.stdout, b"hello\n");
    }

    #[test]
    fn a_program_past_its_deadline_is_killed() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let result = run(cmd, None, Duration::from_millis(200));
        assert!(matches!(result, Err(Failure::TimedOut)), "{result:?}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_failure() {
        let result = run(Command::new("/nonexistent/supersonic-x"), None, Duration::from_secs(1));
        assert!(matches!(result, Err(Failure::Spawn(_))), "{result:?}");
    }
}
