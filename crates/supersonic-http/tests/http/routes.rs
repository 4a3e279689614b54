//! The control surface: status, sync, pause/resume, conflicts, config, history, check-ignore.

use serde_json::json;
use supersonic_testkit::SmartHttp;

use crate::*;

#[test]
fn a_conflict_is_resolved_with_merged_text_through_the_api() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let alpha = Dev::new(&sb, &remote, "alpha");
    let beta = Dev::new(&sb, &remote, "beta");
    write(&alpha.dir.join("todo.md"), "- milk\n");
    alpha.sync();
    beta.sync();
    write(&alpha.dir.join("todo.md"), "- oat milk (alpha)\n");
    write(&beta.dir.join("todo.md"), "- soy milk (beta)\n");
    alpha.sync();
    let report = beta.sync();
    assert_eq!(report.conflicts.len(), 1, "both changed todo.md: {report:?}");
    let server = Server::start(&beta.api, None, Default::default(), None);

    let list = server.get("/api/conflicts");
    assert_eq!(list.status, 200, "{list:?}");
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let c = &list[0]["conflict"];
    assert_eq!(list[0]["folder"], beta.dir.display().to_string());
    assert_eq!(c["path"], "todo.md");
    assert_eq!(c["local"]["text"], "- soy milk (beta)\n", "beta sees its own edit as local");
    assert_eq!(c["local"]["device"], "beta");
    assert_eq!(c["remote"]["text"], "- oat milk (alpha)\n");
    assert_eq!(c["remote"]["device"], "alpha", "the other side is labelled with its device");
    let id = c["id"].as_str().unwrap().to_string();

    let shown = server.get(&format!("/api/conflicts/{id}"));
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["conflict"]["id"], id.as_str());

    let bad =
        server.send("POST", &format!("/api/conflicts/{id}/resolve"), &json!({"take": "sideways"}));
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.json()["code"], "bad_request");
    let both = json!({"take": "local", "merged": "x"});
    let bad = server.send("POST", &format!("/api/conflicts/{id}/resolve"), &both);
    assert_eq!(bad.status, 400, "one decision at a time: {bad:?}");

    let merged = "- oat milk (alpha)\n- soy milk (beta)\n";
    let out =
        server.send("POST", &format!("/api/conflicts/{id}/resolve"), &json!({"merged": merged}));
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.json()["synced"], "this_command", "no engine runs: the request synced it");
    assert_eq!(std::fs::read_to_string(beta.dir.join("todo.md")).unwrap(), merged);
    let files: Vec<_> =
        std::fs::read_dir(&beta.dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 2, "todo.md and .git only; the conflict copy is gone: {files:?}");
    assert!(server.get("/api/conflicts").json().as_array().unwrap().is_empty(), "none pending");

    alpha.sync();
    assert_eq!(
        std::fs::read_to_string(alpha.dir.join("todo.md")).unwrap(),
        merged,
        "the merged text reached the other device"
    );
    assert_eq!(
        sb.git(&alpha.dir, &["rev-parse", "HEAD"]),
        sb.git(&beta.dir, &["rev-parse", "HEAD"]),
        "both devices are on the same commit"
    );
}

#[test]
fn sync_now_without_an_engine_runs_a_cycle_in_this_process() {
    let f = Fixture::start();
    write(&f.dev.dir.join("todo.md"), "- milk\n");
    let body = json!({"folder": f.dev.dir});
    let r = f.server.send("POST", "/api/folders/sync", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let report = r.json();
    assert_eq!(report["files_changed"], 1);
    assert_eq!(report["pushed"], true);
    assert_eq!(f.sb.commit_count(&f.sb.path().join("remotes/notes.git"), "main"), 1);

    let r = f.server.send("POST", "/api/folders/sync", &json!({"folder": "notes"}));
    assert_eq!(r.status, 400, "folders are absolute paths: {r:?}");
    let r = f.server.send("POST", "/api/folders/sync", &json!({"folder": "/nowhere"}));
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "invalid_request", "the engine's code reaches the UI");
}

#[test]
fn sync_now_goes_through_the_running_engine() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dev = Dev::new(&sb, &remote, "alpha");
    let bus = supersonic_core::events::EventBus::default();
    let engine = dev.api.start(bus.clone()).unwrap();
    let server = Server::start(&dev.api, Some(engine.control()), bus, None);
    write(&dev.dir.join("todo.md"), "- milk\n");
    let r = server.send("POST", "/api/folders/sync", &json!({"folder": dev.dir}));
    assert_eq!(r.status, 200, "the engine holds the folder lock, so only it can sync: {r:?}");
    assert_eq!(r.json()["remote_step"], true);
    drop(server);
    engine.stop();
}

#[test]
fn pause_and_resume_are_kept_in_the_config() {
    let f = Fixture::start();
    let body = json!({"folder": f.dev.dir});
    let r = f.server.send("POST", "/api/folders/pause", &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["paused"], true);
    assert_eq!(r.json()["engine_told"], false, "no engine runs here");
    let status = f.server.get("/api/status").json();
    assert_eq!(status[0]["state"], "paused", "{status}");
    let r = f.server.send("POST", "/api/folders/resume", &body);
    assert_eq!(r.status, 200);
    assert_eq!(f.server.get("/api/status").json()[0]["state"], "idle");
}

#[test]
fn config_is_read_and_updated_with_validation() {
    let f = Fixture::start();
    let config = f.server.get("/api/config");
    assert_eq!(config.status, 200);
    assert_eq!(config.json()["folders"][0]["path"], f.dev.dir.display().to_string());

    let bad = json!({"folder": f.dev.dir, "settings": {"sync": {"rescan_interval_sec": 0}}});
    let r = f.server.send("PATCH", "/api/config", &bad);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "config_invalid");
    assert_eq!(r.json()["key"], "sync.rescan_interval_sec", "the UI shows the error at the field");
    let unknown = json!({"settings": {"sync": {"intervall_sec": 5}}});
    let r = f.server.send("PATCH", "/api/config", &unknown);
    assert_eq!(r.status, 400, "a misspelt key is an error, not silently ignored: {r:?}");

    let good = json!({"folder": f.dev.dir, "settings": {"sync": {"max_latency_ms": 4242}}});
    let r = f.server.send("PATCH", "/api/config", &good);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["folders"][0]["sync"]["max_latency_ms"], 4242);
    let defaults = json!({"settings": {"exclude_patterns": ["*.tmp"]}});
    assert_eq!(f.server.send("PATCH", "/api/config", &defaults).status, 200);
    let config = f.server.get("/api/config").json();
    assert_eq!(config["folders"][0]["sync"]["max_latency_ms"], 4242, "kept across patches");
    assert_eq!(config["folders"][0]["exclude_patterns"][0], "*.tmp", "defaults apply to folders");
    let reset = json!({"folder": f.dev.dir, "settings": {"sync": {"max_latency_ms": null}}});
    let r = f.server.send("PATCH", "/api/config", &reset).json();
    assert_eq!(r["folders"][0]["sync"]["max_latency_ms"], 10000, "null falls back to the default");

    let gc = json!({"folder": f.dev.dir, "settings": {"sync": {"gc_interval_hours": -1}}});
    let r = f.server.send("PATCH", "/api/config", &gc);
    assert_eq!((r.status, r.json()["key"].as_str()), (400, Some("sync.gc_interval_hours")));
    let gc = json!({"folder": f.dev.dir, "settings": {"sync": {"gc_interval_hours": 0.5}}});
    let r = f.server.send("PATCH", "/api/config", &gc).json();
    assert_eq!(r["folders"][0]["sync"]["gc_interval_hours"], 0.5, "fractions of an hour work");
}

#[test]
fn history_and_check_ignore_answer_for_the_ui() {
    let f = Fixture::start();
    write(&f.dev.dir.join("todo.md"), "- milk\n");
    f.dev.sync();
    let rows = f.server.get("/api/history?limit=1").json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let all = f.server.get("/api/history").json();
    assert!(all.as_array().unwrap().iter().any(|r| r["event_type"] == "sync_success"), "{all}");

    let body = json!({"folder": f.dev.dir, "paths": ["notes.md.swp", "todo.md"]});
    let r = f.server.send("POST", "/api/check-ignore", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let checks = r.json();
    assert!(checks[0]["rule"].is_object(), "editor swap files are ignored: {checks}");
    assert!(checks[1]["rule"].is_null(), "todo.md is synced: {checks}");
}

#[test]
fn a_folder_is_added_through_the_api() {
    let f = Fixture::start();
    let remote = f.sb.bare_remote("photos");
    let dir = f.sb.path().join("photos");
    let r = f.server.send("POST", "/api/folders", &json!({"path": dir, "remote": remote}));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["branch"], "main");
    let status = f.server.get("/api/status").json();
    assert_eq!(status.as_array().unwrap().len(), 2, "{status}");
    let again = f.server.send("POST", "/api/folders", &json!({"path": dir, "remote": remote}));
    assert_eq!(again.status, 400, "{again:?}");
    assert_eq!(again.json()["code"], "invalid_request");
}

#[test]
fn unknown_api_paths_are_json_404s() {
    let f = Fixture::start();
    let r = f.server.get("/api/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "not_found");
}

#[test]
fn the_webhook_test_posts_a_sample_to_a_real_receiver() {
    let f = Fixture::start();
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", receiver.local_addr().unwrap());
    let received = std::thread::spawn(move || {
        let (stream, _) = receiver.accept().unwrap();
        stream.set_read_timeout(Some(ANSWER)).unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_string)
            })
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    let body = json!({"event": "sync_success", "folder": f.dev.dir, "url": url});
    let r = f.server.send("POST", "/api/webhooks/test", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let reports = r.json();
    assert_eq!(reports[0]["ok"], true, "the receiver answered 200: {reports}");
    let (head, body) = received.join().unwrap();
    assert!(head.starts_with("POST /hook"), "{head}");
    assert!(body.contains("sync_success"), "the sample names its event: {body}");
}

/// Two devices change `pics/cat.png` before they sync; beta resolves it with `beta_policy` (its
/// device-local `conflicts:` settings; `ask` keeps both versions). Returns both devices and
/// beta's (mine) and alpha's (theirs) images.
fn image_conflict_with(
    sb: &Sandbox,
    beta_policy: serde_json::Value,
) -> (Dev, Dev, Vec<u8>, Vec<u8>) {
    let remote = sb.bare_remote("notes");
    let alpha = Dev::new(sb, &remote, "alpha");
    let beta = Dev::new(sb, &remote, "beta");
    beta.api.update_settings(Some(&beta.dir), &json!({ "conflicts": beta_policy })).unwrap();
    let cat = |dev: &Dev| dev.dir.join("pics/cat.png");
    write(&cat(&alpha), png(3, 2, [200, 30, 30]));
    alpha.sync();
    beta.sync();
    let theirs = png(4, 4, [30, 30, 200]);
    let mine = png(5, 3, [30, 160, 30]);
    write(&cat(&alpha), &theirs);
    write(&cat(&beta), &mine);
    alpha.sync();
    let report = beta.sync();
    assert_eq!(report.conflicts.len(), 1, "both changed the image: {report:?}");
    (alpha, beta, mine, theirs)
}

fn image_conflict(sb: &Sandbox) -> (Dev, Dev, Vec<u8>, Vec<u8>) {
    image_conflict_with(sb, json!({"default": "ask"}))
}

#[test]
fn both_versions_of_a_conflicting_image_are_served_as_png_bytes() {
    let sb = Sandbox::new();
    let (_alpha, beta, mine, theirs) = image_conflict(&sb);
    let server = Server::start(&beta.api, None, Default::default(), None);
    let list = server.get("/api/conflicts").json();
    let c = &list[0]["conflict"];
    assert_eq!(c["path"], "pics/cat.png", "{list}");
    assert_eq!(c["binary"], true, "an image is binary: {c}");
    assert!(c["local"]["text"].is_null() && c["remote"]["text"].is_null(), "no text for images");
    let id = c["id"].as_str().unwrap();

    for (side, want, device) in [("local", &mine, "beta"), ("remote", &theirs, "alpha")] {
        assert_eq!(c[side]["device"], device, "the {side} side is {device}'s version");
        assert_eq!(c[side]["size"], want.len(), "the listed size is the image's");
        let r = server.get(&format!("/api/conflicts/{id}/blob/{side}"));
        assert_eq!(r.status, 200, "{side}: {} {}", r.status, r.body);
        assert!(r.bytes == *want, "the {side} side is {device}'s image, byte for byte");
        assert_eq!(r.header("content-type"), Some("image/png"), "typed from its signature");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "csp: {csp}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "like every API answer");
    }

    let r = server.get(&format!("/api/conflicts/{id}/blob/base"));
    assert_eq!(r.status, 400, "a side is local or remote: {r:?}");
    assert_eq!(r.json()["code"], "bad_request");
    let r = server.get("/api/conflicts/ffffffffffff/blob/local");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "invalid_request", "an unknown id is the engine's answer");
    let r = server.request("GET", &format!("/api/conflicts/{id}/blob/local"), &[], None);
    assert_eq!(r.status, 401, "the bytes need the token like every API call: {r:?}");
    assert!(r.bytes.len() < 400 && !r.bytes.starts_with(b"\x89PNG"), "and reveal nothing");
}

#[test]
fn both_versions_of_an_automatically_resolved_image_are_served_from_history() {
    let sb = Sandbox::new();
    let (_alpha, beta, mine, theirs) = image_conflict_with(&sb, json!({"default": "remote"}));
    let server = Server::start(&beta.api, None, Default::default(), None);
    let list = server.get("/api/conflicts?auto=true").json();
    let c = &list[0]["conflict"];
    assert_eq!(c["status"], "auto", "the rule decided: {list}");
    assert!(c["local"]["file"].is_null(), "the losing version is only in history: {c}");
    let id = c["id"].as_str().unwrap();
    for (side, want) in [("local", &mine), ("remote", &theirs)] {
        let r = server.get(&format!("/api/conflicts/{id}/blob/{side}"));
        assert_eq!(r.status, 200, "{side}: {} {}", r.status, r.body);
        assert!(r.bytes == *want, "the {side} version, read from the repository");
        assert_eq!(r.header("content-type"), Some("image/png"));
    }
}

#[test]
fn a_conflict_version_is_not_served_once_its_directory_is_a_link_out_of_the_folder() {
    let sb = Sandbox::new();
    let (_alpha, beta, _mine, _theirs) = image_conflict(&sb);
    let server = Server::start(&beta.api, None, Default::default(), None);
    let id = server.get("/api/conflicts").json()[0]["conflict"]["id"].as_str().unwrap().to_string();
    let outside = sb.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::rename(beta.dir.join("pics"), outside.join("pics")).unwrap();
    std::os::unix::fs::symlink(outside.join("pics"), beta.dir.join("pics")).unwrap();
    for side in ["local", "remote"] {
        let r = server.get(&format!("/api/conflicts/{id}/blob/{side}"));
        assert_eq!(r.status, 400, "{side}: the images now lie outside the folder: {r:?}");
        assert_eq!(r.json()["code"], "invalid_request");
        assert!(!r.bytes.starts_with(b"\x89PNG"), "nothing from outside is served");
    }
}

#[test]
fn a_folders_remote_branch_and_mode_change_and_its_origin_follows() {
    let f = Fixture::start();
    write(&f.dev.dir.join("todo.md"), "- milk\n");
    f.dev.sync();
    let elsewhere = f.sb.bare_remote("elsewhere");
    let body = json!({"folder": f.dev.dir, "settings": {
        "remote": elsewhere, "branch": "notes", "mode": "push-only",
        "sync": {"max_latency_ms": 4242},
    }});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let folder = &r.json()["folders"][0];
    assert_eq!(folder["remote"], elsewhere.display().to_string(), "{folder}");
    assert_eq!(folder["branch"], "notes");
    assert_eq!(folder["mode"], "push-only");
    assert_eq!(folder["sync"]["max_latency_ms"], 4242, "settings change in the same patch");
    assert_eq!(
        f.sb.git(&f.dev.dir, &["remote", "get-url", "origin"]),
        elsewhere.display().to_string(),
        "the repository's origin follows, not only the config"
    );
    assert_eq!(f.sb.git(&f.dev.dir, &["symbolic-ref", "HEAD"]), "refs/heads/notes");
    assert_eq!(f.sb.git(&f.dev.dir, &["status", "--porcelain"]), "", "no file was touched");

    write(&f.dev.dir.join("todo.md"), "- milk\n- tea\n");
    f.dev.sync();
    assert_eq!(f.sb.commit_count(&elsewhere, "notes"), 2, "the history went to the new remote");
    assert_eq!(
        f.sb.commit_count(&f.sb.path().join("remotes/notes.git"), "main"),
        1,
        "the old remote got nothing more"
    );
    let status = f.server.get("/api/status").json();
    assert_eq!(status[0]["mode"], "push-only", "{status}");
    assert_eq!(status[0]["branch"], "notes");
}

#[test]
fn a_bad_remote_branch_or_mode_is_refused_at_its_field_and_nothing_changes() {
    let f = Fixture::start();
    write(&f.dev.dir.join("a.md"), "a\n");
    f.dev.sync();
    write(&f.dev.dir.join("b.md"), "b\n");
    f.dev.sync();
    f.sb.git(&f.dev.dir, &["branch", "older", "HEAD~1"]);
    let before = f.server.get("/api/config").json();
    let origin = || f.sb.git(&f.dev.dir, &["remote", "get-url", "origin"]);
    let origin_before = origin();

    for (settings, key) in [
        (json!({"mode": "sideways"}), "mode"),
        (json!({"mode": null}), "mode"),
        (json!({"branch": "two..dots"}), "branch"),
        (json!({"branch": "-rf"}), "branch"),
        (json!({"branch": "older"}), "branch"),
        (json!({"remote": "  "}), "remote"),
        (json!({"remote": 42}), "remote"),
    ] {
        let body = json!({"folder": f.dev.dir, "settings": settings});
        let r = f.server.send("PATCH", "/api/config", &body);
        assert_eq!(r.status, 400, "{settings}: {r:?}");
        assert_eq!(r.json()["code"], "config_invalid", "{settings}: {}", r.body);
        assert_eq!(r.json()["key"], key, "{settings}: the UI shows it at the field");
    }
    let r = f.server.send("PATCH", "/api/config", &json!({"settings": {"branch": "x"}}));
    assert_eq!(r.status, 400, "a branch belongs to one folder, not to the defaults: {r:?}");
    assert_eq!(r.json()["key"], "branch");

    let gone = f.sb.path().join("nowhere.git");
    let body = json!({"folder": f.dev.dir, "settings": {"remote": gone, "mode": "pull-only"}});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert!(r.json()["code"].as_str().unwrap().starts_with("remote_"), "unreachable: {r:?}");

    assert_eq!(f.server.get("/api/config").json(), before, "the config is as it was");
    assert_eq!(origin(), origin_before, "origin is as it was");
    assert_eq!(f.sb.git(&f.dev.dir, &["symbolic-ref", "HEAD"]), "refs/heads/main");
}

#[test]
fn a_remote_with_credentials_is_used_but_never_shown() {
    let f = Fixture::start();
    f.sb.bare_remote("private");
    let http = SmartHttp::start(&f.sb, &f.sb.remotes_dir(), Some(("bob", "s3cret-token")));
    let url = http.url_with_credentials("private.git", "bob", "s3cret-token");
    let shown = format!("http://bob:***@127.0.0.1:{}/private.git", http.port());
    let body = json!({"folder": f.dev.dir, "settings": {"remote": url}});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["folders"][0]["remote"], shown.as_str());
    assert!(!r.body.contains("s3cret"), "the answer never holds the password: {}", r.body);
    assert!(!f.server.get("/api/status").body.contains("s3cret"), "nor does the status");
    assert_eq!(f.sb.git(&f.dev.dir, &["remote", "get-url", "origin"]), url, "git needs it");

    // A form sends back the URL it was shown: that keeps the saved one.
    let body = json!({"folder": f.dev.dir, "settings": {"remote": shown, "mode": "pull-only"}});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(f.sb.git(&f.dev.dir, &["remote", "get-url", "origin"]), url, "still the real one");
    let edited = format!("http://bob:***@127.0.0.1:{}/other.git", http.port());
    let body = json!({"folder": f.dev.dir, "settings": {"remote": edited}});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert_eq!(r.status, 400, "`***` is never taken for a password: {r:?}");
    assert_eq!(r.json()["key"], "remote");

    let wrong = http.url_with_credentials("private.git", "bob", "not-the-pass");
    let body = json!({"folder": f.dev.dir, "settings": {"remote": wrong}});
    let r = f.server.send("PATCH", "/api/config", &body);
    assert_ne!(r.status, 200, "a remote that refuses the credentials is not saved: {r:?}");
    assert!(!r.body.contains("not-the-pass"), "the error does not echo the password: {}", r.body);
    assert_eq!(f.sb.git(&f.dev.dir, &["remote", "get-url", "origin"]), url);
}

#[test]
fn devices_and_doctor_answer_per_folder() {
    let f = Fixture::start();
    write(&f.dev.dir.join("n.md"), "note\n");
    f.dev.sync();
    let devices = f.server.get("/api/devices");
    assert_eq!(devices.status, 200, "{devices:?}");
    let devices = devices.json();
    assert_eq!(devices[0]["folder"], f.dev.dir.display().to_string());
    let me = &devices[0]["devices"][0];
    assert_eq!(me["name"], "alpha", "{devices}");
    assert_eq!(me["this_device"], true, "{devices}");
    assert!(me["commits"].as_u64().unwrap() >= 1, "{devices}");

    let doctor = f.server.get(&format!("/api/doctor?folder={}", f.dev.dir.display()));
    assert_eq!(doctor.status, 200, "{doctor:?}");
    let doctor = doctor.json();
    let findings = doctor[0]["findings"].as_array().unwrap();
    let remote = findings.iter().find(|x| x["check"] == "remote").expect("a remote check");
    assert_eq!(remote["level"], "ok", "{doctor}");
    assert_eq!(f.server.get("/api/doctor?folder=/not/synced").status, 400);
}

/// A private key as `ssh-keygen` writes it (the body is made up): the secret guard holds it.
const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
     b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
     -----END OPENSSH PRIVATE KEY-----\n";

/// The files on the remote's `main`.
fn remote_files(sb: &Sandbox) -> String {
    sb.git(&sb.path().join("remotes/notes.git"), &["ls-tree", "-r", "--name-only", "main"])
}

#[test]
fn a_held_key_is_listed_then_released_and_pushed_through_the_api() {
    let f = Fixture::start();
    write(&f.dev.dir.join("notes.md"), "notes\n");
    write(&f.dev.dir.join("deploy_key"), PRIVATE_KEY);
    f.dev.sync();
    assert!(!remote_files(&f.sb).contains("deploy_key"), "the key is held back, not pushed");

    let list = f.server.get("/api/quarantine");
    assert_eq!(list.status, 200, "{list:?}");
    let list = list.json();
    assert_eq!(list[0]["folder"], f.dev.dir.display().to_string(), "{list}");
    assert_eq!(list[0]["held"][0]["path"], "deploy_key", "{list}");
    let reason = list[0]["held"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("private key"), "the reason says what it looks like: {reason}");
    let one = f.server.get(&format!("/api/quarantine?folder={}", f.dev.dir.display())).json();
    assert_eq!(one, list, "one folder's quarantine is the same list");
    let status = f.server.get("/api/status").json();
    assert_eq!(status[0]["held_back"][0]["path"], "deploy_key", "status shows it too: {status}");

    for path in ["/etc/passwd", "../deploy_key", ".git/config", ""] {
        let r = f.server.send(
            "POST",
            "/api/quarantine/release",
            &json!({"folder": f.dev.dir, "path": path}),
        );
        assert_eq!(r.status, 400, "{path:?} is not a plain path inside the folder: {r:?}");
        assert_eq!(r.json()["code"], "bad_request");
    }
    let r = f.server.send(
        "POST",
        "/api/quarantine/release",
        &json!({"folder": "notes", "path": "deploy_key"}),
    );
    assert_eq!(r.status, 400, "folders are absolute paths: {r:?}");
    assert!(
        !f.dev.dir.join(".git/supersonic-released").exists(),
        "nothing was released by a refused request"
    );

    let body = json!({"folder": f.dev.dir, "path": "deploy_key"});
    let r = f.server.send("POST", "/api/quarantine/release", &body);
    assert_eq!(r.status, 200, "{r:?}");
    let out = r.json();
    assert_eq!(out["folder"], f.dev.dir.display().to_string());
    assert_eq!(out["path"], "deploy_key");
    assert_eq!(out["sync_error"], serde_json::Value::Null, "{out}");
    assert_eq!(out["cycle"]["files_changed"], 1, "the release was committed at once: {out}");
    assert_eq!(out["cycle"]["pushed"], true, "{out}");
    assert!(remote_files(&f.sb).contains("deploy_key"), "the released key reached the remote");
    let list = f.server.get("/api/quarantine").json();
    assert_eq!(list[0]["held"], json!([]), "nothing is held any more: {list}");
}

#[test]
fn an_ignored_held_file_gets_a_syncignore_rule_and_stays_local() {
    let f = Fixture::start();
    write(&f.dev.dir.join("notes.md"), "notes\n");
    write(&f.dev.dir.join("keys/backup.pem"), PRIVATE_KEY);
    f.dev.sync();
    let list = f.server.get("/api/quarantine").json();
    assert_eq!(list[0]["held"][0]["path"], "keys/backup.pem", "{list}");

    let body = json!({"folder": f.dev.dir, "path": "keys/backup.pem"});
    let r = f.server.send("POST", "/api/quarantine/ignore", &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["sync_error"], serde_json::Value::Null, "{}", r.body);
    let rules = std::fs::read_to_string(f.dev.dir.join(".syncignore")).unwrap();
    assert!(
        rules.lines().any(|l| l == "/keys/backup.pem"),
        "an anchored rule names the file: {rules:?}"
    );
    let pushed = remote_files(&f.sb);
    assert!(pushed.contains(".syncignore"), "the rule is synced to every device: {pushed}");
    assert!(!pushed.contains("backup.pem"), "the key itself never leaves: {pushed}");
    assert!(f.dev.dir.join("keys/backup.pem").exists(), "the file stays on this device");
    let list = f.server.get("/api/quarantine").json();
    assert_eq!(list[0]["held"], json!([]), "an ignored file is not held: {list}");
}

#[test]
fn a_release_goes_through_the_running_engine() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dev = Dev::new(&sb, &remote, "alpha");
    write(&dev.dir.join("id_ed25519"), "not even a key: the name alone is enough\n");
    let bus = supersonic_core::events::EventBus::default();
    let engine = dev.api.start(bus.clone()).unwrap();
    let server = Server::start(&dev.api, Some(engine.control()), bus, None);
    supersonic_testkit::wait_until("the engine to hold the key back", ANSWER, || {
        let status = server.get("/api/status").json();
        status[0]["held_back"][0]["path"] == "id_ed25519"
    });
    let body = json!({"folder": dev.dir, "path": "id_ed25519"});
    let r = server.send("POST", "/api/quarantine/release", &body);
    assert_eq!(r.status, 200, "the engine holds the folder lock, so only it can sync: {r:?}");
    assert_eq!(r.json()["cycle"]["pushed"], true, "{}", r.body);
    assert!(remote_files(&sb).contains("id_ed25519"), "pushed before the answer");
    let status = server.get("/api/status").json();
    assert_eq!(status[0]["held_back"], json!([]), "the engine let it go: {status}");
    drop(server);
    engine.stop();
}

/// Two devices; alpha's edit of todo.md reached beta with beta's last sync.
fn pulled_edit(sb: &Sandbox) -> (Dev, Dev) {
    let remote = sb.bare_remote("notes");
    let alpha = Dev::new(sb, &remote, "alpha");
    let beta = Dev::new(sb, &remote, "beta");
    write(&alpha.dir.join("todo.md"), "- milk\n");
    alpha.sync();
    beta.sync();
    write(&alpha.dir.join("todo.md"), "- milk\n- a line beta did not want\n");
    alpha.sync();
    beta.sync();
    assert_eq!(
        std::fs::read_to_string(beta.dir.join("todo.md")).unwrap(),
        "- milk\n- a line beta did not want\n"
    );
    (alpha, beta)
}

#[test]
fn the_last_sync_is_undone_through_the_api_and_the_undo_reaches_the_remote() {
    let sb = Sandbox::new();
    let (alpha, beta) = pulled_edit(&sb);
    let server = Server::start(&beta.api, None, Default::default(), None);
    let r = server.send("POST", "/api/folders/undo", &json!({"folder": "beta-notes"}));
    assert_eq!(r.status, 400, "folders are absolute paths: {r:?}");

    let r = server.send("POST", "/api/folders/undo", &json!({"folder": beta.dir}));
    assert_eq!(r.status, 200, "{r:?}");
    let out = r.json();
    assert_eq!(out["folder"], beta.dir.display().to_string());
    assert_eq!(out["undone"]["files"], 1, "{out}");
    assert_eq!(out["synced"], "this_command", "no engine runs: the request synced it: {out}");
    assert_eq!(std::fs::read_to_string(beta.dir.join("todo.md")).unwrap(), "- milk\n");
    let commit = out["undone"]["commit"].as_str().unwrap();
    assert_eq!(
        sb.git(&sb.path().join("remotes/notes.git"), &["rev-parse", "main"]),
        commit,
        "the undo is a new commit on the remote"
    );
    alpha.sync();
    assert_eq!(
        std::fs::read_to_string(alpha.dir.join("todo.md")).unwrap(),
        "- milk\n",
        "the other device receives the undo"
    );

    let again = server.send("POST", "/api/folders/undo", &json!({"folder": beta.dir}));
    assert_eq!(again.status, 400, "{again:?}");
    assert_eq!(again.json()["code"], "invalid_request", "the engine's code reaches the UI");
    let message = again.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("nothing to undo"), "the refusal says why: {message}");
}

#[test]
fn an_undo_is_pushed_by_the_running_engine_before_the_answer() {
    let sb = Sandbox::new();
    let (_alpha, beta) = pulled_edit(&sb);
    let bus = supersonic_core::events::EventBus::default();
    let engine = beta.api.start(bus.clone()).unwrap();
    let server = Server::start(&beta.api, Some(engine.control()), bus, None);
    let r = server.send("POST", "/api/folders/undo", &json!({"folder": beta.dir}));
    assert_eq!(r.status, 200, "{r:?}");
    let out = r.json();
    assert_eq!(out["synced"], "running_engine", "the engine holds the folder: {out}");
    assert_eq!(
        sb.git(&sb.path().join("remotes/notes.git"), &["rev-parse", "main"]),
        out["undone"]["commit"].as_str().unwrap(),
        "the engine pushed the undo before the answer"
    );
    drop(server);
    engine.stop();
}

/// Reads `sse` until the `operation_finished` event of operation `id`; returns it with the
/// `progress` events of `folder` seen before it.
fn until_finished(
    sse: &mut SseStream,
    id: &str,
    folder: &str,
) -> (serde_json::Value, Vec<serde_json::Value>) {
    let mut progress = Vec::new();
    loop {
        let (kind, data) = sse.next_event().expect("the stream stays open until the end");
        let json: serde_json::Value = serde_json::from_str(&data).unwrap();
        if kind == "progress" && json["folder"] == folder {
            progress.push(json);
        } else if kind == "operation_finished" && json["id"] == id {
            return (json, progress);
        }
    }
}

#[test]
fn seed_and_hydrate_run_in_the_background_over_smart_http_with_progress() {
    let sb = Sandbox::new();
    let notes = sb.bare_remote("notes");
    sb.bare_remote("shared");
    let http = SmartHttp::start(&sb, &sb.remotes_dir(), None);
    let url = http.url("shared.git");

    // Alpha seeds the empty remote with an existing folder, through the API.
    let alpha = Dev::new(&sb, &notes, "alpha");
    let bus = supersonic_core::events::EventBus::default();
    let server = Server::start(&alpha.api, None, bus, None);
    let mut sse = server.events();
    let src = sb.path().join("photos");
    for i in 0..300 {
        write(&src.join(format!("d{}/p{i}.txt", i % 5)), format!("picture {i}\n"));
    }
    let r = server.send("POST", "/api/seed", &json!({"path": src, "remote": url}));
    assert_eq!(r.status, 202, "a seed is accepted and runs in the background: {r:?}");
    let op = r.json();
    assert_eq!(op["operation"], "seed");
    assert_eq!(op["folder"], src.display().to_string());
    let (done, progress) =
        until_finished(&mut sse, op["id"].as_str().unwrap(), &src.display().to_string());
    assert_eq!(done["ok"], true, "{done}");
    assert!(
        progress.iter().any(|p| p["operation"] == "seed" && p["done"].as_u64() > Some(0)),
        "staging 300 files and pushing them report progress: {progress:?}"
    );
    assert_eq!(progress.last().unwrap()["finished"], true, "progress ends: {progress:?}");
    assert_eq!(sb.commit_count(&sb.remotes_dir().join("shared.git"), "main"), 1);
    let status = server.get("/api/status").json();
    assert!(
        status.as_array().unwrap().iter().any(|f| f["path"] == src.display().to_string()),
        "the seeded folder is in the config: {status}"
    );

    // A second seed into the now filled remote fails in the background, and says why.
    let other = sb.path().join("other");
    write(&other.join("x.txt"), "x\n");
    let r = server.send("POST", "/api/seed", &json!({"path": other, "remote": url}));
    assert_eq!(r.status, 202, "{r:?}");
    let (failed, _) =
        until_finished(&mut sse, r.json()["id"].as_str().unwrap(), &other.display().to_string());
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("already has branch main"), "{failed}");
    let status = server.get("/api/status").body;
    assert!(!status.contains(&other.display().to_string()), "a failed seed registers nothing");

    // Beta, with its engine running, restores the folder from the remote through the API.
    let beta = Dev::new(&sb, &notes, "beta");
    let beta_bus = supersonic_core::events::EventBus::default();
    let engine = beta.api.start(beta_bus.clone()).unwrap();
    let beta_server = Server::start(&beta.api, Some(engine.control()), beta_bus, None);
    let mut beta_sse = beta_server.events();
    let restored = sb.path().join("beta-photos");
    let r = beta_server.send("POST", "/api/hydrate", &json!({"url": url, "path": restored}));
    assert_eq!(r.status, 202, "{r:?}");
    let (done, progress) = until_finished(
        &mut beta_sse,
        r.json()["id"].as_str().unwrap(),
        &restored.display().to_string(),
    );
    assert_eq!(done["ok"], true, "{done}");
    assert!(progress.iter().all(|p| p["operation"] == "hydrate"), "{progress:?}");
    assert_eq!(
        std::fs::read_to_string(restored.join("d2/p7.txt")).unwrap(),
        "picture 7\n",
        "the clone is in place"
    );
    // The running engine picked the new folder up: an edit there reaches the remote.
    write(&restored.join("from-beta.txt"), "hello\n");
    let end = std::time::Instant::now() + ANSWER;
    while sb.commit_count(&sb.remotes_dir().join("shared.git"), "main") < 2 {
        assert!(std::time::Instant::now() < end, "beta's engine never synced the new folder");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(beta_server);
    drop(engine);
    sb.fsck(&restored);
}

#[test]
fn hydrate_and_seed_requests_name_the_field_at_fault() {
    let f = Fixture::start();
    let cases = [
        ("/api/hydrate", json!({"url": "", "path": "/tmp/x"}), "url"),
        ("/api/hydrate", json!({"url": "/r.git", "path": "relative/dir"}), "path"),
        ("/api/hydrate", json!({"url": "--upload-pack=evil", "path": "/tmp/x"}), "url"),
        ("/api/hydrate", json!({"url": "/r.git", "path": f.dev.dir}), "path"),
        ("/api/hydrate", json!({"url": "/r.git", "path": "/tmp/x", "branch": "a..b"}), "branch"),
        ("/api/seed", json!({"path": "/tmp/x", "remote": " "}), "remote"),
        ("/api/seed", json!({"path": f.sb.path().join("missing"), "remote": "/r.git"}), "path"),
        ("/api/seed", json!({"path": f.dev.dir, "remote": "/r.git"}), "path"),
    ];
    for (route, body, key) in cases {
        let r = f.server.send("POST", route, &body);
        assert_eq!(r.status, 400, "{route} {body}: {r:?}");
        assert_eq!(r.json()["key"], key, "{route} {body}: {}", r.body);
    }
    // Not empty: hydrate restores into a new or empty folder only.
    let full = f.sb.path().join("full");
    write(&full.join("a.txt"), "a\n");
    let r = f.server.send("POST", "/api/hydrate", &json!({"url": "/r.git", "path": full}));
    assert_eq!((r.status, r.json()["key"].as_str()), (400, Some("path")), "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("not empty"), "{}", r.body);
    // Token-protected like every mutating endpoint.
    let r = f.server.request("POST", "/api/seed", &[], Some("{}"));
    assert_eq!(r.status, 401, "{r:?}");
}
