//! The records page (`/records`): the filter form, the histogram, the table.

mod fields;
mod split;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::Timestamp;
use log_panel_query::{PageAt, RecordFilter};
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::filter_form::{filter_form_keeping, form_pairs, parse_filter, read_form, refused, store_failed, At};
use crate::histogram::{histogram, total_label, Counting};
use crate::html::{counted, page, respond, Nav, Shown};
use crate::rows::records_table;
use crate::url::{encode, number, page_at};
use crate::AppState;

/// Records a page of the table shows at most.
const RECORDS_LIMIT: usize = 500;

/// `/records`, and the pages below it.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/records", get(records))
}

/// The records page: path, title, navigation entry.
const AT: At = ("/records", "Records", Nav::Records);

pub(crate) async fn records(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
    let form = read_form(&ctx.params);
    let viewer = ctx.viewer();
    let now = Timestamp::now();
    let parsed = parse_filter(&ctx, &form, now).and_then(|f| {
        let at = page_at(&ctx.params)?;
        let limit = number(&ctx.params, "limit", 50, RECORDS_LIMIT)?;
        let split_key = split::key(&ctx.params)?;
        Ok((f, at, limit, split_key, fields::Ask::from_params(&ctx.params)?))
    });
    let (filter, at, limit, split_key, ask) = match parsed {
        Ok(x) => x,
        Err(e) => return Err(refused(&ctx, &form, AT, &e)),
    };
    let term = filter.text.clone();
    let unindexed = unindexed_note(&filter);
    let keys: Vec<String> = filter.fields.iter().map(|f| f.key.clone()).collect();
    let newest = at == PageAt::Newest;
    // `exact=1`: the histogram counts every match, where it would otherwise be estimated.
    let exact = ctx.params.get("exact") == Some("1");
    let counting = if exact { Counting::Exact } else { Counting::Estimate };
    let split_key_read = split_key.clone();
    let ask_read = ask.clone();
    let result = blocking(&state, move |s| {
        let lag = log_panel_query::index_note(s, &filter);
        let page = s.records(&filter, at, limit)?;
        let drawn = crate::histogram::read(s, &filter, &page, newest, now, viewer, counting)?;
        let split = match split_key_read.as_deref() {
            Some(key) => Some(split::read(s, &filter, key, &drawn.slots)?),
            None => None,
        };
        let fields = fields::read(s, &filter, &ask_read)?;
        Ok((page, drawn, split, fields, lag))
    })
    .await;
    let (page_of, drawn, split, fields, lag) = match result {
        Ok(x) => x,
        Err(e) => return Err(store_failed(&ctx, &form, AT, e)),
    };
    let mut keep = form_pairs(&form);
    if limit != 50 {
        keep.push(("limit", limit.to_string()));
    }
    keep.extend(ctx.tz_pairs());
    // The split control carries the filter without the split; every other link keeps it.
    let unsplit = keep.clone();
    if let Some(k) = &split_key {
        keep.push(("split", k.clone()));
    }
    let unfielded = keep.clone();
    keep.extend(ask.pairs());
    // What a new filter or time range keeps beside the filter itself (the
    // split, the page size, the open field statistics; never the page position).
    let beside: Vec<(&'static str, String)> =
        keep.iter().filter(|(k, _)| matches!(*k, "split" | "limit" | "fields" | "field")).cloned().collect();
    // This page, at its position, counted exactly; the pager keeps an exact count.
    let mut exact_pairs = keep.clone();
    for key in ["older", "newer"] {
        exact_pairs.extend(ctx.params.get(key).map(|v| (key, v.to_owned())));
    }
    exact_pairs.push(("exact", "1".to_owned()));
    let count_exactly = ctx.base.link("/records", &encode(exact_pairs));
    if exact {
        keep.push(("exact", "1".to_owned()));
    }
    let pager_link = |key: &'static str, cursor: String| {
        let mut pairs = keep.clone();
        pairs.push((key, cursor));
        ctx.base.link("/records", &encode(pairs))
    };
    let pager = html! {
        nav.pager {
            @if at != log_panel_query::PageAt::Newest { a href=(ctx.base.link("/records", &encode(keep.clone()))) { "⇤ Newest" } }
            @if let Some(c) = page_of.newer { a href=(pager_link("newer", c.to_string())) rel="prev" { "← Newer" } }
            @if let Some(c) = page_of.older { a href=(pager_link("older", c.to_string())) rel="next" { "Older →" } }
        }
    };
    let mut tail_pairs = form_pairs(&form);
    tail_pairs.extend(ctx.tz_pairs());
    let body = html! {
        (filter_form_keeping(&ctx.base, "/records", &form, viewer, None, &beside))
        (unindexed)
        (lag_note(lag.line()))
        (histogram(&ctx.base, viewer, &form, &drawn, &page_of.records, "/records", &beside, &count_exactly))
        @if let (Some(key), Some(split)) = (&split_key, &split) {
            (split::chart(&ctx.base, viewer, &keep, key, &drawn, split))
        }
        (split::control(&ctx.base, &unsplit, split_key.as_deref(), &split::keys_seen(&page_of.records)))
        (fields::panel(&ctx.base, &unfielded, &ask, fields.as_ref()))
        @if page_of.records.is_empty() {
            p.empty { "No record matches." }
        } @else {
            div.bar {
                span.muted {
                    (counted(page_of.records.len() as u64, "record")) " on this page"
                    @if let Ok(h) = &drawn.counts { " of " (total_label(h)) " matching" }
                    ", newest first"
                }
                a href=(ctx.base.link("/tail", &encode(tail_pairs))) { "Live tail of this filter" }
            }
            (pager)
            (records_table(&ctx.base, viewer, &page_of.records, false, term.as_deref(), &keys))
            (pager)
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(AT.1, AT.2), body)))
}

/// The note above the rows saying how far an index the filter reads is
/// behind, or that its lag could not be read
/// ([`log_panel_query::index_note`]); nothing when no index it reads lags.
pub(crate) fn lag_note(line: Option<&str>) -> Markup {
    html! {
        @if let Some(line) = line {
            p.lag-note role="note" { (Shown(line)) }
        }
    }
}

/// The note above the rows naming what no index serves; nothing when every part is indexed.
pub(crate) fn unindexed_note(filter: &RecordFilter) -> Markup {
    let parts = filter.unindexed();
    html! {
        @if !parts.is_empty() {
            p.scan-note role="note" {
                "Not indexed, checked on each record the rest of the filter selects: "
                @for (i, part) in parts.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (Shown(part)) }
                }
            }
        }
    }
}
