//! Webhooks: the engine's events, posted to chat rooms and scripts over HTTP (seed 000's
//! webhook notifications).
//!
//! What it owns: choosing which events an endpoint hears (the `webhooks.events` filter), turning
//! an [`Event`](crate::events::Event) into a [`Notification`], rendering it in the endpoint's [`Format`] (Slack, Discord,
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
//!   [`redact_webhook_url`](crate::config::redact_webhook_url) form appears in logs, errors, reports and history.
//! - Plain `http://` is accepted only for loopback hosts (127.0.0.0/8, `::1`, `localhost`); any
//!   other plain-http URL is a configuration error naming the key `webhooks.urls[i]`.
//! - Chat messages cannot ping anyone: Slack markup characters are escaped and Discord gets
//!   `allowed_mentions: {"parse": []}`.
//! - Time is an input: [`Notification::from_event`] takes `now`, [`next_delay`] takes the
//!   attempt count, and [`Endpoint::deliver`] waits through the `wait` function it is given (the
//!   dispatcher's returns early when it stops; tests record the delays instead of sleeping).
//!
//! Files: `filter` (which events), `notification` (what is said), `payload` (the body per
//! format), `sign` (HMAC), `endpoint` (allowed URLs), `delivery` (attempts, retries, reports),
//! `dispatcher` (queue and threads). History rows are built by `history`.

mod delivery;
mod dispatcher;
mod endpoint;
mod filter;
mod notification;
mod payload;
mod sign;

#[cfg(test)]
mod fixtures;

use crate::config::WebhookSettings;

pub use crate::config::Format;
pub use delivery::{
    history_row, next_delay, send_test, Attempt, Client, DeliveryReport, BACKOFF_INITIAL,
    BACKOFF_MAX, EVENT_HEADER, MAX_RETRY_AFTER,
};
pub use dispatcher::{start, Counts, WebhookHandle, FLUSH_GRACE, FLUSH_TIMEOUT, QUEUE_CAPACITY};
pub use endpoint::{check_settings, check_url, Endpoint};
pub use filter::{event_name, DEFAULT_EVENTS, EVENT_TYPES, NEEDS_ATTENTION};
pub use notification::Notification;
pub use payload::{format_for, render, slack_escape, MAX_FIELD_CHARS};
pub use sign::{sign, SIGNATURE_HEADER};

/// History event type of a webhook delivery (one row per delivery, not per attempt).
pub use crate::history::WEBHOOK;

/// Returns each folder's webhook settings, keyed as events name folders (for [`start`] and
/// [`WebhookHandle::set_folders`]).
pub fn folder_settings(folders: &[crate::config::FolderConfig]) -> Vec<(String, WebhookSettings)> {
    folders.iter().map(|f| (f.path.display().to_string(), f.settings.webhooks.clone())).collect()
}
