//! The dispatcher: an intake thread turns bus events into jobs on a bounded queue (oldest
//! dropped when full), a delivery thread sends them one at a time and records each delivery in
//! history; the [`WebhookHandle`] flushes and stops both when dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;

use super::{event_name, history_row, Client, Endpoint, Notification};
use crate::config::WebhookSettings;
use crate::events::{Event, EventBus};
use crate::history::History;
use crate::{Error, Result};

/// Jobs waiting for delivery before the oldest is dropped. A job is a few kilobytes, so the
/// queue stays under a megabyte; 256 covers hours of a busy folder behind an endpoint that is
/// down, while a flood (a sync loop failing every second) cannot grow memory without bound.
pub const QUEUE_CAPACITY: usize = 256;

/// After a stop, how long queued jobs still get their one attempt each. Short, because a stop
/// is a user waiting for the daemon to exit; long enough for a few loopback or LAN posts.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Extra time the handle waits for the delivery thread beyond [`FLUSH_TIMEOUT`] before leaving
/// it behind (its last request may still be inside its own timeout).
pub const FLUSH_GRACE: Duration = Duration::from_millis(500);

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
/// Fails before starting anything when a folder's settings are invalid ([`check_settings`](super::check_settings); the
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
