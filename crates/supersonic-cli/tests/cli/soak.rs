//! The soak run (`make soak`, not part of `make test`): three devices with running daemons on
//! one `git daemon` remote, random edits and faults for `SOAK_SECS` seconds (default 120,
//! seeded by `SOAK_SEED`), then a check that nothing was lost and every tree converged.
//!
//! Operations: write a new file, edit one of the device's own files, delete one, and edit a
//! shared file on two devices at once (a real conflict: both versions must survive). Faults:
//! the remote goes down for a few seconds, a daemon is killed with SIGKILL and restarted.
//! A "lost write" is a device's last content for a path of its own that is missing at the end,
//! or a conflicting version that no file holds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
#[ignore = "long: run with `make soak` (SOAK_SECS, SOAK_SEED)"]
fn soak_three_devices_with_random_edits_and_faults_lose_nothing() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 7919 + 1);
    println!("soak: {secs} s, seed {seed} (replay with SOAK_SEED={seed})");
    let mut rng = Rng::xorshift64(seed | 1);
    let sb = Sandbox::new();
    sb.bare_remote("notes");
    let mut remote = GitDaemon::start(&sb, &sb.remotes_dir());
    let url = remote.url("notes.git");
    let names = ["alpha", "beta", "gamma"];
    let mut devices: Vec<Device> = names.iter().map(|n| Device::new(&sb, &bin(), n)).collect();
    let dirs: Vec<_> = names.iter().map(|n| sb.path().join(format!("{n}-notes"))).collect();
    for (d, dir) in devices.iter().zip(&dirs) {
        d.cli(&["init", dir.to_str().unwrap(), "--remote", &url]);
    }
    for d in &mut devices {
        d.start();
    }

    // What each device last wrote to each of its own paths (None: deleted).
    let mut own: BTreeMap<String, Option<String>> = BTreeMap::new();
    // Every version written to a shared file by two devices at once.
    let mut contested: BTreeSet<String> = BTreeSet::new();
    let (mut ops, mut faults, mut conflicts, mut n) = (0u64, 0u64, 0u64, 0u64);
    let mut down_until: Option<Instant> = None;
    let mut dead: Vec<(usize, Instant)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        n += 1;
        if down_until.is_some_and(|t| Instant::now() >= t) {
            remote.restart();
            down_until = None;
        }
        dead.retain(|(i, t)| {
            if Instant::now() >= *t {
                devices[*i].start();
                false
            } else {
                true
            }
        });
        let dev = rng.index(3);
        let dir = &dirs[dev];
        match rng.index(20) {
            0..=7 => {
                let path = format!("{}/n{}.md", names[dev], n);
                let text = format!("{} wrote #{n}\n", names[dev]);
                write(&dir.join(&path), &text);
                own.insert(path, Some(text));
                ops += 1;
            }
            8..=12 => {
                let mine: Vec<String> = own
                    .iter()
                    .filter(|(p, v)| p.starts_with(names[dev]) && v.is_some())
                    .map(|(p, _)| p.clone())
                    .collect();
                if !mine.is_empty() && dir.join(&mine[0]).exists() {
                    let path = mine[rng.index(mine.len())].clone();
                    let text = format!("{} edited #{n}\n", names[dev]);
                    write(&dir.join(&path), &text);
                    own.insert(path, Some(text));
                    ops += 1;
                }
            }
            13 => {
                let mine: Vec<String> = own
                    .iter()
                    .filter(|(p, v)| p.starts_with(names[dev]) && v.is_some())
                    .map(|(p, _)| p.clone())
                    .collect();
                if !mine.is_empty() {
                    let path = mine[rng.index(mine.len())].clone();
                    if std::fs::remove_file(dir.join(&path)).is_ok() {
                        own.insert(path, None);
                        ops += 1;
                    }
                }
            }
            14 | 15 => {
                // Two devices write the same new shared file: a conflict by construction.
                let other = (dev + 1 + rng.index(2)) % 3;
                let path = format!("shared/s{n}.md");
                for i in [dev, other] {
                    let text = format!("{} version of s{n}\n", names[i]);
                    write(&dirs[i].join(&path), &text);
                    contested.insert(text);
                }
                conflicts += 1;
                ops += 2;
            }
            16 if down_until.is_none() => {
                remote.stop();
                down_until = Some(Instant::now() + Duration::from_millis(500 + rng.below(3000)));
                faults += 1;
            }
            17 if dead.len() < 2 && !dead.iter().any(|(i, _)| *i == dev) => {
                devices[dev].kill9();
                dead.push((dev, Instant::now() + Duration::from_millis(300 + rng.below(2000))));
                faults += 1;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50 + rng.below(250)));
    }
    if down_until.is_some() {
        remote.restart();
    }
    for (i, _) in dead.drain(..) {
        devices[i].start();
    }

    // Converge: every tree equal (conflict copies included) within a generous bound.
    let converged = {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let trees: Vec<_> = dirs.iter().map(|d| tree(d)).collect();
            if trees.windows(2).all(|w| w[0] == w[1]) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let final_tree = tree(&dirs[0]);
    let texts: BTreeSet<String> =
        final_tree.values().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    let mut lost = Vec::new();
    for (path, want) in &own {
        let have = final_tree.get(path).map(|b| String::from_utf8_lossy(b).into_owned());
        match want {
            // An own file edited elsewhere never happens here, so it must hold its last text.
            Some(text) if have.as_ref() != Some(text) && !texts.contains(text) => {
                lost.push(format!("{path}: want {text:?}, have {have:?}"))
            }
            None if have.is_some() => lost.push(format!("{path}: deleted, but back as {have:?}")),
            _ => {}
        }
    }
    for text in &contested {
        if !texts.contains(text) {
            lost.push(format!("conflicting version {text:?} is in no file"));
        }
    }
    for d in &dirs {
        sb.fsck(d);
    }
    let divergence = if converged { "none" } else { "TREES DIFFER" };
    println!(
        "soak: {ops} operations, {faults} faults injected, {conflicts} conflicts, {} lost \
         writes, divergence at the end: {divergence}",
        lost.len()
    );
    for l in &lost {
        println!("soak: lost: {l}");
    }
    for d in &mut devices {
        assert!(d.stop(), "{} stops cleanly: {}", d.name(), d.log());
    }
    assert!(converged, "the three trees did not converge");
    assert!(lost.is_empty(), "lost writes: {lost:#?}");
}
