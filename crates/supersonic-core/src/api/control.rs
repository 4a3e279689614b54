//! The control surface's requests and answers, shared by every face that speaks it: the HTTP
//! routes of `supersonic-http` and the desktop app's IPC commands (the UI's `lib/types.ts`
//! mirrors these shapes by wire name). The small decisions on a request live here so both faces agree: folders
//! must be absolute paths, which conflict action a body means, which media type a conflict
//! version is served as, the history limits, which paths a quarantine decision may name, and
//! whether a folder is acted on through the engine running in this process or through the
//! [`Api`] alone.
//!
//! Everything here is transport-free: a face parses its request into these types, calls the
//! function on a blocking thread, and renders a [`Failure`] as its `{code, message, key?}` error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Api, ConflictBlob, InitRequest, Metrics, Operation, Side, SyncedBy, UndoReport};
use crate::config::Mode;
use crate::conflicts::{Action, ConflictView};
use crate::engine::EngineControl;
use crate::folder::CycleReport;
use crate::status::FolderStatus;
use crate::Error;

/// History rows returned when `limit` is not given (the seed's "last 50 operations").
pub const DEFAULT_HISTORY_LIMIT: usize = 50;
/// Most history rows one request returns; a page of the History view, not a database dump.
pub const MAX_HISTORY_LIMIT: usize = 5_000;
/// The seed's window for `stats` and `hourly` ("Success rate (24h)").
pub const DEFAULT_METRICS_HOURS: u32 = 24;

/// The one error shape at the edge: `{code, message, key?}`.
///
/// `code` is [`crate::Error::code`] for engine errors or `bad_request` for a request
/// that cannot be acted on; `key` names the setting at fault for a `config_invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Machine-readable code the UI branches on.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The configuration key at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Failure {
    /// Returns a `bad_request` failure.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure { code: "bad_request".into(), message: message.into(), key: None }
    }

    /// Returns an `internal` failure: the face itself failed (a panicked task), not the engine.
    pub fn internal(message: impl std::fmt::Display) -> Failure {
        Failure { code: "internal".into(), message: message.to_string(), key: None }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let key = match &err {
            Error::Config(c) => c.key.clone(),
            _ => None,
        };
        Failure { code: err.code().into(), message: err.to_string(), key }
    }
}

/// Returns `path` when it is absolute: a face's working directory means nothing to its user.
pub fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Err(Failure::bad_request(format!("folder `{}` must be an absolute path", path.display())))
    }
}

/// A request naming one folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    /// The folder, by absolute path.
    pub folder: PathBuf,
}

/// A folder together with something about it (conflict lists, like `conflicts list --json`).
#[derive(Debug, Serialize)]
pub struct InFolder<T> {
    /// The folder.
    pub folder: PathBuf,
    /// The thing in it.
    pub conflict: T,
}

/// What pause and resume did.
#[derive(Debug, Serialize)]
pub struct PauseOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// Whether it is paused now.
    pub paused: bool,
    /// Whether the engine running in this process was told at once.
    pub engine_told: bool,
}

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

/// `?folder=`: one folder, or every folder.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderQuery {
    /// Only this folder.
    pub folder: Option<PathBuf>,
}

/// Which conflicts to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictsQuery {
    /// Only this folder's.
    pub folder: Option<PathBuf>,
    /// Include automatic resolutions that can be undone.
    #[serde(default)]
    pub auto: bool,
}

/// A conflict decision: `{"take": "local"|"remote"|"both"}` or `{"merged": "text"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// Which version wins.
    pub take: Option<Take>,
    /// The merged text the user wrote.
    pub merged: Option<String>,
}

/// Which version wins.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    /// The local version.
    Local,
    /// The remote version.
    Remote,
    /// Both, the other one kept as a copy.
    Both,
}

impl Resolve {
    /// Returns the core action the decision means; exactly one of `take` and `merged` is given.
    pub fn action(self) -> Result<Action, Failure> {
        match (self.take, self.merged) {
            (Some(Take::Local), None) => Ok(Action::TakeLocal),
            (Some(Take::Remote), None) => Ok(Action::TakeRemote),
            (Some(Take::Both), None) => Ok(Action::KeepBoth),
            (None, Some(text)) => Ok(Action::Merged(text.into_bytes())),
            _ => Err(Failure::bad_request("give either `take` (local|remote|both) or `merged`")),
        }
    }
}

/// Returns the side a request names (`local` or `remote`).
pub fn side(name: &str) -> Result<Side, Failure> {
    name.parse().map_err(Failure::bad_request)
}

/// Returns the media type a conflict version is served as.
///
/// The bytes decide, not the name: PNG, JPEG, GIF, WebP and AVIF by their signatures; other
/// UTF-8 text is plain text, or SVG when the name says so; anything else is
/// `application/octet-stream`. So a file named `.png` that holds HTML is never served as
/// something a browser would render as a page.
pub fn media_type(name: &str, bytes: &[u8]) -> &'static str {
    const SIGNATURES: [(&[u8], &str); 4] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
    ];
    if let Some((_, media)) = SIGNATURES.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return media;
    }
    match bytes.get(..12) {
        Some(head) if head.starts_with(b"RIFF") && head.ends_with(b"WEBP") => return "image/webp",
        Some(head) if &head[4..] == b"ftypavif" => return "image/avif",
        _ => {}
    }
    let text = !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok();
    if text && name.to_ascii_lowercase().ends_with(".svg") {
        "image/svg+xml"
    } else if text {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// A conflict version for a face that carries JSON only (the desktop app's IPC): the bytes in
/// base64, with the media type the HTTP face sends as `Content-Type`.
#[derive(Debug, Serialize)]
pub struct BlobPayload {
    /// The repo-relative file this version is.
    pub name: String,
    /// What the bytes are ([`media_type`]).
    pub media_type: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// The bytes, base64 (standard alphabet, padded).
    pub base64: String,
}

impl From<ConflictBlob> for BlobPayload {
    fn from(blob: ConflictBlob) -> BlobPayload {
        use base64::Engine;
        BlobPayload {
            media_type: media_type(&blob.name, &blob.bytes),
            size: blob.bytes.len() as u64,
            base64: base64::engine::general_purpose::STANDARD.encode(&blob.bytes),
            name: blob.name,
        }
    }
}

/// A settings change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// The folder whose device-local settings change; without it, `defaults:` changes.
    pub folder: Option<PathBuf>,
    /// A JSON merge patch over the keys of `.supersonic-sync.conf`.
    pub settings: serde_json::Value,
}

/// Which history rows to read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many rows (default [`DEFAULT_HISTORY_LIMIT`], at most [`MAX_HISTORY_LIMIT`]).
    pub limit: Option<usize>,
    /// Only this folder's.
    pub folder: Option<PathBuf>,
}

impl HistoryQuery {
    /// Returns the number of rows to read.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_HISTORY_LIMIT).min(MAX_HISTORY_LIMIT)
    }
}

/// Which paths to check against the ignore rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckIgnore {
    /// The folder relative paths are in; without it, absolute paths pick their folder.
    pub folder: Option<PathBuf>,
    /// The paths.
    pub paths: Vec<PathBuf>,
}

/// A webhook test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTest {
    /// The event to send (`sync_success`, `sync_failure`, ...).
    pub event: String,
    /// The folder whose webhook settings apply (default: the only one).
    pub folder: Option<PathBuf>,
    /// Send to this URL instead of the configured ones (Settings' Test button on a new URL).
    pub url: Option<String>,
}

/// Which metrics to read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// Window in hours (default [`DEFAULT_METRICS_HOURS`]).
    pub hours: Option<u32>,
    /// Only this folder's.
    pub folder: Option<PathBuf>,
}

/// The seed's metrics (`stats`, `hourly`, `recent`, `throttle`) plus every folder's status and
/// a summary of the pending conflicts.
#[derive(Debug, Serialize)]
pub struct MetricsBody {
    #[serde(flatten)]
    metrics: Metrics,
    folders: Vec<FolderStatus>,
    conflicts: Vec<ConflictSummary>,
}

/// A pending conflict, without the contents.
#[derive(Debug, Serialize)]
pub struct ConflictSummary {
    folder: PathBuf,
    id: String,
    path: String,
    kind: String,
    strategy: String,
    copy: Option<String>,
}

/// Returns the metrics answer.
pub fn metrics(api: &Api, q: &MetricsQuery) -> crate::Result<MetricsBody> {
    let hours = q.hours.unwrap_or(DEFAULT_METRICS_HOURS);
    let metrics = api.metrics(q.folder.as_deref(), hours)?;
    let folders = api.status()?;
    let conflicts = pending_conflicts(api)
        .into_iter()
        .filter(|(f, _)| q.folder.as_ref().is_none_or(|only| only == f))
        .map(|(folder, c)| ConflictSummary {
            folder,
            id: c.id,
            path: c.path,
            kind: c.kind,
            strategy: c.strategy.to_string(),
            copy: c.copy,
        })
        .collect();
    Ok(MetricsBody { metrics, folders, conflicts })
}

/// Returns the pending conflicts of every folder whose repository can be read; a folder that
/// cannot is left out here, since its status already carries that error.
pub fn pending_conflicts(api: &Api) -> Vec<(PathBuf, ConflictView)> {
    let folders = api.folder_paths(None).unwrap_or_default();
    folders.iter().flat_map(|f| api.conflicts(Some(f), false).unwrap_or_default()).collect()
}

/// Returns the running engine's control when it syncs `folder`.
pub fn engine_for<'a>(
    control: Option<&'a EngineControl>,
    folder: &Path,
) -> Option<&'a EngineControl> {
    control.filter(|c| c.folders().iter().any(|f| f == folder))
}

/// Runs a cycle of `folder` now, through the running engine when it holds the folder (its lock
/// would refuse a second writer), else once through the [`Api`].
pub fn sync_now(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
) -> crate::Result<CycleReport> {
    match engine_for(control, folder) {
        Some(engine) => engine.sync_now(folder),
        None => match api.sync_once(Some(folder), false)?.pop() {
            Some((_, result)) => result,
            None => Err(Error::Invalid(format!("{} is not a synced folder", folder.display()))),
        },
    }
}

/// Records a pause (or resume) in the config, so it survives a restart, and tells the running
/// engine when it holds the folder.
pub fn set_paused(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
    paused: bool,
) -> crate::Result<PauseOutcome> {
    let folder = api.set_paused(folder, paused)?;
    let engine = engine_for(control, &folder);
    if let Some(engine) = engine {
        engine.set_paused(&folder, paused)?;
    }
    Ok(PauseOutcome { engine_told: engine.is_some(), folder, paused })
}

/// A decision on a file the secret guard holds back: `{"folder": "/abs", "path": "rel/file"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldRequest {
    /// The folder, by absolute path.
    pub folder: PathBuf,
    /// The held file, relative to the folder.
    pub path: PathBuf,
}

impl HeldRequest {
    /// Returns the folder and the file, refusing a relative folder and a file path that is not a
    /// plain path inside it (absolute, `..`, `.git`, empty). The core checks again.
    pub fn checked(self) -> Result<(PathBuf, PathBuf), Failure> {
        let folder = absolute(&self.folder)?;
        crate::paths::check_relative(&self.path)
            .map_err(|e| Failure::bad_request(e.to_string()))?;
        Ok((folder, self.path))
    }
}

/// What to do with a held file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldDecision {
    /// Commit it after all (recorded on this device; the file then reaches every device).
    Release,
    /// Ignore it for good (a `.syncignore` rule, synced to every device).
    Ignore,
}

/// What a quarantine decision did.
#[derive(Debug, Serialize)]
pub struct HeldOutcome {
    /// The folder.
    pub folder: PathBuf,
    /// The file decided on, relative to the folder.
    pub path: PathBuf,
    /// The sync that took the decision to the remote, when it ran.
    pub cycle: Option<CycleReport>,
    /// Why that sync failed: the decision stands, and the next cycle retries.
    pub sync_error: Option<Failure>,
}

/// Releases or ignores a held file, then syncs the folder ([`sync_now`]: through the running
/// engine when it holds the folder) so the decision takes effect at once. A failed sync does
/// not undo the decision; it is reported in [`HeldOutcome::sync_error`].
pub fn decide_held(
    api: &Api,
    control: Option<&EngineControl>,
    folder: &Path,
    path: &Path,
    decision: HeldDecision,
) -> crate::Result<HeldOutcome> {
    let folder = match decision {
        HeldDecision::Release => api.release_held(Some(folder), path)?,
        HeldDecision::Ignore => api.ignore_held(Some(folder), path)?,
    };
    let (cycle, sync_error) = match sync_now(api, control, &folder) {
        Ok(report) => (Some(report), None),
        Err(e) => (None, Some(Failure::from(e))),
    };
    Ok(HeldOutcome { folder, path: path.to_path_buf(), cycle, sync_error })
}

/// Takes back what the folder's last sync brought in, as a new commit. The core syncs it
/// itself unless the running engine holds the folder; then the engine is asked to sync it
/// now, and the answer says whether that failed.
pub fn undo_last_sync(
    api: &Api,
    control: Option<&EngineControl>,
    folder: Option<&Path>,
) -> crate::Result<UndoReport> {
    let mut report = api.undo_last_sync(folder)?;
    if report.synced == SyncedBy::RunningEngine {
        if let Some(engine) = engine_for(control, &report.folder) {
            if let Err(e) = engine.sync_now(&report.folder) {
                report.synced = SyncedBy::Failed(e.to_string());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_bytes_not_the_name() {
        assert_eq!(media_type("a.bin", b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(media_type("a.png", b"\xff\xd8\xff\xe0...."), "image/jpeg");
        assert_eq!(media_type("a", b"GIF89a...."), "image/gif");
        assert_eq!(media_type("a", b"RIFF\x10\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(media_type("a", b"\0\0\0\x1cftypavif\0\0"), "image/avif");
        assert_eq!(
            media_type("cat.png", b"<html><script>alert(1)</script>"),
            "text/plain; charset=utf-8",
            "a page named like a picture is served as text, never as something that runs"
        );
        assert_eq!(
            media_type("logo.SVG", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "image/svg+xml"
        );
        assert_eq!(media_type("logo.svg", b"<svg\0>"), "application/octet-stream");
        assert_eq!(media_type("a.png", b"\x89PNX\0\x01"), "application/octet-stream");
        assert_eq!(media_type("empty", b""), "text/plain; charset=utf-8");
    }

    #[test]
    fn a_held_file_is_named_by_a_plain_path_inside_an_absolute_folder() {
        let req =
            |folder: &str, path: &str| HeldRequest { folder: folder.into(), path: path.into() };
        let (folder, path) = req("/n", "keys/id_deploy").checked().unwrap();
        assert_eq!(
            (folder.as_path(), path.as_path()),
            (Path::new("/n"), Path::new("keys/id_deploy"))
        );
        for (folder, path, why) in [
            ("n", "a", "a relative folder means nothing to the server"),
            ("/n", "/etc/passwd", "an absolute file path"),
            ("/n", "../other/id_rsa", "a path out of the folder"),
            ("/n", "a/../../b", "a path out of the folder through a subfolder"),
            ("/n", ".git/config", "the repository itself"),
            ("/n", "", "no file at all"),
        ] {
            let err = req(folder, path).checked().unwrap_err();
            assert_eq!(err.code, "bad_request", "{why}: {err:?}");
        }
    }
}
