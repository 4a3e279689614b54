//! Pages: the seed's dashboard (`GET /api/sync/dashboard`) and, at `/`, the built web UI
//! (`ui/dist`) or, without one, the built-in dashboard.
//!
//! Pages need no token: they hold no data. They read the token from the URL fragment
//! (`#token=...`, which browsers never send to the server), keep it in `sessionStorage`, and
//! send it with every API call.

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// Path of the seed's dashboard page.
pub(crate) const DASHBOARD_PATH: &str = "/api/sync/dashboard";

/// The built-in dashboard: metrics, hourly chart, recent history and throttle, live through
/// SSE with a 30 s refresh as fallback. The real UI (`ui/`) replaces it when built.
const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// `GET /api/sync/dashboard`: the UI's `index.html` when built, else the built-in dashboard.
pub(crate) async fn dashboard(State(s): State<AppState>) -> Response {
    if let Some(dir) = &s.ui_dir {
        if let Ok(page) = tokio::fs::read_to_string(dir.join("index.html")).await {
            return page_response(page);
        }
    }
    page_response(DASHBOARD_HTML.to_string())
}

/// Fallback without a built UI: `/` is the built-in dashboard, anything else is 404.
pub(crate) async fn builtin(uri: Uri) -> Response {
    if uri.path() == "/" || uri.path() == "/index.html" {
        page_response(DASHBOARD_HTML.to_string())
    } else {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page").into_response()
    }
}

fn page_response(page: String) -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response()
}
