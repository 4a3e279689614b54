//! `supersonic seed` (fill an empty remote from an existing folder) and `supersonic hydrate`
//! (restore a folder on a new device), with progress, refusals that lose nothing, and a clean
//! restart after an interruption.

use std::time::Duration;

use crate::common::*;

#[test]
fn seed_fills_an_empty_remote_and_hydrate_restores_it_on_another_device() {
    let sb = Sandbox::new();
    sb.bare_remote("notes");
    let daemon = GitDaemon::start(&sb, &sb.remotes_dir());
    let url = daemon.url("notes.git");
    let (alpha, beta) = (Device::new(&sb, &bin(), "alpha"), Device::new(&sb, &bin(), "beta"));

    let src = sb.path().join("existing-notes");
    for i in 0..300 {
        write(&src.join(format!("d{}/note-{i}.md", i % 10)), format!("note {i}\n"));
    }
    let out = alpha.run(&["seed", src.to_str().unwrap(), "--remote", &url]);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "seed: {stdout}\n{stderr}");
    assert!(stdout.contains("seeded") && stdout.contains("300 file(s)"), "{stdout}");
    assert!(stderr.contains("staging: 100% (300/300)"), "staging progress: {stderr}");
    assert!(stderr.contains("Writing objects: 100%"), "push progress: {stderr}");
    let remote = sb.remotes_dir().join("notes.git");
    assert_eq!(sb.git(&remote, &["ls-tree", "-r", "--name-only", "main"]).lines().count(), 300);

    // A second seed into the now filled remote is refused, and registers nothing.
    let other = sb.path().join("other");
    write(&other.join("x.md"), "x\n");
    let again = alpha.run(&["seed", other.to_str().unwrap(), "--remote", &url]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has branch main"));
    assert!(!alpha.cli(&["status", "--json"]).contains("/other"), "nothing registered");

    // Beta restores the folder; a stale partial clone of an interrupted hydrate is cleaned up.
    let dst = sb.path().join("restored");
    let partial = sb.path().join(".restored.supersonic-hydrate");
    write(&partial.join("junk"), "left by a killed hydrate\n");
    let out = beta.run(&["hydrate", &url, dst.to_str().unwrap()]);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "hydrate: {stdout}\n{stderr}");
    assert!(stderr.contains("Receiving objects: 100%"), "clone progress: {stderr}");
    assert!(!partial.exists(), "the interrupted hydrate's leftovers are gone");
    assert_eq!(tree(&dst), tree(&src), "beta holds every file");
    assert!(beta.cli(&["status", "--json"]).contains(&dst.display().to_string()));

    // And from then on both devices sync.
    write(&dst.join("from-beta.md"), "hello from beta\n");
    beta.cli(&["sync"]);
    alpha.cli(&["sync"]);
    assert_eq!(read(&src.join("from-beta.md")).as_deref(), Some("hello from beta\n"));
}

#[test]
fn hydrate_refuses_a_folder_that_is_not_empty_and_touches_nothing() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let beta = Device::new(&sb, &bin(), "beta");
    let dst = sb.path().join("busy");
    write(&dst.join("precious.txt"), "mine\n");
    let out = beta.run(&["hydrate", remote.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"), "{out:?}");
    assert_eq!(read(&dst.join("precious.txt")).as_deref(), Some("mine\n"));
    assert!(!dst.join(".git").exists());
}

#[test]
fn hydrate_picks_the_pushed_branch_when_the_remote_head_names_a_missing_one() {
    let sb = Sandbox::new();
    let remote = sb.path().join("head-master.git");
    sb.git(sb.path(), &["init", "-q", "--bare", "-b", "master", remote.to_str().unwrap()]);
    let (alpha, beta) = (Device::new(&sb, &bin(), "alpha"), Device::new(&sb, &bin(), "beta"));
    let src = sb.path().join("src");
    write(&src.join("a.md"), "a\n");
    alpha.cli(&["seed", src.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let dst = sb.path().join("dst");
    let out = beta.cli(&["hydrate", remote.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(out.contains("(branch main"), "main, not the remote HEAD's missing master: {out}");
    assert_eq!(read(&dst.join("a.md")).as_deref(), Some("a\n"));
}

/// A hydrate over smart HTTP killed with SIGKILL in the middle of its clone leaves no folder
/// and no config entry behind, and the next hydrate starts over and restores everything.
#[test]
fn a_hydrate_killed_mid_clone_over_smart_http_leaves_nothing_and_the_next_one_restores_all() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("big");
    // Enough incompressible data that the clone takes a while: ~16 MB in 4,000 files.
    let src = sb.clone(remote.to_str().unwrap(), "src");
    let mut rng = Rng::xorshift64(0x9e37_79b9_7f4a_7c15);
    for i in 0..4000 {
        let bytes = rng.bytes(4096);
        let path = src.join(format!("d{}/f{i}.bin", i % 50));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    sb.git(&src, &["add", "-A"]);
    sb.git(&src, &["commit", "-qm", "big"]);
    sb.git(&src, &["push", "-q", "origin", "HEAD:main"]);
    let http = SmartHttp::start(&sb, &sb.remotes_dir(), None);
    let url = http.url("big.git");
    let beta = Device::new(&sb, &bin(), "beta");
    let dst = sb.path().join("restored");
    let partial = sb.path().join(".restored.supersonic-hydrate");

    let mut child = beta
        .command(&["hydrate", &url, dst.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Mid-clone: git is writing the received pack into the hidden partial clone.
    let packs = partial.join(".git/objects/pack");
    let receiving = || {
        std::fs::read_dir(&packs).is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("tmp_pack_")
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            })
        })
    };
    let started = std::time::Instant::now();
    while !receiving() {
        assert!(child.try_wait().unwrap().is_none(), "the hydrate ended before its clone was seen");
        assert!(started.elapsed() < Duration::from_secs(60), "no clone started");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up of its own
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed before the clone finished");
    // The killed process's git may run on for a moment: wait until it let go of the partial.
    wait_until("the orphaned clone to end", Duration::from_secs(60), || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", partial.to_str().unwrap()])
            .output()
            .unwrap();
        out.stdout.is_empty()
    });
    assert!(!dst.exists(), "no half-restored folder where the user asked for one");
    assert!(
        !beta.cli(&["status", "--json"]).contains(&dst.display().to_string()),
        "nothing registered"
    );

    let out = beta.run(&["hydrate", &url, dst.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!partial.exists(), "the interrupted clone's leftovers are gone");
    assert_eq!(tree(&dst), tree(&src), "every file restored");
    assert!(beta.cli(&["status", "--json"]).contains(&dst.display().to_string()));
}
