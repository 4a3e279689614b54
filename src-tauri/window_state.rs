//! The main window's size and position, kept across restarts in the data dir
//! (`window-state.json`): saved whenever the window is moved or resized, restored at start.
//! A missing or unreadable file, or a position off every monitor, just means the defaults.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{Manager, PhysicalPosition, PhysicalSize, Runtime, Window};

/// The file, in the data dir.
const FILE: &str = "window-state.json";

/// Smallest size restored: a window saved tiny stays usable.
const MIN_SIZE: (u32, u32) = (480, 360);

/// What is kept of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    width: u32,
    height: u32,
    x: i32,
    y: i32,
    maximized: bool,
}

/// Where the state is saved, and the last state written (to skip identical writes).
struct Saved {
    file: PathBuf,
    last: Mutex<Option<State>>,
}

/// Applies the saved state to the main window and starts saving changes.
pub fn restore<R: Runtime>(app: &tauri::AppHandle<R>, data_dir: &Path) {
    let file = data_dir.join(FILE);
    let saved = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice::<State>(&b).ok());
    if let (Some(state), Some(window)) = (saved, app.get_webview_window(crate::MAIN_WINDOW)) {
        let size = PhysicalSize::new(state.width.max(MIN_SIZE.0), state.height.max(MIN_SIZE.1));
        let _ = window.set_size(size);
        let on_screen = window.available_monitors().unwrap_or_default().iter().any(|m| {
            let (p, s) = (m.position(), m.size());
            state.x >= p.x
                && state.y >= p.y
                && state.x < p.x + s.width as i32
                && state.y < p.y + s.height as i32
        });
        if on_screen {
            let _ = window.set_position(PhysicalPosition::new(state.x, state.y));
        }
        if state.maximized {
            let _ = window.maximize();
        }
        tracing::info!("window state restored: {}x{}", size.width, size.height);
    }
    app.manage(Saved { file, last: Mutex::new(saved) });
}

/// Saves the window's current size and position (when they changed).
pub fn save<R: Runtime>(window: &Window<R>) {
    let Some(saved) = window.try_state::<Saved>() else { return };
    let (Ok(size), Ok(pos)) = (window.inner_size(), window.outer_position()) else { return };
    let maximized = window.is_maximized().unwrap_or(false);
    let mut last = saved.last.lock().unwrap_or_else(|e| e.into_inner());
    let state = match (*last, maximized) {
        // Maximised: keep the normal size and place to return to.
        (Some(prev), true) => State { maximized: true, ..prev },
        _ => State { width: size.width, height: size.height, x: pos.x, y: pos.y, maximized },
    };
    if *last == Some(state) || state.width == 0 || state.height == 0 {
        return;
    }
    let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
    match supersonic_core::paths::write_atomic(&saved.file, &json) {
        Ok(()) => *last = Some(state),
        Err(e) => tracing::debug!("cannot save the window state: {e}"),
    }
}
