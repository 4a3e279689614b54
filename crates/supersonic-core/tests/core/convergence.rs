//! Randomized convergence: three devices, one bare remote, seeded random creates, edits,
//! deletes and renames interleaved with syncs and remote outages. Oracle: every device ends with
//! the same tree, and every file version that was on disk when a sync started is in the final
//! tree (possibly as a conflict copy) or in history. Zero lost writes.

use std::collections::BTreeSet;
use std::time::Duration;

use supersonic_core::batcher::Batch;
use supersonic_core::git::{Integration, PushOutcome};

use supersonic_testkit::{spread, Rng};

use super::*;

const NAMES: &[&str] = &["a.txt", "b.txt", "c.md", "notes/d.md", "notes/e.txt", "x/y/z.txt"];

/// A sync that tolerates an unreachable remote (commits locally, like the engine).
fn sync_maybe_offline(dev: &mut Dev, conflicts: &mut usize) -> bool {
    let t = Duration::from_secs(20);
    let id = identity(&dev.name);
    let mut lim = limits();
    lim.allow_mass_delete = true;
    for _ in 0..5 {
        dev.repo.snapshot(&Batch::Full, &rules(&dev.dir), &lim, &id).unwrap();
        match dev.repo.fetch(t) {
            Ok(true) => {
                if let Integration::Merged { conflicts: c, .. } =
                    dev.repo.integrate(&id, &dev.policy).unwrap()
                {
                    *conflicts += c.len();
                }
            }
            Ok(false) => {}
            Err(_) => return false, // remote down: the commit waits locally
        }
        if dev.repo.ahead_behind().unwrap().0 == 0 {
            return true;
        }
        match dev.repo.push(t) {
            Ok(PushOutcome::Pushed) => return true,
            Ok(PushOutcome::Rejected) => continue,
            Err(_) => return false,
        }
    }
    false
}

fn contents(dev: &Dev) -> Vec<String> {
    dev.files().iter().filter_map(|f| dev.read(f)).collect()
}

/// Every blob content reachable from the remote's branch.
fn history_contents(sb: &Sandbox, remote: &Path) -> BTreeSet<String> {
    let out = sb.git(remote, &["rev-list", "--objects", "main"]);
    let mut set = BTreeSet::new();
    for line in out.lines() {
        let oid = line.split(' ').next().unwrap();
        let kind = sb.git(remote, &["cat-file", "-t", oid]);
        if kind == "blob" {
            let o = sb.git_output(remote, &["cat-file", "-p", oid]);
            set.insert(String::from_utf8_lossy(&o.stdout).into_owned());
        }
    }
    set
}

struct Totals {
    ops: usize,
    syncs: usize,
    conflicts: usize,
    outages: usize,
    lost: usize,
}

fn run(seed: u64, ops: usize, totals: &mut Totals) {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let offline = sb.path().join("remotes/r.offline");
    let mut devs: Vec<Dev> =
        ["alpha", "beta", "gamma"].iter().map(|n| Dev::new(&sb, &remote, n)).collect();
    let mut rng = Rng::xorshift64_star(spread(seed));
    let mut seen_at_sync: BTreeSet<String> = BTreeSet::new();
    let mut down = false;
    for op in 0..ops {
        totals.ops += 1;
        if rng.below(12) == 0 {
            // Toggle a remote outage.
            if down {
                std::fs::rename(&offline, &remote).unwrap();
            } else {
                std::fs::rename(&remote, &offline).unwrap();
                totals.outages += 1;
            }
            down = !down;
        }
        let d = rng.index(3);
        let dev = &mut devs[d];
        let existing = dev.files();
        let content = format!("seed {seed} op {op} on {}\n", dev.name);
        match rng.below(10) {
            0..=2 => write(&dev.dir.join(NAMES[rng.index(NAMES.len())]), &content),
            3..=5 if !existing.is_empty() => {
                let f = &existing[rng.index(existing.len())];
                write(&dev.dir.join(f), &content);
            }
            6 if !existing.is_empty() => {
                let f = &existing[rng.index(existing.len())];
                std::fs::remove_file(dev.dir.join(f)).unwrap();
            }
            7 if !existing.is_empty() => {
                let f = &existing[rng.index(existing.len())];
                let to = NAMES[rng.index(NAMES.len())];
                if !dev.dir.join(to).exists() && !Path::new(to).starts_with(f) {
                    std::fs::create_dir_all(dev.dir.join(to).parent().unwrap()).unwrap();
                    std::fs::rename(dev.dir.join(f), dev.dir.join(to)).unwrap();
                }
            }
            _ => {
                seen_at_sync.extend(contents(dev));
                totals.syncs += 1;
                sync_maybe_offline(dev, &mut totals.conflicts);
            }
        }
    }
    if down {
        std::fs::rename(&offline, &remote).unwrap();
    }
    // Everyone syncs until the heads agree.
    for dev in devs.iter() {
        seen_at_sync.extend(contents(dev));
    }
    let mut converged = false;
    for _ in 0..8 {
        for dev in devs.iter_mut() {
            assert!(
                sync_maybe_offline(dev, &mut totals.conflicts),
                "{} syncs once the remote is back",
                dev.name
            );
        }
        let heads: BTreeSet<_> = devs.iter().map(|d| d.repo.head().unwrap()).collect();
        if heads.len() == 1 && devs.iter().all(|d| d.files() == devs[0].files()) {
            converged = true;
            break;
        }
    }
    assert!(converged, "seed {seed}: devices did not converge");
    for d in &devs[1..] {
        assert_eq!(
            contents(d),
            contents(&devs[0]),
            "seed {seed}: {} and alpha hold the same files",
            d.name
        );
        sb.fsck(&d.dir);
    }
    let final_contents: BTreeSet<String> = contents(&devs[0]).into_iter().collect();
    let history = history_contents(&sb, &remote);
    for c in &seen_at_sync {
        if !final_contents.contains(c) && !history.contains(c) {
            totals.lost += 1;
            eprintln!("seed {seed}: LOST {c:?}");
        }
    }
}

#[test]
fn three_devices_converge_with_zero_lost_writes() {
    let seeds: u64 = std::env::var("SUPERSONIC_CONVERGENCE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let ops: usize =
        std::env::var("SUPERSONIC_CONVERGENCE_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let mut totals = Totals { ops: 0, syncs: 0, conflicts: 0, outages: 0, lost: 0 };
    for seed in 1..=seeds {
        run(seed, ops, &mut totals);
    }
    println!(
        "convergence: {seeds} seeds, {} operations, {} syncs, {} remote outages, {} conflicts, {} lost writes",
        totals.ops, totals.syncs, totals.outages, totals.conflicts, totals.lost
    );
    assert_eq!(totals.lost, 0, "no write may ever be lost");
    assert!(totals.conflicts > 0, "the workload must actually produce conflicts to prove anything");
}
