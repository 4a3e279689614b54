//! The persisted [`Throttle`] state of each folder, so that a restart keeps the rate window and
//! the backoff.

use rusqlite::OptionalExtension;

use super::History;
use crate::throttle::Throttle;
use crate::{Error, Result};

impl History {
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
}
