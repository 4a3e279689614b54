//! Tests of the testkit's fixtures against real git, one module per fixture module.

//! The crate root holds the tests of `lib.rs` itself (polling, ports) and shared helpers.

#[path = "testkit/daemon.rs"]
mod daemon;
#[path = "testkit/hanging.rs"]
mod hanging;
#[path = "testkit/http.rs"]
mod http;
#[path = "testkit/sandbox.rs"]
mod sandbox;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use supersonic_testkit::{conflict_id, free_port, tree_with_links, wait_until, Sandbox};

/// Writes `contents` to `file` in the worktree `repo`, commits it and returns the commit id.
fn commit_file(sandbox: &Sandbox, repo: &Path, file: &str, contents: &[u8]) -> String {
    fs::write(repo.join(file), contents).expect("write the file to commit");
    sandbox.git(repo, &["add", file]);
    sandbox.git(repo, &["commit", "--quiet", "-m", &format!("Add {file}")]);
    sandbox.git(repo, &["rev-parse", "HEAD"])
}

/// Returns `len` pseudo-random bytes, which neither zlib nor delta compression can shrink.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn wait_until_returns_once_the_condition_holds() {
    let mut calls = 0;
    wait_until("the third call", Duration::from_secs(5), || {
        calls += 1;
        calls == 3
    });
    assert_eq!(calls, 3, "wait_until stops polling as soon as the condition is true");
}

#[test]
#[should_panic(expected = "waiting for the impossible")]
fn wait_until_panics_with_the_description_after_the_timeout() {
    wait_until("the impossible", Duration::from_millis(120), || false);
}

#[test]
fn free_port_can_be_bound_on_loopback() {
    let port = free_port();
    assert_ne!(port, 0);
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port free_port returned is free");
}

#[test]
fn tree_with_links_records_files_below_and_links_without_following_them() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("tree");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/file.txt"), "inside").unwrap();
    fs::write(sandbox.path().join("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink("../secret.txt", dir.join("link")).unwrap();
    let tree = tree_with_links(&dir);
    let expected = [
        (Path::new("link").to_path_buf(), b"-> ../secret.txt".to_vec()),
        (Path::new("sub/file.txt").to_path_buf(), b"inside".to_vec()),
    ];
    assert_eq!(tree, expected.into(), "a link is recorded as its target, never read through");
}

#[test]
fn conflict_id_hashes_the_nul_terminated_parts() {
    // printf 'a\0b\0' | sha256sum
    assert_eq!(conflict_id(&["a", "b"]), "8fb20ef63ced", "the first 12 hex digits of the hash");
}
