//! The settings types a folder can carry (`.supersonic-sync.conf`, `defaults:` or its entry in
//! the app config), one struct per section, with the built-in defaults. The config owns these
//! types; `webhooks`, `notifications` and `conflicts` read them.

use serde::{Deserialize, Serialize};

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

/// How a conflicting file is resolved.
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
