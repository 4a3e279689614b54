//! Endpoints: which URLs may receive webhooks (https, or plain http to loopback only), a
//! folder's settings checked with errors naming the key, and one [`Endpoint`] per URL that
//! never shows its URL or secret.

use std::path::Path;
use std::time::Duration;

use reqwest::Url;

use super::{format_for, EVENT_TYPES};
use crate::config::{redact_webhook_url, ConfigError, Format, WebhookSettings};

/// Checks that `url` may receive webhooks: an absolute `https` URL, or `http` to a loopback
/// host. Returns the parsed URL, or why not (the URL itself redacted).
pub fn check_url(url: &str) -> std::result::Result<Url, String> {
    let shown = redact_webhook_url(url);
    let parsed =
        Url::parse(url.trim()).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(format!(
            "`{shown}` uses plain http to a host that is not loopback; use https (plain http is \
             only allowed to 127.0.0.0/8, ::1 and localhost)"
        )),
        other => Err(format!("`{shown}`: scheme `{other}` is not supported; use https")),
    }
}

/// Returns whether the URL's host is on this machine (127.0.0.0/8, `::1`, `localhost`).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks a folder's webhook settings: every URL ([`check_url`]), every event name, a non-zero
/// timeout. `source` is where the settings come from (the folder), shown in the error.
pub fn check_settings(settings: &WebhookSettings, source: &Path) -> Result<(), ConfigError> {
    let error = |key: String, message: String| ConfigError {
        file: source.to_path_buf(),
        line: None,
        column: None,
        key: Some(key),
        message,
    };
    for (i, url) in settings.urls.iter().enumerate() {
        check_url(url).map_err(|m| error(format!("webhooks.urls[{i}]"), m))?;
    }
    for (i, name) in settings.events.iter().enumerate() {
        if !EVENT_TYPES.contains(&name.as_str()) {
            return Err(error(
                format!("webhooks.events[{i}]"),
                format!("unknown event `{name}` (expected one of {})", EVENT_TYPES.join(", ")),
            ));
        }
    }
    if settings.timeout_sec == 0 {
        return Err(error("webhooks.timeout_sec".into(), "must be greater than 0".into()));
    }
    Ok(())
}

/// One webhook URL with the settings that apply to it. The URL is kept private: it is a secret.
#[derive(Clone)]
pub struct Endpoint {
    pub(super) url: Url,
    pub(super) format: Format,
    pub(super) secret: Option<String>,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.redacted_url())
            .field("format", &self.format)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Endpoint {
    /// Creates the endpoint for `url` with `settings`' format, secret, timeout and retries.
    ///
    /// Fails (naming `key` and `source`) when the URL is not allowed ([`check_url`]).
    pub fn new(
        url: &str,
        settings: &WebhookSettings,
        key: &str,
        source: &Path,
    ) -> Result<Endpoint, ConfigError> {
        let parsed = check_url(url).map_err(|message| ConfigError {
            file: source.to_path_buf(),
            line: None,
            column: None,
            key: Some(key.to_string()),
            message,
        })?;
        Ok(Endpoint {
            format: format_for(parsed.as_str(), settings.format),
            url: parsed,
            secret: settings.secret.clone().filter(|s| !s.is_empty()),
            timeout: Duration::from_secs(settings.timeout_sec.max(1)),
            retries: settings.retries,
        })
    }

    /// Returns the endpoints of every URL in `settings`, after [`check_settings`].
    pub fn all(settings: &WebhookSettings, source: &Path) -> Result<Vec<Endpoint>, ConfigError> {
        check_settings(settings, source)?;
        settings
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| Endpoint::new(url, settings, &format!("webhooks.urls[{i}]"), source))
            .collect()
    }

    /// Returns the URL as it may be shown.
    pub fn redacted_url(&self) -> String {
        redact_webhook_url(self.url.as_str())
    }

    /// Returns the body format.
    pub fn format(&self) -> Format {
        self.format
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_only_to_loopback_hosts() {
        for ok in [
            "https://example.com/hook",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/hook",
            "http://[::1]:9/hook",
            "http://localhost/hook",
        ] {
            assert!(check_url(ok).is_ok(), "{ok} is https or loopback: {:?}", check_url(ok));
        }
        for bad in ["http://example.com/k3y", "http://10.0.0.1/k3y", "ftp://example.com/k3y", "k3y"]
        {
            let err = check_url(bad).expect_err(bad);
            assert!(!err.contains("k3y"), "the URL's secret path is not shown: {err}");
        }
    }

    #[test]
    fn a_bad_url_is_a_config_error_naming_the_key() {
        let settings = WebhookSettings {
            urls: vec!["https://ok.example/a".into(), "http://hooks.example/s3cret".into()],
            ..Default::default()
        };
        let err = check_settings(&settings, Path::new("/srv/notes")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("webhooks.urls[1]"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "the secret stays out: {err}");
        let settings = WebhookSettings { events: vec!["sync_sucess".into()], ..Default::default() };
        let err = check_settings(&settings, Path::new("/srv/notes")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("webhooks.events[0]"), "a typo is caught: {err}");
    }

    #[test]
    fn endpoints_never_show_their_url_or_secret() {
        let settings = WebhookSettings {
            urls: vec!["https://hooks.slack.com/services/T/B/s3cret".into()],
            secret: Some("hush".into()),
            ..Default::default()
        };
        let e = &Endpoint::all(&settings, Path::new("/f")).unwrap()[0];
        let shown = format!("{e:?} {}", e.redacted_url());
        assert!(!shown.contains("s3cret") && !shown.contains("hush"), "{shown}");
        assert_eq!(e.format(), Format::Slack);
    }
}
