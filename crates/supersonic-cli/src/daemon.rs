//! The daemon: `supersonic run` and `supersonic serve`.
//!
//! Starting it is a sequence of named steps: block SIGINT/SIGTERM (before any thread exists, so
//! every thread inherits the mask), subscribe the outlets (the log, desktop notifications,
//! webhooks) before the engine starts so no event is missed, start the engine, let the outlets
//! follow configuration changes, open the control socket ([`crate::control`]) and, when asked,
//! the local HTTP API. Stopping goes the other way: the HTTP API first, then the engine (which
//! commits pending changes), then the webhooks once their last events are sent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use crossbeam_channel::Sender;
use nix::sys::signal::{SigSet, Signal};
use supersonic_core::api::Api;
use supersonic_core::engine::{EngineControl, EngineHandle};
use supersonic_core::events::EventBus;
use supersonic_core::notifications::NotificationSettings;
use supersonic_core::outlets::SharedWebhooks;
use supersonic_core::webhooks::WebhookHandle;

use crate::{control, event_log, notify};

/// `supersonic run`: the daemon, with the HTTP API when `http.enabled` is set. Refuses to start
/// with no folder configured.
pub fn run(api: &Api) -> Result<ExitCode> {
    if api.folder_paths(None)?.is_empty() {
        return Err(supersonic_core::Error::Invalid(format!(
            "no folders configured in {}; add one with `supersonic init DIR` (or use \
             `supersonic serve` and add it in the web UI)",
            api.dirs().app_config_file().display()
        ))
        .into());
    }
    daemon(api, HttpApi::WhenEnabled)
}

/// `supersonic serve`: the daemon and the HTTP API, on `port` or the configured one.
pub fn serve(api: &Api, port: Option<u16>) -> Result<ExitCode> {
    daemon(api, HttpApi::Always { port })
}

/// `supersonic serve --print-token`: prints the HTTP API's token (creating it if needed).
pub fn print_token(api: &Api) -> Result<ExitCode> {
    println!("{}", supersonic_http::load_or_create_token(&api.dirs().config_dir)?);
    Ok(ExitCode::SUCCESS)
}

/// Where the notification thread receives the folders' settings when the configuration changes.
type NotificationUpdates = Sender<Vec<(String, NotificationSettings)>>;

/// When the daemon serves the local HTTP API.
enum HttpApi {
    /// `supersonic run`: when `http.enabled` is set in config.yaml.
    WhenEnabled,
    /// `supersonic serve`: always, on `port` or the configured one.
    Always { port: Option<u16> },
}

/// Runs the daemon until SIGINT or SIGTERM, then stops it in order.
fn daemon(api: &Api, http: HttpApi) -> Result<ExitCode> {
    let signals = block_stop_signals()?;
    let bus = EventBus::default();
    let events = bus.subscribe();
    let (_notifications, notify_updates) = start_notifications(api, &bus)?;
    event_log::start(events);
    // Subscribed before the engine starts, so no event is missed; dropped after it stops, so
    // the last events are still sent (briefly bounded).
    let webhooks: SharedWebhooks = Arc::new(Mutex::new(Some(start_webhooks(api, &bus)?)));
    let engine = api.start(bus.clone())?;
    supersonic_core::outlets::follow(
        engine.control().subscribe_config(),
        notify_updates,
        webhooks.clone(),
    );
    control::serve(&api.dirs().data_dir.join(control::SOCKET), engine.control())?;
    let http = start_http(api, http, Some(engine.control()), bus)?;
    wait_for_stop(&signals)?;
    stop(http, engine, &webhooks);
    Ok(ExitCode::SUCCESS)
}

/// Blocks SIGINT and SIGTERM in this thread before any other starts, so every thread inherits
/// the mask and the main thread receives them synchronously in [`wait_for_stop`].
fn block_stop_signals() -> Result<SigSet> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    Ok(signals)
}

/// Starts desktop notifications for the configured folders; returns the thread and the sender
/// of their settings when the configuration changes.
fn start_notifications(
    api: &Api,
    bus: &EventBus,
) -> Result<(std::thread::JoinHandle<()>, NotificationUpdates)> {
    let (_, folders) = api.load()?;
    let (notify_updates, updates) = crossbeam_channel::unbounded();
    let thread = notify::start(
        supersonic_core::notifications::folder_settings(&folders),
        bus.subscribe(),
        updates,
    );
    Ok((thread, notify_updates))
}

/// Starts webhook delivery for every configured folder; its events were subscribed before the
/// engine started, so none is missed.
fn start_webhooks(api: &Api, bus: &EventBus) -> Result<WebhookHandle> {
    let (app, folders) = api.load()?;
    let device = api.device(&app)?;
    let settings = supersonic_core::webhooks::folder_settings(&folders);
    let history = api.dirs().data_dir.join(supersonic_core::history::HISTORY_FILE);
    Ok(supersonic_core::webhooks::start(settings, device.name, bus, history)?)
}

/// Starts the HTTP API if `http` asks for it; `serve` prints the URL to open with the token in
/// its fragment (as Jupyter does), `run` only logs the address so the token stays out of logs.
fn start_http(
    api: &Api,
    http: HttpApi,
    control: Option<EngineControl>,
    bus: EventBus,
) -> Result<Option<supersonic_http::ServerHandle>> {
    let settings = supersonic_core::config::load_app_config(&api.dirs().app_config_file())?.http;
    let port = match http {
        HttpApi::Always { port } => port.unwrap_or(settings.port),
        HttpApi::WhenEnabled if settings.enabled => settings.port,
        HttpApi::WhenEnabled => return Ok(None),
    };
    let token = supersonic_http::load_or_create_token(&api.dirs().config_dir)?;
    let opts = supersonic_http::ServeOptions {
        addr: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
        token: token.clone(),
        ui_dir: ui_dir(),
    };
    let server = supersonic_http::start(opts, api.clone(), control, bus)?;
    match http {
        HttpApi::Always { .. } => println!("open {}", server.url_with_token(&token)),
        HttpApi::WhenEnabled => tracing::info!(
            "web UI on http://{} (`supersonic serve --print-token` prints the token)",
            server.addr()
        ),
    }
    Ok(Some(server))
}

/// Returns the built web UI to serve: `$SUPERSONIC_UI_DIR`, else the `ui/dist` of the source
/// tree this binary was built from, when it holds a build.
fn ui_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SUPERSONIC_UI_DIR") {
        return Some(PathBuf::from(dir));
    }
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    dist.join("index.html").is_file().then_some(dist)
}

/// Logs that the daemon runs, then waits for SIGINT or SIGTERM.
fn wait_for_stop(signals: &SigSet) -> Result<()> {
    tracing::info!("supersonic running (pid {}); stop with Ctrl-C", std::process::id());
    let signal = signals.wait()?;
    tracing::info!("received {signal:?}; committing pending changes and stopping");
    Ok(())
}

/// Stops the HTTP API, then the engine (committing pending changes), then the webhooks.
fn stop(
    http: Option<supersonic_http::ServerHandle>,
    engine: EngineHandle,
    webhooks: &SharedWebhooks,
) {
    drop(http);
    engine.stop();
    drop(webhooks.lock().unwrap_or_else(|e| e.into_inner()).take());
}
