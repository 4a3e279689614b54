//! Fetch, push and remote checks through the system `git`, and the classification of their
//! failures (transient or needs-attention, with ssh's reason when git hides it).

use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::Oid;

use crate::{Error, FailureClass, Result};

use super::commit::commit_time;
use super::process::{run_git, run_network, run_network_with_progress, ProgressFn, RunOptions};
use super::{GitRepo, PushOutcome, DEVICE_REFS, REMOTE, REMOTE_DEVICE_REFS};

impl GitRepo {
    /// Fetches the synced branch from the remote within `timeout`. Returns false when the remote
    /// does not have the branch yet (an empty remote).
    pub fn fetch(&self, timeout: Duration) -> Result<bool> {
        self.fetch_with_progress(timeout, None)
    }

    /// [`GitRepo::fetch`], reporting the transfer to `progress`.
    pub fn fetch_with_progress(
        &self,
        timeout: Duration,
        progress: Option<ProgressFn>,
    ) -> Result<bool> {
        let refspec = format!("+{}:{}", self.branch_ref(), self.remote_ref());
        // The devices' last-sync records come along (a glob matching nothing is no error).
        let devices = format!("+{DEVICE_REFS}*:{REMOTE_DEVICE_REFS}*");
        let out = run_network_with_progress(
            "fetch",
            &self.remote_url,
            Some(&self.workdir),
            &["fetch", "--no-tags", "--no-write-fetch-head", REMOTE, &refspec, &devices],
            timeout,
            progress,
        )?;
        if out.success {
            return Ok(true);
        }
        if out.stderr.contains("couldn't find remote ref") {
            // The remote exists but has no such branch (yet): drop a stale tracking ref.
            if let Ok(mut r) = self.repo.find_reference(&self.remote_ref()) {
                let _ = r.delete();
            }
            return Ok(false);
        }
        Err(remote_error("fetch", &self.remote_url, &out.stderr))
    }

    /// Pushes the synced branch within `timeout` (never forced).
    pub fn push(&self, timeout: Duration) -> Result<PushOutcome> {
        self.push_with_progress(timeout, None)
    }

    /// [`GitRepo::push`], reporting the transfer to `progress`.
    pub fn push_with_progress(
        &self,
        timeout: Duration,
        progress: Option<ProgressFn>,
    ) -> Result<PushOutcome> {
        let refspec = format!("{}:{}", self.branch_ref(), self.branch_ref());
        // An index a snapshot left unwritten is written while git pushes.
        let mut flushed = Ok(());
        let mut flush = || flushed = self.flush_index();
        let pushed = run_git(
            "push",
            &self.remote_url,
            Some(&self.workdir),
            &["push", "--porcelain", REMOTE, &refspec],
            timeout,
            RunOptions { progress, low_priority: false, meanwhile: Some(&mut flush) },
        );
        flushed?;
        let out = pushed?;
        if out.success {
            // Keep the tracking ref in step even if the remote's fetch refspec is unusual.
            if let Some(head) = self.head()? {
                self.repo
                    .reference(&self.remote_ref(), head, true, "supersonic: push")
                    .map_err(Error::git("update tracking ref"))?;
            }
            return Ok(PushOutcome::Pushed);
        }
        // Porcelain: "!\t<from>:<to>\t[rejected] (fetch first)". Someone else pushed first, or
        // pushed at the same instant (the remote's ref lock): fetch, integrate, push again.
        let refused: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('!')).collect();
        let remote_moved = |l: &&str| {
            ["(fetch first)", "(non-fast-forward)", "failed to update ref", "cannot lock ref"]
                .iter()
                .any(|p| l.contains(p))
        };
        if !refused.is_empty() && refused.iter().all(remote_moved) {
            return Ok(PushOutcome::Rejected);
        }
        if let Some(line) = refused.first() {
            // Refused for another reason (a hook, a protected branch): the user must act.
            let reason = line.rsplit('\t').next().unwrap_or(line);
            return Err(Error::Remote {
                op: "push",
                remote: crate::remote::redact_url(&self.remote_url),
                message: format!("the remote refused the push: {reason}"),
                class: FailureClass::NeedsAttention,
            });
        }
        Err(remote_error("push", &self.remote_url, &format!("{}\n{}", out.stderr, out.stdout)))
    }

    /// Returns (unpushed commits, commits on the remote not yet integrated).
    pub fn ahead_behind(&self) -> Result<(usize, usize)> {
        match (self.head()?, self.remote_head()?) {
            (None, None) => Ok((0, 0)),
            (Some(local), Some(remote)) => {
                self.repo.graph_ahead_behind(local, remote).map_err(Error::git("ahead/behind"))
            }
            (Some(local), None) => Ok((self.count_commits(local)?, 0)),
            (None, Some(remote)) => Ok((0, self.count_commits(remote)?)),
        }
    }

    pub(super) fn count_commits(&self, tip: Oid) -> Result<usize> {
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(tip).map_err(Error::git("revwalk"))?;
        // A revwalk that fails (an object gone: the folder deleted under us) keeps failing on
        // every call: stop at the first error, never count errors forever.
        let mut n = 0;
        for step in walk {
            step.map_err(Error::git("walk history"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Returns the time of the oldest commit not on the remote yet, if any.
    pub fn oldest_unpushed(&self) -> Result<Option<DateTime<Utc>>> {
        let Some(head) = self.head()? else { return Ok(None) };
        let mut walk = self.repo.revwalk().map_err(Error::git("revwalk"))?;
        walk.push(head).map_err(Error::git("revwalk"))?;
        if let Some(remote) = self.remote_head()? {
            walk.hide(remote).map_err(Error::git("revwalk"))?;
        }
        let mut oldest = None;
        for oid in walk.map_while(std::result::Result::ok) {
            if let Ok(c) = self.repo.find_commit(oid) {
                let t = commit_time(&c);
                oldest = Some(oldest.map_or(t, |o: DateTime<Utc>| o.min(t)));
            }
        }
        Ok(oldest)
    }
}

/// Checks that `url` is a reachable git remote (`git ls-remote`), within `timeout`.
pub fn check_remote(url: &str, timeout: Duration) -> Result<()> {
    let out = run_network("ls-remote", url, None, &["ls-remote", "--heads", url], timeout)?;
    if out.success {
        Ok(())
    } else {
        Err(remote_error("ls-remote", url, &out.stderr))
    }
}

/// Builds the error for a failed network command, classifying it from git's stderr.
pub fn remote_error(op: &'static str, remote: &str, stderr: &str) -> Error {
    let lower = stderr.to_ascii_lowercase();
    let attention = [
        "authentication failed",
        "could not read username",
        "could not read password",
        "permission denied",
        "invalid username or password",
        "host key verification failed",
        "remote host identification has changed",
        "does not appear to be a git repository",
        "repository not found",
        "not found",
        "no space left on device",
        "unable to write",
        "corrupt",
        "returned error: 401",
        "returned error: 403",
        "rejected",
    ];
    let class = if attention.iter().any(|p| lower.contains(p)) {
        FailureClass::NeedsAttention
    } else {
        FailureClass::Transient
    };
    let git_line = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.contains("ERROR"))
        .or_else(|| stderr.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("git failed without a message")
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ");
    let over_ssh = crate::remote::ssh_host(remote).is_some();
    let message = match ssh_reason(stderr).filter(|_| over_ssh) {
        Some(reason) => format!("{reason} ({git_line})"),
        None => git_line.to_string(),
    };
    Error::Remote { op, remote: crate::remote::redact_url(remote), message, class }
}

/// What ssh said went wrong, when git's own last word ("Could not read from remote
/// repository.") hides it: a changed or unknown host key, a refused key, a host that cannot be
/// reached.
pub(super) fn ssh_reason(stderr: &str) -> Option<String> {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("remote host identification has changed") {
        let offending = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Offending") && l.contains("known_hosts"))
            .map(|l| format!("; {l}"))
            .unwrap_or_default();
        return Some(format!(
            "the server's host key has changed: ssh refused it (REMOTE HOST IDENTIFICATION HAS \
             CHANGED{offending}). Check the new key with the server's owner, then replace the old \
             line in known_hosts"
        ));
    }
    let phrases = [
        "host key verification failed",
        "permission denied",
        "could not resolve hostname",
        "connection refused",
        "connection timed out",
        "no route to host",
    ];
    stderr
        .lines()
        .map(|l| l.trim().trim_matches('@').trim())
        .find(|l| phrases.iter().any(|p| l.to_ascii_lowercase().contains(p)))
        .map(|l| format!("ssh: {}", l.trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_need_attention_and_network_failures_are_transient() {
        let auth = remote_error("fetch", "u", "fatal: Authentication failed for 'http://x/'");
        assert_eq!(auth.class(), FailureClass::NeedsAttention);
        let down = remote_error(
            "fetch",
            "u",
            "fatal: unable to connect to 127.0.0.1:\nConnection refused",
        );
        assert_eq!(down.class(), FailureClass::Transient);
        assert!(!down.to_string().contains("ssh:"), "not an ssh remote: {down}");
    }

    #[test]
    fn ssh_says_why_when_git_only_says_it_could_not_read_from_the_remote() {
        let changed = remote_error(
            "push",
            "ssh://git@host/r.git",
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             Offending ED25519 key in /home/u/.ssh/known_hosts:3\n\
             Host key verification failed.\n\
             fatal: Could not read from remote repository.\n",
        );
        assert_eq!(changed.class(), FailureClass::NeedsAttention);
        let text = changed.to_string();
        assert!(text.contains("host key has changed"), "{text}");
        assert!(text.contains("known_hosts:3"), "names the line to replace: {text}");
        let refused = remote_error(
            "fetch",
            "git@host:r.git",
            "git@host: Permission denied (publickey).\nfatal: Could not read from remote repository.",
        );
        assert_eq!(refused.class(), FailureClass::NeedsAttention);
        assert!(refused.to_string().contains("ssh: git@host: Permission denied (publickey)"));
    }
}
