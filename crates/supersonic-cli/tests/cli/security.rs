//! Path safety through the CLI: every path that reaches the engine from outside (a conflict id,
//! a conflict copy or a resolution record written by another device, a `check-ignore`
//! argument) stays inside the folder. Nothing outside it is read, written or deleted.
//!
//! The attacker is a real peer with push access (`mallory`): plain git commits pushed to the
//! shared remote, holding symbolic links that point out of the folder and `Sync-Conflict:`
//! trailers with crafted paths. The victim is the real binary syncing that remote.

use std::path::{Path, PathBuf};
use std::process::Output;

use supersonic_testkit::{conflict_id, tree_with_links};

use crate::common::*;

/// Content that must never leave the `outside` directory.
pub const SECRET: &str = "TOP-SECRET-7f3a9c outside the synced folder\n";

/// A directory next to the victim's folder holding files an attacker would like to read,
/// overwrite or delete.
pub fn outside(sb: &Sandbox) -> PathBuf {
    let dir = sb.path().join("outside");
    write(&dir.join("secret.txt"), SECRET);
    write(&dir.join("precious.txt"), "precious, known to the attacker\n");
    write(&dir.join("marked.txt"), "<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n");
    dir
}

/// stdout and stderr of a command, for grepping.
fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A peer with push access that crafts commits with plain git.
struct Mallory {
    dir: PathBuf,
}

impl Mallory {
    fn clone(sb: &Sandbox, remote: &Path) -> Mallory {
        let dir = sb.clone(remote.to_str().unwrap(), "mallory");
        Mallory { dir }
    }

    fn commit_all(&self, sb: &Sandbox, message: &str) -> String {
        sb.git(&self.dir, &["add", "-A"]);
        sb.git(&self.dir, &["commit", "-q", "-m", message]);
        sb.git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Makes a merge commit (HEAD and its parent as parents, HEAD's tree) whose message holds
    /// `trailers`, as the engine writes them after a merge; returns its id.
    fn merge_with_trailers(&self, sb: &Sandbox, trailers: &[serde_json::Value]) -> String {
        let mut message = String::from("sync: merge remote changes on mallory\n\n");
        for t in trailers {
            message.push_str(&format!("Sync-Conflict: {t}\n"));
        }
        let merge = sb.git(
            &self.dir,
            &["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-p", "HEAD~1", "-m", &message],
        );
        sb.git(&self.dir, &["reset", "-q", "--hard", &merge]);
        merge
    }

    fn push(&self, sb: &Sandbox) {
        sb.git(&self.dir, &["push", "-q", "origin", "HEAD:main"]);
    }

    fn blob(&self, sb: &Sandbox, content: &str) -> String {
        let file = self.dir.join(".git/blob-input");
        std::fs::write(&file, content).unwrap();
        sb.git(&self.dir, &["hash-object", "-w", file.to_str().unwrap()])
    }
}

/// The victim: a device syncing the remote mallory pushes to.
fn victim(sb: &Sandbox, remote: &Path) -> (Device, PathBuf) {
    let dev = Device::new(sb, &bin(), "alpha");
    let dir = sb.path().join("alpha-notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    (dev, dir)
}

/// A resolution record as the engine writes it into a merge commit.
fn record(
    path: &str,
    strategy: &str,
    local: Option<&str>,
    result: Option<&str>,
) -> serde_json::Value {
    let version = |blob: &str| {
        serde_json::json!({
            "blob": blob, "device": "alpha", "time": "2024-01-01T00:00:00Z", "size": 10
        })
    };
    serde_json::json!({
        "path": path,
        "kind": "content",
        "binary": false,
        "strategy": strategy,
        "rule": "default",
        "local": local.map(version),
        "remote": null,
        "result": result,
    })
}

/// Which crafted record: the id kind the engine would give it, its path, and the record.
type Crafted = (&'static str, &'static str, serde_json::Value);

/// Pushes, as mallory, a link `evil` to `outside` and a merge commit holding the records
/// `make` returns (given the blob ids it may name); then the victim syncs and every command
/// that takes a conflict id is run on each record. Returns the victim's folder and everything
/// the commands printed.
fn act_on_crafted_records(
    make: impl FnOnce(&BlobIds) -> Vec<Crafted>,
) -> (Sandbox, PathBuf, String) {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    let before = tree_with_links(&outside);
    let m = Mallory::clone(&sb, &remote);
    write(&m.dir.join("readme.md"), "hello\n");
    m.commit_all(&sb, "base");
    std::os::unix::fs::symlink(&outside, m.dir.join("evil")).unwrap();
    m.commit_all(&sb, "a link out of the folder");
    let blobs = BlobIds {
        readme: sb.git(&m.dir, &["rev-parse", "HEAD:readme.md"]),
        precious: m.blob(&sb, "precious, known to the attacker\n"),
        marked: m.blob(&sb, "<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n"),
    };
    let crafted = make(&blobs);
    let trailers: Vec<serde_json::Value> = crafted.iter().map(|(_, _, r)| r.clone()).collect();
    let merge = m.merge_with_trailers(&sb, &trailers);
    m.push(&sb);

    let (dev, dir) = victim(&sb, &remote);
    dev.cli(&["sync"]);
    assert!(
        std::fs::symlink_metadata(dir.join("evil")).unwrap().file_type().is_symlink(),
        "the link itself is synced as a link"
    );
    let mut seen = String::new();
    let list = dev.run(&["conflicts", "list", "--auto", "--json"]);
    seen.push_str(&text(&list));
    assert!(list.status.success(), "crafted records must not break the conflict list: {seen}");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    for item in &listed {
        let path = item["conflict"]["path"].as_str().unwrap();
        assert!(
            !path.starts_with("evil/") && !path.contains("..") && !path.starts_with('/'),
            "a record reaching outside the folder is not offered: {item}"
        );
    }
    // Act on every crafted conflict by id, listed or not, through every command.
    for (kind, path, _) in &crafted {
        let id = conflict_id(&[kind, &merge, path]);
        for args in [
            vec!["conflicts", "show", &id],
            vec!["conflicts", "show", &id, "--json"],
            vec!["conflicts", "undo", &id],
            vec!["conflicts", "resolve", &id, "--take", "local"],
            vec!["conflicts", "resolve", &id, "--take", "remote"],
            vec!["conflicts", "resolve", &id, "--take", "both"],
        ] {
            let out = dev.run(&args);
            seen.push_str(&text(&out));
            assert!(
                !out.status.success(),
                "{args:?} on a crafted record must fail: {}",
                text(&out)
            );
        }
    }
    assert_eq!(tree_with_links(&outside), before, "nothing outside the folder changed");
    assert!(!seen.contains("TOP-SECRET"), "nothing outside was read: {seen}");
    (sb, dir, seen)
}

/// Blob ids mallory's records can name.
struct BlobIds {
    readme: String,
    precious: String,
    marked: String,
}

#[test]
fn crafted_records_through_a_symlinked_directory_neither_write_nor_delete_outside() {
    act_on_crafted_records(|b| {
        vec![
            // Undo would write the losing version as a copy next to the path: through the link.
            ("auto", "evil/loot.md", record("evil/loot.md", "remote", Some(&b.readme), None)),
            // Undo would apply the losing deletion: a file whose content the attacker knows.
            (
                "auto",
                "evil/precious.txt",
                record("evil/precious.txt", "remote", Some(&b.precious), Some(&b.precious)),
            ),
            // Markers are pending while the file holds markers: resolving would overwrite it.
            (
                "markers",
                "evil/marked.txt",
                record("evil/marked.txt", "markers", Some(&b.readme), Some(&b.marked)),
            ),
        ]
    });
}

#[test]
fn crafted_records_with_traversal_or_git_paths_are_refused_and_do_not_hide_others() {
    let (_sb, dir, _) = act_on_crafted_records(|b| {
        vec![
            (
                "auto",
                "../outside/secret.txt",
                record("../outside/secret.txt", "remote", Some(&b.readme), None),
            ),
            ("auto", "/etc/passwd", record("/etc/passwd", "local", Some(&b.readme), None)),
            (
                "auto",
                ".git/config",
                record(".git/config", "local", Some(&b.readme), Some(&b.readme)),
            ),
            (
                "auto",
                "a/../../outside/precious.txt",
                record("a/../../outside/precious.txt", "remote", Some(&b.precious), None),
            ),
        ]
    });
    let config = read(&dir.join(".git/config")).unwrap();
    assert!(config.contains("[core]") && !config.contains("hello"), "no action touched .git");
}

#[test]
fn a_conflict_copy_that_is_a_symlink_is_never_followed() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    let before = tree_with_links(&outside);
    let m = Mallory::clone(&sb, &remote);
    write(&m.dir.join("notes.md"), "the real notes\n");
    write(&m.dir.join("todo.md"), "the real todo\n");
    write(&m.dir.join("plan.md"), "the real plan\n");
    // Links named like conflict copies: absolute, relative, and one to a file inside.
    let copies = [
        ("notes.sync-conflict-20240101-000000-mallory.md", outside.join("secret.txt")),
        ("todo.sync-conflict-20240101-000000-mallory.md", PathBuf::from("../outside/precious.txt")),
        ("plan.sync-conflict-20240101-000000-mallory.md", PathBuf::from("todo.md")),
    ];
    for (name, target) in &copies {
        std::os::unix::fs::symlink(target, m.dir.join(name)).unwrap();
    }
    m.commit_all(&sb, "links dressed as conflict copies");
    m.push(&sb);

    let (dev, dir) = victim(&sb, &remote);
    dev.cli(&["sync"]);
    let mut seen = String::new();
    let list = dev.run(&["conflicts", "list", "--json"]);
    seen.push_str(&text(&list));
    assert!(list.status.success(), "links must not break the conflict list: {}", text(&list));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert!(listed.is_empty(), "a link is not a conflict copy to decide on: {listed:?}");
    for (copy, _) in &copies {
        let id = conflict_id(&["copy", copy]);
        for args in [
            vec!["conflicts", "show", &id, "--json"],
            vec!["conflicts", "resolve", &id, "--take", "local"],
            vec!["conflicts", "resolve", &id, "--take", "remote"],
            vec!["conflicts", "resolve", &id, "--take", "both"],
        ] {
            let out = dev.run(&args);
            seen.push_str(&text(&out));
            assert!(!out.status.success(), "{args:?} on a link must fail: {}", text(&out));
        }
    }
    dev.cli(&["sync"]);
    assert_eq!(tree_with_links(&outside), before, "nothing outside the folder changed");
    assert!(!seen.contains("TOP-SECRET"), "nothing outside was read: {seen}");
    for (name, content) in [
        ("notes.md", "the real notes\n"),
        ("todo.md", "the real todo\n"),
        ("plan.md", "the real plan\n"),
    ] {
        assert_eq!(read(&dir.join(name)).as_deref(), Some(content), "{name} was not replaced");
    }
    let pushed = sb.git(&remote, &["log", "-p", "main"]);
    assert!(!pushed.contains("TOP-SECRET"), "nothing outside reached the remote: {pushed}");
    for (name, target) in &copies {
        let link = std::fs::read_link(dir.join(name)).expect("the link is still a link");
        assert_eq!(&link, target, "{name} is untouched");
    }
}

#[test]
fn conflict_ids_that_look_like_paths_are_unknown_ids() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    let before = tree_with_links(&outside);
    let (dev, dir) = victim(&sb, &remote);
    write(&dir.join("a.md"), "a\n");
    dev.cli(&["sync"]);
    let secret = outside.join("secret.txt");
    let traversal = format!("../../{}", secret.display());
    for id in [
        "../../etc/passwd",
        "/etc/passwd",
        traversal.as_str(),
        secret.to_str().unwrap(),
        "..%2F..%2Fetc%2Fpasswd",
        "a.md",
        "....",
    ] {
        for args in [
            vec!["conflicts", "show", id],
            vec!["conflicts", "resolve", id, "--take", "remote"],
            vec!["conflicts", "undo", id],
        ] {
            let out = dev.run(&args);
            assert!(!out.status.success(), "{args:?} must fail");
            let t = text(&out);
            assert!(
                t.contains("no conflict with id"),
                "{args:?}: an unknown id, nothing else: {t}"
            );
            assert!(!t.contains("TOP-SECRET"), "{t}");
        }
    }
    assert_eq!(tree_with_links(&outside), before);
    assert_eq!(read(&dir.join("a.md")).as_deref(), Some("a\n"));
}

#[test]
fn check_ignore_refuses_paths_outside_the_folder() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    let (dev, dir) = victim(&sb, &remote);
    write(&dir.join(".syncignore"), "*.txt\n");
    let d = dir.to_str().unwrap();
    let escaped = format!("{d}/../outside/secret.txt");
    let absolute = outside.join("secret.txt");
    for given in [
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        &escaped,
        absolute.to_str().unwrap(),
    ] {
        let out = dev.run(&["check-ignore", "-v", "--folder", d, given]);
        let t = text(&out);
        assert!(!out.status.success(), "{given}: {t}");
        assert!(
            t.contains("not a valid path inside the folder") || t.contains("is outside"),
            "`{given}` is refused, not judged against the rules: {t}"
        );
        assert!(!t.contains("*.txt"), "no verdict on a path outside the folder: {t}");
    }
    let out = dev.run(&["check-ignore", absolute.to_str().unwrap()]);
    assert!(text(&out).contains("not inside a synced folder"), "{}", text(&out));
    let inside = dev.cli(&["check-ignore", "-v", "--folder", d, "notes/a.txt"]);
    assert_eq!(inside.trim(), ".syncignore:1:*.txt\tnotes/a.txt", "paths inside still work");
}

/// Mallory first syncs a link `evil` to the outside directory, then replaces it with a real
/// directory `evil/` holding files; the victim's checkout (a fast-forward, or a merge when the
/// victim has its own commit) must replace the link, never write through it.
fn a_link_replaced_by_a_directory(victim_has_own_commit: bool) {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    let before = tree_with_links(&outside);
    let m = Mallory::clone(&sb, &remote);
    write(&m.dir.join("readme.md"), "hello\n");
    std::os::unix::fs::symlink(&outside, m.dir.join("evil")).unwrap();
    m.commit_all(&sb, "a link out of the folder");
    m.push(&sb);
    let (dev, dir) = victim(&sb, &remote);
    dev.cli(&["sync"]);
    assert!(std::fs::symlink_metadata(dir.join("evil")).unwrap().file_type().is_symlink());

    std::fs::remove_file(m.dir.join("evil")).unwrap();
    write(&m.dir.join("evil/secret.txt"), "overwritten through the link\n");
    write(&m.dir.join("evil/pwned.txt"), "planted through the link\n");
    m.commit_all(&sb, "the link becomes a directory");
    m.push(&sb);
    if victim_has_own_commit {
        write(&dir.join("mine.md"), "the victim's own edit\n");
    }
    let out = dev.run(&["sync"]);
    let t = text(&out);
    assert_eq!(tree_with_links(&outside), before, "nothing written through the old link: {t}");
    if out.status.success() {
        let evil = std::fs::symlink_metadata(dir.join("evil")).unwrap();
        assert!(evil.is_dir(), "the link was replaced by the directory: {t}");
        assert_eq!(
            read(&dir.join("evil/pwned.txt")).as_deref(),
            Some("planted through the link\n")
        );
    }
    if victim_has_own_commit {
        assert_eq!(read(&dir.join("mine.md")).as_deref(), Some("the victim's own edit\n"));
    }
}

#[test]
fn a_fast_forward_never_writes_through_a_link_that_became_a_directory() {
    a_link_replaced_by_a_directory(false);
}

#[test]
fn a_merge_never_writes_through_a_link_that_became_a_directory() {
    a_link_replaced_by_a_directory(true);
}

#[test]
fn an_ignore_file_that_links_outside_the_folder_is_never_read() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    // A file whose lines would be quoted back: one is not a valid glob.
    write(&outside.join("rules-bait.txt"), "TOP-SECRET-line-one\nTOP-SECRET-{unclosed\n");
    let m = Mallory::clone(&sb, &remote);
    write(&m.dir.join("readme.md"), "hello\n");
    std::os::unix::fs::symlink(outside.join("rules-bait.txt"), m.dir.join(".syncignore")).unwrap();
    std::os::unix::fs::symlink("../outside/rules-bait.txt", m.dir.join(".gitignore")).unwrap();
    m.commit_all(&sb, "rules files that are links out of the folder");
    m.push(&sb);
    let (dev, dir) = victim(&sb, &remote);
    let mut seen = String::new();
    for args in [
        vec!["sync"],
        vec!["sync"],
        vec!["status", "--json"],
        vec!["check-ignore", "-v", "--folder", dir.to_str().unwrap(), "TOP-SECRET-line-one"],
        vec!["config", "--json"],
    ] {
        seen.push_str(&text(&dev.run(&args)));
    }
    let mut daemon = dev;
    daemon.start();
    wait_until("the daemon to refuse the folder's rules", CONVERGE, || {
        daemon.log().contains("symbolic link to a file outside the folder")
    });
    daemon.stop();
    seen.push_str(&daemon.log());
    seen.push_str(&read(&dir.join(".git/info/exclude")).unwrap_or_default());
    assert!(!seen.contains("TOP-SECRET"), "a rules file linking outside was read: {seen}");
    assert_eq!(read(&dir.join("readme.md")).as_deref(), Some("hello\n"));
}

#[test]
fn a_folder_config_that_links_outside_the_folder_is_never_read() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = outside(&sb);
    // YAML whose values an error message would quote back.
    write(&outside.join("conf-bait.yaml"), "sync: TOP-SECRET-value\nTOP-SECRET-key: 1\n");
    let m = Mallory::clone(&sb, &remote);
    write(&m.dir.join("readme.md"), "hello\n");
    let target = outside.join("conf-bait.yaml");
    std::os::unix::fs::symlink(target, m.dir.join(".supersonic-sync.conf")).unwrap();
    m.commit_all(&sb, "a folder config that is a link out of the folder");
    m.push(&sb);
    let (dev, dir) = victim(&sb, &remote);
    let mut seen = String::new();
    for args in [vec!["sync"], vec!["sync"], vec!["status", "--json"], vec!["config", "--json"]] {
        seen.push_str(&text(&dev.run(&args)));
    }
    assert!(!seen.contains("TOP-SECRET"), "a folder config linking outside was read: {seen}");
    assert_eq!(read(&dir.join("readme.md")).as_deref(), Some("hello\n"));
}
