//! The query language (`log_panel_query::parse_query`, docs/query.md)
//! in the search box: a query that does not parse is shown back with a
//! caret under the column of the mistake, and the parts of a query no index
//! serves are named above the rows.

use log_panel_query::{parse_query, RecordFilter};
use maud::{html, Markup};

/// The query with a caret under the column of its mistake; nothing when it parses.
pub(crate) fn caret(q: &str) -> Markup {
    let Err(e) = parse_query(q) else { return html! {} };
    // One character a column, so the caret stands under the mistake; a
    // control character (a tab, a newline from a hand-made URL) would move it.
    let shown: String = q.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let pad = " ".repeat(e.column.saturating_sub(1));
    html! {
        pre.query-error aria-label="Where the query went wrong" {
            code { (shown) "\n" (pad) "^ " (e.message) }
        }
    }
}

/// The note above the rows naming what no index serves; nothing when every part is indexed.
pub(crate) fn unindexed_note(filter: &RecordFilter) -> Markup {
    let parts = filter.unindexed();
    html! {
        @if !parts.is_empty() {
            p.scan-note role="note" {
                "Not indexed, checked on each record the rest of the filter selects: "
                @for (i, part) in parts.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (part) }
                }
            }
        }
    }
}
