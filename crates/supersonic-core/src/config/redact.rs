//! Redaction of URLs for display: credentials in remote URLs, the secret path of webhook URLs.

/// Returns `url` with any password or token replaced by `***` (for logs, errors and output).
pub fn redact_url(url: &str) -> String {
    // scheme://user:secret@host/...  → scheme://user:***@host/...
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let redacted = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                // Over HTTP a lone user name is how tokens are passed (`https://TOKEN@host`);
                // over SSH it is an account name such as `git`.
                None if userinfo.len() > 20 || url[..scheme_end].starts_with("http") => {
                    "***".to_string()
                }
                None => userinfo.to_string(),
            };
            return format!("{}://{}@{}", &url[..scheme_end], redacted, &rest[at + 1..]);
        }
    }
    url.to_string()
}

/// Returns a webhook URL with its path (which carries the key for Slack/Discord) hidden.
pub fn redact_webhook_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let host_end = rest.find('/').unwrap_or(rest.len());
        let host = rest[..host_end].rsplit('@').next().unwrap_or("");
        if host_end < rest.len() {
            return format!("{}://{}/***", &url[..scheme_end], host);
        }
        return format!("{}://{}", &url[..scheme_end], host);
    }
    "***".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_password_but_keeps_user_and_host() {
        assert_eq!(
            redact_url("https://bob:s3cret@example.com/r.git"),
            "https://bob:***@example.com/r.git"
        );
        assert_eq!(redact_url("/srv/git/r.git"), "/srv/git/r.git");
        assert_eq!(redact_url("https://s3cr3t@host/r.git"), "https://***@host/r.git");
        assert_eq!(redact_url("ssh://git@host/r.git"), "ssh://git@host/r.git");
        assert_eq!(
            redact_url("https://ghp_0123456789abcdefghijklmn@github.com/x"),
            "https://***@github.com/x"
        );
    }

    #[test]
    fn webhook_urls_lose_their_path() {
        assert_eq!(
            redact_webhook_url("https://hooks.slack.com/services/T/B/XYZ"),
            "https://hooks.slack.com/***"
        );
    }
}
