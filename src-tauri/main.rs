//! Supersonic Sync desktop app: a thin Tauri shell over `supersonic_core`.
//!
//! Process policy only: it hosts the same engine as `supersonic run` (the per-folder lock keeps
//! the two off the same folder) and opens the main window on the bundled UI. The tray, IPC
//! commands and notifications arrive with the desktop work.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::sync::Mutex;

use supersonic_core::api::Api;
use supersonic_core::engine::EngineHandle;
use supersonic_core::events::EventBus;

/// The running engine, stopped (pending changes committed) when the app exits.
struct Engine(Mutex<Option<EngineHandle>>);

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SUPERSONIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let app = tauri::Builder::default()
        .setup(|app| {
            use tauri::Manager;
            tracing::info!("Supersonic Sync {} started", env!("CARGO_PKG_VERSION"));
            let engine = Api::from_env(std::env::vars().collect())
                .and_then(|api| api.start(EventBus::default()));
            let engine = match engine {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!("sync engine not started: {e}");
                    None
                }
            };
            app.manage(Engine(Mutex::new(engine)));
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            use tauri::Manager;
            if let Some(engine) = handle.state::<Engine>().0.lock().ok().and_then(|mut e| e.take())
            {
                engine.stop();
            }
        }
    });
}
