//! Webhooks against a real HTTP receiver on 127.0.0.1: formats, signature, retries, redirects,
//! URL rules, the dispatcher on the event bus, and a dead endpoint next to a real sync.
//!
//! Slack and Discord hosts cannot be reached here, so their tests force the format with
//! `format: slack|discord` and use their URL paths on a loopback receiver.

use std::path::Path;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use supersonic_core::batcher::Batch;
use supersonic_core::config::{FolderSettings, WebhookSettings};
use supersonic_core::events::{Event, EventBus};
use supersonic_core::folder::{Folder, Trigger};
use supersonic_core::history::{History, HISTORY_FILE};
use supersonic_core::paths::Dirs;
use supersonic_core::webhooks::{self, Client, Endpoint, Format, Notification};
use supersonic_core::FailureClass;
use supersonic_testkit::{wait_until, Receiver, Reply};

use super::*;

/// Generous bound for a delivery to reach a loopback receiver: it takes milliseconds, so
/// anything near this is a hang.
const ARRIVE: Duration = Duration::from_secs(30);

/// Sync cycles timed per configuration in the dead-endpoint measurement.
const RUNS: usize = 5;

fn hooks(urls: &[String]) -> WebhookSettings {
    WebhookSettings { enabled: true, urls: urls.to_vec(), ..Default::default() }
}

fn json_body(request: &supersonic_testkit::Request) -> Value {
    serde_json::from_slice(&request.body)
        .unwrap_or_else(|e| panic!("the body is JSON ({e}): {}", request.text()))
}

#[test]
fn slack_receives_the_seed_message_as_text_and_blocks_with_markup_escaped() {
    let receiver = Receiver::start(vec![]);
    let settings = WebhookSettings {
        format: Format::Slack,
        secret: Some("unused".into()),
        ..hooks(&[receiver.url("/services/T000/B000/XXXX")])
    };
    let reports =
        webhooks::send_test(&settings, "/srv/a <b> & c", "sync_success", None, "laptop").unwrap();
    assert!(reports[0].ok, "the receiver answers 200: {reports:?}");
    let request = &receiver.wait_for(1, ARRIVE)[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/services/T000/B000/XXXX")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header(webhooks::SIGNATURE_HEADER), None, "Slack bodies are not signed");
    let body = json_body(request);
    let text = body["text"].as_str().expect("Slack needs a `text` fallback");
    assert!(
        text.starts_with(
            "✅ Sync Successful (test)\nDuration: 2.34s\nFiles Changed: 8\nCommit: abc123de\n"
        ),
        "the seed's message, line by line: {text}"
    );
    assert!(
        text.contains("Folder: /srv/a &lt;b&gt; &amp; c") && !text.contains("<b>"),
        "Slack markup characters are escaped so a path cannot become a link or mention: {text}"
    );
    let section = &body["blocks"][0];
    assert_eq!(section["type"], "section");
    assert_eq!(section["text"]["type"], "mrkdwn");
    assert!(section["text"]["text"].as_str().unwrap().starts_with("*✅ Sync Successful (test)*"));
}

#[test]
fn discord_receives_content_and_one_embed_that_mentions_nobody() {
    let receiver = Receiver::start(vec![]);
    let settings =
        WebhookSettings { format: Format::Discord, ..hooks(&[receiver.url("/api/webhooks/1/t")]) };
    let reports =
        webhooks::send_test(&settings, "/srv/notes", "needs_attention", None, "@everyone").unwrap();
    assert!(reports[0].ok, "{reports:?}");
    let body = json_body(&receiver.wait_for(1, ARRIVE)[0]);
    assert_eq!(body["content"], "🛑 Sync Needs Attention (test)");
    let embeds = body["embeds"].as_array().expect("an embeds array");
    assert_eq!(embeds.len(), 1, "one embed per message: {body}");
    assert_eq!(embeds[0]["footer"]["text"], "Supersonic Sync on @everyone");
    assert_eq!(
        body["allowed_mentions"],
        serde_json::json!({ "parse": [] }),
        "a device named @everyone must not ping the channel"
    );
    let names: Vec<&str> = embeds[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Error", "Action", "Folder", "Device"]);
}

#[test]
fn a_generic_webhook_gets_the_envelope_signed_with_the_secret() {
    let receiver = Receiver::start(vec![]);
    let settings =
        WebhookSettings { secret: Some("s3cret".into()), ..hooks(&[receiver.url("/h")]) };
    let reports =
        webhooks::send_test(&settings, "/srv/notes", "conflict_detected", None, "laptop").unwrap();
    assert_eq!(reports[0].format, Format::Generic, "a loopback URL is neither Slack nor Discord");
    let request = &receiver.wait_for(1, ARRIVE)[0];
    let signature = request.header("x-supersonic-signature").expect("a secret signs the body");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&request.body);
    let hex = signature.strip_prefix("sha256=").expect("the sha256= prefix");
    mac.verify_slice(&hex::decode(hex).expect("hex"))
        .expect("the receiver can verify the body with the shared secret");
    assert_eq!(request.header("x-supersonic-event"), Some("conflict_detected"));
    let body = json_body(request);
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["event", "folder", "device", "time", "data"], "the documented envelope");
    assert_eq!(body["event"], "conflict_detected");
    assert_eq!(body["folder"], "/srv/notes");
    assert_eq!(body["device"], "laptop");
    assert!(body["time"].as_str().unwrap().ends_with('Z'), "UTC, RFC 3339: {body}");
    assert_eq!(body["data"]["path"], "notes/todo.md");
    assert_eq!(body["data"]["test"], true);
}

#[test]
fn server_errors_are_retried_with_doubling_waits_until_success() {
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(502), Reply::ok()]);
    let settings = WebhookSettings { retries: 3, ..hooks(&[receiver.url("/h")]) };
    let endpoint = &Endpoint::all(&settings, Path::new("/srv/notes")).unwrap()[0];
    let n =
        Notification::sample("sync_failure", "/srv/notes", "laptop", chrono::Utc::now()).unwrap();
    let mut waits = Vec::new();
    let report = endpoint.deliver(&Client::new().unwrap(), &n, &mut |d| {
        waits.push(d);
        true
    });
    assert!(report.ok && report.status == Some(200), "the third attempt succeeds: {report:?}");
    assert_eq!(report.attempts, 3);
    assert_eq!(
        waits,
        [webhooks::BACKOFF_INITIAL, webhooks::BACKOFF_INITIAL * 2],
        "exponential backoff between attempts"
    );
    let requests = receiver.wait_for(3, ARRIVE);
    assert!(requests.iter().all(|r| r.body == requests[0].body), "a retry sends the same payload");
}

#[test]
fn retries_end_after_the_configured_count_with_the_last_status() {
    let receiver = Receiver::always(Reply::status(503).body("down for maintenance"));
    let settings = WebhookSettings { retries: 2, ..hooks(&[receiver.url("/h")]) };
    let endpoint = &Endpoint::all(&settings, Path::new("/srv/notes")).unwrap()[0];
    let n =
        Notification::sample("sync_success", "/srv/notes", "laptop", chrono::Utc::now()).unwrap();
    let report = endpoint.deliver(&Client::new().unwrap(), &n, &mut |_| true);
    assert!(!report.ok, "{report:?}");
    assert_eq!((report.attempts, report.status), (3, Some(503)), "1 attempt + 2 retries");
    let error = report.error.unwrap();
    assert!(error.contains("503") && error.contains("down for maintenance"), "{error}");
    assert_eq!(receiver.requests().len(), 3);
}

#[test]
fn a_429_retry_after_is_waited_out_before_the_next_attempt() {
    let receiver = Receiver::start(vec![Reply::status(429).header("Retry-After", "1")]);
    let reports =
        webhooks::send_test(&hooks(&[receiver.url("/h")]), "", "sync_success", None, "pc").unwrap();
    assert!(reports[0].ok && reports[0].attempts == 2, "retried once, then 200: {reports:?}");
    let requests = receiver.wait_for(2, ARRIVE);
    let gap = requests[1].received_at - requests[0].received_at;
    println!("Retry-After: 1 -> next attempt {:.3} s later", gap.as_secs_f64());
    assert!(gap >= Duration::from_secs(1), "the server asked for 1 s, the client waited {gap:?}");
}

#[test]
fn a_redirect_is_not_followed_and_fails_the_delivery() {
    let elsewhere = Receiver::start(vec![]);
    let target = elsewhere.url("/stolen");
    let receiver = Receiver::start(vec![Reply::status(302).header("Location", &target)]);
    let reports =
        webhooks::send_test(&hooks(&[receiver.url("/h")]), "", "sync_success", None, "pc").unwrap();
    let report = &reports[0];
    assert!(!report.ok, "a redirect is a failed delivery: {report:?}");
    assert_eq!((report.status, report.attempts), (Some(302), 1), "and it is not retried");
    let error = report.error.as_deref().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");
    assert!(!error.contains("stolen"), "the Location path is redacted like a webhook URL: {error}");
    assert!(
        elsewhere.requests().is_empty(),
        "the payload never reaches the redirect's target (the report is only returned after any \
         follow-up request would have been made)"
    );
}

#[test]
fn plain_http_to_a_non_loopback_host_is_rejected_naming_the_key() {
    let settings =
        hooks(&["https://hooks.example/ok".into(), "http://hooks.example/s3cret".into()]);
    let err = webhooks::start(
        vec![("/srv/notes".into(), settings)],
        "pc".into(),
        &EventBus::default(),
        std::env::temp_dir().join("never-opened.sqlite3"),
    )
    .expect_err("plain http off this machine would expose the payload and the URL's key");
    let message = err.to_string();
    assert!(message.contains("webhooks.urls[1]"), "the error names the key: {message}");
    assert!(message.contains("/srv/notes"), "and the folder: {message}");
    assert!(!message.contains("s3cret"), "but not the secret path: {message}");
    assert_eq!(err.code(), "config_invalid");

    let err = webhooks::send_test(
        &WebhookSettings::default(),
        "",
        "sync_success",
        Some("http://example.com/s3cret"),
        "pc",
    )
    .unwrap_err();
    assert!(err.to_string().contains("--url"), "a command-line URL is named as such: {err}");
}

#[test]
fn the_dispatcher_sends_wanted_events_and_records_each_delivery_in_history() {
    let sb = supersonic_testkit::Sandbox::new();
    let history = sb.path().join(HISTORY_FILE);
    let receiver = Receiver::start(vec![Reply::status(503)]);
    let bus = EventBus::default();
    let handle = webhooks::start(
        vec![("/srv/notes".into(), hooks(&[receiver.url("/h")]))],
        "laptop".into(),
        &bus,
        history.clone(),
    )
    .unwrap();
    assert!(handle.is_active());
    bus.emit(Event::SyncStart { folder: "/srv/notes".into(), trigger: "poll".into() });
    bus.emit(Event::SyncSuccess {
        folder: "/srv/other".into(),
        duration_sec: 1.0,
        files_changed: 1,
        commit: None,
        pulled: false,
        pushed: true,
    });
    bus.emit(Event::SyncFailure {
        folder: "/srv/notes".into(),
        error: "push origin failed: authentication failed".into(),
        code: "remote_needs_attention".into(),
        class: FailureClass::NeedsAttention,
        retry_in_sec: None,
    });
    let requests = receiver.wait_for(2, ARRIVE);
    let body = json_body(&requests[1]);
    assert_eq!(body["event"], "needs_attention", "the default events include needs_attention");
    assert_eq!(body["data"]["error_msg"], "push origin failed: authentication failed");
    wait_until("the delivery to be recorded", ARRIVE, || handle.counts().delivered == 1);
    drop(handle);
    assert_eq!(
        receiver.requests().len(),
        2,
        "after the flush at drop nothing else was sent: sync_start is not a default event and \
         /srv/other has no webhooks"
    );
    let rows = History::open_readonly(&history).unwrap().recent(None, 10).unwrap();
    let row = rows.iter().find(|r| r.event_type == webhooks::WEBHOOK).expect("a webhook row");
    assert_eq!(row.folder, "/srv/notes");
    let data = row.data.as_ref().unwrap();
    assert_eq!(
        (data["status"].as_u64(), data["attempts"].as_u64()),
        (Some(200), Some(2)),
        "{data}"
    );
    assert_eq!(data["event"], "needs_attention");
    let url = data["url"].as_str().unwrap();
    assert!(url.ends_with("/***") && !url.contains("/h"), "history holds the redacted URL: {url}");
}

#[test]
fn a_full_queue_drops_the_oldest_jobs_and_counts_them() {
    let sb = supersonic_testkit::Sandbox::new();
    let receiver = Receiver::always(Reply::hang());
    let bus = EventBus::default();
    let settings = WebhookSettings { timeout_sec: 1, ..hooks(&[receiver.url("/h")]) };
    let handle = webhooks::start(
        vec![("/f".into(), settings)],
        "pc".into(),
        &bus,
        sb.path().join(HISTORY_FILE),
    )
    .unwrap();
    let total = webhooks::QUEUE_CAPACITY as u64 + 50;
    for i in 0..total {
        bus.emit(Event::Warning { folder: "/f".into(), message: format!("{i}") });
        bus.emit(Event::RateLimitHit {
            folder: "/f".into(),
            reason: format!("{i}"),
            retry_in_sec: 1,
        });
    }
    wait_until("every job to be queued", ARRIVE, || handle.counts().queued == total);
    let counts = handle.counts();
    // One job is with the hanging endpoint, the queue holds the capacity, the rest are dropped.
    let least = total - webhooks::QUEUE_CAPACITY as u64 - 1;
    assert!(
        (least..=least + 1).contains(&counts.dropped),
        "the queue is bounded at {}: {counts:?}",
        webhooks::QUEUE_CAPACITY
    );
    let started = Instant::now();
    drop(handle);
    println!(
        "dropping the dispatcher with a full queue and a hanging endpoint: {:?}",
        started.elapsed()
    );
}

/// Times `RUNS` sync cycles of a folder on a real repository, with the webhook dispatcher on the
/// same bus sending every event to `endpoint` when given; returns the durations.
fn timed_cycles(endpoint: Option<&Receiver>) -> Vec<Duration> {
    let f = Fixture::new();
    let bus = EventBus::default();
    let mut settings = FolderSettings::default();
    if let Some(receiver) = endpoint {
        settings.webhooks = WebhookSettings {
            events: webhooks::EVENT_TYPES.iter().map(|e| e.to_string()).collect(),
            timeout_sec: 30,
            ..hooks(&[receiver.url("/h")])
        };
    }
    let dirs = Dirs { config_dir: f.sb.path().join("cfg"), data_dir: f.sb.path().join("data") };
    let handle = webhooks::start(
        vec![(f.dir.display().to_string(), settings.webhooks.clone())],
        "alpha".into(),
        &bus,
        dirs.data_dir.join(HISTORY_FILE),
    )
    .unwrap();
    let config = folder_config(&f.dir, &f.remote.display().to_string(), settings);
    let mut folder = Folder::open(config, &dirs, identity("alpha"), bus.clone()).unwrap();
    let mut durations = Vec::new();
    for i in 0..RUNS {
        write(&f.dir.join(format!("note-{i}.md")), "text\n");
        let started = Instant::now();
        let report = folder.cycle(Some(Batch::Full), Trigger::Manual).expect("the sync returns");
        durations.push(started.elapsed());
        assert!(report.pushed, "cycle {i} pushed: {report:?}");
    }
    if let Some(receiver) = endpoint {
        receiver.wait_for(1, ARRIVE);
        assert_eq!(handle.counts().delivered, 0, "the endpoint never answered anything");
    }
    let started = Instant::now();
    drop(handle);
    println!(
        "  dispatcher stopped in {:.3} s (flush bound {:?})",
        started.elapsed().as_secs_f64(),
        webhooks::FLUSH_TIMEOUT
    );
    durations
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

#[test]
fn a_receiver_that_never_answers_does_not_delay_a_sync() {
    let hanging = Receiver::always(Reply::hang());
    let with_dead = timed_cycles(Some(&hanging));
    let without = timed_cycles(None);
    println!(
        "sync cycle, median of {RUNS}: {:.1} ms with a webhook endpoint that never answers, \
         {:.1} ms without webhooks (all: {with_dead:?} vs {without:?})",
        median(with_dead.clone()).as_secs_f64() * 1000.0,
        median(without.clone()).as_secs_f64() * 1000.0,
    );
    assert!(
        !hanging.requests().is_empty(),
        "the dispatcher did reach the endpoint while the syncs ran, so the syncs ran alongside a \
         hanging delivery"
    );
}
