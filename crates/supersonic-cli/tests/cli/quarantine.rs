//! The secret guard: files that look like private keys or tokens are held back (not committed,
//! not pushed) and listed; the user releases or ignores each one.

use crate::common::*;

const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n";

fn remote_files(p: &Pair) -> String {
    p.sb.git(&p.remote_path, &["ls-tree", "-r", "--name-only", "main"])
}

#[test]
fn secrets_are_held_back_until_released_or_ignored() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("notes.md"), "plain notes\n");
    write(&p.a_dir.join("keys/deploy.key"), KEY);
    write(&p.a_dir.join("config.yml"), format!("token: ghp_{}\n", "Ab12".repeat(9)));
    p.a.cli(&["sync"]);
    assert_eq!(remote_files(&p), "notes.md", "only the plain file is pushed");

    let listed: serde_json::Value =
        serde_json::from_str(&p.a.cli(&["quarantine", "list", "--json"])).unwrap();
    let held = listed[0]["held"].as_array().unwrap();
    let reason = |path: &str| {
        held.iter().find(|h| h["path"] == path).map(|h| h["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("keys/deploy.key").as_deref(), Some("it looks like it holds a private key"));
    assert_eq!(reason("config.yml").as_deref(), Some("it looks like it holds a GitHub token"));

    let out = p.a.cli(&[
        "quarantine",
        "release",
        "keys/deploy.key",
        "--folder",
        p.a_dir.to_str().unwrap(),
    ]);
    assert!(out.contains("released keys/deploy.key"), "{out}");
    assert!(remote_files(&p).contains("keys/deploy.key"), "released: committed and pushed");

    let path = p.a_dir.join("config.yml");
    p.a.cli(&["quarantine", "ignore", path.to_str().unwrap()]);
    let rules = read(&p.a_dir.join(".syncignore")).unwrap();
    assert!(rules.contains("\n/config.yml\n"), "{rules}");
    let files = remote_files(&p);
    assert!(files.contains(".syncignore") && !files.contains("config.yml"), "{files}");
    let listed = p.a.cli(&["quarantine", "list"]);
    assert!(listed.contains("nothing held back"), "{listed}");
    assert!(path.exists(), "an ignored secret stays on this device");

    p.b.cli(&["sync"]);
    assert_eq!(read(&p.b_dir.join("keys/deploy.key")).as_deref(), Some(KEY));
    assert!(!p.b_dir.join("config.yml").exists());
}

#[test]
fn a_running_daemon_shows_the_quarantine_in_status_and_releases_through_the_daemon() {
    let mut p = Pair::new(RemoteKind::Path);
    p.a.start();
    write(&p.a_dir.join("id_ed25519"), "not really a key, but named like one\n");
    write(&p.a_dir.join("ok.md"), "fine\n");
    wait_until("the plain file to be pushed", CONVERGE, || remote_files_has(&p, "ok.md"));
    wait_until("the status to list the held file", CONVERGE, || {
        p.a.cli(&["status", "--json"]).contains("\"path\": \"id_ed25519\"")
    });
    assert!(p.a.log().contains("holding back id_ed25519"), "{}", p.a.log());
    assert!(!remote_files_has(&p, "id_ed25519"));
    p.a.cli(&["quarantine", "release", p.a_dir.join("id_ed25519").to_str().unwrap()]);
    wait_until("the released file to be pushed", CONVERGE, || remote_files_has(&p, "id_ed25519"));
    wait_until("the status to drop it", CONVERGE, || {
        !p.a.cli(&["status", "--json"]).contains("\"path\": \"id_ed25519\"")
    });
}

fn remote_files_has(p: &Pair, file: &str) -> bool {
    let out = p.sb.git_output(&p.remote_path, &["ls-tree", "-r", "--name-only", "main"]);
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l == file)
}
