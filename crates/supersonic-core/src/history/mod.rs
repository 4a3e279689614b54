//! The history store owns everything the engine remembers about past work: one row per event
//! (sync started, succeeded or failed, rate limit hit, conflict, backoff, pause, local commit,
//! ...) and the persisted [`Throttle`](crate::throttle::Throttle) state of each folder, so that a restart keeps the rate
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
//!
//! Files: `schema` (migrations), `rows` (what is recorded, and how events become rows),
//! `queries` (stats, hourly, recent), `retention` (prune, clear), `import` (seed JSONL),
//! `throttle_state`.

mod import;
mod queries;
mod retention;
mod rows;
mod schema;
mod throttle_state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use crate::{Error, Result};
use schema::{migrate, newer_schema, user_version, MIGRATIONS};

pub use import::ImportReport;
pub use queries::{HourBucket, Stats, MAX_HOUR_BUCKETS};
pub use rows::{HistoryEvent, HistoryRow};

/// File name of the history database in the data dir.
pub const HISTORY_FILE: &str = "history.sqlite3";

/// How long a connection waits for another connection's lock before giving up: writes are
/// single short statements, so 5 s only runs out when something holds the database far too long
/// (a stuck process, a huge import); shorter would fail spuriously while an import commits,
/// longer would stall the engine loop behind a stuck writer.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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

const INSERT_EVENT: &str = "
INSERT INTO events (folder, event_type, timestamp, duration_sec, files_changed, commit_hash,
    error_msg, reason, data)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

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

    /// Returns whether an event of `folder` carries exactly this commit hash.
    pub fn has_commit(&self, folder: &str, commit: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM events WHERE commit_hash = ?1 AND folder = ?2)",
            )
            .and_then(|mut stmt| stmt.query_row(params![commit, folder], |row| row.get(0)))
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

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
