//! The app config file (`config.yaml`: this device, `defaults:`, the folder entries, the HTTP
//! API) and a folder's fully resolved configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::{redact_url, redact_webhook_url, FolderSettings, Mode};

/// One folder entry of the app config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderEntry {
    /// Absolute path of the synced folder.
    pub path: PathBuf,
    /// Remote URL (any URL the system git understands, or a path).
    pub remote: String,
    /// Branch synced.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Sync mode.
    #[serde(default)]
    pub mode: Mode,
    /// Whether the folder is paused.
    #[serde(default)]
    pub paused: bool,
    /// Device-local overrides (same keys as `.supersonic-sync.conf`).
    #[serde(flatten)]
    pub overrides: BTreeMap<String, Value>,
}

fn default_branch() -> String {
    "main".to_string()
}

/// Device identity settings of the app config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// Human-readable device name (default: the host name).
    pub name: Option<String>,
}

/// The app config file (`config.yaml` in the config dir).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// This device.
    pub device: DeviceSettings,
    /// Settings applied to every folder unless a folder says otherwise.
    pub defaults: Value,
    /// The synced folders.
    pub folders: Vec<FolderEntry>,
    /// The local HTTP API (crate `supersonic-http`).
    #[serde(skip_serializing_if = "HttpSettings::is_default")]
    pub http: HttpSettings,
}

/// Port of the local HTTP API unless configured: next to Syncthing's GUI (8384), not on it, since
/// the people who sync folders often run both.
pub const DEFAULT_HTTP_PORT: u16 = 8385;

/// The app config's `http:` section: the local HTTP API that serves the web UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Whether `supersonic run` serves the API too (`supersonic serve` always does).
    pub enabled: bool,
    /// Port on 127.0.0.1; 0 lets the system pick a free one.
    pub port: u16,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { enabled: false, port: DEFAULT_HTTP_PORT }
    }
}

impl HttpSettings {
    fn is_default(&self) -> bool {
        *self == HttpSettings::default()
    }
}

/// A folder's fully resolved configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FolderConfig {
    /// Absolute path of the folder.
    pub path: PathBuf,
    /// Remote URL.
    pub remote: String,
    /// Branch synced.
    pub branch: String,
    /// Sync mode.
    pub mode: Mode,
    /// Whether the folder is paused.
    pub paused: bool,
    /// The merged settings.
    #[serde(flatten)]
    pub settings: FolderSettings,
}

impl FolderConfig {
    /// Returns a copy safe to show: credentials in URLs and webhook secrets redacted.
    pub fn redacted(&self) -> FolderConfig {
        let mut out = self.clone();
        out.remote = redact_url(&out.remote);
        let hooks = &mut out.settings.webhooks;
        hooks.urls = hooks.urls.iter().map(|u| redact_webhook_url(u)).collect();
        if hooks.secret.is_some() {
            hooks.secret = Some("***".to_string());
        }
        out
    }

    /// Returns the size limit in bytes.
    pub fn max_file_size(&self) -> u64 {
        self.settings.sync.max_file_size_mb.saturating_mul(1024 * 1024)
    }
}
