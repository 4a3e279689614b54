//! Odd names and contents travel intact between two devices running the daemon: spaces, tabs,
//! newlines, quotes and backslashes in names, Unicode (composed and decomposed), names that
//! are not UTF-8, very long names, empty files, binary and CRLF content, the executable bit,
//! symbolic links (inside, dangling, and pointing out of the folder: synced as links, never
//! followed), case-only renames; and a file over the size limit is skipped with a warning
//! while everything else syncs.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

/// What one path holds, as the other device must see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, executable: bool },
    Link(PathBuf),
}

/// Every file and link below `dir` (outside `.git`), keyed by the raw bytes of its relative
/// path, links read as links. A running daemon may move things while this walks (a checkout
/// replacing a directory): what vanished meanwhile is left out, and callers that wait for two
/// trees to match simply look again.
fn entries(dir: &Path) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else { continue };
        for e in listing.flatten() {
            let path = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap().as_os_str().as_bytes().to_vec();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.file_type().is_symlink() {
                let Ok(target) = std::fs::read_link(&path) else { continue };
                out.insert(rel, Entry::Link(target));
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                let executable = meta.permissions().mode() & 0o100 != 0;
                out.insert(rel, Entry::File { bytes, executable });
            }
        }
    }
    out
}

fn show(map: &BTreeMap<Vec<u8>, Entry>) -> Vec<String> {
    map.keys().map(|k| format!("{:?}", String::from_utf8_lossy(k))).collect()
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Waits until both folders hold exactly the same entries and `done` holds for them.
fn wait_same(p: &Pair, what: &str, done: impl Fn(&BTreeMap<Vec<u8>, Entry>) -> bool) {
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let a = entries(&p.a_dir);
        let b = entries(&p.b_dir);
        if a == b && done(&b) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}\nalpha: {:?}\nbeta:  {:?}\n{}",
            show(&a),
            show(&b),
            p.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn odd_names_contents_and_links_travel_intact_to_a_second_device() {
    let mut p = Pair::new(RemoteKind::Path);
    let outside = p.sb.path().join("outside");
    write(&outside.join("secret.txt"), "TOP-SECRET never synced\n");
    p.start();

    let long = format!("{}.txt", "l".repeat(250));
    let names: Vec<Vec<u8>> = [
        "with space.txt",
        "tab\there.txt",
        "new\nline.txt",
        "quote's \"double\".txt",
        "back\\slash.txt",
        "-leading-dash.txt",
        "colon:star*question?.txt",
        "ünïcødé/日本語 ファイル.md",
        "emoji 🎉.txt",
        "e\u{301}-decomposed.txt",
        "\u{e9}-composed.txt",
        ".hidden",
        "deep/a/b/c/d/e/f/g.txt",
        long.as_str(),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([b"latin1-\xe9t\xe9.txt".to_vec(), b"bad-\xff\xfe-bytes/inside.txt".to_vec()])
    .collect();
    for (i, name) in names.iter().enumerate() {
        write_bytes(&p.a_dir.join(OsStr::from_bytes(name)), format!("file {i}\n").as_bytes());
    }
    write_bytes(&p.a_dir.join("empty.txt"), b"");
    write_bytes(&p.a_dir.join("emptydir/zero"), b"");
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    write_bytes(&p.a_dir.join("binary.bin"), &all_bytes);
    write_bytes(&p.a_dir.join("crlf.txt"), b"line one\r\nline two\r\n");
    write_bytes(&p.a_dir.join("script.sh"), b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(p.a_dir.join("script.sh"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), p.a_dir.join("outside-link")).unwrap();
    std::os::unix::fs::symlink("../outside", p.a_dir.join("outside-dir-link")).unwrap();
    std::os::unix::fs::symlink("with space.txt", p.a_dir.join("inner-link")).unwrap();
    std::os::unix::fs::symlink("does-not-exist", p.a_dir.join("dangling")).unwrap();
    write(&p.a_dir.join("Readme.md"), "case\n");
    write(&p.a_dir.join("Docs/guide.md"), "guide\n");

    let expected = entries(&p.a_dir);
    wait_same(&p, "every odd name to reach beta", |b| b == &expected);
    assert_eq!(
        entries(&p.b_dir).get(&b"outside-link"[..]),
        Some(&Entry::Link(outside.join("secret.txt"))),
        "a link out of the folder arrives as the same link"
    );
    assert_eq!(
        entries(&p.b_dir).get(&b"script.sh"[..]),
        Some(&Entry::File { bytes: b"#!/bin/sh\necho hi\n".to_vec(), executable: true }),
        "the executable bit travels"
    );
    let history = p.sb.git(&p.remote_path, &["log", "-p", "--all"]);
    assert!(!history.contains("TOP-SECRET"), "link targets are never followed into git");

    // Case-only renames, a rename of an odd name, and a delete of a non-UTF-8 one.
    std::fs::rename(p.a_dir.join("Readme.md"), p.a_dir.join("README.md")).unwrap();
    std::fs::rename(p.a_dir.join("Docs"), p.a_dir.join("docs")).unwrap();
    std::fs::rename(p.a_dir.join("new\nline.txt"), p.a_dir.join("renamed\nline.txt")).unwrap();
    std::fs::remove_file(p.a_dir.join(OsStr::from_bytes(b"latin1-\xe9t\xe9.txt"))).unwrap();
    wait_same(&p, "the renames and the delete to reach beta", |b| {
        b.contains_key(&b"README.md"[..])
            && !b.contains_key(&b"Readme.md"[..])
            && b.contains_key(&b"docs/guide.md"[..])
            && !b.contains_key(&b"Docs/guide.md"[..])
            && b.contains_key(&b"renamed\nline.txt"[..])
            && !b.contains_key(&b"new\nline.txt"[..])
            && !b.contains_key(&b"latin1-\xe9t\xe9.txt"[..])
    });
    // Beta edits odd names back: the way back works too.
    write(&p.b_dir.join("emoji 🎉.txt"), "edited on beta\n");
    write_bytes(&p.b_dir.join(OsStr::from_bytes(b"bad-\xff\xfe-bytes/inside.txt")), b"beta\n");
    wait_same(&p, "beta's edits of odd names to reach alpha", |a| {
        a.get("emoji 🎉.txt".as_bytes())
            == Some(&Entry::File { bytes: b"edited on beta\n".to_vec(), executable: false })
    });
    assert!(p.a.stop() && p.b.stop(), "both daemons stop cleanly\n{}", p.logs());
    for dir in [&p.a_dir, &p.b_dir] {
        assert_eq!(p.sb.git(dir, &["status", "--porcelain"]), "", "clean: {}", dir.display());
        p.sb.fsck(dir);
    }
    let conflicts =
        entries(&p.a_dir).keys().filter(|k| k.windows(14).any(|w| w == b"sync-conflict-")).count();
    assert_eq!(conflicts, 0, "no conflict copies from odd names\n{}", p.logs());
}

#[test]
fn a_file_over_the_size_limit_is_skipped_with_a_warning_and_the_rest_syncs() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.set_env("SUPERSONIC_MAX_FILE_SIZE_MB", "1");
    p.start();
    let big = vec![b'x'; 2 * 1024 * 1024 + 1];
    write_bytes(&p.a_dir.join("big.bin"), &big);
    write(&p.a_dir.join("small.txt"), "small\n");
    wait_until("the small file to reach beta", CONVERGE, || {
        read(&p.b_dir.join("small.txt")).as_deref() == Some("small\n")
    });
    wait_until("the skip to be reported", CONVERGE, || {
        p.a.log().contains("not syncing big.bin") && p.a.log().contains("size limit")
    });
    assert!(!p.b_dir.join("big.bin").exists(), "the big file does not travel");
    assert_eq!(std::fs::read(p.a_dir.join("big.bin")).unwrap(), big, "nor is it touched");
    let tracked = p.sb.git(&p.remote_path, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tracked.contains("big.bin"), "nor committed: {tracked}");
    // Under the limit again, it syncs.
    write(&p.a_dir.join("big.bin"), "small now\n");
    wait_until("the shrunk file to reach beta", CONVERGE, || {
        read(&p.b_dir.join("big.bin")).as_deref() == Some("small now\n")
    });
}
