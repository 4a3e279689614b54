use std::process::Stdio;
use std::time::{Duration, Instant};

use supersonic_testkit::{wait_until, HangingServer, Sandbox};

/// How long git must stay stuck for the remote to count as hanging; far beyond the few
/// milliseconds an answer from a loopback server takes.
const HANG_FOR: Duration = Duration::from_secs(2);

/// Runs `git ls-remote url`, checks that it reaches the server and is still waiting after
/// [`HANG_FOR`], then kills it.
fn assert_ls_remote_hangs(sandbox: &Sandbox, server: &HangingServer, url: &str) {
    let mut git = sandbox
        .git_command(sandbox.path(), &["ls-remote", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn git ls-remote");
    let started = Instant::now();
    wait_until("git to connect to the hanging server", Duration::from_secs(10), || {
        server.accepted() >= 1
    });
    while started.elapsed() < HANG_FOR {
        let status = git.try_wait().expect("poll git ls-remote");
        assert!(status.is_none(), "git must still wait for an answer, but exited with {status:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    git.kill().expect("kill the hanging git");
    git.wait().expect("reap the hanging git");
}

#[test]
fn git_ls_remote_hangs_against_a_hanging_git_server() {
    let sandbox = Sandbox::new();
    let server = HangingServer::start();
    assert_eq!(server.git_url("x.git"), format!("git://127.0.0.1:{}/x.git", server.port()));
    assert_ls_remote_hangs(&sandbox, &server, &server.git_url("x.git"));
}

#[test]
fn git_ls_remote_hangs_against_a_hanging_http_server() {
    let sandbox = Sandbox::new();
    let server = HangingServer::start();
    assert_eq!(server.http_url("x.git"), format!("http://127.0.0.1:{}/x.git", server.port()));
    assert_ls_remote_hangs(&sandbox, &server, &server.http_url("x.git"));
}

#[test]
fn dropping_the_hanging_server_ends_a_waiting_git() {
    let sandbox = Sandbox::new();
    let server = HangingServer::start();
    let url = server.git_url("x.git");
    let mut git = sandbox
        .git_command(sandbox.path(), &["ls-remote", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn git ls-remote");
    wait_until("git to connect", Duration::from_secs(10), || server.accepted() >= 1);
    drop(server);
    let mut status = None;
    wait_until("git to see the connection closed", Duration::from_secs(10), || {
        status = git.try_wait().expect("poll git ls-remote");
        status.is_some()
    });
    assert!(!status.unwrap().success(), "a closed connection without refs is an error");
}
