//! The web panel of log-panel: a dashboard of logger health cards, a
//! searchable records table with a histogram, one record in full, the
//! request view, call sites and a live tail, over any
//! [`Store`](log_panel_query::Store).
//!
//! Two ways to run it:
//!
//! - [`serve`] binds an address (127.0.0.1:8080 by default) and serves the
//!   panel alone, with its own token or basic-auth check; it refuses a
//!   non-loopback address without credentials.
//! - [`router`] returns an axum [`Router`](axum::Router) that an application
//!   nests under its own path and wraps in its own authentication:
//!
//! ```no_run
//! # fn demo(store: std::sync::Arc<dyn log_panel_query::Store>) {
//! let app = axum::Router::new().nest("/admin/logs", log_panel_web::router(store));
//! // .layer(your_auth_middleware)
//! # let _ = app;
//! # }
//! ```
//!
//! Every page is read-only and answers GET only. Every stored string is
//! escaped by the templates (maud), the Content-Security-Policy forbids
//! inline scripts and styles, and the only script — local times and the
//! live tail — is a static file; every page but the live tail works without it.

mod assets;
mod error;
mod extract;
mod filter_form;
mod health;
mod histogram;
mod html;
mod pages;
mod rows;
mod serve;
mod trace;
mod trouble;
mod url;
mod viewer;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use log_panel_query::Store;

pub use health::Thresholds;
pub use serve::{serve, ServeOptions, Server, WebError};
pub use trace::{TraceUrl, TraceUrlError};

/// The Content-Security-Policy of every response: only this panel's own
/// stylesheet and script, no inline code, no framing, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// How the pages judge what they show.
///
/// One rule judges a logger's timeline slots and its badges alike: a span
/// with at least `slot_errors` ERROR records is red, else with at least
/// `slot_warnings` WARN records amber, else ok; a logger named in
/// [`PanelOptions::logger_thresholds`] (or below one, by `::`) is judged by
/// its own thresholds instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PanelOptions {
    /// ERROR records in a timeline slot that make it an error slot (red);
    /// the configuration's `thresholds.error`. At least 1.
    pub slot_errors: u64,
    /// WARN records in a slot that make it a warning slot (amber), when it is
    /// not an error slot; the configuration's `thresholds.warn`. At least 1.
    pub slot_warnings: u64,
    /// Thresholds of particular loggers and their `::` descendants (the
    /// configuration's `[panel.loggers]`); the longest matching name wins.
    loggers: health::LoggerThresholds,
    /// Live-tail streams served at once ([`PanelOptions::DEFAULT_TAIL_STREAMS`]
    /// by default); one more is answered `503` with `Retry-After`. At least 1.
    pub tail_streams: usize,
    /// The link from a record's `trace_id` to a trace viewer (the
    /// configuration's `panel.trace_url`, `serve --trace-url`); none by default.
    pub trace_url: Option<TraceUrl>,
    /// The alert thresholds the alerts page recomputes crossings with.
    alerts: pages::alerts::AlertRules,
    /// How often the live tail reads when the store does not say that a
    /// batch committed ([`PanelOptions::DEFAULT_TAIL_POLL`]); with a store
    /// that pushes commits (PostgreSQL) it is the fallback. At least 10 ms.
    pub tail_poll: Duration,
}

impl Default for PanelOptions {
    fn default() -> PanelOptions {
        PanelOptions {
            slot_errors: 1,
            slot_warnings: 1,
            loggers: health::LoggerThresholds::default(),
            tail_streams: PanelOptions::DEFAULT_TAIL_STREAMS,
            trace_url: None,
            alerts: pages::alerts::AlertRules::default(),
            tail_poll: PanelOptions::DEFAULT_TAIL_POLL,
        }
    }
}

impl PanelOptions {
    /// The default cap on live-tail streams open at once.
    pub const DEFAULT_TAIL_STREAMS: usize = 64;

    /// Links each record's `trace_id` to a trace viewer through `url`.
    #[must_use]
    pub fn trace_url(mut self, url: TraceUrl) -> PanelOptions {
        self.trace_url = Some(url);
        self
    }

    /// The default [`PanelOptions::tail_poll`].
    pub const DEFAULT_TAIL_POLL: Duration = Duration::from_millis(500);

    /// The live tail reads every `every` when the store does not push
    /// commits, and at least that often when it does (below 10 ms is taken as 10 ms).
    #[must_use]
    pub fn tail_poll(mut self, every: Duration) -> PanelOptions {
        self.tail_poll = every.max(Duration::from_millis(10));
        self
    }

    /// Serves at most `n` live-tail streams at once (0 is taken as 1).
    #[must_use]
    pub fn tail_streams(mut self, n: usize) -> PanelOptions {
        self.tail_streams = n.max(1);
        self
    }

    /// The alerts page's threshold of `level`: `count` records of one logger
    /// and exactly that level within the [window](PanelOptions::alert_window)
    /// fire (the configuration's `thresholds.error`, `.warn`, …; `None` or
    /// `Some(0)`: the level never fires). By default ERROR 1 and WARN 1, as
    /// the library's.
    #[must_use]
    pub fn alert_threshold(mut self, level: log_panel_core::Level, count: Option<u32>) -> PanelOptions {
        let at = log_panel_core::LEVELS.iter().position(|l| *l == level);
        if let Some(slot) = at.and_then(|i| self.alerts.thresholds.get_mut(i)) {
            *slot = count.filter(|&n| n > 0);
        }
        self
    }

    /// The alerts page's sliding window (the configuration's
    /// `thresholds.window_secs`; one hour by default; zero is taken as one second).
    #[must_use]
    pub fn alert_window(mut self, window: std::time::Duration) -> PanelOptions {
        self.alerts.window = window.max(std::time::Duration::from_secs(1));
        self
    }

    /// Slots turn red at `errors` ERROR records and amber at `warnings` WARN
    /// records (0 is taken as 1: a slot with one error is never "ok").
    #[must_use]
    pub fn slot_thresholds(mut self, errors: u64, warnings: u64) -> PanelOptions {
        self.slot_errors = errors.max(1);
        self.slot_warnings = warnings.max(1);
        self
    }

    /// Judges `logger` and its `::` descendants (`api::http` covers
    /// `api::http::access`, not `api::https`) with their own thresholds, in
    /// records per hour (see [`PanelOptions::thresholds_for`]), so a noisy
    /// logger's normal rate is not red (0 is taken as 1). Where several
    /// names cover a logger, the longest wins; naming one again replaces
    /// its thresholds.
    #[must_use]
    pub fn logger_thresholds(mut self, logger: impl Into<String>, errors: u64, warnings: u64) -> PanelOptions {
        let logger = logger.into();
        self.loggers.rules.retain(|(name, _)| *name != logger);
        self.loggers.rules.push((logger, Thresholds::new(errors, warnings)));
        self
    }

    /// Whether thresholds other than one error or one warning judge some
    /// logger: then cards come trouble first relative to each logger's
    /// thresholds, not by raw counts (see `trouble.rs`).
    pub(crate) fn orders_relative(&self) -> bool {
        !self.loggers.rules.is_empty() || self.slot_errors != 1 || self.slot_warnings != 1
    }

    /// The thresholds a span of `logger` lasting `span` microseconds (a
    /// timeline slot, the last hour) is judged by: `slot_errors` /
    /// `slot_warnings` per span, or for a logger with its own thresholds,
    /// those per hour, times the span's hours (rounded up), so a noisy
    /// logger's normal day is not red on the 30- and 90-day timelines.
    pub fn thresholds_for(&self, logger: &str, span: i64) -> Thresholds {
        match self.loggers.for_logger(logger) {
            Some(hourly) => {
                let hours =
                    span.div_euclid(log_panel_query::HOUR) + i64::from(span.rem_euclid(log_panel_query::HOUR) != 0);
                hourly.times(u64::try_from(hours).unwrap_or(0).max(1))
            }
            None => Thresholds::new(self.slot_errors, self.slot_warnings),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: PanelOptions,
    pub(crate) tail: Arc<pages::tail::hub::TailHub>,
}

/// The panel's pages over `store`, with links relative to wherever the
/// router is nested. It adds the security headers to its own responses;
/// authentication is the caller's (see [`serve`] for a standalone server).
pub fn router(store: Arc<dyn Store>) -> axum::Router {
    router_with(store, PanelOptions::default())
}

/// [`router`] with options.
pub fn router_with(store: Arc<dyn Store>, options: PanelOptions) -> axum::Router {
    let (errors, warnings, streams, poll) =
        (options.slot_errors, options.slot_warnings, options.tail_streams, options.tail_poll);
    let options = options.slot_thresholds(errors, warnings).tail_streams(streams).tail_poll(poll);
    let tail = Arc::new(pages::tail::hub::TailHub::new(store.clone(), options.tail_streams, options.tail_poll));
    axum::Router::new()
        .merge(pages::home::routes())
        .merge(pages::records::routes())
        .merge(pages::record::routes())
        .merge(pages::surrounding::routes())
        .merge(pages::related::routes())
        .merge(pages::sites::routes())
        .merge(pages::alerts::routes())
        .merge(pages::tail::routes())
        .merge(assets::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(security_headers))
        .layer(compression())
        .with_state(AppState { store, options, tail })
}

/// gzip for a client that accepts it, on every answer but those too small to
/// gain (under 32 bytes), images and the live tail: tower-http's default
/// predicate leaves `text/event-stream` alone, so each event is written as it
/// comes instead of waiting in the compressor's buffer. Outside the security
/// headers, which it keeps.
fn compression() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new().gzip(true)
}

pub(crate) async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
