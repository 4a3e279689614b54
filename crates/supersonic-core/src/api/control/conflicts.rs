//! Conflict requests: which conflicts to list, what a decision means, which side a request
//! names, and how a version's bytes are served (media type, base64 for JSON-only faces).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Failure;
use crate::api::{ConflictBlob, Side};
use crate::conflicts::Action;

/// Which conflicts to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictsQuery {
    /// Only this folder's.
    pub folder: Option<PathBuf>,
    /// Include automatic resolutions that can be undone.
    #[serde(default)]
    pub auto: bool,
}

/// A conflict decision: `{"take": "local"|"remote"|"both"}` or `{"merged": "text"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// Which version wins.
    pub take: Option<Take>,
    /// The merged text the user wrote.
    pub merged: Option<String>,
}

/// Which version wins.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    /// The local version.
    Local,
    /// The remote version.
    Remote,
    /// Both, the other one kept as a copy.
    Both,
}

impl Resolve {
    /// Returns the core action the decision means; exactly one of `take` and `merged` is given.
    pub fn action(self) -> Result<Action, Failure> {
        match (self.take, self.merged) {
            (Some(Take::Local), None) => Ok(Action::TakeLocal),
            (Some(Take::Remote), None) => Ok(Action::TakeRemote),
            (Some(Take::Both), None) => Ok(Action::KeepBoth),
            (None, Some(text)) => Ok(Action::Merged(text.into_bytes())),
            _ => Err(Failure::bad_request("give either `take` (local|remote|both) or `merged`")),
        }
    }
}

/// Returns the side a request names (`local` or `remote`).
pub fn side(name: &str) -> Result<Side, Failure> {
    name.parse().map_err(Failure::bad_request)
}

/// Returns the media type a conflict version is served as.
///
/// The bytes decide, not the name: PNG, JPEG, GIF, WebP and AVIF by their signatures; other
/// UTF-8 text is plain text, or SVG when the name says so; anything else is
/// `application/octet-stream`. So a file named `.png` that holds HTML is never served as
/// something a browser would render as a page.
pub fn media_type(name: &str, bytes: &[u8]) -> &'static str {
    const SIGNATURES: [(&[u8], &str); 4] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
    ];
    if let Some((_, media)) = SIGNATURES.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return media;
    }
    match bytes.get(..12) {
        Some(head) if head.starts_with(b"RIFF") && head.ends_with(b"WEBP") => return "image/webp",
        Some(head) if &head[4..] == b"ftypavif" => return "image/avif",
        _ => {}
    }
    let text = !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok();
    if text && name.to_ascii_lowercase().ends_with(".svg") {
        "image/svg+xml"
    } else if text {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// A conflict version for a face that carries JSON only (the desktop app's IPC): the bytes in
/// base64, with the media type the HTTP face sends as `Content-Type`.
#[derive(Debug, Serialize)]
pub struct BlobPayload {
    /// The repo-relative file this version is.
    pub name: String,
    /// What the bytes are ([`media_type`]).
    pub media_type: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// The bytes, base64 (standard alphabet, padded).
    pub base64: String,
}

impl From<ConflictBlob> for BlobPayload {
    fn from(blob: ConflictBlob) -> BlobPayload {
        use base64::Engine;
        BlobPayload {
            media_type: media_type(&blob.name, &blob.bytes),
            size: blob.bytes.len() as u64,
            base64: base64::engine::general_purpose::STANDARD.encode(&blob.bytes),
            name: blob.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_bytes_not_the_name() {
        assert_eq!(media_type("a.bin", b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(media_type("a.png", b"\xff\xd8\xff\xe0...."), "image/jpeg");
        assert_eq!(media_type("a", b"GIF89a...."), "image/gif");
        assert_eq!(media_type("a", b"RIFF\x10\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(media_type("a", b"\0\0\0\x1cftypavif\0\0"), "image/avif");
        assert_eq!(
            media_type("cat.png", b"<html><script>alert(1)</script>"),
            "text/plain; charset=utf-8",
            "a page named like a picture is served as text, never as something that runs"
        );
        assert_eq!(
            media_type("logo.SVG", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "image/svg+xml"
        );
        assert_eq!(media_type("logo.svg", b"<svg\0>"), "application/octet-stream");
        assert_eq!(media_type("a.png", b"\x89PNX\0\x01"), "application/octet-stream");
        assert_eq!(media_type("empty", b""), "text/plain; charset=utf-8");
    }
}
