//! Who may talk to the server: the `Host` check (against DNS rebinding) on every request, the
//! token check on API routes, and the headers that keep pages from being framed or sniffed.
//!
//! Order matters: the Host check runs first, so a rebinding page learns nothing, not even
//! whether its token guess was right.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::error::ApiError;
use crate::events::EVENTS_PATH;

/// The secret and the Host values this server answers to.
pub(crate) struct Access {
    token: String,
    hosts: [String; 3],
}

impl Access {
    /// Creates the access rules for a server listening on `port`.
    pub(crate) fn new(token: String, port: u16) -> Access {
        Access {
            token,
            hosts: [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
        }
    }

    fn host_allowed(&self, host: Option<&HeaderValue>) -> bool {
        let host = host.and_then(|h| h.to_str().ok()).unwrap_or_default();
        self.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
    }
}

/// Refuses requests whose `Host` is not this server's loopback address and port, and adds the
/// defensive headers to every answer.
pub(crate) async fn check_host(
    State(access): State<Arc<Access>>,
    req: Request,
    next: Next,
) -> Response {
    let mut response = if access.host_allowed(req.headers().get(header::HOST)) {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!("the Host header must be one of {}", access.hosts.join(", ")),
        )
        .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Lets a request through only with the right token: `Authorization: Bearer <token>`, or
/// `?token=` on the SSE stream (`EventSource` cannot set headers).
pub(crate) async fn require_token(
    State(access): State<Arc<Access>>,
    req: Request,
    next: Next,
) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let from_query = || {
        (req.uri().path() == EVENTS_PATH)
            .then(|| req.uri().query())
            .flatten()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")))
    };
    match bearer.or_else(from_query) {
        None => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_missing",
                "this API needs `Authorization: Bearer <token>`; \
                 `supersonic serve --print-token` prints the token",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Some(token) if !crate::token::matches(token, &access.token) => ApiError::new(
            StatusCode::FORBIDDEN,
            "token_invalid",
            "wrong API token; `supersonic serve --print-token` prints the right one",
        )
        .into_response(),
        Some(_) => {
            let mut response = next.run(req).await;
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}
