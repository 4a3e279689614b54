//! Typed errors for the engine, with the context a user needs to act: which file, line, key,
//! folder or remote. Every error also knows its [`FailureClass`], which decides whether the engine
//! retries with backoff or stops the folder until the user acts. [`ConfigError`] lives here (and
//! is re-exported by `config`) so that errors depend on no other module of the engine but the
//! leaf that names libgit2's error type ([`crate::git::libgit`]).

use std::path::{Path, PathBuf};

use crate::git::libgit::{is_lock_contention, GitError};

/// Result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the engine reacts to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Network down, timeout, server error: retried with exponential backoff and jitter.
    Transient,
    /// Auth failed, host key changed, repo corrupt, disk full, bad remote: the folder stops, one
    /// notification, no retry loop until the user acts or the config changes.
    NeedsAttention,
}

/// A configuration error that names where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", location(*line, *column, key))]
pub struct ConfigError {
    /// The file (or `environment` for env overrides).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`sync.interval_sec`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn location(line: Option<usize>, column: Option<usize>, key: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
        if let Some(column) = column {
            out.push_str(&format!(":{column}"));
        }
    }
    if let Some(key) = key.as_deref().filter(|k| !k.is_empty() && *k != ".") {
        out.push_str(&format!(": key `{key}`"));
    }
    out
}

impl ConfigError {
    /// Builds an error about `file` (and `key`, when known) without a line or column.
    pub(crate) fn new(file: &Path, key: Option<&str>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file or value is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// An ignore rule could not be parsed.
    #[error("{file}:{line}: invalid ignore pattern `{pattern}`: {reason}")]
    IgnorePattern {
        /// The file holding the rule (or the config file for `exclude_patterns`).
        file: PathBuf,
        /// 1-based line (or list index for `exclude_patterns`).
        line: usize,
        /// The offending pattern.
        pattern: String,
        /// Why it is invalid.
        reason: String,
    },

    /// A git operation on the local repository failed.
    #[error("git: {context}: {source}")]
    Git {
        /// What the engine was doing.
        context: String,
        /// The libgit2 error.
        source: GitError,
    },

    /// A network git command (fetch, push, ls-remote) failed.
    #[error("{op} {remote} failed: {message}")]
    Remote {
        /// The operation (`fetch`, `push`, `ls-remote`).
        op: &'static str,
        /// The remote URL, with credentials redacted.
        remote: String,
        /// The scrubbed first meaningful line of git's stderr.
        message: String,
        /// How to react.
        class: FailureClass,
    },

    /// A network git command passed its deadline and was killed.
    #[error("{op} {remote} timed out after {secs} s")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The remote URL, with credentials redacted.
        remote: String,
        /// The deadline in seconds.
        secs: u64,
    },

    /// The folder is in a state where syncing would be dangerous; it is stopped until it clears.
    #[error("{0}")]
    Dangerous(String),

    /// The disk holding the folder is full: a write failed with ENOSPC or EDQUOT, or less than
    /// `sync.min_free_disk_mb` is free. The folder stops and resumes by itself once space is
    /// freed.
    #[error("disk full under {}: {detail}; free some space and syncing resumes by itself", path.display())]
    DiskFull {
        /// The folder.
        path: PathBuf,
        /// What failed, or how much is free.
        detail: String,
    },

    /// Syncing cannot go on until the user acts (a mass delete to confirm, local edits in a
    /// pull-only folder, a remote this mode cannot follow); the engine does not retry by itself.
    #[error("{0}")]
    Blocked(String),

    /// Another process holds a lock the engine needs (user's git, another Supersonic).
    #[error("{0}")]
    Busy(String),

    /// A working-tree file changed while the engine was about to write it; the cycle restarts.
    #[error("working tree changed during sync: {0}")]
    WorktreeChanged(String),

    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A request from a user or shell is invalid (unknown folder, bad path, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Returns a closure that wraps a git2 error with `context`, for `map_err`.
    pub fn git(context: impl Into<String>) -> impl FnOnce(GitError) -> Error {
        let context = context.into();
        move |source| Error::Git { context, source }
    }

    /// Returns how the engine should react to this error.
    pub fn class(&self) -> FailureClass {
        match self {
            Error::Remote { class, .. } => *class,
            Error::Timeout { .. } | Error::Busy(_) | Error::WorktreeChanged(_) => {
                FailureClass::Transient
            }
            Error::Io { source, .. } if is_disk_full(source) => FailureClass::NeedsAttention,
            Error::Io { .. } => FailureClass::Transient,
            Error::Git { source, .. } => {
                let msg = source.message().to_ascii_lowercase();
                if msg.contains("no space left") || msg.contains("corrupt") {
                    FailureClass::NeedsAttention
                } else if is_lock_contention(source) {
                    FailureClass::Transient
                } else {
                    FailureClass::NeedsAttention
                }
            }
            Error::Config(_)
            | Error::IgnorePattern { .. }
            | Error::Dangerous(_)
            | Error::DiskFull { .. }
            | Error::Blocked(_)
            | Error::Invalid(_) => FailureClass::NeedsAttention,
        }
    }

    /// Returns a stable machine-readable code for shells (`{code, message}` at the edge).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config(_) | Error::IgnorePattern { .. } => "config_invalid",
            Error::Git { .. } => "git_failed",
            Error::Remote { class: FailureClass::NeedsAttention, .. } => "remote_needs_attention",
            Error::Remote { .. } => "remote_unreachable",
            Error::Timeout { .. } => "remote_timeout",
            Error::Dangerous(_) | Error::DiskFull { .. } => "folder_stopped",
            Error::Blocked(_) => "needs_user",
            Error::Busy(_) => "busy",
            Error::WorktreeChanged(_) => "worktree_changed",
            Error::Io { .. } => "io_failed",
            Error::Invalid(_) => "invalid_request",
        }
    }
}

/// Returns whether an IO error means the disk is full.
pub fn is_disk_full(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(nix::libc::ENOSPC) || err.raw_os_error() == Some(nix::libc::EDQUOT)
}
