//! History queries at 1,000,000 rows (issue 4's "Must show"): inserts a month of events for four
//! folders in batched transactions, then prints median/min/max of the dashboard's queries.
//! Figures are printed, not asserted: `cargo bench -p supersonic-core --bench history`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use supersonic_core::history::{
    History, HistoryEvent, COMMIT, HISTORY_FILE, RATE_LIMIT_HIT, SYNC_FAILURE, SYNC_START,
    SYNC_SUCCESS,
};

const ROWS: i64 = 1_000_000;
const BATCH: i64 = 50_000;
const SPAN_DAYS: i64 = 30;
const RUNS: usize = 20;
const FOLDERS: [&str; 4] = ["docs", "music", "photos", "code"];

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(HISTORY_FILE);
    let history = History::open(&path).expect("open history");
    let now: DateTime<Utc> = "2025-11-04T12:00:00Z".parse().unwrap();
    let span_ms = SPAN_DAYS * 86_400_000;
    let step_ms = span_ms / ROWS;

    let started = Instant::now();
    for first in (0..ROWS).step_by(BATCH as usize) {
        let batch: Vec<HistoryEvent> =
            (first..first + BATCH).map(|i| event(i, now, span_ms, step_ms)).collect();
        history.record_batch(&batch).expect("insert batch");
    }
    let insert = started.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(path.with_extension("sqlite3-wal")).map(|m| m.len()).unwrap_or(0);
    println!(
        "inserted {ROWS} rows ({} folders, {SPAN_DAYS} days, one every {step_ms} ms) in batches of \
         {BATCH}: {:.2} s ({:.0} rows/s), database {:.0} MiB",
        FOLDERS.len(),
        insert.as_secs_f64(),
        ROWS as f64 / insert.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );

    let day = now - chrono::Duration::hours(24);
    let in_window = history.stats(None, day).unwrap();
    println!(
        "24 h window: {} syncs, {} rate limit hits (about {} rows)",
        in_window.total_syncs,
        in_window.rate_limit_hits,
        ROWS / SPAN_DAYS
    );
    println!("{:<34} {:>10} {:>10} {:>10}", "query", "median", "min", "max");
    measure("stats(all, 24 h)", || history.stats(None, day));
    measure("stats(one folder, 24 h)", || history.stats(Some("docs"), day));
    measure("hourly(all, 24 h)", || history.hourly(None, day, now));
    measure("hourly(one folder, 24 h)", || history.hourly(Some("docs"), day, now));
    measure("recent(all, 50)", || history.recent(None, 50));
    measure("recent(one folder, 50)", || history.recent(Some("docs"), 50));
    let month = now - chrono::Duration::days(SPAN_DAYS);
    measure("stats(all, 30 d = every row)", || history.stats(None, month));
    measure("has_commit", || history.has_commit("docs", "c0ffee"));
    measure("prune(1M-entry limit, none due)", || history.prune(ROWS as usize, 365, now));
}

/// Returns the `i`-th synthetic event: each folder cycles through start, commit and outcome; one
/// outcome in ten is a failure and one in fifty a rate limit hit.
fn event(i: i64, now: DateTime<Utc>, span_ms: i64, step_ms: i64) -> HistoryEvent {
    let timestamp = now - chrono::Duration::milliseconds(span_ms - i * step_ms);
    let folder = FOLDERS[(i % FOLDERS.len() as i64) as usize];
    let cycle = i / FOLDERS.len() as i64;
    let event_type = match cycle % 3 {
        0 => SYNC_START,
        1 => COMMIT,
        _ if cycle % 50 == 2 => RATE_LIMIT_HIT,
        _ if cycle % 10 == 5 => SYNC_FAILURE,
        _ => SYNC_SUCCESS,
    };
    let mut ev = HistoryEvent::new(folder, event_type, timestamp);
    match event_type {
        SYNC_SUCCESS => {
            ev.duration_sec = Some(0.5 + (i % 700) as f64 / 100.0);
            ev.files_changed = Some(i % 13);
            ev.commit_hash = Some(format!("{i:040x}"));
        }
        SYNC_FAILURE => ev.error_msg = Some("fetch origin failed: could not resolve host".into()),
        COMMIT => ev.files_changed = Some(i % 13),
        _ => {}
    }
    ev
}

/// Runs `query` [`RUNS`] times and prints median, min and max.
fn measure<T>(name: &str, mut query: impl FnMut() -> supersonic_core::Result<T>) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            black_box(query().expect(name));
            started.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{name:<34} {:>10} {:>10} {:>10}",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
}
