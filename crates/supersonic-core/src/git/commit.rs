//! The one commit writer ([`GitRepo::write_commit`], signing when asked) and the message and
//! trailers every sync commit carries.

use chrono::{DateTime, TimeZone, Utc};
use git2::{Oid, Signature};

use crate::{Error, Result};

use super::{GitRepo, Identity, MESSAGE_MAX_PATHS};

impl GitRepo {
    /// Writes a commit of `tree` on `parents` by `identity`, signed when the repository's
    /// effective git config asks for it (`commit.gpgsign`, or the folder's `git.sign`; see
    /// [`crate::signing`]), and returns it. With `move_branch`, the branch then moves to it,
    /// but only from its first parent (or from nothing, for the first commit): a branch moved
    /// meanwhile is [`Error::Busy`].
    ///
    /// Signing fails closed: when it is asked for and fails, no commit is written at all.
    pub(super) fn write_commit(
        &self,
        identity: &Identity,
        move_branch: bool,
        message: &str,
        tree: &git2::Tree<'_>,
        parents: &[&git2::Commit<'_>],
        context: &str,
    ) -> Result<Oid> {
        let busy = |e: git2::Error| match e.code() {
            git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::Exists => {
                Error::Busy(format!("the branch moved while committing: {}", e.message()))
            }
            _ => Error::git(context)(e),
        };
        let branch = self.branch_ref();
        let sig = &self.signature(identity)?;
        let Some(signer) = self.signer(identity.sign)? else {
            let update = move_branch.then_some(branch.as_str());
            return self.repo.commit(update, sig, sig, message, tree, parents).map_err(busy);
        };
        let buffer = self
            .repo
            .commit_create_buffer(sig, sig, message, tree, parents)
            .map_err(Error::git(context))?;
        let buffer = buffer.as_str().ok_or_else(|| {
            Error::Invalid(format!("{context}: the commit is not UTF-8 and cannot be signed"))
        })?;
        let committer =
            format!("{} <{}>", sig.name().unwrap_or_default(), sig.email().unwrap_or_default());
        let signature = signer.sign(buffer, &committer, &self.workdir)?;
        let oid = self.repo.commit_signed(buffer, &signature, None).map_err(Error::git(context))?;
        if move_branch {
            let summary = message.lines().next().unwrap_or_default();
            let moved = match parents.first() {
                Some(parent) => self.repo.reference_matching(
                    &branch,
                    oid,
                    true,
                    parent.id(),
                    &format!("commit: {summary}"),
                ),
                None => self.repo.reference(
                    &branch,
                    oid,
                    false,
                    &format!("commit (initial): {summary}"),
                ),
            };
            moved.map_err(busy)?;
            if self.repo.head().is_err() {
                self.repo.set_head(&branch).map_err(Error::git("set HEAD"))?;
            }
        }
        Ok(oid)
    }

    /// Returns how commits are to be signed, read from the repository's effective git config
    /// (system, global, local: what `git commit` would use) at the moment of committing, so a
    /// fixed config applies to the next commit without a restart. `sign` (the folder's
    /// `git.sign`) turns `commit.gpgsign` on.
    pub(super) fn signer(&self, sign: bool) -> Result<Option<crate::signing::Signer>> {
        let mut config = self.repo.config().map_err(Error::git("read the git config"))?;
        let config = config.snapshot().map_err(Error::git("read the git config"))?;
        let get = |key: &str| match (key, sign) {
            ("commit.gpgsign", true) => Some("true".to_string()),
            _ => config.get_string(key).ok(),
        };
        crate::signing::Signer::from_config(get, &self.workdir)
    }

    pub(super) fn signature(&self, identity: &Identity) -> Result<Signature<'static>> {
        let config = self.repo.config().ok();
        let get = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
        let name = identity
            .user
            .clone()
            .or_else(|| get("user.name"))
            .unwrap_or_else(|| identity.device.name.clone());
        let email = identity
            .email
            .clone()
            .or_else(|| get("user.email"))
            .unwrap_or_else(|| format!("{}@supersonic-sync.invalid", identity.device.id));
        Signature::now(&name, &email).map_err(Error::git("make signature"))
    }
}

pub(super) fn commit_time(c: &git2::Commit) -> DateTime<Utc> {
    Utc.timestamp_opt(c.time().seconds(), 0).single().unwrap_or_else(Utc::now)
}

/// Returns the device named in a commit's `Sync-Device:` trailer, else its author's name.
pub fn commit_device(c: &git2::Commit) -> String {
    c.message()
        .and_then(|m| m.lines().rev().find_map(|l| l.strip_prefix("Sync-Device: ")))
        .map(|d| d.trim().to_string())
        .or_else(|| c.author().name().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

pub(super) fn trailers(identity: &Identity) -> String {
    format!("\nSync-Device: {}\nSync-Device-Id: {}\n", identity.device.name, identity.device.id)
}

/// Returns `path` as one line of a commit message: as it is, or when it holds a control
/// character (a newline could forge a trailer line), C-quoted the way git quotes it.
pub(super) fn quote_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return path.into();
    }
    let mut out = String::from("\"");
    for c in path.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out.into()
}

pub(super) fn commit_message(changes: &[(char, String)], identity: &Identity) -> String {
    let n = changes.len();
    let mut msg = format!(
        "sync: {n} file{} changed on {}\n\n",
        if n == 1 { "" } else { "s" },
        identity.device.name
    );
    for (status, path) in changes.iter().take(MESSAGE_MAX_PATHS) {
        msg.push_str(&format!("{status} {}\n", quote_path(path)));
    }
    if n > MESSAGE_MAX_PATHS {
        msg.push_str(&format!("... and {} more\n", n - MESSAGE_MAX_PATHS));
    }
    msg.push_str(&trailers(identity));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_with_a_newline_cannot_forge_a_trailer() {
        let identity = Identity {
            device: crate::device::Device { id: "0123456789abcdef".into(), name: "pc".into() },
            user: None,
            email: None,
            sign: false,
        };
        let evil = "a\nSync-Device-Id: ffffffffffffffff".to_string();
        let msg = commit_message(&[('A', evil), ('M', "plain name.txt".into())], &identity);
        assert!(msg.contains("A \"a\\nSync-Device-Id: ffffffffffffffff\"\n"), "{msg}");
        assert!(msg.contains("M plain name.txt\n"), "{msg}");
        let ids: Vec<&str> = msg.lines().filter(|l| l.starts_with("Sync-Device-Id:")).collect();
        assert_eq!(ids, vec!["Sync-Device-Id: 0123456789abcdef"]);
        assert_eq!(quote_path("tab\there"), "\"tab\\there\"");
    }
}
