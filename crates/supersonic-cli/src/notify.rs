//! Shows the engine's notifications on the desktop (freedesktop notifications over D-Bus, via
//! notify-rust) when the daemon runs inside a session. The decisions — what, when, how often —
//! are the core's [`Notifier`]; this module only delivers. A missing session bus or notification
//! server is logged once and never stops syncing.

use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use supersonic_core::events::Event;
use supersonic_core::notifications::{NotificationSettings, Notifier};

/// Starts the notification thread over `events`; `updates` replaces the folders' settings when
/// the configuration changes.
pub fn start(
    settings: Vec<(String, NotificationSettings)>,
    events: Receiver<Event>,
    updates: Receiver<Vec<(String, NotificationSettings)>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut notifier = Notifier::new(settings);
        let mut warned = false;
        while let Some(n) = notifier.next(&events, &updates) {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
                if !warned {
                    tracing::info!("no desktop session bus: notifications are off ({})", n.title);
                    warned = true;
                }
                continue;
            }
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
                .show();
            match shown {
                Ok(_) => tracing::debug!("notified: {}", n.title),
                Err(e) if !warned => {
                    tracing::warn!("cannot show notifications (no notification server?): {e}");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    })
}
