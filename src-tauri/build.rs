//! Build step of the desktop app: Tauri's code generation, with the app's IPC commands declared
//! so that each gets an `allow-<command>` permission the capability can grant one by one.

/// The app's IPC commands (`src-tauri/commands.rs` registers the same names).
const COMMANDS: &[&str] = &[
    "status",
    "metrics",
    "add_folder",
    "hydrate_folder",
    "seed_folder",
    "sync_now",
    "pause_folder",
    "resume_folder",
    "undo_sync",
    "get_quarantine",
    "release_held",
    "ignore_held",
    "list_conflicts",
    "get_conflict",
    "get_conflict_blob",
    "resolve_conflict",
    "undo_conflict",
    "get_config",
    "update_config",
    "history",
    "check_ignore",
    "test_webhook",
    "get_devices",
    "run_doctor",
    "pick_folder",
    "get_autostart",
    "set_autostart",
];

fn main() {
    // Capabilities live beside the shell's sources, not at the workspace root.
    let attrs = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attrs).expect("tauri build step failed");
}
