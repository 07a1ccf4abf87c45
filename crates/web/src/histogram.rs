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
//! there is drawn and labelled as a lower bound.

use log_panel_core::{escape_controls, Timestamp};
use log_panel_query::{
    Cursor, Histogram, LevelCounts, Page, PageAt, RecordFilter, Slots, StoreErrorKind, HOUR, QUARTER_HOUR,
};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use crate::query::Viewer;

/// A minute, in microseconds.
const MINUTE: i64 = 60 * SECOND;
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
    (start, Timestamp(ceil_to(end.0, unit)), true)
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

/// Reads the histogram of `filter` for a results page: the window (with the
/// oldest match read only when the page does not show it), then [`exact`]
/// counts. A read past the time budget leaves the page and says so in the
/// histogram; any other failure is the page's.
pub(crate) fn read(
    store: &dyn Store,
    filter: &RecordFilter,
    page: &Page,
    newest: bool,
    now: Timestamp,
    viewer: Viewer,
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
    let slots = crate::pages::histogram_slots(start, end, viewer)?;
    let counts = match failed.take() {
        Some(e) => Err(e),
        None => match exact(store, filter, &slots) {
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
    let before_all = Cursor { ts: Timestamp(crate::pages::EARLIEST), id: i64::MIN };
    let page = store.records(filter, PageAt::Newer(before_all), 1)?;
    Ok(page.records.last().map(|r| r.ts))
}

/// `filter`'s counts per slot, exact wherever the aggregates can answer:
/// with a filter on levels, logger and time only and slots on quarter hours,
/// the whole quarter hours are read from the aggregates and only the partial
/// ones at the ends (at most 15 minutes each) from the rows. Anything else is
/// [`Store::histogram`] as it is (rows, up to the store's scan bound).
pub(crate) fn exact(store: &dyn Store, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
    let lo = filter.since.map_or(slots.start(), |s| s.max(slots.start()));
    let hi = filter.until.map_or(slots.end(), |u| u.min(slots.end()));
    let inner = (Timestamp(ceil_to(lo.0, QUARTER_HOUR)), Timestamp(hi.0.div_euclid(QUARTER_HOUR) * QUARTER_HOUR));
    if !filter.is_aggregate_only() || !slots.aligned_to(QUARTER_HOUR) || inner.0 >= inner.1 {
        return store.histogram(filter, slots);
    }
    let mut out = Histogram { slots: vec![LevelCounts::default(); slots.len()], complete: true };
    for (since, until) in [(lo, inner.0), inner, (inner.1, hi)] {
        if since >= until {
            continue;
        }
        let mut part = filter.clone();
        part.since = Some(since);
        part.until = Some(until);
        let h = store.histogram(&part, slots)?;
        out.complete &= h.complete;
        for (o, c) in out.slots.iter_mut().zip(&h.slots) {
            o.merge(c);
        }
    }
    Ok(out)
}

fn ceil_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit).saturating_add(i64::from(t.rem_euclid(unit) != 0)).saturating_mul(unit)
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

/// `text` (already cut and with control characters escaped, as rows show
/// it) with every occurrence of the search `term` in a `<mark>`, matched
/// case-insensitively per character as the stores search. maud escapes both
/// the marked and the unmarked parts: a term can never add markup.
pub(crate) fn highlight(text: &str, term: Option<&str>) -> Markup {
    html! { @for (part, marked) in marked_runs(text, term) { @if marked { mark { (part) } } @else { (part) } } }
}

/// `text` cut into runs, each marked when it matches the search `term`
/// (what [`highlight`] marks; the live tail's script marks the same runs).
pub(crate) fn marked_runs<'a>(text: &'a str, term: Option<&str>) -> Vec<(&'a str, bool)> {
    match term {
        Some(t) if !t.is_empty() => split_marked(text, &escape_controls(t, false)),
        _ => vec![(text, false)],
    }
}

/// `text` cut into runs, each marked when it matches `term`.
fn split_marked<'a>(text: &'a str, term: &str) -> Vec<(&'a str, bool)> {
    let mut out = Vec::new();
    let mut plain = 0;
    let mut i = 0;
    while i < text.len() {
        match match_len(&text[i..], term) {
            Some(n) => {
                if plain < i {
                    out.push((&text[plain..i], false));
                }
                out.push((&text[i..i + n], true));
                i += n;
                plain = i;
            }
            None => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain < text.len() {
        out.push((&text[plain..], false));
    }
    out
}

/// The length in bytes of the prefix of `hay` that equals `term` with each
/// character lowercased, if there is one.
fn match_len(hay: &str, term: &str) -> Option<usize> {
    let mut h = hay.char_indices();
    for t in term.chars() {
        let (_, c) = h.next()?;
        if !c.to_lowercase().eq(t.to_lowercase()) {
            return None;
        }
    }
    Some(h.next().map_or(hay.len(), |(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_every_match_case_insensitively_and_escapes() {
        let m = highlight("a <B>b</b> É", Some("<b>")).into_string();
        assert_eq!(m, "a <mark>&lt;B&gt;</mark>b&lt;/b&gt; É");
        assert_eq!(highlight("Éé", Some("é")).into_string(), "<mark>É</mark><mark>é</mark>");
        // The text "&amp;" itself: its escaped "&" is never split by a mark.
        assert_eq!(highlight("x&amp;", Some("amp")).into_string(), "x&amp;<mark>amp</mark>;");
        assert_eq!(highlight("abc", None).into_string(), "abc");
        assert_eq!(highlight("abc", Some("")).into_string(), "abc");
    }

    #[test]
    fn ceil_rounds_up_to_the_unit() {
        assert_eq!(ceil_to(0, 15), 0);
        assert_eq!(ceil_to(1, 15), 15);
        assert_eq!(ceil_to(-1, 15), 0);
        assert_eq!(ceil_to(15, 15), 15);
    }
}
