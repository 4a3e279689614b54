//! The body an endpoint receives, by [`Format`]: Slack (`text` plus `blocks`, markup escaped),
//! Discord (`content` plus one embed, no mentions) or the generic envelope; and which format a
//! URL gets.

use reqwest::Url;
use serde_json::{json, Value};

use super::{Notification, NEEDS_ATTENTION};
use crate::config::Format;
use crate::history;

/// Longest text of one message field (an error message, a path). Discord refuses field values
/// over 1024 characters and Slack sections over 3000; longer text is cut with `…`.
pub const MAX_FIELD_CHARS: usize = 1000;

/// Returns the format used for `url`: `forced` unless it is [`Format::Auto`], else Slack for
/// `hooks.slack.com`, Discord for `/api/webhooks/...` on `discord.com` or `discordapp.com`
/// (and their subdomains), generic otherwise.
pub fn format_for(url: &str, forced: Format) -> Format {
    if forced != Format::Auto {
        return forced;
    }
    let Ok(parsed) = Url::parse(url) else { return Format::Generic };
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if host == "hooks.slack.com" {
        Format::Slack
    } else if (under("discord.com") || under("discordapp.com"))
        && parsed.path().starts_with("/api/webhooks/")
    {
        Format::Discord
    } else {
        Format::Generic
    }
}

/// A human-readable message: a title and labelled lines, shared by the chat formats.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    title: String,
    fields: Vec<(&'static str, String)>,
    /// Embed colour for Discord.
    color: u32,
}

/// Returns the message of `n`, in the seed's style ("✅ Sync Successful / Duration: 2.34s /
/// Files Changed: 8 / Commit: abc123de").
fn message(n: &Notification) -> Message {
    let d = &n.data;
    let text = |key: &str| match &d[key] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let secs = |key: &str| d[key].as_u64().map(|s| format!("{s}s"));
    let (title, color, mut fields): (&str, u32, Vec<(&'static str, Option<String>)>) = match n
        .event
        .as_str()
    {
        history::SYNC_SUCCESS => (
            "✅ Sync Successful",
            0x2ecc71,
            vec![
                ("Duration", d["duration_sec"].as_f64().map(|s| format!("{s:.2}s"))),
                ("Files Changed", text("files_changed")),
                ("Commit", text("commit_hash").map(|c| c.chars().take(8).collect())),
            ],
        ),
        history::SYNC_FAILURE => (
            "❌ Sync Failed",
            0xe74c3c,
            vec![("Error", text("error_msg")), ("Retry In", secs("retry_in_sec"))],
        ),
        NEEDS_ATTENTION => (
            "🛑 Sync Needs Attention",
            0x992d22,
            vec![
                ("Error", text("error_msg")),
                ("Action", Some("syncing is stopped until you act".into())),
            ],
        ),
        history::SYNC_START => ("🔄 Sync Started", 0x3498db, vec![("Trigger", text("trigger"))]),
        history::RATE_LIMIT_HIT => (
            "⏳ Rate Limit Hit",
            0xf1c40f,
            vec![("Reason", text("reason")), ("Next Attempt In", secs("retry_in_sec"))],
        ),
        history::CONFLICT_DETECTED => (
            "⚠️ Conflict Detected",
            0xe67e22,
            vec![
                ("Path", text("path")),
                ("Kind", text("conflict_kind")),
                ("Strategy", text("strategy")),
                ("Other Version", text("copy")),
            ],
        ),
        history::STALE => (
            "🕰️ Not In Sync",
            0xe67e22,
            vec![("Alert", text("alert")), ("Message", text("message"))],
        ),
        _ => ("⚠️ Warning", 0xf1c40f, vec![("Message", text("message"))]),
    };
    fields.push(("Folder", Some(n.folder.clone())));
    fields.push(("Device", Some(n.device.clone())));
    let title =
        if d["test"] == Value::Bool(true) { format!("{title} (test)") } else { title.to_string() };
    Message {
        title,
        fields: fields
            .into_iter()
            .filter_map(|(label, value)| value.map(|v| (label, truncate(&v, MAX_FIELD_CHARS))))
            .collect(),
        color,
    }
}

/// Returns `s` cut to at most `max` characters, marked with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes the characters Slack's markup gives a meaning to (`&`, `<`, `>`), so a file name
/// cannot turn into a link or an `@channel` mention.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Returns the request body of `n` in `format` (JSON; [`Format::Auto`] renders generic).
pub fn render(format: Format, n: &Notification) -> Vec<u8> {
    let body = match format {
        Format::Slack => {
            let m = message(n);
            let lines: Vec<String> = m
                .fields
                .iter()
                .map(|(label, value)| format!("{label}: {}", slack_escape(value)))
                .collect();
            let title = slack_escape(&m.title);
            json!({
                "text": format!("{title}\n{}", lines.join("\n")),
                "blocks": [{
                    "type": "section",
                    "text": { "type": "mrkdwn", "text": format!("*{title}*\n{}", lines.join("\n")) },
                }],
            })
        }
        Format::Discord => {
            let m = message(n);
            let fields: Vec<Value> = m
                .fields
                .iter()
                .map(|(label, value)| {
                    let inline = !matches!(*label, "Error" | "Folder" | "Path" | "Message");
                    json!({ "name": label, "value": value, "inline": inline })
                })
                .collect();
            json!({
                "content": m.title,
                "embeds": [{
                    "title": m.title,
                    "color": m.color,
                    "fields": fields,
                    "timestamp": n.time_text(),
                    "footer": { "text": format!("Supersonic Sync on {}", n.device) },
                }],
                "allowed_mentions": { "parse": [] },
            })
        }
        Format::Generic | Format::Auto => json!({
            "event": n.event,
            "folder": n.folder,
            "device": n.device,
            "time": n.time_text(),
            "data": n.data,
        }),
    };
    serde_json::to_vec(&body).expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::webhooks::fixtures::{at, failure, success};
    use crate::webhooks::EVENT_TYPES;
    use crate::FailureClass;

    #[test]
    fn the_format_follows_the_host_unless_forced() {
        let slack = "https://hooks.slack.com/services/T0/B0/XYZ";
        assert_eq!(format_for(slack, Format::Auto), Format::Slack);
        assert_eq!(
            format_for("https://discord.com/api/webhooks/1/abc", Format::Auto),
            Format::Discord
        );
        assert_eq!(
            format_for("https://discordapp.com/api/webhooks/1/abc", Format::Auto),
            Format::Discord
        );
        assert_eq!(
            format_for("https://discord.com/channels/1", Format::Auto),
            Format::Generic,
            "only the webhook path of Discord is a Discord webhook"
        );
        assert_eq!(
            format_for("https://evil-hooks.slack.com.example/x", Format::Auto),
            Format::Generic
        );
        assert_eq!(format_for("https://example.com/hook", Format::Auto), Format::Generic);
        assert_eq!(format_for("http://127.0.0.1:9/services/x", Format::Slack), Format::Slack);
    }

    #[test]
    fn slack_text_reads_like_the_seed_and_escapes_markup() {
        let mut event = success();
        if let Event::SyncSuccess { folder, .. } = &mut event {
            *folder = "/srv/<!channel> & co".into();
        }
        let n = Notification::from_event(&event, "sync_success", "laptop", at());
        let body: Value = serde_json::from_slice(&render(Format::Slack, &n)).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "✅ Sync Successful\nDuration: 2.34s\nFiles Changed: 8\nCommit: abc123de\n"
            ),
            "the seed's message: {text}"
        );
        assert!(text.contains("Folder: /srv/&lt;!channel&gt; &amp; co"), "escaped: {text}");
        assert_eq!(body["blocks"][0]["type"], "section");
        assert!(body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("*✅ Sync Successful*"));
    }

    #[test]
    fn discord_gets_content_one_embed_and_no_mentions() {
        let n =
            Notification::from_event(&failure(FailureClass::Transient), "sync_failure", "pc", at());
        let body: Value = serde_json::from_slice(&render(Format::Discord, &n)).unwrap();
        assert_eq!(body["content"], "❌ Sync Failed");
        assert_eq!(body["embeds"].as_array().unwrap().len(), 1);
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }), "nobody gets pinged");
        assert_eq!(body["embeds"][0]["timestamp"], "2025-11-04T10:30:00Z");
        assert_eq!(
            body["embeds"][0]["fields"][0],
            json!({"name": "Error", "value": "push failed", "inline": false})
        );
    }

    #[test]
    fn generic_body_is_the_envelope_with_seed_field_names() {
        let n = Notification::from_event(&success(), "sync_success", "laptop", at());
        let body: Value = serde_json::from_slice(&render(Format::Generic, &n)).unwrap();
        assert_eq!(body["event"], "sync_success");
        assert_eq!(body["folder"], "/srv/notes");
        assert_eq!(body["device"], "laptop");
        assert_eq!(body["time"], "2025-11-04T10:30:00Z");
        assert_eq!(body["data"]["files_changed"], 8);
        assert_eq!(body["data"]["commit_hash"], "abc123def4567890");
    }

    #[test]
    fn long_details_are_cut_to_fit_chat_limits() {
        let mut event = failure(FailureClass::Transient);
        if let Event::SyncFailure { error, .. } = &mut event {
            *error = "x".repeat(5000);
        }
        let n = Notification::from_event(&event, "sync_failure", "pc", at());
        let m = message(&n);
        let error = &m.fields[0].1;
        assert_eq!(error.chars().count(), MAX_FIELD_CHARS, "Discord refuses values over 1024");
        assert!(error.ends_with('…'));
    }

    #[test]
    fn a_sample_exists_for_every_event_and_is_marked_as_a_test() {
        for event in EVENT_TYPES {
            let n = Notification::sample(event, "/f", "pc", at()).unwrap();
            assert_eq!(n.data["test"], true, "{event}");
            assert!(message(&n).title.ends_with("(test)"), "{event}");
        }
        assert!(Notification::sample("nope", "/f", "pc", at()).is_err());
    }
}
