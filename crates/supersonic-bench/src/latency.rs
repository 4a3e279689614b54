//! Rows 1 and 2: how long one edit takes to become a commit, as a user sees it.
//!
//! Row 1 runs the daemon with the default quiet period, appends a line to one file and times
//! the moment the working repository's branch moves (local commit) and the moment the bare
//! remote's branch reaches that commit (pushed). The reference is the quiet period itself: the
//! figure beyond it is the engine's own overhead.
//!
//! Row 2 asks what the engine's commit costs against `git add -A && git commit`: the same
//! measurement with a quiet period of 0 (the engine then commits as soon as it has the event),
//! against the git CLI committing one changed file in the same repository once the daemon is
//! stopped.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::fixture::{self, append, Daemon, Fixture, QUIET_MS};
use crate::stats::ms;
use crate::table::{Row, Unit};
use crate::Bench;

/// How long an edit may take to be committed and pushed before the row fails: far beyond any
/// plausible figure, short enough that a stuck engine does not stall the whole run.
const EDIT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the daemon may take for its start cycle (a full status of the tree, a fetch).
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// Pause after a push before the next edit, so the worker has finished its cycle (history row,
/// status file) and the next edit's quiet period starts when the edit happens.
const SETTLE: Duration = Duration::from_millis(300);

/// Runs rows 1 and/or 2 at every size of the scale.
pub fn run(bench: &mut Bench, row1: bool, row2: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for &files in bench.scale.sizes() {
        let label = size_label(files);
        if row1 {
            let what = format!("row 1, {label} files");
            rows.extend(match fixture::with_retries(&what, || write_to_commit(bench, files)) {
                Ok(found) => found,
                Err(e) => vec![Row::failed(1, format!("write → commit / push, {label} files"), &e)],
            });
        }
        if row2 {
            let what = format!("row 2, {label} files");
            rows.push(match fixture::with_retries(&what, || commit_vs_git(bench, files)) {
                Ok(row) => row,
                Err(e) => Row::failed(2, format!("one changed file → commit, {label} files"), &e),
            });
        }
    }
    rows
}

/// Row 1 at one size: write → local commit and write → pushed, with the default quiet period.
fn write_to_commit(bench: &mut Bench, files: usize) -> Result<Vec<Row>> {
    let reps = bench.scale.reps(5, 15);
    let bin = bench.supersonic.clone();
    let fixture = bench.fixture(files)?;
    let device = fixture::device(&fixture.sandbox, &bin, &format!("latency-{files}"));
    fixture::init(&device, &fixture.tree)?;
    let mut daemon = Daemon::start(&device, &["run"])?;
    daemon.wait_synced(1, START_TIMEOUT)?;
    let edits = edit_and_wait(fixture, &mut daemon, reps, "row 1")?;
    daemon.stop()?;
    let label = size_label(files);
    let local: Vec<f64> = edits.iter().map(|e| e.local).collect();
    let pushed: Vec<f64> = edits.iter().map(|e| e.pushed).collect();
    let quiet = QUIET_MS as f64;
    let overhead =
        |samples: &[f64]| crate::stats::Summary::of(samples).map_or(0.0, |s| s.median - quiet);
    Ok(vec![
        Row::measured(
            1,
            format!("write → local commit, {label} files"),
            Unit::Ms,
            &local,
            Some(quiet),
            format!("ref: quiet period; overhead beyond it {:.0} ms", overhead(&local)),
        ),
        Row::measured(
            1,
            format!("write → pushed to bare remote, {label} files"),
            Unit::Ms,
            &pushed,
            Some(quiet),
            format!(
                "ref: quiet period; overhead beyond it {:.0} ms (commit + push; a fetch only when the push is refused)",
                overhead(&pushed)
            ),
        ),
    ])
}

/// Row 2 at one size: the engine's commit of one changed file (quiet period 0) against
/// `git add -A && git commit` of one changed file in the same repository.
fn commit_vs_git(bench: &mut Bench, files: usize) -> Result<Row> {
    let reps = bench.scale.reps(5, 15);
    let bin = bench.supersonic.clone();
    let fixture = bench.fixture(files)?;
    let mut device = fixture::device(&fixture.sandbox, &bin, &format!("commit-{files}"));
    device.set_env("SUPERSONIC_DEBOUNCE_MS", "0");
    fixture::init(&device, &fixture.tree)?;
    let mut daemon = Daemon::start(&device, &["run"])?;
    daemon.wait_synced(1, START_TIMEOUT)?;
    let engine: Vec<f64> =
        edit_and_wait(fixture, &mut daemon, reps, "row 2")?.iter().map(|e| e.local).collect();
    daemon.stop()?;
    let mut git = Vec::new();
    for i in 0..=reps {
        let file = fixture.tree.folder.join(pick(&fixture.tree.files, 1000 + i));
        append(&file, &format!("git edit {i}"))?;
        let sample = fixture::time_git_add_commit(&fixture.sandbox, &fixture.tree.folder, "edit")?;
        // The first run warms git's index and the page cache: not counted.
        if i > 0 {
            git.push(sample);
        }
    }
    let reference = crate::stats::Summary::of(&git).map(|s| s.median);
    Ok(Row::measured(
        2,
        format!("one changed file → commit, {} files", size_label(files)),
        Unit::Ms,
        &engine,
        reference,
        "engine: write → commit with quiet period 0; ref: `git add -A && git commit`",
    ))
}

/// One timed edit: milliseconds from the write to the local commit and to the pushed commit.
struct Edit {
    local: f64,
    pushed: f64,
}

/// Makes `reps` + 1 edits (the first is a warm-up, not returned), each to another file, and
/// times each until it is committed and until the remote has it.
fn edit_and_wait(
    fixture: &Fixture,
    daemon: &mut Daemon,
    reps: usize,
    what: &str,
) -> Result<Vec<Edit>> {
    let tree = &fixture.tree;
    let mut edits = Vec::new();
    for i in 0..=reps {
        let rel = pick(&tree.files, i);
        let before = tree.local_tip();
        let started = Instant::now();
        append(&tree.folder.join(rel), &format!("edit {i}"))?;
        let describe = || format!("a commit of {} ({what}, edit {i})", rel.display());
        let local = fixture::wait_until(&describe, EDIT_TIMEOUT, || {
            daemon.ensure_running()?;
            Ok(tree.local_tip() != before)
        })
        .with_context(|| daemon.log_tail())?;
        let describe = || format!("the push of {} ({what}, edit {i})", rel.display());
        let pushed = fixture::wait_until(&describe, EDIT_TIMEOUT, || {
            Ok(tree.remote_tip().is_some() && tree.remote_tip() == tree.local_tip())
        })
        .with_context(|| daemon.log_tail())?;
        if i > 0 {
            edits.push(Edit { local: ms(local - started), pushed: ms(pushed - started) });
        }
        std::thread::sleep(SETTLE);
    }
    Ok(edits)
}

/// Returns the `i`-th file to edit: spread over the tree (a prime stride), never the same twice
/// in a run of a few dozen edits.
fn pick(files: &[std::path::PathBuf], i: usize) -> &std::path::Path {
    &files[(i * 7919 + 13) % files.len()]
}

/// Returns `1k`, `10k`, `100k` for a file count.
pub fn size_label(files: usize) -> String {
    if files >= 1000 && files.is_multiple_of(1000) {
        format!("{}k", files / 1000)
    } else {
        files.to_string()
    }
}
