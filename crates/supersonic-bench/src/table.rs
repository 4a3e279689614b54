//! The results: one [`Row`] per measured case, printed as a table and written as JSON.
//!
//! A row holds the summary of its samples and, when it has one, the median of its reference
//! measured in the same run; the ratio is always median / reference median. A row that could not
//! be measured says why (skipped or failed) instead of holding figures.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::stats::Summary;

/// What a row's figures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds of wall-clock (or CPU) time.
    Ms,
    /// Bytes (printed in KiB or MiB).
    Bytes,
    /// A plain count (commits, wakeups).
    Count,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        }
    }

    /// Returns `value` formatted for the table.
    fn format(self, value: f64) -> String {
        match self {
            Unit::Ms if value >= 10_000.0 => format!("{:.1} s", value / 1000.0),
            Unit::Ms if value >= 100.0 => format!("{value:.0} ms"),
            Unit::Ms => format!("{value:.1} ms"),
            Unit::Bytes if value >= 1024.0 * 1024.0 => {
                format!("{:.1} MiB", value / (1024.0 * 1024.0))
            }
            Unit::Bytes => format!("{:.1} KiB", value / 1024.0),
            Unit::Count if value.fract() == 0.0 || value >= 100.0 => format!("{value:.0}"),
            Unit::Count => format!("{value:.1}"),
        }
    }
}

/// What became of a row.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Samples were taken; the reference median is there when the row has a reference.
    Measured { summary: Summary, reference: Option<f64> },
    /// The row was not run (a missing artifact, no display); the note says why.
    Skipped,
    /// The row was run and failed; the note holds the error.
    Failed,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The row number (1..=7).
    pub row: u8,
    /// What was measured, such as `write → local commit, 10k files`.
    pub case: String,
    /// The unit of the figures and of the reference.
    pub unit: Unit,
    /// The figures, or why there are none.
    pub outcome: Outcome,
    /// What the reference is and anything needed to read the figures.
    pub note: String,
}

impl Row {
    /// Returns a measured row; `reference` is the median of the reference's samples.
    pub fn measured(
        row: u8,
        case: impl Into<String>,
        unit: Unit,
        samples: &[f64],
        reference: Option<f64>,
        note: impl Into<String>,
    ) -> Row {
        let case = case.into();
        let outcome = match Summary::of(samples) {
            Some(summary) => Outcome::Measured { summary, reference },
            None => Outcome::Failed,
        };
        Row { row, case, unit, outcome, note: note.into() }
    }

    /// Returns a row that was not run, with the reason.
    pub fn skipped(row: u8, case: impl Into<String>, reason: impl Into<String>) -> Row {
        let note = format!("skipped: {}", reason.into());
        Row { row, case: case.into(), unit: Unit::Count, outcome: Outcome::Skipped, note }
    }

    /// Returns a row whose measurement failed, with the error.
    pub fn failed(row: u8, case: impl Into<String>, error: &anyhow::Error) -> Row {
        let note = format!("FAILED: {error:#}");
        Row { row, case: case.into(), unit: Unit::Count, outcome: Outcome::Failed, note }
    }

    /// Returns median / reference median, when both exist and the reference is not zero.
    pub fn ratio(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::Measured { summary, reference: Some(r) } if *r != 0.0 => {
                Some(summary.median / r)
            }
            _ => None,
        }
    }

    fn cells(&self) -> [String; 9] {
        let dash = || "-".to_string();
        let (n, median, min, max, reference) = match &self.outcome {
            Outcome::Measured { summary, reference } => (
                summary.n.to_string(),
                self.unit.format(summary.median),
                self.unit.format(summary.min),
                self.unit.format(summary.max),
                reference.map_or_else(dash, |r| self.unit.format(r)),
            ),
            _ => (dash(), dash(), dash(), dash(), dash()),
        };
        let ratio = self.ratio().map_or_else(dash, |r| format!("{r:.2}×"));
        [
            self.row.to_string(),
            self.case.clone(),
            n,
            median,
            min,
            max,
            reference,
            ratio,
            self.note.clone(),
        ]
    }

    fn to_json(&self, scale: &str) -> Value {
        let (status, summary, reference) = match &self.outcome {
            Outcome::Measured { summary, reference } => ("measured", Some(summary), *reference),
            Outcome::Skipped => ("skipped", None, None),
            Outcome::Failed => ("failed", None, None),
        };
        json!({
            "row": self.row,
            "case": self.case,
            "status": status,
            "scale": scale,
            "unit": self.unit.name(),
            "n": summary.map(|s| s.n),
            "median": summary.map(|s| s.median),
            "min": summary.map(|s| s.min),
            "max": summary.map(|s| s.max),
            "reference_median": reference,
            "ratio": self.ratio(),
            "note": self.note,
        })
    }
}

/// The column titles, in the order of [`Row::cells`].
const HEADER: [&str; 9] =
    ["row", "case", "n", "median", "min", "max", "reference median", "ratio", "note"];

/// Returns the rows as an aligned text table (the note column is left unpadded).
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<[String; 9]> = rows.iter().map(Row::cells).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |values: &[String]| {
        let mut text = String::new();
        for (i, value) in values.iter().enumerate() {
            let pad = widths[i].saturating_sub(value.chars().count());
            match i {
                // Text columns align left, figures right; the last column is not padded.
                8 => text.push_str(value),
                1 => {
                    text.push_str(value);
                    text.push_str(&" ".repeat(pad));
                }
                _ => {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(value);
                }
            }
            if i < 8 {
                text.push_str("  ");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&HEADER.map(String::from));
    line(&widths.map(|w| "-".repeat(w)));
    for values in &cells {
        line(values);
    }
    out
}

/// Writes `rows` to `path` as JSON, keeping the rows of an earlier file whose row numbers were
/// not run this time (so `make bench` then `make bench-app` leave one complete file).
pub fn write_json(path: &Path, rows: &[Row], scale: &str, ran: &[u8]) -> Result<()> {
    let mut kept: Vec<Value> = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|old| old.get("rows").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|row| {
            let number = row.get("row").and_then(Value::as_u64).unwrap_or(0);
            !ran.iter().any(|r| u64::from(*r) == number)
        })
        .collect();
    kept.extend(rows.iter().map(|r| r.to_json(scale)));
    kept.sort_by_key(|row| row.get("row").and_then(Value::as_u64).unwrap_or(0));
    let document = json!({
        "generated": chrono::Utc::now().to_rfc3339(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rows": kept,
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&document)?;
    std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))
}
