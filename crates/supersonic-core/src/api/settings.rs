//! Settings: the effective configuration (secrets redacted), and changing it with a merge patch,
//! including where and how a folder syncs (remote, branch, mode).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{normalise_remote, Api, REMOTE_CHECK_TIMEOUT};
use crate::config::{self, FolderConfig, FolderEntry};
use crate::device::Device;
use crate::git::objects::BranchSwitch;
use crate::git::{self, GitRepo};
use crate::ignore::IgnoreRules;
use crate::paths;
use crate::{Error, Result};

/// The effective configuration, secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveConfig {
    /// The app config file.
    pub config_file: PathBuf,
    /// The data dir.
    pub data_dir: PathBuf,
    /// This device.
    pub device: Device,
    /// Every folder, fully resolved.
    pub folders: Vec<FolderConfig>,
}

/// The keys of a settings patch that change a folder's entry in the app config (where it syncs
/// to, and how) rather than its settings layer.
const ENTRY_KEYS: [&str; 3] = ["remote", "branch", "mode"];

impl Api {
    /// Returns the effective configuration with secrets redacted.
    pub fn effective_config(&self) -> Result<EffectiveConfig> {
        let (app, folders) = self.load()?;
        Ok(EffectiveConfig {
            config_file: self.dirs.app_config_file(),
            data_dir: self.dirs.data_dir.clone(),
            device: self.device(&app)?,
            folders: folders.iter().map(FolderConfig::redacted).collect(),
        })
    }

    /// Applies `patch` (a JSON merge patch over the keys of `.supersonic-sync.conf`: mappings
    /// merge, `null` removes a key so it falls back to the layer below, anything else replaces)
    /// to the device-local settings of the folder at `folder`, or to `defaults:` without one,
    /// and saves the app config.
    ///
    /// With a folder, the patch may also change where and how it syncs: `remote` (a URL or
    /// path, checked to be reachable; the redacted form shown in output means "unchanged"),
    /// `branch` (a valid branch name) and `mode` (`two-way`, `push-only` or `pull-only`). A new
    /// remote becomes the repository's `origin`; a new branch is created at the current commit
    /// (or taken as it is when it already points there) and checked out, so no file changes.
    ///
    /// Every folder is resolved again and its ignore rules compiled before anything is written,
    /// so an invalid value is an error naming its key and the files stay as they were. A running
    /// engine started by [`Api::start`] picks the change up through its config watcher.
    pub fn update_settings(
        &self,
        folder: Option<&Path>,
        patch: &serde_json::Value,
    ) -> Result<EffectiveConfig> {
        use serde_yaml::Value;
        let file = self.dirs.app_config_file();
        let mut app = config::load_app_config(&file)?;
        let mut patch: Value = serde_yaml::to_value(patch)
            .map_err(|e| Error::Invalid(format!("settings patch: {e}")))?;
        let Value::Mapping(fields) = &mut patch else {
            return Err(Error::Invalid(
                "a settings patch is a mapping of keys such as `sync` or `exclude_patterns`".into(),
            ));
        };
        let entry_fields: Vec<(String, Value)> = ENTRY_KEYS
            .iter()
            .filter_map(|k| fields.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        let mut retarget = None;
        match folder {
            Some(p) => {
                let abs = paths::absolute(p);
                let entry = app.folders.iter_mut().find(|f| f.path == abs).ok_or_else(|| {
                    Error::Invalid(format!("{} is not a synced folder", abs.display()))
                })?;
                let before = entry.clone();
                for (key, value) in &entry_fields {
                    apply_entry_field(&file, entry, key, value)?;
                }
                if entry.remote != before.remote || entry.branch != before.branch {
                    retarget = Some((before, entry.clone()));
                }
                let mut current = Value::Mapping(
                    entry
                        .overrides
                        .iter()
                        .map(|(k, v)| (Value::String(k.clone()), v.clone()))
                        .collect(),
                );
                merge_patch(&mut current, &patch);
                entry.overrides = serde_yaml::from_value(current)
                    .map_err(|e| Error::Invalid(format!("settings patch: {e}")))?;
            }
            None => {
                if let Some((key, _)) = entry_fields.first() {
                    return Err(entry_error(
                        &file,
                        key,
                        format!("`{key}` belongs to one folder; say which folder to change"),
                    )
                    .into());
                }
                merge_patch(&mut app.defaults, &patch);
            }
        }
        let defaults = if app.defaults.is_null() {
            Value::Mapping(Default::default())
        } else {
            app.defaults.clone()
        };
        let defaults = serde_path_to_error::deserialize::<_, config::FolderSettings>(defaults)
            .map_err(|e| config::ConfigError {
                file: file.clone(),
                line: None,
                column: None,
                key: Some(format!("defaults.{}", e.path())),
                message: e.into_inner().to_string(),
            })?;
        defaults.conflicts.check(&file, "defaults")?;
        for entry in &app.folders {
            let resolved = config::resolve_folder(&file, &app, entry, &self.env)?;
            if entry.path.is_dir() {
                IgnoreRules::load(
                    &entry.path,
                    &resolved.settings.exclude_patterns,
                    &entry.path.join(config::FOLDER_CONFIG_FILE),
                )?;
            }
        }
        if let Some((before, after)) = &retarget {
            if after.remote != before.remote {
                git::check_remote(&after.remote, REMOTE_CHECK_TIMEOUT)?;
            }
            retarget_repo(&file, before, after)?;
        }
        config::save_app_config(&file, &app)?;
        self.effective_config()
    }
}

/// Returns a configuration error about the folder entry's `key`.
fn entry_error(file: &Path, key: &str, message: String) -> config::ConfigError {
    config::ConfigError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        key: Some(key.to_string()),
        message,
    }
}

/// Validates one of [`ENTRY_KEYS`] from a settings patch and sets it on `entry`. Messages never
/// repeat a URL as given (it may hold a password).
fn apply_entry_field(
    file: &Path,
    entry: &mut FolderEntry,
    key: &str,
    value: &serde_yaml::Value,
) -> Result<()> {
    let bad = |message: String| -> Error { entry_error(file, key, message).into() };
    let Some(text) = value.as_str().map(str::trim) else {
        return Err(bad(format!("`{key}` must be a string")));
    };
    match key {
        "remote" => {
            if text.is_empty() {
                return Err(bad("the remote cannot be empty".into()));
            }
            // The UI shows (and may send back) the redacted URL: that means "unchanged".
            if text == config::redact_url(&entry.remote) {
                return Ok(());
            }
            if text.contains("***@") {
                return Err(bad("the URL holds `***` where a password was hidden; type the \
                     whole URL with its credentials, or use a credential helper"
                    .into()));
            }
            entry.remote = normalise_remote(text);
        }
        "branch" => {
            let valid = !text.starts_with('-') && git::objects::is_valid_branch_ref(text);
            if !valid {
                return Err(bad(format!("`{text}` is not a valid branch name")));
            }
            entry.branch = text.to_string();
        }
        "mode" => entry.mode = text.parse().map_err(bad)?,
        _ => unreachable!("only ENTRY_KEYS are applied"),
    }
    Ok(())
}

/// Points the folder's repository at a changed remote and branch: `origin` gets the new URL, and
/// HEAD moves to the new branch, which is created at the current commit when missing. A branch
/// that exists at another commit is refused, since checking it out would rewrite files. A folder
/// without a repository yet gets both when it is opened.
fn retarget_repo(file: &Path, before: &FolderEntry, after: &FolderEntry) -> Result<()> {
    if !after.path.join(".git").exists() {
        return Ok(());
    }
    if after.branch != before.branch {
        let switched = git::objects::switch_branch_in_place(&after.path, &after.branch)?;
        if switched == BranchSwitch::ExistsElsewhere {
            return Err(entry_error(
                file,
                "branch",
                format!(
                    "branch `{}` already exists in {} at another commit; switch to it with \
                     `git switch {}` first, so that no file is overwritten",
                    after.branch,
                    after.path.display(),
                    after.branch
                ),
            )
            .into());
        }
    }
    // Opening sets `origin` to the folder's remote, as every sync does.
    GitRepo::open(&after.path, &after.branch, &after.remote)?;
    Ok(())
}

/// Applies a JSON merge patch (RFC 7396) to a YAML value.
fn merge_patch(target: &mut serde_yaml::Value, patch: &serde_yaml::Value) {
    use serde_yaml::Value;
    let Value::Mapping(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_mapping() {
        *target = Value::Mapping(Default::default());
    }
    let Value::Mapping(target) = target else { unreachable!("made a mapping above") };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}
