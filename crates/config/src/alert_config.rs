//! `[alerts]`: the thresholds and window that fire an alert, and the webhooks
//! alert events are posted to. The counting itself is the writer's
//! (`log_panel::alerts`); the crossing rule is `log_panel_core::alert`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use log_panel_core::Level;

use crate::WebhookConfig;

/// Default window: one hour.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// `[alerts]`: when a logger's records of one level fire an alert, and
/// where alert events go besides the `on_alert` callbacks of
/// `log_panel::Builder`.
///
/// A level's threshold is the number of records of exactly that level, from
/// one logger, within `window`, that fires an event. `None` disables the
/// level. Defaults: WARN 1, ERROR 1, the other levels off, window one hour,
/// no webhooks.
///
/// ```
/// use std::time::Duration;
/// use log_panel_config::{Config, WebhookFormat};
/// use log_panel_core::Level;
///
/// let cfg = Config::from_toml_str(r#"
/// [alerts]
/// error = 5
/// warn = "off"
/// info = 100
/// window_secs = 600
///
/// [[alerts.webhooks]]
/// url = "http://alerts.internal:9000/log-panel"
///
/// [[alerts.webhooks]]
/// url = "http://relay.internal/slack"
/// format = "slack"
/// headers = { Authorization = "Bearer s3cret" }
/// timeout_ms = 2000
/// retries = 2
/// "#, None)?;
/// assert_eq!(cfg.alerts.get(Level::Error), Some(5));
/// assert_eq!(cfg.alerts.get(Level::Warn), None);
/// assert_eq!(cfg.alerts.get(Level::Info), Some(100));
/// assert_eq!(cfg.alerts.window, Duration::from_secs(600));
/// assert_eq!(cfg.alerts.webhooks.len(), 2);
/// assert_eq!(cfg.alerts.webhooks[1].format, WebhookFormat::Slack);
/// # Ok::<(), log_panel_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AlertConfig {
    /// ERROR records per window that fire an event (`None`: never).
    #[serde(deserialize_with = "threshold")]
    pub error: Option<u32>,
    /// WARN records per window that fire an event (`None`: never).
    #[serde(deserialize_with = "threshold", alias = "warning")]
    pub warn: Option<u32>,
    /// INFO records per window that fire an event (`None`: never).
    #[serde(deserialize_with = "threshold")]
    pub info: Option<u32>,
    /// DEBUG records per window that fire an event (`None`: never).
    #[serde(deserialize_with = "threshold")]
    pub debug: Option<u32>,
    /// TRACE records per window that fire an event (`None`: never).
    #[serde(deserialize_with = "threshold")]
    pub trace: Option<u32>,
    /// The sliding window (`window_secs` in the file, at least 1).
    #[serde(rename = "window_secs", deserialize_with = "window_secs")]
    pub window: Duration,
    /// Each alert event is posted to each of these (`[[alerts.webhooks]]`).
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            error: Some(1),
            warn: Some(1),
            info: None,
            debug: None,
            trace: None,
            window: DEFAULT_WINDOW,
            webhooks: Vec::new(),
        }
    }
}

impl AlertConfig {
    /// The one check of the window, for the file and for `Config::validate`.
    pub(crate) fn check_window(window: Duration) -> Result<(), String> {
        if window.is_zero() {
            return Err("must be at least 1".to_owned());
        }
        Ok(())
    }

    /// The threshold of `level` (`None`: the level never fires).
    pub fn get(&self, level: Level) -> Option<u32> {
        match level {
            Level::Error => self.error,
            Level::Warn => self.warn,
            Level::Info => self.info,
            Level::Debug => self.debug,
            Level::Trace => self.trace,
        }
    }

    /// Sets the threshold of `level`; `None` or `Some(0)` disables it.
    pub fn set(&mut self, level: Level, threshold: Option<u32>) {
        let threshold = threshold.filter(|&n| n > 0);
        match level {
            Level::Error => self.error = threshold,
            Level::Warn => self.warn = threshold,
            Level::Info => self.info = threshold,
            Level::Debug => self.debug = threshold,
            Level::Trace => self.trace = threshold,
        }
    }
}

/// A count of at least 1, or `0` / `"off"` to disable.
fn threshold<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a record count (0 disables) or \"off\"")
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Option<u32>, E> {
            let n = u32::try_from(n)
                .map_err(|_| E::custom(format!("threshold {n} is too large (at most {})", u32::MAX)))?;
            Ok((n > 0).then_some(n))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Option<u32>, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!("threshold {n} is negative; use a count (0 disables) or \"off\""))),
            }
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Option<u32>, E> {
            if s.eq_ignore_ascii_case("off") {
                Ok(None)
            } else {
                Err(E::custom(format!("invalid threshold `{s}`; use a count (0 disables) or \"off\"")))
            }
        }
    }
    d.deserialize_any(V)
}

fn window_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let window = Duration::from_secs(u64::deserialize(d)?);
    AlertConfig::check_window(window).map_err(serde::de::Error::custom)?;
    Ok(window)
}
