//! The live tail (`/tail`) and its stream (`/tail/events`).

pub(crate) mod hub;
mod row;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use log_panel_core::Timestamp;
use log_panel_query::{RecordFilter, StoreErrorKind};
use maud::html;

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::filter_form::{filter_form, form_pairs, parse_filter, read_form, refused, store_failed, At};
use crate::html::{page, respond, Nav, Shown};
use crate::rows::records_table;
use crate::url::encode;
use crate::AppState;

/// Lines the live tail page shows on opening.
const TAIL_OPENING: usize = 50;
/// Lines the live tail page keeps.
const TAIL_KEEP: usize = 500;

/// `/tail` and `/tail/events`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/tail", get(tail)).route("/tail/events", get(tail_events))
}

/// How the live tail's rows link and mark: as the records page's rows.
fn tail_links(ctx: &Ctx, filter: &RecordFilter) -> row::RowLinks {
    let viewer = ctx.viewer();
    row::RowLinks {
        base: ctx.base.clone(),
        tz: viewer.in_url.then_some(i64::from(viewer.offset_secs / 60)),
        keys: filter.fields.iter().map(|f| f.key.clone()).collect(),
        term: filter.text.clone(),
    }
}

/// The live tail page: path, title, navigation entry.
const AT: At = ("/tail", "Live tail", Nav::Tail);

pub(crate) async fn tail(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
    let form = read_form(&ctx.params);
    let viewer = ctx.viewer();
    let filter = match parse_filter(&ctx, &form, Timestamp::now()) {
        Ok(f) => f,
        Err(e) => return Err(refused(&ctx, &form, AT, &e)),
    };
    let links = tail_links(&ctx, &filter);
    let read =
        blocking(&state, move |s| Ok((log_panel_query::index_note(s, &filter), s.tail(&filter, None, TAIL_OPENING)?)));
    let (lag, mut lines) = match read.await {
        Ok(l) => l,
        Err(e) => return Err(store_failed(&ctx, &form, AT, e)),
    };
    // The newest ids, shown by time (several writers commit out of time
    // order); the stream goes on after the highest id shown.
    lines.sort_by_key(|r| (r.ts, r.id));
    let mut src = form_pairs(&form);
    if let Some(last) = lines.iter().map(|r| r.id).max() {
        src.push(("after", last.to_string()));
    }
    src.extend(ctx.tz_pairs());
    let body = html! {
        (filter_form(&ctx.base, "/tail", &form, viewer, None))
        // The stream's `lag` events update this note in place (hidden while
        // no index the filter reads lags), once per change.
        @match lag.line() {
            Some(line) => p.lag-note id="tail-lag" role="note" { (Shown(line)) },
            None => p.lag-note id="tail-lag" role="note" hidden {},
        }
        div.tailbar {
            button id="tail-toggle" type="button" disabled { "Pause" }
            span.muted id="tail-status" { "Live updates need JavaScript; without it, reload for new lines." }
        }
        div.tail id="tail" data-src=(ctx.base.link("/tail/events", &encode(src))) data-max=(TAIL_KEEP) {
            (records_table(&ctx.base, viewer, &lines, false, links.term.as_deref(), &links.keys))
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(AT.1, AT.2), body)))
}

/// Server-sent events: every record the filter keeps, as it is committed.
/// Starts after `?after=` (or the `Last-Event-ID` of a reconnecting browser),
/// at most one page back, else with the latest page; `503` when the most
/// streams are open. A stream refused before it starts is a [`PageError`],
/// as a page is.
pub(crate) async fn tail_events(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let frame = || ctx.frame(AT.1, AT.2);
    let form = read_form(&ctx.params);
    let filter = parse_filter(&ctx, &form, Timestamp::now()).map_err(|e| PageError::bad_parameters(frame(), e))?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let after = match resume.as_deref().or(ctx.params.get("after")).map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(PageError::bad_parameters(frame(), "after: expected a record id")),
    };
    let links = tail_links(&ctx, &filter);
    let Some(mut stream) = state.tail.open(filter, after, links) else {
        let message = format!(
            "{} live-tail streams are open, the most this panel serves at once; try again later.",
            state.tail.max()
        );
        return Err(PageError::busy(frame(), "Too many live tails", message));
    };
    // As the pages: a refused filter or query ends here (a browser does not
    // retry a refused stream); an unreachable database is reported on the
    // stream, which goes on once it is back.
    if let Err(e) = stream.start().await {
        if matches!(e.kind(), StoreErrorKind::BadFilter | StoreErrorKind::Storage | StoreErrorKind::NewerSchema) {
            return Err(PageError::store(frame(), e));
        }
    }
    Ok(Sse::new(stream.events()).keep_alive(KeepAlive::default()).into_response())
}
