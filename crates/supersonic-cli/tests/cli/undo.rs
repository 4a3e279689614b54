//! `supersonic undo`: what the last sync brought in is taken back by a new commit; later
//! local edits stay, nothing is rewritten, and the other device receives the undo.

use crate::common::*;

#[test]
fn undo_takes_back_the_last_sync_keeps_later_edits_and_reaches_the_other_device() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("plan.md"), "v1\n");
    write(&p.a_dir.join("mine.md"), "mine v1\n");
    p.a.cli(&["sync"]);
    p.b.cli(&["sync"]);
    // Beta rewrites plan.md and adds a file; alpha pulls it in.
    write(&p.b_dir.join("plan.md"), "v2 from beta (unwanted)\n");
    write(&p.b_dir.join("new.md"), "added by beta\n");
    p.b.cli(&["sync"]);
    p.a.cli(&["sync"]);
    assert_eq!(read(&p.a_dir.join("plan.md")).as_deref(), Some("v2 from beta (unwanted)\n"));
    let beta_commit = p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]);
    // A local edit after the sync must survive the undo.
    write(&p.a_dir.join("mine.md"), "mine v2 (after the sync)\n");

    let out = p.a.cli(&["undo"]);
    assert!(out.contains("undid the last sync (2 file(s) restored"), "{out}");
    assert_eq!(read(&p.a_dir.join("plan.md")).as_deref(), Some("v1\n"));
    assert!(!p.a_dir.join("new.md").exists(), "the added file is taken back");
    assert_eq!(read(&p.a_dir.join("mine.md")).as_deref(), Some("mine v2 (after the sync)\n"));
    let log = p.sb.git(&p.a_dir, &["log", "--format=%H %s"]);
    assert!(log.contains(&beta_commit), "nothing rewritten: beta's commit stays in history");
    assert!(log.lines().any(|l| l.contains("undo last sync:")), "{log}");
    assert_eq!(p.sb.git(&p.a_dir, &["status", "--porcelain"]), "", "the undo is committed");

    p.b.cli(&["sync"]);
    assert_eq!(read(&p.b_dir.join("plan.md")).as_deref(), Some("v1\n"), "beta receives the undo");
    assert!(!p.b_dir.join("new.md").exists());
    assert_eq!(read(&p.b_dir.join("mine.md")).as_deref(), Some("mine v2 (after the sync)\n"));

    let again = p.a.run(&["undo"]);
    assert!(!again.status.success(), "one undo per sync");
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to undo"), "{again:?}");
    let history = p.a.cli(&["history", "--json"]);
    assert!(history.contains("sync_undone"), "the undo is in the history: {history}");
}

#[test]
fn undo_is_refused_when_the_same_lines_changed_again_and_nothing_moves() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("plan.md"), "v1\n");
    p.a.cli(&["sync"]);
    p.b.cli(&["sync"]);
    write(&p.b_dir.join("plan.md"), "v2 from beta\n");
    p.b.cli(&["sync"]);
    p.a.cli(&["sync"]);
    write(&p.a_dir.join("plan.md"), "v3 edited here after the sync\n");
    p.a.cli(&["sync"]);
    let head = p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]);
    let out = p.a.run(&["undo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused");
    assert!(stderr.contains("plan.md changed again since"), "{stderr}");
    assert_eq!(read(&p.a_dir.join("plan.md")).as_deref(), Some("v3 edited here after the sync\n"));
    assert_eq!(p.sb.git(&p.a_dir, &["rev-parse", "HEAD"]), head, "nothing committed");
}
