//! Guardrails before commit: a file that looks like a secret (a private key, a cloud or
//! service token) is held back — not committed, not pushed, listed in the folder's quarantine —
//! until the user releases it (`supersonic quarantine release`, kept per device in
//! `.git/supersonic-released`) or ignores it (a `.syncignore` rule). A pushed secret cannot be
//! taken back from every clone, so the check errs on the side of asking.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use regex::bytes::RegexSet;

use crate::{Error, Result};

/// Where the released paths of a folder are kept (inside `.git`: per device, never synced).
pub const RELEASED_FILE: &str = "supersonic-released";

/// How much of a file is scanned (keys and tokens sit near the top of the files holding them).
pub const SCAN_BYTES: u64 = 1024 * 1024;

/// File names that are private keys whatever they hold.
const KEY_NAMES: &[&str] =
    &["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"];

/// What each pattern of [`patterns`] finds, in the same order.
const KINDS: &[&str] = &[
    "a private key",
    "a PuTTY private key",
    "a GitHub token",
    "a GitHub fine-grained token",
    "an AWS access key id",
    "a Slack token",
    "a Stripe secret key",
    "a GitLab token",
    "a Google API key",
    "an OpenAI API key",
];

fn patterns() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| {
        RegexSet::new([
            r"-----BEGIN (RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----",
            r"PuTTY-User-Key-File-[23]:",
            r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
            r"\bgithub_pat_[A-Za-z0-9_]{82}\b",
            r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
            r"\b(sk|rk)_live_[0-9A-Za-z]{24,}",
            r"\bglpat-[A-Za-z0-9_-]{20,}",
            r"\bAIza[0-9A-Za-z_-]{35}\b",
            r"\bsk-(proj-)?[A-Za-z0-9_-]{40,}",
        ])
        .expect("the secret patterns compile")
    })
}

/// Returns why `rel` (at `full`) must be held back, or `None` when it may be committed.
pub fn check(rel: &Path, full: &Path) -> Option<String> {
    key_name(rel).or_else(|| {
        let mut head = Vec::new();
        let file = std::fs::File::open(full).ok()?;
        file.take(SCAN_BYTES).read_to_end(&mut head).ok()?;
        scan(&head)
    })
}

/// [`check`] on content already read: `head` is the file's first [`SCAN_BYTES`] (or all of it).
pub fn check_content(rel: &Path, head: &[u8]) -> Option<String> {
    key_name(rel).or_else(|| scan(head))
}

fn key_name(rel: &Path) -> Option<String> {
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    KEY_NAMES.contains(&name.as_str()).then(|| format!("{name} is named like an SSH private key"))
}

fn scan(head: &[u8]) -> Option<String> {
    let found = patterns().matches(head);
    found.iter().next().map(|i| format!("it looks like it holds {}", KINDS[i]))
}

/// The paths the user released in this folder (committed even though they look like secrets).
pub fn released(git_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(git_dir.join(RELEASED_FILE))
        .map(|text| text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Releases `rel` in the folder whose `.git` is `git_dir`: it is committed from now on.
pub fn release(git_dir: &Path, rel: &str) -> Result<()> {
    let mut all = released(git_dir);
    all.insert(rel.to_string());
    let text: String = all.iter().map(|p| format!("{p}\n")).collect();
    crate::paths::write_atomic(&git_dir.join(RELEASED_FILE), text.as_bytes())
        .map_err(|e| Error::Invalid(format!("cannot record the release of {rel}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(name: &str, content: &str) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join(name);
        std::fs::write(&full, content).unwrap();
        check(Path::new(name), &full)
    }

    #[test]
    fn keys_and_tokens_are_held_and_ordinary_text_is_not() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
        assert_eq!(held("deploy.key", key).unwrap(), "it looks like it holds a private key");
        assert!(held("id_ed25519", "anything").unwrap().contains("SSH private key"));
        let gh = format!("token: ghp_{}\n", "a1B2".repeat(9));
        assert_eq!(held("config.yml", &gh).unwrap(), "it looks like it holds a GitHub token");
        assert!(held("aws.ini", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n").is_some());
        assert!(held("notes.md", "# Shopping\n- milk\n- ghp_ too short\n").is_none());
        assert!(held("id_ed25519.pub", "ssh-ed25519 AAAAC3Nza me@host\n").is_none());
        assert!(held("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n").is_none());
    }

    #[test]
    fn releases_are_kept_per_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(released(dir.path()).is_empty());
        release(dir.path(), "keys/deploy.key").unwrap();
        release(dir.path(), "a b.txt").unwrap();
        let all = released(dir.path());
        assert!(all.contains("keys/deploy.key") && all.contains("a b.txt"));
    }
}
