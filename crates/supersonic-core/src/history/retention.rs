//! Retention: pruning by age and by count, and clearing on request. The hourly rollup follows
//! every delete through its trigger.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{to_i64, History};
use crate::Result;

const DAY_MS: i64 = 86_400_000;

/// The newest event beyond the count limit `?1`, in `(timestamp, id)` order.
pub(super) const PRUNE_CUT_SQL: &str =
    "SELECT timestamp, id FROM events ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET ?1";

impl History {
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

    /// Deletes the events of one folder, or all events, and returns how many.
    pub fn clear(&self, folder: Option<&str>) -> Result<usize> {
        match folder {
            Some(folder) => self.conn.execute("DELETE FROM events WHERE folder = ?1", [folder]),
            None => self.conn.execute("DELETE FROM events", []),
        }
        .map_err(self.err())
    }
}
