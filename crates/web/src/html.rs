//! The pieces every page is made of. maud escapes every interpolated string,
//! in text and in attributes; nothing here writes raw HTML. Stored strings
//! are shown through [`Shown`], which also turns control characters into
//! visible escapes.

use log_panel_core::{escape_controls, level_name, Level, Timestamp};
use log_panel_query::{Histogram, LevelCounts, Slots, StoredRecord};
use maud::{html, Markup, Render, DOCTYPE};

use crate::histogram::{axis_label, highlight, x_of, Drawn};
use crate::pages::{SCRIPT, STYLESHEET};
use crate::query::{encode, href, url_time, FilterForm, Viewer};

/// A stored string (or anything else the viewer did not write into the page
/// themselves) as text: control characters other than newline and tab become
/// visible escapes, as the command line shows them (`\e[31m`, `\x07`), then
/// maud escapes the HTML. Used for form fields too, so no page ever holds a
/// raw control character (one printed by `curl` cannot drive a terminal);
/// links carry the exact value, so following one still matches it.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_controls(self.0, true).as_ref().render_to(buffer);
    }
}

/// Where the panel is mounted (`""` at the root, `/admin/logs` nested), for links.
#[derive(Debug, Clone)]
pub(crate) struct Base(pub(crate) String);

impl Base {
    /// `base + path`.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// `base + path ? query`.
    pub(crate) fn link(&self, path: &str, query: &str) -> String {
        href(&self.at(path), query)
    }
}

/// Which entry of the navigation is lit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Home,
    Records,
    Sites,
    Tail,
    Alerts,
    None,
}

/// Everything a page's frame needs.
pub(crate) struct Frame<'a> {
    pub(crate) base: &'a Base,
    pub(crate) viewer: Viewer,
    pub(crate) title: &'a str,
    pub(crate) nav: Nav,
}

pub(crate) fn page(frame: &Frame<'_>, body: Markup) -> Markup {
    let Frame { base, viewer, title, nav } = frame;
    let tz = if viewer.in_url { encode([("tz", (viewer.offset_secs / 60).to_string())]) } else { String::new() };
    let item = |target: Nav, path: &str, label: &str| {
        html! { a class=@if *nav == target { "on" } href=(base.link(path, &tz)) { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · log-panel" }
                link rel="stylesheet" href=(base.link("/static/panel.css", &format!("v={}", STYLESHEET.version())));
                script src=(base.link("/static/panel.js", &format!("v={}", SCRIPT.version()))) defer {}
            }
            body data-tz=(viewer.offset_secs / 60) data-tz-in-url=(viewer.in_url) {
                header.top {
                    a.brand href=(base.link("/", &tz)) { "log-panel" }
                    nav {
                        (item(Nav::Home, "/", "Loggers"))
                        (item(Nav::Records, "/records", "Records"))
                        (item(Nav::Sites, "/sites", "Call sites"))
                        (item(Nav::Tail, "/tail", "Live tail"))
                        (item(Nav::Alerts, "/alerts", "Alerts"))
                    }
                    span.tz title="Times are shown in this offset" { (viewer.label()) }
                }
                main { (body) }
            }
        }
    }
}

/// The page shown for a failure: what went wrong, and for an unreachable
/// store a reload every few seconds, so the page comes back with the store.
pub(crate) fn problem_page(frame: &Frame<'_>, heading: &str, message: &str, retry: bool) -> Markup {
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

pub(crate) fn level_badge(level: Level) -> Markup {
    html! { span class={ "lvl lvl-" (level_name(level)) } { (level.as_str()) } }
}

/// A time in the viewer's offset; the page script rewrites it in the browser's zone.
pub(crate) fn time(viewer: Viewer, ts: Timestamp) -> Markup {
    html! { time datetime=(ts.to_rfc3339()) title=(ts.to_rfc3339()) { (viewer.format(ts)) } }
}

/// The first line of `text`, at most `max` characters, with an ellipsis when
/// cut, control characters shown as escapes (see [`Shown`]).
pub(crate) fn preview(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let cut: String = line.chars().take(max).collect();
    let shown = escape_controls(&cut, false).into_owned();
    if cut.len() < text.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// Characters of a name (logger, thread, app, host) shown in a table row;
/// the record's page shows it whole.
pub(crate) const NAME_CHARS: usize = 120;

/// Records as table rows, one line each: the time (the link to the record),
/// level, logger, the message's first line in the text colour and the
/// context as `key=value` chips, the keys of the `ctx` filter (`keys`) first
/// and marked; the line is the summary of a `<details>` holding the whole
/// message and context, so a row expands in place without script. `full`
/// adds where they came from. The search `term`, when given, is marked in
/// each message.
pub(crate) fn records_table(
    base: &Base,
    viewer: Viewer,
    records: &[StoredRecord],
    full: bool,
    term: Option<&str>,
    keys: &[String],
) -> Markup {
    let tz = if viewer.in_url { encode([("tz", (viewer.offset_secs / 60).to_string())]) } else { String::new() };
    // Rows open in full until the page has spent its characters in place;
    // later rows link their record for the rest.
    let mut left = IN_PLACE_PAGE_CHARS;
    let in_place: Vec<bool> = records
        .iter()
        .map(|r| {
            let fits = left > 0;
            left = left.saturating_sub(in_place_cost(r));
            fits
        })
        .collect();
    html! {
        table.records.dense {
            colgroup { col.c-t; col.c-lvl; col.c-logger; col.c-msg; }
            thead { tr {
                th { "Time" } th { "Level" } th { "Logger" } th { "Message · context" }
                @if full { th { "Thread" } th { "App" } th { "Host" } th { "Pid" } }
            } }
            tbody {
                @for (r, whole) in records.iter().zip(in_place) {
                    @let record = base.link(&format!("/records/{}", r.id), &tz);
                    tr class={ "row-" (level_name(r.level)) } id={ "r" (r.id) } {
                        td.t { a href=(record) title="Open the record" { (time(viewer, r.ts)) } }
                        td.level { (level_badge(r.level)) }
                        td.logger title=(Shown(&r.logger)) { (preview(&r.logger, NAME_CHARS)) }
                        td.msg {
                            details.rec {
                                summary {
                                    span.m { (highlight(&preview(&r.message, 200), term)) }
                                    (chips(base, &tz, r, keys))
                                }
                                (record_details(viewer, r, &record, whole))
                            }
                        }
                        @if full {
                            td { (preview(&r.thread, NAME_CHARS)) } td { (preview(&r.app, NAME_CHARS)) }
                            td { (preview(&r.host, NAME_CHARS)) } td { (r.pid) }
                        }
                    }
                }
            }
        }
    }
}

/// Chips a line shows at most (more than a line holds); the details list every key.
pub(crate) const MAX_CHIPS: usize = 8;
/// Context entries the details list at most; the record's page shows all.
pub(crate) const IN_PLACE_ENTRIES: usize = 64;
/// Characters of a context value on its chip; the details show more.
pub(crate) const CHIP_CHARS: usize = 48;
/// The longest key and value together (bytes) a chip links by: longer ones
/// are linked from the record's page, so a page of rows does not repeat long
/// values in links.
const CHIP_LINK_BYTES: usize = 128;
/// Characters of the message shown in place; the record's page shows it whole.
pub(crate) const IN_PLACE_MESSAGE_CHARS: usize = 4000;
/// Characters of each context value shown in place.
pub(crate) const IN_PLACE_VALUE_CHARS: usize = 1000;

/// Characters of messages and values a page shows in place in all: a page of
/// 500 long records stays a few megabytes, whatever is stored.
pub(crate) const IN_PLACE_PAGE_CHARS: usize = 200_000;

/// The characters a row shows in place when opened.
fn in_place_cost(r: &StoredRecord) -> usize {
    let values: usize = r
        .context
        .values()
        .take(IN_PLACE_ENTRIES)
        .map(|v| value_text(v, true).chars().count().min(IN_PLACE_VALUE_CHARS))
        .sum();
    r.message.chars().count().min(IN_PLACE_MESSAGE_CHARS) + values
}

/// A context value as the text a filter matches it with, for scalars.
pub(crate) fn field_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The record's context entries, the keys of the filter first (in its
/// order), then the others in stored order.
pub(crate) fn ordered<'a>(r: &'a StoredRecord, keys: &[String]) -> Vec<(&'a String, &'a serde_json::Value, bool)> {
    let mut out: Vec<_> = keys.iter().filter_map(|k| r.context.get_key_value(k)).map(|(k, v)| (k, v, true)).collect();
    out.dedup_by(|a, b| a.0 == b.0);
    out.extend(r.context.iter().filter(|(k, _)| !keys.contains(k)).map(|(k, v)| (k, v, false)));
    out
}

/// The link a chip filters by: the records page with `ctx=key=value` when
/// that condition reads back as this key and value, else the records sharing
/// the value (`/related`, which takes any key); `None` for a value that is
/// not a scalar or longer, with its key, than [`CHIP_LINK_BYTES`].
pub(crate) fn chip_link(base: &Base, tz: &str, key: &str, value: &serde_json::Value) -> Option<String> {
    let text = field_text(value)?;
    if key.len() + text.len() > CHIP_LINK_BYTES {
        return None;
    }
    let plain = !key.contains('=') && key.trim() == key && !key.is_empty();
    let mut query = if plain {
        encode([("ctx", format!("{key}={text}"))])
    } else {
        encode([("key", key), ("value", text.as_str())])
    };
    if !tz.is_empty() {
        query = format!("{query}&{tz}");
    }
    Some(base.link(if plain { "/records" } else { "/related" }, &query))
}

/// A value as text: strings bare, everything else as JSON.
pub(crate) fn value_text(v: &serde_json::Value, pretty: bool) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        v if pretty => serde_json::to_string_pretty(v).unwrap_or_default(),
        v => v.to_string(),
    }
}

/// The context as `key=value` chips, each a link filtering by its value;
/// the keys of the filter first, marked (`hit`).
fn chips(base: &Base, tz: &str, r: &StoredRecord, keys: &[String]) -> Markup {
    html! {
        @let all = ordered(r, keys);
        span.chips {
            @for (k, v, hit) in all.iter().take(MAX_CHIPS).copied() {
                @let text = value_text(v, false);
                @let inner = html! { span.ck { (preview(k, CHIP_CHARS)) } "=" span.cv { (preview(&text, CHIP_CHARS)) } };
                @let class = if hit { "chip hit" } else { "chip" };
                @match chip_link(base, tz, k, v) {
                    Some(href) => { a class=(class) href=(href) { (inner) } }
                    None => { span class=(class) { (inner) } }
                }
            }
            @if all.len() > MAX_CHIPS { span.more { "+" (all.len() - MAX_CHIPS) } }
        }
    }
}

/// At most `max` characters of `text`, every line kept, with an ellipsis when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// What a row shows when opened: the whole message, every context value,
/// and where the record came from, with the link to its page.
fn record_details(viewer: Viewer, r: &StoredRecord, record: &str, whole: bool) -> Markup {
    let cut_message = r.message.chars().count() > IN_PLACE_MESSAGE_CHARS;
    html! {
        div.full {
            @if whole {
                // A message of one short line is whole on the opened line already.
                @if preview(&r.message, 200) != escape_controls(&r.message, false) {
                    pre.message { (Shown(&cut(&r.message, IN_PLACE_MESSAGE_CHARS))) }
                }
                @if cut_message {
                    p.muted { "The message is cut here; " a href=(record) { "the record" } " shows all of it." }
                }
                @if let Some(size) = r.original_size { p.muted { "Cut when logged: the original message was " (count(size)) " bytes." } }
                @if !r.context.is_empty() {
                    dl.kv {
                        @for (k, v) in r.context.iter().take(IN_PLACE_ENTRIES) {
                            dt { (Shown(&cut(k, NAME_CHARS))) }
                            dd { (Shown(&cut(&value_text(v, true), IN_PLACE_VALUE_CHARS))) }
                        }
                    }
                    @if r.context.len() > IN_PLACE_ENTRIES {
                        p.muted { (r.context.len() - IN_PLACE_ENTRIES) " more keys: " a href=(record) { "the record" } " shows them all." }
                    }
                }
            } @else {
                p.muted { "This page has shown its share of long records in place: " a href=(record) { "the record" } " shows this one." }
            }
            p.origin.muted {
                (time(viewer, r.ts)) " · " (preview(&r.logger, NAME_CHARS))
                @if let Some(f) = &r.file { " · " code { (preview(f, NAME_CHARS)) @if let Some(l) = r.line { ":" (l) } } }
                " · thread " (preview(&r.thread, NAME_CHARS)) " · " (preview(&r.host, NAME_CHARS))
                " · " (preview(&r.app, NAME_CHARS)) " · pid " (r.pid)
                " · " a href=(record) { "Open the record →" }
            }
        }
    }
}

/// The form with every filter of the query layer, showing what was typed:
/// the common fields on one line, the others behind "More filters", which
/// is open when one of them is set (or the filter was refused), so whatever
/// filters the page is in view.
pub(crate) fn filter_form(base: &Base, action: &str, form: &FilterForm, viewer: Viewer, error: Option<&str>) -> Markup {
    filter_form_keeping(base, action, form, viewer, error, &[])
}

/// [`filter_form`] whose "Apply" also carries `keep`, the page's own
/// parameters beside the filter (the records page's `split` and `limit`),
/// as hidden fields: applying a filter does not drop the chart or the page size.
pub(crate) fn filter_form_keeping(
    base: &Base,
    action: &str,
    form: &FilterForm,
    viewer: Viewer,
    error: Option<&str>,
    keep: &[(&'static str, String)],
) -> Markup {
    let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];
    let has = |l: Level| form.levels.iter().any(|x| x.eq_ignore_ascii_case(l.as_str()));
    let advanced = [&form.app, &form.host, &form.pid, &form.site].iter().any(|v| !v.is_empty())
        || !form.ctx.is_empty()
        || !form.levels.is_empty();
    html! {
        form.filters method="get" action=(base.at(action)) {
            @if let Some(e) = error { p.error role="alert" { strong { "Filter not applied: " } (Shown(e)) } (crate::language::caret(&form.q)) }
            div.main {
                label.q { "Search" input name="q" value=(Shown(&form.q)) placeholder="words, \"a phrase\", key:value, status>=500, -term, OR"; }
                label { "Logger" input name="logger" value=(Shown(&form.logger)) placeholder="app::db, or app:: with children"; }
                label.minlvl { "Min level" select name="level" {
                    option value="" { "any" }
                    @for l in levels {
                        option value=(level_name(l)) selected[form.level.eq_ignore_ascii_case(l.as_str())] { (l.as_str()) }
                    }
                } }
                label.when { "Since" input name="since" value=(Shown(&form.since)) placeholder="2h, 7d, 2026-12-01 10:00"; }
                label.when { "Until" input name="until" value=(Shown(&form.until)) placeholder="now"; }
                div.actions {
                    button type="submit" { "Apply" }
                    a.button.secondary href=(base.at(action)) { "Reset" }
                }
                details.more open[advanced || error.is_some()] {
                    summary { "More filters" }
                    div.grid {
                        label { "App" input name="app" value=(Shown(&form.app)); }
                        label { "Host" input name="host" value=(Shown(&form.host)); }
                        label { "Pid" input name="pid" value=(Shown(&form.pid)) inputmode="numeric"; }
                        label { "Call site" input name="site" value=(Shown(&form.site)) placeholder="src/db.rs:42"; }
                        label.wide { "Context key=value (one per line)"
                            textarea name="ctx" rows="2" placeholder="request_id=r-42" { (Shown(&form.ctx.join("\n"))) }
                        }
                    }
                    fieldset.levels {
                        legend { "Only levels" }
                        @for l in levels {
                            label.check { input type="checkbox" name="levels" value=(level_name(l)) checked[has(l)]; (l.as_str()) }
                        }
                    }
                }
            }
            @if viewer.in_url { input type="hidden" name="tz" value=(viewer.offset_secs / 60); }
            @for (name, value) in keep { input type="hidden" name=(name) value=(Shown(value)); }
        }
    }
}

/// Bars of counts per slot over the filter's range, stacked by level, each
/// a link that narrows the time range to its slot (an SVG: sizes are
/// attributes, not inline styles, so the CSP can forbid styles in the page).
/// Under the bars, a band marks the time span of the rows on this page. A
/// count that stopped at the store's scan bound is drawn as a lower bound:
/// hatched bars titled "at least", and "≥" before the total. A bar's link
/// keeps `keep`, the page's parameters beside the filter (`split`, `limit`).
pub(crate) fn histogram(
    base: &Base,
    viewer: Viewer,
    form: &FilterForm,
    drawn: &Drawn,
    rows: &[StoredRecord],
    path: &str,
    keep: &[(&'static str, String)],
) -> Markup {
    let slots = &drawn.slots;
    let empty = Histogram { slots: vec![LevelCounts::default(); slots.len()], complete: true };
    let hist = drawn.counts.as_ref().unwrap_or(&empty);
    let max = hist.slots.iter().map(|c| c.total()).max().unwrap_or(0).max(1);
    let total: u64 = hist.slots.iter().map(|c| c.total()).sum();
    let n = hist.slots.len();
    const H: u64 = 60;
    // The band marking the page's rows lies under the bars.
    const BAND_Y: u64 = H + 3;
    const SVG_H: u64 = H + 8;
    let bar_w = 10usize;
    let width = slots.slot(slots.len() / 2).map_or(0, |(a, b)| b.0 - a.0);
    let label = |t: Timestamp| axis_label(viewer, t, width);
    let at_least = if hist.complete { "" } else { "at least " };
    let bar_class = |base: &'static str| if hist.complete { base.to_owned() } else { format!("{base} est") };
    // The page's rows, newest first: the band runs from the last row to the first.
    let band = match (rows.last(), rows.first()) {
        (Some(old), Some(new)) => {
            let (x0, x1) = (x_of(slots, old.ts, bar_w as f64), x_of(slots, new.ts, bar_w as f64));
            Some((old.ts, new.ts, x0, (x1 - x0).max(2.0)))
        }
        _ => None,
    };
    html! {
        figure.histogram data-start=(drawn.window.0 .0) data-end=(drawn.window.1 .0)
            data-total=[drawn.counts.as_ref().ok().map(|_| total)] data-exact=(drawn.counts.is_ok() && hist.complete) {
            svg viewBox={ "0 0 " (n * bar_w) " " (SVG_H) } preserveAspectRatio="none" role="img"
                aria-label={ "Records over time: " @if drawn.counts.is_ok() { (at_least) (total) " in all" } @else { "count not available" } } {
                @for (i, counts, start, end, link) in bars(base, viewer, form, slots, hist, path, keep) {
                    @let t = counts.total();
                    @let h = |c: u64| if c == 0 { 0 } else { (c * H).div_ceil(max) };
                    @let (e, w) = (h(counts.error), h(counts.warn));
                    @let rest = h(t).saturating_sub(e + w);
                    a href=(link) {
                        title { (viewer.format_short(start)) " – " (viewer.format_short(end)) ": " (at_least) (counted(t, "record")) ", "
                            (counted(counts.error, "error")) ", " (counted(counts.warn, "warning")) }
                        rect.bg x=(i * bar_w) y="0" width=(bar_w) height=(H) {}
                        @if rest > 0 { rect class=(bar_class("b-other")) x=(i * bar_w + 1) y=(H - rest) width=(bar_w - 2) height=(rest) {} }
                        @if w > 0 { rect class=(bar_class("b-warn")) x=(i * bar_w + 1) y=(H - rest - w) width=(bar_w - 2) height=(w) {} }
                        @if e > 0 { rect class=(bar_class("b-error")) x=(i * bar_w + 1) y=(H - rest - w - e) width=(bar_w - 2) height=(e) {} }
                    }
                }
                @if let Some((from, to, x, w)) = band {
                    rect.page-span x=(format!("{x:.2}")) y=(BAND_Y) width=(format!("{w:.2}")) height="4"
                        data-from=(from.0) data-to=(to.0) {
                        title { "This page: " (viewer.format(from)) " – " (viewer.format(to)) }
                    }
                }
            }
            figcaption {
                span.axis title=(drawn.window.0.to_rfc3339()) { (label(drawn.window.0)) }
                span.muted {
                    @match &drawn.counts {
                        Ok(h) => { strong.total { (total_label(h)) } }
                        Err(e) => { strong.total { "Count not available" } ": " (Shown(e)) }
                    }
                    @if !hist.complete { " — the count stopped at the store's scan bound; each hatched bar is at least its height" }
                    " · " (n) " bars of " (crate::pages::bar_width(slots)) ", max " (max) " per bar"
                    @if band.is_some() { " · the band marks this page" }
                    " · click a bar to narrow the range"
                }
                span.axis title=(drawn.window.1.to_rfc3339()) { @if drawn.until_now { "now" } @else { (label(drawn.window.1)) } }
            }
        }
    }
}

/// The histogram's total for people: "332 records", or "≥ 1 000 001 records"
/// when the count stopped at the scan bound.
pub(crate) fn total_label(hist: &Histogram) -> String {
    let total: u64 = hist.slots.iter().map(|c| c.total()).sum();
    if hist.complete {
        counted(total, "record")
    } else {
        format!("≥ {}", counted(total, "record"))
    }
}

type Bar = (usize, LevelCounts, Timestamp, Timestamp, String);

/// Each slot with its counts and the link narrowing the filter to it.
fn bars(
    base: &Base,
    viewer: Viewer,
    form: &FilterForm,
    slots: &Slots,
    hist: &Histogram,
    path: &str,
    keep: &[(&'static str, String)],
) -> Vec<Bar> {
    let mut out = Vec::with_capacity(hist.slots.len());
    for (i, counts) in hist.slots.iter().enumerate() {
        let Some((start, end)) = slots.slot(i) else { break };
        let mut narrowed = form.clone();
        narrowed.since = url_time(start);
        narrowed.until = url_time(end);
        let mut pairs = narrowed.pairs();
        if viewer.in_url {
            pairs.push(("tz", (viewer.offset_secs / 60).to_string()));
        }
        pairs.extend(keep.iter().cloned());
        out.push((i, *counts, start, end, base.link(path, &encode(pairs))));
    }
    out
}

/// `n` and `noun`, plural unless `n` is 1: "1 error", "3 errors".
pub(crate) fn counted(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", count(n), if n == 1 { "" } else { "s" })
}

/// Thousands separated by thin spaces, so large totals read at a glance.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}
