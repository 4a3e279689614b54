//! The tray icon: its image follows the aggregate state of all folders
//! ([`supersonic_core::status::aggregate`] decides; this module only maps a state to an image),
//! its tooltip says when the last sync was and what is pending, and its menu offers the everyday
//! actions: status line, Sync now, Pause 1 h / Resume, Open folder, Dashboard, Conflicts (N),
//! Settings, Quit.
//!
//! Menu ids are declared once, in [`menu_id`]. Actions run on a thread of their own (they do git
//! work) and refresh the tray when done; engine events refresh it too ([`crate::bridge`]).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

use supersonic_core::api::control;
use supersonic_core::status::{aggregate, FolderState, TrayState};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use crate::Desk;

/// The tray icon's id.
const TRAY_ID: &str = "supersonic";

/// How long "Pause 1 h" pauses every folder: long enough for a meeting or a large copy, short
/// enough that a forgotten pause does not leave the folders unsynced for the day.
pub const PAUSE_FOR: Duration = Duration::from_secs(60 * 60);

/// The tray menu's item ids.
pub mod menu_id {
    /// The status line (opens the Status page).
    pub const STATUS: &str = "status";
    /// Sync every folder now.
    pub const SYNC_NOW: &str = "sync_now";
    /// Pause every folder for [`super::PAUSE_FOR`], or resume them.
    pub const PAUSE: &str = "pause";
    /// Open the first folder in the file manager.
    pub const OPEN_FOLDER: &str = "open_folder";
    /// Show the Dashboard page.
    pub const DASHBOARD: &str = "dashboard";
    /// Show the Conflicts page.
    pub const CONFLICTS: &str = "conflicts";
    /// Show the Settings page.
    pub const SETTINGS: &str = "settings";
    /// Quit the app (the engine commits pending changes first).
    pub const QUIT: &str = "quit";
}

/// The menu items whose text follows the state, and the pending "resume after 1 h" timer.
struct Tray {
    status: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    conflicts: MenuItem<Wry>,
    /// Dropping the sender cancels the timer.
    resume_timer: Mutex<Option<Sender<()>>>,
    /// The last state shown, to log changes once.
    shown: Mutex<Option<TrayState>>,
}

/// What the tray shows, read from the core.
struct View {
    state: TrayState,
    folders: usize,
    last_sync: Option<String>,
    pending_changes: usize,
    unpushed_commits: usize,
    conflicts: usize,
    first_error: Option<String>,
}

impl View {
    fn read(desk: &Desk) -> View {
        let folders = desk.api.status().unwrap_or_default();
        let conflicts = control::pending_conflicts(&desk.api).len();
        View {
            state: aggregate(&folders, conflicts),
            folders: folders.len(),
            last_sync: folders.iter().filter_map(|f| f.last_sync.clone()).max(),
            pending_changes: folders.iter().map(|f| f.pending_changes).sum(),
            unpushed_commits: folders.iter().map(|f| f.unpushed_commits).sum(),
            conflicts,
            first_error: folders.iter().find_map(|f| match &f.state {
                FolderState::Error { message, .. } => Some(message.clone()),
                _ => None,
            }),
        }
    }

    fn status_line(&self) -> String {
        match self.state {
            _ if self.folders == 0 => "No folders yet".into(),
            TrayState::Idle => format!("Up to date · {} folder(s)", self.folders),
            TrayState::Syncing => "Syncing…".into(),
            TrayState::Paused => "Paused".into(),
            TrayState::Conflict => format!("{} conflict(s) to resolve", self.conflicts),
            TrayState::Error => {
                let message = self.first_error.as_deref().unwrap_or("syncing stopped");
                format!("Error: {}", message.chars().take(60).collect::<String>())
            }
        }
    }

    fn tooltip(&self) -> String {
        let last = match &self.last_sync {
            // RFC 3339: the date and the minute are enough at a glance.
            Some(t) => t.get(..16).unwrap_or(t).replace('T', " "),
            None => "never".into(),
        };
        format!(
            "Supersonic Sync: {}\nLast sync: {last}\nPending: {} change(s), {} commit(s) to push",
            self.status_line(),
            self.pending_changes,
            self.unpushed_commits
        )
    }
}

/// Returns the tray image of a state.
fn icon(state: TrayState) -> tauri::Result<Image<'static>> {
    Image::from_bytes(match state {
        TrayState::Idle => include_bytes!("../icons/tray-idle.png"),
        TrayState::Syncing => include_bytes!("../icons/tray-syncing.png"),
        TrayState::Paused => include_bytes!("../icons/tray-paused.png"),
        TrayState::Error => include_bytes!("../icons/tray-error.png"),
        TrayState::Conflict => include_bytes!("../icons/tray-conflict.png"),
    })
}

/// Creates the tray icon and its menu.
pub fn build(app: &AppHandle) -> tauri::Result<()> {
    let item = |id: &str, text: &str| MenuItem::with_id(app, id, text, true, None::<&str>);
    let tray = Tray {
        status: item(menu_id::STATUS, "Starting…")?,
        pause: item(menu_id::PAUSE, "Pause 1 h")?,
        conflicts: item(menu_id::CONFLICTS, "Conflicts (0)")?,
        resume_timer: Mutex::new(None),
        shown: Mutex::new(None),
    };
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &tray.status,
            &separator,
            &item(menu_id::SYNC_NOW, "Sync now")?,
            &tray.pause,
            &item(menu_id::OPEN_FOLDER, "Open folder")?,
            &PredefinedMenuItem::separator(app)?,
            &item(menu_id::DASHBOARD, "Dashboard")?,
            &tray.conflicts,
            &item(menu_id::SETTINGS, "Settings")?,
            &PredefinedMenuItem::separator(app)?,
            &item(menu_id::QUIT, "Quit")?,
        ],
    )?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(TrayState::Idle)?)
        .tooltip("Supersonic Sync")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    app.manage(tray);
    Ok(())
}

/// Reads the state from the core and shows it: image, tooltip, status line, menu labels.
pub fn refresh(app: &AppHandle, desk: &Desk) {
    let view = View::read(desk);
    let tray = app.state::<Tray>();
    let changed = tray.shown.lock().map(|mut s| s.replace(view.state) != Some(view.state));
    if changed.unwrap_or(true) {
        tracing::info!("tray state: {}", state_name(view.state));
    }
    let _ = tray.status.set_text(view.status_line());
    let _ = tray.conflicts.set_text(format!("Conflicts ({})", view.conflicts));
    let _ =
        tray.pause.set_text(if view.state == TrayState::Paused { "Resume" } else { "Pause 1 h" });
    if let Some(icon_handle) = app.tray_by_id(TRAY_ID) {
        if let Err(e) = icon(view.state).and_then(|i| icon_handle.set_icon(Some(i))) {
            tracing::warn!("cannot set the tray icon: {e}");
        }
        let _ = icon_handle.set_tooltip(Some(view.tooltip()));
    }
}

/// Returns the wire name of a state (as the core serialises it).
fn state_name(state: TrayState) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let desk = app.state::<Desk>().inner().clone();
    match event.id().as_ref() {
        menu_id::STATUS => crate::show_page(app, Some("status")),
        menu_id::DASHBOARD => crate::show_page(app, Some("dashboard")),
        menu_id::CONFLICTS => crate::show_page(app, Some("conflicts")),
        menu_id::SETTINGS => crate::show_page(app, Some("settings")),
        menu_id::QUIT => app.exit(0),
        menu_id::SYNC_NOW => in_background(app, desk, sync_all),
        menu_id::PAUSE => in_background(app, desk, toggle_pause),
        menu_id::OPEN_FOLDER => {
            match desk.api.folder_paths(None).ok().and_then(|f| f.into_iter().next()) {
                Some(folder) => open_in_file_manager(&folder),
                None => crate::show_page(app, Some("settings")),
            }
        }
        other => tracing::debug!("unknown tray menu id {other}"),
    }
}

/// Runs a tray action off the main thread, then refreshes the tray.
fn in_background(app: &AppHandle, desk: Desk, action: fn(&AppHandle, &Desk)) {
    let app = app.clone();
    std::thread::spawn(move || {
        action(&app, &desk);
        refresh(&app, &desk);
    });
}

fn sync_all(_: &AppHandle, desk: &Desk) {
    for folder in desk.api.folder_paths(None).unwrap_or_default() {
        if let Err(e) = control::sync_now(&desk.api, desk.control.as_ref(), &folder) {
            tracing::warn!("{}: sync now failed: {e}", folder.display());
        }
    }
}

/// Resumes every folder when all are paused; else pauses them all for [`PAUSE_FOR`].
fn toggle_pause(app: &AppHandle, desk: &Desk) {
    let tray = app.state::<Tray>();
    let paused = View::read(desk).state == TrayState::Paused;
    // Either way a pending timer is obsolete: dropping its sender cancels it.
    drop(tray.resume_timer.lock().ok().and_then(|mut t| t.take()));
    set_all_paused(desk, !paused);
    if paused {
        return;
    }
    let (cancel, cancelled) = mpsc::channel::<()>();
    if let Ok(mut timer) = tray.resume_timer.lock() {
        *timer = Some(cancel);
    }
    let (app, desk) = (app.clone(), desk.clone());
    std::thread::spawn(move || {
        if cancelled.recv_timeout(PAUSE_FOR) == Err(RecvTimeoutError::Timeout) {
            tracing::info!("pause of {PAUSE_FOR:?} is over: resuming");
            set_all_paused(&desk, false);
            refresh(&app, &desk);
        }
    });
}

fn set_all_paused(desk: &Desk, paused: bool) {
    for folder in desk.api.folder_paths(None).unwrap_or_default() {
        if let Err(e) = control::set_paused(&desk.api, desk.control.as_ref(), &folder, paused) {
            tracing::warn!("{}: cannot change the pause: {e}", folder.display());
        }
    }
}

/// Opens `folder` in the desktop's file manager.
fn open_in_file_manager(folder: &Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(folder).spawn() {
        tracing::warn!("cannot open {} with {opener}: {e}", folder.display());
    }
}
