//! `supersonic seed` (fill an empty remote from an existing folder) and `supersonic hydrate`
//! (restore a folder on a new device), with progress, refusals that lose nothing, and a clean
//! restart after an interruption.

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
        write(&src.join(format!("d{}/note-{i}.md", i % 10)), &format!("note {i}\n"));
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
