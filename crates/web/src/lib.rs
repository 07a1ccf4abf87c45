//! The web panel of log-panel: a dashboard of logger health cards, a
//! searchable records table with a histogram, one record in full, the
//! request view, call sites and a live tail, over any
//! [`Store`].
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
mod options;
mod pages;
mod rows;
mod serve;
mod trace;
mod trouble;
mod url;
mod viewer;

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use log_panel_query::Store;

pub use health::Thresholds;
pub use options::PanelOptions;
pub use serve::{serve, ServeOptions, Server, WebError};
pub use trace::{TraceUrl, TraceUrlError};

/// The Content-Security-Policy of every response: only this panel's own
/// stylesheet and script, no inline code, no framing, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: PanelOptions,
    pub(crate) tail: Arc<pages::tail::hub::TailHub>,
    /// The turns of the pages' store calls ([`PanelOptions::store_calls`]);
    /// tokio's semaphore hands them out in order of arrival.
    pub(crate) store_turns: Arc<tokio::sync::Semaphore>,
}

/// The panel's pages over `store`, with links relative to wherever the
/// router is nested. It adds the security headers to its own responses;
/// authentication is the caller's (see [`serve`] for a standalone server).
pub fn router(store: Arc<dyn Store>) -> axum::Router {
    router_with(store, PanelOptions::default())
}

/// [`router`] with options.
pub fn router_with(store: Arc<dyn Store>, options: PanelOptions) -> axum::Router {
    let (errors, warnings, streams, poll, calls) =
        (options.slot_errors, options.slot_warnings, options.tail_streams, options.tail_poll, options.store_calls);
    let options = options.slot_thresholds(errors, warnings).tail_streams(streams).tail_poll(poll).store_calls(calls);
    let store_turns =
        Arc::new(tokio::sync::Semaphore::new(options.store_calls.min(tokio::sync::Semaphore::MAX_PERMITS)));
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
        .with_state(AppState { store, options, tail, store_turns })
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
