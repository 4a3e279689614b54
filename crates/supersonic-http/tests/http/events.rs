//! Engine events over SSE.

use std::sync::mpsc;
use std::time::Instant;

use supersonic_core::events::{Event, EventBus, ProgressOp};

use crate::*;

#[test]
fn sse_delivers_a_sync_event_within_a_second_of_the_sync() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dev = Dev::new(&sb, &remote, "alpha");
    let bus = EventBus::default();
    // A direct subscriber stamps when the engine emits, so the SSE hop can be measured alone.
    let direct = bus.subscribe();
    let (emitted_tx, emitted) = mpsc::channel();
    std::thread::spawn(move || {
        for event in direct {
            let json = serde_json::to_value(&event).unwrap();
            if emitted_tx.send((json, Instant::now())).is_err() {
                break;
            }
        }
    });
    let engine = dev.api.start(bus.clone()).unwrap();
    let server = Server::start(&dev.api, Some(engine.control()), bus, None);

    let mut sse = SseStream::open(&server, &format!("/api/events?token={}", server.token));
    assert_eq!(sse.status, 200);
    assert!(sse.content_type.starts_with("text/event-stream"), "{}", sse.content_type);
    let (kind, _) = sse.next_event().expect("the stream opens");
    assert_eq!(kind, "ready", "the first event says the client is subscribed");
    let (tx, streamed) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some((kind, data)) = sse.next_event() {
            let json: serde_json::Value = serde_json::from_str(&data).unwrap();
            if tx.send((kind, json, Instant::now())).is_err() {
                break;
            }
        }
    });

    write(&dev.dir.join("todo.md"), "- milk\n");
    let called = Instant::now();
    let report = engine.control().sync_now(&dev.dir).unwrap();
    let returned = Instant::now();
    assert!(report.remote_step, "a manual sync reaches the remote: {report:?}");

    // The engine's own start-up and watcher cycles may come first; ours is the
    // `sync_success` that follows the `sync_start` of the manual trigger.
    let ours = |next: &mut dyn FnMut() -> (serde_json::Value, Instant)| {
        let mut manual = false;
        loop {
            let (json, at) = next();
            manual |= json["kind"] == "sync_start" && json["trigger"] == "manual";
            if manual && json["kind"] == "sync_success" {
                return (json, at);
            }
        }
    };
    let bound = Duration::from_secs(10);
    let (event, arrived) = ours(&mut || {
        let (kind, json, at) = streamed.recv_timeout(bound).expect("sync events reach the stream");
        assert_eq!(json["kind"], kind.as_str(), "the SSE event name is the event's kind");
        (json, at)
    });
    let (_, emitted_at) = ours(&mut || emitted.recv_timeout(bound).expect("the engine emits"));
    assert_eq!(event["folder"], dev.dir.display().to_string());
    let hop = arrived.saturating_duration_since(emitted_at);
    let after_return = arrived.saturating_duration_since(returned);
    println!(
        "SSE latency: sync_success reached the client {:.2} ms after the engine emitted it \
         ({:.2} ms after sync_now returned; the manual cycle took {:.1} ms)",
        hop.as_secs_f64() * 1000.0,
        after_return.as_secs_f64() * 1000.0,
        returned.duration_since(called).as_secs_f64() * 1000.0,
    );
    assert!(hop < Duration::from_secs(1), "streamed within a second of the event: {hop:?}");
    assert!(after_return < Duration::from_secs(1), "within a second of the sync: {after_return:?}");
    drop(server);
    engine.stop();
}

#[test]
fn stopping_the_server_ends_open_event_streams() {
    let f = Fixture::start();
    let mut sse = f.server.events();
    let started = Instant::now();
    f.server.handle.stop();
    assert!(sse.next_event().is_none(), "the stream ends with the server");
    assert!(started.elapsed() < Duration::from_secs(5), "stopping does not wait for clients");
}

#[test]
fn progress_events_reach_the_stream_under_their_kind() {
    let Fixture { sb: _sb, dev, bus, server } = Fixture::start();
    let mut sse = server.events();
    let folder = dev.dir.display().to_string();
    bus.emit(Event::Progress {
        folder: folder.clone(),
        operation: ProgressOp::Fetch,
        phase: "Receiving objects".into(),
        done: 3,
        total: Some(10),
        finished: false,
    });
    bus.emit(Event::Progress {
        folder: folder.clone(),
        operation: ProgressOp::Stage,
        phase: "staging".into(),
        done: 7,
        total: None,
        finished: true,
    });
    let (kind, data) = sse.next_event().expect("the first progress event");
    assert_eq!(kind, "progress", "the UI listens for `progress`");
    let json: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "progress", "folder": folder, "operation": "fetch",
            "phase": "Receiving objects", "done": 3, "total": 10, "finished": false}),
        "the wire shape ui/src/lib/types.ts mirrors"
    );
    let (_, data) = sse.next_event().expect("the last progress event");
    let json: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(json["operation"], "stage");
    assert!(json["total"].is_null(), "an unknown total is null: {json}");
    assert_eq!(json["finished"], true);
}

#[test]
fn freshness_alerts_reach_the_stream_as_stale_events() {
    let Fixture { sb: _sb, dev, bus, server } = Fixture::start();
    let mut sse = server.events();
    let folder = dev.dir.display().to_string();
    let message = "2 commit(s) have waited 3 h to be pushed";
    for cleared in [false, true] {
        bus.emit(Event::Stale {
            folder: folder.clone(),
            alert: "unpushed".into(),
            message: if cleared { String::new() } else { message.into() },
            cleared,
        });
    }
    let (kind, data) = sse.next_event().expect("the alert");
    assert_eq!(kind, "stale", "the UI listens for `stale` to refresh the folder's status");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"kind": "stale", "folder": folder, "alert": "unpushed",
            "message": message, "cleared": false}),
        "the wire shape ui/src/lib/types.ts mirrors"
    );
    let (kind, data) = sse.next_event().expect("the end of the alert");
    assert_eq!(kind, "stale");
    assert!(data.contains(r#""cleared":true"#), "{data}");
}
