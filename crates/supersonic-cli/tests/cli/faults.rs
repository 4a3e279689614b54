//! Faults: crashes, unreachable and hanging remotes. Nothing is ever lost.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn kill_9_mid_cycle_then_restart_recovers_and_loses_nothing() {
    let mut p = Pair::new(RemoteKind::Path);
    p.start();
    let mut rng = Rng::xorshift64(0x5eed_1234_abcd_0001);
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..6 {
        // Both sides write (so cycles include merges), then alpha dies at a random moment.
        for i in 0..150 {
            let name = format!("r{round}/a{i}.txt");
            write(&p.a_dir.join(&name), format!("alpha {round} {i}\n"));
            expected.insert(name, format!("alpha {round} {i}\n"));
        }
        let name = format!("r{round}/b.txt");
        write(&p.b_dir.join(&name), format!("beta {round}\n"));
        expected.insert(name, format!("beta {round}\n"));
        std::thread::sleep(Duration::from_millis(150 + rng.next_u64() % 900));
        p.a.kill9();
        if round % 2 == 0 {
            // What a crashed git leaves behind: an empty index.lock held by nobody.
            std::fs::write(p.a_dir.join(".git/index.lock"), b"").unwrap();
        }
        p.a.start();
    }
    let all_there = |dir: &std::path::Path| {
        expected.iter().all(|(k, v)| read(&dir.join(k)).as_deref() == Some(v.as_str()))
    };
    wait_until("every write of both devices on both devices", Duration::from_secs(120), || {
        all_there(&p.a_dir) && all_there(&p.b_dir)
    });
    p.wait_converged("both trees to converge");
    assert!(!p.a_dir.join(".git/index.lock").exists(), "the stale lock was removed");
    p.a.stop();
    p.b.stop();
    p.sb.fsck(&p.a_dir);
    p.sb.fsck(&p.b_dir);
    p.sb.fsck(&p.remote_path);
    assert!(p.a.log().contains("stale lock"), "the recovery is reported:\n{}", p.a.log());
}

#[test]
fn an_unreachable_remote_keeps_local_commits_and_pushes_when_back() {
    let mut p = Pair::new(RemoteKind::GitDaemon);
    p.start();
    write(&p.a_dir.join("before.txt"), "1\n");
    p.wait_converged("the first file to travel");
    p.daemon.as_mut().unwrap().stop();
    write(&p.a_dir.join("offline.txt"), "written while the remote is down\n");
    wait_until("alpha to commit locally while the remote is down", CONVERGE, || {
        p.sb.git(&p.a_dir, &["log", "-1", "--format=%B"]).contains("offline.txt")
    });
    wait_until("status to show the unpushed commit of the running daemon", CONVERGE, || {
        let status = p.a.cli(&["status", "--json"]);
        let st: serde_json::Value = serde_json::from_str(&status).unwrap();
        st[0]["unpushed_commits"].as_u64().unwrap() >= 1 && st[0]["running"].as_bool().unwrap()
    });
    assert!(!p.b_dir.join("offline.txt").exists());
    p.daemon.as_mut().unwrap().restart();
    wait_until("the offline edit to reach beta once the remote is back", CONVERGE, || {
        read(&p.b_dir.join("offline.txt")).as_deref() == Some("written while the remote is down\n")
    });
    assert!(
        p.a.log().contains("retrying in"),
        "the failure was retried with backoff:\n{}",
        p.a.log()
    );
}

#[test]
fn a_hanging_remote_is_cut_off_by_the_deadline() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.set_env("SUPERSONIC_NETWORK_TIMEOUT_SEC", "2");
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // Point the folder at a server that accepts and never answers.
    let hang = HangingServer::start();
    let config = dev.config_dir().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(remote.to_str().unwrap(), &hang.git_url("r.git")))
        .unwrap();
    write(&dir.join("a.txt"), "kept locally\n");
    let started = Instant::now();
    let out = dev.run(&["sync"]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a sync against a hanging remote fails");
    assert!(stderr.contains("timed out after 2 s"), "the error names the deadline: {stderr}");
    assert!(elapsed < Duration::from_secs(20), "cut off by the deadline, took {elapsed:?}");
    assert!(hang.accepted() >= 1, "git really connected to the hanging server");
    let log = sb.git(&dir, &["log", "-1", "--format=%B"]);
    assert!(log.contains("a.txt"), "the local commit was still made: {log}");
}

/// CPU seconds (user + system) the process `pid` has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn a_folder_moved_away_while_watched_stops_quietly_and_resumes_when_it_returns() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    write(&p.a_dir.join("before.md"), "before\n");
    wait_until("the first push", CONVERGE, || p.remote_commits() >= 1);
    let away = p.a_dir.with_extension("unmounted");
    std::fs::rename(&p.a_dir, &away).unwrap();
    wait_until("the folder to stop on its missing directory", CONVERGE, || {
        p.a.cli(&["status", "--json"]).contains("\"state\": \"error\"")
    });
    // Stopped means idle: a worker spinning on the vanished repository (it once did, in a
    // revwalk that kept failing) burns a whole core; polling each second costs a few percent.
    let pid = p.a.pid().unwrap();
    let before = cpu_secs(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_secs(pid) - before;
    assert!(used < 1.5, "the stopped daemon used {used:.2} s of CPU in 3 s: it spins");

    std::fs::rename(&away, &p.a_dir).unwrap();
    write(&p.a_dir.join("after.md"), "after the folder came back\n");
    wait_until("the folder to sync again once it is back", CONVERGE, || {
        let files = p.sb.git_output(&p.remote_path, &["ls-tree", "--name-only", "main"]);
        String::from_utf8_lossy(&files.stdout).contains("after.md")
    });
    assert!(p.a.stop(), "{}", p.a.log());
}

/// An SSH remote (a real sshd on 127.0.0.1) whose host key changes: the folder stops once with
/// the reason and the fix, does not retry in a loop, loses no edit, and pushes them all once the
/// user trusts the new key and retries.
#[test]
fn a_changed_host_key_stops_the_folder_once_and_nothing_is_pushed_until_the_user_trusts_it() {
    let sb = Sandbox::new();
    let Some(mut server) = SshServer::start(&sb) else { return };
    let remote = sb.bare_remote("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.set_env("GIT_SSH_COMMAND", &server.ssh_command());
    let dir = sb.path().join("alpha-notes");
    server.trust();
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", &server.url(&remote)]);
    let on_remote = |name: &str| {
        sb.git_output(&remote, &["cat-file", "-e", &format!("main:{name}")]).status.success()
    };
    dev.start();
    write(&dir.join("first.md"), "over ssh\n");
    wait_until("first.md to reach the remote over ssh", CONVERGE, || on_remote("first.md"));

    server.change_host_key();
    write(&dir.join("second.md"), "after the key changed\n");
    let status = |dev: &Device| -> serde_json::Value {
        serde_json::from_str(&dev.cli(&["status", "--json"])).unwrap()
    };
    wait_until("the folder to stop on the changed host key", CONVERGE, || {
        status(&dev)[0]["code"] == "remote_needs_attention"
    });
    let s = status(&dev);
    let error = s[0]["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("host key") || error.contains("host identification"), "{s}");
    let failures = |dev: &Device| {
        let rows: serde_json::Value =
            serde_json::from_str(&dev.cli(&["history", "--json", "--limit", "1000"])).unwrap();
        rows.as_array().unwrap().iter().filter(|r| r["event_type"] == "sync_failure").count()
    };
    let first = failures(&dev);
    // More edits while stopped: no new attempt against the impostor; the edit that met the
    // changed key is committed locally, the later one waits in the folder.
    write(&dir.join("third.md"), "still editing\n");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(failures(&dev), first, "no retry loop against a changed host key");
    assert!(sb.git(&dir, &["log", "--format=%B"]).contains("second.md"));
    assert!(dir.join("third.md").exists());
    assert!(!on_remote("second.md"), "nothing went to a server whose key changed");

    // The user checks the new key and accepts it, then asks to retry.
    server.trust();
    dev.cli(&["retry"]);
    wait_until("the held-back edits to reach the remote", CONVERGE, || {
        on_remote("second.md") && on_remote("third.md")
    });
    assert!(dev.stop(), "{}", dev.log());
    sb.fsck(&remote);
}
