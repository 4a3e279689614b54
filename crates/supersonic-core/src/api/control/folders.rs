//! Requests that add a folder (`add`, `hydrate`, `seed`): their fields checked one by one, so a
//! form can mark the field at fault (`key`), before the core is asked.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{absolute, Failure};
use crate::api::{Api, InitRequest, Operation};
use crate::config::Mode;
use crate::Error;

/// The request to add a folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddFolder {
    /// The folder to sync.
    pub path: PathBuf,
    /// Remote URL or path.
    pub remote: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Mode.
    #[serde(default)]
    pub mode: Mode,
}

impl AddFolder {
    /// Returns the core's request, refusing a relative path.
    pub fn into_init(self) -> Result<InitRequest, Failure> {
        let path = absolute(&self.path)?;
        Ok(InitRequest { path, remote: self.remote, branch: self.branch, mode: self.mode })
    }
}

/// The request to restore a folder from a remote (`hydrate`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hydrate {
    /// The remote to clone.
    pub url: String,
    /// The new (or empty) folder, by absolute path.
    pub path: PathBuf,
    /// Branch (default: the remote's).
    pub branch: Option<String>,
    /// Mode.
    #[serde(default)]
    pub mode: Mode,
}

/// The request to push an existing folder into an empty remote (`seed`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The existing folder, by absolute path.
    pub path: PathBuf,
    /// The empty remote to fill.
    pub remote: String,
    /// Branch (default `main`).
    pub branch: Option<String>,
}

/// Returns a `bad_request` failure naming the request field at fault in `key`.
fn field(key: &str, message: impl Into<String>) -> Failure {
    Failure { code: "bad_request".into(), message: message.into(), key: Some(key.into()) }
}

/// Checks a request's folder, remote and branch fields, naming the one at fault.
fn checked_fields(
    path: &Path,
    remote_key: &str,
    remote: &str,
    branch: Option<&str>,
) -> Result<(), Failure> {
    if path.as_os_str().is_empty() {
        return Err(field("path", "choose a folder"));
    }
    if !path.is_absolute() {
        return Err(field("path", format!("`{}` must be an absolute path", path.display())));
    }
    if remote.trim().is_empty() {
        return Err(field(remote_key, "enter the remote's URL or path"));
    }
    if remote.trim_start().starts_with('-') {
        return Err(field(remote_key, "a remote cannot start with `-`"));
    }
    if let Some(b) = branch {
        if b.is_empty() || b.starts_with('-') || b.contains("..") || b.contains(char::is_whitespace)
        {
            return Err(field("branch", format!("`{b}` is not a valid branch name")));
        }
    }
    Ok(())
}

/// Turns an engine refusal of a request into a failure naming `key` (the field it is about).
fn about(key: &str, err: Error) -> Failure {
    let mut f = Failure::from(err);
    if f.key.is_none() && f.code == "invalid_request" {
        f.key = Some(key.into());
    }
    f
}

impl Hydrate {
    /// Returns the core's request when every field is usable.
    pub fn into_init(self) -> Result<InitRequest, Failure> {
        checked_fields(&self.path, "url", &self.url, self.branch.as_deref())?;
        Ok(InitRequest {
            path: self.path,
            remote: Some(self.url.trim().to_string()),
            branch: self.branch,
            mode: self.mode,
        })
    }
}

impl Seed {
    /// Returns the core's request when every field is usable.
    pub fn into_init(self) -> Result<InitRequest, Failure> {
        checked_fields(&self.path, "remote", &self.remote, self.branch.as_deref())?;
        Ok(InitRequest {
            path: self.path,
            remote: Some(self.remote.trim().to_string()),
            branch: self.branch,
            mode: Mode::TwoWay,
        })
    }
}

/// Starts a hydrate in the background; its progress and end go to `bus`.
pub fn start_hydrate(
    api: &Api,
    req: Hydrate,
    bus: crate::events::EventBus,
) -> Result<Operation, Failure> {
    let req = req.into_init()?;
    api.start_hydrate(req, bus).map_err(|e| about("path", e))
}

/// Starts a seed in the background; its progress and end go to `bus`.
pub fn start_seed(
    api: &Api,
    req: Seed,
    bus: crate::events::EventBus,
) -> Result<Operation, Failure> {
    let req = req.into_init()?;
    api.start_seed(req, bus).map_err(|e| about("path", e))
}
