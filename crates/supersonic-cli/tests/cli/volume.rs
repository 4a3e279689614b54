//! Commit volume: bursts are batched, idle costs nothing, pulls never commit.

use std::time::Duration;

use crate::common::*;

#[test]
fn a_burst_of_1000_writes_becomes_a_handful_of_commits() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    for i in 0..1000 {
        write(&p.a_dir.join(format!("burst/{:03}/{i}.txt", i % 37)), format!("file {i}\n"));
    }
    wait_until("all 1000 files on the remote", CONVERGE, || {
        let out = p.sb.git_output(&p.remote_path, &["ls-tree", "-r", "--name-only", "main"]);
        String::from_utf8_lossy(&out.stdout).lines().count() == 1000
    });
    let commits = p.remote_commits();
    assert!(
        (1..=10).contains(&commits),
        "1000 writes in a burst must be batched into a handful of commits, got {commits}\n{}",
        p.a.log()
    );
}

#[test]
fn an_idle_folder_makes_no_commits() {
    let mut p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("a.txt"), "settled\n");
    p.start();
    p.wait_converged("the initial file to reach beta");
    wait_until("alpha's commit on the remote", CONVERGE, || p.remote_commits() == 1);
    let before = p.remote_commits();
    let head_a = p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]);
    // Observe several poll cycles (1 s each) and a debounce window with nothing changing.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(p.remote_commits(), before, "no commits while idle\n{}", p.logs());
    assert_eq!(p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]), head_a, "alpha made no commit");
    assert!(p.a.log().contains("sync ok"), "polls did run meanwhile:\n{}", p.a.log());
}

#[test]
fn a_pull_that_updates_files_makes_no_new_commit() {
    let mut p = Pair::new(RemoteKind::Path);
    p.start();
    for i in 0..20 {
        write(&p.b_dir.join(format!("docs/{i}.md")), format!("doc {i}\n"));
    }
    p.wait_converged("beta's files to reach alpha");
    wait_until("beta's commits on the remote", CONVERGE, || p.remote_commits() >= 1);
    // Give alpha's watcher time to report its own checkout writes, then check nothing came of it.
    std::thread::sleep(Duration::from_secs(3));
    let head_a = p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]);
    let head_b = p.sb.git(&p.b_dir, &["rev-parse", "HEAD"]);
    assert_eq!(
        head_a,
        head_b,
        "alpha fast-forwarded to beta's commit and made none of its own\n{}",
        p.logs()
    );
    let alpha_commits = p.sb.git(&p.a_dir, &["log", "--format=%s", "--author=alpha"]);
    assert!(alpha_commits.is_empty(), "alpha authored nothing: {alpha_commits}");
    assert_eq!(p.sb.git(&p.a_dir, &["status", "--porcelain"]), "", "alpha's tree is clean");
}
