//! Supersonic Sync desktop app: a thin Tauri shell over `supersonic_core`.
//!
//! Process policy only: one instance per session (a second launch focuses the first and exits
//! before it starts an engine), the same engine as `supersonic run` (the per-folder lock keeps
//! the two off the same folder), a tray icon that lives as long as the app, and a main window
//! that hides to the tray when closed. The surfaces live in their modules: IPC commands
//! ([`commands`]), engine events to the webview and the tray ([`bridge`]), the tray ([`tray`])
//! and native notifications ([`notify`]).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod autostart;
mod bridge;
mod commands;
mod notify;
mod tray;
mod window_state;

use std::sync::{Arc, Mutex};

use supersonic_core::api::Api;
use supersonic_core::engine::{EngineControl, EngineHandle};
use supersonic_core::events::EventBus;
use supersonic_core::outlets::{self, SharedWebhooks};
use tauri::Manager;

/// The label of the main window (tauri.conf.json and the capability name it too).
pub const MAIN_WINDOW: &str = "main";

/// What the shell's surfaces reach: the core façade and, when it runs, the engine's control.
#[derive(Clone)]
pub struct Desk {
    /// The core façade.
    pub api: Api,
    /// The engine running in this process, when any folder is configured.
    pub control: Option<EngineControl>,
    /// The engine's event bus: background operations (hydrate, seed) report on it.
    pub bus: EventBus,
}

/// The running engine, stopped (pending changes committed) when the app exits.
struct Engine(Mutex<Option<EngineHandle>>);

/// Webhook delivery, as `supersonic run` does it; flushed after the engine stops.
struct Webhooks(SharedWebhooks);

/// Starts webhook delivery for the configured folders; a bad setting is logged (it names the
/// key) and the app runs without webhooks rather than not at all.
fn start_webhooks(api: &Api, bus: &EventBus) -> Option<supersonic_core::webhooks::WebhookHandle> {
    let started = api.load().and_then(|(app, folders)| {
        let device = api.device(&app)?;
        let history = api.dirs().data_dir.join(supersonic_core::history::HISTORY_FILE);
        let settings = supersonic_core::webhooks::folder_settings(&folders);
        supersonic_core::webhooks::start(settings, device.name, bus, history)
    });
    started.map_err(|e| tracing::warn!("webhooks are off: {e}")).ok()
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SUPERSONIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let app = tauri::Builder::default()
        // First: a second instance is handed to the first before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("a second launch asked for the window");
            show_main_window(app);
        }))
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(commands::handler())
        .setup(|app| {
            tracing::info!("Supersonic Sync {} started", env!("CARGO_PKG_VERSION"));
            let api = Api::from_env(std::env::vars().collect())?;
            let bus = EventBus::default();
            let folders = api.load().map(|(_, folders)| folders).unwrap_or_default();
            // Subscribed before the engine starts, so its first events are sent too.
            let webhooks: SharedWebhooks = Arc::new(Mutex::new(start_webhooks(&api, &bus)));
            let engine = match api.start(bus.clone()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!("sync engine not started: {e}");
                    None
                }
            };
            let desk =
                Desk { api, control: engine.as_ref().map(EngineHandle::control), bus: bus.clone() };
            let (notify_updates, updates) = crossbeam_channel::unbounded();
            let settings = supersonic_core::notifications::folder_settings(&folders);
            notify::start(app.handle().clone(), settings, bus.subscribe(), updates);
            if let Some(control) = &desk.control {
                outlets::follow(control.subscribe_config(), notify_updates, webhooks.clone());
            }
            app.manage(Webhooks(webhooks));
            app.manage(desk.clone());
            app.manage(Engine(Mutex::new(engine)));
            tray::build(app.handle())?;
            window_state::restore(app.handle(), &desk.api.dirs().data_dir);
            if std::env::args().any(|a| a == autostart::HIDDEN_FLAG) {
                // Started at login: live in the tray until the user opens the window.
                if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                    let _ = window.hide();
                }
                tracing::info!("started hidden in the tray ({})", autostart::HIDDEN_FLAG);
            }
            bridge::start(app.handle().clone(), desk, bus.subscribe());
            quit_on_signals(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| match event {
            // Closing the window hides it: the app lives in the tray until Quit.
            tauri::WindowEvent::CloseRequested { api, .. } if window.label() == MAIN_WINDOW => {
                api.prevent_close();
                let _ = window.hide();
            }
            tauri::WindowEvent::Resized(_) | tauri::WindowEvent::Moved(_)
                if window.label() == MAIN_WINDOW =>
            {
                window_state::save(window);
            }
            _ => {}
        })
        .build(tauri::generate_context!())
        .expect("the Tauri runtime failed to start");
    app.run(|handle, event| match event {
        // Hidden windows are not a reason to exit; only Quit (an explicit exit code) is.
        tauri::RunEvent::ExitRequested { code: None, api, .. } => api.prevent_exit(),
        tauri::RunEvent::Exit => {
            if let Some(engine) = handle.state::<Engine>().0.lock().ok().and_then(|mut e| e.take())
            {
                engine.stop();
            }
            // After the engine: its last events are still delivered (briefly bounded).
            let webhooks = handle.state::<Webhooks>();
            drop(webhooks.0.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        _ => {}
    });
}

/// Quits like the tray's Quit (pending changes committed by the engine's stop) on SIGTERM — a
/// logout or `kill` — and SIGINT.
fn quit_on_signals(app: tauri::AppHandle) {
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            tracing::warn!("cannot listen for SIGTERM; a logout may interrupt a sync");
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("received {name}; committing pending changes and quitting");
        app.exit(0);
    });
}

/// Shows, unminimises and focuses the main window on the page it was on.
pub fn show_main_window(app: &tauri::AppHandle) {
    show_page(app, None);
}

/// Shows the main window on `page` (the UI routes by `#/page`).
pub fn show_page(app: &tauri::AppHandle, page: Option<&str>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else { return };
    if let Some(page) = page {
        // The page name is one of ours (tray ids, notification pages), never user input.
        let _ = window.eval(format!("window.location.hash = '#/{page}'"));
    }
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}
