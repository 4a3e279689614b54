//! Engine events as Server-Sent Events (`GET /api/events`).
//!
//! One bridge thread subscribes to the engine's crossbeam [`EventBus`] when the server starts and
//! forwards every event into a tokio broadcast channel; each SSE client subscribes to that
//! channel. So the engine never waits for a browser, a client that connects and leaves costs
//! nothing on the bus, and a client that falls [`CHANNEL_CAPACITY`] events behind is told
//! (`event: lagged`) to refetch instead of slowing anyone down.
//!
//! The stream opens with `event: ready` (so a client knows it is subscribed), then sends each
//! engine event as `event: <kind>` (`sync_start`, `sync_success`, `conflict_detected`, ...) with
//! the event as JSON in `data:`, plus a keep-alive comment every [`KEEP_ALIVE`].

use std::convert::Infallible;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use supersonic_core::events::{Event, EventBus};
use tokio::sync::broadcast;

use crate::AppState;

/// Path of the SSE stream (the one route that also takes `?token=`).
pub(crate) const EVENTS_PATH: &str = "/api/events";

/// Events a slow client may fall behind before it gets `event: lagged`: a burst of a few hundred
/// folders' state changes fits; a client stalled for longer refetches instead.
const CHANNEL_CAPACITY: usize = 1024;

/// Interval of keep-alive comments: below the idle timeouts of browsers and proxies (~30-60 s),
/// and often enough that a dead connection is noticed within a quarter minute.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The bridge thread; stops when dropped.
#[derive(Debug)]
pub(crate) struct Bridge {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Subscribes to `bus` now and forwards its events into a broadcast channel on a thread.
pub(crate) fn bridge(bus: &EventBus) -> std::io::Result<(broadcast::Sender<Event>, Bridge)> {
    let events = bus.subscribe();
    let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let forward = tx.clone();
    let thread =
        std::thread::Builder::new().name("supersonic-http-events".into()).spawn(move || loop {
            crossbeam_channel::select! {
                recv(events) -> event => match event {
                    // No subscriber right now is fine: the event is simply not streamed.
                    Ok(event) => { let _ = forward.send(event); }
                    Err(_) => break,
                },
                recv(stopped) -> _ => break,
            }
        })?;
    Ok((tx, Bridge { stop: Some(stop), thread: Some(thread) }))
}

/// `GET /api/events`: the SSE stream.
pub(crate) async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let ready = SseEvent::default().event("ready").data("{}");
    let live = stream::unfold(
        (state.events.subscribe(), state.shutdown.clone()),
        |(mut events, mut shutdown)| async move {
            let received = tokio::select! {
                received = events.recv() => received,
                _ = shutdown.changed() => return None,
            };
            let sse = match received {
                Ok(event) => to_sse(&event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    SseEvent::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(sse), (events, shutdown)))
        },
    );
    Sse::new(stream::once(async { Ok(ready) }).chain(live))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn to_sse(event: &Event) -> SseEvent {
    let json = serde_json::to_value(event).unwrap_or_default();
    let kind = json.get("kind").and_then(|k| k.as_str()).unwrap_or("event").to_string();
    SseEvent::default().event(kind).data(json.to_string())
}
