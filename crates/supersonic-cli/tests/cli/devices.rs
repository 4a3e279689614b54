//! `supersonic devices` (who synced a folder, from its history) and `supersonic doctor` (what
//! keeps a folder from syncing, with the fix), on real repositories.

use crate::common::*;

#[test]
fn devices_lists_every_device_of_the_history_with_counts_and_marks_this_one() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("a1.txt"), "1\n");
    p.a.cli(&["sync"]);
    write(&p.a_dir.join("a2.txt"), "2\n");
    p.a.cli(&["sync"]);
    p.b.cli(&["sync"]);
    write(&p.b_dir.join("b1.txt"), "3\n");
    p.b.cli(&["sync"]);
    // Someone commits with plain git, without Supersonic.
    let plain = p.sb.clone(&p.remote_path.display().to_string(), "plain");
    write(&plain.join("by-hand.txt"), "4\n");
    p.sb.git(&plain, &["add", "-A"]);
    p.sb.git(&plain, &["commit", "-qm", "by hand"]);
    p.sb.git(&plain, &["push", "-q", "origin", "main"]);
    p.a.cli(&["sync"]);

    let out: serde_json::Value = serde_json::from_str(&p.a.cli(&["devices", "--json"])).unwrap();
    let devices = out[0]["devices"].as_array().unwrap();
    let find = |name: &str| devices.iter().find(|d| d["name"] == name).cloned();
    let alpha = find("alpha").unwrap_or_else(|| panic!("alpha listed: {out}"));
    let beta = find("beta").unwrap_or_else(|| panic!("beta listed: {out}"));
    assert_eq!(alpha["commits"], 2, "{out}");
    assert_eq!(alpha["this_device"], true);
    assert_eq!(alpha["via_supersonic"], true);
    assert_eq!(beta["commits"], 1, "{out}");
    assert_eq!(beta["this_device"], false);
    assert!(beta["id"].as_str().is_some_and(|id| id.len() == 16), "{out}");
    let by_hand = devices.iter().find(|d| d["via_supersonic"] == false).expect("the git author");
    assert!(by_hand["commits"].as_u64().unwrap() >= 1, "{out}");
    let text = p.a.cli(&["devices"]);
    assert!(text.contains("(this device)") && text.contains("beta"), "{text}");
}

#[test]
fn a_device_that_only_receives_shows_its_last_sync_without_committing_on_the_branch() {
    let p = Pair::new(RemoteKind::Path);
    write(&p.a_dir.join("a1.txt"), "1\n");
    p.a.cli(&["sync"]);
    p.b.cli(&["sync"]); // beta only receives
    let branch_commits = p.remote_commits();
    p.a.cli(&["sync"]); // alpha fetches beta's record

    let out: serde_json::Value = serde_json::from_str(&p.a.cli(&["devices", "--json"])).unwrap();
    let devices = out[0]["devices"].as_array().unwrap();
    let beta = devices.iter().find(|d| d["name"] == "beta").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(beta["commits"], 0, "beta made no commit on the branch: {out}");
    assert!(beta["last_sync"].as_str().is_some(), "but its sync is recorded: {out}");
    let alpha = devices.iter().find(|d| d["name"] == "alpha").unwrap();
    assert!(alpha["last_sync"].as_str().is_some(), "alpha records its syncs too: {out}");
    assert_eq!(p.remote_commits(), branch_commits, "the records never touch the branch");
    let refs =
        p.sb.git(&p.remote_path, &["for-each-ref", "--format=%(refname)", "refs/supersonic/"]);
    assert_eq!(refs.lines().count(), 2, "one record per device on the remote: {refs}");
    p.sb.fsck(&p.remote_path);
}

#[test]
fn doctor_passes_a_healthy_folder_and_names_the_fix_for_a_broken_one() {
    let p = Pair::new(RemoteKind::Path);
    let out = p.a.run(&["doctor", "--json"]);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "a healthy folder passes: {reports}");
    let checks: Vec<&str> = reports[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for check in ["git", "remote", "inotify", "disk", "nesting"] {
        assert!(checks.contains(&check), "{check} is checked: {reports}");
    }

    // A nested repository and a remote that went away.
    p.sb.git(&p.a_dir, &["init", "-q", "vendor/lib"]);
    std::fs::rename(&p.remote_path, p.remote_path.with_extension("moved")).unwrap();
    let out = p.a.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a folder that cannot sync fails the doctor: {text}");
    assert!(text.contains("FAIL remote"), "{text}");
    assert!(text.contains("fix: Check the remote path"), "the fix in words: {text}");
    assert!(text.contains("nested git repositories are not synced: vendor/lib"), "{text}");
}

#[test]
fn doctor_warns_about_a_folder_inside_another_sync_tools_folder() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let synced_by_syncthing = sb.path().join("Sync");
    std::fs::create_dir_all(synced_by_syncthing.join(".stfolder")).unwrap();
    let dir = synced_by_syncthing.join("notes");
    let a = Device::new(&sb, &bin(), "alpha");
    a.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let out = a.run(&["doctor", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a warning is not a failure: {text}");
    assert!(text.contains("warn nesting") && text.contains("inside a Syncthing folder"), "{text}");
}

#[test]
fn three_devices_synced_are_each_listed_with_their_commits_and_last_sync_on_every_device() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let names = ["alpha", "beta", "gamma"];
    let devices: Vec<(Device, std::path::PathBuf)> = names
        .iter()
        .map(|name| {
            let dev = Device::new(&sb, &bin(), name);
            let dir = sb.path().join(format!("{name}-notes"));
            dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
            (dev, dir)
        })
        .collect();
    // alpha commits 3 times, beta twice, gamma never (it only receives).
    for (i, commits) in [3, 2, 0].iter().enumerate() {
        let (dev, dir) = &devices[i];
        dev.cli(&["sync"]);
        for n in 0..*commits {
            write(&dir.join(format!("{}-{n}.md", names[i])), "note\n");
            dev.cli(&["sync"]);
        }
    }
    for (dev, _) in &devices {
        dev.cli(&["sync"]); // everyone fetches everyone's records
    }
    for (me, (dev, _)) in names.iter().zip(&devices) {
        let out: serde_json::Value =
            serde_json::from_str(&dev.cli(&["devices", "--json"])).unwrap();
        let listed = out[0]["devices"].as_array().unwrap();
        let find = |name: &str| {
            listed
                .iter()
                .find(|d| d["name"] == name)
                .unwrap_or_else(|| panic!("{name} listed on {me}: {out}"))
        };
        for (name, commits) in [("alpha", 3), ("beta", 2), ("gamma", 0)] {
            let d = find(name);
            assert_eq!(d["commits"], commits, "{name} on {me}: {out}");
            assert!(d["last_sync"].as_str().is_some(), "{name}'s last sync on {me}: {out}");
            assert_eq!(d["this_device"], name == *me, "{name} on {me}: {out}");
        }
        assert_eq!(listed.len(), 3, "exactly three devices on {me}: {out}");
    }
}
