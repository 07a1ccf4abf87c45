//! The query language (`log_panel_query::parse_query`, docs/query.md)
//! on the command line: the positional QUERY of `query`, `tail`, `sites`
//! and `export`, ANDed with their flags by `FilterParams::to_filter`. A
//! query that does not parse is a usage error (`log-panel: query: column
//! 14: …`, exit status 2).

use log_panel_query::RecordFilter;

/// The line that names what no index serves, if anything.
pub(crate) fn unindexed_note(filter: &RecordFilter) -> Option<String> {
    let parts = filter.unindexed();
    (!parts.is_empty()).then(|| {
        // The parts carry the user's text: a control character is shown, not sent to the terminal.
        let parts = log_panel_core::escape_controls(&parts.join(", "), false).into_owned();
        format!("query: not indexed, checked on each record the rest of the filter selects: {parts}")
    })
}
