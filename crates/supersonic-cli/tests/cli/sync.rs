//! Two devices, two daemons, one remote: every kind of change travels without a command.

use crate::common::*;

fn edits_travel_both_ways(kind: RemoteKind) {
    let mut p = Pair::new(kind);
    p.start();

    // Create on A.
    write(&p.a_dir.join("notes/todo.md"), "- buy milk\n");
    wait_until("a new file on alpha to reach beta", CONVERGE, || {
        read(&p.b_dir.join("notes/todo.md")).as_deref() == Some("- buy milk\n")
    });

    // Modify on B.
    write(&p.b_dir.join("notes/todo.md"), "- buy milk\n- call mum\n");
    wait_until("beta's edit to reach alpha", CONVERGE, || {
        read(&p.a_dir.join("notes/todo.md")).as_deref() == Some("- buy milk\n- call mum\n")
    });

    // Rename on A.
    std::fs::rename(p.a_dir.join("notes/todo.md"), p.a_dir.join("notes/done.md")).unwrap();
    wait_until("alpha's rename to reach beta", CONVERGE, || {
        !p.b_dir.join("notes/todo.md").exists()
            && read(&p.b_dir.join("notes/done.md")).as_deref() == Some("- buy milk\n- call mum\n")
    });

    // Delete on B.
    std::fs::remove_file(p.b_dir.join("notes/done.md")).unwrap();
    wait_until("beta's delete to reach alpha", CONVERGE, || {
        !p.a_dir.join("notes/done.md").exists()
    });

    // Different files edited on both sides at the same time converge.
    write(&p.a_dir.join("from-alpha.txt"), "alpha\n");
    write(&p.b_dir.join("from-beta.txt"), "beta\n");
    p.wait_converged("concurrent edits of different files to converge");
    let t = tree(&p.a_dir);
    assert_eq!(t.get("from-alpha.txt").map(Vec::as_slice), Some(&b"alpha\n"[..]), "{}", p.logs());
    assert_eq!(t.get("from-beta.txt").map(Vec::as_slice), Some(&b"beta\n"[..]), "{}", p.logs());

    assert!(p.a.stop(), "alpha exits cleanly on SIGTERM");
    assert!(p.b.stop(), "beta exits cleanly on SIGTERM");
    p.sb.fsck(&p.a_dir);
    p.sb.fsck(&p.b_dir);
    p.sb.fsck(&p.remote_path);
    let head_a = p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]);
    let head_b = p.sb.git(&p.b_dir, &["rev-parse", "HEAD"]);
    let head_remote = p.sb.git(&p.remote_path, &["rev-parse", "main"]);
    assert_eq!(head_a, head_remote, "alpha pushed everything it has");
    assert_eq!(head_b, head_remote, "beta pushed everything it has");
}

#[test]
fn edits_travel_between_devices_over_a_path_remote() {
    edits_travel_both_ways(RemoteKind::Path);
}

#[test]
fn edits_travel_between_devices_over_git_daemon() {
    edits_travel_both_ways(RemoteKind::GitDaemon);
}

#[test]
fn edits_travel_between_devices_over_smart_http_with_basic_auth() {
    edits_travel_both_ways(RemoteKind::SmartHttp);
}

#[test]
fn both_devices_editing_the_same_file_keep_both_versions() {
    let mut p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("plan.md"), "base\n");
    p.a.cli(&["sync"]);
    p.b.cli(&["sync"]);
    assert_eq!(read(&p.b_dir.join("plan.md")).as_deref(), Some("base\n"));
    write(&p.a_dir.join("plan.md"), "alpha's version\n");
    write(&p.b_dir.join("plan.md"), "beta's version\n");
    p.a.cli(&["sync"]);
    p.start();
    p.wait_converged("a conflicting pair to converge");
    let t = tree(&p.a_dir);
    let versions: Vec<&[u8]> =
        t.iter().filter(|(k, _)| k.starts_with("plan")).map(|(_, v)| v.as_slice()).collect();
    assert_eq!(
        versions.len(),
        2,
        "the file and one conflict copy: {:?}",
        t.keys().collect::<Vec<_>>()
    );
    assert!(versions.contains(&&b"alpha's version\n"[..]), "alpha's edit survives");
    assert!(versions.contains(&&b"beta's version\n"[..]), "beta's edit survives");
    assert!(
        t.keys().any(|k| k.starts_with("plan.sync-conflict-") && k.ends_with(".md")),
        "the copy is named like Syncthing's: {:?}",
        t.keys().collect::<Vec<_>>()
    );
}

#[test]
fn several_folders_sync_in_one_daemon() {
    let sb = Sandbox::new();
    let r1 = sb.bare_remote("one");
    let r2 = sb.bare_remote("two");
    let mut a = Device::new(&sb, &bin(), "alpha");
    let b = Device::new(&sb, &bin(), "beta");
    let (a1, a2) = (sb.path().join("a1"), sb.path().join("a2"));
    let (b1, b2) = (sb.path().join("b1"), sb.path().join("b2"));
    a.cli(&["init", a1.to_str().unwrap(), "--remote", r1.to_str().unwrap()]);
    a.cli(&["init", a2.to_str().unwrap(), "--remote", r2.to_str().unwrap()]);
    b.cli(&["init", b1.to_str().unwrap(), "--remote", r1.to_str().unwrap()]);
    b.cli(&["init", b2.to_str().unwrap(), "--remote", r2.to_str().unwrap()]);
    a.start();
    write(&a1.join("x.txt"), "one\n");
    write(&a2.join("y.txt"), "two\n");
    wait_until("both folders to be pushed", CONVERGE, || {
        sb.commit_count(&r1, "main") >= 1 && sb.commit_count(&r2, "main") >= 1
    });
    b.cli(&["sync"]);
    assert_eq!(read(&b1.join("x.txt")).as_deref(), Some("one\n"));
    assert_eq!(read(&b2.join("y.txt")).as_deref(), Some("two\n"));
    assert!(!b1.join("y.txt").exists(), "folders do not leak into each other");
}

#[test]
fn push_only_folder_pushes_and_pull_only_folder_only_pulls() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("backup");
    let seed = Device::new(&sb, &bin(), "seed");
    let mirror = Device::new(&sb, &bin(), "mirror");
    let (src, dst) = (sb.path().join("src"), sb.path().join("dst"));
    seed.cli(&[
        "init",
        src.to_str().unwrap(),
        "--remote",
        remote.to_str().unwrap(),
        "--mode",
        "push-only",
    ]);
    mirror.cli(&[
        "init",
        dst.to_str().unwrap(),
        "--remote",
        remote.to_str().unwrap(),
        "--mode",
        "pull-only",
    ]);
    write(&src.join("a.txt"), "from the source\n");
    seed.cli(&["sync"]);
    mirror.cli(&["sync"]);
    assert_eq!(read(&dst.join("a.txt")).as_deref(), Some("from the source\n"));
    write(&dst.join("local-only.txt"), "never pushed\n");
    mirror.cli(&["sync"]);
    let files = sb.git(&remote, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(files, "a.txt", "a pull-only folder never commits or pushes");
    assert!(dst.join("local-only.txt").exists(), "and never deletes local files");
}

#[test]
fn sync_pause_and_resume_reach_a_running_daemon() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    let socket = p.a.data_dir().join("control.sock");
    wait_until("the daemon's control socket", CONVERGE, || socket.exists());
    write(&p.a_dir.join("now.txt"), "sync me now\n");
    let out = p.a.cli(&["sync"]);
    assert!(out.contains(&p.a_dir.display().to_string()), "{out}");
    let on_remote = p.sb.git(&p.remote_path, &["ls-tree", "--name-only", "main"]);
    assert!(on_remote.contains("now.txt"), "pushed when `sync` returns: {on_remote}\n{out}");

    let out = p.a.cli(&["pause"]);
    assert!(out.contains("paused (running daemon told)"), "{out}");
    let config = std::fs::read_to_string(p.a.config_dir().join("config.yaml")).unwrap();
    assert!(config.contains("paused: true"), "kept across restarts: {config}");
    write(&p.a_dir.join("later.txt"), "wait for resume\n");
    // Several debounce windows and poll intervals pass while paused.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let on_remote = p.sb.git(&p.remote_path, &["ls-tree", "--name-only", "main"]);
    assert!(!on_remote.contains("later.txt"), "nothing synced while paused");
    p.a.cli(&["resume"]);
    wait_until("the change made while paused to be pushed", CONVERGE, || {
        p.sb.git(&p.remote_path, &["ls-tree", "--name-only", "main"]).contains("later.txt")
    });
}

#[test]
fn status_reports_the_repository_size_growing_with_commits() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("a.md"), "alpha\n".repeat(100));
    p.a.cli(&["sync"]);
    let growth = |json: &str| -> serde_json::Value {
        let all: serde_json::Value = serde_json::from_str(json).unwrap();
        all[0]["growth"].clone()
    };
    let first = growth(&p.a.cli(&["status", "--json"]));
    assert_eq!(first["commits"], 1, "{first}");
    assert_eq!(first["worktree_bytes"], 600, "{first}");
    write(&p.a_dir.join("b.md"), "beta\n".repeat(100));
    p.a.cli(&["sync"]);
    let second = growth(&p.a.cli(&["status", "--json"]));
    assert_eq!(second["commits"], 2, "{second}");
    assert_eq!(second["worktree_bytes"], 1100, "{second}");
    assert!(
        second["git_bytes"].as_u64() > first["git_bytes"].as_u64(),
        "new objects grow .git: {first} {second}"
    );
    let text = p.a.cli(&["status"]);
    assert!(text.contains("size:      files 1.1 KiB (2 tracked)"), "{text}");
    assert!(text.contains("2 commit(s)"), "{text}");
}
