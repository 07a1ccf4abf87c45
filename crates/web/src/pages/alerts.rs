//! The alerts page: which thresholds fired, when, and the records that
//! crossed each one.
//!
//! Fired alerts are not stored: the page recomputes the crossings over the
//! stored records with the configured thresholds (`AlertRules`) and core's
//! one crossing rule (`WindowRule`), the rule the writer's counter fires
//! by. Per logger and exact level, in `(time, id)` order, a record fires when
//! the records of its logger and level within `[t − window, t]` number
//! exactly the threshold. Bounded: at most [`ALERT_ROWS`] records are read
//! per level (the newest), and a crossing whose window reaches past the
//! oldest record read is not listed — the page says from when it is exact.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::{Level, Timestamp};
use log_panel_query::{PageAt, RecordFilter, Timeline};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::html::{count, counted, level_badge, page, preview, respond, time, Nav, Shown, NAME_CHARS};
use crate::options::AlertRules;
use crate::url::url_time;
use crate::AppState;

/// `/alerts`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/alerts", get(alerts))
}

/// Records read per level at most: the newest of the range (and the window before it).
pub(crate) const ALERT_ROWS: usize = 100_000;
/// Crossings listed at most, the newest.
const SHOWN: usize = 500;

/// One threshold crossing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Crossing {
    pub(crate) logger: String,
    pub(crate) level: Level,
    pub(crate) threshold: u32,
    /// The window `[start, at]`: `at` is the crossing record's time.
    pub(crate) start: Timestamp,
    pub(crate) at: Timestamp,
    /// The first of the `threshold` records.
    pub(crate) first: Timestamp,
    /// The record that crossed.
    pub(crate) id: i64,
}

/// What one level's recomputation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LevelCrossings {
    pub(crate) level: Level,
    pub(crate) threshold: u32,
    /// Records of the level read (range and the window before it).
    pub(crate) read: usize,
    /// When the read stopped at [`ALERT_ROWS`]: crossings are exact from this time on.
    pub(crate) exact_from: Option<Timestamp>,
}

/// The crossings of `rules` with a time in `[from, to)`, newest first, and
/// what each level read: every record of the level in `[from − window, to)`
/// (the newest [`ALERT_ROWS`]), counted oldest first per logger.
pub(crate) fn crossings(
    store: &dyn Store,
    rules: &AlertRules,
    from: Timestamp,
    to: Timestamp,
) -> Result<(Vec<Crossing>, Vec<LevelCrossings>), StoreError> {
    let mut found = Vec::new();
    let mut levels = Vec::new();
    for (level, rule) in rules.rules() {
        let mut filter = RecordFilter::default();
        filter.levels = vec![level];
        filter.since = Some(Timestamp(from.0.saturating_sub(rule.window())));
        filter.until = Some(to);
        // (time, id, logger) newest first, at most ALERT_ROWS.
        let mut rows: Vec<(i64, i64, String)> = Vec::new();
        let mut at = PageAt::Newest;
        let mut cut = false;
        loop {
            let page = store.records(&filter, at, 1000.min(ALERT_ROWS - rows.len()))?;
            rows.extend(page.records.into_iter().map(|r| (r.ts.0, r.id, r.logger)));
            match page.older {
                Some(c) if rows.len() < ALERT_ROWS => at = PageAt::Older(c),
                Some(_) => {
                    cut = true;
                    break;
                }
                None => break,
            }
        }
        let exact_from = match (cut, rows.last()) {
            (true, Some(&(oldest, _, _))) => Some(Timestamp(oldest.saturating_add(rule.window()).saturating_add(1))),
            _ => None,
        };
        let read = rows.len();
        let mut keys: HashMap<String, VecDeque<i64>> = HashMap::new();
        for (ts, id, logger) in rows.into_iter().rev() {
            let times = keys.entry(logger.clone()).or_default();
            let seen = rule.observe(times, ts);
            // A crossing whose window reaches before the oldest record read is unknown.
            if seen.fired && seen.at >= from.0 && exact_from.is_none_or(|e| seen.at >= e.0) {
                found.push(Crossing {
                    logger,
                    level,
                    threshold: rule.threshold(),
                    start: Timestamp(seen.start),
                    at: Timestamp(seen.at),
                    first: Timestamp(seen.first),
                    id,
                });
            }
        }
        levels.push(LevelCrossings { level, threshold: rule.threshold(), read, exact_from });
    }
    found.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    Ok((found, levels))
}

/// The ranges offered; any other the timeline grammar takes ([`Timeline`]) is served too.
const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// The records page with the records that crossed: the logger's records of
/// the level within the window.
fn records_link(ctx: &Ctx, c: &Crossing) -> String {
    ctx.link(
        "/records",
        vec![
            ("logger", c.logger.clone()),
            ("level", log_panel_query::LevelSpec::Exactly(vec![c.level]).to_string()),
            ("since", url_time(c.start)),
            ("until", url_time(Timestamp(c.at.0.saturating_add(1)))),
        ],
    )
}

/// The window as the page says it: `1 h`, `10 min`, `45 s`.
fn window_label(window: Duration) -> String {
    let secs = window.as_secs();
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn rules_line(rules: &AlertRules) -> Markup {
    let listed: Vec<String> = rules.rules().map(|(l, r)| format!("{} ≥ {}", l.as_str(), r.threshold())).collect();
    let window = window_label(rules.window);
    html! {
        @if listed.is_empty() { "No level has a threshold: nothing fires." }
        @else { "Thresholds: " (listed.join(", ")) " records of one logger within " (window) "." }
    }
}

/// `GET /alerts?range=24h`.
pub(crate) async fn alerts(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
    let title = "Alerts";
    let range = ctx.params.get("range").unwrap_or("24h").to_owned();
    let span = match range.parse::<Timeline>() {
        Ok(t) => t.span(),
        Err(e) => {
            return Err(PageError::bad_parameters(ctx.frame(title, Nav::Alerts), e.to_string()));
        }
    };
    if let Err(e) = &ctx.viewer {
        return Err(PageError::bad_parameters(ctx.frame(title, Nav::Alerts), e.clone()));
    }
    let rules = state.options.alerts.clone();
    let now = Timestamp::now();
    let from = Timestamp(now.0.saturating_sub(span));
    let to = Timestamp(now.0.saturating_add(1));
    let read_rules = rules.clone();
    let (found, levels) = match blocking(&state, move |s| crossings(s, &read_rules, from, to)).await {
        Ok(x) => x,
        Err(e) => return Err(PageError::store(ctx.frame(title, Nav::Alerts), e)),
    };
    let viewer = ctx.viewer();
    let window = window_label(rules.window);
    let body = html! {
        section.alerts data-crossings=(found.len()) {
            h1 { "Alerts" }
            nav.ranges {
                @for r in RANGES {
                    @if r == range { strong { "Last " (r) } } @else { a href=(ctx.link("/alerts", vec![("range", r.to_owned())])) { "Last " (r) } }
                    " "
                }
            }
            p.muted {
                (rules_line(&rules))
                " Recomputed from the stored records of every process (an alert fires when a logger's count of one level in "
                "[t − window, t] reaches the threshold); the application's own alerts count each process apart."
            }
            @for l in &levels {
                @if let Some(t) = l.exact_from {
                    p.warn-note {
                        "More than " (count(ALERT_ROWS as u64)) " " (l.level.as_str()) " records in the range: read the newest "
                        (count(l.read as u64)) "; " (l.level.as_str()) " crossings are listed from " (time(viewer, t)) " on."
                    }
                }
            }
            @if found.is_empty() {
                p.empty { "No threshold crossed in the last " (range) "." }
            } @else {
                p.muted { (counted(found.len() as u64, "crossing")) ", newest first"
                    @if found.len() > SHOWN { "; the newest " (SHOWN) " are listed" } "." }
                table.alerts {
                    thead { tr { th { "When" } th { "Level" } th { "Logger" } th { "Crossed" } th { "Records" } } }
                    tbody {
                        @for c in found.iter().take(SHOWN) {
                            tr class={ "row-" (log_panel_core::level_name(c.level)) } data-logger=(Shown(&c.logger)) data-level=(log_panel_core::level_name(c.level)) data-at=(c.at.0) data-id=(c.id) {
                                td.t { (time(viewer, c.at)) }
                                td.level { (level_badge(c.level)) }
                                td.logger title=(Shown(&c.logger)) { (preview(&c.logger, NAME_CHARS)) }
                                td.crossed {
                                    (counted(u64::from(c.threshold), "record")) " in " (window)
                                    @if c.threshold > 1 { br; span.muted { "the first at " (time(viewer, c.first)) } }
                                }
                                td.links {
                                    a href=(records_link(&ctx, c)) { "records" }
                                    " · " a href=(ctx.link(&format!("/records/{}", c.id), Vec::new())) { "the one that crossed" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(title, Nav::Alerts), body)))
}
