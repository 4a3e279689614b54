//! Start at login: an XDG autostart entry, `supersonic-sync.desktop` in
//! `$XDG_CONFIG_HOME/autostart` (by default `~/.config/autostart`), which every freedesktop
//! session (GNOME, KDE, Xfce, ...) launches when the user logs in.
//!
//! The entry is the whole state: it exists and is not switched off (`Hidden=true`,
//! `X-GNOME-Autostart-enabled=false`, which a desktop's own startup settings may write) means
//! enabled; removing it disables. Nothing else records the choice, so a user who deletes the
//! file by hand sees the toggle off. Writing replaces the file atomically (a temp file renamed
//! over it), so a session that starts meanwhile never reads half an entry.
//!
//! The entry starts the program that is running now (or the AppImage it runs from): a moved
//! or reinstalled app is picked up again by switching the toggle off and on. Path resolution
//! and the entry's text are pure functions of their inputs, tested below; only [`state`],
//! [`enable`] and [`disable`] touch the file system.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use supersonic_core::api::control::Failure;

/// The entry's file name: the app's binary name, as desktops expect.
pub const FILE_NAME: &str = "supersonic-sync.desktop";

/// The icon the entry names: the one the app's package installs under the binary's name.
const ICON: &str = "supersonic-sync";

/// The autostart entry as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Autostart {
    /// Whether the app starts at login.
    pub enabled: bool,
    /// The entry's path (present or not).
    pub file: PathBuf,
}

/// `set_autostart`'s request.
#[derive(Debug, Clone, Deserialize)]
pub struct SetAutostart {
    /// Whether the app should start at login.
    pub enabled: bool,
}

/// Returns the autostart directory: `$XDG_CONFIG_HOME/autostart`, else
/// `$HOME/.config/autostart`.
///
/// Relative or empty values are ignored, as the XDG base directory spec asks; `None` when
/// neither variable gives an absolute path.
pub fn autostart_dir(xdg_config_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    if let Some(config) = absolute(xdg_config_home) {
        return Some(config.join("autostart"));
    }
    absolute(home).map(|h| h.join(".config").join("autostart"))
}

/// Returns the value as a path when it is an absolute one.
fn absolute(value: Option<&OsStr>) -> Option<&Path> {
    value.map(Path::new).filter(|p| p.is_absolute())
}

/// Returns the program a login should start: the AppImage when the app runs from one (its
/// executable then lives in a mount that is gone after logout), else `current_exe`.
///
/// An executable replaced while running (a package upgrade) reads as `path (deleted)` on
/// Linux; the entry names `path`, where the new version now is.
pub fn launcher(current_exe: &Path, appimage: Option<&OsStr>) -> PathBuf {
    if let Some(image) = absolute(appimage) {
        return image.to_path_buf();
    }
    match current_exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(kept) => PathBuf::from(kept),
        None => current_exe.to_path_buf(),
    }
}

/// The argument that starts the app in the tray, its window hidden (how a login starts it).
pub const HIDDEN_FLAG: &str = "--hidden";

/// Returns the desktop entry that starts `exec` at login, in the tray.
///
/// Fails for a path a desktop entry cannot carry: not UTF-8, or with a control character
/// (a newline would end the `Exec=` line).
pub fn desktop_entry(exec: &Path) -> Result<String, String> {
    let path = exec.to_str().ok_or_else(|| format!("{} is not UTF-8", exec.display()))?;
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains a control character"));
    }
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Version=1.0\n\
         Name=Supersonic Sync\n\
         Comment=Keep folders in sync through git\n\
         Exec={exec} {HIDDEN_FLAG}\n\
         Icon={ICON}\n\
         Terminal=false\n\
         Categories=Utility;\n\
         X-GNOME-Autostart-enabled=true\n",
        exec = exec_arg(path)
    ))
}

/// Returns `path` as one argument of an `Exec=` key (Desktop Entry spec, "The Exec key").
///
/// A path without reserved characters stays as it is. Otherwise it is double-quoted with `"`,
/// `` ` ``, `$` and `\` backslash-escaped; the value is then escaped as a string, which doubles
/// every backslash (so a literal `\` becomes `\\\\`). `%` starts a field code anywhere and is
/// written `%%`.
fn exec_arg(path: &str) -> String {
    const RESERVED: &[char] =
        &[' ', '\t', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '`'];
    let percent = path.replace('%', "%%");
    if !percent.contains(RESERVED) {
        return percent;
    }
    let mut quoted = String::from("\"");
    for c in percent.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted.replace('\\', "\\\\")
}

/// Returns whether an entry's text starts the app: not `Hidden=true`, not
/// `X-GNOME-Autostart-enabled=false` (in its `[Desktop Entry]` group).
pub fn entry_enabled(text: &str) -> bool {
    let mut in_entry = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let (key, value) = (key.trim(), value.trim());
        if in_entry
            && ((key == "Hidden" && value == "true")
                || (key == "X-GNOME-Autostart-enabled" && value == "false"))
        {
            return false;
        }
    }
    true
}

/// Returns the entry's path for this process's environment.
pub fn file_from_env() -> Result<PathBuf, Failure> {
    let dir = autostart_dir(
        std::env::var_os("XDG_CONFIG_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
    .ok_or_else(|| {
        Failure::internal("neither XDG_CONFIG_HOME nor HOME is an absolute path: no autostart")
    })?;
    Ok(dir.join(FILE_NAME))
}

/// Returns the program this process would have a login start.
pub fn launcher_from_env() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot tell which program this is: {e}")))?;
    Ok(launcher(&exe, std::env::var_os("APPIMAGE").as_deref()))
}

/// Reads whether the entry at `file` enables autostart (absent: disabled).
pub fn state(file: &Path) -> Result<Autostart, Failure> {
    let enabled = match fs::read_to_string(file) {
        Ok(text) => entry_enabled(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_failure("read", file, e)),
    };
    Ok(Autostart { enabled, file: file.to_path_buf() })
}

/// Writes the entry at `file` to start `exec`, creating its directory.
pub fn enable(file: &Path, exec: &Path) -> Result<Autostart, Failure> {
    let text = desktop_entry(exec).map_err(|why| Failure {
        code: "io_failed".into(),
        message: format!("cannot start this program at login: {why}"),
        key: None,
    })?;
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).map_err(|e| io_failure("create", dir, e))?;
    }
    let tmp = file.with_extension("desktop.tmp");
    fs::write(&tmp, text).map_err(|e| io_failure("write", &tmp, e))?;
    fs::rename(&tmp, file).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_failure("write", file, e)
    })?;
    state(file)
}

/// Removes the entry at `file` (already absent is fine).
pub fn disable(file: &Path) -> Result<Autostart, Failure> {
    match fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_failure("remove", file, e)),
    }
    state(file)
}

/// Returns an `io_failed` failure naming the path (the core's code for file errors).
fn io_failure(action: &str, path: &Path, e: io::Error) -> Failure {
    Failure {
        code: "io_failed".into(),
        message: format!("cannot {action} {}: {e}", path.display()),
        key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn dir_is_under_xdg_config_home_when_it_is_set() {
        assert_eq!(
            autostart_dir(os("/cfg"), os("/home/me")),
            Some(PathBuf::from("/cfg/autostart")),
            "XDG_CONFIG_HOME wins over HOME"
        );
    }

    #[test]
    fn dir_falls_back_to_home_config_when_xdg_config_home_is_unset_empty_or_relative() {
        let want = Some(PathBuf::from("/home/me/.config/autostart"));
        assert_eq!(autostart_dir(None, os("/home/me")), want, "unset");
        assert_eq!(autostart_dir(os(""), os("/home/me")), want, "empty is unset (XDG spec)");
        assert_eq!(autostart_dir(os("cfg"), os("/home/me")), want, "relative is ignored");
    }

    #[test]
    fn dir_is_unknown_without_an_absolute_home() {
        assert_eq!(autostart_dir(None, None), None, "nowhere to write");
        assert_eq!(autostart_dir(None, os("me")), None, "a relative HOME means nothing");
    }

    #[test]
    fn launcher_is_the_appimage_when_running_from_one() {
        let exe = Path::new("/tmp/.mount_abc/usr/bin/supersonic-sync");
        assert_eq!(
            launcher(exe, os("/home/me/Apps/Supersonic.AppImage")),
            PathBuf::from("/home/me/Apps/Supersonic.AppImage"),
            "the mount is gone after logout; the image stays"
        );
        assert_eq!(launcher(exe, os("")), exe, "an empty APPIMAGE is no AppImage");
    }

    #[test]
    fn launcher_names_the_upgraded_binary_when_the_running_one_was_replaced() {
        assert_eq!(
            launcher(Path::new("/usr/bin/supersonic-sync (deleted)"), None),
            PathBuf::from("/usr/bin/supersonic-sync"),
            "after an upgrade the new binary is at the old path"
        );
        assert_eq!(
            launcher(Path::new("/usr/bin/supersonic-sync"), None),
            PathBuf::from("/usr/bin/supersonic-sync")
        );
    }

    #[test]
    fn entry_starts_the_executable_and_is_enabled_for_gnome() {
        let text = desktop_entry(Path::new("/usr/bin/supersonic-sync")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "[Desktop Entry]", "the group header comes first");
        for want in [
            "Type=Application",
            "Name=Supersonic Sync",
            "Comment=Keep folders in sync through git",
            "Exec=/usr/bin/supersonic-sync --hidden",
            "Icon=supersonic-sync",
            "X-GNOME-Autostart-enabled=true",
        ] {
            assert!(lines.contains(&want), "{want:?} missing from\n{text}");
        }
        assert!(entry_enabled(&text), "the entry written enables autostart");
    }

    #[test]
    fn exec_quotes_a_path_with_reserved_characters_and_escapes_it_twice() {
        assert_eq!(exec_arg("/opt/My Apps/sync"), r#""/opt/My Apps/sync""#, "a space is quoted");
        assert_eq!(
            exec_arg(r#"/opt/a"b$c`d\e"#),
            r#""/opt/a\\"b\\$c\\`d\\\\e""#,
            "quote escapes, then string escapes doubling each backslash"
        );
        assert_eq!(exec_arg("/opt/100%/sync"), "/opt/100%%/sync", "% is not a field code");
    }

    #[test]
    fn entry_refuses_a_path_that_would_break_the_file() {
        assert!(desktop_entry(Path::new("/tmp/a\nHidden=true")).is_err(), "a newline");
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = Path::new(OsStr::from_bytes(b"/tmp/\xff"));
        assert!(desktop_entry(not_utf8).is_err(), "not UTF-8");
    }

    #[test]
    fn entry_switched_off_by_the_desktop_counts_as_disabled() {
        let base = "[Desktop Entry]\nType=Application\nExec=/x\n";
        assert!(entry_enabled(base), "present and not switched off");
        assert!(!entry_enabled(&format!("{base}Hidden=true\n")), "Hidden=true");
        assert!(
            !entry_enabled(&format!("{base}X-GNOME-Autostart-enabled = false\n")),
            "GNOME's switch, spaces around `=` allowed"
        );
        assert!(
            entry_enabled(&format!("{base}[Desktop Action x]\nHidden=true\n")),
            "only the [Desktop Entry] group counts"
        );
    }

    #[test]
    fn enable_writes_the_entry_and_disable_removes_it() {
        let root = std::env::temp_dir().join(format!(
            "supersonic-autostart-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let file = root.join("config/autostart").join(FILE_NAME);
        let exe = Path::new("/opt/Supersonic Sync/supersonic-sync");

        assert!(!state(&file).unwrap().enabled, "no entry: disabled");
        assert!(enable(&file, exe).unwrap().enabled, "the directory is created");
        let text = fs::read_to_string(&file).unwrap();
        let exec = "Exec=\"/opt/Supersonic Sync/supersonic-sync\" --hidden\n";
        assert!(text.contains(exec), "{text}");
        assert_eq!(
            fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1,
            "no temp file is left beside the entry"
        );
        assert!(!disable(&file).unwrap().enabled, "removed");
        assert!(!file.exists(), "the file is gone");
        assert!(!disable(&file).unwrap().enabled, "disabling twice is fine");
        fs::remove_dir_all(&root).unwrap();
    }
}
