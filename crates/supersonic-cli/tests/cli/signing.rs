//! Signed commits across real daemons: the devices' git config asks for SSH signing, and every
//! commit the daemons push (sync commits and the merge of an offline conflict) verifies.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Makes an ed25519 key in the sandbox; returns it and an allowed-signers file trusting it.
fn ssh_key(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let key = sb.path().join("id_sync");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sync", "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = sb.path().join("allowed_signers");
    std::fs::write(&allowed, format!("* namespaces=\"git\" {public}")).unwrap();
    (key, allowed)
}

fn sign_with(sb: &Sandbox, dir: &Path, key: &Path) {
    sb.git(dir, &["config", "gpg.format", "ssh"]);
    sb.git(dir, &["config", "user.signingkey", key.to_str().unwrap()]);
    sb.git(dir, &["config", "commit.gpgsign", "true"]);
}

#[test]
fn daemons_sign_every_commit_including_the_merge_of_an_offline_conflict() {
    let mut p = Pair::new(RemoteKind::GitDaemon);
    let (key, allowed) = ssh_key(&p.sb);
    sign_with(&p.sb, &p.a_dir, &key);
    sign_with(&p.sb, &p.b_dir, &key);
    p.conflict_offline("todo.md", "- milk\n", "- oat milk (alpha)\n", "- soy milk (beta)\n");
    wait_until("both trees to hold both versions", CONVERGE, || {
        let t = tree(&p.a_dir);
        t == tree(&p.b_dir) && t.len() == 2
    });
    let remote = &p.remote_path;
    let merges = p.sb.git(remote, &["rev-list", "--merges", "main"]);
    assert_eq!(merges.lines().count(), 1, "one merge joined the offline edits");
    let allowed = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let commits = p.sb.git(remote, &["rev-list", "main"]);
    assert!(commits.lines().count() >= 4, "base, two edits, the merge: {commits}");
    for c in commits.lines() {
        let out = p.sb.git_output(remote, &["-c", &allowed, "verify-commit", c]);
        assert!(
            out.status.success(),
            "commit {c} must carry a valid signature: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            p.logs()
        );
    }
}

#[test]
fn a_literal_public_key_signs_through_the_ssh_agent() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let (key, allowed) = ssh_key(&sb);
    let agent = SshAgent::start(&sb, &key, None);
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.set_env("SSH_AUTH_SOCK", agent.socket().to_str().unwrap());
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // As git documents it: `key::` and the public key; the private half is in the agent only.
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::remove_file(&key).unwrap();
    sb.git(&dir, &["config", "gpg.format", "ssh"]);
    sb.git(&dir, &["config", "user.signingkey", &format!("key::{}", public.trim())]);
    sb.git(&dir, &["config", "commit.gpgsign", "true"]);
    write(&dir.join("n.md"), "signed by the agent\n");
    dev.cli(&["sync"]);
    let allowed = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let out = sb.git_output(&remote, &["-c", &allowed, "verify-commit", "main"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
