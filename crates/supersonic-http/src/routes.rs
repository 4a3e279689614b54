//! The control surface the UI needs: status, add a folder, sync now, pause/resume, conflicts
//! (list, show, resolve, undo), configuration (read, update), history, check-ignore and the
//! webhook test. Each handler is a few lines over [`supersonic_core::api::Api`]; when the engine
//! runs in this process, actions on a folder it syncs go through its [`EngineControl`] instead,
//! as the CLI's control socket does.
//!
//! Folders are named by absolute path in every request (`{"folder": "/home/me/notes"}`): the
//! server's working directory means nothing to a browser.
//!
//! [`EngineControl`]: supersonic_core::engine::EngineControl

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use supersonic_core::api::InitRequest;
use supersonic_core::api::{ConflictOutcome, EffectiveConfig, IgnoreCheck, InitOutcome, SyncedBy};
use supersonic_core::config::Mode;
use supersonic_core::conflicts::{Action, ConflictView};
use supersonic_core::folder::CycleReport;
use supersonic_core::history::HistoryRow;
use supersonic_core::status::FolderStatus;
use supersonic_core::webhooks::DeliveryReport;
use supersonic_core::Error;

use crate::error::{blocking, ApiError, Body, Params};
use crate::AppState;

/// History rows returned when `limit` is not given (the seed's "last 50 operations").
const DEFAULT_HISTORY_LIMIT: usize = 50;
/// Most history rows one request returns; a page of the History view, not a database dump.
const MAX_HISTORY_LIMIT: usize = 5_000;

type Answer<T> = Result<Json<T>, ApiError>;

/// A request naming one folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FolderRequest {
    folder: PathBuf,
}

/// A folder together with something about it (conflict lists, like `conflicts list --json`).
#[derive(Debug, Serialize)]
pub(crate) struct InFolder<T> {
    folder: PathBuf,
    conflict: T,
}

/// What pause and resume did.
#[derive(Debug, Serialize)]
pub(crate) struct PauseOutcome {
    folder: PathBuf,
    paused: bool,
    /// Whether the engine running in this process was told at once.
    engine_told: bool,
}

fn absolute(path: &Path) -> Result<PathBuf, ApiError> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Err(ApiError::bad_request(format!("folder `{}` must be an absolute path", path.display())))
    }
}

/// `GET /api/status`: every folder's state.
pub(crate) async fn status(State(s): State<AppState>) -> Answer<Vec<FolderStatus>> {
    blocking(move || s.api.status()).await.map(Json)
}

/// The body of `POST /api/folders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddFolder {
    path: PathBuf,
    remote: Option<String>,
    branch: Option<String>,
    #[serde(default)]
    mode: Mode,
}

/// `POST /api/folders`: registers a folder (like `supersonic init`). A running engine starts
/// syncing it when it restarts.
pub(crate) async fn add_folder(
    State(s): State<AppState>,
    Body(req): Body<AddFolder>,
) -> Result<(StatusCode, Json<InitOutcome>), ApiError> {
    let path = absolute(&req.path)?;
    let req = InitRequest { path, remote: req.remote, branch: req.branch, mode: req.mode };
    let out = blocking(move || s.api.init_folder(req)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `POST /api/folders/sync`: runs a cycle of the folder now and answers with what it did.
pub(crate) async fn sync_now(
    State(s): State<AppState>,
    Body(req): Body<FolderRequest>,
) -> Answer<CycleReport> {
    let folder = absolute(&req.folder)?;
    blocking(move || match s.engine_for(&folder) {
        Some(engine) => engine.sync_now(&folder),
        None => match s.api.sync_once(Some(&folder), false)?.pop() {
            Some((_, result)) => result,
            None => Err(Error::Invalid(format!("{} is not a synced folder", folder.display()))),
        },
    })
    .await
    .map(Json)
}

/// `POST /api/folders/pause`.
pub(crate) async fn pause(
    State(s): State<AppState>,
    body: Body<FolderRequest>,
) -> Answer<PauseOutcome> {
    set_paused(s, body.0, true).await
}

/// `POST /api/folders/resume`.
pub(crate) async fn resume(
    State(s): State<AppState>,
    body: Body<FolderRequest>,
) -> Answer<PauseOutcome> {
    set_paused(s, body.0, false).await
}

/// Records the pause in the config (so it survives a restart) and tells the running engine.
async fn set_paused(s: AppState, req: FolderRequest, paused: bool) -> Answer<PauseOutcome> {
    let folder = absolute(&req.folder)?;
    blocking(move || {
        let folder = s.api.set_paused(&folder, paused)?;
        let engine = s.engine_for(&folder);
        if let Some(engine) = engine {
            engine.set_paused(&folder, paused)?;
        }
        Ok(PauseOutcome { engine_told: engine.is_some(), folder, paused })
    })
    .await
    .map(Json)
}

/// Query of `GET /api/conflicts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConflictsQuery {
    folder: Option<PathBuf>,
    /// Include automatic resolutions that can be undone.
    #[serde(default)]
    auto: bool,
}

/// `GET /api/conflicts[?folder=&auto=true]`: pending conflicts with both sides.
pub(crate) async fn conflicts(
    State(s): State<AppState>,
    Params(q): Params<ConflictsQuery>,
) -> Answer<Vec<InFolder<ConflictView>>> {
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    let list = blocking(move || s.api.conflicts(folder.as_deref(), q.auto)).await?;
    Ok(Json(list.into_iter().map(|(folder, conflict)| InFolder { folder, conflict }).collect()))
}

/// `GET /api/conflicts/{id}`: one conflict (id or unique prefix).
pub(crate) async fn conflict(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<InFolder<ConflictView>> {
    let (folder, conflict) = blocking(move || s.api.conflict(&id)).await?;
    Ok(Json(InFolder { folder, conflict }))
}

/// The body of `POST /api/conflicts/{id}/resolve`: `{"take": "local"|"remote"|"both"}` or
/// `{"merged": "text"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resolve {
    take: Option<Take>,
    merged: Option<String>,
}

/// Which version wins.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Take {
    Local,
    Remote,
    Both,
}

/// `POST /api/conflicts/{id}/resolve`.
pub(crate) async fn resolve(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<Resolve>,
) -> Answer<ConflictOutcome> {
    let action = match (req.take, req.merged) {
        (Some(Take::Local), None) => Action::TakeLocal,
        (Some(Take::Remote), None) => Action::TakeRemote,
        (Some(Take::Both), None) => Action::KeepBoth,
        (None, Some(text)) => Action::Merged(text.into_bytes()),
        _ => {
            return Err(ApiError::bad_request("give either `take` (local|remote|both) or `merged`"))
        }
    };
    let out = blocking({
        let s = s.clone();
        move || s.api.resolve_conflict(&id, action)
    })
    .await?;
    nudge_engine(&s, &out);
    Ok(Json(out))
}

/// `POST /api/conflicts/{id}/undo`: undoes an automatic resolution.
pub(crate) async fn undo(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<ConflictOutcome> {
    let out = blocking({
        let s = s.clone();
        move || s.api.undo_conflict(&id)
    })
    .await?;
    nudge_engine(&s, &out);
    Ok(Json(out))
}

/// When the engine in this process holds the folder, asks it to sync the decision now rather
/// than after its watcher's quiet period; the answer does not wait for that cycle.
fn nudge_engine(s: &AppState, out: &ConflictOutcome) {
    if out.synced != SyncedBy::RunningEngine {
        return;
    }
    if let Some(engine) = s.engine_for(&out.folder).cloned() {
        let folder = out.folder.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = engine.sync_now(&folder) {
                tracing::warn!("{}: sync after a conflict decision failed: {e}", folder.display());
            }
        });
    }
}

/// `GET /api/config`: the effective configuration, secrets redacted.
pub(crate) async fn config(State(s): State<AppState>) -> Answer<EffectiveConfig> {
    blocking(move || s.api.effective_config()).await.map(Json)
}

/// The body of `PATCH /api/config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateConfig {
    /// The folder whose device-local settings change; without it, `defaults:` changes.
    folder: Option<PathBuf>,
    /// A JSON merge patch over the keys of `.supersonic-sync.conf`.
    settings: serde_json::Value,
}

/// `PATCH /api/config`: validates and saves a settings change; a `config_invalid` error names
/// the `key` at fault. The running engine applies it when it restarts.
pub(crate) async fn update_config(
    State(s): State<AppState>,
    Body(req): Body<UpdateConfig>,
) -> Answer<EffectiveConfig> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.update_settings(folder.as_deref(), &req.settings)).await.map(Json)
}

/// Query of `GET /api/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    limit: Option<usize>,
    folder: Option<PathBuf>,
}

/// `GET /api/history[?limit=N&folder=]`: the newest events, newest first.
pub(crate) async fn history(
    State(s): State<AppState>,
    Params(q): Params<HistoryQuery>,
) -> Answer<Vec<HistoryRow>> {
    let limit = q.limit.unwrap_or(DEFAULT_HISTORY_LIMIT).min(MAX_HISTORY_LIMIT);
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.recent(folder.as_deref(), limit)).await.map(Json)
}

/// The body of `POST /api/check-ignore`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckIgnore {
    /// The folder relative paths are in; without it, absolute paths pick their folder.
    folder: Option<PathBuf>,
    paths: Vec<PathBuf>,
}

/// `POST /api/check-ignore`: which paths are ignored, and by which rule (Settings' live check).
pub(crate) async fn check_ignore(
    State(s): State<AppState>,
    Body(req): Body<CheckIgnore>,
) -> Answer<Vec<IgnoreCheck>> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.check_ignore(folder.as_deref(), &req.paths)).await.map(Json)
}

/// The body of `POST /api/webhooks/test`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookTest {
    /// The event to send (`sync_success`, `sync_failure`, ...).
    event: String,
    /// The folder whose webhook settings apply (default: the only one).
    folder: Option<PathBuf>,
    /// Send to this URL instead of the configured ones (Settings' Test button on a new URL).
    url: Option<String>,
}

/// `POST /api/webhooks/test`: sends a sample event and answers with each delivery's outcome.
pub(crate) async fn webhook_test(
    State(s): State<AppState>,
    Body(req): Body<WebhookTest>,
) -> Answer<Vec<DeliveryReport>> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.webhook_test(folder.as_deref(), &req.event, req.url.as_deref()))
        .await
        .map(Json)
}

/// Any other `/api/...` path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}
