//! The history database's schema: an append-only list of migrations, applied in one
//! transaction up to the `PRAGMA user_version` this build knows.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::db_error;
use crate::{Error, Result};

/// Schema migrations in order: entry `i` takes `user_version` from `i` to `i + 1`. Append only;
/// an entry that has shipped is never edited.
pub(super) const MIGRATIONS: &[&str] = &[MIGRATION_1, MIGRATION_2];

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

pub(super) fn newer_schema(path: &Path, version: i64) -> Error {
    Error::Invalid(format!(
        "history database {}: schema version {version} is newer than this build knows ({}); \
         upgrade Supersonic Sync",
        path.display(),
        MIGRATIONS.len()
    ))
}

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the missing migrations in one immediate transaction (two processes opening a fresh
/// file at once: the second waits, then finds nothing left to do).
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
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
