//! Import of a history file in the seed's JSONL format (`metrics.history_file`).

use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{History, HistoryEvent};
use crate::{Error, Result};

/// Outcome of [`History::import_jsonl`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Events imported.
    pub imported: usize,
    /// Lines skipped: 1-based line number and why.
    pub skipped: Vec<(usize, String)>,
}

impl History {
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
}
