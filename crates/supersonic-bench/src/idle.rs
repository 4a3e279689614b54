//! Row 5: what an idle daemon costs over 60 s with 3 folders: CPU time and wakeups, read from
//! `/proc` before and after the window. Expected: about nothing.
//!
//! Two daemons run side by side on folders of their own, `supersonic run` and `supersonic serve`
//! (the HTTP API idles too), next to the reference: the minimal watcher holding the same watches
//! as `run`, which shows what merely existing with inotify watches costs on this machine. All
//! three are measured over the same windows. The default remote poll (every 300 s) falls
//! outside the windows; it costs one fetch per folder per 5 minutes.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use supersonic_testkit::Sandbox;

use crate::fixture::{self, Daemon, Tree};
use crate::procfs;
use crate::stats::Summary;
use crate::table::{Row, Unit};
use crate::watch::WATCH_ONLY;
use crate::Bench;

/// Folders per daemon.
const FOLDERS: usize = 3;
/// Files per folder.
const FILES: usize = 1_000;
/// Length of one measured window (the 60 s).
const WINDOW: Duration = Duration::from_secs(60);
/// Pause between the start cycles' end and the first window, so start-up work still in flight
/// (history writes, SQLite checkpoints, thread exits) is not counted as idle cost.
const SETTLE: Duration = Duration::from_secs(5);
/// How long the daemons may take for their start cycles.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs row 5.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    match fixture::with_retries("row 5", || measure(bench)) {
        Ok(rows) => rows,
        Err(e) => vec![Row::failed(5, "idle 60 s, 3 folders", &e)],
    }
}

/// CPU milliseconds and per-thread wakeups of one process at one moment.
struct Sample {
    cpu_ms: f64,
    threads: BTreeMap<u32, (String, f64)>,
}

fn sample(pid: u32) -> Result<Sample> {
    Ok(Sample { cpu_ms: procfs::cpu_ms(pid)?, threads: procfs::thread_switches(pid)? })
}

/// What one process cost over one window: CPU milliseconds, wakeups, and the thread that woke
/// most (name and wakeups), to point at the cause.
struct Cost {
    cpu_ms: f64,
    wakeups: f64,
    busiest: Option<(String, f64)>,
}

impl Cost {
    /// Returns the cost between `before` and `after`, scaled by `scale`; threads that started
    /// during the window count from zero, threads that ended are left out.
    fn between(before: &Sample, after: &Sample, scale: f64) -> Cost {
        let mut per_thread: Vec<(String, f64)> = after
            .threads
            .iter()
            .map(|(tid, (name, n))| {
                let earlier = before.threads.get(tid).map_or(0.0, |(_, b)| *b);
                (name.clone(), (n - earlier) * scale)
            })
            .collect();
        per_thread.sort_by(|a, b| b.1.total_cmp(&a.1));
        Cost {
            cpu_ms: (after.cpu_ms - before.cpu_ms) * scale,
            wakeups: per_thread.iter().map(|(_, n)| n).sum(),
            busiest: per_thread.into_iter().next().filter(|(_, n)| *n >= 1.0),
        }
    }
}

fn measure(bench: &mut Bench) -> Result<Vec<Row>> {
    let windows = bench.scale.reps(1, 3);
    let sandbox = Sandbox::new();
    let mut trees = Vec::new();
    for i in 0..2 * FOLDERS {
        trees.push(Tree::create(&sandbox, &format!("folder{i}"), FILES)?);
    }
    let (run_trees, serve_trees) = trees.split_at(FOLDERS);
    let run_device = fixture::device(&sandbox, &bench.supersonic, "idle-run");
    let serve_device = fixture::device(&sandbox, &bench.supersonic, "idle-serve");
    for tree in run_trees {
        fixture::init(&run_device, tree)?;
    }
    for tree in serve_trees {
        fixture::init(&serve_device, tree)?;
    }
    let mut run = Daemon::start(&run_device, &["run"])?;
    let mut serve = Daemon::start(&serve_device, &["serve", "--port", "0"])?;
    let mut minimal = Command::new(std::env::current_exe().context("locate supersonic-bench")?);
    minimal.arg(WATCH_ONLY).args(run_trees.iter().map(|t| t.folder.as_os_str()));
    let mut minimal = Daemon::spawn(minimal, sandbox.path().join("watch-only.log"))?;
    run.wait_synced(FOLDERS, START_TIMEOUT)?;
    serve.wait_synced(FOLDERS, START_TIMEOUT)?;
    minimal.wait_for_log("ready", 1, START_TIMEOUT)?;
    std::thread::sleep(SETTLE);

    let pids = [run.pid(), serve.pid(), minimal.pid()];
    let mut costs: [Vec<Cost>; 3] = Default::default();
    for window in 0..windows {
        eprintln!("  idle window {}/{windows} ({} s)", window + 1, WINDOW.as_secs());
        let before = pids.map(sample);
        let started = Instant::now();
        std::thread::sleep(WINDOW);
        let after = pids.map(sample);
        // Scale to exactly one window, in case the sleep overran on a loaded machine.
        let scale = WINDOW.as_secs_f64() / started.elapsed().as_secs_f64();
        for (i, (b, a)) in before.into_iter().zip(after).enumerate() {
            costs[i].push(Cost::between(&b?, &a?, scale));
        }
    }
    run.ensure_running()?;
    serve.ensure_running()?;
    run.stop()?;
    serve.stop()?;
    drop(minimal);

    let cpu = |i: usize| -> Vec<f64> { costs[i].iter().map(|c| c.cpu_ms).collect() };
    let wakeups = |i: usize| -> Vec<f64> { costs[i].iter().map(|c| c.wakeups).collect() };
    let median = |v: &[f64]| Summary::of(v).map(|s| s.median);
    let mut rows = Vec::new();
    for (i, name) in [(0, "run"), (1, "serve")] {
        let busiest = costs[i]
            .last()
            .and_then(|c| c.busiest.clone())
            .map(|(thread, n)| format!("; busiest thread {thread:?}: {n:.0}"))
            .unwrap_or_default();
        rows.push(Row::measured(
            5,
            format!("idle 60 s, 3 folders, `supersonic {name}`: CPU time"),
            Unit::Ms,
            &cpu(i),
            median(&cpu(2)),
            "utime+stime+children from /proc/<pid>/stat (10 ms ticks); ref: minimal watcher",
        ));
        rows.push(Row::measured(
            5,
            format!("idle 60 s, 3 folders, `supersonic {name}`: wakeups"),
            Unit::Count,
            &wakeups(i),
            median(&wakeups(2)),
            format!("voluntary context switches, all threads; ref: minimal watcher{busiest}"),
        ));
    }
    Ok(rows)
}
