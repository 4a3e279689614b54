//! Webhooks through the binary: `supersonic webhook test`, and a running daemon posting its syncs
//! to a real receiver on 127.0.0.1.

use std::time::Duration;

use supersonic_testkit::{Receiver, Reply};

use crate::common::*;

/// Generous bound for a loopback delivery (milliseconds when it works).
const ARRIVE: Duration = Duration::from_secs(30);

#[test]
fn webhook_test_sends_a_sample_and_prints_the_status_and_attempts() {
    let sb = Sandbox::new();
    let dev = Device::new(&sb, &bin(), "alpha");
    let receiver = Receiver::start(vec![]);
    let url = receiver.url("/hooks/s3cret-key");
    let out = dev.cli(&["webhook", "test", "sync_success", "--url", &url]);
    assert!(
        out.contains("delivered (HTTP 200) after 1 attempt(s)"),
        "the result is printed: {out}"
    );
    assert!(!out.contains("s3cret-key"), "the URL is a secret and is printed redacted: {out}");
    let request = &receiver.wait_for(1, ARRIVE)[0];
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["event"], "sync_success");
    assert_eq!(body["device"], "alpha", "the device's name is in the envelope");
    assert_eq!(body["data"]["test"], true, "a test delivery says so");

    let history: serde_json::Value =
        serde_json::from_str(&dev.cli(&["history", "--json"])).unwrap();
    let rows = history.as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["event_type"] == "webhook" && r["data"]["status"] == 200),
        "the test delivery is recorded in history: {history}"
    );
}

#[test]
fn webhook_test_exits_non_zero_when_the_endpoint_refuses() {
    let sb = Sandbox::new();
    let dev = Device::new(&sb, &bin(), "alpha");
    let receiver = Receiver::always(Reply::status(404).body("no such hook"));
    let out = dev.run(&["webhook", "test", "sync_failure", "--url", &receiver.url("/gone")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a refused delivery fails the command: {stdout}");
    assert!(stdout.contains("failed (HTTP 404) after 1 attempt(s)"), "404 is final: {stdout}");

    let out = dev.run(&["webhook", "test", "sync_success", "--url", "http://example.com/k3y"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--url") && stderr.contains("https"), "why and which: {stderr}");
    assert!(!stderr.contains("k3y"), "the URL's key stays hidden: {stderr}");
}

#[test]
fn a_running_daemon_posts_its_syncs_to_the_folder_webhook() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    let receiver = Receiver::start(vec![]);
    write(
        &dir.join(".supersonic-sync.conf"),
        format!(
            "webhooks:\n  enabled: true\n  urls: [\"{}\"]\n  events: [sync_success]\n",
            receiver.url("/hook")
        ),
    );
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    dev.start();
    write(&dir.join("todo.md"), "- ship webhooks\n");
    let requests = receiver.wait_for(1, CONVERGE);
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["event"], "sync_success", "only the listed event is sent: {body}");
    assert_eq!(body["folder"], dir.display().to_string());
    assert!(dev.stop(), "the daemon stops cleanly with webhooks running: {}", dev.log());
}
