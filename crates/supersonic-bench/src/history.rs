//! Row 6: the metrics a user asks for, at 1,000,000 history rows: `supersonic stats` (a fresh
//! process each time, as typed) and `GET /api/sync/metrics` on a running `supersonic serve`.
//!
//! The history is filled the way a user would: `supersonic history import` of a seed-format
//! JSONL file holding a month of events (start, commit, outcome; one failure in ten, one rate
//! limit hit in fifty), ending now, so the default 24 h window holds about 33,000 rows. The
//! folder's retention is raised above a million rows first. The reference is the same command
//! or request on a second device whose history is empty: the ratio is what the rows cost.

use std::fs::File;
use std::io::{BufWriter, Read as _, Write as _};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, Utc};
use supersonic_testkit::{Device, Sandbox};

use crate::fixture::{self, path_arg, Daemon, Tree};
use crate::stats::{ms, Summary};
use crate::table::{Row, Unit};
use crate::Bench;

/// History rows imported.
const ROWS: usize = 1_000_000;
/// The imported history spans this many days, ending now.
const SPAN_DAYS: i64 = 30;
/// The folder config that keeps every imported row (the default keeps 10,000).
const RETENTION: &str = "metrics:\n  history_max_entries: 2000000\n  history_max_age_days: 365\n";
/// How long the daemons may take for their start cycles.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one request or command may take before the row fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs row 6.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let reps = bench.scale.reps(10, 30);
    match fixture::with_retries("row 6", || measure(bench, reps)) {
        Ok(rows) => rows,
        Err(e) => vec![Row::failed(6, "metrics at 1,000,000 history rows", &e)],
    }
}

fn measure(bench: &Bench, reps: usize) -> Result<Vec<Row>> {
    let sandbox = Sandbox::new();
    let full_tree = Tree::create(&sandbox, "full", 10)?;
    let empty_tree = Tree::create(&sandbox, "empty", 10)?;
    std::fs::write(full_tree.folder.join(".supersonic-sync.conf"), RETENTION)?;
    let full = fixture::device(&sandbox, &bench.supersonic, "history-full");
    let empty = fixture::device(&sandbox, &bench.supersonic, "history-empty");
    fixture::init(&full, &full_tree)?;
    fixture::init(&empty, &empty_tree)?;

    let jsonl = sandbox.path().join("history.jsonl");
    write_history(&jsonl)?;
    let started = Instant::now();
    let folder = path_arg(&full_tree.folder)?;
    let out = fixture::cli(&full, &["history", "import", &path_arg(&jsonl)?, "--folder", &folder])?;
    let import_s = started.elapsed().as_secs_f64();
    eprintln!("  {} ({import_s:.1} s)", out.trim());

    let stats_full = time_stats(&full, reps)?;
    let stats_empty = time_stats(&empty, reps)?;

    let mut full_server = Server::start(&full)?;
    let mut empty_server = Server::start(&empty)?;
    let http_full = full_server.time_metrics(reps)?;
    let http_empty = empty_server.time_metrics(reps)?;
    full_server.daemon.stop()?;
    empty_server.daemon.stop()?;

    let median = |v: &[f64]| Summary::of(v).map(|s| s.median);
    let note =
        |what: &str| format!("{what}; ref: same on an empty history; import took {import_s:.1} s");
    Ok(vec![
        Row::measured(
            6,
            "`supersonic stats` at 1,000,000 rows",
            Unit::Ms,
            &stats_full,
            median(&stats_empty),
            note("fresh process, 24 h window"),
        ),
        Row::measured(
            6,
            "GET /api/sync/metrics at 1,000,000 rows",
            Unit::Ms,
            &http_full,
            median(&http_empty),
            note("`supersonic serve`, new connection each"),
        ),
    ])
}

/// Writes [`ROWS`] seed-format events spanning [`SPAN_DAYS`] days up to now.
fn write_history(path: &std::path::Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let now = Utc::now();
    let span_ms = SPAN_DAYS * 86_400_000;
    let step_ms = span_ms / ROWS as i64;
    for i in 0..ROWS {
        let at = now - chrono::Duration::milliseconds(span_ms - i as i64 * step_ms);
        let timestamp = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let cycle = i / 3;
        let line = match i % 3 {
            0 => format!(r#"{{"timestamp":"{timestamp}","event_type":"sync_start"}}"#),
            1 => format!(
                r#"{{"timestamp":"{timestamp}","event_type":"commit","files_changed":{}}}"#,
                i % 13
            ),
            _ if cycle % 50 == 2 => format!(
                r#"{{"timestamp":"{timestamp}","event_type":"rate_limit_hit","reason":"60 syncs in the last hour"}}"#
            ),
            _ if cycle % 10 == 5 => format!(
                r#"{{"timestamp":"{timestamp}","event_type":"sync_failure","error_msg":"fetch origin failed: could not resolve host"}}"#
            ),
            _ => format!(
                r#"{{"timestamp":"{timestamp}","event_type":"sync_success","duration_sec":{:.2},"files_changed":{},"commit_hash":"{i:040x}"}}"#,
                0.5 + (i % 700) as f64 / 100.0,
                i % 13
            ),
        };
        writeln!(out, "{line}")?;
    }
    out.flush().with_context(|| format!("write {}", path.display()))
}

/// Times `supersonic stats` as `device`, `reps` times after one warm-up.
fn time_stats(device: &Device, reps: usize) -> Result<Vec<f64>> {
    let mut samples = Vec::new();
    for i in 0..=reps {
        let started = Instant::now();
        let out = device.command(&["stats"]).stdin(Stdio::null()).output()?;
        let elapsed = started.elapsed();
        if !out.status.success() {
            bail!("supersonic stats failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        if i > 0 {
            samples.push(ms(elapsed));
        }
    }
    Ok(samples)
}

/// A running `supersonic serve` and what a client needs to call it.
struct Server {
    daemon: Daemon,
    port: u16,
    token: String,
}

impl Server {
    /// Starts `supersonic serve --port 0` as `device` and reads its URL from the output.
    fn start(device: &Device) -> Result<Server> {
        let mut daemon = Daemon::start(device, &["serve", "--port", "0"])?;
        daemon.wait_for_log("open http://", 1, START_TIMEOUT)?;
        daemon.wait_synced(1, START_TIMEOUT)?;
        let log = daemon.log();
        let url = log
            .lines()
            .find_map(|l| l.trim().strip_prefix("open http://127.0.0.1:"))
            .with_context(|| format!("no URL in the serve output; {}", daemon.log_tail()))?;
        let (port, token) = url.split_once("/#token=").context("no token in the serve URL")?;
        Ok(Server { daemon, port: port.parse()?, token: token.trim().to_string() })
    }

    /// Times `GET /api/sync/metrics`, `reps` times after one warm-up.
    fn time_metrics(&mut self, reps: usize) -> Result<Vec<f64>> {
        let mut samples = Vec::new();
        for i in 0..=reps {
            let started = Instant::now();
            let body = self.get("/api/sync/metrics")?;
            let elapsed = started.elapsed();
            if !body.contains("\"stats\"") {
                bail!("/api/sync/metrics answered without stats: {}", &body[..body.len().min(300)]);
            }
            if i > 0 {
                samples.push(ms(elapsed));
            }
        }
        Ok(samples)
    }

    /// Returns the body of `GET path`, on a new connection; fails unless the status is 200.
    fn get(&self, path: &str) -> Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .with_context(|| format!("connect to 127.0.0.1:{}", self.port))?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            self.port, self.token
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).with_context(|| format!("read the answer to {path}"))?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") {
            bail!("GET {path}: {}", head.lines().next().unwrap_or("no answer"));
        }
        Ok(body.to_string())
    }
}
