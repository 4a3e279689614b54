//! `supersonic-bench`: issue 9's benchmark harness (`make bench`; not part of `make test`).
//!
//! It runs the real release `supersonic` binary and the real git on fixtures it creates in
//! temporary directories (hermetic git through the testkit's `Sandbox`), observes outcomes the
//! way a user would (a commit appears in the repository or in the bare remote, a command
//! returns, `/proc` shows the cost), and prints one table whose rows hold median, min and max
//! and the ratio to a reference measured in the same run. The table is also written as JSON to
//! `target/bench/results.json`. Figures are printed, never asserted: the machines are noisy.
//!
//! The rows are the issue's, one module per group: [`latency`] (1, 2), [`burst`] (3),
//! [`watch`] (4), [`idle`] (5), [`history`] (6), [`app`] (7).
//!
//! Environment: `BENCH_SCALE=small` (1k and 10k files, fewer repetitions; default `full`: 1k,
//! 10k and 100k), `BENCH_ONLY=1,3` (only these rows), `BENCH_SUPERSONIC` (the `supersonic`
//! binary; default: next to this one).

#![forbid(unsafe_code)]

mod app;
mod burst;
mod fixture;
mod history;
mod idle;
mod latency;
mod procfs;
mod stats;
mod table;
mod watch;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::fixture::Fixture;
use crate::table::{Outcome, Row};

/// Every row of the issue.
const ALL_ROWS: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];

/// How big the fixtures are and how often each case repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 1k and 10k files, few repetitions: a developer's run of a few minutes.
    Small,
    /// 1k, 10k and 100k files and more repetitions: the figures for docs/performance.md.
    Full,
}

impl Scale {
    fn from_env() -> Result<Scale> {
        match std::env::var("BENCH_SCALE").as_deref() {
            Err(_) | Ok("") | Ok("full") => Ok(Scale::Full),
            Ok("small") => Ok(Scale::Small),
            Ok(other) => bail!("BENCH_SCALE={other:?}: expected `small` or `full`"),
        }
    }

    /// Returns the scale's name as written in `BENCH_SCALE`.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Small => "small",
            Scale::Full => "full",
        }
    }

    /// Returns the tree sizes (in files) of rows 1 and 2.
    pub fn sizes(self) -> &'static [usize] {
        match self {
            Scale::Small => &[1_000, 10_000],
            Scale::Full => &[1_000, 10_000, 100_000],
        }
    }

    /// Returns the size (in files) of row 4's tree: 100k files in 10k directories, or a tenth
    /// of that at the small scale.
    pub fn watch_tree(self) -> usize {
        match self {
            Scale::Small => 10_000,
            Scale::Full => 100_000,
        }
    }

    /// Returns `small` or `full`, the repetitions at this scale.
    pub fn reps(self, small: usize, full: usize) -> usize {
        match self {
            Scale::Small => small,
            Scale::Full => full,
        }
    }
}

/// What every row group needs: the scale, the binaries, and the fixtures shared between rows.
pub struct Bench {
    /// The scale of this run.
    pub scale: Scale,
    /// The `supersonic` binary under test.
    pub supersonic: PathBuf,
    /// The release desktop app (row 7; it may not exist).
    pub app: PathBuf,
    /// The source tree (for `ui/dist` and the .deb).
    pub repo_root: PathBuf,
    fixtures: BTreeMap<usize, Fixture>,
}

impl Bench {
    fn from_env(scale: Scale) -> Result<Bench> {
        let exe = std::env::current_exe().context("locate supersonic-bench itself")?;
        let bin_dir = exe.parent().context("supersonic-bench has no directory")?.to_path_buf();
        let supersonic =
            std::env::var_os("BENCH_SUPERSONIC").map_or(bin_dir.join("supersonic"), PathBuf::from);
        if !supersonic.is_file() {
            bail!(
                "{} does not exist: build it with `cargo build --release -p supersonic-cli` \
                 (or point BENCH_SUPERSONIC at a supersonic binary)",
                supersonic.display()
            );
        }
        let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let repo_root = repo_root.canonicalize().unwrap_or(repo_root);
        Ok(Bench {
            scale,
            supersonic,
            app: bin_dir.join("supersonic-sync"),
            repo_root,
            fixtures: BTreeMap::new(),
        })
    }

    /// Returns the synced tree of `files` files, creating it on first use.
    pub fn fixture(&mut self, files: usize) -> Result<&Fixture> {
        match self.fixtures.entry(files) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => Ok(entry.insert(Fixture::create(files)?)),
        }
    }

    /// Deletes the shared fixtures (the 100k-file tree is large).
    fn drop_fixtures(&mut self) {
        self.fixtures.clear();
    }
}

/// Returns the rows `BENCH_ONLY` selects (all when it is unset or empty).
fn selected_rows() -> Result<Vec<u8>> {
    let Ok(only) = std::env::var("BENCH_ONLY") else { return Ok(ALL_ROWS.to_vec()) };
    if only.trim().is_empty() {
        return Ok(ALL_ROWS.to_vec());
    }
    let mut rows = Vec::new();
    for part in only.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u8>() {
            Ok(row) if ALL_ROWS.contains(&row) => rows.push(row),
            _ => bail!("BENCH_ONLY={only:?}: {part:?} is not a row number 1..7"),
        }
    }
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some(watch::WATCH_ONLY) => watch::watch_only(&args[1..]).map(|()| true),
        Some(other) => Err(anyhow::anyhow!(
            "unknown argument {other:?}; run without arguments (settings: BENCH_SCALE, BENCH_ONLY)"
        )),
        None => run(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("supersonic-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the selected rows, prints the table and writes the JSON; returns whether every row that
/// ran was measured.
fn run() -> Result<bool> {
    let scale = Scale::from_env()?;
    let selected = selected_rows()?;
    let mut bench = Bench::from_env(scale)?;
    let started = Instant::now();
    eprintln!(
        "supersonic-bench: scale {}, rows {selected:?}, {} ({} cores)",
        scale.name(),
        bench.supersonic.display(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let has = |row: u8| selected.contains(&row);
    let mut rows = Vec::new();
    if has(1) || has(2) {
        let name = "rows 1-2: write → commit";
        rows.extend(group(&mut bench, name, &mut |b| latency::run(b, has(1), has(2))));
    }
    if has(3) {
        rows.extend(group(&mut bench, "row 3: burst of 10,000 new files", &mut burst::run));
    }
    if has(4) {
        rows.extend(group(&mut bench, "row 4: watch set-up and peak RSS", &mut watch::run));
    }
    bench.drop_fixtures();
    if has(5) {
        rows.extend(group(&mut bench, "row 5: idle cost (60 s windows)", &mut idle::run));
    }
    if has(6) {
        rows.extend(group(&mut bench, "row 6: metrics at 1,000,000 rows", &mut history::run));
    }
    if has(7) {
        rows.extend(group(&mut bench, "row 7: desktop app", &mut app::run));
    }
    println!();
    println!(
        "supersonic-bench: scale {}, {} cores, {:.0} s",
        scale.name(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    print!("{}", table::render(&rows));
    let json = bench.repo_root.join("target/bench/results.json");
    table::write_json(&json, &rows, scale.name(), &selected)?;
    println!("written to {}", json.display());
    Ok(!rows.iter().any(|r| matches!(r.outcome, Outcome::Failed)))
}

/// Runs one group of rows and reports each row on stderr as it is done.
fn group(bench: &mut Bench, name: &str, run: &mut dyn FnMut(&mut Bench) -> Vec<Row>) -> Vec<Row> {
    eprintln!("{name} ...");
    let started = Instant::now();
    let rows = run(bench);
    for row in &rows {
        eprintln!("  {}", row_summary(row));
    }
    eprintln!("  ({:.0} s)", started.elapsed().as_secs_f64());
    rows
}

/// Returns a one-line progress report of a row.
fn row_summary(row: &Row) -> String {
    match &row.outcome {
        Outcome::Measured { summary, .. } => format!(
            "{}: median {:.1} ({} samples){}",
            row.case,
            summary.median,
            summary.n,
            row.ratio().map(|r| format!(", ratio {r:.2}")).unwrap_or_default()
        ),
        _ => format!("{}: {}", row.case, row.note),
    }
}
