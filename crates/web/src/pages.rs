//! The handlers: read the URL, ask the store on a blocking thread, render.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use log_panel_core::{escape_controls, Timestamp};
use log_panel_query::{
    CallSite, CardFilter, CardSort, CardsQuery, LoggerCard, PageAt, RecordFilter, SiteMatch, Slots, StoreErrorKind,
    DAY, HOUR,
};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use crate::health::Health;
use crate::html::{
    count, counted, field_text, filter_form, histogram, level_badge, page, preview, problem_page, records_table, time,
    total_label, Base, Frame, Nav, Shown, NAME_CHARS,
};
use crate::query::{encode, number, page_at, url_time, FilterForm, Params, Viewer};
use crate::{AppState, PanelOptions, Thresholds};

/// Cards per home page.
const CARDS_PER_PAGE: usize = 20;
/// Call sites a page shows at most (each row links the filter twice).
const SITES_LIMIT: usize = 100;
/// Records a page of the table shows at most.
const RECORDS_LIMIT: usize = 500;
/// Lines the live tail page shows on opening.
const TAIL_OPENING: usize = 50;
/// Lines the live tail page keeps.
const TAIL_KEEP: usize = 500;
/// What a 503 asks the client to wait before trying again, in seconds.
const RETRY_AFTER_SECS: &str = "10";

/// What every page reads from the request: where the panel is mounted, the
/// query string, the viewer's offset.
pub(crate) struct Ctx {
    pub(crate) base: Base,
    pub(crate) params: Params,
    pub(crate) viewer: Result<Viewer, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Ctx, Infallible> {
        let inner = parts.uri.path().to_owned();
        let outer = parts.extensions.get::<OriginalUri>().map_or_else(|| inner.clone(), |o| o.0.path().to_owned());
        // Nested under `/admin/logs`, the router sees `/records` for `/admin/logs/records`.
        let base = match outer.strip_suffix(inner.as_str()) {
            Some(b) => b.to_owned(),
            None if inner == "/" => outer.trim_end_matches('/').to_owned(),
            None => String::new(),
        };
        let params = Params::parse(parts.uri.query());
        let viewer = Viewer::from_request(&params, cookie(&parts.headers, "log_panel_tz").as_deref());
        Ok(Ctx { base: Base(base.trim_end_matches('/').to_owned()), params, viewer })
    }
}

impl Ctx {
    pub(crate) fn viewer(&self) -> Viewer {
        self.viewer.clone().unwrap_or_else(|_| Viewer::utc())
    }

    pub(crate) fn frame<'a>(&'a self, title: &'a str, nav: Nav) -> Frame<'a> {
        Frame { base: &self.base, viewer: self.viewer(), title, nav }
    }

    /// A link to `path` with `pairs` and the viewer's offset when it came from the URL.
    pub(crate) fn link(&self, path: &str, mut pairs: Vec<(&'static str, String)>) -> String {
        pairs.extend(self.tz_pairs());
        self.base.link(path, &encode(pairs))
    }

    /// `tz=…` when the offset came from the URL, for links.
    pub(crate) fn tz_pairs(&self) -> Vec<(&'static str, String)> {
        let v = self.viewer();
        if v.in_url {
            vec![("tz", (v.offset_secs / 60).to_string())]
        } else {
            Vec::new()
        }
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Runs a store call on a blocking thread: store calls do I/O.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::new(StoreErrorKind::Storage, "the query failed unexpectedly").with_source(e)),
    }
}

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

/// A store failure on a page with the filter form: a refused filter shows
/// the form with the store's reason (400), anything else is [`failure`].
fn filter_failure(ctx: &Ctx, form: &FilterForm, action: &str, title: &str, nav: Nav, e: &StoreError) -> Response {
    if e.kind() == StoreErrorKind::BadFilter {
        let body = filter_form(&ctx.base, action, form, ctx.viewer(), Some(&e.to_string()));
        return respond(StatusCode::BAD_REQUEST, page(&ctx.frame(title, nav), body));
    }
    failure(ctx, title, nav, e)
}

// ---------------------------------------------------------------- home

fn range_slots(range: &str, now: Timestamp, viewer: Viewer) -> Option<Result<Slots, StoreError>> {
    match range {
        "24h" => Some(Slots::hours_until(now, 24)),
        "30d" => Some(Slots::days_until(now, viewer.offset_secs, 30)),
        "90d" => Some(Slots::days_until(now, viewer.offset_secs, 90)),
        _ => None,
    }
}

pub(crate) async fn home(State(state): State<AppState>, ctx: Ctx) -> Response {
    let p = &ctx.params;
    let range = p.get("range").unwrap_or("24h").to_owned();
    let show = p.get("show").unwrap_or("all").to_owned();
    let sort_by = p.get("sort").unwrap_or("trouble").to_owned();
    let name = p.get("name").map(str::to_owned);
    let mut problems = Vec::new();
    if let Err(e) = &ctx.viewer {
        problems.push(e.clone());
    }
    let viewer = ctx.viewer();
    let now = Timestamp::now();
    let slots = match range_slots(&range, now, viewer) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            problems.push(e.to_string());
            None
        }
        None => {
            problems.push(format!("range `{range}`: expected 24h, 30d or 90d"));
            None
        }
    };
    let filter = match show.as_str() {
        "all" => CardFilter::All,
        "errors" => CardFilter::Errors,
        "warnings" => CardFilter::Warnings,
        other => {
            problems.push(format!("show `{other}`: expected all, errors or warnings"));
            CardFilter::All
        }
    };
    let sort = match sort_by.as_str() {
        "trouble" => CardSort::Trouble,
        "name" => CardSort::Name,
        other => {
            problems.push(format!("sort `{other}`: expected trouble or name"));
            CardSort::Trouble
        }
    };
    let page_no = number(p, "page", 1, 1_000_000).unwrap_or_else(|e| {
        problems.push(e);
        1
    });
    let form = home_form(
        &ctx,
        &range,
        &show,
        &sort_by,
        name.as_deref().unwrap_or(""),
        (!problems.is_empty()).then(|| problems.join("; ")),
    );
    let (Some(slots), true) = (slots, problems.is_empty()) else {
        return respond(StatusCode::BAD_REQUEST, page(&ctx.frame("Loggers", Nav::Home), form));
    };
    // `CardsQuery::last_hour` rounds `now` up to its quarter hour itself.
    let mut query = CardsQuery::new(slots.clone(), now);
    query.filter = filter;
    query.name = name.clone();
    query.sort = sort;
    query.offset = (page_no - 1) * CARDS_PER_PAGE;
    query.limit = CARDS_PER_PAGE;
    let options = state.options.clone();
    let cards = match blocking(&state, move |s| crate::trouble::cards(s, &query, &options)).await {
        Ok(c) => c,
        Err(e) => return failure(&ctx, "Loggers", Nav::Home, &e),
    };
    let daily = range != "24h";
    let first = query_offset(page_no) + 1;
    let last = query_offset(page_no) + cards.cards.len();
    let mut pager_pairs: Vec<(&str, String)> =
        vec![("range", range.clone()), ("show", show.clone()), ("sort", sort_by.clone())];
    if let Some(n) = &name {
        pager_pairs.push(("name", n.clone()));
    }
    pager_pairs.extend(ctx.tz_pairs());
    let pager_link = |n: usize| {
        let mut pairs = pager_pairs.clone();
        pairs.push(("page", n.to_string()));
        ctx.base.link("/", &encode(pairs))
    };
    let body = html! {
        (form)
        @if cards.cards.is_empty() {
            p.empty { @if cards.matching == 0 && name.is_none() && filter == CardFilter::All {
                "No records stored yet." } @else { "No logger matches." } }
        } @else {
            p.muted { "Loggers " (first) "–" (last) " of " (cards.matching)
                " · timeline: " @if daily { (slots.len()) " days (" (viewer.label()) ")" } @else { "24 hours" } }
            div.cards { @for card in &cards.cards { (logger_card(&ctx, &state.options, card, &slots, daily)) } }
            nav.pager {
                @if page_no > 1 { a href=(pager_link(page_no - 1)) rel="prev" { "← Previous" } }
                @if last < cards.matching { a href=(pager_link(page_no + 1)) rel="next" { "Next →" } }
            }
        }
    };
    respond(StatusCode::OK, page(&ctx.frame("Loggers", Nav::Home), body))
}

fn query_offset(page_no: usize) -> usize {
    (page_no - 1) * CARDS_PER_PAGE
}

fn home_form(ctx: &Ctx, range: &str, show: &str, sort: &str, name: &str, error: Option<String>) -> Markup {
    let viewer = ctx.viewer();
    html! {
        form.filters.inline method="get" action=(ctx.base.at("/")) {
            @if let Some(e) = &error { p.error role="alert" { strong { "Filter not applied: " } (Shown(e)) } }
            label { "Timeline" select name="range" {
                @for (v, l) in [("24h", "24 hours"), ("30d", "30 days"), ("90d", "90 days")] {
                    option value=(v) selected[v == range] { (l) }
                }
            } }
            label { "Show" select name="show" {
                @for (v, l) in [("all", "all loggers"), ("errors", "with errors"), ("warnings", "with warnings")] {
                    option value=(v) selected[v == show] { (l) }
                }
            } }
            label { "Order" select name="sort" {
                @for (v, l) in [("trouble", "trouble first"), ("name", "by name")] {
                    option value=(v) selected[v == sort] { (l) }
                }
            } }
            label { "Logger name" input name="name" value=(Shown(name)) placeholder="contains"; }
            @if viewer.in_url { input type="hidden" name="tz" value=(viewer.offset_secs / 60); }
            button type="submit" { "Apply" }
        }
    }
}

/// The card's badges, each judged by the one rule that colours its slots:
/// the last hour (by `hour`, its thresholds), then the timeline's red and
/// amber slots (`judged`), then "Clean" when no error or warning was ever stored.
fn card_badges(card: &LoggerCard, hour: Thresholds, judged: &[Health], own: bool, daily: bool) -> Markup {
    let per = if own { "an hour for this logger" } else { "per slot" };
    let rule = format!(
        "red from {} and amber from {} {per}",
        counted(hour.errors, "error"),
        counted(hour.warnings, "warning")
    );
    let (hour_class, hour_word) = hour.judge(&card.last_hour).last_hour_badge();
    let hour_title = format!(
        "Last hour: {}, {} ({rule})",
        counted(card.last_hour.error, "error"),
        counted(card.last_hour.warn, "warning")
    );
    let red = judged.iter().filter(|h| **h == Health::Error).count();
    let amber = judged.iter().filter(|h| **h == Health::Warn).count();
    let unit = if daily { "days" } else { "hours" };
    let of = |n: usize| format!("{n} of {} {unit}", judged.len());
    html! {
        div.badges {
            span class=(hour_class) title=(hour_title) { (hour_word) }
            @if red > 0 { span.badge.bad title={ "Red slots: " (rule) } { "Errors in " (of(red)) } }
            @if amber > 0 { span.badge.warn title={ "Amber slots: " (rule) } { "Warnings in " (of(amber)) } }
            @if card.errors == 0 && card.warnings == 0 {
                span.badge.good title="No error or warning ever stored" { "Clean" }
            }
        }
    }
}

fn logger_card(ctx: &Ctx, options: &PanelOptions, card: &LoggerCard, slots: &Slots, daily: bool) -> Markup {
    let viewer = ctx.viewer();
    let mut logger_pairs = vec![("logger", card.logger.clone())];
    logger_pairs.extend(ctx.tz_pairs());
    // One judgement per slot, by the thresholds of its width, shared by the
    // slot's colour and the badges.
    let judged: Vec<Health> = card
        .slots
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let width = slots.slot(i).map_or(HOUR, |(start, end)| end.0 - start.0);
            options.thresholds_for(&card.logger, width).judge(c)
        })
        .collect();
    let own = options.loggers.for_logger(&card.logger).is_some();
    let badges = card_badges(card, options.thresholds_for(&card.logger, HOUR), &judged, own, daily);
    let label = |t: Timestamp| if daily { viewer.format_short(t)[..5].to_owned() } else { viewer.format_short(t) };
    html! {
        article.card {
            header {
                h2 { a href=(ctx.base.link("/records", &encode(logger_pairs.clone()))) { (Shown(&card.logger)) } }
                (badges)
            }
            dl.stats {
                div { dt { "Last hour" } dd {
                    span class=@if card.last_hour.error > 0 { "n-error" } { (counted(card.last_hour.error, "error")) }
                    " · "
                    span class=@if card.last_hour.warn > 0 { "n-warn" } { (counted(card.last_hour.warn, "warning")) }
                    " · " (count(card.last_hour.total())) " in all"
                } }
                div { dt { "Total" } dd {
                    (count(card.total)) " · " (counted(card.errors, "error")) " · " (counted(card.warnings, "warning"))
                } }
                div { dt { "Last seen" } dd { (time(viewer, card.last_seen)) } }
            }
            div.timeline role="list" {
                @for (i, c) in card.slots.iter().enumerate() {
                    @if let Some((start, end)) = slots.slot(i) {
                        @let pairs = vec![("logger", card.logger.clone()), ("since", url_time(start)), ("until", url_time(end))];
                        a class=(judged.get(i).map_or("slot", |h| h.slot_class())) role="listitem" href=(ctx.link("/records", pairs))
                            title={ (label(start)) ": " (counted(c.total(), "record")) ", " (counted(c.error, "error")) ", " (counted(c.warn, "warning")) } {}
                    }
                }
            }
            div.axis { span { (label(slots.start())) } span { "now" } }
        }
    }
}

// ---------------------------------------------------------------- records

/// Bars of the histogram at most (one more when the range starts and ends inside a bar).
pub(crate) const HISTOGRAM_BARS: u64 = 60;
/// The round bar widths, narrowest first; a wider range gets bars of whole years.
const BAR_WIDTHS: [i64; 16] = [
    1_000_000,
    5_000_000,
    15_000_000,
    60_000_000,
    300_000_000,
    900_000_000,
    1_800_000_000,
    HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    7 * DAY,
    30 * DAY,
    91 * DAY,
    YEAR,
];
/// A year of 365 days, the unit of the widest bars.
const YEAR: i64 = 365 * DAY;
/// The earliest and the latest time a URL can name (four-digit years):
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
pub(crate) const EARLIEST: i64 = -62_167_219_200_000_000;
const LATEST: i64 = 253_402_300_800_000_000 - 1;

/// Slots for the histogram above the records over `[start, end)` (see
/// [`crate::histogram::window`]), in at most [`HISTOGRAM_BARS`] (+1) bars of a
/// round width — whole years for the widest ranges — whatever the range.
pub(crate) fn histogram_slots(start: Timestamp, end: Timestamp, viewer: Viewer) -> Result<Slots, StoreError> {
    let clamp = |t: i64| t.clamp(EARLIEST, LATEST);
    let end = clamp(end.0);
    let start = clamp(start.0);
    let end = if end <= start { start.saturating_add(HOUR) } else { end };
    // Positive: `end` is after `start`.
    let span = end.saturating_sub(start).unsigned_abs();
    let bars = |w: i64| span.div_ceil(w.unsigned_abs());
    let width = BAR_WIDTHS.iter().copied().find(|&w| bars(w) <= HISTOGRAM_BARS).unwrap_or_else(|| {
        let years = i64::try_from(bars(YEAR).div_ceil(HISTOGRAM_BARS)).unwrap_or(i64::MAX / YEAR);
        YEAR.saturating_mul(years)
    });
    // Wide bars start on the viewer's local boundaries (every offset is a quarter hour).
    let off = if width >= HOUR { i64::from(viewer.offset_secs) * 1_000_000 } else { 0 };
    let first = (start + off).div_euclid(width) * width - off;
    let last = (end + off).saturating_add(width - 1).div_euclid(width) * width - off;
    let n = ((last - first) / width).max(1);
    // Bounds stay within the times a URL can name, so every bar's link parses.
    let mut bounds: Vec<Timestamp> = (0..=n).map(|i| Timestamp(clamp(first.saturating_add(i * width)))).collect();
    bounds.dedup();
    Slots::new(bounds)
}

/// A bar's width for people: `15 min`, `6 h`, `7 days`, `170 years`.
pub(crate) fn bar_width(slots: &Slots) -> String {
    let Some((a, b)) = slots.slot(slots.len() / 2) else { return String::new() };
    let w = b.0 - a.0;
    match w {
        w if w >= YEAR && w % YEAR == 0 => crate::html::counted((w / YEAR) as u64, "year"),
        w if w >= DAY && w % DAY == 0 => crate::html::counted((w / DAY) as u64, "day"),
        w if w >= HOUR && w % HOUR == 0 => format!("{} h", w / HOUR),
        w if w >= 60_000_000 && w % 60_000_000 == 0 => format!("{} min", w / 60_000_000),
        w => format!("{} s", w / 1_000_000),
    }
}

/// The filter's problems: the viewer's offset, the filter, the page position, the limit.
fn parse_filter(ctx: &Ctx, form: &FilterForm, now: Timestamp) -> Result<RecordFilter, String> {
    let mut problems = Vec::new();
    if let Err(e) = &ctx.viewer {
        problems.push(e.clone());
    }
    let filter = form.to_filter(now, ctx.viewer()).map_err(|e| problems.push(e)).ok();
    match filter {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(problems.join("; ")),
    }
}

pub(crate) async fn records(State(state): State<AppState>, ctx: Ctx) -> Response {
    let form = FilterForm::from_params(&ctx.params);
    let viewer = ctx.viewer();
    let now = Timestamp::now();
    let parsed = parse_filter(&ctx, &form, now).and_then(|f| {
        let at = page_at(&ctx.params)?;
        let limit = number(&ctx.params, "limit", 50, RECORDS_LIMIT)?;
        let split_key = crate::split::key(&ctx.params)?;
        Ok((f, at, limit, split_key, crate::fields::Ask::from_params(&ctx.params)?))
    });
    let (filter, at, limit, split_key, ask) = match parsed {
        Ok(x) => x,
        Err(e) => {
            let body = filter_form(&ctx.base, "/records", &form, viewer, Some(&e));
            return respond(StatusCode::BAD_REQUEST, page(&ctx.frame("Records", Nav::Records), body));
        }
    };
    let term = filter.text.clone();
    let unindexed = crate::language::unindexed_note(&filter);
    let keys: Vec<String> = filter.fields.iter().map(|f| f.key.clone()).collect();
    let newest = at == PageAt::Newest;
    let split_key_read = split_key.clone();
    let ask_read = ask.clone();
    let result = blocking(&state, move |s| {
        let page = s.records(&filter, at, limit)?;
        let drawn = crate::histogram::read(s, &filter, &page, newest, now, viewer)?;
        let split = match split_key_read.as_deref() {
            Some(key) => Some(crate::split::read(s, &filter, key, &drawn.slots)?),
            None => None,
        };
        let fields = crate::fields::read(s, &filter, &ask_read)?;
        Ok((page, drawn, split, fields))
    })
    .await;
    let (page_of, drawn, split, fields) = match result {
        Ok(x) => x,
        Err(e) => return filter_failure(&ctx, &form, "/records", "Records", Nav::Records, &e),
    };
    let mut keep = form.pairs();
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
    let mut tail_pairs = form.pairs();
    tail_pairs.extend(ctx.tz_pairs());
    let body = html! {
        (crate::html::filter_form_keeping(&ctx.base, "/records", &form, viewer, None, &beside))
        (unindexed)
        (histogram(&ctx.base, viewer, &form, &drawn, &page_of.records, "/records", &beside))
        @if let (Some(key), Some(split)) = (&split_key, &split) {
            (crate::split::chart(&ctx.base, viewer, &keep, key, &drawn, split))
        }
        (crate::split::control(&ctx.base, &unsplit, split_key.as_deref(), &crate::split::keys_seen(&page_of.records)))
        (crate::fields::panel(&ctx.base, &unfielded, &ask, fields.as_ref()))
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
    respond(StatusCode::OK, page(&ctx.frame("Records", Nav::Records), body))
}

// ---------------------------------------------------------------- one record

fn related_link(ctx: &Ctx, key: &str, value: &str) -> String {
    let mut pairs = vec![("key", key.to_owned()), ("value", value.to_owned())];
    pairs.extend(ctx.tz_pairs());
    ctx.base.link("/related", &encode(pairs))
}

/// The context as indented JSON, each scalar value a link to the records sharing it.
fn context_json(ctx: &Ctx, context: &serde_json::Map<String, serde_json::Value>) -> Markup {
    let n = context.len();
    html! {
        pre.json {
            "{\n"
            @for (i, (k, v)) in context.iter().enumerate() {
                "  " span.k { (Shown(&serde_json::Value::String(k.clone()).to_string())) } ": "
                @match field_text(v) {
                    Some(text) => { a.v href=(related_link(ctx, k, &text)) title={ "Every record with " (Shown(k)) " = " (Shown(&text)) } { (Shown(&v.to_string())) } }
                    None => { span.v { (Shown(&indent(&serde_json::to_string_pretty(v).unwrap_or_default()))) } }
                }
                @if i + 1 < n { "," }
                "\n"
            }
            "}"
        }
    }
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n  ")
}

pub(crate) async fn record(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let viewer = ctx.viewer();
    let Ok(id) = id.parse::<i64>() else {
        let frame = ctx.frame("Record", Nav::None);
        return respond(
            StatusCode::NOT_FOUND,
            problem_page(&frame, "No such record", "Record ids are numbers.", false),
        );
    };
    let r = match blocking(&state, move |s| s.record(id)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let frame = ctx.frame("Record", Nav::None);
            let msg = format!("There is no record {id}: it may have been pruned.");
            return respond(StatusCode::NOT_FOUND, problem_page(&frame, "No such record", &msg, false));
        }
        Err(e) => return failure(&ctx, "Record", Nav::None, &e),
    };
    let title = format!("Record {id}");
    let filter_link = |key: &'static str, value: String| {
        let mut pairs = vec![(key, value)];
        pairs.extend(ctx.tz_pairs());
        ctx.base.link("/records", &encode(pairs))
    };
    let request = r.context.get("request_id").and_then(field_text);
    let body = html! {
        article.record {
            h1 { (level_badge(r.level)) " " (Shown(&r.logger)) }
            @if let Some(req) = &request {
                p { a.button href=(related_link(&ctx, "request_id", req)) { "Every record of request " code { (Shown(req)) } } }
            }
            (crate::trace::record_block(&ctx, &r, state.options.trace_url.as_ref()))
            pre.message { (Shown(&r.message)) }
            p { a.button.secondary href=(crate::surrounding::link_from_record(&ctx, r.id)) { "Surrounding records" } " " span.muted { "the records just before and after it in its thread" } }
            @if let Some(size) = r.original_size { p.muted { "Cut: the original message was " (count(size)) " bytes." } }
            dl.fields {
                dt { "Time (UTC)" } dd { code { (r.ts.to_rfc3339()) } }
                dt { "Time (local)" } dd { (time(viewer, r.ts)) " " span.muted.tzlabel { (viewer.label()) } }
                dt { "Level" } dd { (r.level.as_str()) }
                dt { "Logger" } dd { a href=(filter_link("logger", r.logger.clone())) { (Shown(&r.logger)) } }
                dt { "Module" } dd { (Shown(r.module.as_deref().unwrap_or("—"))) }
                dt { "Location" } dd { code { (Shown(r.file.as_deref().unwrap_or("?"))) @if let Some(l) = r.line { ":" (l) } } }
                dt { "Thread" } dd { (Shown(&r.thread)) }
                dt { "App" } dd { a href=(filter_link("app", r.app.clone())) { (Shown(&r.app)) } }
                dt { "Host" } dd { a href=(filter_link("host", r.host.clone())) { (Shown(&r.host)) } }
                dt { "Pid" } dd { a href=(filter_link("pid", r.pid.to_string())) { (r.pid) } }
                dt { "Id" } dd { (r.id) }
            }
            h2 { "Context" }
            @if r.context.is_empty() { p.muted { "No context or key-values." } } @else {
                p.muted { "Click a value for every record sharing it." }
                (context_json(&ctx, &r.context))
            }
        }
    };
    respond(StatusCode::OK, page(&ctx.frame(&title, Nav::None), body))
}

// ---------------------------------------------------------------- call sites

pub(crate) async fn sites(State(state): State<AppState>, ctx: Ctx) -> Response {
    let mut form = FilterForm::from_params(&ctx.params);
    if form.since.is_empty() {
        form.since = "1h".to_owned();
    }
    let viewer = ctx.viewer();
    let parsed = parse_filter(&ctx, &form, Timestamp::now())
        .and_then(|f| Ok((f, number(&ctx.params, "limit", 50, SITES_LIMIT)?)));
    let (filter, limit) = match parsed {
        Ok(x) => x,
        Err(e) => {
            let body = filter_form(&ctx.base, "/sites", &form, viewer, Some(&e));
            return respond(StatusCode::BAD_REQUEST, page(&ctx.frame("Call sites", Nav::Sites), body));
        }
    };
    let sites = match blocking(&state, move |s| s.call_sites(&filter, limit)).await {
        Ok(s) => s,
        Err(e) => return filter_failure(&ctx, &form, "/sites", "Call sites", Nav::Sites, &e),
    };
    let body = html! {
        (filter_form(&ctx.base, "/sites", &form, viewer, None))
        @if sites.is_empty() { p.empty { "No record in this window." } } @else {
            table.sites {
                thead { tr {
                    th { "Logger" } th { "Location" } th.n { "Error" } th.n { "Warn" } th.n { "Info" }
                    th.n { "Debug" } th.n { "Trace" } th.n { "Total" } th { "Last seen" } th { "Latest message" }
                } }
                tbody {
                    @for site in &sites {
                        @let by_logger = FilterForm { logger: site.logger.clone(), ..form.clone() };
                        tr {
                            td.logger { a href=(ctx.link("/records", by_logger.pairs())) { (preview(&site.logger, NAME_CHARS)) } }
                            td { @match site_form(&by_logger, site) {
                                Some(one) => { a href=(ctx.link("/records", one.pairs())) title="The records of this call site" {
                                    code { (preview(site.file.as_deref().unwrap_or("?"), NAME_CHARS)) @if let Some(l) = site.line { ":" (l) } } } }
                                None => { code { "?" } }
                            } }
                            td.n.n-error { (nonzero(site.counts.error)) }
                            td.n.n-warn { (nonzero(site.counts.warn)) }
                            td.n { (nonzero(site.counts.info)) }
                            td.n { (nonzero(site.counts.debug)) }
                            td.n { (nonzero(site.counts.trace)) }
                            td.n { strong { (count(site.counts.total())) } }
                            td { (time(viewer, site.last_seen)) }
                            td.msg { (preview(&site.example, 160)) }
                        }
                    }
                }
            }
            p.muted { "A call site is a logger and a source line: the location links to that line's records, the logger to all of its records, in this window." }
        }
    };
    respond(StatusCode::OK, page(&ctx.frame("Call sites", Nav::Sites), body))
}

/// The records form narrowed to one call site (its logger exactly, its file
/// and line); `None` for records logged without a file.
fn site_form(by_logger: &FilterForm, site: &CallSite) -> Option<FilterForm> {
    let file = site.file.as_ref()?;
    let at = SiteMatch { file: file.clone(), line: site.line };
    Some(FilterForm { site: at.to_string(), ..by_logger.clone() })
}

fn nonzero(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        count(n)
    }
}

// ---------------------------------------------------------------- live tail

/// How the live tail's rows link and mark: as the records page's rows.
fn tail_links(ctx: &Ctx, filter: &RecordFilter) -> crate::tail_row::RowLinks {
    let viewer = ctx.viewer();
    crate::tail_row::RowLinks {
        base: ctx.base.clone(),
        tz: viewer.in_url.then_some(i64::from(viewer.offset_secs / 60)),
        keys: filter.fields.iter().map(|f| f.key.clone()).collect(),
        term: filter.text.clone(),
    }
}

pub(crate) async fn tail(State(state): State<AppState>, ctx: Ctx) -> Response {
    let form = FilterForm::from_params(&ctx.params);
    let viewer = ctx.viewer();
    let filter = match parse_filter(&ctx, &form, Timestamp::now()) {
        Ok(f) => f,
        Err(e) => {
            let body = filter_form(&ctx.base, "/tail", &form, viewer, Some(&e));
            return respond(StatusCode::BAD_REQUEST, page(&ctx.frame("Live tail", Nav::Tail), body));
        }
    };
    let links = tail_links(&ctx, &filter);
    let mut lines = match blocking(&state, move |s| s.tail(&filter, None, TAIL_OPENING)).await {
        Ok(l) => l,
        Err(e) => return filter_failure(&ctx, &form, "/tail", "Live tail", Nav::Tail, &e),
    };
    // The newest ids, shown by time (several writers commit out of time
    // order); the stream goes on after the highest id shown.
    lines.sort_by_key(|r| (r.ts, r.id));
    let mut src = form.pairs();
    if let Some(last) = lines.iter().map(|r| r.id).max() {
        src.push(("after", last.to_string()));
    }
    src.extend(ctx.tz_pairs());
    let body = html! {
        (filter_form(&ctx.base, "/tail", &form, viewer, None))
        div.tailbar {
            button id="tail-toggle" type="button" disabled { "Pause" }
            span.muted id="tail-status" { "Live updates need JavaScript; without it, reload for new lines." }
        }
        div.tail id="tail" data-src=(ctx.base.link("/tail/events", &encode(src))) data-max=(TAIL_KEEP) {
            (records_table(&ctx.base, viewer, &lines, false, links.term.as_deref(), &links.keys))
        }
    };
    respond(StatusCode::OK, page(&ctx.frame("Live tail", Nav::Tail), body))
}

/// Server-sent events: every record the filter keeps, as it is committed.
/// Starts after `?after=` (or the `Last-Event-ID` of a reconnecting browser),
/// at most one page back, else with the latest page; `503` when the most
/// streams are open.
pub(crate) async fn tail_events(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Response {
    let form = FilterForm::from_params(&ctx.params);
    let filter = match parse_filter(&ctx, &form, Timestamp::now()) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let after = match resume.as_deref().or(ctx.params.get("after")).map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "after: expected a record id").into_response(),
    };
    let links = tail_links(&ctx, &filter);
    let Some(mut stream) = state.tail.open(filter, after, links) else {
        let message = format!(
            "503: {} live-tail streams are open, the most this panel serves at once; try again later.\n",
            state.tail.max()
        );
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        return response;
    };
    // As the pages: a refused filter or query ends here (a browser does not
    // retry a refused stream); an unreachable database is reported on the
    // stream, which goes on once it is back.
    if let Err(e) = stream.start().await {
        let status = match e.kind() {
            StoreErrorKind::BadFilter => Some(StatusCode::BAD_REQUEST),
            StoreErrorKind::Storage | StoreErrorKind::NewerSchema => Some(StatusCode::INTERNAL_SERVER_ERROR),
            _ => None,
        };
        if let Some(status) = status {
            return (status, escape_controls(&e.to_string(), false).into_owned()).into_response();
        }
    }
    Sse::new(stream.events()).keep_alive(KeepAlive::default()).into_response()
}

// ---------------------------------------------------------------- assets

pub(crate) async fn stylesheet(query: RawQuery, headers: HeaderMap) -> Response {
    STYLESHEET.respond(query, &headers)
}

pub(crate) async fn script(query: RawQuery, headers: HeaderMap) -> Response {
    SCRIPT.respond(query, &headers)
}

/// A file compiled into the panel, with a validator from its content.
pub(crate) struct StaticFile {
    content_type: &'static str,
    body: &'static str,
    /// FNV-1a of the body, computed at compile time: a new build with a changed
    /// file gets a new tag, an unchanged file keeps it across builds.
    hash: u64,
}

pub(crate) const STYLESHEET: StaticFile =
    StaticFile::new("text/css; charset=utf-8", include_str!("../assets/panel.css"));
pub(crate) const SCRIPT: StaticFile =
    StaticFile::new("text/javascript; charset=utf-8", include_str!("../assets/panel.js"));

/// The pages link each file as `?v=<version>`: that URL always names the same
/// bytes, so browsers keep it without asking again.
const VERSIONED_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Any other URL of a file (bare, or an older version's, from a page kept
/// across an upgrade): kept, but asked about before each use; a matching
/// `If-None-Match` costs a 304 without a body, so it is never stale.
const UNVERSIONED_CACHE_CONTROL: &str = "no-cache";

impl StaticFile {
    const fn new(content_type: &'static str, body: &'static str) -> StaticFile {
        let bytes = body.as_bytes();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        StaticFile { content_type, body, hash }
    }

    /// The version the pages put in the file's URL (`?v=`), also its ETag.
    pub(crate) fn version(&self) -> String {
        format!("{:016x}", self.hash)
    }

    fn respond(&self, RawQuery(query): RawQuery, request: &HeaderMap) -> Response {
        let version = self.version();
        let versioned =
            query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "v" && v == version.as_str()));
        let cache_control = if versioned { VERSIONED_CACHE_CONTROL } else { UNVERSIONED_CACHE_CONTROL };
        let etag = format!("\"{version}\"");
        let cached = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim())
            // Weak comparison, as RFC 9110 asks of If-None-Match: `W/"x"` matches `"x"`.
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
        let headers = [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control.to_owned())];
        if cached {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (headers, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

pub(crate) async fn not_found(ctx: Ctx) -> Response {
    let frame = ctx.frame("Not found", Nav::None);
    respond(StatusCode::NOT_FOUND, problem_page(&frame, "Not found", "There is no such page in the panel.", false))
}
