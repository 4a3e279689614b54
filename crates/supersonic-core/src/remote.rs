//! Remote URLs as text: hiding credentials ([`redact_url`], [`redact_webhook_url`], [`scrub`]) and reading the host of an
//! SSH remote ([`ssh_target`]). A leaf: it knows no other module, so git, config, history and
//! doctor can all use it.

use std::path::Path;

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

/// Replaces credentials in URLs found in `text` with `***`.
pub fn scrub(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .map(|token| {
            if token.contains("://") && token.contains('@') {
                let trimmed =
                    token.trim_end_matches(|c: char| c.is_whitespace() || c == '\'' || c == '"');
                format!("{}{}", redact_url(trimmed), &token[trimmed.len()..])
            } else {
                token.to_string()
            }
        })
        .collect()
}

/// Where an SSH remote points: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The user, when the URL names one.
    pub user: Option<String>,
    /// The host (or `~/.ssh/config` alias) as written in the URL.
    pub host: String,
    /// The port, when the URL names one (only `ssh://` URLs can).
    pub port: Option<u16>,
}

/// Returns the host of an SSH remote (`git@host:path`, `ssh://[user@]host[:port]/path`).
pub fn ssh_host(remote: &str) -> Option<String> {
    ssh_target(remote).map(|t| t.host)
}

/// Returns the user, host and port of an SSH remote (`[user@]host:path`,
/// `ssh://[user@]host[:port]/path`, `ssh://[user@][v6addr]:port/path`).
pub fn ssh_target(remote: &str) -> Option<SshTarget> {
    let split_user = |authority: &str| match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user.to_string()), host.to_string()),
        None => (None, authority.to_string()),
    };
    if let Some(rest) = remote.strip_prefix("ssh://").or_else(|| remote.strip_prefix("git+ssh://"))
    {
        let (user, hostport) = split_user(rest.split('/').next()?);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (hostport, None),
            }
        };
        let port = match port.filter(|p| !p.is_empty()) {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        return (!host.is_empty()).then_some(SshTarget { user, host, port });
    }
    if remote.contains("://") || Path::new(remote).is_absolute() {
        return None;
    }
    // scp-like: [user@]host:path, where host has no slash before the colon.
    let (before, _) = remote.split_once(':')?;
    if before.contains('/') || before.is_empty() {
        return None;
    }
    let (user, host) = split_user(before);
    Some(SshTarget { user, host, port: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_passwords_in_urls_inside_messages() {
        let s = scrub("fatal: unable to access 'https://bob:hunter2@example.com/r.git/': 403\n");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("https://bob:***@example.com/r.git/"), "{s}");
    }

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
