//! Credentials never leak: a remote URL carrying a token (`http://user:TOKEN@host/repo.git`,
//! served by a real smart HTTP server with Basic auth) is driven through success, a remote
//! that goes away, and an authentication failure; then every channel the product writes to is
//! searched for the token: CLI output (`config`, `status`, `history`, `stats`, `throttle`,
//! errors), the daemon's log, the SQLite history file and every other file in the data dir,
//! the HTTP API's answers, its SSE stream, and the webhook deliveries.
//!
//! Only the two places that must hold the URL to work are exempt: the app config
//! (`config.yaml`, where the user put it) and the folder's `.git/config` (where git reads it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use supersonic_testkit::{free_port, Receiver};

use crate::common::*;

/// The password in the remote URL.
const TOKEN: &str = "s3cr3tTOKEN";

/// Every form the secret could leak in: as given, and as the Basic credentials git sends.
fn secret_forms() -> Vec<String> {
    let basic = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(format!("user:{TOKEN}").as_bytes())?;
            c.wait_with_output()
        })
        .expect("run base64");
    vec![TOKEN.to_string(), String::from_utf8(basic.stdout).unwrap().trim().to_string()]
}

/// Everything collected from one channel.
struct Channels(Vec<(String, Vec<u8>)>);

impl Channels {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((name.into(), bytes.into()));
    }

    fn run(&mut self, dev: &Device, args: &[&str]) -> std::process::Output {
        let out = dev.run(args);
        self.add(format!("supersonic {args:?} stdout"), out.stdout.clone());
        self.add(format!("supersonic {args:?} stderr"), out.stderr.clone());
        out
    }

    /// Adds every file below `dir` but those named in `exempt`.
    fn files(&mut self, dir: &Path, exempt: &[&str]) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if exempt.contains(&name.as_str()) {
                continue;
            }
            if path.is_dir() {
                self.files(&path, exempt);
            } else if let Ok(bytes) = std::fs::read(&path) {
                self.add(path.display().to_string(), bytes);
            }
        }
    }

    fn all_text(&self) -> String {
        self.0.iter().map(|(_, b)| String::from_utf8_lossy(b)).collect::<Vec<_>>().join("\n")
    }
}

/// Decodes an HTTP/1.1 chunked body (as far as it arrived), so a secret split across two
/// chunks would still be found.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            out.extend_from_slice(raw);
            return out;
        };
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size else {
            out.extend_from_slice(raw);
            return out;
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            return out;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
}

/// Splits an HTTP answer into head and decoded body.
fn http_body(raw: &[u8]) -> (String, Vec<u8>) {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default();
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (head, if chunked { dechunk(body) } else { body.to_vec() })
}

/// `GET path` on the daemon's API with the token; returns the whole answer.
fn api_get(port: u16, token: &str, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    s.set_read_timeout(Some(CONVERGE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (head, body) = http_body(&raw);
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body
}

/// The SSE stream of a daemon, read into a buffer on a thread until the daemon stops.
struct SseTap(Arc<Mutex<Vec<u8>>>);

impl SseTap {
    /// Connects once the API answers, and waits for the stream's `ready` event.
    fn open(port: u16, token: &str) -> SseTap {
        let mut stream = None;
        wait_until("the daemon's HTTP API to accept connections", CONVERGE, || {
            stream = TcpStream::connect(("127.0.0.1", port)).ok();
            stream.is_some()
        });
        let mut s = stream.unwrap();
        write!(
            s,
            "GET /api/events?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Accept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let tap = SseTap(buf);
        wait_until("the SSE stream's ready event", CONVERGE, || {
            tap.text().contains("event: ready")
        });
        tap
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&http_body(&self.0.lock().unwrap()).1).into_owned()
    }
}

fn status(dev: &Device) -> serde_json::Value {
    serde_json::from_str(&dev.cli(&["status", "--json"])).unwrap()
}

/// Waits until the folder's status satisfies `done`; on timeout, fails with the last status
/// and the daemon's log.
fn wait_status(dev: &Device, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let s = status(dev);
        if done(&s[0]) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last status: {s}\n{}",
            dev.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_remote_token_appears_in_no_output_log_history_event_or_webhook() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let mut http = SmartHttp::start(&sb, &sb.remotes_dir(), Some(("user", TOKEN)));
    let url = http.url_with_credentials("notes.git", "user", TOKEN);
    assert!(url.contains(TOKEN), "the URL really carries the token: {url}");
    let receiver = Receiver::start(vec![]);
    let mut dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    write(
        &dir.join(".supersonic-sync.conf"),
        format!(
            "webhooks:\n  enabled: true\n  retries: 0\n  urls: [\"{}\"]\n  events: [sync_start, \
             sync_success, sync_failure, needs_attention, rate_limit_hit, conflict_detected, \
             warning]\n",
            receiver.url("/hook")
        ),
    );
    let mut ch = Channels(Vec::new());
    let out = ch.run(&dev, &["init", dir.to_str().unwrap(), "--remote", &url]);
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    let token = dev.cli(&["serve", "--print-token"]).trim().to_string();
    let port = free_port();
    dev.start_with(&["serve", "--port", &port.to_string()]);
    let sse = SseTap::open(port, &token);

    // 1. Success: a file travels to the remote.
    write(&dir.join("a.md"), "pushed with the token\n");
    wait_until("the first commit on the remote", CONVERGE, || {
        sb.commit_count(&remote, "main") >= 1
    });
    wait_until("a sync_success webhook", CONVERGE, || {
        receiver.requests().iter().any(|r| r.text().contains("sync_success"))
    });
    for args in [
        &["config"][..],
        &["config", "--json"],
        &["status"],
        &["status", "--json"],
        &["stats", "--json"],
        &["throttle", "status", "--json"],
        &["conflicts", "list", "--json"],
    ] {
        ch.run(&dev, args);
    }

    // 2. The remote goes away: transient failures, retried.
    http.stop();
    write(&dir.join("b.md"), "written while the remote is down\n");
    wait_status(&dev, "the daemon to report the unreachable remote", |s| {
        s["last_error"].as_str().is_some_and(|e| e.contains("127.0.0.1"))
    });
    wait_until("a sync_failure event on the SSE stream", CONVERGE, || {
        sse.text().contains("sync_failure")
    });
    wait_until("a sync_failure webhook", CONVERGE, || {
        receiver.requests().iter().any(|r| r.text().contains("sync_failure"))
    });
    ch.run(&dev, &["sync"]);
    ch.run(&dev, &["retry"]);
    ch.run(&dev, &["status"]);
    ch.run(&dev, &["status", "--json"]);
    for path in
        ["/api/status", "/api/config", "/api/history?limit=5000", "/api/sync/metrics", "/metrics"]
    {
        ch.add(format!("GET {path}"), api_get(port, &token, path));
    }
    assert!(dev.stop(), "the daemon stops cleanly: {}", dev.log());
    ch.add("SSE stream (success, outage)", sse.text());

    // 3. The server is back but refuses these credentials: authentication failure.
    let wrong = SmartHttp::start(&sb, &sb.remotes_dir(), Some(("user", "another-password")));
    let config = dev.config_dir().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = format!("127.0.0.1:{}/", wrong.port());
    std::fs::write(&config, text.replace(&format!("127.0.0.1:{}/", http.port()), &moved)).unwrap();
    let port = free_port();
    dev.start_with(&["serve", "--port", &port.to_string()]);
    let sse = SseTap::open(port, &token);
    wait_status(&dev, "the daemon to stop on the refused credentials", |s| {
        s["code"] == "remote_needs_attention"
    });
    wait_until("a needs_attention webhook", CONVERGE, || {
        receiver.requests().iter().any(|r| r.text().contains("needs_attention"))
    });
    wait_until("the failure on the SSE stream", CONVERGE, || sse.text().contains("sync_failure"));
    ch.run(&dev, &["sync"]);
    ch.run(&dev, &["status", "--json"]);
    for path in ["/api/status", "/api/history?limit=5000", "/api/sync/metrics"] {
        ch.add(format!("GET {path}"), api_get(port, &token, path));
    }
    let dir2 = sb.path().join("second");
    let wrong_url = wrong.url_with_credentials("notes.git", "user", TOKEN);
    let out = ch.run(&dev, &["init", dir2.to_str().unwrap(), "--remote", &wrong_url]);
    assert!(!out.status.success(), "a remote refusing the credentials is refused at init");
    assert!(dev.stop(), "the daemon stops cleanly: {}", dev.log());
    ch.add("SSE stream (auth failure)", sse.text());
    ch.run(&dev, &["history", "--json", "--limit", "5000"]);
    ch.run(&dev, &["stats", "--json"]);

    // Every channel, then.
    ch.add("daemon log", dev.log());
    for r in receiver.requests() {
        let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        ch.add(format!("webhook {} {}", r.method, r.path), headers.join("\n"));
        ch.add(format!("webhook {} {} body", r.method, r.path), r.body.clone());
    }
    ch.files(&dev.data_dir(), &[]);
    ch.files(&dev.config_dir(), &["config.yaml"]);
    for (name, bytes) in &ch.0 {
        for secret in secret_forms() {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "the token leaked into {name}:\n{}", String::from_utf8_lossy(bytes));
        }
    }
    // The channels really carried the remote and the failures (the test is not vacuous).
    let all = ch.all_text();
    assert!(all.contains("user:***@127.0.0.1"), "the remote is shown, redacted");
    assert!(all.contains("sync_failure") && all.contains("sync_success"), "both outcomes seen");
    assert!(all.contains("remote_needs_attention"), "the auth failure was reported");
    let history = std::fs::read(dev.data_dir().join("history.sqlite3")).unwrap();
    assert!(!history.is_empty(), "the history file exists and was searched");
}
