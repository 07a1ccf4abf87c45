//! A live-tail record as the page script draws it: the same dense row as
//! the records page (`html::records_table`), its pieces computed here by the
//! same helpers and sent as JSON. The script builds the row from these
//! strings with `textContent` and `href` only, never as HTML, so a record's
//! text cannot add markup however hostile.

use log_panel_core::{escape_controls, level_name};
use log_panel_query::StoredRecord;
use serde_json::{json, Value};

use crate::html::{count, preview, Base, NAME_CHARS};
use crate::rows::{
    chip_link, cut, marked_runs, ordered, value_text, CHIP_CHARS, IN_PLACE_ENTRIES, IN_PLACE_MESSAGE_CHARS,
    IN_PLACE_VALUE_CHARS, MAX_CHIPS,
};
use crate::url::encode;

/// What a stream's rows link to and mark: the panel's base, the viewer's
/// offset when it is in the URL, the filter's context keys (their chips come
/// first) and its search term (marked in the message).
#[derive(Debug, Clone)]
pub(crate) struct RowLinks {
    pub(crate) base: Base,
    pub(crate) tz: Option<i64>,
    pub(crate) keys: Vec<String>,
    pub(crate) term: Option<String>,
}

/// The record as the row's pieces: see `line` in `assets/panel.js`.
pub(crate) fn row_json(links: &RowLinks, r: &StoredRecord) -> Value {
    let tz = links.tz.map(|m| encode([("tz", m.to_string())])).unwrap_or_default();
    let record = links.base.link(&format!("/records/{}", r.id), &tz);
    let message = preview(&r.message, 200);
    let runs: Vec<Value> =
        marked_runs(&message, links.term.as_deref()).into_iter().map(|(text, marked)| json!([text, marked])).collect();
    let all = ordered(r, &links.keys);
    let chips: Vec<Value> = all
        .iter()
        .take(MAX_CHIPS)
        .map(|(k, v, hit)| {
            json!([
                preview(k, CHIP_CHARS),
                preview(&value_text(v, false), CHIP_CHARS),
                chip_link(&links.base, &tz, k, v),
                hit
            ])
        })
        .collect();
    // The whole message only when the line does not show all of it already.
    let whole = (message != escape_controls(&r.message, false))
        .then(|| escape_controls(&cut(&r.message, IN_PLACE_MESSAGE_CHARS), true).into_owned());
    let kv: Vec<Value> = r
        .context
        .iter()
        .take(IN_PLACE_ENTRIES)
        .map(|(k, v)| {
            json!([
                escape_controls(&cut(k, NAME_CHARS), true),
                escape_controls(&cut(&value_text(v, true), IN_PLACE_VALUE_CHARS), true)
            ])
        })
        .collect();
    let file = r.file.as_ref().map(|f| match r.line {
        Some(l) => format!("{}:{l}", preview(f, NAME_CHARS)),
        None => preview(f, NAME_CHARS),
    });
    json!({
        "id": r.id,
        "ts": r.ts.to_rfc3339(),
        "level": r.level.as_str(),
        "class": level_name(r.level),
        "logger": preview(&r.logger, NAME_CHARS),
        "logger_title": escape_controls(&r.logger, false),
        "href": record,
        "message": runs,
        "chips": chips,
        "more_chips": all.len().saturating_sub(MAX_CHIPS),
        "whole": whole,
        "message_cut": r.message.chars().count() > IN_PLACE_MESSAGE_CHARS,
        "original_size": r.original_size.map(count),
        "kv": kv,
        "more_keys": r.context.len().saturating_sub(IN_PLACE_ENTRIES),
        "origin": {
            "logger": preview(&r.logger, NAME_CHARS),
            "file": file,
            "thread": preview(&r.thread, NAME_CHARS),
            "host": preview(&r.host, NAME_CHARS),
            "app": preview(&r.app, NAME_CHARS),
            "pid": r.pid,
        },
    })
}
