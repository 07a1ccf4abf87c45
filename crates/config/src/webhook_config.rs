//! `[[alerts.webhooks]]`: where alert events are posted, and the checks of an
//! entry. Posting is the writer's (`log_panel::alerts`).

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

use serde::Deserialize;

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// One JSON object with the event's fields (see `docs/alerts.md`).
    #[default]
    Json,
    /// Slack's incoming-webhook shape, `{"text": "…"}` (Mattermost and
    /// Rocket.Chat take the same).
    Slack,
}

/// One `[[alerts.webhooks]]` entry: where to post, in which shape, how patiently.
///
/// Build one in code with [`WebhookConfig::json`] or [`WebhookConfig::slack`]
/// and hand it to `log_panel::Builder::webhook`.
/// `{:?}` shows the URL's scheme and host only (a Slack URL's path is its
/// secret) and hides header values.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// `http://…` or `https://…` (https needs the `webhook-tls` feature).
    #[serde(deserialize_with = "url")]
    pub url: String,
    /// The body's shape (default [`WebhookFormat::Json`]).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Extra request headers, e.g. `Authorization`.
    #[serde(default, deserialize_with = "headers")]
    pub headers: BTreeMap<String, String>,
    /// The longest one attempt may take, connecting included, in
    /// milliseconds (default 5000, at least 1).
    #[serde(default = "WebhookConfig::default_timeout_ms")]
    pub timeout_ms: NonZeroU64,
    /// Attempts after the first, on a connection error, a timeout, a 5xx,
    /// 408 or 429 answer (default 4, at most [`WebhookConfig::MAX_RETRIES`]).
    /// Other answers are final.
    #[serde(default = "WebhookConfig::default_retries", deserialize_with = "retries")]
    pub retries: u32,
    /// The wait before the first retry, in milliseconds; it doubles for each
    /// further retry, up to [`WebhookConfig::MAX_BACKOFF`], and each wait is
    /// jittered to between half and all of it (default 500, at least 1).
    #[serde(default = "WebhookConfig::default_backoff_ms")]
    pub backoff_ms: NonZeroU64,
}

impl WebhookConfig {
    /// The most `retries` allowed: with the longest backoff, an alert is
    /// given up within minutes, not hours.
    pub const MAX_RETRIES: u32 = 10;
    /// The longest wait between two attempts (also the most a `Retry-After` is honoured).
    pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
    /// Default `timeout_ms`.
    pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
    /// Default `retries`.
    pub const DEFAULT_RETRIES: u32 = 4;
    /// Default `backoff_ms`.
    pub const DEFAULT_BACKOFF_MS: u64 = 500;

    fn default_timeout_ms() -> NonZeroU64 {
        NonZeroU64::new(Self::DEFAULT_TIMEOUT_MS).unwrap_or(NonZeroU64::MIN)
    }
    fn default_retries() -> u32 {
        Self::DEFAULT_RETRIES
    }
    fn default_backoff_ms() -> NonZeroU64 {
        NonZeroU64::new(Self::DEFAULT_BACKOFF_MS).unwrap_or(NonZeroU64::MIN)
    }

    /// A webhook posting the generic JSON body to `url`, with the defaults.
    pub fn json(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig::new(url, WebhookFormat::Json)
    }

    /// A webhook posting Slack's `{"text": …}` to `url` (an incoming-webhook URL).
    pub fn slack(url: impl Into<String>) -> WebhookConfig {
        WebhookConfig::new(url, WebhookFormat::Slack)
    }

    /// A webhook posting `format` to `url`, with the default timeout, retries and backoff.
    pub fn new(url: impl Into<String>, format: WebhookFormat) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            format,
            headers: BTreeMap::new(),
            timeout_ms: Self::default_timeout_ms(),
            retries: Self::DEFAULT_RETRIES,
            backoff_ms: Self::default_backoff_ms(),
        }
    }

    /// Adds a request header (an `Authorization` token, say).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> WebhookConfig {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// The longest one attempt may take (rounded to milliseconds, at least 1 ms).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> WebhookConfig {
        self.timeout_ms = millis(timeout);
        self
    }

    /// Attempts after the first (at most [`WebhookConfig::MAX_RETRIES`]; `Config::validate` checks).
    #[must_use]
    pub fn with_retries(mut self, retries: u32) -> WebhookConfig {
        self.retries = retries;
        self
    }

    /// The wait before the first retry (doubled for each further one, jittered).
    #[must_use]
    pub fn with_backoff(mut self, backoff: Duration) -> WebhookConfig {
        self.backoff_ms = millis(backoff);
        self
    }

    /// The one check of an entry beyond its types, for the file and for
    /// `Config::validate`: the key (relative to the entry) and the message.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        check_url(&self.url).map_err(|m| ("url", m))?;
        for (name, value) in &self.headers {
            check_header(name, value).map_err(|m| ("headers", m))?;
        }
        check_retries(self.retries).map_err(|m| ("retries", m))
    }

    /// Where alerts go, for messages: scheme, host and port, never the path,
    /// the query or a password (a Slack URL's path is its secret).
    pub fn shown_url(&self) -> String {
        match self.url.parse::<http::Uri>() {
            Ok(uri) => format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str().rsplit('@').next().unwrap_or("?"))
            ),
            Err(_) => "(invalid URL)".to_owned(),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("WebhookConfig")
            .field("url", &format_args!("{}/…", self.shown_url()))
            .field("format", &self.format)
            .field("headers", &headers)
            .field("timeout_ms", &self.timeout_ms)
            .field("retries", &self.retries)
            .field("backoff_ms", &self.backoff_ms)
            .finish()
    }
}

fn millis(d: Duration) -> NonZeroU64 {
    NonZeroU64::new(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(NonZeroU64::MIN)
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("`{}` is not a URL: {e}", url.escape_debug()))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{}` has no host; use http://host/path or https://host/path", url.escape_debug()));
    }
    match uri.scheme_str() {
        Some("http") => Ok(()),
        Some("https") if cfg!(feature = "webhook-tls") => Ok(()),
        Some("https") => Err("https URLs need log-panel's `webhook-tls` feature (rustls)".to_owned()),
        _ => Err(format!("`{}` is not an http:// or https:// URL", url.escape_debug())),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{}` is not a valid header name", name.escape_debug()))?;
    http::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of `{}` is not a valid header value", name.escape_debug()))?;
    Ok(())
}

fn check_retries(retries: u32) -> Result<(), String> {
    if retries > WebhookConfig::MAX_RETRIES {
        return Err(format!("{retries} retries is more than {}", WebhookConfig::MAX_RETRIES));
    }
    Ok(())
}

fn url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    check_url(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

fn headers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let headers = BTreeMap::<String, String>::deserialize(d)?;
    for (name, value) in &headers {
        check_header(name, value).map_err(serde::de::Error::custom)?;
    }
    Ok(headers)
}

fn retries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let retries = u32::deserialize(d)?;
    check_retries(retries).map_err(serde::de::Error::custom)?;
    Ok(retries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(check_url("http://127.0.0.1:9/x"), Ok(()));
        assert!(check_url("ftp://host/x").unwrap_err().contains("not an http:// or https:// URL"));
        assert!(check_url("not a url").unwrap_err().contains("is not a URL"));
        assert!(check_url("/relative").is_err());
        let https = check_url("https://hooks.slack.com/services/T/B/secret");
        if cfg!(feature = "webhook-tls") {
            assert_eq!(https, Ok(()));
        } else {
            assert!(https.unwrap_err().contains("`webhook-tls` feature"));
        }
    }

    #[test]
    fn debug_and_shown_url_hide_the_secret_parts() {
        let hook = WebhookConfig::slack("http://user:pw@hooks.example:8080/services/T0/B0/s3cret?token=t0k")
            .with_header("Authorization", "Bearer hidden");
        assert_eq!(hook.shown_url(), "http://hooks.example:8080");
        let shown = format!("{hook:?}");
        for secret in ["s3cret", "t0k", "pw", "hidden"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("Authorization"), "{shown}");
    }
}
