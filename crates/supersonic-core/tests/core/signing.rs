//! Signed commits on real repositories: SSH keys made by `ssh-keygen`, every commit checked by
//! `git verify-commit` on the bare remote.

use std::path::{Path, PathBuf};

use supersonic_core::batcher::Batch;
use supersonic_core::config::FolderSettings;
use supersonic_core::events::EventBus;
use supersonic_core::folder::{Folder, Trigger};
use supersonic_core::paths::Dirs;
use supersonic_core::status::FolderState;
use supersonic_core::FailureClass;

use super::*;

/// An SSH signing key made in the sandbox, and the allowed-signers file that trusts it.
struct Key {
    private: PathBuf,
    allowed_signers: PathBuf,
}

fn ssh_key(sb: &Sandbox, name: &str) -> Key {
    let dir = sb.path().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    let allowed_signers = dir.join(format!("{name}.allowed"));
    // Any principal: the test checks the signature, not who the committer claims to be.
    std::fs::write(&allowed_signers, format!("* namespaces=\"git\" {public}")).unwrap();
    Key { private, allowed_signers }
}

/// Asks for SSH signing with `key` in the repository at `dir`, as a user would with git.
fn sign_with(sb: &Sandbox, dir: &Path, key: &Path) {
    sb.git(dir, &["config", "gpg.format", "ssh"]);
    sb.git(dir, &["config", "user.signingkey", key.to_str().unwrap()]);
    sb.git(dir, &["config", "commit.gpgsign", "true"]);
}

/// Returns every commit on the remote's main, each with whether `git verify-commit` accepts it.
fn verified(sb: &Sandbox, remote: &Path, key: &Key) -> Vec<(String, bool, String)> {
    let allowed = format!("gpg.ssh.allowedSignersFile={}", key.allowed_signers.display());
    sb.git(remote, &["rev-list", "main"])
        .lines()
        .map(|c| {
            let out = sb.git_output(remote, &["-c", &allowed, "verify-commit", c]);
            let subject = sb.git(remote, &["log", "-1", "--format=%s", c]);
            (c.to_string(), out.status.success(), subject)
        })
        .collect()
}

#[test]
fn every_engine_commit_is_ssh_signed_when_git_config_asks() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let key = ssh_key(&sb, "id_sync");
    let mut a = Dev::new(&sb, &remote, "alpha");
    let mut b = Dev::new(&sb, &remote, "beta");
    sign_with(&sb, &a.dir, &key.private);
    sign_with(&sb, &b.dir, &key.private);

    write(&a.dir.join("notes.md"), "base\n");
    a.sync(); // the first commit: creates the branch
    b.sync();
    write(&a.dir.join("notes.md"), "alpha edit\n");
    write(&a.dir.join("a.md"), "from alpha\n");
    a.sync();
    write(&b.dir.join("notes.md"), "beta edit\n");
    write(&b.dir.join("b.md"), "from beta\n");
    let resolutions = b.sync(); // its own commit, then a merge commit resolving the conflict
    assert_eq!(resolutions.len(), 1, "the notes.md conflict was resolved in the merge");

    // An undo commit: take back what the last sync brought into alpha.
    let before = a.repo.head().unwrap().unwrap();
    a.sync();
    let after = a.repo.head().unwrap().unwrap();
    a.repo.record_undo_point(before, after).unwrap();
    a.repo.undo_last_sync(&identity("alpha")).unwrap();
    a.sync();

    let commits = verified(&sb, &remote, &key);
    let subjects: Vec<&str> = commits.iter().map(|(_, _, s)| s.as_str()).collect();
    assert!(subjects.iter().any(|s| s.starts_with("sync: merge")), "a merge commit: {subjects:?}");
    assert!(subjects.iter().any(|s| s.starts_with("undo last sync:")), "an undo: {subjects:?}");
    assert!(commits.len() >= 5, "initial, two edits, merge, undo: {subjects:?}");
    let unsigned: Vec<_> = commits.iter().filter(|(_, ok, _)| !ok).collect();
    assert!(unsigned.is_empty(), "git verify-commit rejects {unsigned:?}");
    let raw = sb.git(&remote, &["cat-file", "commit", "main"]);
    assert!(
        raw.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n")
            && raw.contains(" -----END SSH SIGNATURE-----\n\n"),
        "the signature sits in the gpgsig header laid out as git lays it out:\n{raw}"
    );
    // The check has teeth: a commit made without signing is rejected by the same command.
    let clone = sb.clone(remote.to_str().unwrap(), "plain");
    sb.git(&clone, &["commit", "--allow-empty", "-q", "-m", "unsigned"]);
    let allowed = format!("gpg.ssh.allowedSignersFile={}", key.allowed_signers.display());
    let plain = sb.git_output(&clone, &["-c", &allowed, "verify-commit", "HEAD"]);
    assert!(!plain.status.success(), "verify-commit rejects an unsigned commit");
    sb.fsck(&remote);
}

fn folder(sb: &Sandbox, dir: &Path, remote: &Path) -> Folder {
    let config = folder_config(dir, &remote.display().to_string(), FolderSettings::default());
    let dirs = Dirs { config_dir: sb.path().join("cfg"), data_dir: sb.path().join("data") };
    Folder::open(config, &dirs, identity("alpha"), EventBus::default()).unwrap()
}

#[test]
fn a_missing_signing_key_stops_the_folder_without_an_unsigned_commit() {
    let f = Fixture::new();
    let key = ssh_key(&f.sb, "id_sync");
    sign_with(&f.sb, &f.dir, &key.private);
    let mut folder = folder(&f.sb, &f.dir, &f.remote);
    write(&f.dir.join("first.md"), "signed\n");
    folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 1);

    let missing = f.sb.path().join("keys/gone_ed25519");
    f.sb.git(&f.dir, &["config", "user.signingkey", missing.to_str().unwrap()]);
    write(&f.dir.join("edit.md"), "must not be pushed unsigned\n");
    let err = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap_err();
    let message = err.to_string();
    assert_eq!(err.class(), FailureClass::NeedsAttention, "{message}");
    assert!(message.contains(&format!("{}, which does not exist", missing.display())), "{message}");
    assert!(message.contains("commit.gpgsign false"), "the message names a fix: {message}");
    match folder.state() {
        FolderState::Error { class, message: shown, .. } => {
            assert_eq!(*class, FailureClass::NeedsAttention);
            assert!(shown.contains("cannot sign the commit"), "{shown}");
        }
        other => panic!("the folder must stop for the user, not {other:?}"),
    }
    assert_eq!(f.sb.commit_count(&f.dir, "main"), 1, "no commit was made, signed or not");
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 1, "nothing reached the remote");
    assert_eq!(
        std::fs::read_to_string(f.dir.join("edit.md")).unwrap(),
        "must not be pushed unsigned\n",
        "the edit is still in the folder"
    );
    // Stopped for the user: a watcher-triggered cycle does nothing until the user acts.
    folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 1, "still nothing pushed while stopped");

    f.sb.git(&f.dir, &["config", "user.signingkey", key.private.to_str().unwrap()]);
    let report = folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    assert!(report.commit.is_some() && report.pushed, "{report:?}");
    let commits = verified(&f.sb, &f.remote, &key);
    assert_eq!(commits.len(), 2, "the edit arrived as one more commit: {commits:?}");
    assert!(commits.iter().all(|(_, ok, _)| *ok), "all signed: {commits:?}");
    let shown = f.sb.git(&f.remote, &["show", "--format=", "--name-only", "main"]);
    assert_eq!(shown, "edit.md", "the signed commit carries the edit");
}

/// A GnuPG home in the sandbox whose agent is stopped when dropped.
struct GnuPg {
    home: PathBuf,
    /// `gpg` bound to that home, for `gpg.program` (git passes it the same arguments).
    program: PathBuf,
}

impl GnuPg {
    fn new(sb: &Sandbox, uid: &str) -> Option<GnuPg> {
        if std::process::Command::new("gpg").arg("--version").output().is_err() {
            eprintln!("gpg is not installed: skipping the OpenPGP test");
            return None;
        }
        let home = sb.path().join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        let mut perms = std::fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).unwrap();
        let program = sb.path().join("gpg-sandboxed");
        write(&program, format!("#!/bin/sh\nexec gpg --homedir '{}' \"$@\"\n", home.display()));
        let mut perms = std::fs::metadata(&program).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&program, perms).unwrap();
        let gpg = GnuPg { home, program };
        let out = std::process::Command::new(&gpg.program)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--quick-generate-key", uid, "ed25519", "sign", "never"])
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg key: {}", String::from_utf8_lossy(&out.stderr));
        Some(gpg)
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

#[test]
fn openpgp_signing_uses_the_committer_identity_when_no_key_is_named() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    // identity("alpha") commits as `alpha user <alpha@example.com>`: git's default key.
    let Some(gpg) = GnuPg::new(&sb, "alpha user <alpha@example.com>") else { return };
    let mut a = Dev::new(&sb, &remote, "alpha");
    sb.git(&a.dir, &["config", "gpg.program", gpg.program.to_str().unwrap()]);
    sb.git(&a.dir, &["config", "commit.gpgsign", "true"]);
    write(&a.dir.join("n.md"), "one\n");
    a.sync();
    write(&a.dir.join("n.md"), "two\n");
    a.sync();
    let program = format!("gpg.program={}", gpg.program.display());
    let commits = sb.git(&remote, &["rev-list", "main"]);
    assert_eq!(commits.lines().count(), 2);
    for c in commits.lines() {
        let out = sb.git_output(&remote, &["-c", &program, "verify-commit", "--raw", c]);
        let status = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && status.contains("GOODSIG"), "{c}: {status}");
    }
    let raw = sb.git(&remote, &["cat-file", "commit", "main"]);
    assert!(raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----\n"), "{raw}");

    // A key gpg does not have: the folder's next commit is refused, nothing unsigned is made.
    sb.git(&a.dir, &["config", "user.signingkey", "nobody@nowhere.invalid"]);
    write(&a.dir.join("n.md"), "three\n");
    let err = a
        .repo
        .snapshot(
            &supersonic_core::batcher::Batch::Full,
            &rules(&a.dir),
            &limits(),
            &identity("alpha"),
        )
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(err.class(), FailureClass::NeedsAttention, "{message}");
    assert!(message.contains("user.signingkey nobody@nowhere.invalid"), "{message}");
    assert!(!message.contains("[GNUPG:]"), "gpg's status lines stay out: {message}");
    assert_eq!(sb.commit_count(&a.dir, "main"), 2, "no commit was made");
}

/// Commits a new file through the engine with `git.sign` set to `sign`.
fn commit_with(f: &mut Fixture, sign: bool, file: &str) -> String {
    write(&f.dir.join(file), "x\n");
    let mut id = identity("alpha");
    id.sign = sign;
    let snap = f.repo.snapshot(&Batch::Full, &rules(&f.dir), &limits(), &id).unwrap();
    snap.commit.unwrap().to_string()
}

#[test]
fn the_folder_setting_git_sign_turns_signing_on_but_never_off() {
    let mut f = Fixture::new();
    let key = ssh_key(&f.sb, "id_sync");
    f.sb.git(&f.dir, &["config", "gpg.format", "ssh"]);
    f.sb.git(&f.dir, &["config", "user.signingkey", key.private.to_str().unwrap()]);
    let allowed = format!("gpg.ssh.allowedSignersFile={}", key.allowed_signers.display());
    let verifies = |f: &Fixture, c: &str| {
        f.sb.git_output(&f.dir, &["-c", &allowed, "verify-commit", c]).status.success()
    };
    // Set locally, so a developer's global commit.gpgsign cannot decide instead.
    f.sb.git(&f.dir, &["config", "commit.gpgsign", "false"]);
    let required = commit_with(&mut f, true, "required.md");
    assert!(verifies(&f, &required), "git.sign true signs though git config says false");
    let unset = commit_with(&mut f, false, "unset.md");
    assert!(!verifies(&f, &unset), "git.sign false: the git config (false) decides");
    f.sb.git(&f.dir, &["config", "commit.gpgsign", "true"]);
    let configured = commit_with(&mut f, false, "configured.md");
    assert!(verifies(&f, &configured), "git.sign false cannot turn git config's signing off");
}
