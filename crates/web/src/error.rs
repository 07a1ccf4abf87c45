//! Failure pages.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use log_panel_query::{StoreError, StoreErrorKind};
use maud::Markup;

use crate::extract::Ctx;
use crate::html::{problem_page, Nav};

/// What a 503 asks the client to wait before trying again, in seconds.
pub(crate) const RETRY_AFTER_SECS: &str = "10";

pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The page for a store failure: 400 for a filter the store refused, 500 for
/// a query the database refused or data it cannot read (or a schema from a
/// newer log-panel), 503 for every other kind (unreachable, a missing or
/// foreign database, a read over its time budget, kinds added later): the
/// panel is fine, the database cannot answer now.
pub(crate) fn failure(ctx: &Ctx, title: &str, nav: Nav, e: &StoreError) -> Response {
    let frame = ctx.frame(title, nav);
    let message = e.to_string();
    let (status, heading, retry) = match e.kind() {
        StoreErrorKind::BadFilter => (StatusCode::BAD_REQUEST, "This filter cannot be run", false),
        StoreErrorKind::Storage => (StatusCode::INTERNAL_SERVER_ERROR, "The database refused the query", false),
        StoreErrorKind::NewerSchema => {
            (StatusCode::INTERNAL_SERVER_ERROR, "The database was written by a newer log-panel", false)
        }
        StoreErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "The log database is unreachable", true),
        // A slow query is not retried by itself: reloading it would only load the database again.
        _ => (StatusCode::SERVICE_UNAVAILABLE, "The log database cannot answer now", false),
    };
    let mut response = respond(status, problem_page(&frame, heading, &message, retry));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

pub(crate) async fn not_found(ctx: Ctx) -> Response {
    let frame = ctx.frame("Not found", Nav::None);
    respond(StatusCode::NOT_FOUND, problem_page(&frame, "Not found", "There is no such page in the panel.", false))
}
