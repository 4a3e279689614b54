//! Commit signing the way git does it, for repositories whose git config asks for it.
//!
//! When the effective git config of a folder's repository (system, global, local) sets
//! `commit.gpgsign = true`, every commit the engine writes — sync, merge and undo commits — is
//! signed like `git commit -S` would sign it: `gpg.format` picks OpenPGP (default), X.509 or
//! SSH, `user.signingkey` the key, and `gpg.program` / `gpg.<format>.program` the program. The
//! signature goes into the commit's `gpgsig` header, so `git verify-commit` and forges accept
//! it. The commit buffer is written to the program's stdin and the signature read from its
//! stdout; the program runs directly (no shell) with [`SIGNING_TIMEOUT`] as its deadline
//! ([`crate::program`]).
//!
//! Invariant: a folder that asks for signing never gets an unsigned commit. A missing key, an
//! unknown format, a program that fails, cannot start or hangs is an [`Error::Blocked`]: the
//! folder stops for the user with a message that names the problem and the fix, and since
//! nothing was committed, the changes stay in the working tree for the next sync.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::program::{self, Failure};
use crate::Error;

/// Deadline of one signing program run. Long, because gpg may show a pinentry dialog and wait
/// for the user's passphrase; bounded, because a program waiting for a terminal that no one
/// will ever see must not stall the folder forever.
pub const SIGNING_TIMEOUT: Duration = Duration::from_secs(60);

/// Which kind of signature git is configured for (`gpg.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenPGP through `gpg` (git's default).
    OpenPgp,
    /// X.509 through `gpgsm`.
    X509,
    /// SSH signatures through `ssh-keygen -Y sign`.
    Ssh,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::OpenPgp => "openpgp",
            Format::X509 => "x509",
            Format::Ssh => "ssh",
        }
    }
}

/// How commits of one repository are signed, as its git config says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The signature format.
    pub format: Format,
    /// The program run to sign (a name looked up in `PATH`, or a path).
    pub program: String,
    /// `user.signingkey`, when set.
    pub key: Option<String>,
}

impl Signer {
    /// Returns the signer that the git config read through `get` asks for, or None when commits
    /// are not to be signed. `get(key)` returns a config value (None when unset).
    pub fn from_config(
        get: impl Fn(&str) -> Option<String>,
        folder: &Path,
    ) -> crate::Result<Option<Signer>> {
        let Some(sign) = get("commit.gpgsign") else { return Ok(None) };
        if !parse_bool(&sign).ok_or_else(|| {
            blocked(
                folder,
                &format!("commit.gpgsign is `{sign}`, which is not a boolean"),
                "set it to true or false",
            )
        })? {
            return Ok(None);
        }
        let format = match get("gpg.format").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("openpgp") => Format::OpenPgp,
            Some("x509") => Format::X509,
            Some("ssh") => Format::Ssh,
            Some(other) => {
                return Err(blocked(
                    folder,
                    &format!("gpg.format is `{other}`, which git does not know"),
                    "set gpg.format to openpgp, x509 or ssh",
                ))
            }
        };
        let program = match format {
            Format::OpenPgp => get("gpg.openpgp.program").or_else(|| get("gpg.program")),
            Format::X509 => get("gpg.x509.program"),
            Format::Ssh => get("gpg.ssh.program"),
        }
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| {
            match format {
                Format::OpenPgp => "gpg",
                Format::X509 => "gpgsm",
                Format::Ssh => "ssh-keygen",
            }
            .to_string()
        });
        let key = get("user.signingkey").filter(|k| !k.trim().is_empty());
        Ok(Some(Signer { format, program, key }))
    }

    /// Signs `buffer` (a commit object as `commit_create_buffer` writes it) for the committer
    /// `committer` (`Name <email>`, the key OpenPGP uses when `user.signingkey` is unset) and
    /// returns the armored signature without its final newline, as git stores it.
    pub fn sign(&self, buffer: &str, committer: &str, folder: &Path) -> crate::Result<String> {
        match self.format {
            Format::Ssh => self.sign_ssh(buffer, folder),
            Format::OpenPgp | Format::X509 => {
                let key = self.key.clone().unwrap_or_else(|| committer.to_string());
                let mut cmd = Command::new(&self.program);
                cmd.args(["--status-fd=2", "-bsau", &key]).current_dir(folder);
                let done = self.run(cmd, buffer, folder)?;
                // git's own check: exit 0 is not enough, gpg must say it made a signature.
                let status = String::from_utf8_lossy(&done.stderr);
                if !done.status.success() || !status.contains("[GNUPG:] SIG_CREATED ") {
                    return Err(self.failed(&done, folder));
                }
                armored(&done.stdout, "-----BEGIN ").ok_or_else(|| self.failed(&done, folder))
            }
        }
    }

    fn sign_ssh(&self, buffer: &str, folder: &Path) -> crate::Result<String> {
        let Some(key) = &self.key else {
            return Err(blocked(
                folder,
                "commit.gpgsign is true with gpg.format ssh, but user.signingkey is not set",
                "set user.signingkey to your SSH key file (or `key::` and the public key)",
            ));
        };
        // A literal public key (`key::ssh-ed25519 AAAA…`, or the older bare `ssh-…` form):
        // git writes it to a file and lets ssh-agent hold the private half (`-U`).
        let literal = key.strip_prefix("key::").or_else(|| key.starts_with("ssh-").then_some(key));
        let mut cmd = Command::new(&self.program);
        cmd.args(["-Y", "sign", "-n", "git", "-f"]).current_dir(folder);
        let _literal_file;
        match literal {
            Some(public) => {
                let mut file = tempfile::NamedTempFile::new().map_err(|e| {
                    blocked(
                        folder,
                        &format!("cannot write the signing key to a temporary file: {e}"),
                        "check that the temporary directory is writable",
                    )
                })?;
                std::io::Write::write_all(&mut file, format!("{}\n", public.trim()).as_bytes())
                    .map_err(|e| Error::io(file.path(), e))?;
                cmd.arg(file.path()).arg("-U");
                _literal_file = file;
            }
            None => {
                let path = expand_home(key);
                let path = if path.is_relative() { folder.join(path) } else { path };
                if !path.is_file() {
                    return Err(blocked(
                        folder,
                        &format!(
                            "user.signingkey is {}, which does not exist (gpg.format ssh)",
                            path.display()
                        ),
                        "point user.signingkey at your SSH key file",
                    ));
                }
                cmd.arg(&path);
            }
        }
        let done = self.run(cmd, buffer, folder)?;
        if !done.status.success() {
            return Err(self.failed(&done, folder));
        }
        armored(&done.stdout, "-----BEGIN SSH SIGNATURE-----")
            .ok_or_else(|| self.failed(&done, folder))
    }

    fn run(&self, cmd: Command, buffer: &str, folder: &Path) -> crate::Result<program::Finished> {
        program::run(cmd, Some(buffer.as_bytes().to_vec()), SIGNING_TIMEOUT).map_err(|f| match f {
            Failure::Spawn(e) => blocked(
                folder,
                &format!("cannot run the signing program `{}`: {e}", self.program),
                &format!(
                    "install it, or set gpg.{}program to the program to use",
                    match self.format {
                        Format::OpenPgp => "",
                        Format::X509 => "x509.",
                        Format::Ssh => "ssh.",
                    }
                ),
            ),
            Failure::TimedOut => blocked(
                folder,
                &format!(
                    "the signing program `{}` did not finish within {} s (waiting for a \
                     passphrase?)",
                    self.program,
                    SIGNING_TIMEOUT.as_secs()
                ),
                "use a key that signs without a prompt (an agent holding the key)",
            ),
        })
    }

    fn failed(&self, done: &program::Finished, folder: &Path) -> Error {
        blocked(
            folder,
            &format!(
                "`{}` could not sign with {} (gpg.format {}): {}",
                self.program,
                self.key
                    .as_deref()
                    .map_or("the default key".to_string(), |k| { format!("user.signingkey {k}") }),
                self.format.name(),
                done.reason()
            ),
            "check that user.signingkey names a usable key",
        )
    }
}

/// Builds the needs-attention error: what is wrong, then how to fix it.
fn blocked(folder: &Path, problem: &str, fix: &str) -> Error {
    Error::Blocked(format!(
        "cannot sign the commit: {problem}. To fix: {fix} (`git -C {dir} config ...`), or turn \
         signing off with `git -C {dir} config commit.gpgsign false`; then sync again. Nothing \
         was committed unsigned: the changes stay in the folder",
        dir = folder.display()
    ))
}

/// Returns the armored block of `out` starting at `begin`, without its final newline.
fn armored(out: &[u8], begin: &str) -> Option<String> {
    let text = String::from_utf8_lossy(out);
    let start = text.find(begin)?;
    let sig = text[start..].trim_end();
    sig.contains("-----END ").then(|| sig.to_string())
}

/// Parses a git boolean (`true`/`yes`/`on`/`1`, `false`/`no`/`off`/`0`, empty is false).
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Expands a leading `~/` to HOME, as git does for `user.signingkey`.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn signer(pairs: &[(&str, &str)]) -> crate::Result<Option<Signer>> {
        let map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Signer::from_config(|k| map.get(k).cloned(), Path::new("/f"))
    }

    #[test]
    fn signing_is_off_unless_commit_gpgsign_is_true() {
        assert_eq!(signer(&[]).unwrap(), None);
        assert_eq!(signer(&[("commit.gpgsign", "false"), ("gpg.format", "ssh")]).unwrap(), None);
    }

    #[test]
    fn format_and_program_follow_git_defaults() {
        let s = signer(&[("commit.gpgsign", "true")]).unwrap().unwrap();
        assert_eq!((s.format, s.program.as_str(), s.key), (Format::OpenPgp, "gpg", None));
        let s = signer(&[("commit.gpgsign", "yes"), ("gpg.format", "ssh")]).unwrap().unwrap();
        assert_eq!((s.format, s.program.as_str()), (Format::Ssh, "ssh-keygen"));
        let s = signer(&[
            ("commit.gpgsign", "on"),
            ("gpg.program", "/opt/gpg2"),
            ("user.signingkey", "ABCD"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((s.program.as_str(), s.key.as_deref()), ("/opt/gpg2", Some("ABCD")));
    }

    #[test]
    fn an_unknown_format_or_a_bad_boolean_names_the_key() {
        let e = signer(&[("commit.gpgsign", "true"), ("gpg.format", "pgp2")]).unwrap_err();
        assert!(e.to_string().contains("gpg.format is `pgp2`"), "{e}");
        assert_eq!(e.class(), crate::FailureClass::NeedsAttention);
        let e = signer(&[("commit.gpgsign", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("commit.gpgsign is `maybe`"), "{e}");
    }

    #[test]
    fn a_missing_ssh_key_file_is_named_with_the_fix() {
        let s = Signer { format: Format::Ssh, program: "ssh-keygen".into(), key: None };
        let e = s.sign("tree x\n", "a <a@b>", Path::new("/f")).unwrap_err();
        assert!(e.to_string().contains("user.signingkey is not set"), "{e}");
        let s = Signer { key: Some("/nonexistent/id_ed25519".into()), ..s };
        let e = s.sign("tree x\n", "a <a@b>", Path::new("/f")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/id_ed25519, which does not exist"), "{msg}");
        assert!(msg.contains("commit.gpgsign false"), "{msg}");
    }
}
