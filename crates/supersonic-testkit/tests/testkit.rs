//! Tests of the testkit's fixtures against real git, one module per fixture module.

//! The crate root holds the tests of the small helpers (files, polling, ports, the RNG) and
//! shared helpers.

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

use supersonic_testkit::{
    conflict_id, free_port, spread, tree, tree_with_links, wait_until, write, Rng, Sandbox,
};

/// Writes `contents` to `file` in the worktree `repo`, commits it and returns the commit id.
fn commit_file(sandbox: &Sandbox, repo: &Path, file: &str, contents: &[u8]) -> String {
    fs::write(repo.join(file), contents).expect("write the file to commit");
    sandbox.git(repo, &["add", file]);
    sandbox.git(repo, &["commit", "--quiet", "-m", &format!("Add {file}")]);
    sandbox.git(repo, &["rev-parse", "HEAD"])
}

/// Returns `len` pseudo-random bytes, which neither zlib nor delta compression can shrink.
fn incompressible(len: usize) -> Vec<u8> {
    Rng::xorshift64(0x9e37_79b9_7f4a_7c15).bytes(len)
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

#[test]
fn write_creates_the_folders_above_the_file() {
    let sandbox = Sandbox::new();
    let path = sandbox.path().join("a/b/c.txt");
    write(&path, "text");
    write(&sandbox.path().join("bytes.bin"), [0u8, 1, 2]);
    assert_eq!(fs::read(&path).unwrap(), b"text");
    assert_eq!(fs::read(sandbox.path().join("bytes.bin")).unwrap(), [0, 1, 2]);
}

#[test]
fn tree_lists_files_below_by_relative_path_without_git_folders() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("folder");
    write(&dir.join("top.md"), "top");
    write(&dir.join("sub/deep/inner.md"), "inner");
    write(&dir.join(".git/HEAD"), "ref: refs/heads/main");
    write(&dir.join("sub/.git/config"), "");
    let listed: Vec<(String, Vec<u8>)> = tree(&dir).into_iter().collect();
    assert_eq!(
        listed,
        [("sub/deep/inner.md".into(), b"inner".to_vec()), ("top.md".into(), b"top".to_vec())],
        "every file below, and nothing of a .git folder at any depth"
    );
}

#[test]
fn rng_sequences_stay_the_same_so_printed_seeds_still_replay() {
    // Pinned outputs: a change here would make every seed a test ever printed replay something
    // else.
    let mut plain = Rng::xorshift64(0x9e37_79b9_7f4a_7c15);
    let outputs: Vec<u64> = (0..3).map(|_| plain.next_u64()).collect();
    assert_eq!(outputs, [0xdc1b_77ae_0bf3_4dad, 0x64f0_eeb9_026e_6076, 0x7b07_ce91_e590_6136]);
    let mut star = Rng::xorshift64_star(spread(1));
    let outputs: Vec<u64> = (0..3).map(|_| star.next_u64()).collect();
    assert_eq!(outputs, [0x0d83_b3e2_9a21_487a, 0x54c4_4c79_f1fe_9d67, 0xa845_f342_007a_0e78]);
}

#[test]
fn rng_draws_stay_in_range_and_bytes_are_the_low_bytes_of_outputs() {
    let mut rng = Rng::xorshift64_star(spread(7));
    assert!((0..1000).all(|_| rng.below(6) < 6 && rng.index(3) < 3));
    assert_eq!(rng.below(0), 0, "an empty range draws 0 instead of dividing by zero");
    let mut a = Rng::xorshift64(spread(3));
    let mut b = a.clone();
    let low: Vec<u8> = (0..16).map(|_| b.next_u64() as u8).collect();
    assert_eq!(a.bytes(16), low);
}

#[test]
#[should_panic(expected = "zero")]
fn a_zero_rng_state_is_refused() {
    Rng::xorshift64(0);
}
