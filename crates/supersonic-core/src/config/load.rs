//! Loading and saving the app config, and resolving a folder's configuration: YAML parsed with
//! errors that carry the file, line, column and key, layers deep-merged, environment overrides
//! applied, the result validated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::folder_conf::load_folder_file;
use super::validate::validate;
use super::yaml::{from_value, parse_yaml};
use super::{AppConfig, ConfigError, FolderConfig, FolderEntry, FolderSettings};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
