//! Engine events to the surfaces of the shell: each event goes to the webview as the Tauri event
//! [`SYNC_EVENT`] (payload: the engine `Event` JSON, the same objects as the HTTP face's SSE
//! `data:`, `progress` included), and the tray is refreshed once per burst of events that can
//! change what it shows. Progress alone does not: it comes several times a second during a long
//! fetch or push, and a refresh reads every folder's status.

use crossbeam_channel::Receiver;
use supersonic_core::events::Event;
use tauri::{AppHandle, Emitter};

use crate::{tray, Desk};

/// The Tauri event carrying engine events to the UI (`IPC_EVENT` in `ui/src/lib/api.ts`).
pub const SYNC_EVENT: &str = "sync://event";

/// Shows the current state in the tray, then forwards `events` on a thread of its own until the
/// event bus goes away with the app.
pub fn start(app: AppHandle, desk: Desk, events: Receiver<Event>) {
    std::thread::Builder::new()
        .name("supersonic-events".into())
        .spawn(move || {
            tray::refresh(&app, &desk);
            while let Ok(event) = events.recv() {
                forward(&app, &event);
                let mut stale = changes_tray(&event);
                // A burst (a cycle's start, commit, success) refreshes the tray once.
                for event in events.try_iter() {
                    forward(&app, &event);
                    stale |= changes_tray(&event);
                }
                if stale {
                    tray::refresh(&app, &desk);
                }
            }
        })
        .expect("cannot start the event thread");
}

/// Returns whether `event` may change what the tray shows (state, last sync, conflicts).
fn changes_tray(event: &Event) -> bool {
    !matches!(event, Event::Progress { .. })
}

fn forward(app: &AppHandle, event: &Event) {
    if let Err(e) = app.emit(SYNC_EVENT, event) {
        tracing::warn!("cannot send an engine event to the window: {e}");
    }
}
