//! Native notifications: the core's [`Notifier`] decides what, when and how often (failures after
//! a streak, needs-attention states, conflicts, recovery; coalesced per folder and kind); this
//! module only shows them over D-Bus with notify-rust, as the CLI daemon does. A missing session
//! bus or notification server is logged once and never stops syncing.

use crossbeam_channel::Receiver;
use supersonic_core::events::Event;
use supersonic_core::notifications::{NotificationSettings, Notifier};

/// Shows the notifications `events` call for, on a thread of its own, until the bus goes away.
pub fn start(
    app: tauri::AppHandle,
    settings: Vec<(String, NotificationSettings)>,
    events: Receiver<Event>,
    updates: Receiver<Vec<(String, NotificationSettings)>>,
) {
    let spawned = std::thread::Builder::new().name("supersonic-notify".into()).spawn(move || {
        let mut notifier = Notifier::new(settings);
        let mut warned = false;
        while let Some(n) = notifier.next(&events, &updates) {
            let urgency = if n.urgent {
                notify_rust::Urgency::Critical
            } else {
                notify_rust::Urgency::Normal
            };
            let shown = notify_rust::Notification::new()
                .appname("Supersonic Sync")
                .summary(&n.title)
                .body(&n.body)
                .icon("dialog-information")
                .urgency(urgency)
                .hint(notify_rust::Hint::Custom("supersonic-page".into(), n.page.into()))
                .action("default", "Open")
                .show();
            match shown {
                Ok(handle) => {
                    tracing::info!("notified: {}", n.title);
                    on_click(&app, handle, n.page);
                }
                Err(e) if !warned => {
                    tracing::warn!("cannot show notifications (no notification server?): {e}");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("notifications are off: cannot start their thread: {e}");
    }
}

/// Opens `page` when the notification behind `handle` is clicked. The wait lasts as long as the
/// notification does (the server closes it when it expires or is dismissed), on a small thread
/// of its own; notifications are few (coalesced per folder and kind by the notifier).
fn on_click(app: &tauri::AppHandle, handle: notify_rust::NotificationHandle, page: &'static str) {
    let app = app.clone();
    let waiting =
        std::thread::Builder::new().name("supersonic-notify-click".into()).spawn(move || {
            handle.wait_for_action(|action| {
                if action == "default" {
                    tracing::info!("a notification was clicked: opening {page}");
                    crate::show_page(&app, Some(page));
                }
            })
        });
    if let Err(e) = waiting {
        tracing::debug!("cannot follow clicks on a notification: {e}");
    }
}
