//! The histogram above the records: which window it covers, its exact
//! counts, and the search term marked in the rows.
//!
//! The window is the filter's range: from `since` (or, without one, the
//! oldest record the filter keeps) to `until` or now, whichever is earlier,
//! so it holds every row any page of the results shows, and no bar starts
//! after now. Its counts come from the aggregates for every whole quarter
//! hour when the filter allows it (levels, logger, time), and from the rows
//! only for the partial quarter hours at its ends; other filters are counted
//! from the rows up to the store's scan bound, and a count that stopped
//! there is drawn and labelled as a lower bound. Where counting every match
//! would be expensive (a common word or context value over a wide range,
//! see [`Store::histogram_estimate`]) the bars are an estimate from a sample
//! of the rows, drawn and labelled as one, with a link that counts exactly
//! (the page's `exact=1`).

use log_panel_core::{Timestamp, MINUTE};
use log_panel_query::{
    Cursor, FilterParams, Histogram, LevelCounts, Page, PageAt, RecordFilter, Slots, StoreErrorKind, StoredRecord, DAY,
    HOUR, QUARTER_HOUR,
};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use crate::filter_form::form_pairs;
use crate::html::{count, counted, Base, Shown};
use crate::url::{encode, url_time, EARLIEST, LATEST};
use crate::viewer::Viewer;

/// A second, in microseconds.
const SECOND: i64 = 1_000_000;
/// The span the histogram covers when nothing matches and the filter has no `since`.
const EMPTY_SPAN: i64 = log_panel_query::DAY;

/// The histogram's time window `[start, end)` for `filter`, and whether it
/// ends now: see the module documentation. `oldest` is the oldest record
/// the filter keeps, when known. A window that ends now ends at the next
/// whole minute (the next second when it is shorter than an hour), so a
/// page drawn twice within it is the same page.
pub(crate) fn window(filter: &RecordFilter, oldest: Option<Timestamp>, now: Timestamp) -> (Timestamp, Timestamp, bool) {
    let (end, open) = match filter.until {
        Some(u) if u < now => (u, false),
        _ => (now, true),
    };
    let start = match (filter.since, oldest) {
        (Some(since), _) => since,
        // Any start at or before the oldest match is the filter's range; a minute at least,
        // so matches from one moment are not drawn as one bar of a few seconds.
        (None, Some(t)) => t.min(Timestamp(end.0.saturating_sub(MINUTE))),
        (None, None) => Timestamp(end.0.saturating_sub(EMPTY_SPAN)),
    };
    if !open {
        return (start, end, false);
    }
    let unit = if end.0.saturating_sub(start.0) >= HOUR { MINUTE } else { SECOND };
    (start, end.ceil_to(unit), true)
}

/// What the histogram draws: its slots over the window, and the counts, or
/// why there are none (the read ran past its time budget).
pub(crate) struct Drawn {
    /// The bars.
    pub(crate) slots: Slots,
    /// The filter's range the bars cover, `[start, end)`; `end` is at most
    /// a minute after now (see [`window`]).
    pub(crate) window: (Timestamp, Timestamp),
    /// Whether the window ends now (no `until`, or one after now).
    pub(crate) until_now: bool,
    /// The counts per bar, or the reason they could not be read.
    pub(crate) counts: Result<Histogram, String>,
}

/// How a histogram's bars are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// Exactly, however long it takes (within the read budget).
    Exact,
    /// Exactly where that is cheap, else estimated from a sample.
    Estimate,
}

/// Reads the histogram of `filter` for a results page: the window (with the
/// oldest match read only when the page does not show it), then the
/// [`counts`]. A read past the time budget leaves the page and says so in the
/// histogram; any other failure is the page's.
pub(crate) fn read(
    store: &dyn Store,
    filter: &RecordFilter,
    page: &Page,
    newest: bool,
    now: Timestamp,
    viewer: Viewer,
    counting: Counting,
) -> Result<Drawn, StoreError> {
    let on_page = page.records.last().map(|r| r.ts);
    let found = if filter.since.is_some() {
        Ok(None)
    } else if newest && page.older.is_none() {
        Ok(on_page)
    } else {
        oldest(store, filter)
    };
    let (oldest, mut failed) = match found {
        Ok(t) => (t, None),
        Err(e) if e.kind() == StoreErrorKind::TimedOut => (on_page, Some(e.to_string())),
        Err(e) => return Err(e),
    };
    let (start, end, until_now) = window(filter, oldest, now);
    let slots = histogram_slots(start, end, viewer)?;
    let counts = match failed.take() {
        Some(e) => Err(e),
        None => match counts(store, filter, &slots, counting) {
            Ok(h) => Ok(h),
            Err(e) if e.kind() == StoreErrorKind::TimedOut => Err(e.to_string()),
            Err(e) => return Err(e),
        },
    };
    Ok(Drawn { slots, window: (start, end), until_now, counts })
}

/// The oldest record `filter` keeps, read from the oldest end of the results
/// (one keyset page of one row); `None` when nothing matches.
pub(crate) fn oldest(store: &dyn Store, filter: &RecordFilter) -> Result<Option<Timestamp>, StoreError> {
    let before_all = Cursor { ts: Timestamp(EARLIEST), id: i64::MIN };
    let page = store.records(filter, PageAt::Newer(before_all), 1)?;
    Ok(page.records.last().map(|r| r.ts))
}

/// `filter`'s counts per slot: [`Store::histogram`], or with
/// [`Counting::Estimate`] [`Store::histogram_estimate`]. Every store counts
/// a span whose ends fall inside quarter hours from the aggregates but for
/// those ends ([`HistogramSpan::count_by_edges`](log_panel_query::HistogramSpan::count_by_edges)).
pub(crate) fn counts(
    store: &dyn Store,
    filter: &RecordFilter,
    slots: &Slots,
    counting: Counting,
) -> Result<Histogram, StoreError> {
    match counting {
        Counting::Exact => store.histogram(filter, slots),
        Counting::Estimate => store.histogram_estimate(filter, slots),
    }
}

/// A time on the histogram's axis, as precise as its bars: the day for bars
/// of a day or more, the minute for bars of a minute or more, else the second;
/// never milliseconds.
pub(crate) fn axis_label(viewer: Viewer, ts: Timestamp, bar_width: i64) -> String {
    let full = viewer.format(ts);
    let keep = if bar_width >= log_panel_query::DAY {
        10
    } else if bar_width >= 60_000_000 {
        16
    } else {
        19
    };
    full.get(..keep).map_or_else(|| full.clone(), str::to_owned)
}

/// Where `t` falls on an axis of `slots`, in bar widths from its start
/// (each bar `bar_w` units wide), clamped to the axis.
pub(crate) fn x_of(slots: &Slots, t: Timestamp, bar_w: f64) -> f64 {
    if t <= slots.start() {
        return 0.0;
    }
    let Some(i) = slots.index_of(t) else { return slots.len() as f64 * bar_w };
    let Some((a, b)) = slots.slot(i) else { return 0.0 };
    let frac = (t.0 - a.0) as f64 / (b.0 - a.0).max(1) as f64;
    (i as f64 + frac) * bar_w
}

/// Bars of the histogram at most (one more when the range starts and ends inside a bar).
pub(crate) const HISTOGRAM_BARS: u64 = 60;
/// The round bar widths, narrowest first; a wider range gets bars of whole years.
const BAR_WIDTHS: [i64; 16] = [
    1_000_000,
    5_000_000,
    15_000_000,
    MINUTE,
    5 * MINUTE,
    QUARTER_HOUR,
    30 * MINUTE,
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
        w if w >= YEAR && w % YEAR == 0 => counted((w / YEAR) as u64, "year"),
        w if w >= DAY && w % DAY == 0 => counted((w / DAY) as u64, "day"),
        w if w >= HOUR && w % HOUR == 0 => format!("{} h", w / HOUR),
        w if w >= 60_000_000 && w % 60_000_000 == 0 => format!("{} min", w / 60_000_000),
        w => format!("{} s", w / 1_000_000),
    }
}

/// Bars of counts per slot over the filter's range, stacked by level, each
/// a link that narrows the time range to its slot (an SVG: sizes are
/// attributes, not inline styles, so the CSP can forbid styles in the page).
/// Under the bars, a band marks the time span of the rows on this page. A
/// count that stopped at the store's scan bound is drawn as a lower bound:
/// hatched bars titled "at least", and "≥" before the total; an estimate
/// from a sample as bars of their own style titled "about", "≈" before the
/// total, and a caption saying how much was read with the link
/// `count_exactly` (this page counted exactly). A bar's link keeps `keep`,
/// the page's parameters beside the filter (`split`, `limit`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn histogram(
    base: &Base,
    viewer: Viewer,
    form: &FilterParams,
    drawn: &Drawn,
    rows: &[StoredRecord],
    path: &str,
    keep: &[(&'static str, String)],
    count_exactly: &str,
) -> Markup {
    let slots = &drawn.slots;
    let empty = Histogram::zeros(slots);
    let hist = drawn.counts.as_ref().unwrap_or(&empty);
    // The tallest bar, as the caption says it (0 when nothing matched); the
    // bars' scale is at least 1 so an empty chart divides by something.
    let tallest = hist.slots.iter().map(|c| c.total()).max().unwrap_or(0);
    let max = tallest.max(1);
    let total: u64 = hist.slots.iter().map(|c| c.total()).sum();
    let n = hist.slots.len();
    const H: u64 = 60;
    // The band marking the page's rows lies under the bars.
    const BAND_Y: u64 = H + 3;
    const SVG_H: u64 = H + 8;
    let bar_w = 10usize;
    let width = slots.slot(slots.len() / 2).map_or(0, |(a, b)| b.0 - a.0);
    let label = |t: Timestamp| axis_label(viewer, t, width);
    let at_least = match (hist.complete, hist.sample) {
        (false, _) => "at least ",
        (true, Some(_)) => "about ",
        (true, None) => "",
    };
    let bar_class = |base: &'static str, i: usize| match (hist.complete, hist.sample) {
        (false, _) => format!("{base} est"),
        (true, Some(_)) if hist.is_uncertain(i) => format!("{base} approx uncertain"),
        (true, Some(_)) => format!("{base} approx"),
        (true, None) => base.to_owned(),
    };
    let uncertain = (0..n).filter(|&i| hist.is_uncertain(i)).count();
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
            data-total=[drawn.counts.as_ref().ok().map(|_| total)]
            data-exact=(drawn.counts.is_ok() && hist.complete && hist.sample.is_none())
            data-sampled=[hist.sample.map(|s| s.read)]
            data-uncertain=[hist.sample.map(|_| uncertain)] {
            svg viewBox={ "0 0 " (n * bar_w) " " (SVG_H) } preserveAspectRatio="none" role="img"
                aria-label={ "Records over time: " @if drawn.counts.is_ok() { (at_least) (total) " in all" } @else { "count not available" } } {
                @for (i, counts, start, end, link) in bars(base, viewer, form, slots, hist, path, keep) {
                    @let t = counts.total();
                    @let (rest, w, e) = bar_heights(&counts, max, H);
                    @let range = hist.range(i);
                    a href=(link) {
                        title { (viewer.format_short(start)) " – " (viewer.format_short(end)) ": " (at_least) (counted(t, "record"))
                            @if let Some((low, high)) = range { (range_label(low, high, hist.is_uncertain(i))) }
                            ", " (counted(counts.error, "error")) ", " (counted(counts.warn, "warning")) }
                        rect.bg x=(i * bar_w) y="0" width=(bar_w) height=(H) {}
                        @if rest > 0 { rect class=(bar_class("b-other", i)) x=(i * bar_w + 1) y=(H - rest) width=(bar_w - 2) height=(rest) {} }
                        @if w > 0 { rect class=(bar_class("b-warn", i)) x=(i * bar_w + 1) y=(H - rest - w) width=(bar_w - 2) height=(w) {} }
                        @if e > 0 { rect class=(bar_class("b-error", i)) x=(i * bar_w + 1) y=(H - rest - w - e) width=(bar_w - 2) height=(e) {} }
                        // An uncertain bar's range, as a line from its low to its high end.
                        @if let (Some((low, high)), true) = (range, hist.is_uncertain(i)) {
                            @let (y_low, y_high) = (range_height(low, max, H), range_height(high, max, H));
                            rect.range x=(format!("{:.1}", (i * bar_w) as f64 + bar_w as f64 / 2.0 - 0.2)) y=(H - y_high) width="0.4"
                                height=((y_high - y_low).max(1))
                                data-low=(low) data-high=(high) {}
                        }
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
                    @if let Some(sample) = hist.sample {
                        " — estimated from " (sample_percent(sample.percent())) " of the records — "
                        a.count-exactly href=(count_exactly) { "count exactly" }
                        @if uncertain > 0 {
                            " · " (counted(uncertain as u64, "bar")) " uncertain (drawn with the range the count likely lies in)"
                        }
                    }
                    " · " (n) " bars of " (bar_width(slots)) ", max " (count(tallest)) " per bar"
                    @if band.is_some() { " · the band marks this page" }
                    " · click a bar to narrow the range"
                }
                span.axis title=(drawn.window.1.to_rfc3339()) { @if drawn.until_now { "now" } @else { (label(drawn.window.1)) } }
            }
        }
    }
}

/// The heights of one bar's parts, bottom up (other levels, warnings,
/// errors), for a bar `height` tall at the tallest bar's total `max`. A
/// part that has records is at least one unit tall; rounding up can make
/// the parts over-tall (3 errors and 4 warnings of `max` 7 round to 26 + 35
/// of 60), so the warnings then yield to the errors and the rest to both:
/// the three never exceed `height`.
fn bar_heights(counts: &LevelCounts, max: u64, height: u64) -> (u64, u64, u64) {
    let max = max.max(1);
    let h = |c: u64| if c == 0 { 0 } else { c.saturating_mul(height).div_ceil(max).min(height) };
    let e = h(counts.error);
    let w = h(counts.warn).min(height - e);
    let rest = h(counts.total()).saturating_sub(e + w);
    (rest, w, e)
}

/// An estimated bar's range for its title: " (likely 1 200–1 900)", or
/// " — uncertain: likely 0–3 400" when the range is too wide to read the
/// bar's height ([`Histogram::is_uncertain`]).
fn range_label(low: u64, high: u64, uncertain: bool) -> String {
    let (low, high) = (crate::html::count(low), crate::html::count(high));
    if uncertain {
        format!(" — uncertain: likely {low}–{high}")
    } else {
        format!(" (likely {low}–{high})")
    }
}

/// The height of `n` records in a bar `height` tall at the tallest bar's
/// total `max` (a range's end above the tallest bar stops at the top).
fn range_height(n: u64, max: u64, height: u64) -> u64 {
    n.saturating_mul(height).div_ceil(max.max(1)).min(height)
}

/// The histogram's total for people: "332 records", "≥ 1 000 001 records"
/// when the count stopped at the scan bound, "≈ 93 000 records" when
/// estimated from a sample.
pub(crate) fn total_label(hist: &Histogram) -> String {
    let total: u64 = hist.slots.iter().map(|c| c.total()).sum();
    match (hist.complete, hist.sample) {
        (false, _) => format!("≥ {}", counted(total, "record")),
        (true, Some(_)) => format!("≈ {}", counted(total, "record")),
        (true, None) => counted(total, "record"),
    }
}

/// A sample's share of the records for people: `0.6 %`, `12 %`, never `0 %`.
fn sample_percent(p: f64) -> String {
    if p >= 10.0 {
        format!("{p:.0} %")
    } else if p >= 0.1 {
        format!("{p:.1} %")
    } else {
        "under 0.1 %".to_owned()
    }
}

type Bar = (usize, LevelCounts, Timestamp, Timestamp, String);

/// Each slot with its counts and the link narrowing the filter to it.
fn bars(
    base: &Base,
    viewer: Viewer,
    form: &FilterParams,
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
        let mut pairs = form_pairs(&narrowed);
        if viewer.in_url {
            pairs.push(("tz", (viewer.offset_secs / 60).to_string()));
        }
        pairs.extend(keep.iter().cloned());
        out.push((i, *counts, start, end, base.link(path, &encode(pairs))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bars_parts_never_exceed_its_height_and_each_level_present_shows() {
        for max in 1..=40u64 {
            for error in 0..=max {
                for warn in 0..=max - error {
                    for other in [0, max - error - warn] {
                        let counts = LevelCounts { error, warn, info: other, ..LevelCounts::default() };
                        let (rest, w, e) = bar_heights(&counts, max, 60);
                        assert!(rest + w + e <= 60, "{counts:?} of {max}: {rest} + {w} + {e}");
                        assert_eq!(e > 0, error > 0, "{counts:?} of {max}");
                        if error + warn + other == max {
                            assert_eq!(rest + w + e, 60, "the tallest bar is full: {counts:?}");
                        }
                    }
                }
            }
        }
        let (rest, w, e) = bar_heights(&LevelCounts { error: 3, warn: 4, ..LevelCounts::default() }, 7, 60);
        assert_eq!((rest, w, e), (0, 34, 26), "the case that overflowed");
    }
}
