//! Every record sharing one context value (`/related?key=…&value=…`), and the
//! request view: the same page for `key=request_id` (and the trace view for
//! `key=trace_id`), with each record's offset from the request's first record
//! and a small waterfall bar.
//!
//! The records come from [`Store::records`](log_panel_query::Store::records)
//! with one context condition, so they are paged by keyset over (time, id)
//! like the records table: a deep page costs what the first costs, and no page
//! holds more than [`MAX_LIMIT`] records. The value view reads newest first
//! (what happened lately with this user or tenant); the request view reads
//! oldest first (a request is a story told in order); `order=` picks either.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::{level_name, Timestamp};
use log_panel_query::{Cursor, FieldMatch, FieldValue, Page, PageAt, RecordFilter, StoreErrorKind, StoredRecord};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{blocking, CallError, Ctx};
use crate::html::{counted, level_badge, page, preview, respond, time, Nav, Shown, NAME_CHARS};
use crate::url::{encode, number, page_at, EARLIEST};
use crate::viewer::Viewer;
use crate::AppState;

/// `/related`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/related", get(related))
}

/// The key whose value names a request: its page is the request view.
pub(crate) const REQUEST_KEY: &str = "request_id";

/// What a value of `key` names when its records tell one story, read oldest
/// first with offsets and a waterfall: a request, or a trace (which may span
/// several requests and services).
fn story(key: &str) -> Option<&'static str> {
    match key {
        REQUEST_KEY => Some("Request"),
        log_panel_core::trace::TRACE_ID_KEY => Some("Trace"),
        _ => None,
    }
}
/// Records a page shows unless `limit=` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// The most records a page shows (`limit=` above it is refused).
pub(crate) const MAX_LIMIT: usize = 500;
/// A position before every record: the first page of the oldest-first order
/// is the page "newer than" it.
const BEFORE_ALL: Cursor = Cursor { ts: Timestamp(EARLIEST), id: i64::MIN };
/// Width of a waterfall bar in its SVG's units.
const BAR_UNITS: i64 = 1000;

/// Which end a listing starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Newest,
    Oldest,
}

impl Order {
    fn name(self) -> &'static str {
        match self {
            Order::Newest => "newest",
            Order::Oldest => "oldest",
        }
    }

    /// The page this order opens on.
    fn start(self) -> PageAt {
        match self {
            Order::Newest => PageAt::Newest,
            Order::Oldest => PageAt::Newer(BEFORE_ALL),
        }
    }
}

/// What the URL asks for, checked.
struct Ask {
    key: String,
    value: String,
    order: Order,
    at: PageAt,
    limit: usize,
}

fn ask(ctx: &Ctx, key: &str, value: &str) -> Result<Ask, String> {
    if let Err(e) = &ctx.viewer {
        return Err(e.clone());
    }
    if key.is_empty() || value.is_empty() {
        return Err("a key and a value are needed, e.g. request_id and its value".to_owned());
    }
    let order = match ctx.params.get("order") {
        None if story(key).is_some() => Order::Oldest,
        None => Order::Newest,
        Some("newest") => Order::Newest,
        Some("oldest") => Order::Oldest,
        Some(other) => return Err(format!("order `{other}`: expected newest or oldest")),
    };
    let at = match page_at(&ctx.params)? {
        PageAt::Newest => order.start(),
        at => at,
    };
    let limit = number(&ctx.params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(Ask { key: key.to_owned(), value: value.to_owned(), order, at, limit })
}

/// The request's first and last records' times, for offsets and the waterfall's scale.
#[derive(Debug, Clone, Copy)]
struct Span {
    first: Timestamp,
    last: Timestamp,
}

pub(crate) async fn related(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
    let key = ctx.params.get("key").unwrap_or("").to_owned();
    let value = ctx.params.all("value").next().unwrap_or("").to_owned();
    let viewer = ctx.viewer();
    let form = |error: Option<&str>| {
        html! {
            form.filters.inline method="get" action=(ctx.base.at("/related")) {
                @if let Some(e) = error { p.error role="alert" { strong { "Not shown: " } (Shown(e)) } }
                label { "Key" input name="key" value=(Shown(&key)) placeholder="request_id"; }
                label { "Value" input name="value" value=(Shown(&value)); }
                @if viewer.in_url { input type="hidden" name="tz" value=(viewer.offset_secs / 60); }
                button type="submit" { "Show" }
            }
        }
    };
    let title = story(&key).unwrap_or("Records sharing a value");
    let bad = |message: &str| PageError::form(ctx.frame(title, Nav::None), form(Some(message)));
    let ask = match ask(&ctx, &key, &value) {
        Ok(a) => a,
        Err(e) => return Err(bad(&e)),
    };
    let mut filter = RecordFilter::default();
    match FieldMatch::new(key.clone(), FieldValue::Text(value.clone())) {
        Ok(m) => filter.fields.push(m),
        Err(e) => return Err(bad(&e.to_string())),
    }
    let request = story(&key).is_some();
    let (at, limit, order) = (ask.at, ask.limit, ask.order);
    let result = blocking(&state, move |s| {
        let lag = log_panel_query::index_note(s, &filter);
        let page = s.records(&filter, at, limit)?;
        let span = if request { request_span(s, &filter, &page)? } else { None };
        Ok((page, span, lag))
    })
    .await;
    let (mut page_of, span, lag) = match result {
        Ok(x) => x,
        Err(CallError::Store(e)) if e.kind() == StoreErrorKind::BadFilter => return Err(bad(&e.to_string())),
        Err(e) => return Err(PageError::store(ctx.frame(title, Nav::None), e)),
    };
    if order == Order::Oldest {
        page_of.records.reverse();
    }
    let records = &page_of.records;
    let pager = pager(&ctx, &ask, page_of.older, page_of.newer);
    let threads = distinct(records, |r| format!("{}/{}/{}", r.app, r.pid, r.thread));
    let toggle = match order {
        Order::Newest => Order::Oldest,
        Order::Oldest => Order::Newest,
    };
    let body = html! {
        h1 { @if request { (title) " " } @else { "Records with " } code { (Shown(&key)) } " = " code { (Shown(&value)) } }
        (form(None))
        (crate::pages::records::lag_note(lag.line()))
        @if records.is_empty() && at == order.start() { p.empty { "No record has this value." } } @else {
            div.bar {
                span.muted {
                    (counted(records.len() as u64, "record")) " on this page, " (ask.order.name()) " first, from "
                    (counted(threads as u64, "thread"))
                    @if let Some(s) = span { " · the " (title.to_lowercase()) " spans " (format_duration(s.last.0 - s.first.0)) }
                }
                a href=(link(&ctx, &ask, Some(toggle), None)) { (toggle.name()) " first" }
            }
            (pager)
            (table(&ctx, viewer, records, &key, span))
            (pager)
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(title, Nav::None), body)))
}

/// The times of a request's first and last records: from the page when it
/// holds them (no older or no newer page), else one record each, read with
/// the same condition (and index) as the page.
fn request_span(store: &dyn Store, filter: &RecordFilter, page: &Page) -> Result<Option<Span>, StoreError> {
    // The page's records are newest first here (the view reverses them later).
    let first = match page.older {
        None => page.records.last().map(|r| r.ts),
        Some(_) => store.records(filter, Order::Oldest.start(), 1)?.records.first().map(|r| r.ts),
    };
    let last = match page.newer {
        None => page.records.first().map(|r| r.ts),
        Some(_) => store.records(filter, PageAt::Newest, 1)?.records.first().map(|r| r.ts),
    };
    Ok(first.zip(last).map(|(first, last)| Span { first, last }))
}

/// A link to this view with `order` (or the current one) at `at` (or its first page).
fn link(ctx: &Ctx, ask: &Ask, order: Option<Order>, at: Option<PageAt>) -> String {
    let order = order.unwrap_or(ask.order);
    let mut pairs: Vec<(&'static str, String)> = vec![("key", ask.key.clone()), ("value", ask.value.clone())];
    let default = if story(&ask.key).is_some() { Order::Oldest } else { Order::Newest };
    if order != default {
        pairs.push(("order", order.name().to_owned()));
    }
    match at {
        Some(PageAt::Older(c)) => pairs.push(("older", c.to_string())),
        Some(PageAt::Newer(c)) => pairs.push(("newer", c.to_string())),
        Some(PageAt::Newest) | None => {}
    }
    if ask.limit != DEFAULT_LIMIT {
        pairs.push(("limit", ask.limit.to_string()));
    }
    ctx.link("/related", pairs)
}

/// Links to the first page and the neighbours, in the order the rows read.
fn pager(ctx: &Ctx, ask: &Ask, older: Option<Cursor>, newer: Option<Cursor>) -> Markup {
    let older = older.map(|c| link(ctx, ask, None, Some(PageAt::Older(c))));
    let newer = newer.map(|c| link(ctx, ask, None, Some(PageAt::Newer(c))));
    let first = (ask.at != ask.order.start()).then(|| link(ctx, ask, None, None));
    html! {
        nav.pager {
            @match ask.order {
                Order::Newest => {
                    @if let Some(l) = first { a href=(l) { "⇤ Newest" } }
                    @if let Some(l) = newer { a href=(l) rel="prev" { "← Newer" } }
                    @if let Some(l) = older { a href=(l) rel="next" { "Older →" } }
                }
                Order::Oldest => {
                    @if let Some(l) = first { a href=(l) { "⇤ Oldest" } }
                    @if let Some(l) = older { a href=(l) rel="prev" { "← Earlier" } }
                    @if let Some(l) = newer { a href=(l) rel="next" { "Later →" } }
                }
            }
        }
    }
}

/// The rows: with a span (the request view), each record's offset from the
/// request's first record and a waterfall bar; the shared key left out of
/// each row's context; thread and host cut to one line, whole in a title.
fn table(ctx: &Ctx, viewer: Viewer, records: &[StoredRecord], key: &str, span: Option<Span>) -> Markup {
    let tz = encode(ctx.tz_pairs());
    html! {
        table.records.related {
            thead { tr {
                @if span.is_some() { th colspan="2" title="From the request's first record" { "Offset" } }
                th.when[span.is_some()] { "Time" } th { "Level" } th { "Logger" } th { "Message" } th { "Context" }
                th { "Thread" } th { "Host" } th.wide { "App" } th.wide { "Pid" }
            } }
            tbody {
                @for r in records {
                    @let href = ctx.base.link(&format!("/records/{}", r.id), &tz);
                    tr class={ "row-" (level_name(r.level)) } {
                        @if let Some(s) = span {
                            td.off title=(r.ts.to_rfc3339()) { (format_offset(r.ts.0 - s.first.0)) }
                            td.wf { (waterfall(r.ts, s)) }
                        }
                        td.t.when[span.is_some()] { a href=(href) { (time(viewer, r.ts)) } }
                        td { (level_badge(r.level)) }
                        td.logger title=(Shown(&r.logger)) { (preview(&r.logger, NAME_CHARS)) }
                        td.msg { a href=(href) { (preview(&r.message, 200)) } }
                        @let context = context_without(r, key);
                        td.ctx title=(context) { code { (context) } }
                        td.one title=(Shown(&r.thread)) { (preview(&r.thread, NAME_CHARS)) }
                        td.one title=(Shown(&r.host)) { (preview(&r.host, NAME_CHARS)) }
                        td.one.wide title=(Shown(&r.app)) { (preview(&r.app, NAME_CHARS)) }
                        td.wide { (r.pid) }
                    }
                }
            }
        }
    }
}

/// A bar from the request's start to this record, over the request's whole
/// span (an SVG: sizes are attributes, so the CSP can forbid inline styles).
fn waterfall(ts: Timestamp, span: Span) -> Markup {
    let total = (span.last.0 - span.first.0).max(1);
    let off = (ts.0 - span.first.0).clamp(0, total);
    let x = i64::try_from(i128::from(off) * i128::from(BAR_UNITS) / i128::from(total)).unwrap_or(BAR_UNITS);
    html! {
        svg.wf viewBox={ "0 0 " (BAR_UNITS) " 10" } preserveAspectRatio="none" role="img"
            aria-label={ (format_offset(off)) " of " (format_duration(total)) } {
            rect.wf-track x="0" y="3" width=(BAR_UNITS) height="4" {}
            rect.wf-done x="0" y="3" width=(x) height="4" {}
            rect.wf-at x=((x - 12).clamp(0, BAR_UNITS - 24)) y="0" width="24" height="10" {}
        }
    }
}

/// The record's context as `key=value` pairs, without the key every row shares.
fn context_without(r: &StoredRecord, key: &str) -> String {
    let pairs: Vec<String> = r
        .context
        .iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect();
    preview(&pairs.join(" "), 160)
}

fn distinct(records: &[StoredRecord], key: impl Fn(&StoredRecord) -> String) -> usize {
    let mut keys: Vec<String> = records.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

/// An offset from the first record: `+0 ms`, `+12 ms`, `+1.2 s`.
pub(crate) fn format_offset(micros: i64) -> String {
    format!("+{}", format_duration(micros))
}

/// A duration for people, in the largest unit that keeps it short: `850 µs`,
/// `0 ms`, `12 ms`, `1.2 s`, `42 s`, `3 min 12 s`, `5 h 7 min`, `13 d 2 h`.
/// Negative durations read with a minus sign.
pub(crate) fn format_duration(micros: i64) -> String {
    const MS: i64 = 1_000;
    const S: i64 = 1_000 * MS;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    const D: i64 = 24 * H;
    if micros < 0 {
        return format!("−{}", format_duration(micros.checked_neg().unwrap_or(i64::MAX)));
    }
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        let (a, b) = (micros / big, (micros % big) / small);
        if b == 0 {
            format!("{a} {big_unit}")
        } else {
            format!("{a} {big_unit} {b} {small_unit}")
        }
    };
    match micros {
        0 => "0 ms".to_owned(),
        m if m < MS => format!("{m} µs"),
        m if m < 10 * MS => format!("{:.1} ms", m as f64 / MS as f64).replace(".0 ", " "),
        m if m < S => format!("{} ms", m / MS),
        m if m < 10 * S => format!("{:.1} s", (m / (100 * MS)) as f64 / 10.0).replace(".0 ", " "),
        m if m < MIN => format!("{} s", m / S),
        m if m < H => pair(MIN, "min", S, "s"),
        m if m < D => pair(H, "h", MIN, "min"),
        _ => pair(D, "d", H, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_unit() {
        let cases = [
            (0, "0 ms"),
            (1, "1 µs"),
            (850, "850 µs"),
            (1_000, "1 ms"),
            (1_250, "1.2 ms"),
            (12_000, "12 ms"),
            (999_999, "999 ms"),
            (1_000_000, "1 s"),
            (1_200_000, "1.2 s"),
            (1_299_999, "1.2 s"),
            (42_700_000, "42 s"),
            (60_000_000, "1 min"),
            (192_000_000, "3 min 12 s"),
            (3_600_000_000, "1 h"),
            (18_420_000_000, "5 h 7 min"),
            // The "18877.6 min" of the issue: 13 days and 2 hours.
            (1_132_656_000_000, "13 d 2 h"),
            (86_400_000_000, "1 d"),
            (i64::MAX, "106751991 d 4 h"),
            (-1_200_000, "−1.2 s"),
            (i64::MIN, "−106751991 d 4 h"),
        ];
        for (micros, want) in cases {
            assert_eq!(format_duration(micros), want, "{micros}");
        }
        assert_eq!(format_offset(0), "+0 ms");
        assert_eq!(format_offset(12_000), "+12 ms");
        assert_eq!(format_offset(1_200_000), "+1.2 s");
    }

    #[test]
    fn the_waterfall_scales_to_the_span_without_inline_styles() {
        let span = Span { first: Timestamp(1_000), last: Timestamp(3_000) };
        let at = |t: i64| waterfall(Timestamp(t), span).into_string();
        assert!(at(1_000).contains("class=\"wf-done\" x=\"0\" y=\"3\" width=\"0\""), "{}", at(1_000));
        assert!(at(2_000).contains("class=\"wf-done\" x=\"0\" y=\"3\" width=\"500\""), "{}", at(2_000));
        assert!(
            at(3_000).contains("width=\"1000\" height=\"4\"></rect><rect class=\"wf-at\" x=\"976\""),
            "{}",
            at(3_000)
        );
        assert!(!at(2_000).contains("style"));
        // A request of one instant: every record at the start, no division by zero.
        let point = Span { first: Timestamp(5), last: Timestamp(5) };
        assert!(waterfall(Timestamp(5), point).into_string().contains("class=\"wf-done\" x=\"0\" y=\"3\" width=\"0\""));
    }
}
