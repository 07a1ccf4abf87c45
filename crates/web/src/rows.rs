//! Records as table rows (the records page, the live tail, surrounding records).

use log_panel_core::{escape_controls, level_name};
use log_panel_query::StoredRecord;
use maud::{html, Markup};

use crate::html::{count, level_badge, preview, time, Base, Shown, NAME_CHARS};
use crate::url::encode;
use crate::viewer::Viewer;

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

/// The link a chip filters by: the records page with `context=key=value` when
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
        encode([("context", format!("{key}={text}"))])
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
}
