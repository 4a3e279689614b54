//! Bad input: each mistake is one clear line naming what is wrong, and nothing is written.

use std::path::Path;

use crate::common::*;

fn config_snapshot(dev: &Device) -> Option<String> {
    std::fs::read_to_string(dev.config_dir().join("config.yaml")).ok()
}

/// Runs `args`, expects failure with a one-line error containing every `needles`.
fn fails_with(dev: &Device, args: &[&str], needles: &[&str]) -> String {
    let out = dev.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(
        !out.status.success(),
        "supersonic {args:?} must fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(error_lines.len(), 1, "exactly one error line: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "error names `{n}`: {stderr}");
    }
    stderr
}

fn setup() -> (Sandbox, Device, std::path::PathBuf) {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let dev = Device::new(&sb, &bin(), "alpha");
    (sb, dev, remote)
}

#[test]
fn malformed_yaml_in_the_app_config_names_file_and_line() {
    let (_sb, dev, _) = setup();
    let cfg = dev.config_dir().join("config.yaml");
    write(&cfg, "folders:\n  - path: /x\n    remote: \"unterminated\n");
    fails_with(&dev, &["status"], &["config.yaml:4", "found unexpected end of stream"]);
    assert!(read(&cfg).unwrap().ends_with("unterminated\n"), "untouched");
}

#[test]
fn unknown_key_in_folder_config_names_file_line_and_key_and_writes_nothing() {
    let (sb, dev, remote) = setup();
    let dir = sb.path().join("notes");
    write(&dir.join(".supersonic-sync.conf"), "sync:\n  interval_sec: 30\n  intervall: 5\n");
    fails_with(
        &dev,
        &["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()],
        &[".supersonic-sync.conf:3", "sync.intervall", "unknown field `intervall`"],
    );
    assert!(!dir.join(".git").exists(), "no repository created");
    assert_eq!(config_snapshot(&dev), None, "no config written");
}

#[test]
fn wrong_type_in_folder_config_names_the_key() {
    let (sb, dev, remote) = setup();
    let dir = sb.path().join("notes");
    write(&dir.join(".supersonic-sync.conf"), "sync:\n  max_per_hour: lots\n");
    fails_with(
        &dev,
        &["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()],
        &[".supersonic-sync.conf:2", "sync.max_per_hour"],
    );
}

#[test]
fn bad_glob_in_syncignore_names_file_line_and_pattern() {
    let (sb, dev, remote) = setup();
    let dir = sb.path().join("notes");
    write(&dir.join(".syncignore"), "build/\n*.[md\n");
    fails_with(
        &dev,
        &["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()],
        &[".syncignore:2", "*.[md", "unclosed character class"],
    );
    assert!(!dir.join(".git").exists(), "no repository created");
    assert_eq!(config_snapshot(&dev), None);
}

#[test]
fn a_path_that_is_not_a_directory_is_refused() {
    let (sb, dev, remote) = setup();
    let file = sb.path().join("file.txt");
    write(&file, "x");
    fails_with(
        &dev,
        &["init", file.to_str().unwrap(), "--remote", remote.to_str().unwrap()],
        &["file.txt is not a directory"],
    );
    assert_eq!(config_snapshot(&dev), None);
}

#[test]
fn a_remote_that_does_not_exist_is_refused_and_nothing_is_written() {
    let (sb, dev, _) = setup();
    let dir = sb.path().join("notes");
    std::fs::create_dir_all(&dir).unwrap();
    let missing = sb.path().join("nowhere.git");
    fails_with(
        &dev,
        &["init", dir.to_str().unwrap(), "--remote", missing.to_str().unwrap()],
        &["nowhere.git", "does not appear to be a git repository"],
    );
    assert!(!dir.join(".git").exists(), "no repository created");
    assert_eq!(config_snapshot(&dev), None);
    assert!(!Path::new(&missing).exists());
}

#[test]
fn a_bad_environment_override_names_the_variable() {
    let (sb, mut dev, remote) = setup();
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    dev.set_env("SUPERSONIC_INTERVAL_SEC", "soon");
    fails_with(&dev, &["sync"], &["SUPERSONIC_INTERVAL_SEC", "soon"]);
}

#[test]
fn an_unknown_mode_is_refused_by_the_cli() {
    let (sb, dev, remote) = setup();
    let dir = sb.path().join("notes");
    let out = dev.run(&[
        "init",
        dir.to_str().unwrap(),
        "--remote",
        remote.to_str().unwrap(),
        "--mode",
        "sideways",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sideways"));
    assert_eq!(config_snapshot(&dev), None);
}

#[test]
fn check_ignore_prints_ignored_paths_and_exits_like_git() {
    let (sb, dev, remote) = setup();
    let dir = sb.path().join("notes");
    write(&dir.join(".syncignore"), "*.log\n!keep.log\nbuild/\n");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let d = dir.to_str().unwrap();
    let out = dev.run(&[
        "check-ignore",
        "--folder",
        d,
        "a.log",
        "keep.log",
        "build/x.o",
        "notes.md",
        ".x.swp",
    ]);
    assert_eq!(out.status.code(), Some(0), "some are ignored");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ignored: Vec<&str> = stdout.lines().collect();
    assert_eq!(ignored, vec!["a.log", "build/x.o", ".x.swp"]);
    let out = dev.run(&["check-ignore", "--folder", d, "notes.md"]);
    assert_eq!(out.status.code(), Some(1), "none ignored → exit 1");
    let verbose = dev.cli(&["check-ignore", "-v", "--folder", d, "a.log"]);
    assert_eq!(verbose.trim(), ".syncignore:1:*.log\ta.log");
}

#[test]
fn config_output_redacts_credentials() {
    let (sb, dev, _) = setup();
    let h = SmartHttp::start(&sb, &sb.remotes_dir(), Some(("bob", "hunter2")));
    sb.bare_remote("r2");
    let dir = sb.path().join("notes");
    dev.cli(&[
        "init",
        dir.to_str().unwrap(),
        "--remote",
        &h.url_with_credentials("r2.git", "bob", "hunter2"),
    ]);
    let out = dev.cli(&["config", "--json"]);
    assert!(!out.contains("hunter2"), "the password is never printed: {out}");
    assert!(out.contains("bob:***@"), "{out}");
    let status = dev.cli(&["status"]);
    assert!(!status.contains("hunter2"), "{status}");
}

#[test]
fn init_without_remote_creates_an_embedded_local_remote() {
    let (sb, dev, _) = setup();
    let dir = sb.path().join("fresh");
    let out = dev.cli(&["init", dir.to_str().unwrap()]);
    assert!(out.contains("embedded local remote"), "{out}");
    write(&dir.join("x.md"), "x\n");
    dev.cli(&["sync"]);
    let remote = dev.data_dir().join("remotes");
    let bare = std::fs::read_dir(&remote).unwrap().next().unwrap().unwrap().path();
    assert_eq!(sb.git(&bare, &["ls-tree", "--name-only", "main"]), "x.md");
}
