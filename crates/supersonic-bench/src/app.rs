//! Row 7: the desktop app. Cold start to tray, idle memory with the window closed, the UI
//! bundle's size and the .deb's size.
//!
//! Start and memory need the release app (`target/release/supersonic-sync`, built by
//! `make bench-app`) and a display with a session bus (`make bench-app` runs this row under
//! `xvfb-run` and `dbus-run-session`); without them those cases are skipped, and so is the .deb
//! when it was not built. The sizes are read from the artifacts as last built.
//!
//! Readiness: the app logs `tray state: <state>` once it has built its tray icon and shown the
//! engine's state in it (`src-tauri/tray.rs`, the signal `tests/app-smoke.sh` also waits for).
//! "Cold start" is spawn → that line; the page cache is warm after the first launch, which is
//! not counted. The reference is `supersonic run` on the same folder, spawn → its "running" log
//! line: the ratio is what the desktop shell adds to the engine. Idle memory is read 10 s after
//! the window was closed the way a window manager closes it (`WM_DELETE_WINDOW`; the app hides
//! to the tray): `VmRSS` of the app process, and the summed `Pss` of the app and its WebKit
//! helper processes (shared pages divided among them, not counted twice), each against the
//! headless daemon's after the same settling time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use supersonic_testkit::{Device, Sandbox};

use crate::fixture::{self, Daemon, Tree};
use crate::procfs;
use crate::stats::{ms, Summary};
use crate::table::{Row, Unit};
use crate::Bench;

/// The main window's title (tauri.conf.json).
const WINDOW_TITLE: &str = "Supersonic Sync";
/// The app's readiness line (src-tauri/tray.rs).
const TRAY_READY: &str = "tray state:";
/// The daemon's readiness line (crates/supersonic-cli).
const DAEMON_READY: &str = "supersonic running";
/// How long a start may take before the row fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Time the webview gets to load and paint the UI before the window is closed.
const UI_LOAD: Duration = Duration::from_secs(3);
/// Time between closing the window (or the daemon's start) and reading the idle memory.
const RSS_SETTLE: Duration = Duration::from_secs(10);
/// How long the window may take to disappear after the close request.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs row 7.
pub fn run(bench: &mut Bench) -> Vec<Row> {
    let mut rows = Vec::new();
    let app = bench.app.clone();
    let start_cases = [
        "cold start → tray",
        "idle RSS, window closed: app process",
        "idle PSS, window closed: app + WebKit processes",
    ];
    if !app.is_file() {
        for case in start_cases {
            let missing = shown(&app, &bench.repo_root);
            rows.push(Row::skipped(7, case, format!("no {missing}: run `make bench-app`")));
        }
    } else if std::env::var_os("DISPLAY").is_none()
        || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
    {
        for case in start_cases {
            rows.push(Row::skipped(
                7,
                case,
                "needs a display and a session bus: run `make bench-app`",
            ));
        }
    } else {
        match measure_app(bench, &app) {
            Ok(found) => rows.extend(found),
            Err(e) => rows.push(Row::failed(7, "cold start and idle RSS", &e)),
        }
    }
    rows.push(match bundle_size(&bench.repo_root.join("ui/dist")) {
        Ok((bytes, files)) => Row::measured(
            7,
            "UI bundle size (ui/dist)",
            Unit::Bytes,
            &[bytes],
            None,
            format!("{files} files, uncompressed, as last built"),
        ),
        Err(e) => Row::failed(7, "UI bundle size (ui/dist)", &e),
    });
    let debs = bench.repo_root.join("target/release/bundle/deb");
    rows.push(match newest_deb(&debs) {
        Some(deb) => match std::fs::metadata(&deb) {
            Ok(meta) => Row::measured(
                7,
                ".deb size",
                Unit::Bytes,
                &[meta.len() as f64],
                None,
                deb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            ),
            Err(e) => Row::failed(7, ".deb size", &e.into()),
        },
        None => Row::skipped(
            7,
            ".deb size",
            format!("no .deb in {}: run `make bench-app`", debs.display()),
        ),
    });
    rows
}

/// The samples of the app's start and memory, and of the daemon's.
#[derive(Default)]
struct Measured {
    start: Vec<f64>,
    rss: Vec<f64>,
    pss: Vec<f64>,
    helpers: Vec<String>,
    daemon_start: Vec<f64>,
    daemon_rss: Vec<f64>,
    daemon_pss: Vec<f64>,
}

fn measure_app(bench: &Bench, app: &Path) -> Result<Vec<Row>> {
    let reps = bench.scale.reps(3, 5);
    let mut m = Measured::default();
    // The first launch is a warm-up: not counted.
    for rep in 0..=reps {
        eprintln!("  app launch {}/{}", rep + 1, reps + 1);
        let what = format!("row 7, launch {}", rep + 1);
        let (launch, daemon_start, daemon_rss, daemon_pss) =
            fixture::with_retries(&what, || launch_both(bench, app))?;
        if rep > 0 {
            m.start.push(launch.start);
            m.rss.push(launch.rss);
            m.pss.push(launch.pss);
            m.helpers = launch.helpers;
            m.daemon_start.push(daemon_start);
            m.daemon_rss.push(daemon_rss);
            m.daemon_pss.push(daemon_pss);
        }
    }
    let median = |v: &[f64]| Summary::of(v).map(|s| s.median);
    Ok(vec![
        Row::measured(
            7,
            "cold start → tray",
            Unit::Ms,
            &m.start,
            median(&m.daemon_start),
            "spawn → `tray state:` logged; ref: `supersonic run` spawn → running",
        ),
        Row::measured(
            7,
            "idle RSS, window closed: app process",
            Unit::Bytes,
            &m.rss,
            median(&m.daemon_rss),
            "VmRSS 10 s after closing; ref: `supersonic run` VmRSS",
        ),
        Row::measured(
            7,
            "idle PSS, window closed: app + WebKit processes",
            Unit::Bytes,
            &m.pss,
            median(&m.daemon_pss),
            format!(
                "summed Pss of the app and {}; ref: `supersonic run` Pss",
                m.helpers.join(", ")
            ),
        ),
    ])
}

/// Launches the app, then the daemon, on a fresh folder; returns the app's launch and the
/// daemon's start milliseconds, VmRSS and Pss.
fn launch_both(bench: &Bench, app: &Path) -> Result<(Launch, f64, f64, f64)> {
    let sandbox = Sandbox::new();
    let tree = Tree::create(&sandbox, "notes", 10)?;
    let cli = fixture::device(&sandbox, &bench.supersonic, "desk");
    fixture::init(&cli, &tree)?;
    let desk = fixture::device(&sandbox, app, "desk");
    let launch = launch_app(&sandbox, &desk);
    unmount_portal(&sandbox);
    let launch = launch?;

    let mut daemon = Daemon::start(&cli, &["run"])?;
    let ready = daemon.wait_for_log(DAEMON_READY, 1, START_TIMEOUT)?;
    let daemon_start = ms(ready - daemon.spawned);
    std::thread::sleep(RSS_SETTLE);
    daemon.ensure_running()?;
    let daemon_rss = procfs::memory_bytes(daemon.pid(), "VmRSS")?;
    let daemon_pss = procfs::pss_bytes(daemon.pid())?;
    daemon.stop()?;
    Ok((launch, daemon_start, daemon_rss, daemon_pss))
}

/// Launches the app as `desk`, measures it and stops it (and any helper left behind).
fn launch_app(sandbox: &Sandbox, desk: &Device) -> Result<Launch> {
    let mut app = Daemon::spawn(desk.command(&[]), sandbox.path().join("app.log"))?;
    let result = start_and_close(&mut app);
    let helpers = procfs::descendants(app.pid());
    let _ = app.stop();
    // WebKit's helpers exit with the app; any left over is ours to end.
    for pid in helpers {
        if procfs::ensure_alive(pid).is_ok() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    result.with_context(|| app.log_tail())
}

/// Waits for the launched app's tray, closes its window and reads its idle memory.
fn start_and_close(app: &mut Daemon) -> Result<Launch> {
    let ready = app.wait_for_log(TRAY_READY, 1, START_TIMEOUT)?;
    let start = ms(ready - app.spawned);
    let display = x11::Display::connect()?;
    let describe = || format!("a window titled {WINDOW_TITLE:?}");
    let mut window = None;
    fixture::wait_until(&describe, START_TIMEOUT, || {
        window = display.find_viewable(WINDOW_TITLE)?;
        Ok(window.is_some())
    })?;
    let window = window.context("no window although the wait found one")?;
    std::thread::sleep(UI_LOAD);
    display.request_close(window)?;
    let describe = || "the window to close (hide to the tray)".to_string();
    fixture::wait_until(&describe, CLOSE_TIMEOUT, || Ok(!display.is_viewable(window)?))?;
    std::thread::sleep(RSS_SETTLE);
    app.ensure_running().context("the app exited when its window was closed")?;
    let pid = app.pid();
    let rss = procfs::memory_bytes(pid, "VmRSS")?;
    let mut pss = procfs::pss_bytes(pid)?;
    let mut helpers = Vec::new();
    for child in procfs::descendants(pid) {
        if let Ok(bytes) = procfs::pss_bytes(child) {
            pss += bytes;
            helpers.push(procfs::name(child));
        }
    }
    helpers.sort();
    Ok(Launch { start, rss, pss, helpers })
}

/// What one launch of the app measured.
struct Launch {
    /// Milliseconds from spawn to the tray.
    start: f64,
    /// The app process's VmRSS with the window closed, in bytes.
    rss: f64,
    /// The app's and its descendants' summed Pss with the window closed, in bytes.
    pss: f64,
    /// The descendants' names.
    helpers: Vec<String>,
}

/// Unmounts the document portal GTK may have mounted under the sandbox's HOME, so the sandbox
/// can be deleted (as tests/app-smoke.sh does); never fails.
fn unmount_portal(sandbox: &Sandbox) {
    let doc = sandbox.home().join(".cache/doc");
    if doc.exists() {
        let _ = std::process::Command::new("fusermount").arg("-u").arg(&doc).status();
    }
}

/// Returns `path` relative to the source tree when it is inside it.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Returns the total size in bytes of the files below `dir`, and how many there are.
fn bundle_size(dir: &Path) -> Result<(f64, usize)> {
    if !dir.join("index.html").is_file() {
        bail!("{} holds no built UI (npm --prefix ui run build)", dir.display());
    }
    let mut bytes = 0;
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file() {
            bytes += entry.metadata()?.len();
            files += 1;
        }
    }
    Ok((bytes as f64, files))
}

/// Returns the most recently built .deb in `dir`.
fn newest_deb(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// The few X11 requests row 7 needs: find the main window, ask it to close as a window manager
/// would, and see whether it is still shown.
mod x11 {
    use anyhow::{Context, Result};
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{
        Atom, AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window,
    };
    use x11rb::rust_connection::RustConnection;

    /// A connection to `$DISPLAY`.
    pub struct Display {
        conn: RustConnection,
        root: Window,
        wm_protocols: Atom,
        wm_delete_window: Atom,
        net_wm_name: Atom,
    }

    impl Display {
        /// Connects to `$DISPLAY` (with `$XAUTHORITY`).
        pub fn connect() -> Result<Display> {
            let (conn, screen) = x11rb::connect(None).context("connect to $DISPLAY")?;
            let root = conn.setup().roots[screen].root;
            let atom =
                |name: &[u8]| -> Result<Atom> { Ok(conn.intern_atom(false, name)?.reply()?.atom) };
            let wm_protocols = atom(b"WM_PROTOCOLS")?;
            let wm_delete_window = atom(b"WM_DELETE_WINDOW")?;
            let net_wm_name = atom(b"_NET_WM_NAME")?;
            Ok(Display { conn, root, wm_protocols, wm_delete_window, net_wm_name })
        }

        /// Returns a shown top-level window titled `title`, if there is one.
        pub fn find_viewable(&self, title: &str) -> Result<Option<Window>> {
            for window in self.conn.query_tree(self.root)?.reply()?.children {
                if self.title_is(window, title)? && self.is_viewable(window)? {
                    return Ok(Some(window));
                }
            }
            Ok(None)
        }

        fn title_is(&self, window: Window, title: &str) -> Result<bool> {
            for property in [self.net_wm_name, AtomEnum::WM_NAME.into()] {
                let reply = self
                    .conn
                    .get_property(false, window, property, AtomEnum::ANY, 0, 256)?
                    .reply()?;
                if reply.value == title.as_bytes() {
                    return Ok(true);
                }
            }
            Ok(false)
        }

        /// Returns whether `window` is mapped and shown.
        pub fn is_viewable(&self, window: Window) -> Result<bool> {
            let attributes = self.conn.get_window_attributes(window)?.reply()?;
            Ok(attributes.map_state == MapState::VIEWABLE)
        }

        /// Sends `window` the `WM_DELETE_WINDOW` request a window manager sends when the user
        /// clicks the close button.
        pub fn request_close(&self, window: Window) -> Result<()> {
            let event = ClientMessageEvent::new(
                32,
                window,
                self.wm_protocols,
                [self.wm_delete_window, x11rb::CURRENT_TIME, 0, 0, 0],
            );
            self.conn.send_event(false, window, EventMask::NO_EVENT, event)?;
            self.conn.flush()?;
            Ok(())
        }
    }
}
