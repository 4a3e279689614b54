//! Row 4: watch set-up time and peak memory on a large tree (100k files in 10k directories at
//! full scale), against a minimal program that only registers the same `notify` watches.
//!
//! Both are timed the same way from outside: from spawning the process to the moment one of its
//! inotify descriptors holds one watch per directory (`/proc/<pid>/fdinfo`). Peak memory is the
//! process's `VmHWM`; the daemon's is read once its start cycle (a full status of the tree, a
//! fetch) is done, since that is part of what starting costs. The minimal program is this
//! binary run as `supersonic-bench watch-only DIR...`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use notify::{RecursiveMode, Watcher as _};

use supersonic_testkit::Device;

use crate::fixture::{self, Daemon, Fixture};
use crate::latency::size_label;
use crate::procfs;
use crate::stats::{ms, Summary};
use crate::table::{Row, Unit};
use crate::Bench;

/// The hidden subcommand that runs the minimal watcher.
pub const WATCH_ONLY: &str = "watch-only";

/// Line the minimal watcher prints once every watch is registered.
const READY: &str = "watch-only: ready";

/// How long either process may take to register every watch.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the daemon may take for its start cycle after the watches.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs row 4 on the scale's watch tree.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let files = bench.scale.watch_tree();
    let label = size_label(files);
    match measure(bench, files) {
        Ok(m) => {
            let median = |s: &[f64]| Summary::of(s).map(|s| s.median);
            let case = |what: &str| format!("{what}, {label} files / {} dirs", m.dirs);
            vec![
                Row::measured(
                    4,
                    case("watch set-up"),
                    Unit::Ms,
                    &m.engine_setup,
                    median(&m.minimal_setup),
                    "spawn → all inotify watches; ref: minimal notify program",
                ),
                Row::measured(
                    4,
                    case("peak RSS (VmHWM)"),
                    Unit::Bytes,
                    &m.engine_peak,
                    median(&m.minimal_peak),
                    "daemon after its start cycle (full status of the tree); ref: minimal program",
                ),
            ]
        }
        Err(e) => vec![Row::failed(4, format!("watch set-up and peak RSS, {label} files"), &e)],
    }
}

/// The samples of row 4.
struct Measured {
    dirs: usize,
    engine_setup: Vec<f64>,
    engine_peak: Vec<f64>,
    minimal_setup: Vec<f64>,
    minimal_peak: Vec<f64>,
}

fn measure(bench: &mut Bench, files: usize) -> Result<Measured> {
    let reps = bench.scale.reps(3, 5);
    let bin = bench.supersonic.clone();
    let exe = std::env::current_exe().context("locate supersonic-bench itself")?;
    let fixture = bench.fixture(files)?;
    let tree = &fixture.tree;
    let device = fixture::device(&fixture.sandbox, &bin, "watch");
    fixture::init(&device, tree)?;
    let mut m = Measured {
        dirs: tree.dirs,
        engine_setup: Vec::new(),
        engine_peak: Vec::new(),
        minimal_setup: Vec::new(),
        minimal_peak: Vec::new(),
    };
    // The first start of each is a warm-up (dentry and page caches): not counted.
    for rep in 0..=reps {
        let what = format!("row 4, start {}", rep + 1);
        let [setup, peak, minimal_setup, minimal_peak] =
            fixture::with_retries(&what, || start_both(fixture, &device, &exe))?;
        if rep > 0 {
            m.engine_setup.push(setup);
            m.engine_peak.push(peak);
            m.minimal_setup.push(minimal_setup);
            m.minimal_peak.push(minimal_peak);
        }
    }
    Ok(m)
}

/// Starts the daemon, then the minimal watcher, on the fixture's tree; returns the daemon's
/// set-up milliseconds and peak bytes, then the minimal watcher's.
fn start_both(fixture: &Fixture, device: &Device, exe: &Path) -> Result<[f64; 4]> {
    let tree = &fixture.tree;
    let mut daemon = Daemon::start(device, &["run"])?;
    let setup = time_watches(&mut daemon, tree.dirs)?;
    daemon.wait_synced(1, START_TIMEOUT)?;
    let peak = procfs::memory_bytes(daemon.pid(), "VmHWM")?;
    daemon.stop()?;

    let mut cmd = Command::new(exe);
    cmd.arg(WATCH_ONLY).arg(&tree.folder);
    let log = fixture.sandbox.path().join("watch-only.log");
    let mut minimal = Daemon::spawn(cmd, log)?;
    let minimal_setup = time_watches(&mut minimal, tree.dirs)?;
    minimal.wait_for_log(READY, 1, SETUP_TIMEOUT)?;
    let minimal_peak = procfs::memory_bytes(minimal.pid(), "VmHWM")?;
    Ok([setup, peak, minimal_setup, minimal_peak])
}

/// Waits until `process` holds `dirs` inotify watches; returns milliseconds since its spawn.
fn time_watches(process: &mut Daemon, dirs: usize) -> Result<f64> {
    let pid = process.pid();
    let mut held = 0;
    let describe = || format!("{dirs} inotify watches in process {pid}");
    let seen = fixture::wait_until(&describe, SETUP_TIMEOUT, || {
        process.ensure_running()?;
        held = procfs::most_inotify_watches(pid).unwrap_or(0);
        Ok(held >= dirs)
    })
    .with_context(|| format!("it holds {held} watches; {}", process.log_tail()))?;
    Ok(ms(seen - process.spawned))
}

/// The minimal watcher: registers a non-recursive `notify` watch on every directory below each
/// of `folders` except `.git` (as the engine does), says so, and waits to be killed.
pub fn watch_only(folders: &[String]) -> Result<()> {
    if folders.is_empty() {
        bail!("usage: supersonic-bench {WATCH_ONLY} DIR...");
    }
    let mut watcher = notify::recommended_watcher(|_: notify::Result<notify::Event>| {})
        .context("start the notify watcher")?;
    let mut watched = 0;
    for folder in folders {
        let walker = walkdir::WalkDir::new(folder).follow_links(false).into_iter();
        for entry in walker.filter_entry(|e| e.file_type().is_dir() && e.file_name() != ".git") {
            let entry = entry.with_context(|| format!("walk {folder}"))?;
            watch(&mut watcher, entry.path())?;
            watched += 1;
        }
    }
    println!("{READY} ({watched} directories)");
    loop {
        std::thread::park();
    }
}

fn watch(watcher: &mut notify::RecommendedWatcher, dir: &Path) -> Result<()> {
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watch {}", dir.display()))
}
