//! The query language (`log_panel_query::parse_query`, docs/query.md)
//! on the command line: the positional QUERY of `query`, `tail`, `sites`
//! and `export`, ANDed with their flags.

use log_panel_query::RecordFilter;

use crate::error::CliError;

/// ANDs `text` with `filter`. A query that does not parse is a usage error
/// (`log-panel: query: column 14: …`, exit status 2); the parts no index
/// serves are named on stderr, so a slow answer is not a surprise.
pub(crate) fn and_query(filter: &mut RecordFilter, text: &str) -> Result<(), CliError> {
    filter.and_query(text).map_err(|e| CliError::Store(e.into()))?;
    if let Some(note) = unindexed_note(filter) {
        eprintln!("log-panel: {note}");
    }
    Ok(())
}

/// The line that names what no index serves, if anything.
pub(crate) fn unindexed_note(filter: &RecordFilter) -> Option<String> {
    let parts = filter.unindexed();
    (!parts.is_empty()).then(|| {
        format!("query: not indexed, checked on each record the rest of the filter selects: {}", parts.join(", "))
    })
}
