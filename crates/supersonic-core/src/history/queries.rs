//! Window queries: figures ([`Stats`]), hourly buckets ([`HourBucket`]) and recent events,
//! counted in SQL from the hourly rollup plus the raw events of the window's first partial hour.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::ToSql;
use serde::{Deserialize, Serialize};

use super::{to_i64, History, HistoryRow, RATE_LIMIT_HIT, SYNC_FAILURE, SYNC_SUCCESS};
use crate::{Error, Result};

/// Most buckets [`History::hourly`] returns (400 days): a sparkline never needs more, and the
/// bound keeps a mistaken `--hours` from building a huge answer.
pub const MAX_HOUR_BUCKETS: i64 = 24 * 400;

const HOUR_MS: i64 = 3_600_000;

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

/// `{where}` becomes `WHERE folder = :folder` or nothing.
const RECENT_SQL: &str = "
SELECT id, folder, event_type, timestamp, duration_sec, files_changed, commit_hash, error_msg,
    reason, data
FROM events {where}
ORDER BY timestamp DESC, id DESC
LIMIT :limit";

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

impl History {
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

/// Formats unix milliseconds as RFC 3339 in UTC with `Z` (fraction only when not zero).
fn ms_to_rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;

    use super::super::retention::PRUNE_CUT_SQL;
    use super::super::schema::migrate;
    use super::*;

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
