//! History, stats and throttle through the CLI, next to a running daemon.

use crate::common::*;

#[test]
fn stats_are_readable_while_the_daemon_writes() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    for i in 0..40 {
        write(&p.a_dir.join(format!("f{i}.txt")), "x\n");
        if i % 4 == 0 {
            let out = p.a.run(&["stats", "--json"]);
            assert!(
                out.status.success(),
                "stats while writing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(v["stats"]["total_syncs"].is_u64(), "{v}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    wait_until("the daemon to record successful syncs", CONVERGE, || {
        let v: serde_json::Value = serde_json::from_str(&p.a.cli(&["stats", "--json"])).unwrap();
        v["stats"]["successful_syncs"].as_u64().unwrap() >= 2
            && v["stats"]["total_files_changed"].as_u64().unwrap() == 40
    });
    let hourly: serde_json::Value =
        serde_json::from_str(&p.a.cli(&["hourly", "--json", "--hours", "2"])).unwrap();
    let total: u64 = hourly.as_array().unwrap().iter().map(|b| b["total"].as_u64().unwrap()).sum();
    assert!(total >= 2, "{hourly}");
    let history: serde_json::Value =
        serde_json::from_str(&p.a.cli(&["history", "--json", "--limit", "500"])).unwrap();
    let kinds: Vec<&str> =
        history.as_array().unwrap().iter().map(|r| r["event_type"].as_str().unwrap()).collect();
    for k in ["sync_start", "sync_success", "commit"] {
        assert!(kinds.contains(&k), "{k} recorded: {kinds:?}");
    }
}

#[test]
fn history_import_skips_bad_lines_with_their_numbers() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let file = sb.path().join("sync_history.jsonl");
    let now = chrono_like_now();
    write(
        &file,
        format!(
            "{{\"timestamp\": \"{now}\", \"event_type\": \"sync_success\", \"duration_sec\": 2.0, \"files_changed\": 3, \"commit_hash\": \"abc123\"}}\n\
             {{broken\n\
             {{\"timestamp\": \"{now}\", \"event_type\": \"sync_failure\", \"error_msg\": \"network down\"}}\n\
             {{\"event_type\": \"sync_success\"}}\n\
             {{\"timestamp\": \"{now}\", \"event_type\": \"rate_limit_hit\", \"reason\": \"20 in the last hour\"}}\n"
        ),
    );
    let out = dev.run(&["history", "import", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("imported 3 event(s)") && stdout.contains("skipped 2"), "{stdout}");
    assert!(stderr.contains("sync_history.jsonl:2:"), "line 2 named: {stderr}");
    assert!(stderr.contains("sync_history.jsonl:4:"), "line 4 named: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&dev.cli(&["stats", "--json"])).unwrap();
    let s = &v["stats"];
    assert_eq!(
        (s["total_syncs"].as_u64(), s["successful_syncs"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(s["success_rate"].as_f64(), Some(50.0));
    assert_eq!(s["total_files_changed"].as_u64(), Some(3));
    assert_eq!(s["rate_limit_hits"].as_u64(), Some(1));
    let cleared = dev.cli(&["history", "clear"]);
    assert!(cleared.contains("deleted 3"), "{cleared}");
}

/// Returns the current time as RFC 3339 (via `date`, to keep the test free of extra crates).
fn chrono_like_now() -> String {
    let out =
        std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn history_is_reconciled_from_git_log_after_rows_went_missing() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    write(&p.a_dir.join("a.txt"), "1\n");
    wait_until("alpha's commit on the remote", CONVERGE, || p.remote_commits() >= 1);
    p.a.kill9();
    // As if the process had died between the commit and its history row.
    p.a.cli(&["history", "clear"]);
    p.a.start();
    wait_until("the commit to be recorded again from git log", CONVERGE, || {
        p.a.cli(&["history", "--json", "--limit", "100"]).contains("reconciled from git log")
    });
}

#[test]
fn throttle_status_and_clear() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.set_env("SUPERSONIC_MAX_PER_HOUR", "2");
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    for i in 0..3 {
        write(&dir.join(format!("{i}.txt")), "x\n");
        dev.cli(&["sync"]);
    }
    let status: serde_json::Value =
        serde_json::from_str(&dev.cli(&["throttle", "status", "--json"])).unwrap();
    assert_eq!(status[0]["allowed"], false, "{status}");
    assert_eq!(status[0]["syncs_last_hour"], 2);
    assert!(status[0]["reason"].as_str().unwrap().contains("rate limit"), "{status}");
    assert_eq!(sb.commit_count(&remote, "main"), 2, "the third push waited");
    dev.cli(&["throttle", "clear"]);
    let status: serde_json::Value =
        serde_json::from_str(&dev.cli(&["throttle", "status", "--json"])).unwrap();
    assert_eq!(status[0]["allowed"], true, "{status}");
    dev.cli(&["sync"]);
    assert_eq!(sb.commit_count(&remote, "main"), 3, "pushed once cleared");
}
