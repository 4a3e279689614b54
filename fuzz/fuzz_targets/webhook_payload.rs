//! Webhook payloads built from arbitrary text: valid JSON in every format, Slack markup
//! escaped, and a generic payload that carries the folder verbatim.
#![no_main]
use libfuzzer_sys::fuzz_target;
use supersonic_core::webhooks::{render, slack_escape, Format, Notification};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let escaped = slack_escape(text);
    assert!(!escaped.contains('<') && !escaped.contains('>'));
    let time = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let n = Notification {
        event: "sync_failure".into(),
        folder: text.into(),
        device: text.chars().rev().collect(),
        time,
        data: serde_json::json!({ "error_msg": text, "retry_in_sec": 5 }),
    };
    for format in [Format::Generic, Format::Slack, Format::Discord] {
        let body = render(format, &n);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("a payload is JSON");
        if format == Format::Generic {
            assert_eq!(v["folder"], text);
        }
    }
});
