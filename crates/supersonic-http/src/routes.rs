//! The control surface the UI needs: status, add a folder, sync now, pause/resume, undo the last
//! sync, conflicts (list, show, one version's bytes, resolve, undo), the quarantine of held-back
//! secrets (list, release, ignore), configuration (read, update), history, check-ignore and the
//! webhook test. Each handler is a few lines over [`supersonic_core::api::Api`]; when the engine
//! runs in this process, actions on a folder it syncs go through its [`EngineControl`] instead,
//! as the CLI's control socket does.
//!
//! Folders are named by absolute path in every request (`{"folder": "/home/me/notes"}`): the
//! server's working directory means nothing to a browser.
//!
//! [`EngineControl`]: supersonic_core::engine::EngineControl

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use supersonic_core::api::control::{
    self, absolute, HeldDecision, HeldOutcome, InFolder, PauseOutcome,
};
use supersonic_core::api::{
    ConflictOutcome, EffectiveConfig, FolderQuarantine, IgnoreCheck, InitOutcome, Operation,
    SyncedBy, UndoReport,
};
use supersonic_core::conflicts::ConflictView;
use supersonic_core::folder::CycleReport;
use supersonic_core::history::HistoryRow;
use supersonic_core::status::FolderStatus;
use supersonic_core::webhooks::DeliveryReport;

use crate::error::{blocking, ApiError, Body, Params};
use crate::AppState;

type Answer<T> = Result<Json<T>, ApiError>;

/// `GET /api/status`: every folder's state.
pub(crate) async fn status(State(s): State<AppState>) -> Answer<Vec<FolderStatus>> {
    blocking(move || s.api.status()).await.map(Json)
}

/// `POST /api/folders`: registers a folder (like `supersonic init`). A running engine starts
/// syncing it when it restarts.
pub(crate) async fn add_folder(
    State(s): State<AppState>,
    Body(req): Body<control::AddFolder>,
) -> Result<(StatusCode, Json<InitOutcome>), ApiError> {
    let req = req.into_init()?;
    let out = blocking(move || s.api.init_folder(req)).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `POST /api/hydrate {"url", "path", "branch"?, "mode"?}`: starts restoring a folder from a
/// remote in the background and answers `202 {id, operation, folder}` at once; progress comes
/// as `progress` events on `/api/events`, the end as `operation_finished` (on success the
/// folder is in the config, and a running engine syncs it). A field that cannot work is a
/// `400` whose `key` names it.
pub(crate) async fn hydrate(
    State(s): State<AppState>,
    Body(req): Body<control::Hydrate>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    let op = blocking_failure(move || control::start_hydrate(&s.api, req, s.bus.clone())).await?;
    Ok((StatusCode::ACCEPTED, Json(op)))
}

/// `POST /api/seed {"path", "remote", "branch"?}`: starts pushing an existing folder into an
/// empty remote in the background, answering and reporting like `/api/hydrate`.
pub(crate) async fn seed(
    State(s): State<AppState>,
    Body(req): Body<control::Seed>,
) -> Result<(StatusCode, Json<Operation>), ApiError> {
    let op = blocking_failure(move || control::start_seed(&s.api, req, s.bus.clone())).await?;
    Ok((StatusCode::ACCEPTED, Json(op)))
}

/// Runs a control-surface call on the blocking pool.
async fn blocking_failure<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, control::Failure> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

/// `POST /api/folders/sync`: runs a cycle of the folder now and answers with what it did.
pub(crate) async fn sync_now(
    State(s): State<AppState>,
    Body(req): Body<control::FolderRequest>,
) -> Answer<CycleReport> {
    let folder = absolute(&req.folder)?;
    blocking(move || control::sync_now(&s.api, s.control.as_ref(), &folder)).await.map(Json)
}

/// `POST /api/folders/pause`.
pub(crate) async fn pause(
    State(s): State<AppState>,
    body: Body<control::FolderRequest>,
) -> Answer<PauseOutcome> {
    set_paused(s, body.0, true).await
}

/// `POST /api/folders/resume`.
pub(crate) async fn resume(
    State(s): State<AppState>,
    body: Body<control::FolderRequest>,
) -> Answer<PauseOutcome> {
    set_paused(s, body.0, false).await
}

/// Records the pause in the config (so it survives a restart) and tells the running engine.
async fn set_paused(
    s: AppState,
    req: control::FolderRequest,
    paused: bool,
) -> Answer<PauseOutcome> {
    let folder = absolute(&req.folder)?;
    blocking(move || control::set_paused(&s.api, s.control.as_ref(), &folder, paused))
        .await
        .map(Json)
}

/// `GET /api/conflicts[?folder=&auto=true]`: pending conflicts with both sides.
pub(crate) async fn conflicts(
    State(s): State<AppState>,
    Params(q): Params<control::ConflictsQuery>,
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

/// What a conflict version may do when a browser opens it as a page rather than as an image: run
/// nothing, load nothing (an SVG can carry scripts).
const BLOB_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// `GET /api/conflicts/{id}/blob/{side}`: the raw bytes of one version (`local` or `remote`),
/// for the picker's image preview. The `Content-Type` comes from the bytes
/// ([`control::media_type`]), never sniffed by the browser (`nosniff`); anything but an image
/// or text is a download; and the answer is sandboxed in case it is opened as a page.
pub(crate) async fn conflict_blob(
    State(s): State<AppState>,
    UrlPath((id, side)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let side = control::side(&side)?;
    let blob = blocking(move || s.api.conflict_blob(&id, side)).await?;
    let media_type = control::media_type(&blob.name, &blob.bytes);
    let disposition = if media_type.starts_with("image/") || media_type.starts_with("text/") {
        "inline"
    } else {
        "attachment"
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(BLOB_CSP)),
        (header::CONTENT_DISPOSITION, HeaderValue::from_static(disposition)),
    ];
    Ok((headers, blob.bytes).into_response())
}

/// `POST /api/conflicts/{id}/resolve`.
pub(crate) async fn resolve(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<control::Resolve>,
) -> Answer<ConflictOutcome> {
    let action = req.action()?;
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

/// `PATCH /api/config`: validates and saves a settings change; a `config_invalid` error names
/// the `key` at fault. The running engine applies it when it restarts.
pub(crate) async fn update_config(
    State(s): State<AppState>,
    Body(req): Body<control::UpdateConfig>,
) -> Answer<EffectiveConfig> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.update_settings(folder.as_deref(), &req.settings)).await.map(Json)
}

/// `POST /api/folders/undo {"folder": ...}`: takes back what the folder's last sync brought
/// in, as a new commit, and syncs it (through the running engine when it holds the folder).
pub(crate) async fn undo_sync(
    State(s): State<AppState>,
    Body(req): Body<control::FolderQuery>,
) -> Answer<UndoReport> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || control::undo_last_sync(&s.api, s.control.as_ref(), folder.as_deref()))
        .await
        .map(Json)
}

/// `GET /api/quarantine[?folder=]`: per folder, the files the secret guard holds back now.
pub(crate) async fn quarantine(
    State(s): State<AppState>,
    Params(q): Params<control::FolderQuery>,
) -> Answer<Vec<FolderQuarantine>> {
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.quarantine(folder.as_deref())).await.map(Json)
}

/// `POST /api/quarantine/release {"folder", "path"}`: commits a held file after all (this
/// device's decision; the file then reaches the remote and every device), and syncs.
pub(crate) async fn release_held(
    State(s): State<AppState>,
    Body(req): Body<control::HeldRequest>,
) -> Answer<HeldOutcome> {
    decide_held(s, req, HeldDecision::Release).await
}

/// `POST /api/quarantine/ignore {"folder", "path"}`: ignores a held file for good (a rule in
/// the folder's `.syncignore`), and syncs.
pub(crate) async fn ignore_held(
    State(s): State<AppState>,
    Body(req): Body<control::HeldRequest>,
) -> Answer<HeldOutcome> {
    decide_held(s, req, HeldDecision::Ignore).await
}

async fn decide_held(
    s: AppState,
    req: control::HeldRequest,
    decision: HeldDecision,
) -> Answer<HeldOutcome> {
    let (folder, path) = req.checked()?;
    blocking(move || control::decide_held(&s.api, s.control.as_ref(), &folder, &path, decision))
        .await
        .map(Json)
}

/// `GET /api/devices[?folder=]`: every device each folder's history shows.
pub(crate) async fn devices(
    State(s): State<AppState>,
    Params(q): Params<control::FolderQuery>,
) -> Answer<Vec<supersonic_core::api::FolderDevices>> {
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.devices(folder.as_deref())).await.map(Json)
}

/// `GET /api/doctor[?folder=]`: the doctor's findings per folder (a remote check each).
pub(crate) async fn doctor(
    State(s): State<AppState>,
    Params(q): Params<control::FolderQuery>,
) -> Answer<Vec<supersonic_core::doctor::Report>> {
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.doctor(folder.as_deref())).await.map(Json)
}

/// `GET /api/history[?limit=N&folder=]`: the newest events, newest first.
pub(crate) async fn history(
    State(s): State<AppState>,
    Params(q): Params<control::HistoryQuery>,
) -> Answer<Vec<HistoryRow>> {
    let limit = q.limit();
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.recent(folder.as_deref(), limit)).await.map(Json)
}

/// `POST /api/check-ignore`: which paths are ignored, and by which rule (Settings' live check).
pub(crate) async fn check_ignore(
    State(s): State<AppState>,
    Body(req): Body<control::CheckIgnore>,
) -> Answer<Vec<IgnoreCheck>> {
    let folder = req.folder.as_deref().map(absolute).transpose()?;
    blocking(move || s.api.check_ignore(folder.as_deref(), &req.paths)).await.map(Json)
}

/// `POST /api/webhooks/test`: sends a sample event and answers with each delivery's outcome.
pub(crate) async fn webhook_test(
    State(s): State<AppState>,
    Body(req): Body<control::WebhookTest>,
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
