//! `check-ignore`: which paths the ignore rules leave out, and by which rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Api;
use crate::config;
use crate::ignore::{IgnoreRules, Match};
use crate::paths;
use crate::Result;

/// Outcome of `check-ignore` for one path.
#[derive(Debug, Clone, Serialize)]
pub struct IgnoreCheck {
    /// The path as given.
    pub path: PathBuf,
    /// The rule that ignores it, if any.
    pub rule: Option<Match>,
}

impl Api {
    /// Tells which of `paths` are ignored, and by which rule. Paths are relative to the folder,
    /// or absolute; without `folder`, the folder is the configured one containing each path.
    pub fn check_ignore(
        &self,
        folder: Option<&Path>,
        paths: &[PathBuf],
    ) -> Result<Vec<IgnoreCheck>> {
        let (_, folders) = self.load()?;
        let mut out = Vec::new();
        let mut cache: BTreeMap<PathBuf, IgnoreRules> = BTreeMap::new();
        for p in paths {
            let (cfg, abs) = self.folder_of(&folders, folder, p)?;
            if !cache.contains_key(&cfg.path) {
                let rules = IgnoreRules::load(
                    &cfg.path,
                    &cfg.settings.exclude_patterns,
                    &cfg.path.join(config::FOLDER_CONFIG_FILE),
                )?;
                cache.insert(cfg.path.clone(), rules);
            }
            let rules = &cache[&cfg.path];
            // A plain relative path inside the folder (no `..`, nothing through a link).
            let rel = paths::folder_relative(&cfg.path, &abs)?;
            let on_disk = std::fs::symlink_metadata(paths::resolve_inside(&cfg.path, &rel)?);
            let is_dir =
                on_disk.is_ok_and(|m| m.is_dir()) || p.as_os_str().to_string_lossy().ends_with('/');
            out.push(IgnoreCheck { path: p.clone(), rule: rules.explain(&rel, is_dir) });
        }
        Ok(out)
    }
}
