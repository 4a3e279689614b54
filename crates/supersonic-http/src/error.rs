//! The one error shape at the HTTP edge: `{code, message}` with a status that fits the code.
//! Engine errors keep their [`supersonic_core::Error::code`]; a configuration error also names
//! the offending `key`, so the UI can show it at the field. Requests that cannot be parsed get
//! the same shape (`bad_request`) instead of axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use supersonic_core::api::control;

/// An error answer.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    code: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ApiError {
    /// Creates an error answer.
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into(), key: None }
    }

    /// Creates a `400 bad_request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Creates a `500 internal` for a failure of the server itself (a panicked task).
    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message.to_string())
    }
}

impl From<supersonic_core::Error> for ApiError {
    fn from(err: supersonic_core::Error) -> ApiError {
        use supersonic_core::Error as E;
        let status = match &err {
            E::Config(_) | E::IgnorePattern { .. } | E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::Busy(_) | E::Blocked(_) | E::Dangerous(_) | E::WorktreeChanged(_) => {
                StatusCode::CONFLICT
            }
            E::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            E::Remote { .. } => StatusCode::BAD_GATEWAY,
            E::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            E::Git { .. } | E::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let f = control::Failure::from(err);
        ApiError { status, code: f.code, message: f.message, key: f.key }
    }
}

/// A request the control surface refused before reaching the engine: `400 bad_request`, or
/// the status of the engine error it carries the code of.
impl From<control::Failure> for ApiError {
    fn from(f: control::Failure) -> ApiError {
        let status = match f.code.as_str() {
            "bad_request" | "invalid_request" | "config_invalid" => StatusCode::BAD_REQUEST,
            "busy" => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { status, code: f.code, message: f.message, key: f.key }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// Runs a blocking façade call on the blocking pool and turns its error into an answer.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> supersonic_core::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

/// A JSON request body whose rejection is `{code: "bad_request", message}`.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}

/// Query parameters whose rejection is `{code: "bad_request", message}`.
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}
