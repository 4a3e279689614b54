//! Progress of long commands (`hydrate`, `seed`) on stderr: one line rewritten in place on a
//! terminal; elsewhere (logs, CI) one line per phase when it completes, so output stays short.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Least time between two redraws on a terminal.
const REDRAW: Duration = Duration::from_millis(100);

/// The progress line.
pub struct Line {
    tty: bool,
    phase: String,
    last: Option<(u64, Option<u64>)>,
    drawn: Option<Instant>,
}

impl Line {
    /// A line on stderr.
    pub fn new() -> Line {
        Line { tty: std::io::stderr().is_terminal(), phase: String::new(), last: None, drawn: None }
    }

    /// Shows `done` of `total` for `phase`.
    pub fn update(&mut self, phase: &str, done: u64, total: Option<u64>) {
        if phase != self.phase {
            if !self.tty {
                self.finish_phase();
            } else if !self.phase.is_empty() {
                eprintln!();
            }
            self.phase = phase.to_string();
        }
        self.last = Some((done, total));
        let now = Instant::now();
        let complete = total.is_some_and(|t| done >= t);
        if self.tty && (complete || self.drawn.is_none_or(|d| now.duration_since(d) >= REDRAW)) {
            self.drawn = Some(now);
            eprint!("\r{}", render(phase, done, total));
            let _ = std::io::stderr().flush();
        }
    }

    fn finish_phase(&mut self) {
        if let Some((done, total)) = self.last.take() {
            eprintln!("{}", render(&self.phase, done, total));
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.tty {
            self.finish_phase();
        }
    }
}

/// `Receiving objects:  45% (9/20)` or `Counting objects: 7`.
fn render(phase: &str, done: u64, total: Option<u64>) -> String {
    match total {
        Some(t) if t > 0 => format!("{phase}: {:3}% ({done}/{t})", done * 100 / t),
        _ => format!("{phase}: {done}"),
    }
}
