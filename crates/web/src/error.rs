//! Why a page is not shown, as a value that renders itself: a handler
//! returns `Err(PageError)` and the error page, its status and headers follow
//! from the kind of failure, the same on every page.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use log_panel_query::{StoreError, StoreErrorKind};
use maud::{html, Markup};

use crate::extract::{CallError, Ctx};
use crate::html::{page, respond, Frame, Nav, Shown};

/// What a 503 asks the client to wait before trying again, in seconds.
pub(crate) const RETRY_AFTER_SECS: &str = "10";

/// A page that cannot be shown, and the frame its error page is drawn in.
pub(crate) struct PageError {
    frame: Frame,
    kind: Kind,
}

enum Kind {
    /// The page's own form, showing what was typed and what is wrong in it (400).
    Form(Markup),
    /// Parameters that do not parse, on a page without a form for them (400).
    BadParameters(String),
    /// No such record or page (404).
    NotFound { heading: &'static str, message: String },
    /// The panel serves as many of something as it will at once (503, with
    /// `Retry-After`): the live tail's streams, the store calls of the pages.
    Busy { heading: &'static str, message: String },
    /// The store could not answer.
    Store(StoreError),
}

impl PageError {
    /// A 400 showing `body`, the page's form with the reason it was refused.
    pub(crate) fn form(frame: Frame, body: Markup) -> PageError {
        PageError { frame, kind: Kind::Form(body) }
    }

    /// A 400 naming the parameters that do not parse.
    pub(crate) fn bad_parameters(frame: Frame, message: impl Into<String>) -> PageError {
        PageError { frame, kind: Kind::BadParameters(message.into()) }
    }

    /// A 404.
    pub(crate) fn not_found(frame: Frame, heading: &'static str, message: impl Into<String>) -> PageError {
        PageError { frame, kind: Kind::NotFound { heading, message: message.into() } }
    }

    /// A 503 with `Retry-After`: the panel is at its limit of `heading`.
    pub(crate) fn busy(frame: Frame, heading: &'static str, message: impl Into<String>) -> PageError {
        PageError { frame, kind: Kind::Busy { heading, message: message.into() } }
    }

    /// A store failure: see [`IntoResponse`]; a request that did not get its
    /// turn to call the store is a 503 "The panel is busy".
    pub(crate) fn store(frame: Frame, e: impl Into<CallError>) -> PageError {
        match e.into() {
            CallError::Store(e) => PageError { frame, kind: Kind::Store(e) },
            CallError::Busy(busy) => PageError::busy(frame, "The panel is busy", busy.to_string()),
        }
    }
}

/// A store failure is 400 for a filter the store refused (never a 500 for a
/// filter), 500 for a query the database refused or data it cannot read (or
/// a schema from a newer log-panel), 503 with `Retry-After` for every other
/// kind (unreachable, a missing or foreign database, a read over its time
/// budget, kinds added later): the panel is fine, the database cannot answer now.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError { frame, kind } = self;
        // A page that stopped at an error did not get to read the rest of the
        // URL; naming those parameters as unknown would be wrong.
        frame.params.ask_all();
        let (status, heading, message, retry) = match kind {
            Kind::Form(body) => return respond(StatusCode::BAD_REQUEST, page(&frame, body)),
            Kind::BadParameters(message) => (StatusCode::BAD_REQUEST, "Bad parameters", message, false),
            Kind::NotFound { heading, message } => (StatusCode::NOT_FOUND, heading, message, false),
            Kind::Busy { heading, message } => (StatusCode::SERVICE_UNAVAILABLE, heading, message, false),
            Kind::Store(e) => {
                let (status, heading, retry) = match e.kind() {
                    StoreErrorKind::BadFilter => (StatusCode::BAD_REQUEST, "This filter cannot be run", false),
                    StoreErrorKind::Storage => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "The database refused the query", false)
                    }
                    StoreErrorKind::NewerSchema => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "The database was written by a newer log-panel", false)
                    }
                    StoreErrorKind::Unavailable => {
                        (StatusCode::SERVICE_UNAVAILABLE, "The log database is unreachable", true)
                    }
                    // A slow query is not retried by itself: reloading it would only load the database again.
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "The log database cannot answer now", false),
                };
                (status, heading, e.to_string(), retry)
            }
        };
        let mut response = respond(status, problem_page(&frame, heading, &message, retry));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        response
    }
}

/// The page shown for a failure: what went wrong, and for an unreachable
/// store a reload every few seconds, so the page comes back with the store.
fn problem_page(frame: &Frame, heading: &str, message: &str, retry: bool) -> Markup {
    page(
        frame,
        html! {
            @if retry { meta http-equiv="refresh" content="10"; }
            section.problem {
                h1 { (heading) }
                p { (Shown(message)) }
                @if retry { p.muted { "This page reloads every 10 seconds and works again once the database is back." } }
            }
        },
    )
}

/// Every URL the panel does not serve.
pub(crate) async fn not_found(ctx: Ctx) -> PageError {
    PageError::not_found(ctx.frame("Not found", Nav::None), "Not found", "There is no such page in the panel.")
}
