//! What the engine's events feed outside it, per folder: webhook delivery and desktop
//! notifications. Their settings come from the same config as the engine's; [`follow`] keeps
//! them in step when the engine reloads it, for every face that runs an engine (the daemon and
//! the desktop app).

use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::config::FolderConfig;
use crate::notifications::{self, NotificationSettings};
use crate::webhooks::{self, WebhookHandle};

/// The running webhook dispatcher, shared with [`follow`]; taken (and so flushed) at exit.
pub type SharedWebhooks = Arc<Mutex<Option<WebhookHandle>>>;

/// Passes every reload's folder configs (from
/// [`EngineControl::subscribe_config`](crate::engine::EngineControl::subscribe_config)) on to
/// the notification thread (`notify`) and the webhook dispatcher, on a thread of its own that
/// ends with the engine. Settings that do not validate keep the previous ones, loudly.
pub fn follow(
    configs: Receiver<Vec<FolderConfig>>,
    notify: Sender<Vec<(String, NotificationSettings)>>,
    webhooks: SharedWebhooks,
) {
    let spawned = std::thread::Builder::new().name("supersonic-outlets".into()).spawn(move || {
        for folders in configs {
            let _ = notify.send(notifications::folder_settings(&folders));
            let mut webhooks = webhooks.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(handle) = webhooks.as_mut() {
                if let Err(e) = handle.set_folders(webhooks::folder_settings(&folders)) {
                    tracing::warn!("webhook settings not applied, keeping the previous ones: {e}");
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(
            "settings changes reach webhooks and notifications only after a restart: {e}"
        );
    }
}
