//! The IPC commands the UI calls through `ui/src/lib/api.ts`: one per HTTP route, with the same
//! requests, answers and `{code, message, key?}` errors (see the table in `ui/README.md`). Each
//! is a few lines over [`supersonic_core::api::control`] and the core [`Api`], run on the blocking
//! pool; GET routes take their query parameters as named arguments, POST/PATCH routes their JSON
//! body as `request` (plus `id`).
//!
//! Three commands have no HTTP route, being about this desktop only: `pick_folder` (the native
//! folder picker) and `get_autostart`/`set_autostart` (start at login, [`crate::autostart`]).
//!
//! The names cross a boundary and are declared once per side: here (the handler), in `build.rs`
//! (the app manifest, which makes a permission per command) and in the capability in
//! `src-tauri/capabilities/`, which allows each one explicitly; a command missing from the
//! capability is refused at runtime.

use std::path::PathBuf;

use supersonic_core::api::control::{
    self, absolute, Failure, HeldDecision, HeldOutcome, InFolder, PauseOutcome,
};
use supersonic_core::api::{
    Api, ConflictOutcome, EffectiveConfig, FolderDevices, FolderQuarantine, IgnoreCheck,
    InitOutcome, Operation, SyncedBy, UndoReport,
};
use supersonic_core::conflicts::ConflictView;
use supersonic_core::doctor::Report;
use supersonic_core::engine::EngineControl;
use supersonic_core::folder::CycleReport;
use supersonic_core::history::HistoryRow;
use supersonic_core::status::FolderStatus;
use supersonic_core::webhooks::DeliveryReport;
use tauri::State;

use crate::autostart::{self, Autostart, SetAutostart};
use crate::Desk;

/// Every command's answer.
type Answer<T> = Result<T, Failure>;

/// Returns the handler of every command (the list `build.rs` declares as `COMMANDS`).
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        status,
        metrics,
        add_folder,
        hydrate_folder,
        seed_folder,
        sync_now,
        pause_folder,
        resume_folder,
        undo_sync,
        get_quarantine,
        release_held,
        ignore_held,
        list_conflicts,
        get_conflict,
        get_conflict_blob,
        resolve_conflict,
        undo_conflict,
        get_config,
        update_config,
        history,
        check_ignore,
        test_webhook,
        get_devices,
        run_doctor,
        pick_folder,
        get_autostart,
        set_autostart,
    ]
}

/// Runs `f` over the desk on the blocking pool: the core does file and git work.
async fn run<T, F>(desk: &Desk, f: F) -> Answer<T>
where
    F: FnOnce(&Api, Option<&EngineControl>) -> Answer<T> + Send + 'static,
    T: Send + 'static,
{
    let desk = desk.clone();
    tauri::async_runtime::spawn_blocking(move || f(&desk.api, desk.control.as_ref()))
        .await
        .map_err(Failure::internal)?
}

#[tauri::command]
async fn status(desk: State<'_, Desk>) -> Answer<Vec<FolderStatus>> {
    run(&desk, |api, _| Ok(api.status()?)).await
}

#[tauri::command]
async fn metrics(
    desk: State<'_, Desk>,
    hours: Option<u32>,
    folder: Option<PathBuf>,
) -> Answer<control::MetricsBody> {
    let q = control::MetricsQuery { hours, folder };
    run(&desk, move |api, _| Ok(control::metrics(api, &q)?)).await
}

#[tauri::command]
async fn add_folder(desk: State<'_, Desk>, request: control::AddFolder) -> Answer<InitOutcome> {
    let req = request.into_init()?;
    run(&desk, move |api, _| Ok(api.init_folder(req)?)).await
}

/// Starts restoring a folder from a remote (`POST /api/hydrate`); answers at once with the
/// operation, whose progress and end come as `sync://event`s.
#[tauri::command]
async fn hydrate_folder(desk: State<'_, Desk>, request: control::Hydrate) -> Answer<Operation> {
    run(&desk, {
        let bus = desk.bus.clone();
        move |api, _| control::start_hydrate(api, request, bus)
    })
    .await
}

/// Starts pushing an existing folder into an empty remote (`POST /api/seed`), like
/// [`hydrate_folder`].
#[tauri::command]
async fn seed_folder(desk: State<'_, Desk>, request: control::Seed) -> Answer<Operation> {
    run(&desk, {
        let bus = desk.bus.clone();
        move |api, _| control::start_seed(api, request, bus)
    })
    .await
}

#[tauri::command]
async fn sync_now(desk: State<'_, Desk>, request: control::FolderRequest) -> Answer<CycleReport> {
    let folder = absolute(&request.folder)?;
    run(&desk, move |api, engine| Ok(control::sync_now(api, engine, &folder)?)).await
}

#[tauri::command]
async fn pause_folder(
    desk: State<'_, Desk>,
    request: control::FolderRequest,
) -> Answer<PauseOutcome> {
    let folder = absolute(&request.folder)?;
    run(&desk, move |api, engine| Ok(control::set_paused(api, engine, &folder, true)?)).await
}

#[tauri::command]
async fn resume_folder(
    desk: State<'_, Desk>,
    request: control::FolderRequest,
) -> Answer<PauseOutcome> {
    let folder = absolute(&request.folder)?;
    run(&desk, move |api, engine| Ok(control::set_paused(api, engine, &folder, false)?)).await
}

/// Takes back what the folder's last sync brought in, as a new commit, and syncs it.
#[tauri::command]
async fn undo_sync(desk: State<'_, Desk>, request: control::FolderQuery) -> Answer<UndoReport> {
    let folder = request.folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, engine| Ok(control::undo_last_sync(api, engine, folder.as_deref())?))
        .await
}

#[tauri::command]
async fn get_quarantine(
    desk: State<'_, Desk>,
    folder: Option<PathBuf>,
) -> Answer<Vec<FolderQuarantine>> {
    let folder = folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| Ok(api.quarantine(folder.as_deref())?)).await
}

#[tauri::command]
async fn release_held(desk: State<'_, Desk>, request: control::HeldRequest) -> Answer<HeldOutcome> {
    decide_held(&desk, request, HeldDecision::Release).await
}

#[tauri::command]
async fn ignore_held(desk: State<'_, Desk>, request: control::HeldRequest) -> Answer<HeldOutcome> {
    decide_held(&desk, request, HeldDecision::Ignore).await
}

/// Releases or ignores a held file, then syncs the folder (through the engine when it runs).
async fn decide_held(
    desk: &Desk,
    request: control::HeldRequest,
    decision: HeldDecision,
) -> Answer<HeldOutcome> {
    let (folder, path) = request.checked()?;
    run(desk, move |api, engine| Ok(control::decide_held(api, engine, &folder, &path, decision)?))
        .await
}

#[tauri::command]
async fn list_conflicts(
    desk: State<'_, Desk>,
    folder: Option<PathBuf>,
    auto: Option<bool>,
) -> Answer<Vec<InFolder<ConflictView>>> {
    let folder = folder.as_deref().map(absolute).transpose()?;
    let list =
        run(&desk, move |api, _| Ok(api.conflicts(folder.as_deref(), auto.unwrap_or(false))?))
            .await?;
    Ok(list.into_iter().map(|(folder, conflict)| InFolder { folder, conflict }).collect())
}

#[tauri::command]
async fn get_conflict(desk: State<'_, Desk>, id: String) -> Answer<InFolder<ConflictView>> {
    let (folder, conflict) = run(&desk, move |api, _| Ok(api.conflict(&id)?)).await?;
    Ok(InFolder { folder, conflict })
}

/// One version's bytes for the picker's image preview: the HTTP route answers raw bytes with
/// a `Content-Type`; IPC carries JSON, so the same bytes come as base64 with the media type.
#[tauri::command]
async fn get_conflict_blob(
    desk: State<'_, Desk>,
    id: String,
    side: String,
) -> Answer<control::BlobPayload> {
    let side = control::side(&side)?;
    run(&desk, move |api, _| Ok(api.conflict_blob(&id, side)?.into())).await
}

#[tauri::command]
async fn resolve_conflict(
    desk: State<'_, Desk>,
    id: String,
    request: control::Resolve,
) -> Answer<ConflictOutcome> {
    let action = request.action()?;
    run(&desk, move |api, engine| {
        let out = api.resolve_conflict(&id, action)?;
        nudge_engine(engine, &out);
        Ok(out)
    })
    .await
}

#[tauri::command]
async fn undo_conflict(desk: State<'_, Desk>, id: String) -> Answer<ConflictOutcome> {
    run(&desk, move |api, engine| {
        let out = api.undo_conflict(&id)?;
        nudge_engine(engine, &out);
        Ok(out)
    })
    .await
}

/// When the engine in this process holds the folder, asks it to sync the decision now rather
/// than after its watcher's quiet period (as the HTTP face does); the answer does not wait.
fn nudge_engine(engine: Option<&EngineControl>, out: &ConflictOutcome) {
    if out.synced != SyncedBy::RunningEngine {
        return;
    }
    if let Some(engine) = control::engine_for(engine, &out.folder).cloned() {
        let folder = out.folder.clone();
        std::thread::spawn(move || {
            if let Err(e) = engine.sync_now(&folder) {
                tracing::warn!("{}: sync after a conflict decision failed: {e}", folder.display());
            }
        });
    }
}

#[tauri::command]
async fn get_config(desk: State<'_, Desk>) -> Answer<EffectiveConfig> {
    run(&desk, |api, _| Ok(api.effective_config()?)).await
}

#[tauri::command]
async fn update_config(
    desk: State<'_, Desk>,
    request: control::UpdateConfig,
) -> Answer<EffectiveConfig> {
    let folder = request.folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| Ok(api.update_settings(folder.as_deref(), &request.settings)?)).await
}

#[tauri::command]
async fn history(
    desk: State<'_, Desk>,
    limit: Option<usize>,
    folder: Option<PathBuf>,
) -> Answer<Vec<HistoryRow>> {
    let q = control::HistoryQuery { limit, folder };
    let folder = q.folder.as_deref().map(absolute).transpose()?;
    let limit = q.limit();
    run(&desk, move |api, _| Ok(api.recent(folder.as_deref(), limit)?)).await
}

#[tauri::command]
async fn check_ignore(
    desk: State<'_, Desk>,
    request: control::CheckIgnore,
) -> Answer<Vec<IgnoreCheck>> {
    let folder = request.folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| Ok(api.check_ignore(folder.as_deref(), &request.paths)?)).await
}

#[tauri::command]
async fn test_webhook(
    desk: State<'_, Desk>,
    request: control::WebhookTest,
) -> Answer<Vec<DeliveryReport>> {
    let folder = request.folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| {
        Ok(api.webhook_test(folder.as_deref(), &request.event, request.url.as_deref())?)
    })
    .await
}

#[tauri::command]
async fn get_devices(desk: State<'_, Desk>, folder: Option<PathBuf>) -> Answer<Vec<FolderDevices>> {
    let folder = folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| Ok(api.devices(folder.as_deref())?)).await
}

/// Runs the doctor; it contacts each folder's remote, so it may take seconds (the webview
/// waits for the answer without blocking: the work is on the blocking pool).
#[tauri::command]
async fn run_doctor(desk: State<'_, Desk>, folder: Option<PathBuf>) -> Answer<Vec<Report>> {
    let folder = folder.as_deref().map(absolute).transpose()?;
    run(&desk, move |api, _| Ok(api.doctor(folder.as_deref())?)).await
}

/// Whether the app starts at login (its XDG autostart entry).
#[tauri::command]
async fn get_autostart() -> Answer<Autostart> {
    on_disk(|| autostart::state(&autostart::file_from_env()?)).await
}

/// Starts the app at login from now on (writes the entry naming this program), or no longer.
#[tauri::command]
async fn set_autostart(request: SetAutostart) -> Answer<Autostart> {
    on_disk(move || {
        let file = autostart::file_from_env()?;
        if request.enabled {
            autostart::enable(&file, &autostart::launcher_from_env()?)
        } else {
            autostart::disable(&file)
        }
    })
    .await
}

/// Runs file work of the shell's own on the blocking pool, like the core's.
async fn on_disk<T: Send + 'static>(f: impl FnOnce() -> Answer<T> + Send + 'static) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(Failure::internal)?
}

/// Asks the user for a folder with the native picker; `None` when they cancel.
#[tauri::command]
async fn pick_folder(app: tauri::AppHandle) -> Answer<Option<PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    let picked = tauri::async_runtime::spawn_blocking(move || {
        app.dialog().file().set_title("Choose a folder to sync").blocking_pick_folder()
    })
    .await
    .map_err(Failure::internal)?;
    picked.map(|p| p.into_path()).transpose().map_err(Failure::internal)
}
