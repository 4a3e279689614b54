//! The daemon's control socket: a Unix socket (mode 0600) in the data dir through which the CLI
//! asks a running `supersonic run` to sync, retry, clear the throttle, pause or resume a folder,
//! instead of fighting it for the folder lock. One JSON request line, one JSON response line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use supersonic_core::engine::EngineControl;

/// File name of the socket inside the data dir.
pub const SOCKET: &str = "control.sock";
/// How long a client waits for an answer: a sync may include a fetch and a push, each bounded
/// by the network timeout.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(600);

/// What the client asks.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// `sync`, `retry`, `throttle-clear`, `pause`, `resume`.
    pub cmd: String,
    /// The folder.
    pub folder: PathBuf,
}

/// What the daemon answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// Whether it worked.
    pub ok: bool,
    /// The error, when it did not.
    pub error: Option<String>,
    /// The cycle report, for `sync` and `retry`.
    pub report: Option<supersonic_core::folder::CycleReport>,
}

/// Serves the socket at `path` on a background thread until the process exits.
pub fn serve(path: &Path, control: EngineControl) -> Result<()> {
    if UnixStream::connect(path).is_ok() {
        anyhow::bail!("another supersonic daemon is listening on {}", path.display());
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let control = control.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &control);
            });
        }
    });
    Ok(())
}

fn handle(stream: UnixStream, control: &EngineControl) -> Result<()> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Err(e) => Response { ok: false, error: Some(format!("bad request: {e}")), report: None },
        Ok(req) => {
            let result = match req.cmd.as_str() {
                "sync" => control.sync_now(&req.folder).map(Some),
                "retry" => control.retry(&req.folder).map(Some),
                "throttle-clear" => control.clear_throttle(&req.folder).map(|_| None),
                "pause" => control.set_paused(&req.folder, true).map(|_| None),
                "resume" => control.set_paused(&req.folder, false).map(|_| None),
                other => Err(supersonic_core::Error::Invalid(format!("unknown command {other}"))),
            };
            match result {
                Ok(report) => Response { ok: true, error: None, report },
                Err(e) => Response { ok: false, error: Some(e.to_string()), report: None },
            }
        }
    };
    let mut stream = stream;
    writeln!(stream, "{}", serde_json::to_string(&response)?)?;
    Ok(())
}

/// Sends one request to the daemon listening at `path`; None when no daemon listens.
pub fn request(path: &Path, cmd: &str, folder: &Path) -> Result<Option<Response>> {
    let Ok(mut stream) = UnixStream::connect(path) else { return Ok(None) };
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let req = Request { cmd: cmd.into(), folder: folder.to_path_buf() };
    writeln!(stream, "{}", serde_json::to_string(&req)?)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).context("read the daemon's answer")?;
    Ok(Some(serde_json::from_str(&line).context("parse the daemon's answer")?))
}
