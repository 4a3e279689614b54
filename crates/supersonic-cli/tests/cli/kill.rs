//! `kill -9` of the daemon at random points, seeded and repeatable.
//!
//! Each run starts `supersonic run` on a folder with a bare remote, writes (creates, modifies,
//! deletes, renames) while another device pushes now and then, and sends SIGKILL after a random
//! delay: during start-up, a commit, a fetch, a merge checkout or a push. After the last run the
//! daemon starts once more and the test checks what the invariants promise (docs/reliability.md): `git fsck` is clean
//! everywhere, no stale lock is left and the daemon runs, local and remote converge, and every
//! write made before a kill is there (zero lost writes, nothing deleted comes back).
//!
//! `SUPERSONIC_KILL_SEED=N` replays a failing seed (printed on failure);
//! `SUPERSONIC_KILL_RUNS=N` sets the number of kills (default [`DEFAULT_RUNS`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// Kills per test run by default: enough to land in several phases of a cycle, small enough
/// for CI on two cores (about a second per kill plus the final convergence).
const DEFAULT_RUNS: usize = 6;

/// Longest random delay between the last write of a run and the kill. A cycle takes tens of
/// milliseconds up to the debounce (200 ms in tests) plus a push, so this spreads kills over
/// the whole cycle and sometimes past it.
const MAX_KILL_DELAY_MS: u64 = 1200;

/// Prints the seed when the test fails, so the failure can be replayed.
struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kill test failed with seed {0}; replay: SUPERSONIC_KILL_SEED={0}", self.0);
        }
    }
}

fn env_number(key: &str) -> Option<u64> {
    let value = std::env::var(key).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{key}={value} is not a number")))
}

/// Files below `dir` (outside `.git`, and without the engine's own ignored temp files).
fn files(dir: &Path) -> BTreeMap<String, String> {
    tree(dir)
        .into_iter()
        .filter(|(k, _)| !k.contains(".supersonic-tmp-"))
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect()
}

/// One random edit by the user of the folder, applied to `expected` as well.
fn edit(dir: &Path, expected: &mut BTreeMap<String, String>, rng: &mut Rng, tag: &str) {
    let existing: Vec<String> =
        expected.keys().filter(|k| k.starts_with("user/")).cloned().collect();
    let pick = |rng: &mut Rng| existing[rng.index(existing.len())].clone();
    match rng.below(20) {
        // Delete (rarely, so a run never reaches the mass-delete guard).
        0 if existing.len() > 10 => {
            let name = pick(rng);
            std::fs::remove_file(dir.join(&name)).unwrap();
            expected.remove(&name);
        }
        // Rename.
        1 if !existing.is_empty() => {
            let from = pick(rng);
            let to = format!("user/{tag}-renamed-{}.txt", rng.next_u64() % 1_000_000);
            std::fs::rename(dir.join(&from), dir.join(&to)).unwrap();
            let content = expected.remove(&from).unwrap();
            expected.insert(to, content);
        }
        // Modify.
        2..=6 if !existing.is_empty() => {
            let name = pick(rng);
            let content = format!("{tag} modified {}\n", rng.next_u64());
            write(&dir.join(&name), &content);
            expected.insert(name, content);
        }
        // Create, sometimes in a new directory, sometimes a few kilobytes.
        _ => {
            let sub = rng.below(8);
            let name = format!("user/d{sub}/{tag}-{}.txt", rng.next_u64() % 1_000_000);
            let lines = 1 + rng.below(200) as usize;
            let content: String = (0..lines).map(|i| format!("{tag} line {i}\n")).collect();
            write(&dir.join(&name), &content);
            expected.insert(name, content);
        }
    }
}

/// Another device commits one new file and pushes it (rebasing onto what the daemon pushed).
fn peer_push(sb: &Sandbox, peer: &Path, expected: &mut BTreeMap<String, String>, tag: &str) {
    let name = format!("peer/{tag}.txt");
    let content = format!("from the peer, {tag}\n");
    write(&peer.join(&name), &content);
    sb.git(peer, &["add", "-A"]);
    sb.git(peer, &["commit", "-q", "-m", &format!("peer {tag}")]);
    let mut tries = 0;
    while !sb.git_output(peer, &["push", "-q", "origin", "HEAD:main"]).status.success() {
        tries += 1;
        assert!(tries < 50, "the peer could not push {name}");
        sb.git(peer, &["pull", "-q", "--rebase", "origin", "main"]);
    }
    expected.insert(name, content);
}

#[test]
fn kill_9_at_random_points_loses_no_write_and_leaves_a_sound_repo() {
    let seed = env_number("SUPERSONIC_KILL_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    let runs = env_number("SUPERSONIC_KILL_RUNS").unwrap_or(DEFAULT_RUNS as u64);
    let _report = SeedReport(seed);
    eprintln!("kill test: seed {seed}, {runs} run(s)");
    // xorshift64* from the seed as this test has always mapped it, so printed seeds replay.
    let mut rng = Rng::xorshift64_star((seed ^ 0x9e37_79b9_7f4a_7c15) | 1);

    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("alpha-notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let mut expected = BTreeMap::new();
    write(&dir.join("user/seed.txt"), "the first file\n");
    expected.insert("user/seed.txt".to_string(), "the first file\n".to_string());
    dev.cli(&["sync"]);
    let peer = sb.clone(remote.to_str().unwrap(), "peer");

    let mut kills = Vec::new();
    for run in 0..runs {
        dev.start();
        let tag = format!("r{run}");
        if rng.below(2) == 0 {
            peer_push(&sb, &peer, &mut expected, &tag);
        }
        // Some runs write while the daemon starts, some once it had time to settle.
        let settle = rng.below(600);
        std::thread::sleep(Duration::from_millis(settle));
        let edits = 1 + rng.below(150);
        // Sometimes the kill lands in the middle of the writes; the rest are made while the
        // daemon is down, as a user goes on editing after a crash.
        let kill_at = if rng.below(3) == 0 { rng.below(edits) } else { edits };
        let delay = rng.below(MAX_KILL_DELAY_MS);
        for i in 0..edits {
            if i == kill_at {
                std::thread::sleep(Duration::from_millis(delay));
                dev.kill9();
            }
            edit(&dir, &mut expected, &mut rng, &format!("{tag}-{i}"));
        }
        if kill_at == edits {
            std::thread::sleep(Duration::from_millis(delay));
            dev.kill9();
        }
        kills.push(format!(
            "run {run}: settle {settle} ms, {edits} edit(s), kill after edit {kill_at} + {delay} ms"
        ));
    }

    dev.start();
    let converged = || {
        let head = sb.git_output(&dir, &["rev-parse", "HEAD"]);
        let main = sb.git_output(&remote, &["rev-parse", "main"]);
        let clean = sb.git_output(&dir, &["status", "--porcelain"]);
        head.status.success()
            && head.stdout == main.stdout
            && clean.status.success()
            && clean.stdout.is_empty()
            && files(&dir) == expected
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !converged() {
        if std::time::Instant::now() > deadline {
            let have = files(&dir);
            let missing: Vec<_> = expected.keys().filter(|k| !have.contains_key(*k)).collect();
            let changed: Vec<_> = expected
                .iter()
                .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
                .map(|(k, _)| k)
                .collect();
            let extra: Vec<_> = have.keys().filter(|k| !expected.contains_key(*k)).collect();
            panic!(
                "no convergence after the kills (seed {seed}):\n{}\nmissing {missing:?}\n\
                 changed {changed:?}\nextra {extra:?}\nstatus:\n{}\n{}",
                kills.join("\n"),
                sb.git(&dir, &["status", "--porcelain"]),
                dev.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(dev.is_running(), "the daemon runs after the last restart:\n{}", dev.log());
    assert!(dev.stop(), "the daemon exits cleanly after the kills:\n{}", dev.log());
    // Checked once the daemon stopped: a running one may hold a lock for a moment (a poll).
    for lock in ["index.lock", "HEAD.lock", "refs/heads/main.lock", "config.lock"] {
        assert!(!dir.join(".git").join(lock).exists(), "stale {lock} left behind (seed {seed})");
    }
    sb.fsck(&dir);
    sb.fsck(&remote);
    let check = sb.clone(remote.to_str().unwrap(), "check");
    assert_eq!(files(&check), expected, "the remote holds every write (seed {seed})");
}
