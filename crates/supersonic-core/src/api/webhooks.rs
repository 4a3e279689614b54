//! Webhook tests: a sample event sent to a folder's webhooks (or to a URL being set up),
//! recorded in history like any delivery.

use std::path::Path;

use super::Api;
use crate::config;
use crate::history::History;
use crate::{Error, Result};

impl Api {
    /// Sends a sample `event` to the webhooks of the folder at `folder` (or of the only folder),
    /// or to `url` with that folder's format, secret, timeout and retries; records each delivery
    /// in history and returns one report per URL.
    ///
    /// With `url` and no folder to take settings from, the app config's `defaults:` apply.
    pub fn webhook_test(
        &self,
        folder: Option<&Path>,
        event: &str,
        url: Option<&str>,
    ) -> Result<Vec<crate::webhooks::DeliveryReport>> {
        let (app, folders) = self.load()?;
        let device = self.device(&app)?;
        let (label, settings) = match (folder, folders.as_slice(), url) {
            (Some(p), _, _) => {
                let cfg = self.find_folder(&folders, p)?;
                (cfg.path.display().to_string(), cfg.settings.webhooks.clone())
            }
            (None, [only], _) => (only.path.display().to_string(), only.settings.webhooks.clone()),
            (None, _, Some(_)) => {
                let defaults: config::FolderSettings = match &app.defaults {
                    serde_yaml::Value::Null => Default::default(),
                    value => serde_yaml::from_value(value.clone())
                        .map_err(|e| Error::Invalid(format!("defaults: {e}")))?,
                };
                (String::new(), defaults.webhooks)
            }
            (None, [], None) => {
                return Err(Error::Invalid(
                    "no folders configured: pass --url URL, or add a folder with webhooks".into(),
                ))
            }
            (None, _, None) => {
                return Err(Error::Invalid(
                    "several folders are configured; say which with --folder, or pass --url".into(),
                ))
            }
        };
        let reports = crate::webhooks::send_test(&settings, &label, event, url, &device.name)?;
        match History::open(&self.history_path()) {
            Ok(h) => {
                for report in &reports {
                    let row = crate::webhooks::history_row(report, chrono::Utc::now());
                    if let Err(e) = h.record(&row) {
                        tracing::warn!("cannot record a webhook test in history: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("cannot record webhook tests in history: {e}"),
        }
        Ok(reports)
    }
}
