use std::fs;

use supersonic_testkit::Sandbox;

use crate::commit_file;

#[test]
fn sandbox_git_uses_the_hermetic_identity_and_branch() {
    let sandbox = Sandbox::new();
    let repo = sandbox.path().join("repo");
    sandbox.git(sandbox.path(), &["init", "--quiet", "repo"]);
    assert_eq!(sandbox.git(&repo, &["config", "user.name"]), "Test User");
    assert_eq!(sandbox.git(&repo, &["config", "user.email"]), "test@example.com");
    assert_eq!(sandbox.git(&repo, &["symbolic-ref", "--short", "HEAD"]), "main");
    let origins = sandbox.git(&repo, &["config", "--list", "--show-origin"]);
    let home = sandbox.home();
    for line in origins.lines() {
        assert!(
            line.starts_with("file:.git/config") || line.contains(home.to_str().unwrap()),
            "config must come from the sandbox only, got {line:?}"
        );
    }
}

#[test]
fn apply_env_removes_an_inherited_git_dir() {
    let sandbox = Sandbox::new();
    let mut cmd = std::process::Command::new("git");
    cmd.env("GIT_DIR", "/nonexistent").env("XDG_CONFIG_HOME", "/nonexistent");
    sandbox.apply_env(&mut cmd);
    let removed: Vec<_> = cmd.get_envs().filter(|(_, value)| value.is_none()).collect();
    assert!(removed.iter().any(|(key, _)| *key == "GIT_DIR"), "GIT_DIR is removed");
    assert!(removed.iter().any(|(key, _)| *key == "XDG_CONFIG_HOME"), "XDG is removed");
    let home = cmd.get_envs().find(|(key, _)| *key == "HOME").and_then(|(_, value)| value);
    assert_eq!(home, Some(sandbox.home().as_os_str()));
}

#[test]
fn git_failure_is_reported_by_git_output_without_panicking() {
    let sandbox = Sandbox::new();
    let output = sandbox.git_output(sandbox.path(), &["rev-parse", "--git-dir"]);
    assert!(!output.status.success(), "the sandbox root is not a repository");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a git repository"));
}

#[test]
#[should_panic(expected = "not a git repository")]
fn git_panics_with_stderr_on_failure() {
    let sandbox = Sandbox::new();
    sandbox.git(sandbox.path(), &["rev-parse", "--git-dir"]);
}

#[test]
fn push_to_and_clone_from_a_bare_path_remote() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("notes");
    assert_eq!(remote, sandbox.path().join("remotes/notes.git"));
    let url = remote.to_str().unwrap();

    let alice = sandbox.clone(url, "alice");
    assert_eq!(sandbox.commit_count(&alice, "HEAD"), 0, "a clone of an empty remote is unborn");
    let commit = commit_file(&sandbox, &alice, "todo.md", b"- buy milk\n");
    sandbox.git(&alice, &["push", "--quiet", "origin", "main"]);

    assert_eq!(sandbox.git(&remote, &["rev-parse", "refs/heads/main"]), commit);
    let bob = sandbox.clone(url, "bob");
    assert_eq!(fs::read_to_string(bob.join("todo.md")).unwrap(), "- buy milk\n");
    assert_eq!(sandbox.commit_count(&bob, "origin/main"), 1);
    sandbox.fsck(&remote);
    sandbox.fsck(&bob);
}

#[test]
fn commit_count_is_zero_for_a_missing_rev() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("empty");
    assert_eq!(sandbox.commit_count(&remote, "main"), 0, "main is unborn in a new remote");
    assert_eq!(sandbox.commit_count(&remote, "no-such-branch"), 0);
}

#[test]
#[should_panic(expected = "not a git repository")]
fn commit_count_panics_outside_a_repository() {
    let sandbox = Sandbox::new();
    sandbox.commit_count(sandbox.path(), "HEAD");
}

#[test]
#[should_panic(expected = "git fsck --full")]
fn fsck_panics_on_a_corrupt_repository() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("corrupt");
    let alice = sandbox.clone(remote.to_str().unwrap(), "alice");
    commit_file(&sandbox, &alice, "a.txt", b"a\n");
    let blob = sandbox.git(&alice, &["rev-parse", "HEAD:a.txt"]);
    let object = alice.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    fs::remove_file(&object).expect("remove the blob's loose object");
    sandbox.fsck(&alice);
}
