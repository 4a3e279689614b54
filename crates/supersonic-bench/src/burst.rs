//! Row 3: a burst of 10,000 new files (an archive unpacked into the folder: 100 new directories
//! of 100 files) while the daemon runs, against one `git add -A && git commit` of the same files.
//!
//! Each repetition starts from a fresh synced 1k-file tree. The engine's time runs from the end
//! of the burst (the user is done writing) to the moment the branch holds a commit containing
//! all 10,000 files; it includes the quiet period. The commits it made on the way are counted
//! too: the ideal is one. The reference writes the same files into a clone of the same state and
//! times `git add -A && git commit`.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use supersonic_testkit::Sandbox;

use crate::fixture::{self, git, Daemon, Tree};
use crate::stats::{ms, Summary};
use crate::table::{Row, Unit};
use crate::Bench;

/// Files in the burst.
const BURST_FILES: usize = 10_000;
/// New directories the burst's files are spread over.
const BURST_DIRS: usize = 100;
/// Files of the synced tree the burst lands in.
const BASE_FILES: usize = 1_000;
/// The directory (in the folder) holding the burst.
const BURST_ROOT: &str = "burst";
/// How long the engine may take to commit the whole burst before the row fails.
const BURST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the daemon may take for its start cycle.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Wait after the burst is fully committed before counting commits, so a straggling commit of
/// the same burst (one that would come after the complete one) is counted too.
const STRAGGLER_WAIT: Duration = Duration::from_secs(2);

/// Runs row 3.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let case = |what: &str| format!("burst of 10,000 new files: {what}");
    match measure(bench) {
        Ok(m) => {
            let reference = Summary::of(&m.git).map(|s| s.median);
            let written = Summary::of(&m.written).map_or(0.0, |s| s.median);
            vec![
                Row::measured(
                    3,
                    case("end of burst → all committed"),
                    Unit::Ms,
                    &m.engine,
                    reference,
                    format!(
                        "includes the {} ms quiet period; burst written in {written:.0} ms; \
                         ref: `git add -A && git commit`",
                        fixture::QUIET_MS
                    ),
                ),
                Row::measured(
                    3,
                    case("commits made"),
                    Unit::Count,
                    &m.commits,
                    Some(1.0),
                    "ref: one commit",
                ),
            ]
        }
        Err(e) => vec![Row::failed(3, case("time and commits"), &e)],
    }
}

/// The samples of row 3.
struct Measured {
    engine: Vec<f64>,
    commits: Vec<f64>,
    git: Vec<f64>,
    written: Vec<f64>,
}

fn measure(bench: &mut Bench) -> Result<Measured> {
    let reps = bench.scale.reps(2, 5);
    let mut m =
        Measured { engine: Vec::new(), commits: Vec::new(), git: Vec::new(), written: Vec::new() };
    for rep in 0..reps {
        eprintln!("  burst {}/{reps}", rep + 1);
        let what = format!("row 3, burst {}", rep + 1);
        let [engine, commits, git, written] =
            fixture::with_retries(&what, || one_burst(&bench.supersonic))?;
        m.engine.push(engine);
        m.commits.push(commits);
        m.git.push(git);
        m.written.push(written);
    }
    Ok(m)
}

/// Runs one burst against the daemon, then against git; returns the engine's milliseconds from
/// the end of the burst to the complete commit, its commits, git's milliseconds, and how long
/// writing the burst took.
fn one_burst(bin: &Path) -> Result<[f64; 4]> {
    let sandbox = Sandbox::new();
    let tree = Tree::create(&sandbox, "tree", BASE_FILES)?;
    let reference = sandbox.path().join("reference");
    let (remote, target) = (fixture::path_arg(&tree.remote)?, fixture::path_arg(&reference)?);
    git(&sandbox, sandbox.path(), &["clone", "-q", &remote, &target])?;

    let device = fixture::device(&sandbox, bin, "burst");
    fixture::init(&device, &tree)?;
    let mut daemon = Daemon::start(&device, &["run"])?;
    daemon.wait_synced(1, START_TIMEOUT)?;
    let base = tree.local_tip().context("the fixture has no commit")?;
    let started = Instant::now();
    write_burst(&tree.folder)?;
    let written = Instant::now();
    let done = wait_for_burst(&sandbox, &tree, &mut daemon)?;
    std::thread::sleep(STRAGGLER_WAIT);
    let range = format!("{base}..{}", fixture::BRANCH);
    let commits: f64 = git(&sandbox, &tree.folder, &["rev-list", "--count", &range])?
        .parse()
        .context("parse the commit count")?;
    daemon.ensure_running()?;
    daemon.stop()?;

    write_burst(&reference)?;
    let git_ms = fixture::time_git_add_commit(&sandbox, &reference, "burst")?;
    Ok([ms(done - written), commits, git_ms, ms(written - started)])
}

/// Writes the burst: [`BURST_DIRS`] new directories of small files.
fn write_burst(folder: &Path) -> Result<()> {
    for i in 0..BURST_FILES {
        let dir = folder.join(format!("{BURST_ROOT}/b{:03}", i % BURST_DIRS));
        if i < BURST_DIRS {
            fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let file = dir.join(format!("f{i:05}.txt"));
        fs::write(&file, format!("burst file {i}\n"))
            .with_context(|| format!("write {}", file.display()))?;
    }
    Ok(())
}

/// Waits until the branch holds all burst files and returns when that commit was seen.
fn wait_for_burst(sandbox: &Sandbox, tree: &Tree, daemon: &mut Daemon) -> Result<Instant> {
    let deadline = Instant::now() + BURST_TIMEOUT;
    let mut seen = tree.local_tip();
    let mut committed = 0;
    loop {
        let tip = tree.local_tip();
        if tip != seen {
            let at = Instant::now();
            seen = tip;
            let listing = git(
                sandbox,
                &tree.folder,
                &["ls-tree", "-r", "--name-only", fixture::BRANCH, BURST_ROOT],
            )?;
            committed = listing.lines().count();
            if committed >= BURST_FILES {
                return Ok(at);
            }
        }
        daemon.ensure_running()?;
        if Instant::now() >= deadline {
            bail!(
                "after {BURST_TIMEOUT:?} the branch holds {committed} of the {BURST_FILES} burst \
                 files; {}",
                daemon.log_tail()
            );
        }
        std::thread::sleep(fixture::POLL);
    }
}
