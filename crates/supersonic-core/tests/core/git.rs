//! The git module on real repositories.

use std::collections::BTreeMap;
use std::time::Duration;

use supersonic_core::batcher::Batch;
use supersonic_core::git::{GitRepo, Integration, PushOutcome};
use supersonic_core::Error;

use super::*;

const T: Duration = Duration::from_secs(30);

#[test]
fn unchanged_content_is_not_a_change() {
    let mut f = Fixture::new();
    write(&f.dir.join("a.txt"), "same\n");
    assert!(f.full_snapshot().commit.is_some(), "first snapshot commits");
    // Rewrite with identical content: new mtime, same checksum.
    write(&f.dir.join("a.txt"), "same\n");
    let batch = Batch::Paths([PathBuf::from("a.txt")].into());
    let snap = f.repo.snapshot(&batch, &rules(&f.dir), &limits(), &identity("alpha")).unwrap();
    assert_eq!(snap.commit, None, "same blob, no commit");
}

#[test]
fn a_batch_is_one_commit_with_device_trailers_and_paths() {
    let mut f = Fixture::new();
    for i in 0..3 {
        write(&f.dir.join(format!("d/{i}.md")), "x\n");
    }
    let snap = f.full_snapshot();
    assert_eq!(snap.files_changed, 3);
    let msg = f.sb.git(&f.dir, &["log", "-1", "--format=%B"]);
    assert!(msg.starts_with("sync: 3 files changed on alpha"), "{msg}");
    assert!(msg.contains("A d/0.md"), "paths in the body: {msg}");
    assert!(msg.contains("Sync-Device: alpha"), "{msg}");
    assert!(msg.contains("Sync-Device-Id: 0123456789abcdef"), "{msg}");
    let trailers =
        f.sb.git(&f.dir, &["log", "-1", "--format=%(trailers:key=Sync-Device,valueonly)"]);
    assert_eq!(trailers.trim(), "alpha", "git itself parses the trailer");
}

#[test]
fn a_directory_that_became_a_file_and_back_is_committed_from_reported_paths_alone() {
    let mut f = Fixture::new();
    // Neighbours that sort around "d/" ("d-x", "d.txt", "d0") must be left alone.
    for p in ["d/a.txt", "d/sub/b.txt", "d-x.txt", "d.txt", "d0/c.txt", "e.txt"] {
        write(&f.dir.join(p), "x\n");
    }
    f.full_snapshot();
    let tracked = |f: &Fixture| f.sb.git(&f.dir, &["ls-tree", "-r", "--name-only", "HEAD"]);
    let stage = |f: &mut Fixture, path: &str| {
        let batch = Batch::Paths([PathBuf::from(path)].into());
        f.repo.snapshot(&batch, &rules(&f.dir), &limits(), &identity("alpha")).unwrap()
    };

    std::fs::remove_dir_all(f.dir.join("d")).unwrap();
    write(&f.dir.join("d"), "now a file\n");
    assert!(stage(&mut f, "d").commit.is_some());
    assert_eq!(tracked(&f), "d\nd-x.txt\nd.txt\nd0/c.txt\ne.txt");

    std::fs::remove_file(f.dir.join("d")).unwrap();
    write(&f.dir.join("d/new.txt"), "a dir again\n");
    assert!(stage(&mut f, "d").commit.is_some());
    assert_eq!(tracked(&f), "d-x.txt\nd.txt\nd/new.txt\nd0/c.txt\ne.txt");

    // A file vanished inside a reported directory: dropped, siblings kept.
    write(&f.dir.join("d/keep.txt"), "k\n");
    stage(&mut f, "d");
    std::fs::remove_file(f.dir.join("d/new.txt")).unwrap();
    assert!(stage(&mut f, "d").commit.is_some());
    assert_eq!(tracked(&f), "d-x.txt\nd.txt\nd/keep.txt\nd0/c.txt\ne.txt");
    f.sb.fsck(&f.dir);
}

#[test]
fn ignored_files_and_oversized_files_are_not_committed() {
    let mut f = Fixture::new();
    write(&f.dir.join(".syncignore"), "*.log\n");
    write(&f.dir.join("keep.md"), "k\n");
    write(&f.dir.join("debug.log"), "noise\n");
    write(&f.dir.join(".keep.md.swp"), "swap\n");
    std::fs::write(f.dir.join("big.bin"), vec![7u8; 2 * 1024 * 1024]).unwrap();
    let snap = f.full_snapshot();
    let files = f.sb.git(&f.dir, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert_eq!(files, ".syncignore\nkeep.md", "only real content is committed");
    assert_eq!(snap.skipped.len(), 1, "the big file is reported: {:?}", snap.skipped);
    assert!(snap.skipped[0].1.contains("size limit"), "{:?}", snap.skipped);
}

#[test]
fn symlinks_are_committed_as_links_not_followed() {
    let mut f = Fixture::new();
    let outside = f.sb.path().join("outside");
    write(&outside.join("secret.txt"), "do not sync\n");
    std::os::unix::fs::symlink(&outside, f.dir.join("link")).unwrap();
    write(&f.dir.join("a.txt"), "a\n");
    f.full_snapshot();
    let tree = f.sb.git(&f.dir, &["ls-tree", "-r", "HEAD"]);
    assert!(tree.contains("120000 blob"), "the link is stored as a link: {tree}");
    assert!(!tree.contains("secret.txt"), "the target is not followed: {tree}");
}

#[test]
fn a_mass_delete_stops_instead_of_committing() {
    let mut f = Fixture::new();
    for i in 0..20 {
        write(&f.dir.join(format!("{i}.txt")), "x\n");
    }
    f.full_snapshot();
    for i in 0..15 {
        std::fs::remove_file(f.dir.join(format!("{i}.txt"))).unwrap();
    }
    let err =
        f.repo.snapshot(&Batch::Full, &rules(&f.dir), &limits(), &identity("alpha")).unwrap_err();
    assert!(matches!(err, Error::Blocked(ref m) if m.contains("mass delete: 15 of 20")), "{err}");
    let files = f.sb.git(&f.dir, &["ls-tree", "-r", "--name-only", "HEAD"]).lines().count();
    assert_eq!(files, 20, "nothing deleted in history");
    let mut allowed = limits();
    allowed.allow_mass_delete = true;
    let snap = f.repo.snapshot(&Batch::Full, &rules(&f.dir), &allowed, &identity("alpha")).unwrap();
    assert_eq!(snap.files_changed, 15, "confirmed, the delete is committed");
}

#[test]
fn a_file_edited_after_the_snapshot_is_not_overwritten_by_a_pull() {
    let mut f = Fixture::new();
    write(&f.dir.join("doc.md"), "v1\n");
    f.full_snapshot();
    assert!(!f.repo.fetch(T).unwrap(), "empty remote");
    assert_eq!(f.repo.push(T).unwrap(), PushOutcome::Pushed);
    // Another device changes the file and pushes.
    let peer = f.sb.clone(f.remote.to_str().unwrap(), "peer");
    write(&peer.join("doc.md"), "remote v2\n");
    f.sb.git(&peer, &["commit", "-qam", "peer edit"]);
    f.sb.git(&peer, &["push", "-q", "origin", "main"]);
    // The user edits the file after our snapshot, while the engine is about to check out.
    write(&f.dir.join("doc.md"), "local edit\n");
    assert!(f.repo.fetch(T).unwrap());
    let err = f.repo.integrate(&identity("alpha"), &Default::default()).unwrap_err();
    assert!(matches!(err, Error::WorktreeChanged(_)), "refuses to overwrite: {err}");
    assert_eq!(std::fs::read_to_string(f.dir.join("doc.md")).unwrap(), "local edit\n");
    // The cycle's answer: commit the edit, then merge; both versions survive.
    f.full_snapshot();
    let Integration::Merged { conflicts, .. } =
        f.repo.integrate(&identity("alpha"), &Default::default()).unwrap()
    else {
        panic!("diverged histories merge");
    };
    assert_eq!(conflicts.len(), 1);
    let copy = conflicts[0].copy.clone().expect("a conflict copy");
    let at_path = std::fs::read_to_string(f.dir.join("doc.md")).unwrap();
    let in_copy = std::fs::read_to_string(f.dir.join(&copy)).unwrap();
    let mut both = [at_path.as_str(), in_copy.as_str()];
    both.sort();
    assert_eq!(both, ["local edit\n", "remote v2\n"], "both versions are on disk");
    assert_eq!(f.sb.git(&f.dir, &["status", "--porcelain"]), "", "and committed");
}

#[test]
fn a_text_file_changed_in_different_places_merges_cleanly() {
    let mut f = Fixture::new();
    write(&f.dir.join("list.md"), "a\nb\nc\nd\ne\nf\ng\n");
    f.full_snapshot();
    f.repo.push(T).unwrap();
    let peer = f.sb.clone(f.remote.to_str().unwrap(), "peer");
    write(&peer.join("list.md"), "A\nb\nc\nd\ne\nf\ng\n");
    f.sb.git(&peer, &["commit", "-qam", "peer"]);
    f.sb.git(&peer, &["push", "-q", "origin", "main"]);
    write(&f.dir.join("list.md"), "a\nb\nc\nd\ne\nf\nG\n");
    f.full_snapshot();
    f.repo.fetch(T).unwrap();
    let Integration::Merged { conflicts, .. } =
        f.repo.integrate(&identity("alpha"), &Default::default()).unwrap()
    else {
        panic!("diverged");
    };
    assert!(conflicts.is_empty(), "non-overlapping edits are not a conflict");
    assert_eq!(std::fs::read_to_string(f.dir.join("list.md")).unwrap(), "A\nb\nc\nd\ne\nf\nG\n");
}

#[test]
fn modify_delete_keeps_the_modification() {
    let mut f = Fixture::new();
    write(&f.dir.join("m.txt"), "base\n");
    f.full_snapshot();
    f.repo.push(T).unwrap();
    let peer = f.sb.clone(f.remote.to_str().unwrap(), "peer");
    f.sb.git(&peer, &["rm", "-q", "m.txt"]);
    f.sb.git(&peer, &["commit", "-qm", "delete"]);
    f.sb.git(&peer, &["push", "-q", "origin", "main"]);
    write(&f.dir.join("m.txt"), "modified\n");
    f.full_snapshot();
    f.repo.fetch(T).unwrap();
    f.repo.integrate(&identity("alpha"), &Default::default()).unwrap();
    assert_eq!(std::fs::read_to_string(f.dir.join("m.txt")).unwrap(), "modified\n");
}

#[test]
fn a_stale_index_lock_is_removed_but_a_held_one_waits() {
    let f = Fixture::new();
    let lock = f.dir.join(".git/index.lock");
    std::fs::write(&lock, b"").unwrap();
    let err = f.repo.preflight(0).unwrap_err();
    assert!(matches!(err, Error::Busy(_)), "a fresh lock may belong to a starting git: {err}");
    // Age it past the threshold: nobody holds it, so it is a crash leftover.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
    let removed = f.repo.preflight(0).unwrap();
    assert_eq!(removed, vec![lock.clone()]);
    // A lock held open by a live process is a running git operation: wait.
    std::fs::write(&lock, b"").unwrap();
    std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
    let mut holder = std::process::Command::new("sleep")
        .arg("30")
        .stdin(std::fs::File::open(&lock).unwrap())
        .spawn()
        .unwrap();
    let err = f.repo.preflight(0).unwrap_err();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(matches!(err, Error::Busy(ref m) if m.contains("held by process")), "{err}");
    assert!(lock.exists(), "a held lock is never removed");
}

#[test]
fn the_users_own_merge_in_progress_makes_the_engine_wait() {
    let mut f = Fixture::new();
    write(&f.dir.join("a.txt"), "1\n");
    f.full_snapshot();
    std::fs::write(f.dir.join(".git/MERGE_HEAD"), f.repo.head().unwrap().unwrap().to_string())
        .unwrap();
    let err = f.repo.preflight(0).unwrap_err();
    assert!(matches!(err, Error::Busy(ref m) if m.contains("merge is in progress")), "{err}");
    std::fs::remove_file(f.dir.join(".git/MERGE_HEAD")).unwrap();
    f.sb.git(&f.dir, &["checkout", "-q", "--detach"]);
    let err = f.repo.preflight(0).unwrap_err();
    assert!(matches!(err, Error::Busy(ref m) if m.contains("detached")), "{err}");
}

#[test]
fn a_missing_folder_is_a_dangerous_state() {
    let f = Fixture::new();
    std::fs::rename(&f.dir, f.sb.path().join("moved")).unwrap();
    let err = f.repo.preflight(0).unwrap_err();
    assert!(matches!(err, Error::Dangerous(ref m) if m.contains("missing")), "{err}");
    let err = GitRepo::open(&f.dir, "main", "x").unwrap_err();
    assert!(matches!(err, Error::Dangerous(_)), "{err}");
}

#[test]
fn a_file_against_a_directory_keeps_both_sides() {
    let mut f = Fixture::new();
    write(&f.dir.join("base.txt"), "b\n");
    f.full_snapshot();
    f.repo.push(T).unwrap();
    let peer = f.sb.clone(f.remote.to_str().unwrap(), "peer");
    write(&peer.join("x/inside.txt"), "the peer made a directory\n");
    f.sb.git(&peer, &["add", "-A"]);
    f.sb.git(&peer, &["commit", "-qm", "dir"]);
    f.sb.git(&peer, &["push", "-q", "origin", "main"]);
    write(&f.dir.join("x"), "we made a file\n");
    f.full_snapshot();
    f.repo.fetch(T).unwrap();
    f.repo.integrate(&identity("alpha"), &Default::default()).unwrap();
    let files = f.sb.git(&f.dir, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(files.contains("x/inside.txt"), "the directory survives: {files}");
    let copy = files.lines().find(|l| l.starts_with("x.sync-conflict-")).expect(&files);
    assert_eq!(std::fs::read_to_string(f.dir.join(copy)).unwrap(), "we made a file\n");
}

#[test]
fn history_walks_over_a_missing_commit_fail_instead_of_looping() {
    let mut f = Fixture::new();
    write(&f.dir.join("a.txt"), "a\n");
    f.full_snapshot();
    write(&f.dir.join("b.txt"), "b\n");
    f.full_snapshot();
    // Never pushed: counting unpushed commits walks the whole local history. The first
    // commit's object goes missing (a disk error; a folder being deleted under the daemon).
    let first = f.sb.git(&f.dir, &["rev-parse", "HEAD~1"]);
    std::fs::remove_file(f.dir.join(".git/objects").join(&first[..2]).join(&first[2..])).unwrap();
    let dir = f.dir.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let repo = GitRepo::open(&dir, "main", "/nowhere.git").unwrap();
        let counting_failed = repo.ahead_behind().is_err();
        let _ = repo.oldest_unpushed(); // an error or an answer; never a hang
        let _ = tx.send(counting_failed);
    });
    // A walk that retried its failing step forever (it once did) never answers.
    let counting_failed = rx.recv_timeout(Duration::from_secs(60)).expect("the walks return");
    assert!(counting_failed, "a walk over missing objects is an error, not a count");
}

#[test]
fn a_burst_of_new_files_is_committed_through_one_pack_with_secrets_still_held_back() {
    let mut f = Fixture::new();
    write(&f.dir.join("old.txt"), "tracked before the burst\n");
    f.full_snapshot();
    let mut expected = BTreeMap::new();
    for i in 0..600 {
        let (rel, content) =
            (format!("burst/d{}/f{i}.txt", i % 7), format!("file {i}\n").repeat(i));
        write(&f.dir.join(&rel), &content);
        expected.insert(rel, content);
    }
    std::fs::set_permissions(
        f.dir.join("burst/d0/f0.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    write(&f.dir.join("burst/id_ed25519"), "not really a key\n");
    let snap = f.full_snapshot();
    assert!(snap.commit.is_some());
    assert_eq!(snap.files_changed, 600, "every new file but the held one");
    assert_eq!(snap.held.len(), 1, "{:?}", snap.held);
    assert!(snap.held[0].0.ends_with("id_ed25519"));
    let packs: Vec<_> = std::fs::read_dir(f.dir.join(".git/objects/pack"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .collect();
    assert_eq!(packs.len(), 1, "the burst went into one pack");
    f.sb.fsck(&f.dir);
    // git agrees with every blob and sees a clean tree (index stat data match the files).
    for (rel, content) in &expected {
        assert_eq!(&f.sb.git(&f.dir, &["show", &format!("HEAD:{rel}")]), content.trim_end());
    }
    let status = f.sb.git(&f.dir, &["status", "--porcelain"]);
    assert_eq!(status, "?? burst/id_ed25519", "only the held file is left out");
    let mode = f.sb.git(&f.dir, &["ls-tree", "HEAD", "burst/d0/f0.txt"]);
    assert!(mode.starts_with("100755"), "the executable bit is kept: {mode}");
}

#[test]
fn a_burst_under_gitattributes_is_staged_the_ordinary_way() {
    let mut f = Fixture::new();
    write(&f.dir.join(".gitattributes"), "*.txt text eol=lf\n");
    f.full_snapshot();
    for i in 0..300 {
        write(&f.dir.join(format!("b/f{i}.txt")), format!("line {i}\r\n"));
    }
    let snap = f.full_snapshot();
    assert_eq!(snap.files_changed, 300);
    let packs = std::fs::read_dir(f.dir.join(".git/objects/pack")).unwrap().count();
    assert_eq!(packs, 0, "no pack: the attributes may filter content");
    let stored = f.sb.git_output(&f.dir, &["show", "HEAD:b/f7.txt"]).stdout;
    assert_eq!(stored, b"line 7\n", "CRLF normalised by the attribute, as git would");
    f.sb.fsck(&f.dir);
}

#[test]
fn a_batch_of_paths_describes_its_renames_edits_and_deletions_in_the_commit() {
    let mut f = Fixture::new();
    for i in 0..20 {
        write(&f.dir.join(format!("keep/k{i}.md")), format!("keep {i}\n"));
    }
    write(&f.dir.join("notes/plan.md"), "the plan, long enough to be found again\n".repeat(5));
    write(&f.dir.join("old/a.md"), "a\n");
    write(&f.dir.join("edit.md"), "before\n");
    f.full_snapshot();
    std::fs::rename(f.dir.join("notes/plan.md"), f.dir.join("notes/plan-2026.md")).unwrap();
    std::fs::remove_dir_all(f.dir.join("old")).unwrap();
    write(&f.dir.join("edit.md"), "after\n");
    let batch = Batch::Paths(
        ["notes/plan.md", "notes/plan-2026.md", "old", "edit.md"]
            .iter()
            .map(std::path::PathBuf::from)
            .collect(),
    );
    let snap = f.repo.snapshot(&batch, &rules(&f.dir), &limits(), &identity("alpha")).unwrap();
    assert_eq!(snap.files_changed, 3, "a rename, a deletion, an edit");
    let message = f.sb.git(&f.dir, &["log", "-1", "--format=%B"]);
    for line in ["notes/plan.md -> notes/plan-2026.md", "old/a.md", "edit.md"] {
        assert!(message.contains(line), "{line} in:\n{message}");
    }
    assert!(!message.contains("keep/"), "untouched files are not listed:\n{message}");
    assert_eq!(f.sb.git(&f.dir, &["status", "--porcelain"]), "");
}

#[test]
fn the_users_core_ssh_command_is_kept_with_batch_mode_added() {
    let f = Fixture::new();
    let log = f.sb.path().join("ssh.log");
    let wrapper = f.sb.path().join("my-ssh");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 255\n", log.display()))
        .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let command = format!("{} -i /keys/deploy_key", wrapper.display());
    f.sb.git(&f.dir, &["config", "core.sshCommand", &command]);
    f.sb.git(&f.dir, &["remote", "set-url", "origin", "ssh://git@127.0.0.1:1/r.git"]);
    let repo = GitRepo::open(&f.dir, "main", "ssh://git@127.0.0.1:1/r.git").unwrap();
    assert!(repo.fetch(Duration::from_secs(20)).is_err(), "the wrapper refuses to connect");
    let args = std::fs::read_to_string(&log).expect("the user's ssh command was run");
    assert!(args.contains("-i /keys/deploy_key"), "its own options kept: {args}");
    assert!(args.contains("BatchMode=yes"), "and never prompting: {args}");
}

#[test]
fn a_file_written_again_while_it_is_staged_is_left_for_the_next_cycle() {
    let mut f = Fixture::new();
    write(&f.dir.join("a.md"), "version 1\n");
    write(&f.dir.join("b.md"), "untouched\n");
    f.full_snapshot();
    write(&f.dir.join("a.md"), "version 2, complete\n");
    write(&f.dir.join("b.md"), "edited once, then left alone\n");
    let dir = f.dir.clone();
    let batch = Batch::Paths(["a.md", "b.md"].iter().map(std::path::PathBuf::from).collect());
    // A writer comes back to a.md right after it was read and hashed (the progress callback
    // runs after each path is staged, in order): a save storm, a file still being written.
    let mut writer = |done: u64, _total: u64| {
        if done == 1 {
            std::fs::write(dir.join("a.md"), "version 3, being saved...\n").unwrap();
        }
    };
    let snap = f
        .repo
        .snapshot_with_progress(&batch, &rules(&f.dir), &limits(), &identity("alpha"), &mut writer)
        .unwrap();
    assert_eq!(snap.files_changed, 1, "only b.md, which stayed still");
    assert_eq!(f.sb.git(&f.dir, &["show", "HEAD:b.md"]), "edited once, then left alone");
    assert_eq!(f.sb.git(&f.dir, &["show", "HEAD:a.md"]), "version 1", "a.md waits");
    // Once the writes are over, the next cycle commits what is on disk.
    let snap = f.full_snapshot();
    assert_eq!(snap.files_changed, 1);
    assert_eq!(f.sb.git(&f.dir, &["show", "HEAD:a.md"]), "version 3, being saved...");
    assert_eq!(f.sb.git(&f.dir, &["status", "--porcelain"]), "");
}
