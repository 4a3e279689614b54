//! Conflict policies on real repositories: two in-process devices share a bare remote.

use std::time::Duration;

use supersonic_core::config::Strategy;
use supersonic_core::conflicts::{self, Action};

use super::*;

/// Two devices with a file both have synced.
fn pair(policy: &str, path: &str, base: &str) -> (Sandbox, Dev, Dev) {
    let sb = Sandbox::new();
    let (a, b) = pair_in(&sb, policy, path, base);
    (sb, a, b)
}

/// Two devices under `policy` on the bare remote `r` of `sb`, both holding `base` at `path`.
fn pair_in(sb: &Sandbox, policy: &str, path: &str, base: &str) -> (Dev, Dev) {
    let remote = sb.bare_remote("r");
    let mut a = Dev::new(sb, &remote, "alpha").with_policy(policy);
    let mut b = Dev::new(sb, &remote, "beta").with_policy(policy);
    write(&a.dir.join(path), base);
    a.sync();
    b.sync();
    assert_eq!(b.read(path).as_deref(), Some(base), "both start from the same base");
    (a, b)
}

/// Two devices that edited the same file without knowing of each other's edit: from a synced
/// `base` at `path`, alpha writes `alpha` and syncs (its edit is on the remote), then beta
/// writes `beta` without syncing, so beta's next `sync()` meets the conflict and resolves it.
fn conflict_offline(
    policy: &str,
    path: &str,
    base: &str,
    alpha: impl AsRef<[u8]>,
    beta: impl AsRef<[u8]>,
) -> (Sandbox, Dev, Dev) {
    let sb = Sandbox::new();
    let (a, b) = conflict_offline_in(&sb, policy, path, base, alpha, beta);
    (sb, a, b)
}

/// [`conflict_offline`] in the sandbox `sb` (which holds what the policy refers to).
fn conflict_offline_in(
    sb: &Sandbox,
    policy: &str,
    path: &str,
    base: &str,
    alpha: impl AsRef<[u8]>,
    beta: impl AsRef<[u8]>,
) -> (Dev, Dev) {
    let (mut a, b) = pair_in(sb, policy, path, base);
    write(&a.dir.join(path), alpha);
    a.sync();
    write(&b.dir.join(path), beta);
    (a, b)
}

/// Makes the next commit's timestamp strictly later (commit times have 1 s resolution).
fn tick() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn ask_keeps_both_and_the_older_change_takes_the_copy() {
    let (_sb, mut a, mut b) =
        conflict_offline("{}", "notes.md", "base\n", "alpha edit\n", "beta edit\n");
    tick();
    let res = b.sync();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].strategy, Strategy::Ask);
    assert_eq!(
        b.read("notes.md").as_deref(),
        Some("beta edit\n"),
        "the newer change keeps the path"
    );
    let copy = res[0].copy.clone().unwrap();
    assert!(copy.starts_with("notes.sync-conflict-") && copy.ends_with("-alpha.md"), "{copy}");
    assert_eq!(b.read(&copy).as_deref(), Some("alpha edit\n"), "the older change is in the copy");
    a.sync();
    assert_eq!(a.files(), b.files(), "both devices hold the same pair");
    let on_a = conflicts::list(&a.repo, "alpha", false).unwrap();
    let on_b = conflicts::list(&b.repo, "beta", false).unwrap();
    assert_eq!(on_a.len(), 1);
    assert_eq!(on_a[0].id, on_b[0].id, "the same id on every device");
    assert_eq!(
        on_a[0].local.text.as_deref(),
        Some("alpha edit\n"),
        "alpha's local is its own edit"
    );
    assert_eq!(on_b[0].local.text.as_deref(), Some("beta edit\n"), "beta's local is its own edit");
    assert_eq!(on_a[0].local.device, "alpha", "labels are not swapped");
    assert_eq!(on_a[0].remote.device, "beta");
}

#[test]
fn resolving_on_one_device_clears_it_on_the_other() {
    let (_sb, mut a, mut b) = conflict_offline("{}", "plan.txt", "v0\n", "alpha\n", "beta\n");
    b.sync();
    a.sync();
    let id = conflicts::list(&a.repo, "alpha", false).unwrap()[0].id.clone();
    conflicts::resolve(&a.repo, "alpha", &id, Action::TakeLocal).unwrap();
    assert_eq!(a.read("plan.txt").as_deref(), Some("alpha\n"));
    a.sync();
    b.sync();
    assert!(conflicts::list(&b.repo, "beta", false).unwrap().is_empty(), "cleared on beta too");
    assert_eq!(b.read("plan.txt").as_deref(), Some("alpha\n"));
    assert_eq!(a.files(), vec!["plan.txt"]);
    assert_eq!(b.files(), vec!["plan.txt"]);
}

#[test]
fn resolve_actions_take_remote_keep_both_and_merged() {
    for action in ["remote", "both", "merged"] {
        let (_sb, _a, mut b) = conflict_offline("{}", "f.md", "0\n", "A\n", "B\n");
        b.sync();
        let c = conflicts::list(&b.repo, "beta", false).unwrap().remove(0);
        let act = match action {
            "remote" => Action::TakeRemote,
            "both" => Action::KeepBoth,
            _ => Action::Merged(b"A and B\n".to_vec()),
        };
        conflicts::resolve(&b.repo, "beta", &c.id, act).unwrap();
        let files = b.files();
        match action {
            "remote" => {
                assert_eq!((files, b.read("f.md").unwrap()), (vec!["f.md".into()], "A\n".into()))
            }
            "both" => {
                assert_eq!(
                    files,
                    vec!["f-alpha.md".to_string(), "f.md".to_string()],
                    "a plain name"
                );
                assert_eq!(b.read("f-alpha.md").as_deref(), Some("A\n"));
            }
            _ => assert_eq!(
                (files, b.read("f.md").unwrap()),
                (vec!["f.md".into()], "A and B\n".into())
            ),
        }
        b.sync();
        assert!(conflicts::list(&b.repo, "beta", false).unwrap().is_empty(), "{action}: resolved");
    }
}

#[test]
fn a_resolve_refuses_when_the_file_changed_since_it_was_read() {
    let (_sb, _a, mut b) = conflict_offline("{}", "f.md", "0\n", "A\n", "B\n");
    b.sync();
    let c = conflicts::list(&b.repo, "beta", false).unwrap().remove(0);
    // The user types into the copy between listing and resolving: a real resolve re-reads, so
    // simulate the race at the safe-write level.
    let copy = c.copy.clone().unwrap();
    let err = conflicts::safe_remove(&b.dir, &copy, b"not what is there").unwrap_err();
    assert!(err.to_string().contains("changed since"), "{err}");
    assert!(b.dir.join(&copy).exists(), "nothing removed");
}

#[test]
fn newest_keeps_the_newer_change_and_undo_brings_the_other_back() {
    let (_sb, _a, mut b) = conflict_offline(
        "default: newest",
        "s.json",
        "{}\n",
        "{\"older\": true}\n",
        "{\"newer\": true}\n",
    );
    tick();
    let res = b.sync();
    assert_eq!((res[0].strategy, res[0].copy.clone()), (Strategy::Newest, None));
    assert_eq!(b.read("s.json").as_deref(), Some("{\"newer\": true}\n"));
    let auto = conflicts::list(&b.repo, "beta", true).unwrap();
    assert_eq!(auto.len(), 1, "the automatic resolution is listed");
    assert_eq!(auto[0].status, "auto");
    let lost = auto[0].remote.blob.clone().unwrap();
    assert_eq!(
        b.repo.blob_bytes(&lost).unwrap(),
        b"{\"older\": true}\n",
        "the loser is recoverable"
    );
    conflicts::undo(&b.repo, "beta", &auto[0].id).unwrap();
    let files = b.files();
    assert_eq!(files.len(), 2, "the losing version is back beside it: {files:?}");
    b.sync(); // the engine commits the undo like any change
    assert!(conflicts::list(&b.repo, "beta", false).unwrap().iter().any(|c| c.status == "pending"));
}

#[test]
fn local_and_remote_strategies_pick_a_side() {
    for (strategy, expect_on_b) in [("local", "B\n"), ("remote", "A\n")] {
        let policy = format!("default: {strategy}");
        let (_sb, mut a, mut b) = conflict_offline(&policy, "x.txt", "0\n", "A\n", "B\n");
        let res = b.sync();
        assert_eq!(res[0].copy, None);
        assert_eq!(
            b.read("x.txt").as_deref(),
            Some(expect_on_b),
            "{strategy} on the merging device"
        );
        a.sync();
        assert_eq!(a.files(), vec!["x.txt"], "no copies");
    }
}

#[test]
fn union_text_keeps_both_sides_lines_once() {
    let (_sb, _a, mut b) = conflict_offline(
        "default: union",
        "list.md",
        "- one\n",
        "- one\n- from alpha\n- both added this\n",
        "- one\n- from beta\n- both added this\n",
    );
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Union);
    let text = b.read("list.md").unwrap();
    for line in ["- one", "- from alpha", "- from beta", "- both added this"] {
        assert_eq!(
            text.lines().filter(|l| *l == line).count(),
            1,
            "{line} exactly once in:\n{text}"
        );
    }
    assert_eq!(b.files(), vec!["list.md"], "no copy");
}

#[test]
fn union_json_merges_nested_objects_and_dedupes_arrays() {
    let base = r#"{"name": "n", "tags": ["a"], "ui": {"theme": "dark", "size": 1}}"#;
    let (_sb, _a, mut b) = conflict_offline(
        "rules: [{pattern: '*.json', strategy: union}]",
        "cfg/app.json",
        base,
        r#"{"name": "n", "tags": ["a", "b"], "ui": {"theme": "dark", "size": 2}}"#,
        r#"{"name": "n", "tags": ["a", "c", "b"], "ui": {"theme": "light", "size": 1}, "new": 1}"#,
    );
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Union, "{res:?}");
    let v: serde_json::Value = serde_json::from_str(&b.read("cfg/app.json").unwrap()).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "c", "b"]), "array union, duplicates dropped");
    assert_eq!(v["ui"]["theme"], "light", "beta changed the theme");
    assert_eq!(v["ui"]["size"], 2, "alpha changed the size");
    assert_eq!(v["new"], 1);
}

#[test]
fn union_json_with_a_true_collision_falls_back_to_ask() {
    let (_sb, _a, mut b) =
        conflict_offline("default: union", "s.json", r#"{"k": 0}"#, r#"{"k": 1}"#, r#"{"k": 2}"#);
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Ask);
    assert!(res[0].note.as_deref().unwrap().contains("fell back to ask"), "{res:?}");
    assert_eq!(b.files().len(), 2, "both versions kept");
}

#[test]
fn binary_files_fall_back_to_ask_under_union() {
    let (_sb, _a, mut b) = conflict_offline(
        "default: union",
        "img.png",
        "x",
        [0u8, 1, 2, 3, 0, 9],
        [0u8, 7, 7, 7, 0, 9],
    );
    let res = b.sync();
    assert!(res[0].binary, "detected as binary");
    assert_eq!(res[0].strategy, Strategy::Ask);
    assert_eq!(b.files().len(), 2);
}

#[test]
fn markers_are_written_and_listed_until_cleaned() {
    let (_sb, mut a, mut b) =
        conflict_offline("default: markers", "doc.md", "line\n", "alpha line\n", "beta line\n");
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Markers);
    let text = b.read("doc.md").unwrap();
    assert!(
        text.contains("<<<<<<< local (beta)") && text.contains(">>>>>>> remote (alpha)"),
        "{text}"
    );
    a.sync();
    let pending = conflicts::list(&a.repo, "alpha", false).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "markers");
    assert_eq!(pending[0].local.device, "alpha", "from alpha's side, its version is local");
    conflicts::resolve(&a.repo, "alpha", &pending[0].id, Action::TakeRemote).unwrap();
    assert_eq!(a.read("doc.md").as_deref(), Some("beta line\n"));
    assert!(conflicts::list(&a.repo, "alpha", false).unwrap().is_empty());
}

#[test]
fn modify_delete_keeps_the_modification_both_ways() {
    for deleter in ["alpha", "beta"] {
        let (_sb, mut a, mut b) = pair("{}", "m.txt", "base\n");
        let (del, edit) = if deleter == "alpha" { (&mut a, &mut b) } else { (&mut b, &mut a) };
        std::fs::remove_file(del.dir.join("m.txt")).unwrap();
        del.sync();
        write(&edit.dir.join("m.txt"), "edited\n");
        let res = edit.sync();
        assert_eq!(res.len(), 1, "{deleter} deleted: {res:?}");
        assert_eq!(edit.read("m.txt").as_deref(), Some("edited\n"), "the modification survives");
        del.sync();
        assert_eq!(del.read("m.txt").as_deref(), Some("edited\n"), "and reaches the deleter");
    }
}

#[test]
fn remote_strategy_can_take_a_deletion() {
    let (_sb, mut a, mut b) = pair("default: remote", "m.txt", "base\n");
    std::fs::remove_file(a.dir.join("m.txt")).unwrap();
    a.sync();
    write(&b.dir.join("m.txt"), "edited\n");
    let res = b.sync();
    assert_eq!(res[0].kind, "modify/delete");
    assert!(!b.dir.join("m.txt").exists(), "remote (alpha) deleted it");
    let edited = res[0].local.as_ref().unwrap().blob.clone();
    assert_eq!(b.repo.blob_bytes(&edited).unwrap(), b"edited\n", "the edit is recoverable");
}

#[test]
fn the_first_matching_rule_wins() {
    let policy = "rules: [{pattern: '*.json', strategy: remote}, {pattern: 'cfg/*.json', strategy: local}]\ndefault: ask";
    let (_sb, _a, mut b) = conflict_offline(policy, "cfg/a.json", "0", "1", "2");
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Remote);
    assert_eq!(res[0].rule, "rules[0] *.json");
    assert_eq!(b.read("cfg/a.json").as_deref(), Some("1"));
}

#[test]
fn identical_edits_make_no_conflict() {
    let (_sb, _a, mut b) = conflict_offline("{}", "same.md", "x\n", "same edit\n", "same edit\n");
    let res = b.sync();
    assert!(res.is_empty(), "{res:?}");
    assert_eq!(b.files(), vec!["same.md"]);
}

#[test]
fn a_conflict_copy_never_gets_a_copy_of_its_own() {
    let (_sb, mut a, mut b) = conflict_offline("{}", "n.md", "0\n", "a\n", "b\n");
    let copy = b.sync()[0].copy.clone().unwrap();
    a.sync();
    write(&a.dir.join(&copy), "a edits the copy\n");
    a.sync();
    write(&b.dir.join(&copy), "b edits the copy\n");
    let res = b.sync();
    assert_eq!(res[0].copy, None, "no copy of a copy");
    let copies = b.files().iter().filter(|f| f.contains(".sync-conflict-")).count();
    assert_eq!(copies, 1);
}

#[test]
fn copies_beyond_the_cap_are_pruned_only_when_in_history() {
    let (_sb, mut a, mut b) = pair("max_copies: 2", "c.md", "0\n");
    for round in 0..4 {
        write(&a.dir.join("c.md"), format!("a{round}\n"));
        a.sync();
        tick();
        write(&b.dir.join("c.md"), format!("b{round}\n"));
        b.sync();
        a.sync();
    }
    let copies: Vec<String> =
        b.files().into_iter().filter(|f| f.contains(".sync-conflict-")).collect();
    assert!(copies.len() <= 2, "at most max_copies copies: {copies:?}");
    let log = std::process::Command::new("git")
        .args(["log", "--all", "-p", "--format=%H"])
        .current_dir(&b.dir)
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&log.stdout);
    for round in 0..4 {
        assert!(history.contains(&format!("+a{round}")), "a{round} is still in history");
    }
}

/// Writes an executable merge driver script into the sandbox and returns its path.
fn driver(sb: &Sandbox, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = sb.path().join("drivers").join(name);
    write(&path, format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Two devices whose `*.md` conflicts go to `driver`, with a synced base `notes.md`.
fn command_pair(sb: &Sandbox, driver: &std::path::Path, extra: &str) -> (Dev, Dev) {
    let policy = format!(
        "rules:\n  - pattern: '*.md'\n    strategy: command\n    command: ['{}', '%O', '%A', \
         '%B', '%P']\n{extra}",
        driver.display()
    );
    conflict_offline_in(sb, &policy, "notes.md", "base\n", "alpha edit\n", "beta edit\n")
}

#[test]
fn a_merge_command_resolves_the_conflict_for_every_device() {
    let sb = Sandbox::new();
    let log = sb.path().join("driver.log");
    // Like a git merge driver: the result goes into %A. Logs its arguments to prove %O/%P.
    let script = driver(
        &sb,
        "concat.sh",
        &format!(
            "printf '%s\\n' \"$@\" >> '{}'\ncat \"$2\" \"$3\" > \"$2.new\" && mv \"$2.new\" \"$2\"",
            log.display()
        ),
    );
    let (mut a, mut b) = command_pair(&sb, &script, "");
    let res = b.sync();
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0].strategy, Strategy::Command, "{res:?}");
    assert_eq!(res[0].rule, "rules[0] *.md");
    assert_eq!(res[0].copy, None, "no conflict copy: the command decided");
    assert!(res[0].note.as_deref().unwrap_or("").contains("merged by"), "{res:?}");
    let merged = "beta edit\nalpha edit\n"; // local (beta, merging) then remote
    assert_eq!(b.read("notes.md").as_deref(), Some(merged));
    a.sync();
    assert_eq!(a.read("notes.md").as_deref(), Some(merged), "alpha receives the merge");
    assert_eq!(a.files(), vec!["notes.md"]);
    assert_eq!(b.files(), vec!["notes.md"]);
    let on_remote = std::process::Command::new("git")
        .args(["show", "main:notes.md"])
        .current_dir(sb.path().join("remotes/r.git"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&on_remote.stdout), merged, "the remote has the merge");

    let args: Vec<String> =
        std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    assert_eq!(args.len(), 4, "%O %A %B %P: {args:?}");
    assert_eq!(args[3], "notes.md", "%P is the path in the folder");
    for temp in &args[..3] {
        assert!(temp.ends_with(".md"), "temp files keep the extension: {temp}");
        assert!(!std::path::Path::new(temp).exists(), "{temp} was cleaned up");
    }
    // Recorded like any automatic resolution: listed (with --all) and undoable.
    let auto = conflicts::list(&b.repo, "beta", true).unwrap();
    assert_eq!(auto.len(), 1, "{auto:?}");
    assert_eq!((auto[0].status.as_str(), auto[0].strategy), ("auto", Strategy::Command));
    assert!(conflicts::list(&b.repo, "beta", false).unwrap().is_empty(), "nothing pending");
}

#[test]
fn a_failing_merge_command_falls_back_to_ask() {
    let sb = Sandbox::new();
    let script = driver(&sb, "fail.sh", "echo 'cannot merge this' >&2\nexit 1");
    let (_a, mut b) = command_pair(&sb, &script, "");
    let res = b.sync();
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0].strategy, Strategy::Ask, "{res:?}");
    let note = res[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("command fell back to ask") && note.contains("cannot merge this"),
        "the reason is recorded: {note}"
    );
    let copy = res[0].copy.clone().expect("both versions kept");
    let mut versions = vec![b.read("notes.md").unwrap(), b.read(&copy).unwrap()];
    versions.sort();
    assert_eq!(versions, vec!["alpha edit\n", "beta edit\n"], "both versions are kept");
    let pending = conflicts::list(&b.repo, "beta", false).unwrap();
    assert_eq!(pending.len(), 1, "listed for the user to pick: {pending:?}");
    assert_eq!(pending[0].rule, "rules[0] *.md");
}

#[test]
fn a_merge_command_past_its_deadline_is_killed_and_falls_back_to_ask() {
    let sb = Sandbox::new();
    let pid_file = sb.path().join("sleeper.pid");
    // The sleeper is a grandchild: only killing the whole process group stops it.
    let body = format!("sleep 120 &\necho $! > '{}'\nwait", pid_file.display());
    let script = driver(&sb, "slow.sh", &body);
    let (_a, mut b) = command_pair(&sb, &script, "command_timeout_sec: 1\n");
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Ask, "{res:?}");
    let note = res[0].note.clone().unwrap_or_default();
    assert!(note.contains("did not finish within 1 s and was killed"), "{note}");
    assert!(res[0].copy.is_some(), "both versions kept: {res:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    // Killed processes linger only as zombies until their parent (init, for the orphaned
    // sleeper) reaps them: either way they no longer run.
    supersonic_testkit::wait_until(
        "the driver's sleeper to be killed",
        Duration::from_secs(30),
        || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => {
                stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
            }
        },
    );
}

#[test]
fn a_merge_command_that_cannot_start_falls_back_to_ask() {
    let sb = Sandbox::new();
    let missing = sb.path().join("drivers/not-installed");
    let (_a, mut b) = command_pair(&sb, &missing, "");
    let res = b.sync();
    assert_eq!(res[0].strategy, Strategy::Ask, "{res:?}");
    assert!(res[0].note.as_deref().unwrap_or("").contains("cannot run"), "{res:?}");
    assert!(res[0].copy.is_some());
}

#[test]
fn strategy_command_without_a_command_names_the_field() {
    let settings: supersonic_core::config::ConflictSettings =
        serde_yaml::from_str("rules: [{pattern: '*.json', strategy: command}]").unwrap();
    let err = conflicts::Policy::compile(&settings, Path::new("/f"), Path::new("f.conf"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("conflicts.rules[0].command") && err.contains("missing"), "{err}");
}
