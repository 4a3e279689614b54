//! The folder cycle on real repositories.

use supersonic_core::batcher::Batch;
use supersonic_core::config::{FolderConfig, FolderSettings, Mode};
use supersonic_core::events::{Event, EventBus};
use supersonic_core::folder::{Folder, Trigger};
use supersonic_core::paths::Dirs;

use super::*;

fn folder(f: &Fixture, bus: &EventBus) -> Folder {
    let config = FolderConfig {
        path: f.dir.clone(),
        remote: f.remote.display().to_string(),
        branch: "main".into(),
        mode: Mode::TwoWay,
        paused: false,
        settings: FolderSettings::default(),
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
