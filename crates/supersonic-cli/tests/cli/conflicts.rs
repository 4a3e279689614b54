//! Conflicts across real daemons: made offline, seen the same everywhere, resolved once.

use crate::common::*;

/// Runs `init` on a new folder whose shared `.supersonic-sync.conf` holds `conf`; returns the
/// sandbox, the folder and what `init` did.
fn init_with_shared_conf(conf: &str) -> (Sandbox, std::path::PathBuf, std::process::Output) {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    write(&dir.join(".supersonic-sync.conf"), conf);
    let out = dev.run(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    (sb, dir, out)
}

fn pending(dev: &Device) -> Vec<serde_json::Value> {
    let out = dev.cli(&["conflicts", "list", "--json"]);
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

#[test]
fn a_conflict_made_offline_is_kept_listed_everywhere_and_resolved_once() {
    let mut p = Pair::new(RemoteKind::GitDaemon);
    p.conflict_offline("todo.md", "- milk\n", "- oat milk (alpha)\n", "- soy milk (beta)\n");
    wait_until("both trees to hold both versions", CONVERGE, || {
        let t = tree(&p.a_dir);
        t == tree(&p.b_dir) && t.len() == 2
    });
    let t = tree(&p.a_dir);
    let mut versions: Vec<String> =
        t.values().map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    versions.sort();
    assert_eq!(versions, vec!["- oat milk (alpha)\n", "- soy milk (beta)\n"], "{}", p.logs());

    let on_a = pending(&p.a);
    let on_b = pending(&p.b);
    assert_eq!(on_a.len(), 1, "one conflict on alpha: {on_a:?}");
    assert_eq!(on_b.len(), 1, "one conflict on beta: {on_b:?}");
    let id = on_a[0]["conflict"]["id"].as_str().unwrap().to_string();
    assert_eq!(on_b[0]["conflict"]["id"].as_str().unwrap(), id, "the same conflict on both");
    assert_eq!(
        on_a[0]["conflict"]["local"]["text"], "- oat milk (alpha)\n",
        "alpha sees its edit as local"
    );
    assert_eq!(
        on_b[0]["conflict"]["local"]["text"], "- soy milk (beta)\n",
        "beta sees its edit as local"
    );

    let shown = p.b.cli(&["conflicts", "show", &id]);
    assert!(shown.contains("local : beta") && shown.contains("remote: alpha"), "{shown}");

    let out = p.b.cli(&["conflicts", "resolve", &id, "--take", "local"]);
    assert!(out.contains("the running daemon syncs it"), "{out}");
    wait_until("the resolution to reach alpha", CONVERGE, || {
        let t = tree(&p.a_dir);
        t.len() == 1 && t.get("todo.md").map(Vec::as_slice) == Some(&b"- soy milk (beta)\n"[..])
    });
    assert!(pending(&p.a).is_empty(), "cleared on alpha too");
    assert!(pending(&p.b).is_empty());
}

#[test]
fn a_bad_conflict_rule_names_its_key() {
    let (_sb, _, out) = init_with_shared_conf(
        "conflicts:\n  rules:\n    - { pattern: \"*.json\", strategy: sometimes }\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("conflicts.rules[0].strategy") && err.contains("sometimes"), "{err}");
}

#[test]
fn strategy_command_without_a_command_names_the_field() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // Merge commands are device-local: the folder's entry in config.yaml.
    let cfg = dev.config_dir().join("config.yaml");
    let yaml = std::fs::read_to_string(&cfg).unwrap();
    let entry = format!("- path: {}\n", dir.display());
    assert!(yaml.contains(&entry), "{yaml}");
    let rule = "  conflicts:\n    rules:\n    - pattern: '*.json'\n      strategy: command\n";
    std::fs::write(&cfg, yaml.replace(&entry, &format!("{entry}{rule}"))).unwrap();
    let out = dev.run(&["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a rule that cannot run must be refused");
    assert!(err.contains("config.yaml"), "names the file: {err}");
    assert!(err.contains("folders[0].conflicts.rules[0].command"), "names the field: {err}");
    assert!(err.contains("strategy: command` needs the command"), "says what is missing: {err}");
}

#[test]
fn a_merge_command_in_the_shared_folder_config_is_refused() {
    // Any device that can push could write this file: it must not choose programs to run.
    let (_sb, dir, out) = init_with_shared_conf(
        "conflicts:\n  rules:\n    - pattern: \"*.json\"\n      strategy: command\n      \
         command: [\"/bin/sh\", \"-c\", \"touch pwned\"]\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(".supersonic-sync.conf") && err.contains("conflicts.rules[0].command"));
    assert!(err.contains("config.yaml"), "says where the rule belongs: {err}");
    assert!(!dir.join(".git").exists() && !dir.join("pwned").exists(), "nothing ran or was made");
}

#[test]
fn a_merge_command_resolves_an_offline_conflict_between_daemons() {
    use std::os::unix::fs::PermissionsExt;
    let mut p = Pair::new(RemoteKind::GitDaemon);
    let driver = p.sb.path().join("concat-merge");
    write(&driver, "#!/bin/sh\ncat \"$2\" \"$3\" > \"$2.new\" && mv \"$2.new\" \"$2\"\n");
    std::fs::set_permissions(&driver, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = format!(
        "  conflicts:\n    rules:\n      - pattern: \"*.md\"\n        strategy: command\n        \
         command: [\"{}\", \"%O\", \"%A\", \"%B\", \"%P\"]\n",
        driver.display()
    );
    // Device-local, as merge commands must be: `defaults:` in each device's config.yaml.
    for dev in [&p.a, &p.b] {
        let cfg = dev.config_dir().join("config.yaml");
        let yaml = std::fs::read_to_string(&cfg).unwrap();
        assert!(yaml.contains("defaults: null\n"), "{yaml}");
        std::fs::write(&cfg, yaml.replace("defaults: null\n", &format!("defaults:\n{conf}")))
            .unwrap();
    }
    p.conflict_offline("todo.md", "- milk\n", "- oat milk (alpha)\n", "- soy milk (beta)\n");
    let merged = |t: &std::collections::BTreeMap<String, Vec<u8>>| {
        let text = String::from_utf8_lossy(t.get("todo.md")?).into_owned();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        (lines == ["- oat milk (alpha)", "- soy milk (beta)"]).then_some(text)
    };
    wait_until("both devices to hold the command's merge", CONVERGE, || {
        let t = tree(&p.a_dir);
        t == tree(&p.b_dir) && t.len() == 1 && merged(&t).is_some()
    });
    let text = merged(&tree(&p.a_dir)).unwrap();
    let on_remote = p.sb.git(&p.remote_path, &["show", "main:todo.md"]);
    assert_eq!(format!("{on_remote}\n"), text, "the remote holds the merge too");
    assert!(pending(&p.a).is_empty() && pending(&p.b).is_empty(), "nothing left to decide");
    let log = p.sb.git(&p.remote_path, &["log", "--merges", "--format=%B", "main"]);
    assert!(log.contains("C todo.md (content, command)"), "recorded with the strategy: {log}");
}
