use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;

use supersonic_testkit::{Sandbox, SmartHttp};

use crate::{commit_file, incompressible};

/// Runs git with curl's header trace on stderr (request and response headers, no bodies).
fn git_traced(sandbox: &Sandbox, cwd: &Path, args: &[&str]) -> Output {
    let output = sandbox
        .git_command(cwd, args)
        .env("GIT_TRACE_CURL", "1")
        .env("GIT_TRACE_CURL_NO_DATA", "1")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Returns the remote `notes.git` holding one commit of `seed.txt`, pushed over its path.
fn seeded_remote(sandbox: &Sandbox) -> PathBuf {
    let remote = sandbox.bare_remote("notes");
    let seed = sandbox.clone(remote.to_str().unwrap(), "seed");
    commit_file(sandbox, &seed, "seed.txt", b"seed\n");
    sandbox.git(&seed, &["push", "--quiet", "origin", "main"]);
    remote
}

#[test]
fn clone_and_push_over_smart_http_with_a_chunked_request_body() {
    let sandbox = Sandbox::new();
    let remote = seeded_remote(&sandbox);
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), None);
    let url = server.url("notes.git");
    assert_eq!(url, format!("http://127.0.0.1:{}/notes.git", server.port()));

    let alice = sandbox.clone(&url, "alice");
    assert_eq!(fs::read_to_string(alice.join("seed.txt")).unwrap(), "seed\n");

    let big = incompressible(3 * 1024 * 1024 / 2);
    let commit = commit_file(&sandbox, &alice, "big.bin", &big);
    // git raises a postBuffer below 64 KiB to 64 KiB; the pack is far larger either way.
    let push = git_traced(
        &sandbox,
        &alice,
        &["-c", "http.postBuffer=1024", "push", "--quiet", "origin", "main"],
    );
    let trace = String::from_utf8_lossy(&push.stderr);
    assert!(
        trace.contains("Transfer-Encoding: chunked"),
        "a pack larger than http.postBuffer is sent chunked:\n{trace}"
    );
    assert_eq!(sandbox.git(&remote, &["rev-parse", "refs/heads/main"]), commit);
    sandbox.fsck(&remote);

    let bob = sandbox.clone(&url, "bob");
    assert!(fs::read(bob.join("big.bin")).unwrap() == big, "the big file arrives intact");
    assert_eq!(sandbox.commit_count(&bob, "HEAD"), 2);
}

#[test]
fn fetch_over_smart_http_sends_gzip_request_bodies_through_to_the_backend() {
    let sandbox = Sandbox::new();
    let remote = seeded_remote(&sandbox);
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), None);
    let url = server.url("notes.git");
    let alice = sandbox.clone(&url, "alice");
    let bob = sandbox.clone(remote.to_str().unwrap(), "bob");
    let upstream = commit_file(&sandbox, &bob, "bob.txt", b"bob\n");
    sandbox.git(&bob, &["push", "--quiet", "origin", "main"]);
    // Unpublished local commits make alice send many `have` lines: a negotiation request
    // above 1 KiB, which git compresses.
    // Their committer dates are later than the shared history's, so the negotiator walks all of
    // them before it reaches a commit the server has (with equal dates the order is arbitrary
    // and the common commit may be found in the first, small request).
    for i in 0..64 {
        fs::write(alice.join("local.txt"), format!("{i}\n")).unwrap();
        sandbox.git(&alice, &["add", "local.txt"]);
        let date = format!("@{} +0000", 4_000_000_000u64 + i);
        let out = sandbox
            .git_command(&alice, &["commit", "--quiet", "-m", "local"])
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_AUTHOR_DATE", &date)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let fetch = git_traced(&sandbox, &alice, &["fetch", "--quiet", "origin"]);
    let trace = String::from_utf8_lossy(&fetch.stderr);
    assert!(
        trace.contains("Content-Encoding: gzip"),
        "the negotiation request is gzip-compressed:\n{trace}"
    );
    assert_eq!(sandbox.git(&alice, &["rev-parse", "origin/main"]), upstream);
    sandbox.fsck(&alice);
}

#[test]
fn smart_http_passes_the_git_protocol_header_so_protocol_v2_is_used() {
    let sandbox = Sandbox::new();
    seeded_remote(&sandbox);
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), None);
    let output = sandbox
        .git_command(sandbox.path(), &["-c", "protocol.version=2", "ls-remote"])
        .arg(server.url("notes.git"))
        .env("GIT_TRACE_PACKET", "1")
        .output()
        .expect("run git ls-remote");
    assert!(output.status.success());
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(trace.contains("< version 2"), "the server answers in protocol v2:\n{trace}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("refs/heads/main"));
}

#[test]
fn smart_http_answers_not_found_for_a_missing_repository() {
    let sandbox = Sandbox::new();
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), None);
    let output = sandbox.git_output(sandbox.path(), &["ls-remote", &server.url("missing.git")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not found"), "stderr: {stderr}");
}

#[test]
fn smart_http_with_auth_rejects_missing_and_wrong_credentials() {
    let sandbox = Sandbox::new();
    seeded_remote(&sandbox);
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), Some(("alice", "s3cret")));

    let anonymous = sandbox.git_output(sandbox.path(), &["ls-remote", &server.url("notes.git")]);
    assert!(!anonymous.status.success(), "reads need credentials too");
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(
        stderr.contains("could not read Username") && stderr.contains("terminal prompts disabled"),
        "git asks for a username after the 401 and fails at once: {stderr}"
    );

    let wrong = server.url_with_credentials("notes.git", "alice", "guess");
    let wrong = sandbox.git_output(sandbox.path(), &["ls-remote", &wrong]);
    assert!(!wrong.status.success(), "a wrong password is refused");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("Authentication failed"), "stderr: {stderr}");
}

#[test]
fn smart_http_with_auth_serves_clone_and_push_with_the_right_credentials() {
    let sandbox = Sandbox::new();
    let remote = seeded_remote(&sandbox);
    let (user, pass) = ("alice", "p@ss:word/1");
    let server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), Some((user, pass)));
    let url = server.url_with_credentials("notes.git", user, pass);
    assert_eq!(
        url,
        format!("http://alice:p%40ss%3Aword%2F1@127.0.0.1:{}/notes.git", server.port())
    );

    let alice = sandbox.clone(&url, "alice");
    assert_eq!(fs::read_to_string(alice.join("seed.txt")).unwrap(), "seed\n");
    let commit = commit_file(&sandbox, &alice, "alice.txt", b"alice\n");
    sandbox.git(&alice, &["push", "--quiet", "origin", "main"]);
    assert_eq!(sandbox.git(&remote, &["rev-parse", "refs/heads/main"]), commit);
}

#[test]
fn smart_http_stop_refuses_connections() {
    let sandbox = Sandbox::new();
    let mut server = SmartHttp::start(&sandbox, &sandbox.remotes_dir(), None);
    let port = server.port();
    server.stop();
    let err = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect_err("server is stopped");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    server.stop();
}
