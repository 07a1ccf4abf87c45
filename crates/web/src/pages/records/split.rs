//! The chart split by a context key on the records page (`?split=status`):
//! the filter's records over the histogram's slots, stacked per value of the
//! key, the [`TOP`] values with the most records and the rest as "other",
//! with a legend of counts whose entries filter by their value.

use log_panel_core::Timestamp;
use log_panel_query::{FieldMatch, FieldValue, Split, StoredRecord};
use maud::{html, Markup};

use crate::histogram::Drawn;
use crate::html::{count, counted, Base, Shown};
use crate::url::{encode, Params};
use crate::viewer::Viewer;

/// Series drawn at most, besides "other": each has a colour class of its own.
pub(crate) const TOP: usize = 8;
/// A value is shown up to this many characters (its title and link keep it whole).
pub(crate) const SHOWN_CHARS: usize = 60;
/// A legend entry links to the filter by its value when the value is at most this long.
const LINKED_BYTES: usize = 256;
/// Keys offered in the "split by" list at most (those of the rows on the page).
const OFFERED_KEYS: usize = 40;

/// The `split` parameter: `None` when absent, else the key as
/// [`FieldMatch::new`] accepts it, or the message of a 400.
pub(crate) fn key(params: &Params) -> Result<Option<String>, String> {
    match params.get("split") {
        None => Ok(None),
        Some(k) => FieldMatch::new(k, FieldValue::Text(String::new()))
            .map(|m| Some(m.key))
            .map_err(|e| format!("split by: {e}")),
    }
}

/// The context keys of `rows`, sorted, at most [`OFFERED_KEYS`] of them.
pub(crate) fn keys_seen(rows: &[StoredRecord]) -> Vec<String> {
    let mut keys: Vec<String> = rows.iter().flat_map(|r| r.context.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| k.len() <= FieldMatch::MAX_KEY_LEN);
    keys.truncate(OFFERED_KEYS);
    keys
}

/// A value's title (its tooltip) holds at most this many characters.
pub(crate) const TITLE_CHARS: usize = 512;

/// The records page with `key=value` added to the filter `keep`, when a
/// filter can say it: a value of at most [`LINKED_BYTES`] on one line, a key
/// without `=` (a `ctx` condition is cut at its first `=`).
pub(crate) fn value_link(base: &Base, keep: &[(&'static str, String)], key: &str, value: &str) -> Option<String> {
    (value.len() <= LINKED_BYTES && !value.contains(['\n', '\r']) && !key.contains('=')).then(|| {
        let mut pairs = keep.to_vec();
        pairs.push(("context", format!("{key}={value}")));
        base.link("/records", &encode(pairs))
    })
}

/// `value` cut to `chars` characters, with `…` when cut.
pub(crate) fn short(value: &str, chars: usize) -> String {
    match value.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// The "split by" control: a GET form carrying the filter, a key to type or
/// pick among those of the page's rows.
pub(crate) fn control(base: &Base, keep: &[(&'static str, String)], key: Option<&str>, keys: &[String]) -> Markup {
    html! {
        form.split-by method="get" action=(base.at("/records")) {
            @for (k, v) in keep { input type="hidden" name=(k) value=(Shown(v)); }
            label { "Split by context key "
                input name="split" list="split-keys" value=(Shown(key.unwrap_or(""))) placeholder="status, tenant" maxlength="128";
            }
            datalist #split-keys { @for k in keys { option value=(Shown(k)) {} } }
            button type="submit" { "Chart" }
            @if key.is_some() { a href=(base.link("/records", &encode(keep.iter().cloned()))) { "Remove the chart" } }
        }
    }
}

/// One series as drawn: its class, label, counts per slot, total, and the
/// link filtering by its value.
type Series<'a> = (String, String, &'a [u64], u64, Option<String>);

/// The chart of `split` over the histogram's slots: stacked bars, one
/// class per series (`s0` … `s7`, `s-other`; no inline style), and a legend
/// with each value's count, each a link to the filter with `key=value` added.
pub(crate) fn chart(
    base: &Base,
    viewer: Viewer,
    keep: &[(&'static str, String)],
    key: &str,
    drawn: &Drawn,
    split: &Result<Split, String>,
) -> Markup {
    let slots = &drawn.slots;
    let n = slots.len();
    let split = match split {
        Ok(s) => s,
        Err(e) => {
            return html! {
                figure.split { figcaption { "Split by " code { (Shown(key)) } ": " strong { "count not available" } ": " (Shown(e)) } }
            }
        }
    };
    let mut series: Vec<Series<'_>> = split
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let link = value_link(base, keep, key, &s.value);
            (format!("s{i}"), s.value.clone(), s.slots.as_slice(), s.total, link)
        })
        .collect();
    if split.other_total > 0 {
        series.push(("s-other".to_owned(), "other".to_owned(), split.other.as_slice(), split.other_total, None));
    }
    let per_slot: Vec<u64> = (0..n).map(|i| series.iter().map(|s| s.2.get(i).copied().unwrap_or(0)).sum()).collect();
    // The tallest bar as the caption says it (0 when no record has the key);
    // the scale is at least 1.
    let tallest = per_slot.iter().copied().max().unwrap_or(0);
    let max = tallest.max(1);
    const H: u64 = 60;
    let bar_w = 10usize;
    let at_least = if split.complete { "" } else { "at least " };
    let est = if split.complete { "" } else { " est" };
    let when = |i: usize| {
        slots.slot(i).map_or_else(String::new, |(a, b): (Timestamp, Timestamp)| {
            format!("{} – {}", viewer.format_short(a), viewer.format_short(b))
        })
    };
    // Each slot's segments, bottom up: (x, y, height, class, title).
    let mut rects = Vec::new();
    for i in 0..n {
        let mut y = H;
        for (class, label, per, _, _) in &series {
            let c = per.get(i).copied().unwrap_or(0);
            if c == 0 {
                continue;
            }
            let h = (c * H).div_ceil(max).min(y);
            y -= h;
            let title = format!("{}: {} {at_least}{}", when(i), short(label, SHOWN_CHARS), counted(c, "record"));
            rects.push((i * bar_w + 1, y, h, format!("{class}{est}"), title));
        }
    }
    html! {
        figure.split data-key=(Shown(key)) data-total=(split.total()) data-exact=(split.complete) {
            svg viewBox={ "0 0 " (n * bar_w) " " (H) } preserveAspectRatio="none" role="img"
                aria-label={ "Records over time split by " (Shown(key)) } {
                @for (x, y, h, class, title) in &rects {
                    rect class=(class) x=(x) y=(y) width=(bar_w - 2) height=(h) { title { (Shown(title)) } }
                }
            }
            figcaption {
                span.muted {
                    "Split by " code { (Shown(key)) } ": " (at_least) (counted(split.total(), "record"))
                    " with the key, " (count(split.distinct as u64)) " distinct values"
                    @if split.without_key > 0 { ", " (counted(split.without_key, "record")) " without it" }
                    @if !split.complete { " — the count stopped at the store's bound; the counts are lower bounds" }
                    " · max " (count(tallest)) " per bar"
                }
            }
            ul.legend {
                @for (class, label, _, total, link) in &series {
                    li {
                        span class={ "sw " (class) } {}
                        @match link {
                            Some(href) => { a href=(href) title={ "Only " (Shown(key)) "=" (Shown(label)) } { (Shown(&short(label, SHOWN_CHARS))) } }
                            None => { span title=(Shown(&short(label, TITLE_CHARS))) { (Shown(&short(label, SHOWN_CHARS))) } }
                        }
                        " " span.muted { (count(*total)) }
                    }
                }
            }
        }
    }
}

/// Reads the split of `filter` by `key` over the histogram's `slots`: a read
/// past the time budget leaves the page and says so in the chart; any other
/// failure (a bad key) is the page's.
pub(crate) fn read(
    store: &dyn log_panel_query::Store,
    filter: &log_panel_query::RecordFilter,
    key: &str,
    slots: &log_panel_query::Slots,
) -> Result<Result<Split, String>, log_panel_query::StoreError> {
    match store.split(filter, key, slots, TOP) {
        Ok(s) => Ok(Ok(s)),
        Err(e) if e.kind() == log_panel_query::StoreErrorKind::TimedOut => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}
