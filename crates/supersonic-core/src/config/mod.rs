//! Configuration: the app config (YAML, in the config dir) that lists folders, the per-folder
//! `.supersonic-sync.conf` (the seed's keys: `git`, `sync`, `exclude_patterns`, `metrics`,
//! `webhooks`), and environment overrides.
//!
//! Layers, weakest first: built-in defaults, the app config's `defaults:`, the folder's own
//! `.supersonic-sync.conf` (it travels with the folder, so every device shares it), the folder's
//! entry in the app config (device-local), then environment variables. Each file is validated on
//! its own first, so an error names the file, the line and the key; only then are the layers
//! merged. Invalid config is always an error: the engine never silently falls back.
//!
//! The settings types are in `schema` (folder sections) and `app` (the app config file);
//! `load` reads, merges and applies the environment, through `yaml` (errors naming file, line
//! and key); `folder_conf` reads the folder's own file; `validate` checks what the types cannot;
//! URLs are made safe to show by [`crate::remote`].

mod app;
mod folder_conf;
mod load;
mod schema;
mod validate;
mod yaml;

pub use crate::error::ConfigError;
pub use crate::paths::{APP_CONFIG_FILE, FOLDER_CONFIG_FILE};
pub use crate::remote::{redact_url, redact_webhook_url};
pub use app::{
    AppConfig, DeviceSettings, FolderConfig, FolderEntry, HttpSettings, DEFAULT_HTTP_PORT,
};
pub use folder_conf::load_folder_file;
pub use load::{load_app_config, resolve_folder, save_app_config, ENV_OVERRIDES};
pub use schema::{
    ConflictRule, ConflictSettings, FolderSettings, Format, FreshnessSettings, GitSettings,
    MetricsSettings, Mode, NotificationSettings, Strategy, SyncSettings, WebhookSettings,
    DEFAULT_COMMAND_TIMEOUT_SEC, DEFAULT_FAILURE_THRESHOLD, DEFAULT_MIN_INTERVAL_SEC,
};
