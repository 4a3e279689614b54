//! Webhooks: the engine's events, posted to chat rooms and scripts over HTTP (seed 000's
//! webhook notifications).
//!
//! What it owns: choosing which events an endpoint hears (the `webhooks.events` filter), turning
//! an [`Event`] into a [`Notification`], rendering it in the endpoint's [`Format`] (Slack, Discord,
//! or a generic JSON envelope signed with HMAC-SHA256), delivering it with retries off the sync
//! path, and recording every delivery in history as a [`WEBHOOK`] event.
//!
//! How it works:
//! - [`start`] runs a dispatcher on its own subscriber of the event bus, in two threads. The
//!   intake thread turns each event into one job per URL of the folder that wants it and puts the
//!   jobs on a queue bounded at [`QUEUE_CAPACITY`]; when the queue is full the oldest job is
//!   dropped and counted. The delivery thread sends the jobs one at a time. The engine only writes
//!   to the bus's unbounded channel, so a slow or dead endpoint never delays a sync.
//! - A delivery is up to `1 + retries` attempts, each bounded by `timeout_sec`. A 2xx answer is a
//!   success. Network errors, 408, 425, 429 and 5xx are retried after an exponential backoff
//!   ([`BACKOFF_INITIAL`], doubling up to [`BACKOFF_MAX`]), or after the `Retry-After` seconds the
//!   server sent (asking for more than [`MAX_RETRY_AFTER`] ends the delivery). Redirects are never
//!   followed: a 3xx is a failed delivery, so a moved URL cannot carry the payload elsewhere.
//!   Other answers are final failures. [`next_delay`] is that decision, as a pure function.
//! - Dropping the [`WebhookHandle`] stops the dispatcher: queued jobs still get one attempt each
//!   within [`FLUSH_TIMEOUT`], and the drop returns after at most that bound plus
//!   [`FLUSH_GRACE`], even when an endpoint hangs.
//! - Format: `format: auto` (the default) picks Slack for `hooks.slack.com`, Discord for
//!   `discord.com`/`discordapp.com` `/api/webhooks/...` URLs, and the generic envelope for every
//!   other URL; `format: slack|discord|generic` forces one (for a relay in front of Slack, and
//!   for tests on loopback).
//!
//! Invariants:
//! - URLs are secrets (Slack and Discord carry the key in the path): only their
//!   [`redact_webhook_url`] form appears in logs, errors, reports and history.
//! - Plain `http://` is accepted only for loopback hosts (127.0.0.0/8, `::1`, `localhost`); any
//!   other plain-http URL is a configuration error naming the key `webhooks.urls[i]`.
//! - Chat messages cannot ping anyone: Slack markup characters are escaped and Discord gets
//!   `allowed_mentions: {"parse": []}`.
//! - Time is an input: [`Notification::from_event`] takes `now`, [`next_delay`] takes the
//!   attempt count, and [`Endpoint::deliver`] waits through the `wait` function it is given (the
//!   dispatcher's returns early when it stops; tests record the delays instead of sleeping).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

pub use crate::config::Format;
use crate::config::{redact_webhook_url, ConfigError, WebhookSettings};
use crate::events::{Event, EventBus};
use crate::history::{self, History, HistoryEvent};
use crate::{Error, FailureClass, Result};

/// History event type of a webhook delivery (one row per delivery, not per attempt).
pub use crate::history::WEBHOOK;

/// Event name of a sync failure that stops the folder until the user acts.
pub const NEEDS_ATTENTION: &str = "needs_attention";

/// Every event name the `webhooks.events` filter accepts.
pub const EVENT_TYPES: &[&str] = &[
    history::SYNC_START,
    history::SYNC_SUCCESS,
    history::SYNC_FAILURE,
    NEEDS_ATTENTION,
    history::RATE_LIMIT_HIT,
    history::CONFLICT_DETECTED,
    history::STALE,
    history::WARNING,
];

/// The events sent when `webhooks.events` is empty: how each sync ended and what needs the
/// user. `sync_start` (one per cycle, and the cycle's end follows within seconds) and `warning`
/// are sent only when listed.
pub const DEFAULT_EVENTS: &[&str] = &[
    history::SYNC_SUCCESS,
    history::SYNC_FAILURE,
    NEEDS_ATTENTION,
    history::RATE_LIMIT_HIT,
    history::CONFLICT_DETECTED,
    history::STALE,
];

/// Jobs waiting for delivery before the oldest is dropped. A job is a few kilobytes, so the
/// queue stays under a megabyte; 256 covers hours of a busy folder behind an endpoint that is
/// down, while a flood (a sync loop failing every second) cannot grow memory without bound.
pub const QUEUE_CAPACITY: usize = 256;

/// Wait before the first retry; it doubles per retry. Long enough for a restarting endpoint or
/// a load balancer to recover, short enough that the message is still timely.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// Longest wait between two attempts. One delivery thread serves every endpoint, so a longer
/// wait would hold back other folders' messages behind one dead URL.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Longest `Retry-After` honoured. A server asking for more ends the delivery (reported as
/// failed) rather than stalling every other delivery for that long, or retrying before it said.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// After a stop, how long queued jobs still get their one attempt each. Short, because a stop
/// is a user waiting for the daemon to exit; long enough for a few loopback or LAN posts.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Extra time the handle waits for the delivery thread beyond [`FLUSH_TIMEOUT`] before leaving
/// it behind (its last request may still be inside its own timeout).
pub const FLUSH_GRACE: Duration = Duration::from_millis(500);

/// Longest text of one message field (an error message, a path). Discord refuses field values
/// over 1024 characters and Slack sections over 3000; longer text is cut with `…`.
pub const MAX_FIELD_CHARS: usize = 1000;

/// Most bytes of an error response's body quoted in the delivery's error message.
const MAX_RESPONSE_SNIPPET: usize = 200;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is set.
pub const SIGNATURE_HEADER: &str = "X-Supersonic-Signature";

/// Header naming the event of a generic webhook, so a receiver can route before parsing.
pub const EVENT_HEADER: &str = "X-Supersonic-Event";

/// User agent of every webhook request.
const USER_AGENT: &str = concat!("supersonic-sync/", env!("CARGO_PKG_VERSION"));

/// Returns the format used for `url`: `forced` unless it is [`Format::Auto`], else Slack for
/// `hooks.slack.com`, Discord for `/api/webhooks/...` on `discord.com` or `discordapp.com`
/// (and their subdomains), generic otherwise.
pub fn format_for(url: &str, forced: Format) -> Format {
    if forced != Format::Auto {
        return forced;
    }
    let Ok(parsed) = Url::parse(url) else { return Format::Generic };
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if host == "hooks.slack.com" {
        Format::Slack
    } else if (under("discord.com") || under("discordapp.com"))
        && parsed.path().starts_with("/api/webhooks/")
    {
        Format::Discord
    } else {
        Format::Generic
    }
}

/// Checks that `url` may receive webhooks: an absolute `https` URL, or `http` to a loopback
/// host. Returns the parsed URL, or why not (the URL itself redacted).
pub fn check_url(url: &str) -> std::result::Result<Url, String> {
    let shown = redact_webhook_url(url);
    let parsed =
        Url::parse(url.trim()).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(format!(
            "`{shown}` uses plain http to a host that is not loopback; use https (plain http is \
             only allowed to 127.0.0.0/8, ::1 and localhost)"
        )),
        other => Err(format!("`{shown}`: scheme `{other}` is not supported; use https")),
    }
}

/// Returns whether the URL's host is on this machine (127.0.0.0/8, `::1`, `localhost`).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks a folder's webhook settings: every URL ([`check_url`]), every event name, a non-zero
/// timeout. `source` is where the settings come from (the folder), shown in the error.
pub fn check_settings(settings: &WebhookSettings, source: &Path) -> Result<(), ConfigError> {
    let error = |key: String, message: String| ConfigError {
        file: source.to_path_buf(),
        line: None,
        column: None,
        key: Some(key),
        message,
    };
    for (i, url) in settings.urls.iter().enumerate() {
        check_url(url).map_err(|m| error(format!("webhooks.urls[{i}]"), m))?;
    }
    for (i, name) in settings.events.iter().enumerate() {
        if !EVENT_TYPES.contains(&name.as_str()) {
            return Err(error(
                format!("webhooks.events[{i}]"),
                format!("unknown event `{name}` (expected one of {})", EVENT_TYPES.join(", ")),
            ));
        }
    }
    if settings.timeout_sec == 0 {
        return Err(error("webhooks.timeout_sec".into(), "must be greater than 0".into()));
    }
    Ok(())
}

/// Returns the names `event` goes by in the filter, most specific first (empty for events that
/// are never sent).
fn names(event: &Event) -> &'static [&'static str] {
    match event {
        Event::SyncStart { .. } => &[history::SYNC_START],
        Event::SyncSuccess { .. } => &[history::SYNC_SUCCESS],
        Event::SyncFailure { class: FailureClass::NeedsAttention, .. } => {
            &[NEEDS_ATTENTION, history::SYNC_FAILURE]
        }
        Event::SyncFailure { .. } => &[history::SYNC_FAILURE],
        Event::RateLimitHit { .. } => &[history::RATE_LIMIT_HIT],
        Event::ConflictDetected { .. } => &[history::CONFLICT_DETECTED],
        Event::FileSkipped { .. } | Event::Warning { .. } => &[history::WARNING],
        Event::Stale { cleared: false, .. } => &[history::STALE],
        Event::State { .. }
        | Event::Committed { .. }
        | Event::Progress { .. }
        | Event::OperationFinished { .. }
        | Event::Stale { cleared: true, .. } => &[],
    }
}

/// Returns the name under which `event` is sent to an endpoint with `filter` (empty filter:
/// [`DEFAULT_EVENTS`]), or `None` when the endpoint does not want it.
///
/// A failure that needs attention is sent once: as `needs_attention` when the filter lists it,
/// else as `sync_failure` when the filter lists that.
pub fn event_name(event: &Event, filter: &[String]) -> Option<&'static str> {
    names(event).iter().copied().find(|name| {
        if filter.is_empty() {
            DEFAULT_EVENTS.contains(name)
        } else {
            filter.iter().any(|f| f == name)
        }
    })
}

/// What a webhook says: one event, named, with its details in the seed's field names
/// (`duration_sec`, `files_changed`, `commit_hash`, `error_msg`, `reason`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The event name ([`EVENT_TYPES`]).
    pub event: String,
    /// The folder path.
    pub folder: String,
    /// This device's name.
    pub device: String,
    /// When the event happened.
    pub time: DateTime<Utc>,
    /// The details, a JSON object.
    pub data: Value,
}

impl Notification {
    /// Builds the notification of `event` under `name` (see [`event_name`]), stamped `now`.
    pub fn from_event(event: &Event, name: &str, device: &str, now: DateTime<Utc>) -> Self {
        let data = match event {
            Event::SyncStart { trigger, .. } => json!({ "trigger": trigger }),
            Event::SyncSuccess { duration_sec, files_changed, commit, pulled, pushed, .. } => {
                json!({
                    "duration_sec": duration_sec,
                    "files_changed": files_changed,
                    "commit_hash": commit,
                    "pulled": pulled,
                    "pushed": pushed,
                })
            }
            Event::SyncFailure { error, code, class, retry_in_sec, .. } => json!({
                "error_msg": error,
                "code": code,
                "class": class,
                "retry_in_sec": retry_in_sec,
            }),
            Event::RateLimitHit { reason, retry_in_sec, .. } => {
                json!({ "reason": reason, "retry_in_sec": retry_in_sec })
            }
            Event::ConflictDetected { path, copy, conflict_kind, strategy, .. } => json!({
                "path": path,
                "copy": copy,
                "conflict_kind": conflict_kind,
                "strategy": strategy,
            }),
            Event::FileSkipped { path, reason, .. } => {
                json!({ "message": format!("not syncing {path}: {reason}"), "path": path })
            }
            Event::Warning { message, .. } => json!({ "message": message }),
            Event::State { state, .. } => json!({ "state": state }),
            Event::Committed { commit, files_changed, .. } => {
                json!({ "commit_hash": commit, "files_changed": files_changed })
            }
            Event::Stale { alert, message, cleared, .. } => {
                json!({ "alert": alert, "message": message, "cleared": cleared })
            }
            Event::OperationFinished { id, operation, ok, error, code, .. } => json!({
                "id": id,
                "operation": operation,
                "ok": ok,
                "error": error,
                "code": code,
            }),
            Event::Progress { operation, phase, done, total, finished, .. } => json!({
                "operation": operation,
                "phase": phase,
                "done": done,
                "total": total,
                "finished": finished,
            }),
        };
        Notification {
            event: name.to_string(),
            folder: event.folder().to_string(),
            device: device.to_string(),
            time: now,
            data,
        }
    }

    /// Builds a sample notification of `event` (one of [`EVENT_TYPES`]) for `webhook test`, with
    /// the seed's example figures and `"test": true` in its data.
    pub fn sample(event: &str, folder: &str, device: &str, now: DateTime<Utc>) -> Result<Self> {
        let data = match event {
            history::SYNC_START => json!({ "trigger": "manual" }),
            history::SYNC_SUCCESS => json!({
                "duration_sec": 2.34,
                "files_changed": 8,
                "commit_hash": "abc123def4567890abc123def4567890abc123de",
                "pulled": false,
                "pushed": true,
            }),
            history::SYNC_FAILURE => json!({
                "error_msg": "fetch origin failed: could not resolve host (test)",
                "code": "remote_unreachable",
                "class": FailureClass::Transient,
                "retry_in_sec": 60,
            }),
            NEEDS_ATTENTION => json!({
                "error_msg": "push origin failed: authentication failed (test)",
                "code": "remote_needs_attention",
                "class": FailureClass::NeedsAttention,
                "retry_in_sec": null,
            }),
            history::RATE_LIMIT_HIT => {
                json!({ "reason": "20 remote operations in the last hour", "retry_in_sec": 300 })
            }
            history::STALE => json!({
                "alert": "unpushed",
                "message": "3 commit(s) have waited 2 h to be pushed (test)",
                "cleared": false,
            }),
            history::CONFLICT_DETECTED => json!({
                "path": "notes/todo.md",
                "copy": "notes/todo.sync-conflict-20250101-120000-laptop.md",
                "conflict_kind": "content",
                "strategy": "ask",
            }),
            history::WARNING => json!({ "message": "this is a test warning" }),
            other => {
                return Err(Error::Invalid(format!(
                    "unknown webhook event `{other}` (expected one of {})",
                    EVENT_TYPES.join(", ")
                )))
            }
        };
        let mut data = data;
        data["test"] = Value::Bool(true);
        Ok(Notification {
            event: event.to_string(),
            folder: folder.to_string(),
            device: device.to_string(),
            time: now,
            data,
        })
    }

    /// Returns the event time as RFC 3339 in UTC with `Z`, to the second.
    fn time_text(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// A human-readable message: a title and labelled lines, shared by the chat formats.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    title: String,
    fields: Vec<(&'static str, String)>,
    /// Embed colour for Discord.
    color: u32,
}

/// Returns the message of `n`, in the seed's style ("✅ Sync Successful / Duration: 2.34s /
/// Files Changed: 8 / Commit: abc123de").
fn message(n: &Notification) -> Message {
    let d = &n.data;
    let text = |key: &str| match &d[key] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let secs = |key: &str| d[key].as_u64().map(|s| format!("{s}s"));
    let (title, color, mut fields): (&str, u32, Vec<(&'static str, Option<String>)>) = match n
        .event
        .as_str()
    {
        history::SYNC_SUCCESS => (
            "✅ Sync Successful",
            0x2ecc71,
            vec![
                ("Duration", d["duration_sec"].as_f64().map(|s| format!("{s:.2}s"))),
                ("Files Changed", text("files_changed")),
                ("Commit", text("commit_hash").map(|c| c.chars().take(8).collect())),
            ],
        ),
        history::SYNC_FAILURE => (
            "❌ Sync Failed",
            0xe74c3c,
            vec![("Error", text("error_msg")), ("Retry In", secs("retry_in_sec"))],
        ),
        NEEDS_ATTENTION => (
            "🛑 Sync Needs Attention",
            0x992d22,
            vec![
                ("Error", text("error_msg")),
                ("Action", Some("syncing is stopped until you act".into())),
            ],
        ),
        history::SYNC_START => ("🔄 Sync Started", 0x3498db, vec![("Trigger", text("trigger"))]),
        history::RATE_LIMIT_HIT => (
            "⏳ Rate Limit Hit",
            0xf1c40f,
            vec![("Reason", text("reason")), ("Next Attempt In", secs("retry_in_sec"))],
        ),
        history::CONFLICT_DETECTED => (
            "⚠️ Conflict Detected",
            0xe67e22,
            vec![
                ("Path", text("path")),
                ("Kind", text("conflict_kind")),
                ("Strategy", text("strategy")),
                ("Other Version", text("copy")),
            ],
        ),
        history::STALE => (
            "🕰️ Not In Sync",
            0xe67e22,
            vec![("Alert", text("alert")), ("Message", text("message"))],
        ),
        _ => ("⚠️ Warning", 0xf1c40f, vec![("Message", text("message"))]),
    };
    fields.push(("Folder", Some(n.folder.clone())));
    fields.push(("Device", Some(n.device.clone())));
    let title =
        if d["test"] == Value::Bool(true) { format!("{title} (test)") } else { title.to_string() };
    Message {
        title,
        fields: fields
            .into_iter()
            .filter_map(|(label, value)| value.map(|v| (label, truncate(&v, MAX_FIELD_CHARS))))
            .collect(),
        color,
    }
}

/// Returns `s` cut to at most `max` characters, marked with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes the characters Slack's markup gives a meaning to (`&`, `<`, `>`), so a file name
/// cannot turn into a link or an `@channel` mention.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Returns the request body of `n` in `format` (JSON; [`Format::Auto`] renders generic).
pub fn render(format: Format, n: &Notification) -> Vec<u8> {
    let body = match format {
        Format::Slack => {
            let m = message(n);
            let lines: Vec<String> = m
                .fields
                .iter()
                .map(|(label, value)| format!("{label}: {}", slack_escape(value)))
                .collect();
            let title = slack_escape(&m.title);
            json!({
                "text": format!("{title}\n{}", lines.join("\n")),
                "blocks": [{
                    "type": "section",
                    "text": { "type": "mrkdwn", "text": format!("*{title}*\n{}", lines.join("\n")) },
                }],
            })
        }
        Format::Discord => {
            let m = message(n);
            let fields: Vec<Value> = m
                .fields
                .iter()
                .map(|(label, value)| {
                    let inline = !matches!(*label, "Error" | "Folder" | "Path" | "Message");
                    json!({ "name": label, "value": value, "inline": inline })
                })
                .collect();
            json!({
                "content": m.title,
                "embeds": [{
                    "title": m.title,
                    "color": m.color,
                    "fields": fields,
                    "timestamp": n.time_text(),
                    "footer": { "text": format!("Supersonic Sync on {}", n.device) },
                }],
                "allowed_mentions": { "parse": [] },
            })
        }
        Format::Generic | Format::Auto => json!({
            "event": n.event,
            "folder": n.folder,
            "device": n.device,
            "time": n.time_text(),
            "data": n.data,
        }),
    };
    serde_json::to_vec(&body).expect("a JSON value always serialises")
}

/// Returns the signature header value of `body`: `sha256=<hex HMAC-SHA256 with secret>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered with `status`.
    Answered {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header in seconds, when present and numeric.
        retry_after: Option<u64>,
    },
    /// No answer: connection refused, timeout, TLS or protocol error.
    Failed {
        /// Whether trying again may help (false for a request that can never be sent).
        retryable: bool,
    },
}

impl Attempt {
    /// Returns whether the attempt delivered the message (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        matches!(self, Attempt::Answered { status: 200..=299, .. })
    }
}

/// Returns the wait before the next attempt after `attempts` attempts ended with `last`, or
/// `None` when the delivery is over (succeeded, final failure, or `retries` used up).
pub fn next_delay(last: &Attempt, attempts: u32, retries: u32) -> Option<Duration> {
    if attempts > retries {
        return None;
    }
    let backoff = BACKOFF_INITIAL
        .saturating_mul(1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    match *last {
        Attempt::Answered { status: 408 | 425 | 429 | 500..=599, retry_after: Some(secs) } => {
            let wait = Duration::from_secs(secs);
            (wait <= MAX_RETRY_AFTER).then_some(wait)
        }
        Attempt::Answered { status: 408 | 425 | 429 | 500..=599, retry_after: None } => {
            Some(backoff)
        }
        Attempt::Answered { .. } => None,
        Attempt::Failed { retryable } => retryable.then_some(backoff),
    }
}

/// The outcome of one delivery, as `webhook test` prints it and history records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryReport {
    /// The event name sent.
    pub event: String,
    /// The folder it is about.
    pub folder: String,
    /// The endpoint, redacted.
    pub url: String,
    /// The body's format.
    pub format: Format,
    /// Whether the endpoint accepted it (2xx).
    pub ok: bool,
    /// The last HTTP status, if the endpoint answered at all.
    pub status: Option<u16>,
    /// Attempts made.
    pub attempts: u32,
    /// Why the delivery failed (no URL in it), when it did.
    pub error: Option<String>,
    /// Wall time of the whole delivery, retries and waits included, in seconds.
    pub duration_sec: f64,
}

impl DeliveryReport {
    /// Returns a one-line summary: `sync_success to https://host/***: HTTP 200 after 1
    /// attempt(s)`.
    pub fn summary(&self) -> String {
        let status = self.status.map(|s| format!("HTTP {s}")).unwrap_or("no answer".into());
        let outcome = if self.ok { "delivered".to_string() } else { "failed".to_string() };
        let error = self.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
        format!(
            "{} to {}: {outcome} ({status}) after {} attempt(s) in {:.2} s{error}",
            self.event, self.url, self.attempts, self.duration_sec
        )
    }
}

/// Returns the history row of a delivery (event type [`WEBHOOK`]), stamped `now`.
pub fn history_row(report: &DeliveryReport, now: DateTime<Utc>) -> HistoryEvent {
    HistoryEvent::webhook_delivery(
        &report.folder,
        now,
        report.duration_sec,
        report.error.clone(),
        report.summary(),
        serde_json::to_value(report).ok(),
    )
}

/// One webhook URL with the settings that apply to it. The URL is kept private: it is a secret.
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    format: Format,
    secret: Option<String>,
    timeout: Duration,
    retries: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.redacted_url())
            .field("format", &self.format)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Endpoint {
    /// Creates the endpoint for `url` with `settings`' format, secret, timeout and retries.
    ///
    /// Fails (naming `key` and `source`) when the URL is not allowed ([`check_url`]).
    pub fn new(
        url: &str,
        settings: &WebhookSettings,
        key: &str,
        source: &Path,
    ) -> Result<Endpoint, ConfigError> {
        let parsed = check_url(url).map_err(|message| ConfigError {
            file: source.to_path_buf(),
            line: None,
            column: None,
            key: Some(key.to_string()),
            message,
        })?;
        Ok(Endpoint {
            format: format_for(parsed.as_str(), settings.format),
            url: parsed,
            secret: settings.secret.clone().filter(|s| !s.is_empty()),
            timeout: Duration::from_secs(settings.timeout_sec.max(1)),
            retries: settings.retries,
        })
    }

    /// Returns the endpoints of every URL in `settings`, after [`check_settings`].
    pub fn all(settings: &WebhookSettings, source: &Path) -> Result<Vec<Endpoint>, ConfigError> {
        check_settings(settings, source)?;
        settings
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| Endpoint::new(url, settings, &format!("webhooks.urls[{i}]"), source))
            .collect()
    }

    /// Returns the URL as it may be shown.
    pub fn redacted_url(&self) -> String {
        redact_webhook_url(self.url.as_str())
    }

    /// Returns the body format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Delivers `n`: up to `1 + retries` attempts, waiting between them with `wait(delay)`,
    /// which returns false to abandon the delivery (the dispatcher is stopping).
    pub fn deliver(
        &self,
        client: &Client,
        n: &Notification,
        wait: &mut dyn FnMut(Duration) -> bool,
    ) -> DeliveryReport {
        self.deliver_with(client, n, self.retries, self.timeout, wait)
    }

    fn deliver_with(
        &self,
        client: &Client,
        n: &Notification,
        retries: u32,
        timeout: Duration,
        wait: &mut dyn FnMut(Duration) -> bool,
    ) -> DeliveryReport {
        let started = Instant::now();
        let body = render(self.format, n);
        let mut attempts = 0;
        let mut status = None;
        let (ok, error) = loop {
            attempts += 1;
            let (attempt, error) = self.attempt(client, n, &body, timeout);
            if let Attempt::Answered { status: s, .. } = attempt {
                status = Some(s);
            }
            if attempt.succeeded() {
                break (true, None);
            }
            let Some(delay) = next_delay(&attempt, attempts, retries) else {
                let error = match attempt {
                    Attempt::Answered { retry_after: Some(secs), .. }
                        if attempts <= retries && Duration::from_secs(secs) > MAX_RETRY_AFTER =>
                    {
                        format!(
                            "{error}; the server asked to retry after {secs} s, more than the \
                             {} s honoured",
                            MAX_RETRY_AFTER.as_secs()
                        )
                    }
                    _ => error,
                };
                break (false, Some(error));
            };
            if !wait(delay) {
                break (false, Some(format!("{error}; not retried: webhooks are stopping")));
            }
        };
        DeliveryReport {
            event: n.event.clone(),
            folder: n.folder.clone(),
            url: self.redacted_url(),
            format: self.format,
            ok,
            status,
            attempts,
            error,
            duration_sec: started.elapsed().as_secs_f64(),
        }
    }

    /// Makes one request; returns what came back and, for a failure, why (redacted).
    fn attempt(
        &self,
        client: &Client,
        n: &Notification,
        body: &[u8],
        timeout: Duration,
    ) -> (Attempt, String) {
        let mut request = client
            .inner
            .post(self.url.clone())
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if self.format == Format::Generic {
            request = request.header(EVENT_HEADER, &n.event);
            if let Some(secret) = &self.secret {
                request = request.header(SIGNATURE_HEADER, sign(secret, body));
            }
        }
        match request.send() {
            Ok(response) => {
                let status = response.status();
                let header = |name| {
                    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
                };
                let retry_after =
                    header(reqwest::header::RETRY_AFTER).and_then(|v| v.trim().parse().ok());
                let location = header(reqwest::header::LOCATION);
                let mut snippet = Vec::new();
                if !status.is_success() {
                    let _ = response.take(MAX_RESPONSE_SNIPPET as u64).read_to_end(&mut snippet);
                }
                let mut error = format!("HTTP {status}");
                if status.is_redirection() {
                    let target = location.as_deref().map(redact_webhook_url);
                    error.push_str(&format!(
                        " redirect to {}: redirects are not followed",
                        target.as_deref().unwrap_or("nowhere")
                    ));
                } else if !snippet.is_empty() {
                    let text = String::from_utf8_lossy(&snippet);
                    error.push_str(&format!(": {}", text.trim()));
                }
                (Attempt::Answered { status: status.as_u16(), retry_after }, self.scrub(&error))
            }
            Err(err) => {
                let retryable = !err.is_builder();
                let mut message = if err.is_timeout() {
                    format!("no answer within {} s", timeout.as_secs_f64())
                } else if err.is_connect() {
                    "cannot connect".to_string()
                } else {
                    "request failed".to_string()
                };
                let err = err.without_url();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                (Attempt::Failed { retryable }, self.scrub(&message))
            }
        }
    }

    /// Replaces the URL in `text` with its redacted form (an error may quote it).
    fn scrub(&self, text: &str) -> String {
        let raw = self.url.as_str();
        let text = text.replace(raw, &self.redacted_url());
        let path = self.url.path();
        if path.len() > 1 {
            text.replace(path, "/***")
        } else {
            text
        }
    }
}

/// The HTTP client webhooks are sent with: redirects off, one user agent. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::blocking::Client,
}

impl Client {
    /// Creates the client.
    pub fn new() -> Result<Client> {
        let inner = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::Invalid(format!("cannot create the webhook HTTP client: {e}")))?;
        Ok(Client { inner })
    }
}

/// Sends a sample `event` (one of [`EVENT_TYPES`]) about `folder` to `url`, or to every URL of
/// `settings`, and returns one report per URL (`webhook test`).
///
/// The filter and `enabled` are ignored: the user asked for this event now. Retries wait in real
/// time. Fails before sending anything when the event is unknown, a URL is not allowed, or there
/// is no URL at all.
pub fn send_test(
    settings: &WebhookSettings,
    folder: &str,
    event: &str,
    url: Option<&str>,
    device: &str,
) -> Result<Vec<DeliveryReport>> {
    let n = Notification::sample(event, folder, device, Utc::now())?;
    let endpoints = match url {
        Some(url) => vec![Endpoint::new(url, settings, "--url", Path::new("command line"))?],
        None => {
            let source = if folder.is_empty() { Path::new("defaults") } else { Path::new(folder) };
            Endpoint::all(settings, source)?
        }
    };
    if endpoints.is_empty() {
        return Err(Error::Invalid(format!(
            "no webhook URL configured{}; set webhooks.urls or pass --url URL",
            if folder.is_empty() { String::new() } else { format!(" for {folder}") }
        )));
    }
    let client = Client::new()?;
    let mut sleep = |delay: Duration| {
        std::thread::sleep(delay);
        true
    };
    Ok(endpoints.iter().map(|e| e.deliver(&client, &n, &mut sleep)).collect())
}

/// Delivery figures of a running dispatcher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Jobs put on the queue.
    pub queued: u64,
    /// Deliveries the endpoint accepted.
    pub delivered: u64,
    /// Deliveries that failed after their attempts.
    pub failed: u64,
    /// Jobs dropped unsent: oldest ones when the queue was full, and the ones left when the
    /// flush after a stop ran out of time.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Shared between the handle and the delivery thread.
#[derive(Debug, Default)]
struct Shared {
    counters: Counters,
    /// Set when the handle is dropped: queued jobs get one attempt each until then.
    flush_deadline: OnceLock<Instant>,
}

/// The running webhook dispatcher; dropping it stops it (see [`FLUSH_TIMEOUT`]).
#[derive(Debug)]
pub struct WebhookHandle {
    /// Dropping it tells both threads to stop.
    stop: Option<Sender<()>>,
    intake: Option<JoinHandle<()>>,
    delivery: Option<JoinHandle<()>>,
    /// Disconnected when the delivery thread has finished.
    finished: Receiver<()>,
    shared: Arc<Shared>,
    /// Each folder's route; replaced as a whole by [`WebhookHandle::set_folders`].
    routes: Routes,
    /// What starting the threads later needs, while no folder has webhooks.
    idle: Option<Idle>,
}

type Routes = Arc<std::sync::RwLock<HashMap<String, Route>>>;

/// A handle with no webhook enabled runs no thread and holds no subscription; it keeps what
/// it needs to start when a folder enables webhooks.
#[derive(Debug)]
struct Idle {
    bus: EventBus,
    device_name: String,
    history_path: PathBuf,
}

impl WebhookHandle {
    /// Returns the delivery figures so far.
    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        Counts {
            queued: c.queued.load(Ordering::SeqCst),
            delivered: c.delivered.load(Ordering::SeqCst),
            failed: c.failed.load(Ordering::SeqCst),
            dropped: c.dropped.load(Ordering::SeqCst),
        }
    }

    /// Returns whether any folder has webhooks enabled (else no thread runs).
    pub fn is_active(&self) -> bool {
        self.intake.is_some()
    }

    /// Replaces every folder's webhook settings (the configuration changed while running):
    /// later events go by the new routes; deliveries already queued go on. Invalid settings
    /// are refused as a whole, naming the key, and the previous routes stay.
    pub fn set_folders(&mut self, folders: Vec<(String, WebhookSettings)>) -> Result<()> {
        let routes = build_routes(&folders)?;
        let any = !routes.is_empty();
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
        if any && self.intake.is_none() {
            if let Some(idle) = self.idle.take() {
                let started = spawn(idle, Arc::clone(&self.routes), Arc::clone(&self.shared))?;
                self.stop = Some(started.stop);
                self.intake = Some(started.intake);
                self.delivery = Some(started.delivery);
                self.finished = started.finished;
            }
        }
        Ok(())
    }
}

impl Drop for WebhookHandle {
    fn drop(&mut self) {
        let _ = self.shared.flush_deadline.set(Instant::now() + FLUSH_TIMEOUT);
        drop(self.stop.take());
        if let Some(intake) = self.intake.take() {
            let _ = intake.join();
        }
        let Some(delivery) = self.delivery.take() else { return };
        match self.finished.recv_timeout(FLUSH_TIMEOUT + FLUSH_GRACE) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                let _ = delivery.join();
            }
            Err(RecvTimeoutError::Timeout) => tracing::warn!(
                "webhooks: an endpoint is still not answering after the {} s flush; leaving \
                 its delivery behind",
                FLUSH_TIMEOUT.as_secs()
            ),
        }
    }
}

/// One delivery to make.
#[derive(Debug)]
struct Job {
    endpoint: Arc<Endpoint>,
    notification: Arc<Notification>,
}

/// What one folder's webhooks want.
#[derive(Debug)]
struct Route {
    filter: Vec<String>,
    endpoints: Vec<Arc<Endpoint>>,
}

/// Starts the dispatcher: events on `bus` about the `folders` (path and settings) are delivered
/// to their URLs; every delivery is recorded in the history database at `history_path`.
/// [`WebhookHandle::set_folders`] replaces the settings while it runs.
///
/// Fails before starting anything when a folder's settings are invalid ([`check_settings`]; the
/// error names the key, such as `webhooks.urls[1]`), or when the history or the HTTP client
/// cannot be opened. With no folder enabled, returns an idle handle (no thread, no
/// subscription) that starts when a folder enables webhooks.
pub fn start(
    folders: Vec<(String, WebhookSettings)>,
    device_name: String,
    bus: &EventBus,
    history_path: PathBuf,
) -> Result<WebhookHandle> {
    let routes: Routes = Arc::new(std::sync::RwLock::new(build_routes(&folders)?));
    let shared = Arc::new(Shared::default());
    let idle = Idle { bus: bus.clone(), device_name, history_path };
    if routes.read().unwrap_or_else(|e| e.into_inner()).is_empty() {
        // No thread: a stop with no listener, a "finished" that is already disconnected.
        let (stop, _) = crossbeam_channel::bounded::<()>(0);
        let (_, finished) = crossbeam_channel::bounded::<()>(0);
        return Ok(WebhookHandle {
            stop: Some(stop),
            intake: None,
            delivery: None,
            finished,
            shared,
            routes,
            idle: Some(idle),
        });
    }
    let started = spawn(idle, Arc::clone(&routes), Arc::clone(&shared))?;
    Ok(WebhookHandle {
        stop: Some(started.stop),
        intake: Some(started.intake),
        delivery: Some(started.delivery),
        finished: started.finished,
        shared,
        routes,
        idle: None,
    })
}

/// Returns each folder's webhook settings, keyed as events name folders (for [`start`] and
/// [`WebhookHandle::set_folders`]).
pub fn folder_settings(folders: &[crate::config::FolderConfig]) -> Vec<(String, WebhookSettings)> {
    folders.iter().map(|f| (f.path.display().to_string(), f.settings.webhooks.clone())).collect()
}

/// Checks every folder's settings and builds the routes of those with webhooks enabled.
fn build_routes(folders: &[(String, WebhookSettings)]) -> Result<HashMap<String, Route>> {
    let mut routes = HashMap::new();
    for (folder, settings) in folders {
        let endpoints = Endpoint::all(settings, Path::new(folder))?;
        if settings.enabled && !endpoints.is_empty() {
            let endpoints = endpoints.into_iter().map(Arc::new).collect();
            routes.insert(folder.clone(), Route { filter: settings.events.clone(), endpoints });
        }
    }
    Ok(routes)
}

/// The threads of a started dispatcher.
struct Started {
    stop: Sender<()>,
    intake: JoinHandle<()>,
    delivery: JoinHandle<()>,
    finished: Receiver<()>,
}

/// Subscribes to the bus and starts the intake and delivery threads.
fn spawn(idle: Idle, routes: Routes, shared: Arc<Shared>) -> Result<Started> {
    let Idle { bus, device_name, history_path } = idle;
    let history = History::open(&history_path)?;
    let client = Client::new()?;
    let events = bus.subscribe();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
    let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(QUEUE_CAPACITY);
    let intake = {
        let (stop, shared, jobs_rx) = (stop_rx.clone(), Arc::clone(&shared), jobs_rx.clone());
        std::thread::Builder::new()
            .name("webhook-intake".into())
            .spawn(move || {
                intake_loop(&events, &stop, &routes, &device_name, &jobs_tx, &jobs_rx, &shared)
            })
            .map_err(|e| Error::Invalid(format!("cannot start the webhook thread: {e}")))?
    };
    let delivery = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("webhook-delivery".into())
            .spawn(move || {
                let _finished = finished_tx;
                delivery_loop(&jobs_rx, &stop_rx, &client, &history, &shared);
            })
            .map_err(|e| Error::Invalid(format!("cannot start the webhook thread: {e}")))?
    };
    Ok(Started { stop: stop_tx, intake, delivery, finished })
}

/// Turns events into jobs until the handle stops (taking what is already on the bus) or the bus
/// is gone.
fn intake_loop(
    events: &Receiver<Event>,
    stop: &Receiver<()>,
    routes: &Routes,
    device: &str,
    jobs: &Sender<Job>,
    oldest: &Receiver<Job>,
    shared: &Shared,
) {
    let enqueue = |event: Event| {
        let (name, endpoints) = {
            let routes = routes.read().unwrap_or_else(|e| e.into_inner());
            let Some(route) = routes.get(event.folder()) else { return };
            let Some(name) = event_name(&event, &route.filter) else { return };
            (name, route.endpoints.clone())
        };
        let notification = Arc::new(Notification::from_event(&event, name, device, Utc::now()));
        for endpoint in &endpoints {
            let mut job =
                Job { endpoint: Arc::clone(endpoint), notification: notification.clone() };
            loop {
                match jobs.try_send(job) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        job = back;
                        if let Ok(old) = oldest.try_recv() {
                            let dropped = shared.counters.dropped.fetch_add(1, Ordering::SeqCst);
                            if dropped.is_multiple_of(100) {
                                tracing::warn!(
                                    "webhooks: queue full ({QUEUE_CAPACITY}); dropped the oldest \
                                     ({} to {}), {} dropped so far",
                                    old.notification.event,
                                    old.endpoint.redacted_url(),
                                    dropped + 1
                                );
                            }
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            shared.counters.queued.fetch_add(1, Ordering::SeqCst);
        }
    };
    loop {
        crossbeam_channel::select! {
            recv(events) -> event => match event {
                Ok(event) => enqueue(event),
                Err(_) => return,
            },
            recv(stop) -> _ => {
                events.try_iter().for_each(enqueue);
                return;
            }
        }
    }
}

/// Delivers jobs until the queue is closed and empty; after a stop, each job gets one attempt
/// until the flush deadline and the rest are dropped.
fn delivery_loop(
    jobs: &Receiver<Job>,
    stop: &Receiver<()>,
    client: &Client,
    history: &History,
    shared: &Shared,
) {
    let counters = &shared.counters;
    // Returns false at once when the handle is dropped, else after `delay`.
    let mut wait =
        |delay: Duration| matches!(stop.recv_timeout(delay), Err(RecvTimeoutError::Timeout));
    let mut abandoned = 0u64;
    for job in jobs.iter() {
        let report = match shared.flush_deadline.get() {
            None => job.endpoint.deliver(client, &job.notification, &mut wait),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    abandoned += 1;
                    counters.dropped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let timeout = left.min(job.endpoint.timeout);
                job.endpoint.deliver_with(client, &job.notification, 0, timeout, &mut |_| false)
            }
        };
        let counter = if report.ok { &counters.delivered } else { &counters.failed };
        counter.fetch_add(1, Ordering::SeqCst);
        if report.ok {
            tracing::debug!("webhook {}", report.summary());
        } else {
            tracing::warn!("webhook {}", report.summary());
        }
        if let Err(e) = history.record(&history_row(&report, Utc::now())) {
            tracing::warn!("webhooks: cannot record a delivery in history: {e}");
        }
    }
    if abandoned > 0 {
        tracing::warn!("webhooks: {abandoned} delivery(ies) dropped: the flush at stop ran out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-04T10:30:00Z").unwrap().with_timezone(&Utc)
    }

    fn success() -> Event {
        Event::SyncSuccess {
            folder: "/srv/notes".into(),
            duration_sec: 2.344,
            files_changed: 8,
            commit: Some("abc123def4567890".into()),
            pulled: false,
            pushed: true,
        }
    }

    fn failure(class: FailureClass) -> Event {
        Event::SyncFailure {
            folder: "/srv/notes".into(),
            error: "push failed".into(),
            code: "remote_needs_attention".into(),
            class,
            retry_in_sec: None,
        }
    }

    #[test]
    fn the_format_follows_the_host_unless_forced() {
        let slack = "https://hooks.slack.com/services/T0/B0/XYZ";
        assert_eq!(format_for(slack, Format::Auto), Format::Slack);
        assert_eq!(
            format_for("https://discord.com/api/webhooks/1/abc", Format::Auto),
            Format::Discord
        );
        assert_eq!(
            format_for("https://discordapp.com/api/webhooks/1/abc", Format::Auto),
            Format::Discord
        );
        assert_eq!(
            format_for("https://discord.com/channels/1", Format::Auto),
            Format::Generic,
            "only the webhook path of Discord is a Discord webhook"
        );
        assert_eq!(
            format_for("https://evil-hooks.slack.com.example/x", Format::Auto),
            Format::Generic
        );
        assert_eq!(format_for("https://example.com/hook", Format::Auto), Format::Generic);
        assert_eq!(format_for("http://127.0.0.1:9/services/x", Format::Slack), Format::Slack);
    }

    #[test]
    fn plain_http_is_allowed_only_to_loopback_hosts() {
        for ok in [
            "https://example.com/hook",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/hook",
            "http://[::1]:9/hook",
            "http://localhost/hook",
        ] {
            assert!(check_url(ok).is_ok(), "{ok} is https or loopback: {:?}", check_url(ok));
        }
        for bad in ["http://example.com/k3y", "http://10.0.0.1/k3y", "ftp://example.com/k3y", "k3y"]
        {
            let err = check_url(bad).expect_err(bad);
            assert!(!err.contains("k3y"), "the URL's secret path is not shown: {err}");
        }
    }

    #[test]
    fn a_bad_url_is_a_config_error_naming_the_key() {
        let settings = WebhookSettings {
            urls: vec!["https://ok.example/a".into(), "http://hooks.example/s3cret".into()],
            ..Default::default()
        };
        let err = check_settings(&settings, Path::new("/srv/notes")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("webhooks.urls[1]"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "the secret stays out: {err}");
        let settings = WebhookSettings { events: vec!["sync_sucess".into()], ..Default::default() };
        let err = check_settings(&settings, Path::new("/srv/notes")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("webhooks.events[0]"), "a typo is caught: {err}");
    }

    #[test]
    fn needs_attention_is_sent_once_under_its_most_specific_subscribed_name() {
        let both = vec!["sync_failure".to_string(), "needs_attention".to_string()];
        let attention = failure(FailureClass::NeedsAttention);
        assert_eq!(event_name(&attention, &both), Some(NEEDS_ATTENTION));
        assert_eq!(event_name(&attention, &["sync_failure".into()]), Some("sync_failure"));
        assert_eq!(
            event_name(&failure(FailureClass::Transient), &["needs_attention".into()]),
            None
        );
        let start = Event::SyncStart { folder: "/f".into(), trigger: "poll".into() };
        assert_eq!(event_name(&start, &[]), None, "sync_start is not a default event");
        assert_eq!(event_name(&start, &["sync_start".into()]), Some("sync_start"));
        assert_eq!(event_name(&success(), &[]), Some("sync_success"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_ends_with_the_retries() {
        let err = Attempt::Answered { status: 500, retry_after: None };
        let delays: Vec<_> = (1..=4).map(|n| next_delay(&err, n, 3)).collect();
        assert_eq!(
            delays,
            [Some(BACKOFF_INITIAL), Some(BACKOFF_INITIAL * 2), Some(BACKOFF_INITIAL * 4), None]
        );
        assert_eq!(next_delay(&err, 20, 30), Some(BACKOFF_MAX), "the wait is capped");
        let down = Attempt::Failed { retryable: true };
        assert_eq!(next_delay(&down, 1, 3), Some(BACKOFF_INITIAL), "network errors are retried");
        assert_eq!(next_delay(&Attempt::Failed { retryable: false }, 1, 3), None);
    }

    #[test]
    fn retry_after_is_honoured_redirects_and_client_errors_are_final() {
        let limited = Attempt::Answered { status: 429, retry_after: Some(7) };
        assert_eq!(next_delay(&limited, 1, 3), Some(Duration::from_secs(7)));
        let too_long = Attempt::Answered { status: 429, retry_after: Some(3600) };
        assert_eq!(next_delay(&too_long, 1, 3), None, "an hour would stall every other delivery");
        for status in [302, 301, 400, 401, 404] {
            let a = Attempt::Answered { status, retry_after: None };
            assert_eq!(next_delay(&a, 1, 3), None, "HTTP {status} is not retried");
        }
        assert!(Attempt::Answered { status: 204, retry_after: None }.succeeded());
    }

    #[test]
    fn slack_text_reads_like_the_seed_and_escapes_markup() {
        let mut event = success();
        if let Event::SyncSuccess { folder, .. } = &mut event {
            *folder = "/srv/<!channel> & co".into();
        }
        let n = Notification::from_event(&event, "sync_success", "laptop", at());
        let body: Value = serde_json::from_slice(&render(Format::Slack, &n)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "✅ Sync Successful\nDuration: 2.34s\nFiles Changed: 8\nCommit: abc123de\n"
            ),
            "the seed's message: {text}"
        );
        assert!(text.contains("Folder: /srv/&lt;!channel&gt; &amp; co"), "escaped: {text}");
        assert_eq!(body["blocks"][0]["type"], "section");
        assert!(body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("*✅ Sync Successful*"));
    }

    #[test]
    fn discord_gets_content_one_embed_and_no_mentions() {
        let n =
            Notification::from_event(&failure(FailureClass::Transient), "sync_failure", "pc", at());
        let body: Value = serde_json::from_slice(&render(Format::Discord, &n)).unwrap();
        assert_eq!(body["content"], "❌ Sync Failed");
        assert_eq!(body["embeds"].as_array().unwrap().len(), 1);
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }), "nobody gets pinged");
        assert_eq!(body["embeds"][0]["timestamp"], "2025-11-04T10:30:00Z");
        assert_eq!(
            body["embeds"][0]["fields"][0],
            json!({"name": "Error", "value": "push failed", "inline": false})
        );
    }

    #[test]
    fn generic_body_is_the_envelope_with_seed_field_names() {
        let n = Notification::from_event(&success(), "sync_success", "laptop", at());
        let body: Value = serde_json::from_slice(&render(Format::Generic, &n)).unwrap();
        assert_eq!(body["event"], "sync_success");
        assert_eq!(body["folder"], "/srv/notes");
        assert_eq!(body["device"], "laptop");
        assert_eq!(body["time"], "2025-11-04T10:30:00Z");
        assert_eq!(body["data"]["files_changed"], 8);
        assert_eq!(body["data"]["commit_hash"], "abc123def4567890");
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn long_details_are_cut_to_fit_chat_limits() {
        let mut event = failure(FailureClass::Transient);
        if let Event::SyncFailure { error, .. } = &mut event {
            *error = "x".repeat(5000);
        }
        let n = Notification::from_event(&event, "sync_failure", "pc", at());
        let m = message(&n);
        let error = &m.fields[0].1;
        assert_eq!(error.chars().count(), MAX_FIELD_CHARS, "Discord refuses values over 1024");
        assert!(error.ends_with('…'));
    }

    #[test]
    fn a_sample_exists_for_every_event_and_is_marked_as_a_test() {
        for event in EVENT_TYPES {
            let n = Notification::sample(event, "/f", "pc", at()).unwrap();
            assert_eq!(n.data["test"], true, "{event}");
            assert!(message(&n).title.ends_with("(test)"), "{event}");
        }
        assert!(Notification::sample("nope", "/f", "pc", at()).is_err());
    }

    #[test]
    fn endpoints_never_show_their_url_or_secret() {
        let settings = WebhookSettings {
            urls: vec!["https://hooks.slack.com/services/T/B/s3cret".into()],
            secret: Some("hush".into()),
            ..Default::default()
        };
        let e = &Endpoint::all(&settings, Path::new("/f")).unwrap()[0];
        let shown = format!("{e:?} {}", e.redacted_url());
        assert!(!shown.contains("s3cret") && !shown.contains("hush"), "{shown}");
        assert_eq!(e.format(), Format::Slack);
    }
}
