//! Metrics: the seed's `GET /api/sync/metrics` JSON and Prometheus text at `GET /metrics`.
//!
//! The JSON keeps the seed's shape exactly (`stats`, `hourly`, `recent`, `throttle`, from
//! [`Api::metrics`]) and adds `folders` (each folder's status) and `conflicts` (a summary of the
//! pending ones; `/api/conflicts` has both sides' content). The Prometheus text exposes, per
//! folder: syncs by result and rate-limit hits over the retained history, pending conflicts,
//! unpushed commits, pending changes, consecutive failures, the state, and the last success.
//!
//! [`Api::metrics`]: supersonic_core::api::Api::metrics

use std::fmt::Write;
use std::path::PathBuf;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use supersonic_core::api::control::{
    self, pending_conflicts as pending, MetricsBody, MetricsQuery,
};
use supersonic_core::conflicts::ConflictView;
use supersonic_core::status::{FolderState, FolderStatus};

use crate::error::{blocking, ApiError, Params};
use crate::AppState;

/// `GET /api/sync/metrics[?hours=24&folder=]`.
pub(crate) async fn json(
    State(s): State<AppState>,
    Params(q): Params<MetricsQuery>,
) -> Result<Json<MetricsBody>, ApiError> {
    blocking(move || control::metrics(&s.api, &q)).await.map(Json)
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub(crate) async fn prometheus(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let text = blocking(move || {
        let totals = s.api.totals()?;
        let statuses = s.api.status()?;
        let conflicts = pending(&s.api);
        Ok(render(&totals, &statuses, &conflicts))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}

fn render(
    totals: &[(PathBuf, supersonic_core::history::Stats)],
    statuses: &[FolderStatus],
    conflicts: &[(PathBuf, ConflictView)],
) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let folder = |p: &PathBuf| format!("folder=\"{}\"", escape(&p.display().to_string()));
    family(
        "supersonic_syncs_total",
        "counter",
        "Sync cycles in the retained history, by result.",
        totals
            .iter()
            .flat_map(|(p, s)| {
                [
                    (format!("{},result=\"success\"", folder(p)), s.successful_syncs as f64),
                    (format!("{},result=\"failure\"", folder(p)), s.failed_syncs as f64),
                ]
            })
            .collect(),
    );
    family(
        "supersonic_rate_limit_hits_total",
        "counter",
        "Times the throttle held the remote step back, in the retained history.",
        totals.iter().map(|(p, s)| (folder(p), s.rate_limit_hits as f64)).collect(),
    );
    family(
        "supersonic_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful sync.",
        totals
            .iter()
            .filter_map(|(p, s)| {
                let t = chrono::DateTime::parse_from_rfc3339(s.last_success.as_deref()?).ok()?;
                Some((folder(p), t.timestamp_millis() as f64 / 1000.0))
            })
            .collect(),
    );
    family(
        "supersonic_conflicts_pending",
        "gauge",
        "Conflicts waiting for the user's decision.",
        statuses
            .iter()
            .map(|st| {
                let n = conflicts.iter().filter(|(f, _)| *f == st.path).count();
                (folder(&st.path), n as f64)
            })
            .collect(),
    );
    family(
        "supersonic_unpushed_commits",
        "gauge",
        "Commits not yet on the remote.",
        statuses.iter().map(|st| (folder(&st.path), st.unpushed_commits as f64)).collect(),
    );
    family(
        "supersonic_pending_changes",
        "gauge",
        "Changed files not yet committed.",
        statuses.iter().map(|st| (folder(&st.path), st.pending_changes as f64)).collect(),
    );
    family(
        "supersonic_consecutive_failures",
        "gauge",
        "Failed syncs in a row.",
        statuses.iter().map(|st| (folder(&st.path), f64::from(st.consecutive_failures))).collect(),
    );
    family(
        "supersonic_folder_state",
        "gauge",
        "1 for the folder's current state, 0 for the others.",
        statuses
            .iter()
            .flat_map(|st| {
                let current = state_name(&st.state);
                STATES.iter().map(move |s| {
                    (
                        format!("{},state=\"{s}\"", folder(&st.path)),
                        f64::from(u8::from(*s == current)),
                    )
                })
            })
            .collect(),
    );
    out
}

/// Every folder state, so each appears (at 0 or 1) and alerts can match on it.
const STATES: [&str; 5] = ["idle", "syncing", "paused", "waiting", "error"];

fn state_name(state: &FolderState) -> &'static str {
    match state {
        FolderState::Idle => "idle",
        FolderState::Syncing => "syncing",
        FolderState::Paused => "paused",
        FolderState::Waiting { .. } => "waiting",
        FolderState::Error { .. } => "error",
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
