//! The folder cycle on real repositories.

use supersonic_core::batcher::Batch;
use supersonic_core::config::FolderSettings;
use supersonic_core::events::{Event, EventBus};
use supersonic_core::folder::{Folder, Trigger};
use supersonic_core::paths::Dirs;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::*;

fn folder(f: &Fixture, bus: &EventBus) -> Folder {
    folder_with(f, bus, FolderSettings::default(), &f.remote.display().to_string())
}

fn folder_with(f: &Fixture, bus: &EventBus, settings: FolderSettings, remote: &str) -> Folder {
    let config = folder_config(&f.dir, remote, settings);
    let dirs = Dirs { config_dir: f.sb.path().join("cfg"), data_dir: f.sb.path().join("data") };
    Folder::open(config, &dirs, identity("alpha"), bus.clone()).unwrap()
}

#[test]
fn a_cycle_commits_pushes_and_reports_events() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut folder = folder(&f, &bus);
    write(&f.dir.join("n.md"), "note\n");
    let report = folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    assert!(report.commit.is_some() && report.pushed, "{report:?}");
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 1);
    let kinds: Vec<&'static str> = events
        .try_iter()
        .map(|e| match e {
            Event::Committed { .. } => "committed",
            Event::SyncStart { .. } => "start",
            Event::SyncSuccess { .. } => "success",
            _ => "other",
        })
        .filter(|k| *k != "other")
        .collect();
    assert_eq!(kinds, vec!["committed", "start", "success"]);
}

#[test]
fn long_work_reports_progress_ending_with_a_finished_event() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut folder = folder(&f, &bus);
    folder.set_progress_delay(Duration::ZERO);
    for i in 0..300 {
        write(&f.dir.join(format!("d{}/f{i}.txt", i % 7)), format!("{i}\n"));
    }
    let report = folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    assert!(report.pushed, "{report:?}");
    let mut by_op: BTreeMap<String, Vec<(u64, Option<u64>, bool)>> = BTreeMap::new();
    for e in events.try_iter() {
        if let Event::Progress { operation, done, total, finished, folder, .. } = e {
            assert_eq!(folder, f.dir.display().to_string());
            let op = serde_json::to_value(operation).unwrap().as_str().unwrap().to_string();
            by_op.entry(op).or_default().push((done, total, finished));
        }
    }
    let stage = &by_op["stage"];
    assert_eq!(stage.last(), Some(&(300, Some(300), true)), "staging ends at 300 of 300");
    assert!(stage.windows(2).all(|w| w[0].0 <= w[1].0), "staging only moves forward");
    assert_eq!(stage.iter().filter(|p| p.2).count(), 1, "one finished event");
    // The push of 300 new files goes through git's own progress ("Writing objects").
    let push = by_op.get("push").expect("push progress from git --progress");
    assert!(push.last().is_some_and(|p| p.2), "the push ends with a finished event: {push:?}");
    assert!(push.iter().any(|p| p.1.is_some_and(|t| t > 0)), "object counts: {push:?}");
}

#[test]
fn a_second_engine_cannot_open_the_same_folder() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let _first = folder(&f, &bus);
    let config = folder_config(&f.dir, &f.remote.display().to_string(), FolderSettings::default());
    let dirs = Dirs { config_dir: f.sb.path().join("c2"), data_dir: f.sb.path().join("d2") };
    let err = Folder::open(config, &dirs, identity("alpha"), bus).unwrap_err();
    assert!(err.to_string().contains("already being synced"), "{err}");
}

#[test]
fn an_unreachable_remote_fails_transiently_and_keeps_the_local_commit() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut folder = folder(&f, &bus);
    std::fs::rename(&f.remote, f.sb.path().join("gone.git")).unwrap();
    write(&f.dir.join("n.md"), "note\n");
    let err = folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap_err();
    assert_eq!(
        err.class(),
        supersonic_core::FailureClass::NeedsAttention,
        "a missing repo needs the user: {err}"
    );
    assert!(f.repo.head().unwrap().is_some(), "the local commit was made");
    assert!(events.try_iter().any(|e| matches!(e, Event::SyncFailure { .. })));
}

static OFFSET_SECS: AtomicU64 = AtomicU64::new(0);

/// The folder's clock in the throttle test: real time plus a test-controlled offset.
fn shifted_clock() -> SystemTime {
    SystemTime::now() + Duration::from_secs(OFFSET_SECS.load(Ordering::SeqCst))
}

#[test]
fn the_fourth_push_in_an_hour_waits_and_the_waiting_commits_go_out_together() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut settings = FolderSettings::default();
    settings.sync.max_per_hour = 3;
    let mut folder = folder_with(&f, &bus, settings, &f.remote.display().to_string());
    folder.set_clock(shifted_clock);
    for i in 0..3 {
        write(&f.dir.join(format!("{i}.txt")), "x\n");
        let r = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
        assert!(r.pushed, "push {i} is within the limit");
    }
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 3);
    for i in 3..5 {
        write(&f.dir.join(format!("{i}.txt")), "x\n");
        let r = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
        assert!(r.commit.is_some(), "commit {i} still happens locally");
        assert!(r.throttled.is_some() && !r.pushed, "push {i} waits: {r:?}");
    }
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 3, "nothing pushed while blocked");
    let hits = events.try_iter().filter(|e| matches!(e, Event::RateLimitHit { .. })).count();
    assert_eq!(hits, 1, "rate_limit_hit is reported once per block, not per attempt");
    assert!(folder.retry_at().is_some(), "a retry is scheduled for when the window allows");
    OFFSET_SECS.store(3601, Ordering::SeqCst);
    let r = folder.cycle(None, Trigger::Retry).unwrap();
    assert!(r.pushed, "allowed again an hour later");
    assert_eq!(
        f.sb.commit_count(&f.remote, "main"),
        5,
        "both waiting commits went out in one push"
    );
}

#[test]
fn a_restart_keeps_throttle_and_backoff_state() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut settings = FolderSettings::default();
    settings.sync.max_per_hour = 2;
    {
        let mut folder = folder_with(&f, &bus, settings.clone(), &f.remote.display().to_string());
        for i in 0..2 {
            write(&f.dir.join(format!("{i}.txt")), "x\n");
            folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
        }
    }
    let mut folder = folder_with(&f, &bus, settings.clone(), &f.remote.display().to_string());
    let now = folder.now();
    assert_eq!(folder.throttle().clone().ops_in_window(now), 2, "the window survived the restart");
    write(&f.dir.join("2.txt"), "x\n");
    let r = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
    assert!(r.throttled.is_some(), "still rate limited after the restart");
    assert!(r.commit.is_some(), "committed locally");
    assert_eq!(
        f.sb.git(&f.dir, &["status", "--porcelain"]),
        "",
        "no push, yet the index is on disk after the cycle"
    );
    drop(folder);

    // Backoff: a remote that refuses connections fails transiently.
    let port = supersonic_testkit::free_port();
    let down = format!("git://127.0.0.1:{port}/r.git");
    settings.sync.max_per_hour = 100;
    {
        let mut folder = folder_with(&f, &bus, settings.clone(), &down);
        folder.clear_throttle();
        let err = folder.cycle(None, Trigger::Manual).unwrap_err();
        assert_eq!(err.class(), supersonic_core::FailureClass::Transient, "{err}");
        assert_eq!(folder.throttle().consecutive_failures(), 1);
    }
    let folder = folder_with(&f, &bus, settings, &down);
    assert_eq!(folder.throttle().consecutive_failures(), 1, "failures survived the restart");
    assert!(
        folder.throttle().backoff_until().is_some_and(|u| u > SystemTime::now()),
        "and the backoff"
    );
}

static STALE_OFFSET_SECS: AtomicU64 = AtomicU64::new(0);

/// The freshness test's clock: real time plus its own offset.
fn stale_clock() -> SystemTime {
    SystemTime::now() + Duration::from_secs(STALE_OFFSET_SECS.load(Ordering::SeqCst))
}

#[test]
fn freshness_alerts_are_raised_once_and_cleared_when_the_remote_is_back() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut settings = FolderSettings::default();
    settings.freshness.unpushed_max_min = 60;
    settings.freshness.remote_unreached_max_min = 240;
    let mut folder = folder_with(&f, &bus, settings, &f.remote.display().to_string());
    folder.set_clock(stale_clock);
    let moved = f.remote.with_extension("away");
    std::fs::rename(&f.remote, &moved).unwrap();
    write(&f.dir.join("n.md"), "written while the remote is gone\n");
    assert!(folder.cycle(Some(Batch::Full), Trigger::Changes).is_err(), "the push fails");
    let stale = |events: &crossbeam_channel::Receiver<Event>| -> Vec<(String, bool)> {
        events
            .try_iter()
            .filter_map(|e| match e {
                Event::Stale { alert, cleared, .. } => Some((alert, cleared)),
                _ => None,
            })
            .collect()
    };
    assert!(stale(&events).is_empty(), "fresh work is not stale");

    STALE_OFFSET_SECS.store(5 * 3600, Ordering::SeqCst);
    let _ = folder.cycle(None, Trigger::Poll);
    let raised = stale(&events);
    assert!(raised.contains(&("unpushed".into(), false)), "{raised:?}");
    assert!(raised.contains(&("remote_unreached".into(), false)), "{raised:?}");
    let status = folder.status();
    assert_eq!(status.stale.len(), 2, "{:?}", status.stale);
    assert!(status.stale.iter().any(|m| m.contains("1 commit(s) have waited 5 h")), "{status:?}");
    let _ = folder.cycle(None, Trigger::Poll);
    assert!(stale(&events).is_empty(), "raised once, not per poll");

    std::fs::rename(&moved, &f.remote).unwrap();
    let report = folder.cycle(None, Trigger::Manual).unwrap();
    assert!(report.pushed, "{report:?}");
    let cleared = stale(&events);
    assert!(cleared.contains(&("unpushed".into(), true)), "{cleared:?}");
    assert!(cleared.contains(&("remote_unreached".into(), true)), "{cleared:?}");
    assert!(folder.status().stale.is_empty());
}

#[test]
fn a_change_is_pushed_without_a_fetch_unless_the_remote_moved() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut folder = folder(&f, &bus);
    // Every fetch runs the remote's upload-pack: a wrapper that counts its runs.
    let log = f.sb.path().join("fetches.log");
    let wrapper = f.sb.path().join("upload-pack");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\necho fetch >> '{}'\nexec git-upload-pack \"$@\"\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    f.sb.git(&f.dir, &["config", "remote.origin.uploadpack", wrapper.to_str().unwrap()]);
    let fetches = || std::fs::read_to_string(&log).map_or(0, |l| l.lines().count());
    write(&f.dir.join("a.md"), "one\n");
    folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    let before = fetches();
    assert!(before >= 1, "a manual sync fetches (the wrapper sees it)");

    // Nobody else pushed: one push, no fetch.
    write(&f.dir.join("a.md"), "two\n");
    let report = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
    assert!(report.pushed && !report.pulled, "{report:?}");
    assert_eq!(fetches(), before, "no fetch when the push went through");
    // The index, written while the push ran, is on disk: git sees a clean tree.
    assert_eq!(f.sb.git(&f.dir, &["status", "--porcelain"]), "");
    assert_eq!(f.sb.git(&f.remote, &["show", "main:a.md"]), "two");

    // Another device pushed meanwhile: the push is refused, then fetch, merge, push.
    let peer = f.sb.clone(f.remote.to_str().unwrap(), "peer");
    write(&peer.join("b.md"), "from the peer\n");
    f.sb.git(&peer, &["add", "-A"]);
    f.sb.git(&peer, &["commit", "-qm", "peer"]);
    f.sb.git(&peer, &["push", "-q", "origin", "HEAD:main"]);
    write(&f.dir.join("a.md"), "three\n");
    let report = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap();
    assert!(report.pushed && report.pulled, "{report:?}");
    assert!(fetches() > before, "the refused push led to a fetch");
    assert_eq!(f.sb.git(&f.dir, &["status", "--porcelain"]), "");
    assert_eq!(f.sb.git(&f.remote, &["show", "main:a.md"]), "three");
    assert_eq!(f.sb.git(&f.remote, &["show", "main:b.md"]), "from the peer");
    assert_eq!(std::fs::read_to_string(f.dir.join("b.md")).unwrap(), "from the peer\n");
}

#[test]
fn repository_growth_is_reported_and_grows_with_commits() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut folder = folder(&f, &bus);
    write(&f.dir.join("a.md"), "first note\n".repeat(100));
    folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    folder.measure_growth();
    let first = folder.status().growth.expect("measured");
    assert_eq!(first.commits, 1, "one commit so far: {first:?}");
    assert_eq!(first.tracked_files, 1);
    assert_eq!(first.worktree_bytes, 1100, "the index records the tracked file's size");
    assert!(first.git_bytes > 0 && first.loose_objects > 0, "{first:?}");
    write(&f.dir.join("b.md"), "second note\n".repeat(200));
    folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    folder.measure_growth();
    let second = folder.status().growth.expect("measured");
    assert_eq!(second.commits, 2, "{second:?}");
    assert_eq!(second.worktree_bytes, 1100 + 2400);
    assert!(second.git_bytes > first.git_bytes, "new objects grow .git: {first:?} {second:?}");
    assert!(second.loose_objects > first.loose_objects);
}

#[test]
fn gc_records_sizes_before_and_after_and_keeps_the_repository_sound() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut folder = folder(&f, &bus);
    // 20 versions of a 16 KiB file that hardly compresses alone: loose, each version is a
    // whole object; packed, they are deltas of one another.
    let mut x: u64 = 42;
    let base: String = (0..2048)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            format!("{:07x}\n", x >> 36)
        })
        .collect();
    for i in 0..20 {
        write(&f.dir.join("big.txt"), format!("{base}version {i}\n"));
        folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    }
    let (before, after) = folder.gc(false).unwrap();
    assert!(after < before, "packing 20 versions as deltas shrinks .git: {before} -> {after}");
    let growth = folder.status().growth.expect("measured by gc");
    assert_eq!(growth.loose_objects, 0, "every object is reachable, so packed: {growth:?}");
    assert!(growth.last_gc.is_some());
    f.sb.fsck(&f.dir);
    let history = supersonic_core::history::History::open(
        &f.sb.path().join("data").join(supersonic_core::history::HISTORY_FILE),
    )
    .unwrap();
    let rows = history.recent(None, 100).unwrap();
    let gc = rows.iter().find(|r| r.event_type == "gc").expect("a gc row in history");
    let data = gc.data.as_ref().unwrap();
    assert_eq!(data["git_bytes_before"], before);
    assert_eq!(data["git_bytes_after"], after);
    write(&f.dir.join("after.md"), "after gc\n");
    let report = folder.cycle(Some(Batch::Full), Trigger::Manual).unwrap();
    assert!(report.pushed, "syncing goes on after gc: {report:?}");
    assert_eq!(f.sb.commit_count(&f.remote, "main"), 21);
}

#[test]
fn the_worker_runs_gc_on_schedule_without_disturbing_syncing() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut settings = FolderSettings::default();
    settings.sync.gc_interval_hours = 1.0 / 3600.0; // every second, after half a second quiet
    settings.sync.debounce_ms = 50;
    let folder = folder_with(&f, &bus, settings, &f.remote.display().to_string());
    let (tx, rx) = crossbeam_channel::unbounded();
    let (changed_tx, _changed_rx) = crossbeam_channel::unbounded();
    let worker =
        std::thread::spawn(move || supersonic_core::folder::run_worker(folder, rx, changed_tx));
    let history = supersonic_core::history::History::open(
        &f.sb.path().join("data").join(supersonic_core::history::HISTORY_FILE),
    )
    .unwrap();
    let gc_rows = || {
        history
            .recent(None, 1000)
            .unwrap()
            .into_iter()
            .filter(|r| r.event_type == "gc" && r.data.as_ref().is_some_and(|d| d["auto"] == false))
            .count()
    };
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let end = std::time::Instant::now() + Duration::from_secs(60);
        while !cond() {
            assert!(std::time::Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for i in 0..5 {
        write(&f.dir.join(format!("n{i}.md")), format!("note {i}\n"));
        let n = i + 1;
        wait("the edit to reach the remote", &|| f.sb.commit_count(&f.remote, "main") >= n);
    }
    wait("two scheduled gc runs", &|| gc_rows() >= 2);
    write(&f.dir.join("late.md"), "written between gc runs\n");
    wait("the late edit to reach the remote", &|| f.sb.commit_count(&f.remote, "main") >= 6);
    tx.send(supersonic_core::folder::Command::Shutdown).unwrap();
    worker.join().unwrap();
    f.sb.fsck(&f.dir);
    let status = supersonic_core::status::read(
        &f.sb.path().join("data").join("status"),
        &supersonic_core::paths::folder_id(&f.dir),
    );
    let growth = status.and_then(|s| s.growth).expect("the worker publishes growth");
    assert!(growth.last_gc.is_some() && growth.commits >= 5, "{growth:?}");
}

#[test]
fn below_the_free_space_guard_the_folder_stops_once_and_does_not_retry_by_itself() {
    let f = Fixture::new();
    let bus = EventBus::default();
    let events = bus.subscribe();
    let mut settings = FolderSettings::default();
    settings.sync.min_free_disk_mb = 1 << 40; // an exabyte: no disk has that much free
    let mut folder = folder_with(&f, &bus, settings, &f.remote.display().to_string());
    write(&f.dir.join("n.md"), "note\n");
    let err = folder.cycle(Some(Batch::Full), Trigger::Changes).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, supersonic_core::Error::DiskFull { .. })
            && message.contains("disk full")
            && message.contains("sync.min_free_disk_mb")
            && message.contains("free some space"),
        "{message}"
    );
    assert_eq!(err.code(), "folder_stopped");
    assert!(f.repo.head().unwrap().is_none(), "nothing was committed");
    let failures = |events: &crossbeam_channel::Receiver<Event>| {
        events.try_iter().filter(|e| matches!(e, Event::SyncFailure { .. })).count()
    };
    assert_eq!(failures(&events), 1);
    // Polls, changes and rescans wait for free space instead of failing again and again.
    for trigger in [Trigger::Poll, Trigger::Changes, Trigger::Rescan] {
        folder.cycle(Some(Batch::Full), trigger).unwrap();
    }
    assert_eq!(failures(&events), 0, "no retry loop while the disk is still full");
    // The user's "Sync now" does try (and says the same).
    let again = folder.cycle(None, Trigger::Manual).unwrap_err();
    assert!(again.to_string().contains("disk full"), "{again}");
}
