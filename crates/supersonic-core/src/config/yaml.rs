//! YAML into settings types, with errors a user can act on: the file, line, column and the key
//! (`sync.interval_sec`), and serde's message without the parts reported separately.

use std::path::Path;

use serde_yaml::Value;

use super::ConfigError;

/// Parses a YAML file's text into `T`, with errors that name the file, line, column and key.
pub(super) fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, ConfigError> {
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

/// Reads `T` from an already parsed value found under `prefix` of `file` (errors name the key,
/// prefix included).
pub(super) fn from_value<T: serde::de::DeserializeOwned>(
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
