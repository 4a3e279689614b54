//! Conflict policy: which strategy a path gets (the folder's `conflicts:` rules, first match
//! wins, else the default) and the record of one resolution (`Sync-Conflict:` trailer). Pure: no
//! repository access.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};

use crate::config::{ConflictSettings, Strategy};
use crate::{Error, Result};

/// Prefix of the merge-commit trailer that records one resolution as JSON.
pub const TRAILER: &str = "Sync-Conflict: ";

/// One side's version of a conflicting file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Blob id.
    pub blob: String,
    /// Device that made this version.
    pub device: String,
    /// When it was committed.
    pub time: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
}

/// How one conflicting path was resolved; recorded in the merge commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The path both sides changed.
    pub path: String,
    /// `content`, `add/add`, `modify/delete`, `delete/modify`, `rename/rename`,
    /// `file/directory`.
    pub kind: String,
    /// Whether either side is binary.
    pub binary: bool,
    /// The strategy applied (after any fallback).
    pub strategy: Strategy,
    /// Which rule decided (`default` or `rules[N] PATTERN`).
    pub rule: String,
    /// The conflict copy holding the other version (`ask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
    /// This device's version (None: deleted here).
    pub local: Option<Version>,
    /// The other device's version (None: deleted there).
    pub remote: Option<Version>,
    /// The common ancestor's blob, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The blob now at the path (None: deleted).
    pub result: Option<String>,
    /// Why a fallback happened, or what else was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A folder's compiled conflict policy.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Strategy,
    /// Conflict copies kept per file.
    pub max_copies: usize,
    /// Deadline of one merge command.
    pub command_timeout: Duration,
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    matcher: Gitignore,
    strategy: Strategy,
    label: String,
    command: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rules: Vec::new(),
            default: Strategy::Ask,
            max_copies: 5,
            command_timeout: Duration::from_secs(crate::config::DEFAULT_COMMAND_TIMEOUT_SEC),
        }
    }
}

impl Policy {
    /// Compiles the `conflicts:` settings; a bad pattern or command is an error naming its key.
    pub fn compile(settings: &ConflictSettings, root: &Path, config_file: &Path) -> Result<Policy> {
        settings.check(config_file, "")?;
        let mut rules = Vec::new();
        for (i, rule) in settings.rules.iter().enumerate() {
            let mut b = GitignoreBuilder::new(root);
            let bad = |reason: String| {
                Error::Config(crate::config::ConfigError {
                    file: config_file.to_path_buf(),
                    line: None,
                    column: None,
                    key: Some(format!("conflicts.rules[{i}].pattern")),
                    message: format!("invalid pattern `{}`: {reason}", rule.pattern),
                })
            };
            b.add_line(None, &rule.pattern).map_err(|e| bad(e.to_string()))?;
            let matcher = b.build().map_err(|e| bad(e.to_string()))?;
            rules.push(Rule {
                matcher,
                strategy: rule.strategy,
                label: format!("rules[{i}] {}", rule.pattern),
                command: rule.command.clone().unwrap_or_default(),
            });
        }
        Ok(Policy {
            rules,
            default: settings.default,
            max_copies: settings.max_copies.max(1),
            command_timeout: Duration::from_secs(settings.command_timeout_sec.max(1)),
        })
    }

    /// Returns the strategy for `path` and the rule that chose it (first match wins).
    pub fn decide(&self, path: &str) -> (Strategy, String) {
        match self.rule_for(path) {
            Some(rule) => (rule.strategy, rule.label.clone()),
            None => (self.default, "default".to_string()),
        }
    }

    /// Returns the merge command (argv with placeholders) of the rule deciding `path`, when
    /// that rule's strategy is `command`.
    pub fn command_for(&self, path: &str) -> Option<&[String]> {
        self.rule_for(path)
            .filter(|r| r.strategy == Strategy::Command && !r.command.is_empty())
            .map(|r| r.command.as_slice())
    }

    fn rule_for(&self, path: &str) -> Option<&Rule> {
        let p = Path::new(path);
        self.rules.iter().find(|r| r.matcher.matched_path_or_any_parents(p, false).is_ignore())
    }
}
