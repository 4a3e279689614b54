//! The history store owns everything the engine remembers about past work: one row per event
//! (sync started, succeeded or failed, rate limit hit, conflict, backoff, pause, local commit,
//! ...) and the persisted [`Throttle`] state of each folder, so that a restart keeps the rate
//! window and the backoff (seed 000's `.cache/sync_history.jsonl` and `.cache/sync_throttle.json`,
//! on SQLite).
//!
//! How it works:
//! - One SQLite file ([`HISTORY_FILE`], in the data dir) in WAL mode: the daemon writes while
//!   CLI readers ([`History::open_readonly`]) query, and neither waits for the other. Writes are
//!   short autocommit statements, `synchronous=NORMAL` (a power cut may lose the last events, never
//!   corrupt the file), and a busy connection waits up to [`BUSY_TIMEOUT`].
//! - The schema is versioned by `PRAGMA user_version`: [`History::open`] applies the missing
//!   entries of an append-only migration list in one transaction, so opening twice is a no-op
//!   and a crash mid-migration leaves the previous version intact. A file from a newer build is
//!   refused rather than guessed at.
//! - Timestamps are stored as INTEGER unix milliseconds, indexed on `(timestamp)` and
//!   `(folder, timestamp)`, so every query of a window (recent events, retention) is an index
//!   range scan, and all counting happens in SQL: the daemon never loads history into memory.
//! - Stats and hourly buckets read an hourly rollup (`hourly`, per folder and hour) that
//!   triggers keep in step with every insert and delete, plus the raw events of the window's
//!   first partial hour: a day's figures cost 24 rollup rows and at most an hour of events,
//!   however many rows the history holds.
//! - Figures keep the seed's `/api/sync/metrics` field names ([`Stats`], [`HourBucket`],
//!   [`HistoryRow`]). A sync is a `sync_success` or a `sync_failure`; `sync_start` and the other
//!   event types are recorded but do not count as syncs.
//!
//! Invariants: error messages are scrubbed of credentials before they are stored (callers scrub,
//! and [`History::record`] scrubs again); git stays the source of truth for commits, so after a
//! crash the engine compares `git log` with [`History::has_commit`] and records what is missing.
//! Time is an input: every method that needs "now" takes it as a parameter.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::events::Event;
use crate::throttle::Throttle;
use crate::{Error, Result};

/// File name of the history database in the data dir.
pub const HISTORY_FILE: &str = "history.sqlite3";

/// How long a connection waits for another connection's lock before giving up: writes are
/// single short statements, so 5 s only runs out when something holds the database far too long
/// (a stuck process, a huge import); shorter would fail spuriously while an import commits,
/// longer would stall the engine loop behind a stuck writer.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most buckets [`History::hourly`] returns (400 days): a sparkline never needs more, and the
/// bound keeps a mistaken `--hours` from building a huge answer.
pub const MAX_HOUR_BUCKETS: i64 = 24 * 400;

/// A sync started (the remote step began).
pub const SYNC_START: &str = "sync_start";
/// A sync finished: pushed and pulled, or nothing to do.
pub const SYNC_SUCCESS: &str = "sync_success";
/// A sync failed (`error_msg` says why).
pub const SYNC_FAILURE: &str = "sync_failure";
/// The throttle blocked a remote operation (recorded once per block, not per attempt).
pub const RATE_LIMIT_HIT: &str = "rate_limit_hit";
/// A conflict was found while integrating.
pub const CONFLICT_DETECTED: &str = "conflict_detected";
/// A conflict was resolved.
pub const CONFLICT_RESOLVED: &str = "conflict_resolved";
/// Failures made the folder back off (`reason` says until when).
pub const BACKOFF: &str = "backoff";
/// The folder was paused.
pub const PAUSED: &str = "paused";
/// The folder was resumed.
pub const RESUMED: &str = "resumed";
/// A local commit was made (`commit_hash`, `files_changed`).
pub const COMMIT: &str = "commit";
/// A freshness alert was raised (reason) or cleared.
pub const STALE: &str = "stale";
/// The user undid the last sync (`supersonic undo`); the undo commit is recorded.
pub const SYNC_UNDONE: &str = "sync_undone";
/// Something the user may want to know that is not a failure.
pub const WARNING: &str = "warning";
/// `git gc` ran on the folder's repository (`data`: `.git` bytes before and after, `auto`).
pub const GC: &str = "gc";
/// A webhook delivery (one row per delivery, not per attempt).
pub const WEBHOOK: &str = "webhook";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Schema migrations in order: entry `i` takes `user_version` from `i` to `i + 1`. Append only;
/// an entry that has shipped is never edited.
const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2];

const MIGRATION_1: &str = "
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL,
    event_type TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    duration_sec REAL,
    files_changed INTEGER,
    commit_hash TEXT,
    error_msg TEXT,
    reason TEXT,
    data TEXT
);
CREATE INDEX events_timestamp ON events (timestamp);
CREATE INDEX events_folder_timestamp ON events (folder, timestamp);
CREATE INDEX events_commit ON events (commit_hash) WHERE commit_hash IS NOT NULL;
CREATE TABLE throttle (
    folder TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL
);
";

const INSERT_EVENT: &str = "
INSERT INTO events (folder, event_type, timestamp, duration_sec, files_changed, commit_hash,
    error_msg, reason, data)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The hourly rollup: per folder and hour, the figures [`History::stats`] and
/// [`History::hourly`] need, kept by triggers on every insert and delete of `events` (record,
/// import, prune, clear alike), and filled from the existing rows once. A window query reads
/// its first, partial hour from `events` and every whole hour from here: 24 rollup rows for a
/// day instead of every event in it, whatever the history's size.
///
/// `last_ok`/`last_failed` are the newest success/failure of the hour; deleting that very row
/// looks the hour up again (rows are pruned oldest first, so that is rare and one hour's scan).
const MIGRATION_2: &str = "
CREATE TABLE hourly (
    folder TEXT NOT NULL,
    hour INTEGER NOT NULL,
    ok INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    dur_sum REAL NOT NULL DEFAULT 0,
    dur_n INTEGER NOT NULL DEFAULT 0,
    files INTEGER NOT NULL DEFAULT 0,
    hits INTEGER NOT NULL DEFAULT 0,
    last_ok INTEGER,
    last_failed INTEGER,
    PRIMARY KEY (folder, hour)
) WITHOUT ROWID;
CREATE INDEX hourly_hour ON hourly (hour);
INSERT INTO hourly (folder, hour, ok, failed, dur_sum, dur_n, files, hits, last_ok, last_failed)
SELECT folder, timestamp / 3600000 * 3600000,
    SUM(event_type = 'sync_success'),
    SUM(event_type = 'sync_failure'),
    COALESCE(SUM(CASE WHEN event_type = 'sync_success' THEN duration_sec END), 0),
    COUNT(CASE WHEN event_type = 'sync_success' THEN duration_sec END),
    COALESCE(SUM(CASE WHEN event_type = 'sync_success' THEN files_changed END), 0),
    SUM(event_type = 'rate_limit_hit'),
    MAX(CASE WHEN event_type = 'sync_success' THEN timestamp END),
    MAX(CASE WHEN event_type = 'sync_failure' THEN timestamp END)
FROM events
WHERE event_type IN ('sync_success', 'sync_failure', 'rate_limit_hit')
GROUP BY 1, 2;
CREATE TRIGGER events_hourly_insert AFTER INSERT ON events
WHEN NEW.event_type IN ('sync_success', 'sync_failure', 'rate_limit_hit')
BEGIN
    INSERT OR IGNORE INTO hourly (folder, hour)
    VALUES (NEW.folder, NEW.timestamp / 3600000 * 3600000);
    UPDATE hourly SET
        ok = ok + (NEW.event_type = 'sync_success'),
        failed = failed + (NEW.event_type = 'sync_failure'),
        dur_sum = dur_sum
            + CASE WHEN NEW.event_type = 'sync_success' THEN COALESCE(NEW.duration_sec, 0)
              ELSE 0 END,
        dur_n = dur_n
            + (NEW.event_type = 'sync_success' AND NEW.duration_sec IS NOT NULL),
        files = files
            + CASE WHEN NEW.event_type = 'sync_success' THEN COALESCE(NEW.files_changed, 0)
              ELSE 0 END,
        hits = hits + (NEW.event_type = 'rate_limit_hit'),
        last_ok = CASE WHEN NEW.event_type = 'sync_success'
            AND (last_ok IS NULL OR NEW.timestamp > last_ok) THEN NEW.timestamp
            ELSE last_ok END,
        last_failed = CASE WHEN NEW.event_type = 'sync_failure'
            AND (last_failed IS NULL OR NEW.timestamp > last_failed) THEN NEW.timestamp
            ELSE last_failed END
    WHERE folder = NEW.folder AND hour = NEW.timestamp / 3600000 * 3600000;
END;
CREATE TRIGGER events_hourly_delete AFTER DELETE ON events
WHEN OLD.event_type IN ('sync_success', 'sync_failure', 'rate_limit_hit')
BEGIN
    UPDATE hourly SET
        ok = ok - (OLD.event_type = 'sync_success'),
        failed = failed - (OLD.event_type = 'sync_failure'),
        dur_sum = dur_sum
            - CASE WHEN OLD.event_type = 'sync_success' THEN COALESCE(OLD.duration_sec, 0)
              ELSE 0 END,
        dur_n = dur_n
            - (OLD.event_type = 'sync_success' AND OLD.duration_sec IS NOT NULL),
        files = files
            - CASE WHEN OLD.event_type = 'sync_success' THEN COALESCE(OLD.files_changed, 0)
              ELSE 0 END,
        hits = hits - (OLD.event_type = 'rate_limit_hit'),
        last_ok = CASE WHEN OLD.event_type = 'sync_success' AND last_ok = OLD.timestamp THEN
            (SELECT MAX(timestamp) FROM events WHERE folder = OLD.folder
                AND timestamp >= hourly.hour AND timestamp < hourly.hour + 3600000
                AND event_type = 'sync_success')
            ELSE last_ok END,
        last_failed = CASE WHEN OLD.event_type = 'sync_failure' AND last_failed = OLD.timestamp
            THEN (SELECT MAX(timestamp) FROM events WHERE folder = OLD.folder
                AND timestamp >= hourly.hour AND timestamp < hourly.hour + 3600000
                AND event_type = 'sync_failure')
            ELSE last_failed END
    WHERE folder = OLD.folder AND hour = OLD.timestamp / 3600000 * 3600000;
    DELETE FROM hourly WHERE folder = OLD.folder AND hour = OLD.timestamp / 3600000 * 3600000
        AND ok = 0 AND failed = 0 AND hits = 0;
END;
";

/// The window `[:since, …)` as two parts: raw events of `[:since, :cut)` (`:cut` is the first
/// whole hour at or after `:since`) and rollup rows from `:cut` on. `{filter}` becomes
/// `AND folder = :folder` or nothing.
const STATS_SQL: &str = "
WITH parts AS (
    SELECT
        SUM(event_type = :success) AS ok,
        SUM(event_type = :failure) AS failed,
        SUM(CASE WHEN event_type = :success THEN duration_sec END) AS dur_sum,
        COUNT(CASE WHEN event_type = :success THEN duration_sec END) AS dur_n,
        SUM(CASE WHEN event_type = :success THEN files_changed END) AS files,
        SUM(event_type = :rate_limit) AS hits,
        MAX(CASE WHEN event_type = :success THEN timestamp END) AS last_ok,
        MAX(CASE WHEN event_type = :failure THEN timestamp END) AS last_failed
    FROM events
    WHERE timestamp >= :since AND timestamp < :cut {filter}
    UNION ALL
    SELECT SUM(ok), SUM(failed), SUM(dur_sum), SUM(dur_n), SUM(files), SUM(hits),
        MAX(last_ok), MAX(last_failed)
    FROM hourly
    WHERE hour >= :cut {filter}
),
w AS (
    SELECT
        COALESCE(SUM(ok), 0) AS ok,
        COALESCE(SUM(failed), 0) AS failed,
        SUM(dur_sum) / NULLIF(SUM(dur_n), 0) AS avg_duration,
        COALESCE(SUM(files), 0) AS files,
        COALESCE(SUM(hits), 0) AS hits,
        MAX(last_ok) AS last_ok,
        MAX(last_failed) AS last_failed
    FROM parts
)
SELECT ok + failed, ok, failed,
    CASE WHEN ok + failed = 0 THEN 0.0 ELSE ROUND(100.0 * ok / (ok + failed), 1) END,
    COALESCE(ROUND(avg_duration, 2), 0.0), files, hits, last_ok, last_failed
FROM w";

/// Buckets are numbered from the hour holding `since`: its partial first part comes from
/// `events` (`[:since, :cut)`), whole hours from the rollup; `{filter}` as in [`STATS_SQL`].
const HOURLY_SQL: &str = "
WITH RECURSIVE hours(n) AS (
    SELECT 0 UNION ALL SELECT n + 1 FROM hours WHERE n + 1 < :buckets
),
parts AS (
    SELECT (timestamp - :first) / 3600000 AS n,
        SUM(event_type = :success) AS ok,
        SUM(event_type = :failure) AS failed
    FROM events
    WHERE timestamp >= :since AND timestamp < MIN(:cut, :end)
        AND event_type IN (:success, :failure) {filter}
    GROUP BY 1
    UNION ALL
    SELECT (hour - :first) / 3600000, SUM(ok), SUM(failed)
    FROM hourly
    WHERE hour >= :cut AND hour < :end {filter}
    GROUP BY 1
),
counts AS (
    SELECT n, SUM(ok) AS ok, SUM(failed) AS failed FROM parts GROUP BY n
)
SELECT hours.n, COALESCE(counts.ok, 0), COALESCE(counts.failed, 0)
FROM hours LEFT JOIN counts ON counts.n = hours.n
ORDER BY hours.n";

/// The newest event beyond the count limit `?1`, in `(timestamp, id)` order.
const PRUNE_CUT_SQL: &str =
    "SELECT timestamp, id FROM events ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET ?1";

/// `{where}` becomes `WHERE folder = :folder` or nothing.
const RECENT_SQL: &str = "
SELECT id, folder, event_type, timestamp, duration_sec, files_changed, commit_hash, error_msg,
    reason, data
FROM events {where}
ORDER BY timestamp DESC, id DESC
LIMIT :limit";

/// One event to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The folder's name.
    pub folder: String,
    /// One of the event type constants of this module ([`SYNC_SUCCESS`], ...).
    pub event_type: String,
    /// When it happened (stored with millisecond precision).
    pub timestamp: DateTime<Utc>,
    /// How long the work took, in seconds.
    pub duration_sec: Option<f64>,
    /// How many files the commit or sync changed.
    pub files_changed: Option<i64>,
    /// The commit made or pushed.
    pub commit_hash: Option<String>,
    /// Why it failed, scrubbed of credentials.
    pub error_msg: Option<String>,
    /// Why it happened (a block's reason, a backoff's delay, a pause's cause).
    pub reason: Option<String>,
    /// Anything else, as JSON (fields of an imported line that have no column).
    pub data: Option<serde_json::Value>,
}

impl HistoryEvent {
    /// Creates an event with no details; set the fields that apply.
    pub fn new(folder: &str, event_type: &str, timestamp: DateTime<Utc>) -> Self {
        HistoryEvent {
            folder: folder.to_string(),
            event_type: event_type.to_string(),
            timestamp,
            duration_sec: None,
            files_changed: None,
            commit_hash: None,
            error_msg: None,
            reason: None,
            data: None,
        }
    }

    /// Returns the row an engine event is recorded as, stamped now, or `None` for events that
    /// are not history (state changes, progress, finished operations).
    pub fn from_event(event: &Event) -> Option<HistoryEvent> {
        let now = Utc::now();
        let mut row = HistoryEvent::new(event.folder(), "", now);
        match event {
            Event::State { .. } | Event::Progress { .. } | Event::OperationFinished { .. } => {
                return None
            }
            Event::Stale { alert, message, cleared, .. } => {
                row.event_type = STALE.into();
                row.reason =
                    Some(if *cleared { format!("{alert} cleared") } else { message.clone() });
                row.data = Some(serde_json::json!({ "alert": alert, "cleared": cleared }));
            }
            Event::SyncStart { trigger, .. } => {
                row.event_type = SYNC_START.into();
                row.reason = Some(trigger.clone());
            }
            Event::Committed { commit, files_changed, .. } => {
                row.event_type = COMMIT.into();
                row.commit_hash = Some(commit.clone());
                row.files_changed = Some(*files_changed as i64);
            }
            Event::SyncSuccess { duration_sec, files_changed, commit, pulled, pushed, .. } => {
                row.event_type = SYNC_SUCCESS.into();
                row.duration_sec = Some(*duration_sec);
                row.files_changed = Some(*files_changed as i64);
                row.commit_hash = commit.clone();
                row.data = Some(serde_json::json!({ "pulled": pulled, "pushed": pushed }));
            }
            Event::SyncFailure { error, code, class, retry_in_sec, .. } => {
                row.event_type = SYNC_FAILURE.into();
                row.error_msg = Some(error.clone());
                row.reason = Some(code.clone());
                row.data =
                    Some(serde_json::json!({ "class": class, "retry_in_sec": retry_in_sec }));
            }
            Event::RateLimitHit { reason, retry_in_sec, .. } => {
                row.event_type = RATE_LIMIT_HIT.into();
                row.reason = Some(format!("{reason}; next attempt in {retry_in_sec} s"));
            }
            Event::ConflictDetected { path, copy, conflict_kind, strategy, .. } => {
                row.event_type = CONFLICT_DETECTED.into();
                row.reason = Some(format!("{path}: {conflict_kind}, {strategy}"));
                row.data = Some(serde_json::json!({ "path": path, "copy": copy }));
            }
            Event::FileSkipped { path, reason, .. } => {
                row.event_type = WARNING.into();
                row.reason = Some(format!("not syncing {path}: {reason}"));
            }
            Event::Warning { message, .. } => {
                row.event_type = WARNING.into();
                row.reason = Some(message.clone());
            }
        }
        Some(row)
    }

    /// Returns the row of one webhook delivery (event type [`WEBHOOK`]), stamped `now`: its
    /// wall time, its error (no URL in it), its one-line `summary` as the reason and the whole
    /// `report` as data.
    pub fn webhook_delivery(
        folder: &str,
        now: DateTime<Utc>,
        duration_sec: f64,
        error: Option<String>,
        summary: String,
        report: Option<serde_json::Value>,
    ) -> HistoryEvent {
        let mut row = HistoryEvent::new(folder, WEBHOOK, now);
        row.duration_sec = Some(duration_sec);
        row.error_msg = error;
        row.reason = Some(summary);
        row.data = report;
        row
    }
}

/// One recorded event, as [`History::recent`] returns it (the seed's `recent` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Row id: increases with insertion order.
    pub id: i64,
    /// The folder's name.
    pub folder: String,
    /// The event type.
    pub event_type: String,
    /// When it happened; serialised as RFC 3339 in UTC with `Z`.
    pub timestamp: DateTime<Utc>,
    /// How long the work took, in seconds.
    pub duration_sec: Option<f64>,
    /// How many files changed.
    pub files_changed: Option<i64>,
    /// The commit made or pushed.
    pub commit_hash: Option<String>,
    /// Why it failed.
    pub error_msg: Option<String>,
    /// Why it happened.
    pub reason: Option<String>,
    /// Anything else, as JSON.
    pub data: Option<serde_json::Value>,
}

/// Figures over a window (the seed's `stats`, same field names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Syncs in the window: `successful_syncs + failed_syncs`.
    pub total_syncs: u64,
    /// `sync_success` events.
    pub successful_syncs: u64,
    /// `sync_failure` events.
    pub failed_syncs: u64,
    /// Successes in percent of syncs, rounded to 1 decimal; 0 when there was no sync.
    pub success_rate: f64,
    /// Mean duration of the successes that have one, in seconds, rounded to 2 decimals; 0 when
    /// none.
    pub avg_duration_sec: f64,
    /// Files changed by successful syncs (local `commit` events are not added again).
    pub total_files_changed: u64,
    /// `rate_limit_hit` events.
    pub rate_limit_hits: u64,
    /// Time of the last success in the window (RFC 3339, `Z`).
    pub last_success: Option<String>,
    /// Time of the last failure in the window (RFC 3339, `Z`).
    pub last_failure: Option<String>,
}

/// Syncs in one hour (the seed's `hourly` entries, for sparklines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourBucket {
    /// Start of the hour, RFC 3339 (`2025-11-04T09:00:00Z`).
    pub hour: String,
    /// `successful + failed`.
    pub total: u64,
    /// `sync_success` events in the hour.
    pub successful: u64,
    /// `sync_failure` events in the hour.
    pub failed: u64,
}

/// Outcome of [`History::import_jsonl`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Events imported.
    pub imported: usize,
    /// Lines skipped: 1-based line number and why.
    pub skipped: Vec<(usize, String)>,
}

/// The history database: events and persisted throttle state.
///
/// Owns one SQLite connection; it is `Send` (move it to the thread that uses it) but not `Sync`.
/// Several `History` values, in one process or several, may use the same file at once.
#[derive(Debug)]
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Opens (creating it and its directory if needed) the history database at `path` for
    /// reading and writing, and brings its schema up to date.
    ///
    /// Fails when the file was written by a newer build (its schema version is unknown here).
    pub fn open(path: &Path) -> Result<History> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let err = db_error(path);
        let mut conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some filesystems (network mounts) cannot share memory between processes: it still
            // works, but readers and the writer then wait for each other.
            tracing::warn!("history database {}: journal mode {mode}, not WAL", path.display());
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
        migrate(&mut conn, path)?;
        Ok(History { conn, path: path.to_path_buf() })
    }

    /// Opens the history database at `path` for reading only, without migrating it.
    ///
    /// For CLI readers while a daemon writes: WAL lets them read without blocking the writer.
    /// When the file does not exist yet (or was created but not migrated yet), returns a history
    /// that answers every query with empty results and refuses writes; it does not notice a file
    /// created later. Fails when the schema version is not the one this build knows.
    pub fn open_readonly(path: &Path) -> Result<History> {
        if !path.exists() {
            return History::empty(path);
        }
        let err = db_error(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(&err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        let version = user_version(&conn).map_err(&err)?;
        if version == 0 {
            return History::empty(path);
        }
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(newer_schema(path, version));
        }
        if version < known {
            return Err(Error::Invalid(format!(
                "history database {}: schema version {version} is older than this build's \
                 ({known}); open it read-write once (start the daemon) to migrate it",
                path.display()
            )));
        }
        Ok(History { conn, path: path.to_path_buf() })
    }

    /// Returns an in-memory, query-only history with the current schema and no rows.
    fn empty(path: &Path) -> Result<History> {
        let err = db_error(path);
        let mut conn = Connection::open_in_memory().map_err(&err)?;
        migrate(&mut conn, path)?;
        conn.pragma_update(None, "query_only", true).map_err(&err)?;
        Ok(History { conn, path: path.to_path_buf() })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one event and returns its row id.
    ///
    /// The error message is scrubbed of credentials again, in case a caller forgot.
    pub fn record(&self, ev: &HistoryEvent) -> Result<i64> {
        let mut stmt = self.conn.prepare_cached(INSERT_EVENT).map_err(self.err())?;
        insert(&mut stmt, ev).map_err(self.err())
    }

    /// Records several events in one transaction (all or none) and returns how many.
    ///
    /// For reconciling history from `git log` after a crash, and for imports.
    pub fn record_batch(&self, events: &[HistoryEvent]) -> Result<usize> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        {
            let mut stmt = tx.prepare_cached(INSERT_EVENT).map_err(self.err())?;
            for ev in events {
                insert(&mut stmt, ev).map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())?;
        Ok(events.len())
    }

    /// Applies retention and returns how many events were deleted.
    ///
    /// Deletes events older than `max_age_days` before `now`, then all but the newest
    /// `max_entries` events (across folders, ties by row id); a limit of 0 disables that rule.
    /// Cheap enough to call after each record: both rules are index range scans that touch only
    /// the rows they delete plus `max_entries` index entries.
    pub fn prune(
        &self,
        max_entries: usize,
        max_age_days: u32,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        let mut removed = 0;
        if max_age_days > 0 {
            let cutoff = now.timestamp_millis().saturating_sub(i64::from(max_age_days) * DAY_MS);
            removed += tx
                .execute("DELETE FROM events WHERE timestamp < ?1", [cutoff])
                .map_err(self.err())?;
        }
        if max_entries > 0 {
            // The newest row beyond the limit, in (timestamp, id) order: it and every older row go.
            let cut: Option<(i64, i64)> = tx
                .query_row(PRUNE_CUT_SQL, [to_i64(max_entries)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(self.err())?;
            if let Some((ts, id)) = cut {
                removed += tx
                    .execute(
                        "DELETE FROM events WHERE timestamp <= ?1 AND (timestamp < ?1 OR id <= ?2)",
                        [ts, id],
                    )
                    .map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())?;
        Ok(removed)
    }

    /// Returns the figures of syncs at or after `since`, for one folder or all.
    pub fn stats(&self, folder: Option<&str>, since: DateTime<Utc>) -> Result<Stats> {
        let filter = if folder.is_some() { "AND folder = :folder" } else { "" };
        let sql = STATS_SQL.replace("{filter}", filter);
        let since = since.timestamp_millis();
        let cut = next_hour(since);
        let mut args: Vec<(&str, &dyn ToSql)> = vec![
            (":success", &SYNC_SUCCESS),
            (":failure", &SYNC_FAILURE),
            (":rate_limit", &RATE_LIMIT_HIT),
            (":since", &since),
            (":cut", &cut),
        ];
        if let Some(folder) = &folder {
            args.push((":folder", folder));
        }
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        stmt.query_row(args.as_slice(), |row| {
            Ok(Stats {
                total_syncs: count(row, 0)?,
                successful_syncs: count(row, 1)?,
                failed_syncs: count(row, 2)?,
                success_rate: row.get(3)?,
                avg_duration_sec: row.get(4)?,
                total_files_changed: count(row, 5)?,
                rate_limit_hits: count(row, 6)?,
                last_success: row.get::<_, Option<i64>>(7)?.and_then(ms_to_rfc3339),
                last_failure: row.get::<_, Option<i64>>(8)?.and_then(ms_to_rfc3339),
            })
        })
        .map_err(self.err())
    }

    /// Returns the syncs of each hour from the hour holding `since` to the hour holding `now`.
    ///
    /// Both hours are included, oldest first, and hours without syncs are present with zeros.
    /// Only syncs at or after `since` count, so the first bucket may be partial; the result is
    /// empty when `now` is before `since`. Fails when the range spans more than
    /// [`MAX_HOUR_BUCKETS`] hours.
    pub fn hourly(
        &self,
        folder: Option<&str>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<HourBucket>> {
        let since = since.timestamp_millis();
        let now = now.timestamp_millis();
        if now < since {
            return Ok(Vec::new());
        }
        let first = since.div_euclid(HOUR_MS) * HOUR_MS;
        let buckets = now.div_euclid(HOUR_MS) - since.div_euclid(HOUR_MS) + 1;
        if buckets > MAX_HOUR_BUCKETS {
            return Err(Error::Invalid(format!(
                "hourly history: {buckets} hours asked, at most {MAX_HOUR_BUCKETS}"
            )));
        }
        let end = first + buckets * HOUR_MS;
        let cut = next_hour(since);
        let filter = if folder.is_some() { "AND folder = :folder" } else { "" };
        let sql = HOURLY_SQL.replace("{filter}", filter);
        let mut args: Vec<(&str, &dyn ToSql)> = vec![
            (":success", &SYNC_SUCCESS),
            (":failure", &SYNC_FAILURE),
            (":buckets", &buckets),
            (":first", &first),
            (":since", &since),
            (":cut", &cut),
            (":end", &end),
        ];
        if let Some(folder) = &folder {
            args.push((":folder", folder));
        }
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(args.as_slice(), |row| {
                let n: i64 = row.get(0)?;
                let successful = count(row, 1)?;
                let failed = count(row, 2)?;
                Ok(HourBucket {
                    hour: ms_to_rfc3339(first + n * HOUR_MS).unwrap_or_default(),
                    total: successful + failed,
                    successful,
                    failed,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// Returns the newest `limit` events, newest first, for one folder or all.
    pub fn recent(&self, folder: Option<&str>, limit: usize) -> Result<Vec<HistoryRow>> {
        let filter = if folder.is_some() { "WHERE folder = :folder" } else { "" };
        let sql = RECENT_SQL.replace("{where}", filter);
        let limit = to_i64(limit);
        let mut args: Vec<(&str, &dyn ToSql)> = vec![(":limit", &limit)];
        if let Some(folder) = &folder {
            args.push((":folder", folder));
        }
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(args.as_slice(), |row| {
                let ts: i64 = row.get(3)?;
                let data: Option<String> = row.get(9)?;
                Ok(HistoryRow {
                    id: row.get(0)?,
                    folder: row.get(1)?,
                    event_type: row.get(2)?,
                    timestamp: DateTime::from_timestamp_millis(ts)
                        .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(3, ts))?,
                    duration_sec: row.get(4)?,
                    files_changed: row.get(5)?,
                    commit_hash: row.get(6)?,
                    error_msg: row.get(7)?,
                    reason: row.get(8)?,
                    data: data.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            9,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// Deletes the events of one folder, or all events, and returns how many.
    pub fn clear(&self, folder: Option<&str>) -> Result<usize> {
        match folder {
            Some(folder) => self.conn.execute("DELETE FROM events WHERE folder = ?1", [folder]),
            None => self.conn.execute("DELETE FROM events", []),
        }
        .map_err(self.err())
    }

    /// Imports a history file in the seed's JSONL format into `folder`.
    ///
    /// The file holds one JSON object a line with `timestamp` (ISO 8601; without an offset it is
    /// taken as UTC) and `event_type`, and optionally `duration_sec`, `files_changed`,
    /// `commit_hash`, `error_msg` and `reason`; other fields go to `data`.
    ///
    /// Blank lines are ignored; a line that cannot be read is reported with its 1-based number
    /// and skipped; the others are imported in one transaction.
    pub fn import_jsonl(&self, file: &Path, folder: &str) -> Result<ImportReport> {
        let reader = BufReader::new(std::fs::File::open(file).map_err(|e| Error::io(file, e))?);
        let mut events = Vec::new();
        let mut skipped = Vec::new();
        for (index, line) in reader.split(b'\n').enumerate() {
            let line = line.map_err(|e| Error::io(file, e))?;
            let number = index + 1;
            let parsed = std::str::from_utf8(&line)
                .map_err(|_| "not valid UTF-8".to_string())
                .and_then(|text| parse_seed_line(text.trim(), folder));
            match parsed {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => {}
                Err(reason) => skipped.push((number, reason)),
            }
        }
        let imported = self.record_batch(&events)?;
        Ok(ImportReport { imported, skipped })
    }

    /// Returns whether an event of `folder` carries exactly this commit hash.
    pub fn has_commit(&self, folder: &str, commit: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM events WHERE commit_hash = ?1 AND folder = ?2)",
            )
            .and_then(|mut stmt| stmt.query_row(params![commit, folder], |row| row.get(0)))
            .map_err(self.err())
    }

    /// Stores the throttle state of `folder`, replacing the previous one.
    pub fn save_throttle(&self, folder: &str, state: &Throttle) -> Result<()> {
        let json = serde_json::to_string(state).map_err(|e| {
            Error::Invalid(format!("throttle state of folder {folder} cannot be saved: {e}"))
        })?;
        self.conn
            .execute(
                "INSERT INTO throttle (folder, state) VALUES (?1, ?2) \
                 ON CONFLICT (folder) DO UPDATE SET state = excluded.state",
                [folder, &json],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Returns the stored throttle state of `folder`, if any.
    ///
    /// Fails when the stored state cannot be read; the engine may then start from a fresh
    /// throttle.
    pub fn load_throttle(&self, folder: &str) -> Result<Option<Throttle>> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT state FROM throttle WHERE folder = ?1", [folder], |row| row.get(0))
            .optional()
            .map_err(self.err())?;
        json.map(|json| {
            serde_json::from_str(&json).map_err(|e| {
                Error::Invalid(format!(
                    "history database {}: throttle state of folder {folder}: {e}",
                    self.path.display()
                ))
            })
        })
        .transpose()
    }

    /// Deletes the throttle state of one folder, or of all, and returns how many were deleted.
    pub fn clear_throttle(&self, folder: Option<&str>) -> Result<usize> {
        match folder {
            Some(folder) => self.conn.execute("DELETE FROM throttle WHERE folder = ?1", [folder]),
            None => self.conn.execute("DELETE FROM throttle", []),
        }
        .map_err(self.err())
    }

    /// Returns a closure that adds this database's path to a SQLite error, for `map_err`.
    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        db_error(&self.path)
    }
}

/// Returns a closure that turns a SQLite error on the database at `path` into an [`Error`]: a
/// lock held too long is [`Error::Busy`] (transient), anything else [`Error::Invalid`].
fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        let message = format!("history database {}: {e}", path.display());
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Busy(message)
            }
            _ => Error::Invalid(message),
        }
    }
}

fn newer_schema(path: &Path, version: i64) -> Error {
    Error::Invalid(format!(
        "history database {}: schema version {version} is newer than this build knows ({}); \
         upgrade Supersonic Sync",
        path.display(),
        MIGRATIONS.len()
    ))
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the missing migrations in one immediate transaction (two processes opening a fresh
/// file at once: the second waits, then finds nothing left to do).
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = db_error(path);
    let known = MIGRATIONS.len() as i64;
    let version = user_version(conn).map_err(&err)?;
    if version == known {
        return Ok(());
    }
    if version > known {
        return Err(newer_schema(path, version));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
    let version = user_version(&tx).map_err(&err)?;
    if version > known {
        return Err(newer_schema(path, version));
    }
    for sql in MIGRATIONS.iter().skip(version.max(0) as usize) {
        tx.execute_batch(sql).map_err(&err)?;
    }
    tx.pragma_update(None, "user_version", known).map_err(&err)?;
    tx.commit().map_err(&err)
}

fn insert(stmt: &mut rusqlite::CachedStatement<'_>, ev: &HistoryEvent) -> rusqlite::Result<i64> {
    let error_msg = ev.error_msg.as_deref().map(crate::remote::scrub);
    let data = ev.data.as_ref().map(|d| d.to_string());
    stmt.insert(params![
        ev.folder,
        ev.event_type,
        ev.timestamp.timestamp_millis(),
        ev.duration_sec,
        ev.files_changed,
        ev.commit_hash,
        error_msg,
        ev.reason,
        data,
    ])
}

/// Returns the first whole hour at or after `ms` (unix milliseconds).
fn next_hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS + if ms.rem_euclid(HOUR_MS) == 0 { 0 } else { HOUR_MS }
}

/// Reads a count column (SQLite integers are signed).
fn count(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, n))
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Formats unix milliseconds as RFC 3339 in UTC with `Z` (fraction only when not zero).
fn ms_to_rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Parses one line of the seed's JSONL history; `Ok(None)` for a blank line, `Err(why)` for a
/// line to skip.
fn parse_seed_line(line: &str, folder: &str) -> std::result::Result<Option<HistoryEvent>, String> {
    if line.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        // serde_json's own position says "line 1": only the column helps here.
        let message = e.to_string();
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
        format!("invalid JSON at column {}: {message}", e.column())
    })?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err("not a JSON object".to_string());
    };
    let timestamp = match fields.remove("timestamp") {
        Some(serde_json::Value::String(s)) => parse_timestamp(&s)?,
        Some(other) => return Err(format!("`timestamp` is not a string: {other}")),
        None => return Err("missing `timestamp`".to_string()),
    };
    let event_type = match fields.remove("event_type") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s,
        Some(other) => return Err(format!("`event_type` is not a non-empty string: {other}")),
        None => return Err("missing `event_type`".to_string()),
    };
    let mut ev = HistoryEvent::new(folder, &event_type, timestamp);
    ev.duration_sec = take(&mut fields, "duration_sec", serde_json::Value::as_f64)?;
    ev.files_changed = take(&mut fields, "files_changed", serde_json::Value::as_i64)?;
    ev.commit_hash = take(&mut fields, "commit_hash", |v| v.as_str().map(str::to_string))?;
    ev.error_msg = take(&mut fields, "error_msg", |v| v.as_str().map(str::to_string))?;
    ev.reason = take(&mut fields, "reason", |v| v.as_str().map(str::to_string))?;
    if !fields.is_empty() {
        ev.data = Some(serde_json::Value::Object(fields));
    }
    Ok(Some(ev))
}

/// Removes `key` from `fields` and converts it; a missing key or `null` is `None`.
fn take<T>(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    convert: impl Fn(&serde_json::Value) -> Option<T>,
) -> std::result::Result<Option<T>, String> {
    match fields.remove(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => match convert(&value) {
            Some(v) => Ok(Some(v)),
            None => Err(format!("`{key}` has the wrong type: {value}")),
        },
    }
}

/// Parses an ISO 8601 timestamp: RFC 3339 with an offset, or a naive one (Python's
/// `datetime.isoformat()`), taken as UTC.
fn parse_timestamp(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`timestamp` is not ISO 8601: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn seed_timestamps_parse_with_or_without_offset() {
        assert_eq!(parse_timestamp("2025-11-04T10:30:00Z").unwrap(), at("2025-11-04T10:30:00Z"));
        assert_eq!(
            parse_timestamp("2025-11-04T11:30:00+01:00").unwrap(),
            at("2025-11-04T10:30:00Z"),
            "an offset is converted to UTC"
        );
        assert_eq!(
            parse_timestamp("2025-11-04T10:30:00.123456").unwrap(),
            at("2025-11-04T10:30:00.123456Z"),
            "Python's naive isoformat() is taken as UTC"
        );
        assert!(parse_timestamp("yesterday").is_err(), "free text is not a timestamp");
    }

    #[test]
    fn seed_line_maps_known_fields_to_columns_and_the_rest_to_data() {
        let line = r#"{"timestamp": "2025-11-04T10:30:00Z", "event_type": "sync_success",
            "duration_sec": 3.42, "files_changed": 5, "commit_hash": "abc123", "host": "pi"}"#;
        let ev = parse_seed_line(&line.replace('\n', " "), "docs").unwrap().unwrap();
        assert_eq!(ev.folder, "docs", "the import names the folder, not the line");
        assert_eq!(ev.duration_sec, Some(3.42));
        assert_eq!(ev.files_changed, Some(5));
        assert_eq!(ev.commit_hash.as_deref(), Some("abc123"));
        assert_eq!(ev.data, Some(serde_json::json!({"host": "pi"})), "unknown fields are kept");
    }

    #[test]
    fn bad_seed_lines_say_what_is_wrong() {
        let why = |line: &str| parse_seed_line(line, "f").unwrap_err();
        assert!(why("{not json").starts_with("invalid JSON at column"), "{}", why("{not json"));
        assert_eq!(why("[1]"), "not a JSON object");
        assert_eq!(why(r#"{"event_type": "sync_start"}"#), "missing `timestamp`");
        assert_eq!(why(r#"{"timestamp": "2025-11-04T10:30:00Z"}"#), "missing `event_type`");
        assert!(why(
            r#"{"timestamp": "2025-11-04T10:30:00Z", "event_type": "x", "files_changed": "5"}"#
        )
        .contains("files_changed"));
        assert_eq!(parse_seed_line("", "f"), Ok(None), "blank lines are not errors");
    }

    #[test]
    fn window_queries_use_the_timestamp_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let plan = |sql: &str| -> String {
            let sql = format!("EXPLAIN QUERY PLAN {sql}");
            let mut stmt = conn.prepare(&sql).unwrap();
            let count = stmt.parameter_count();
            let args: Vec<i64> = vec![0; count];
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        for (name, sql) in [
            ("stats", STATS_SQL.replace("{filter}", "")),
            ("stats of a folder", STATS_SQL.replace("{filter}", "AND folder = :folder")),
            ("hourly", HOURLY_SQL.replace("{filter}", "")),
            ("hourly of a folder", HOURLY_SQL.replace("{filter}", "AND folder = :folder")),
            ("recent", RECENT_SQL.replace("{where}", "")),
            ("recent of a folder", RECENT_SQL.replace("{where}", "WHERE folder = :folder")),
            ("prune by count", PRUNE_CUT_SQL.to_string()),
        ] {
            let plan = plan(&sql);
            assert!(plan.contains("INDEX events_"), "{name} must use an index: {plan}");
            if name.starts_with("stats") || name == "hourly" {
                assert!(
                    !plan.contains("SCAN events") && !plan.contains("SCAN hourly"),
                    "{name} must search the events and the rollup, not scan them: {plan}"
                );
            }
            // Hourly sorts its few buckets; the others must read events in index order.
            assert!(
                name.starts_with("hourly") || !plan.contains("TEMP B-TREE FOR ORDER BY"),
                "{name} must take events in index order, not sort them: {plan}"
            );
        }
    }

    #[test]
    fn hour_labels_are_rfc3339_with_z() {
        assert_eq!(ms_to_rfc3339(1_762_246_800_000).unwrap(), "2025-11-04T09:00:00Z");
        assert_eq!(ms_to_rfc3339(1_762_246_800_123).unwrap(), "2025-11-04T09:00:00.123Z");
    }
}
