//! The history store on real SQLite files: figures against hand-computed expectations,
//! retention, the seed's JSONL import, concurrent readers, throttle persistence, migrations.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use supersonic_core::history::{
    History, HistoryEvent, HourBucket, Stats, HISTORY_FILE, RATE_LIMIT_HIT, SYNC_FAILURE,
    SYNC_START, SYNC_SUCCESS,
};
use supersonic_core::throttle::{Limits, Throttle, Verdict};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join(HISTORY_FILE)
}

fn event(folder: &str, event_type: &str, time: &str) -> HistoryEvent {
    HistoryEvent::new(folder, event_type, at(time))
}

fn success(folder: &str, time: &str, duration: Option<f64>, files: Option<i64>) -> HistoryEvent {
    HistoryEvent {
        duration_sec: duration,
        files_changed: files,
        ..event(folder, SYNC_SUCCESS, time)
    }
}

fn failure(folder: &str, time: &str, error: &str) -> HistoryEvent {
    HistoryEvent { error_msg: Some(error.to_string()), ..event(folder, SYNC_FAILURE, time) }
}

/// The fixture's clock: the window is the three hours before it (`since` = 08:30).
const NOW: &str = "2025-11-04T11:30:00Z";
const SINCE: &str = "2025-11-04T08:30:00Z";

/// A mix of folders, outcomes and event types, with events just outside the window, recorded
/// out of time order.
fn fixture() -> Vec<HistoryEvent> {
    vec![
        // docs, outside the window: yesterday at the same hour, earlier today, 1 ms before since.
        success("docs", "2025-11-03T09:15:00Z", Some(50.0), Some(500)),
        success("docs", "2025-11-04T07:00:00Z", Some(9.0), Some(100)),
        failure("docs", "2025-11-04T08:29:59.999Z", "before the window"),
        // docs, inside.
        success("docs", "2025-11-04T08:30:00Z", Some(1.0), Some(2)),
        event("docs", SYNC_START, "2025-11-04T09:10:00Z"),
        success("docs", "2025-11-04T09:15:00Z", Some(2.5), Some(3)),
        failure(
            "docs",
            "2025-11-04T09:20:00Z",
            "fetch https://bob:s3cret@example.com/r.git failed",
        ),
        event("docs", RATE_LIMIT_HIT, "2025-11-04T09:40:00Z"),
        HistoryEvent { files_changed: Some(7), ..event("docs", "commit", "2025-11-04T10:05:00Z") },
        success("docs", "2025-11-04T10:10:00Z", Some(3.0), Some(0)),
        failure("docs", "2025-11-04T11:29:00Z", "timeout"),
        // music, inside.
        success("music", "2025-11-04T11:00:00Z", None, None),
        success("music", "2025-11-04T09:05:00Z", Some(4.5), Some(10)),
        event("music", RATE_LIMIT_HIT, "2025-11-04T10:50:00Z"),
        event("music", "conflict_detected", "2025-11-04T10:51:00Z"),
    ]
}

fn bucket(hour: &str, successful: u64, failed: u64) -> HourBucket {
    HourBucket { hour: hour.to_string(), total: successful + failed, successful, failed }
}

fn fixture_history(dir: &tempfile::TempDir) -> History {
    let h = History::open(&db_path(dir)).unwrap();
    for ev in fixture() {
        h.record(&ev).unwrap();
    }
    h
}

#[test]
fn stats_match_hand_computed_figures_for_all_folders_and_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let h = fixture_history(&dir);

    // In the window: successes docs 08:30 (1.0 s, 2 files), 09:15 (2.5 s, 3), 10:10 (3.0 s, 0),
    // music 09:05 (4.5 s, 10), 11:00 (no figures); failures docs 09:20, 11:29; hits docs 09:40,
    // music 10:50. The local commit's 7 files are not a sync's.
    let all = h.stats(None, at(SINCE)).unwrap();
    assert_eq!(
        all,
        Stats {
            total_syncs: 7,
            successful_syncs: 5,
            failed_syncs: 2,
            // 5 / 7.
            success_rate: 71.4,
            // (1.0 + 2.5 + 3.0 + 4.5) / 4: the success without a duration is left out.
            avg_duration_sec: 2.75,
            total_files_changed: 15,
            rate_limit_hits: 2,
            last_success: Some("2025-11-04T11:00:00Z".into()),
            last_failure: Some("2025-11-04T11:29:00Z".into()),
        },
        "events before `since` (even by 1 ms), starts, commits and conflicts are not syncs"
    );

    let docs = h.stats(Some("docs"), at(SINCE)).unwrap();
    assert_eq!(
        docs,
        Stats {
            total_syncs: 5,
            successful_syncs: 3,
            failed_syncs: 2,
            success_rate: 60.0,
            avg_duration_sec: 2.17, // 6.5 / 3 = 2.1666...
            total_files_changed: 5,
            rate_limit_hits: 1,
            last_success: Some("2025-11-04T10:10:00Z".into()),
            last_failure: Some("2025-11-04T11:29:00Z".into()),
        },
        "a folder's stats count only that folder's events"
    );
}

#[test]
fn stats_of_an_empty_window_are_zero_with_no_last_times() {
    let dir = tempfile::tempdir().unwrap();
    let h = fixture_history(&dir);
    assert_eq!(
        h.stats(None, at("2025-11-05T00:00:00Z")).unwrap(),
        Stats::default(),
        "nothing happened after the fixture's last event, so every figure is zero"
    );
    assert_eq!(h.stats(Some("unknown"), at(SINCE)).unwrap(), Stats::default());
}

#[test]
fn hourly_buckets_match_hand_computed_counts_and_are_zero_filled() {
    let dir = tempfile::tempdir().unwrap();
    let h = fixture_history(&dir);

    let all = h.hourly(None, at(SINCE), at(NOW)).unwrap();
    assert_eq!(
        all,
        vec![
            // 08:30 counts; the failure at 08:29:59.999 is before since.
            bucket("2025-11-04T08:00:00Z", 1, 0),
            bucket("2025-11-04T09:00:00Z", 2, 1),
            bucket("2025-11-04T10:00:00Z", 1, 0),
            bucket("2025-11-04T11:00:00Z", 1, 1),
        ],
        "one bucket per hour from since's hour to now's hour, counting syncs only"
    );
    let total: u64 = all.iter().map(|b| b.total).sum();
    assert_eq!(total, h.stats(None, at(SINCE)).unwrap().total_syncs, "buckets add up to stats");

    let music = h.hourly(Some("music"), at("2025-11-04T06:10:00Z"), at(NOW)).unwrap();
    assert_eq!(
        music,
        vec![
            bucket("2025-11-04T06:00:00Z", 0, 0),
            bucket("2025-11-04T07:00:00Z", 0, 0),
            bucket("2025-11-04T08:00:00Z", 0, 0),
            bucket("2025-11-04T09:00:00Z", 1, 0),
            bucket("2025-11-04T10:00:00Z", 0, 0),
            bucket("2025-11-04T11:00:00Z", 1, 0),
        ],
        "hours without syncs are present with zeros, so a sparkline has no gaps"
    );

    assert!(h.hourly(None, at(NOW), at(SINCE)).unwrap().is_empty(), "now before since: no hours");
    assert!(
        h.hourly(None, at("2000-01-01T00:00:00Z"), at(NOW)).is_err(),
        "a range of decades is refused rather than answered with 200,000 buckets"
    );
}

#[test]
fn recent_returns_newest_first_with_scrubbed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let h = fixture_history(&dir);

    let docs = h.recent(Some("docs"), 3).unwrap();
    let times: Vec<String> = docs.iter().map(|r| r.timestamp.to_rfc3339()).collect();
    assert_eq!(
        times,
        ["2025-11-04T11:29:00+00:00", "2025-11-04T10:10:00+00:00", "2025-11-04T10:05:00+00:00"],
        "ordered by event time, not by insertion"
    );
    assert!(docs.iter().all(|r| r.folder == "docs"));
    assert_eq!(h.recent(None, 100).unwrap().len(), fixture().len());

    let leaked = h.recent(None, 100).unwrap();
    let failure = leaked.iter().find(|r| r.timestamp == at("2025-11-04T09:20:00Z")).unwrap();
    let msg = failure.error_msg.as_deref().unwrap();
    assert!(!msg.contains("s3cret"), "credentials in a URL never reach the database: {msg}");
    assert!(msg.contains("example.com"), "the rest of the message is kept: {msg}");

    let json = serde_json::to_value(&docs[0]).unwrap();
    assert_eq!(json["timestamp"], "2025-11-04T11:29:00Z", "rows serialise RFC 3339 with Z");
    assert_eq!(json["event_type"], "sync_failure");
}

#[test]
fn prune_keeps_only_the_newest_entries_up_to_the_count_limit() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let t0 = at("2025-11-04T00:00:00Z");
    // Two events share each timestamp, so the cut falls between equal times.
    let events: Vec<HistoryEvent> = (0..10)
        .map(|i| HistoryEvent::new("docs", SYNC_SUCCESS, t0 + chrono::Duration::minutes(i / 2)))
        .collect();
    h.record_batch(&events).unwrap();

    assert_eq!(h.prune(20, 0, t0).unwrap(), 0, "under the limit nothing goes");
    assert_eq!(h.prune(5, 0, t0).unwrap(), 5, "10 events, limit 5");
    let kept: Vec<i64> = h.recent(None, 100).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(kept, vec![10, 9, 8, 7, 6], "the five newest survive, ties broken by row id");
    assert_eq!(h.prune(5, 0, t0).unwrap(), 0, "pruning again changes nothing");
}

#[test]
fn prune_removes_entries_older_than_the_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let now = at("2025-11-04T12:00:00Z");
    for days in [40, 31, 30, 29, 1] {
        h.record(&HistoryEvent::new("docs", SYNC_SUCCESS, now - chrono::Duration::days(days)))
            .unwrap();
    }
    assert_eq!(h.prune(0, 30, now).unwrap(), 2, "40 and 31 days old are past 30 days");
    let oldest = h.recent(None, 100).unwrap().last().unwrap().timestamp;
    assert_eq!(oldest, now - chrono::Duration::days(30), "exactly 30 days old is kept");
    assert_eq!(h.prune(0, 0, now).unwrap(), 0, "both limits 0: retention is off");
}

#[test]
fn import_of_a_seed_jsonl_file_skips_bad_lines_by_number_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let file = dir.path().join("sync_history.jsonl");
    let lines = [
        r#"{"timestamp": "2025-11-04T10:30:00Z", "event_type": "sync_start"}"#,
        concat!(
            r#"{"timestamp": "2025-11-04T10:30:03.420000", "event_type": "sync_success", "#,
            r#""duration_sec": 3.42, "files_changed": 5, "commit_hash": "abc123def456"}"#
        ),
        "",
        r#"{"timestamp": "2025-11-04T10:40:00Z", "event_type": "sync_failure", "error_msg": "#,
        concat!(
            r#"{"timestamp": "2025-11-04T10:45:00Z", "event_type": "sync_failure", "#,
            r#""error_msg": "push rejected", "attempt": 2}"#
        ),
        r#"{"timestamp": "last tuesday", "event_type": "sync_success"}"#,
        concat!(
            r#"{"timestamp": "2025-11-04T10:50:00+01:00", "event_type": "rate_limit_hit", "#,
            r#""reason": "20 in the last hour"}"#
        ),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let report = h.import_jsonl(&file, "docs").unwrap();
    assert_eq!(report.imported, 4, "the four good lines are imported; the blank one is ignored");
    let numbers: Vec<usize> = report.skipped.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![4, 6], "bad lines are reported by 1-based line number: {report:?}");
    assert!(report.skipped[0].1.contains("JSON"), "a truncated line is bad JSON: {report:?}");
    assert!(report.skipped[1].1.contains("timestamp"), "says which field is bad: {report:?}");

    let rows = h.recent(Some("docs"), 10).unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types, ["sync_failure", "sync_success", "sync_start", "rate_limit_hit"]);
    let ok = &rows[1];
    assert_eq!(ok.timestamp, at("2025-11-04T10:30:03.420Z"), "naive timestamps are UTC");
    assert_eq!((ok.duration_sec, ok.files_changed), (Some(3.42), Some(5)));
    assert_eq!(ok.commit_hash.as_deref(), Some("abc123def456"));
    assert_eq!(rows[0].data, Some(serde_json::json!({"attempt": 2})), "extra fields are kept");
    assert_eq!(rows[3].timestamp, at("2025-11-04T09:50:00Z"), "offsets are converted to UTC");
    assert!(h.has_commit("docs", "abc123def456").unwrap(), "imported commits reconcile");
}

#[test]
fn import_of_a_missing_file_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let missing = dir.path().join("nope.jsonl");
    let err = h.import_jsonl(&missing, "docs").unwrap_err();
    assert!(err.to_string().contains("nope.jsonl"), "the error names the file: {err}");
}

#[test]
fn a_reader_queries_stats_while_a_writer_records_2000_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(History::open(&path).unwrap()); // the daemon has created the database
    let t0 = at("2025-11-04T00:00:00Z");

    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let h = History::open(&path).unwrap();
            for i in 0..2000 {
                let ev = HistoryEvent::new("docs", SYNC_SUCCESS, t0 + chrono::Duration::seconds(i));
                h.record(&ev).unwrap();
            }
        })
    };

    let reader = History::open_readonly(&path).unwrap();
    let mut queries = 0;
    let mut last_seen = 0;
    loop {
        let done = writer.is_finished();
        let stats = reader.stats(None, t0).expect("WAL readers never fail while a writer writes");
        assert!(stats.total_syncs >= last_seen, "a reader never sees committed rows disappear");
        last_seen = stats.total_syncs;
        queries += 1;
        if done {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(last_seen, 2000, "the final query sees every committed event");
    assert!(queries >= 1);
    assert!(reader.record(&event("docs", SYNC_START, NOW)).is_err(), "readers cannot write");
}

#[test]
fn a_readonly_open_of_a_missing_database_answers_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let h = History::open_readonly(&path).unwrap();
    assert_eq!(h.stats(None, at(SINCE)).unwrap(), Stats::default());
    assert!(h.recent(None, 50).unwrap().is_empty());
    assert_eq!(h.hourly(None, at(SINCE), at(NOW)).unwrap().len(), 4, "zero-filled hours");
    assert!(h.record(&event("docs", SYNC_START, NOW)).is_err(), "a reader never writes");
    assert!(!path.exists(), "a reader does not create the database");
}

#[test]
fn a_readonly_open_reads_a_database_whose_daemon_has_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let h = History::open(&path).unwrap();
        h.record(&success("docs", "2025-11-04T10:00:00Z", Some(1.0), Some(1))).unwrap();
    } // closing the last connection checkpoints and removes the WAL files
    let h = History::open_readonly(&path).unwrap();
    assert_eq!(h.stats(None, at(SINCE)).unwrap().total_syncs, 1);
}

#[test]
fn throttle_state_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let limits = Limits {
        max_per_hour: 3,
        backoff_enabled: true,
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(3600),
    };
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_762_250_000);
    let mut throttle = Throttle::default();
    throttle.record_attempt(t0);
    throttle.record_attempt(t0 + Duration::from_secs(1));
    throttle.record_failure(&limits, t0 + Duration::from_secs(2), 0.5);
    throttle.record_failure(&limits, t0 + Duration::from_secs(3), 0.5);

    History::open(&path).unwrap().save_throttle("docs", &throttle).unwrap();
    let h = History::open(&path).unwrap();
    let mut loaded = h.load_throttle("docs").unwrap().expect("saved state is found after reopen");
    assert_eq!(format!("{loaded:?}"), format!("{throttle:?}"), "window and backoff round-trip");
    let later = t0 + Duration::from_secs(10);
    assert_eq!(loaded.check(&limits, later), throttle.check(&limits, later));
    assert!(matches!(loaded.check(&limits, later), Verdict::Blocked { .. }), "still backing off");
    assert_eq!(loaded.consecutive_failures(), 2);

    h.save_throttle("docs", &Throttle::default()).unwrap();
    assert_eq!(h.load_throttle("docs").unwrap().unwrap().consecutive_failures(), 0, "replaced");
    assert!(h.load_throttle("music").unwrap().is_none(), "a folder never saved has no state");
    h.save_throttle("music", &throttle).unwrap();
    assert_eq!(h.clear_throttle(Some("docs")).unwrap(), 1);
    assert!(h.load_throttle("docs").unwrap().is_none());
    assert_eq!(h.clear_throttle(None).unwrap(), 1, "music's state was the one left");
}

#[test]
fn migrations_are_idempotent_when_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    History::open(&path).unwrap().record(&event("docs", SYNC_START, NOW)).unwrap();
    let h = History::open(&path).unwrap();
    assert_eq!(h.recent(None, 10).unwrap().len(), 1, "reopening keeps the rows");
    drop(h);
    let version = user_version(&path);
    assert_eq!(version, 2, "two migrations (events, hourly rollup), each applied once");
    History::open(&path).unwrap();
    assert_eq!(user_version(&path), version, "a third open migrates nothing");
}

#[test]
fn a_database_from_a_newer_build_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(History::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    for result in [History::open(&path), History::open_readonly(&path)] {
        let err = result.unwrap_err().to_string();
        assert!(err.contains("newer") && err.contains(HISTORY_FILE), "says why and where: {err}");
    }
}

#[test]
fn has_commit_finds_only_the_folders_own_commits() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let commit =
        HistoryEvent { commit_hash: Some("c0ffee".into()), ..event("docs", "commit", NOW) };
    h.record(&commit).unwrap();
    assert!(h.has_commit("docs", "c0ffee").unwrap());
    assert!(!h.has_commit("music", "c0ffee").unwrap(), "another folder's commit does not count");
    assert!(!h.has_commit("docs", "c0ff").unwrap(), "hashes compare exactly");
}

#[test]
fn clear_removes_one_folders_events_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let h = fixture_history(&dir);
    assert_eq!(h.clear(Some("music")).unwrap(), 4);
    assert!(h.recent(Some("music"), 10).unwrap().is_empty());
    assert_eq!(h.clear(None).unwrap(), fixture().len() - 4, "the rest were docs' events");
}

#[test]
fn history_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<History>();
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let rows = std::thread::spawn(move || h.recent(None, 1).unwrap()).join().unwrap();
    assert!(rows.is_empty());
}

/// Stats and hourly buckets computed the slow way, from every row `recent` returns: what the
/// rollup-backed queries must agree with.
fn brute_force(
    h: &History,
    folder: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Stats, Vec<HourBucket>) {
    let rows: Vec<_> = h
        .recent(folder, usize::MAX >> 1)
        .unwrap()
        .into_iter()
        .filter(|r| r.timestamp >= since)
        .collect();
    let of = |t: &'static str| rows.iter().filter(move |r| r.event_type == t);
    let ok = of(SYNC_SUCCESS).count() as u64;
    let failed = of(SYNC_FAILURE).count() as u64;
    let durations: Vec<f64> = of(SYNC_SUCCESS).filter_map(|r| r.duration_sec).collect();
    let avg = if durations.is_empty() {
        0.0
    } else {
        (durations.iter().sum::<f64>() / durations.len() as f64 * 100.0).round() / 100.0
    };
    let last = |t: &'static str| {
        of(t)
            .map(|r| r.timestamp)
            .max()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    };
    let stats = Stats {
        total_syncs: ok + failed,
        successful_syncs: ok,
        failed_syncs: failed,
        success_rate: if ok + failed == 0 {
            0.0
        } else {
            (1000.0 * ok as f64 / (ok + failed) as f64).round() / 10.0
        },
        avg_duration_sec: avg,
        total_files_changed: of(SYNC_SUCCESS).filter_map(|r| r.files_changed).sum::<i64>() as u64,
        rate_limit_hits: of(RATE_LIMIT_HIT).count() as u64,
        last_success: last(SYNC_SUCCESS),
        last_failure: last(SYNC_FAILURE),
    };
    let hour_ms = 3_600_000;
    let first = since.timestamp_millis().div_euclid(hour_ms) * hour_ms;
    let buckets = (now.timestamp_millis().div_euclid(hour_ms) - first / hour_ms) + 1;
    let hourly = (0..buckets)
        .map(|n| {
            let start = first + n * hour_ms;
            let in_hour = |t: &'static str| {
                of(t)
                    .filter(|r| {
                        let ms = r.timestamp.timestamp_millis();
                        ms >= start && ms < start + hour_ms
                    })
                    .count() as u64
            };
            let label = DateTime::from_timestamp_millis(start)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            bucket(&label, in_hour(SYNC_SUCCESS), in_hour(SYNC_FAILURE))
        })
        .collect();
    (stats, hourly)
}

#[test]
fn rollup_backed_figures_equal_a_brute_force_count_through_records_prunes_and_clears() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&db_path(&dir)).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let now = at(NOW);
    let types = [SYNC_SUCCESS, SYNC_SUCCESS, SYNC_FAILURE, RATE_LIMIT_HIT, SYNC_START, "commit"];
    let check = |h: &History, step: &str| {
        // Windows starting on, just after and just before hour boundaries, and mid-hour.
        for since_min in [0, 1, 59, 60, 61, 150, 24 * 60, 24 * 60 + 7, 72 * 60 + 30] {
            let since = now - chrono::Duration::minutes(since_min);
            for folder in [None, Some("docs"), Some("music")] {
                let (stats, hourly) = brute_force(h, folder, since, now);
                let mut got = h.stats(folder, since).unwrap();
                // Rounding to 2 decimals of sums taken in another order may differ by one unit.
                if (got.avg_duration_sec - stats.avg_duration_sec).abs() <= 0.0100001 {
                    got.avg_duration_sec = stats.avg_duration_sec;
                }
                assert_eq!(got, stats, "{step}: stats of {folder:?} since {since}");
                assert_eq!(
                    h.hourly(folder, since, now).unwrap(),
                    hourly,
                    "{step}: hourly of {folder:?} since {since}"
                );
            }
        }
    };
    for round in 0..4 {
        let batch: Vec<HistoryEvent> = (0..400)
            .map(|_| {
                let back_ms = rng.random_range(0..80 * 3_600_000_i64);
                let mut ev = HistoryEvent::new(
                    ["docs", "music"][rng.random_range(0..2)],
                    types[rng.random_range(0..types.len())],
                    now - chrono::Duration::milliseconds(back_ms),
                );
                if rng.random_bool(0.8) {
                    ev.duration_sec = Some(f64::from(rng.random_range(1..5000)) / 100.0);
                }
                if rng.random_bool(0.7) {
                    ev.files_changed = Some(rng.random_range(0..50));
                }
                ev
            })
            .collect();
        if round % 2 == 0 {
            h.record_batch(&batch).unwrap();
        } else {
            for ev in &batch {
                h.record(ev).unwrap();
            }
        }
        check(&h, &format!("round {round} recorded"));
        h.prune(600 + 100 * round, 3, now).unwrap();
        check(&h, &format!("round {round} pruned"));
    }
    h.clear(Some("music")).unwrap();
    check(&h, "music cleared");
    h.clear(None).unwrap();
    check(&h, "all cleared");
}

#[test]
fn a_version_1_database_gets_its_rollup_filled_from_the_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let expected = {
        let h = fixture_history(&dir);
        (h.stats(None, at(SINCE)).unwrap(), h.hourly(Some("docs"), at(SINCE), at(NOW)).unwrap())
    };
    // Take the file back to schema 1: no rollup, no triggers.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_hourly_insert; DROP TRIGGER events_hourly_delete; \
         DROP TABLE hourly; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let h = History::open(&path).unwrap();
    assert_eq!(user_version(&path), 2);
    assert_eq!(
        (h.stats(None, at(SINCE)).unwrap(), h.hourly(Some("docs"), at(SINCE), at(NOW)).unwrap()),
        expected,
        "the migration fills the rollup from the rows already there"
    );
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap()
}
