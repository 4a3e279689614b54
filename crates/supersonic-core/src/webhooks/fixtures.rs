//! Events the webhook tests build messages from.

use chrono::{DateTime, Utc};

use crate::events::Event;
use crate::FailureClass;

pub fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-11-04T10:30:00Z").unwrap().with_timezone(&Utc)
}

pub fn success() -> Event {
    Event::SyncSuccess {
        folder: "/srv/notes".into(),
        duration_sec: 2.344,
        files_changed: 8,
        commit: Some("abc123def4567890".into()),
        pulled: false,
        pushed: true,
    }
}

pub fn failure(class: FailureClass) -> Event {
    Event::SyncFailure {
        folder: "/srv/notes".into(),
        error: "push failed".into(),
        code: "remote_needs_attention".into(),
        class,
        retry_in_sec: None,
    }
}
