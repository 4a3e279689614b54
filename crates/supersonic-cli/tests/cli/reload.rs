//! A running daemon follows its configuration: folders added (with `init`, the UI or by hand),
//! changed or removed are picked up without a restart, and a broken edit is reported while the
//! daemon keeps syncing with the last good configuration.

use std::time::Duration;

use crate::common::*;

#[test]
fn a_running_daemon_follows_folders_added_changed_and_removed_in_the_config() {
    let sb = Sandbox::new();
    let (r1, r2) = (sb.bare_remote("one"), sb.bare_remote("two"));
    let (f1, f2) = (sb.path().join("f1"), sb.path().join("f2"));
    let mut a = Device::new(&sb, &bin(), "alpha");
    a.cli(&["init", f1.to_str().unwrap(), "--remote", r1.to_str().unwrap()]);
    a.start();
    write(&f1.join("x.txt"), "one\n");
    wait_until("the first folder to be pushed", CONVERGE, || sb.commit_count(&r1, "main") >= 1);

    // Added while the daemon runs: synced without a restart.
    a.cli(&["init", f2.to_str().unwrap(), "--remote", r2.to_str().unwrap()]);
    write(&f2.join("y.txt"), "two\n");
    wait_until("the folder added while running to be pushed", CONVERGE, || {
        remote_has(&sb, &r2, "y.txt")
    });

    // A broken config: reported, and syncing goes on with the previous one.
    let cfg = a.config_dir().join("config.yaml");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}bogus: [\n")).unwrap();
    wait_until("the broken config to be reported", CONVERGE, || {
        a.log().contains("still syncing with the previous configuration")
    });
    write(&f2.join("y2.txt"), "still synced\n");
    wait_until("folders to keep syncing on the last good config", CONVERGE, || {
        remote_has(&sb, &r2, "y2.txt")
    });

    std::fs::write(&cfg, &good).unwrap();

    // A folder's own config file changed: that folder restarts with the new settings.
    write(&f1.join(".supersonic-sync.conf"), "sync:\n  rescan_interval_sec: 1800\n");
    wait_until("the folder to restart on its new settings", CONVERGE, || {
        a.log().contains("1 restarted")
    });
    write(&f1.join("after-restart.txt"), "restarted\n");
    wait_until("the restarted folder to sync", CONVERGE, || {
        remote_has(&sb, &r1, "after-restart.txt")
    });

    // Removed from the config (the good one, without f2): that folder stops, the other syncs.
    let f2_entry = format!("- path: {}\n", f2.display());
    let start = good.find(&f2_entry).expect("f2 in config.yaml");
    let end = good[start + 1..].find("\n- ").map_or(good.len(), |i| start + 1 + i + 1);
    let without = format!("{}{}", &good[..start], &good[end..]);
    std::fs::write(&cfg, &without).unwrap();
    wait_until("the removed folder to stop", CONVERGE, || a.log().contains("1 stopped"));
    let r2_commits = sb.commit_count(&r2, "main");
    write(&f2.join("not-synced.txt"), "no longer synced\n");
    write(&f1.join("z.txt"), "still synced\n");
    wait_until("the remaining folder to sync", CONVERGE, || remote_has(&sb, &r1, "z.txt"));
    // Two more polls of the remaining folder (one a second): a watched f2 would have pushed.
    let polls = a.log().matches("sync ok").count();
    wait_until("two more polls of the remaining folder", CONVERGE, || {
        a.log().matches("sync ok").count() >= polls + 2
    });
    assert_eq!(sb.commit_count(&r2, "main"), r2_commits, "a removed folder is not synced");
    let status = a.cli(&["status", "--json"]);
    assert!(!status.contains(&f2.display().to_string()), "status lists configured folders");
    assert!(a.stop(), "the daemon stops cleanly");
}

#[test]
fn serve_with_no_folder_starts_the_engine_and_syncs_the_first_folder_added() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("first");
    let dir = sb.path().join("first");
    let mut a = Device::new(&sb, &bin(), "alpha");
    a.start_with(&["serve", "--port", &supersonic_testkit::free_port().to_string()]);
    wait_until("serve to be listening", CONVERGE, || a.log().contains("open http://"));
    a.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    write(&dir.join("hello.txt"), "hello\n");
    wait_until("the first folder to be pushed by the running engine", CONVERGE, || {
        remote_has(&sb, &remote, "hello.txt")
    });
    assert!(a.stop(), "the daemon stops cleanly");
}

/// Whether the remote's `main` has `file` (false while it has no `main` yet).
fn remote_has(sb: &Sandbox, remote: &std::path::Path, file: &str) -> bool {
    let out = sb.git_output(remote, &["ls-tree", "-r", "--name-only", "main"]);
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l == file)
}

#[test]
fn webhooks_set_up_while_the_daemon_runs_are_sent_without_a_restart() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut a = Device::new(&sb, &bin(), "alpha");
    a.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    a.start();
    write(&dir.join("before.txt"), "no webhook yet\n");
    wait_until("the first sync", CONVERGE, || remote_has(&sb, &remote, "before.txt"));

    // The user turns webhooks on in the folder's config file while the daemon runs.
    let receiver = supersonic_testkit::Receiver::start(vec![]);
    write(
        &dir.join(".supersonic-sync.conf"),
        format!(
            "webhooks:\n  enabled: true\n  urls: [\"{}\"]\n  events: [sync_success]\n",
            receiver.url("/hook")
        ),
    );
    wait_until("the folder to restart on its new settings", CONVERGE, || {
        a.log().contains("1 restarted")
    });
    write(&dir.join("after.txt"), "with a webhook\n");
    let requests = receiver.wait_for(1, CONVERGE);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["event"], "sync_success", "{body}");
    assert_eq!(body["folder"], dir.display().to_string());
    assert!(a.stop(), "the daemon stops cleanly: {}", a.log());
}

/// Voluntary context switches of every thread of `pid`: how often it woke up.
fn wakeups(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .map(|v| v.trim().parse::<u64>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn an_idle_daemon_sleeps_its_config_watch_does_not_reload_on_its_own_reads() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut a = Device::new(&sb, &bin(), "alpha");
    a.set_env("SUPERSONIC_INTERVAL_SEC", "3600"); // no remote poll during the measurement
    a.set_env("SUPERSONIC_LOG", "info");
    a.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    a.start();
    write(&dir.join("a.md"), "a\n");
    wait_until("the first push", CONVERGE, || remote_has(&sb, &remote, "a.md"));
    std::thread::sleep(Duration::from_secs(1)); // the config watch's first settle is over
    let pid = a.pid().unwrap();
    let before = wakeups(pid);
    std::thread::sleep(Duration::from_secs(3));
    let woke = wakeups(pid) - before;
    // Idle means asleep until the next deadline (an hour away here). The config watch once
    // re-read the config every 300 ms, waking four threads each time (about 40 in 3 s).
    assert!(woke <= 6, "an idle daemon woke {woke} times in 3 s");
    assert!(a.stop(), "{}", a.log());
}
