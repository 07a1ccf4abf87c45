//! The home page (`/`): one card per logger.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::Timestamp;
use log_panel_query::{CardFilter, CardSort, CardsQuery, LoggerCard, Slots, StoreError, Timeline, HOUR};
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::health::Health;
use crate::html::{count, counted, page, respond, time, Nav, Shown};
use crate::options::PanelOptions;
use crate::url::{encode, number, url_time};
use crate::viewer::Viewer;
use crate::{AppState, Thresholds};

/// Cards per home page.
const CARDS_PER_PAGE: usize = 20;

/// `/`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/", get(home))
}

/// The timeline's slots: hours, or days at the viewer's offset.
fn range_slots(range: &str, now: Timestamp, viewer: Viewer) -> Result<(Slots, bool), StoreError> {
    match range.parse::<Timeline>()? {
        Timeline::Hours(n) => Ok((Slots::hours_until(now, n)?, false)),
        Timeline::Days(n) => Ok((Slots::days_until(now, viewer.offset_secs, n)?, true)),
    }
}

/// The timelines the form offers; another typed in the URL is offered beside them.
const TIMELINES: [(&str, &str); 3] = [("24h", "24 hours"), ("30d", "30 days"), ("90d", "90 days")];

pub(crate) async fn home(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
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
    let (slots, daily) = match range_slots(&range, now, viewer) {
        Ok((s, daily)) => (Some(s), daily),
        Err(e) => {
            problems.push(e.to_string());
            (None, false)
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
        return Err(PageError::form(ctx.frame("Loggers", Nav::Home), form));
    };
    // `CardsQuery::last_hour` rounds `now` up to its quarter hour itself.
    let mut query = CardsQuery::new(slots.clone(), now);
    query.filter = filter;
    query.name = name.clone();
    query.sort = sort;
    query.offset = (page_no - 1) * CARDS_PER_PAGE;
    query.limit = CARDS_PER_PAGE;
    let options = state.options.clone();
    let read =
        blocking(&state, move |s| Ok((crate::trouble::cards(s, &query, &options)?, log_panel_query::summary_note(s))));
    let (cards, lag) = match read.await {
        Ok(c) => c,
        Err(e) => return Err(PageError::store(ctx.frame("Loggers", Nav::Home), e)),
    };
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
        (crate::pages::records::lag_note(lag.line()))
        @if cards.cards.is_empty() {
            p.empty { @if cards.matching == 0 && name.is_none() && filter == CardFilter::All {
                "No records stored yet." } @else { "No logger matches." } }
        } @else {
            p.muted { "Loggers " (first) "–" (last) " of " (cards.matching)
                " · timeline: " @if daily { (slots.len()) " days (" (viewer.label()) ")" } @else { (slots.len()) " hours" } }
            div.cards { @for card in &cards.cards { (logger_card(&ctx, &state.options, card, &slots, daily)) } }
            nav.pager {
                @if page_no > 1 { a href=(pager_link(page_no - 1)) rel="prev" { "← Previous" } }
                @if last < cards.matching { a href=(pager_link(page_no + 1)) rel="next" { "Next →" } }
            }
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame("Loggers", Nav::Home), body)))
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
                @for (v, l) in TIMELINES {
                    option value=(v) selected[v == range] { (l) }
                }
                @if !TIMELINES.iter().any(|(v, _)| *v == range) { option value=(Shown(range)) selected { (Shown(range)) } }
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
            @if card.totals.errors == 0 && card.totals.warnings == 0 {
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
                    (count(card.totals.total)) " · " (counted(card.totals.errors, "error")) " · " (counted(card.totals.warnings, "warning"))
                } }
                div { dt { "Last seen" } dd { (time(viewer, card.totals.last)) } }
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
