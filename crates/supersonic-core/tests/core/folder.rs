//! The folder cycle on real repositories.

use supersonic_core::batcher::Batch;
use supersonic_core::config::{FolderConfig, FolderSettings, Mode};
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
    let config = FolderConfig {
        path: f.dir.clone(),
        remote: remote.to_string(),
        branch: "main".into(),
        mode: Mode::TwoWay,
        paused: false,
        settings,
    };
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
        write(&f.dir.join(format!("d{}/f{i}.txt", i % 7)), &format!("{i}\n"));
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
    let config = FolderConfig {
        path: f.dir.clone(),
        remote: f.remote.display().to_string(),
        branch: "main".into(),
        mode: Mode::TwoWay,
        paused: false,
        settings: FolderSettings::default(),
    };
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
