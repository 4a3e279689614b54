//! Delivery of one notification to one endpoint: up to `1 + retries` attempts with exponential
//! backoff or the server's `Retry-After`, redirects never followed, errors scrubbed of the URL;
//! the [`DeliveryReport`] it ends with, and `webhook test`.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{render, sign, Endpoint, Notification, SIGNATURE_HEADER};
use crate::config::{redact_webhook_url, Format, WebhookSettings};
use crate::history::HistoryEvent;
use crate::{Error, Result};

/// Wait before the first retry; it doubles per retry. Long enough for a restarting endpoint or
/// a load balancer to recover, short enough that the message is still timely.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);

/// Longest wait between two attempts. One delivery thread serves every endpoint, so a longer
/// wait would hold back other folders' messages behind one dead URL.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Longest `Retry-After` honoured. A server asking for more ends the delivery (reported as
/// failed) rather than stalling every other delivery for that long, or retrying before it said.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Most bytes of an error response's body quoted in the delivery's error message.
const MAX_RESPONSE_SNIPPET: usize = 200;

/// Header naming the event of a generic webhook, so a receiver can route before parsing.
pub const EVENT_HEADER: &str = "X-Supersonic-Event";

/// User agent of every webhook request.
const USER_AGENT: &str = concat!("supersonic-sync/", env!("CARGO_PKG_VERSION"));

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

/// Returns the history row of a delivery (event type [`WEBHOOK`](super::WEBHOOK)), stamped `now`.
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

impl Endpoint {
    /// which returns false to abandon the delivery (the dispatcher is stopping).
    pub fn deliver(
        &self,
        client: &Client,
        n: &Notification,
        wait: &mut dyn FnMut(Duration) -> bool,
    ) -> DeliveryReport {
        self.deliver_with(client, n, self.retries, self.timeout, wait)
    }

    pub(super) fn deliver_with(
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

/// Sends a sample `event` (one of [`EVENT_TYPES`](super::EVENT_TYPES)) about `folder` to `url`, or to every URL of
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
