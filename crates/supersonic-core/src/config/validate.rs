//! Checks that the types cannot express: positive timings, ratios within range, a valid branch
//! name, and conflict rules whose `command` goes with `strategy: command`. Every error names
//! the file and the key.

use std::path::Path;

use super::{ConfigError, ConflictSettings, FolderConfig, Strategy};

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

pub(super) fn validate(file: &Path, config: &FolderConfig) -> Result<(), ConfigError> {
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
    if config.branch.is_empty() || !crate::git::libgit::is_valid_branch_name(&config.branch) {
        return Err(ConfigError::new(
            file,
            Some("branch"),
            format!("`{}` is not a valid branch name", config.branch),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
