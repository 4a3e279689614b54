//! Native notifications: the core's [`Notifier`] decides what, when and how often (failures after
//! a streak, needs-attention states, conflicts, recovery; coalesced per folder and kind); this
//! module only shows them over D-Bus with notify-rust, as the CLI daemon does. A missing session
//! bus or notification server is logged once and never stops syncing.

use std::time::Instant;

use crossbeam_channel::Receiver;
use supersonic_core::events::Event;
use supersonic_core::notifications::{NotificationSettings, Notifier};

/// Shows the notifications `events` call for, on a thread of its own, until the bus goes away.
pub fn start(settings: Vec<(String, NotificationSettings)>, events: Receiver<Event>) {
    let spawned = std::thread::Builder::new().name("supersonic-notify".into()).spawn(move || {
        let mut notifier = Notifier::new(settings);
        let mut warned = false;
        for event in events {
            let Some(n) = notifier.on_event(&event, Instant::now()) else { continue };
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
                Ok(_) => tracing::info!("notified: {}", n.title),
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
