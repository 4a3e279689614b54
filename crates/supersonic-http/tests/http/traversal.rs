//! Path safety through the HTTP API: conflict ids (show, blob, resolve, undo), `check-ignore`
//! and the static UI files never reach outside their directory, even when another device
//! pushed symbolic links that point out of the folder and resolution records with crafted
//! paths.

use std::path::PathBuf;

use serde_json::json;
use supersonic_testkit::{conflict_id, tree_with_links};

use crate::*;

/// Content that must never leave the `outside` directory.
const SECRET: &str = "TOP-SECRET-51c0de outside the synced folder\n";

/// A device whose remote holds what a malicious peer pushed: a link `evil` to `outside`,
/// links named like conflict copies, and a merge commit whose `Sync-Conflict:` records name
/// paths through the link and outside the folder.
struct Attacked {
    sb: Sandbox,
    dev: Dev,
    outside: PathBuf,
    /// Conflict ids of everything crafted.
    ids: Vec<String>,
}

fn attacked() -> Attacked {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let outside = sb.path().join("outside");
    write(&outside.join("secret.txt"), SECRET);
    write(&outside.join("precious.txt"), "precious, known to the attacker\n");
    write(&outside.join("marked.txt"), "<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n");
    let m = sb.clone(remote.to_str().unwrap(), "mallory");
    write(&m.join("readme.md"), "hello\n");
    write(&m.join("notes.md"), "the real notes\n");
    sb.git(&m, &["add", "-A"]);
    sb.git(&m, &["commit", "-qm", "base"]);
    std::os::unix::fs::symlink(&outside, m.join("evil")).unwrap();
    let copy = "notes.sync-conflict-20240101-000000-mallory.md";
    std::os::unix::fs::symlink(outside.join("secret.txt"), m.join(copy)).unwrap();
    sb.git(&m, &["add", "-A"]);
    sb.git(&m, &["commit", "-qm", "links"]);
    let readme = sb.git(&m, &["rev-parse", "HEAD:readme.md"]);
    let blob = |content: &str| {
        let f = m.join(".git/blob-input");
        std::fs::write(&f, content).unwrap();
        sb.git(&m, &["hash-object", "-w", f.to_str().unwrap()])
    };
    let precious = blob("precious, known to the attacker\n");
    let marked = blob("<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n");
    let record = |path: &str, strategy: &str, local: &str, result: Option<&str>| {
        json!({
            "path": path, "kind": "content", "binary": false, "strategy": strategy,
            "rule": "default", "remote": null, "result": result,
            "local": {"blob": local, "device": "alpha", "time": "2024-01-01T00:00:00Z", "size": 9},
        })
    };
    let crafted = [
        ("auto", "evil/loot.md", record("evil/loot.md", "remote", &readme, None)),
        (
            "auto",
            "evil/precious.txt",
            record("evil/precious.txt", "remote", &precious, Some(&precious)),
        ),
        (
            "markers",
            "evil/marked.txt",
            record("evil/marked.txt", "markers", &readme, Some(&marked)),
        ),
        ("auto", "../outside/secret.txt", record("../outside/secret.txt", "remote", &readme, None)),
    ];
    let mut message = String::from("sync: merge remote changes on mallory\n\n");
    for (_, _, r) in &crafted {
        message.push_str(&format!("Sync-Conflict: {r}\n"));
    }
    let merge =
        sb.git(&m, &["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-p", "HEAD~1", "-m", &message]);
    sb.git(&m, &["push", "-q", "origin", &format!("{merge}:refs/heads/main")]);
    let mut ids: Vec<String> =
        crafted.iter().map(|(kind, path, _)| conflict_id(&[kind, &merge, path])).collect();
    ids.push(conflict_id(&["copy", copy]));
    let dev = Dev::new(&sb, &remote, "alpha");
    dev.sync();
    Attacked { sb, dev, outside, ids }
}

#[test]
fn conflict_endpoints_never_read_write_or_delete_outside_the_folder() {
    let a = attacked();
    let before = tree_with_links(&a.outside);
    let server = Server::start(&a.dev.api, None, EventBus::default(), None);
    let mut seen = String::new();
    for path in ["/api/conflicts", "/api/conflicts?auto=true", "/api/sync/metrics"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "crafted entries must not break {path}: {r:?}");
        assert!(!r.body.contains("evil/"), "{path} offers nothing through the link: {}", r.body);
        assert!(!r.body.contains("../"), "{path} offers nothing outside: {}", r.body);
        seen.push_str(&r.body);
    }
    let ids = a.ids.iter().map(String::as_str);
    let traversal = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....", "%00"];
    for id in ids.chain(traversal) {
        for path in [
            format!("/api/conflicts/{id}"),
            format!("/api/conflicts/{id}/blob/local"),
            format!("/api/conflicts/{id}/blob/remote"),
            format!("/api/conflicts/{id}/blob/..%2F..%2Foutside%2Fsecret.txt"),
        ] {
            let r = server.get(&path);
            assert!(r.status >= 400, "GET {path} must fail: {r:?}");
            seen.push_str(&String::from_utf8_lossy(&r.bytes));
        }
        for body in [
            json!({"take": "local"}),
            json!({"take": "remote"}),
            json!({"take": "both"}),
            json!({"merged": "overwritten by the API"}),
        ] {
            let r = server.send("POST", &format!("/api/conflicts/{id}/resolve"), &body);
            assert!(r.status >= 400, "resolve {id} with {body} must fail: {r:?}");
            seen.push_str(&r.body);
        }
        let r = server.send("POST", &format!("/api/conflicts/{id}/undo"), &json!({}));
        assert!(r.status >= 400, "undo {id} must fail: {r:?}");
        seen.push_str(&r.body);
    }
    assert_eq!(tree_with_links(&a.outside), before, "nothing outside the folder changed");
    assert!(!seen.contains("TOP-SECRET"), "nothing outside was read: {seen}");
    assert_eq!(
        std::fs::read_to_string(a.dev.dir.join("notes.md")).unwrap(),
        "the real notes\n",
        "the file next to the linked 'conflict copy' was not replaced"
    );
    let pushed = a.sb.git(&a.sb.remotes_dir().join("notes.git"), &["log", "-p", "main"]);
    assert!(!pushed.contains("TOP-SECRET"), "nothing outside reached the remote");
}

#[test]
fn check_ignore_refuses_paths_outside_the_folder() {
    let a = attacked();
    write(&a.dev.dir.join(".syncignore"), "*.txt\n");
    let server = Server::start(&a.dev.api, None, EventBus::default(), None);
    let dir = a.dev.dir.display().to_string();
    for paths in [
        json!(["../outside/secret.txt"]),
        json!([format!("{dir}/../outside/secret.txt")]),
        json!([a.outside.join("secret.txt")]),
        json!(["evil/../../outside/secret.txt"]),
    ] {
        let r = server.send("POST", "/api/check-ignore", &json!({"folder": dir, "paths": paths}));
        assert_eq!(r.status, 400, "{paths} is refused, not judged against the rules: {r:?}");
        assert_eq!(r.json()["code"], "invalid_request", "{r:?}");
    }
    let r = server.send("POST", "/api/check-ignore", &json!({"folder": dir, "paths": ["a.txt"]}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()[0]["rule"]["pattern"], "*.txt", "paths inside still work");
}

#[test]
fn the_static_ui_never_serves_files_outside_its_directory() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dev = Dev::new(&sb, &remote, "alpha");
    let dist = sb.path().join("ui/dist");
    write(&dist.join("index.html"), "<!doctype html><title>ui</title>");
    write(&dist.join("assets/app.js"), "console.log('ui')");
    write(&sb.path().join("ui/secret.txt"), SECRET);
    write(&sb.path().join("secret.txt"), SECRET);
    let server = Server::start(&dev.api, None, EventBus::default(), Some(dist));
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/assets/../../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%5c..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
    ] {
        let r = server.request("GET", path, &[], None);
        assert!(!r.body.contains("TOP-SECRET"), "{path} served a file outside ui/dist: {r:?}");
        assert!(!r.body.contains("root:"), "{path} served /etc/passwd: {r:?}");
    }
    let ok = server.request("GET", "/assets/app.js", &[], None);
    assert_eq!(ok.status, 200, "files inside are still served: {ok:?}");
}
