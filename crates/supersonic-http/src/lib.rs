//! The local HTTP API of Supersonic Sync: the face a browser and scripts use.
//!
//! It owns the HTTP surface only: every handler parses a request, calls
//! [`supersonic_core::api::Api`] (or the running engine's [`EngineControl`]) on the blocking
//! pool, and serialises the answer. Behaviour lives in the core. The requests, answers and the
//! `{code, message, key?}` error are in [`supersonic_core::api::control`], shared with the
//! desktop app's IPC commands so that both faces speak the same shapes.
//!
//! Invariants:
//! - It listens on a loopback address only; [`start`] refuses anything else.
//! - Every `/api/*` route and `/metrics` need `Authorization: Bearer <token>` (401 without a
//!   token, 403 with a wrong one, compared in constant time). The SSE stream also takes
//!   `?token=`, because `EventSource` cannot set headers. Pages (the web UI in `ui/dist`, the
//!   dashboard page) need no token: they hold no data, and fetch it with the token the user
//!   opened them with (`http://127.0.0.1:PORT/#token=...`, the fragment never leaves the browser).
//! - The `Host` header must name the loopback address and port the server listens on, so a
//!   foreign site that rebinds its DNS name to 127.0.0.1 is refused (403).
//! - No CORS headers are ever sent: only pages served from this origin can read answers.
//! - Errors are JSON `{code, message}`; `code` is [`supersonic_core::Error::code`] for engine
//!   errors, or one of this crate's own (`token_missing`, `token_invalid`, `host_not_allowed`,
//!   `bad_request`, `not_found`, `internal`).
//!
//! How it works: [`start`] binds synchronously (so a busy port is an error at once and the
//! chosen port is known), then runs a current-thread tokio runtime on a thread of its own. One
//! bridge thread forwards engine events from the crossbeam [`EventBus`] into a tokio broadcast
//! channel that each SSE stream subscribes to. Dropping the [`ServerHandle`] ends the SSE
//! streams, shuts the server down gracefully (bounded by [`SHUTDOWN_GRACE`]) and joins both
//! threads.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod access;
mod error;
mod events;
mod metrics;
mod routes;
pub mod token;
mod ui;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, patch, post};
use axum::Router;
use supersonic_core::api::{control, Api};
use supersonic_core::engine::EngineControl;
use supersonic_core::events::{Event, EventBus};
use tokio::sync::{broadcast, watch};

pub use token::load_or_create_token;

/// How long a stopping server waits for open requests (a sync in progress) before it drops
/// them. Long enough for a quick answer to finish; short enough that quitting feels immediate.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Largest request body accepted: a conflict's merged text (shown up to 1 MiB per side) with
/// JSON escaping fits comfortably; anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Shortest token [`start`] accepts (the generated ones have 64 hex characters).
pub const MIN_TOKEN_LEN: usize = 32;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address is not a loopback address.
    #[error("refusing to serve on {0}: the API listens on loopback addresses only (127.0.0.1)")]
    NotLoopback(SocketAddr),
    /// The token is too short to be a secret.
    #[error("the API token must have at least {MIN_TOKEN_LEN} characters")]
    WeakToken,
    /// The port is taken or cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The token file cannot be read or written.
    #[error("{path}: {source}")]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The token file holds something that is not a token.
    #[error("{path}: {message}")]
    TokenInvalid {
        /// The token file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The runtime or a thread could not be started.
    #[error("cannot start the HTTP server: {0}")]
    Start(std::io::Error),
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen: a loopback address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The secret every API call must present.
    pub token: String,
    /// The built web UI (`ui/dist`) to serve at `/`; without it `/` shows a built-in dashboard.
    pub ui_dir: Option<PathBuf>,
}

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) api: Api,
    pub(crate) control: Option<EngineControl>,
    pub(crate) events: broadcast::Sender<Event>,
    /// The engine's event bus: background operations report on it.
    pub(crate) bus: EventBus,
    pub(crate) shutdown: watch::Receiver<()>,
    pub(crate) ui_dir: Option<PathBuf>,
}

impl AppState {
    /// Returns the running engine's control when it syncs the folder at `folder`.
    pub(crate) fn engine_for(&self, folder: &Path) -> Option<&EngineControl> {
        control::engine_for(self.control.as_ref(), folder)
    }
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<watch::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _bridge: events::Bridge,
}

impl ServerHandle {
    /// Returns the address the server listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the URL a browser opens: the UI, with the token in the fragment (which the
    /// browser keeps to itself: it is never sent to a server, logged or put in a Referer).
    pub fn url_with_token(&self, token: &str) -> String {
        format!("http://{}/#token={token}", self.addr)
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes every waiter: the graceful shutdown and each SSE stream.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts serving the API on `opts.addr` in a thread of its own, over `api`, the running
/// engine's `control` (when one runs in this process) and its event `bus`.
pub fn start(
    opts: ServeOptions,
    api: Api,
    control: Option<EngineControl>,
    bus: EventBus,
) -> Result<ServerHandle> {
    if !opts.addr.ip().is_loopback() {
        return Err(Error::NotLoopback(opts.addr));
    }
    if opts.token.chars().count() < MIN_TOKEN_LEN {
        return Err(Error::WeakToken);
    }
    let listener = std::net::TcpListener::bind(opts.addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|source| Error::Bind { addr: opts.addr, source })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind { addr: opts.addr, source })?;
    let (events, bridge) = events::bridge(&bus).map_err(Error::Start)?;
    let ui_dir = opts.ui_dir.filter(|dir| {
        let built = dir.join("index.html").is_file();
        if !built {
            tracing::warn!("{}: no index.html; serving the built-in dashboard", dir.display());
        }
        built
    });
    let (stop, shutdown) = watch::channel(());
    let state = AppState { api, control, events, bus, shutdown: shutdown.clone(), ui_dir };
    let app = router(state, Arc::new(access::Access::new(opts.token, addr.port())));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("supersonic-http")
        .build()
        .map_err(Error::Start)?;
    let thread = std::thread::Builder::new()
        .name("supersonic-http".into())
        .spawn(move || {
            runtime.block_on(serve(listener, app, shutdown));
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
        .map_err(Error::Start)?;
    tracing::info!("HTTP API listening on http://{addr}");
    Ok(ServerHandle { addr, stop: Some(stop), thread: Some(thread), _bridge: bridge })
}

async fn serve(listener: std::net::TcpListener, app: Router, shutdown: watch::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return tracing::error!("HTTP API: cannot listen: {e}"),
    };
    let mut graceful = shutdown.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = graceful.changed().await;
        })
        .into_future();
    let mut deadline = shutdown;
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!("HTTP API stopped: {e}");
            }
        }
        _ = async {
            let _ = deadline.changed().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("HTTP API: requests still open after {SHUTDOWN_GRACE:?}; dropped"),
    }
}

fn router(state: AppState, access: Arc<access::Access>) -> Router {
    let ui_dir = state.ui_dir.clone();
    let protected = Router::new()
        .route("/api/status", get(routes::status))
        .route("/api/folders", post(routes::add_folder))
        .route("/api/hydrate", post(routes::hydrate))
        .route("/api/seed", post(routes::seed))
        .route("/api/folders/sync", post(routes::sync_now))
        .route("/api/folders/pause", post(routes::pause))
        .route("/api/folders/resume", post(routes::resume))
        .route("/api/folders/undo", post(routes::undo_sync))
        .route("/api/quarantine", get(routes::quarantine))
        .route("/api/quarantine/release", post(routes::release_held))
        .route("/api/quarantine/ignore", post(routes::ignore_held))
        .route("/api/conflicts", get(routes::conflicts))
        .route("/api/conflicts/{id}", get(routes::conflict))
        .route("/api/conflicts/{id}/blob/{side}", get(routes::conflict_blob))
        .route("/api/conflicts/{id}/resolve", post(routes::resolve))
        .route("/api/conflicts/{id}/undo", post(routes::undo))
        .route("/api/config", get(routes::config).merge(patch(routes::update_config)))
        .route("/api/history", get(routes::history))
        .route("/api/devices", get(routes::devices))
        .route("/api/doctor", get(routes::doctor))
        .route("/api/check-ignore", post(routes::check_ignore))
        .route("/api/webhooks/test", post(routes::webhook_test))
        .route("/api/sync/metrics", get(metrics::json))
        .route(events::EVENTS_PATH, get(events::stream))
        .route("/metrics", get(metrics::prometheus))
        .route("/api/{*rest}", any(routes::not_found))
        .route_layer(from_fn_with_state(access.clone(), access::require_token));
    let app = Router::new().route(ui::DASHBOARD_PATH, get(ui::dashboard)).merge(protected);
    let app = match ui_dir {
        Some(dir) => app.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => app.fallback(ui::builtin),
    };
    app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(access, access::check_host))
        .with_state(state)
}
