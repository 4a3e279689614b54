use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpStream};

use supersonic_testkit::{GitDaemon, Sandbox};

use crate::commit_file;

#[test]
fn clone_and_push_over_git_daemon() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("notes");
    let daemon = GitDaemon::start(&sandbox, &sandbox.remotes_dir());
    let url = daemon.url("notes.git");
    assert_eq!(url, format!("git://127.0.0.1:{}/notes.git", daemon.port()));

    let alice = sandbox.clone(&url, "alice");
    let commit = commit_file(&sandbox, &alice, "todo.md", b"- call mum\n");
    sandbox.git(&alice, &["push", "--quiet", "origin", "main"]);
    assert_eq!(
        sandbox.git(&remote, &["rev-parse", "refs/heads/main"]),
        commit,
        "receive-pack is enabled, so the push lands on the remote"
    );

    let bob = sandbox.clone(&url, "bob");
    assert_eq!(fs::read_to_string(bob.join("todo.md")).unwrap(), "- call mum\n");
    sandbox.fsck(&remote);
}

#[test]
fn git_daemon_stop_refuses_connections_and_restart_serves_the_same_port() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("notes");
    let alice = sandbox.clone(remote.to_str().unwrap(), "alice");
    let commit = commit_file(&sandbox, &alice, "a.txt", b"a\n");
    sandbox.git(&alice, &["push", "--quiet", "origin", "main"]);
    let mut daemon = GitDaemon::start(&sandbox, &sandbox.remotes_dir());
    let port = daemon.port();
    let url = daemon.url("notes.git");

    daemon.stop();
    let err = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect_err("daemon is stopped");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let output = sandbox.git_output(sandbox.path(), &["ls-remote", &url]);
    assert!(!output.status.success(), "ls-remote against a stopped daemon fails");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Connection refused"), "stderr: {stderr}");
    daemon.stop();

    daemon.restart();
    assert_eq!(daemon.port(), port, "restart keeps the port so URLs stay valid");
    let refs = sandbox.git(sandbox.path(), &["ls-remote", &url, "refs/heads/main"]);
    assert_eq!(refs, format!("{commit}\trefs/heads/main"));
    daemon.restart();
    let refs = sandbox.git(sandbox.path(), &["ls-remote", &url, "refs/heads/main"]);
    assert_eq!(refs, format!("{commit}\trefs/heads/main"), "restart of a running daemon works");
}

#[test]
fn dropping_git_daemon_closes_its_port() {
    let sandbox = Sandbox::new();
    let daemon = GitDaemon::start(&sandbox, &sandbox.remotes_dir());
    let port = daemon.port();
    drop(daemon);
    supersonic_testkit::wait_until(
        "the dropped daemon's port to refuse connections",
        std::time::Duration::from_secs(10),
        || TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
    );
}
