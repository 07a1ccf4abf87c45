//! A query's expression ([`RecordFilter::query`]) in SQLite's SQL
//! ([`Expr::to_sql`]): each leaf is the [`Where`] conditions of its
//! one-condition filter, so a leaf uses the index the same condition uses
//! outside an expression (a word the message search index, an indexed
//! context key its side table, a logger its `(logger, ts)` range).
//!
//! [`RecordFilter::query`]: log_panel_query::RecordFilter::query

use log_panel_query::Expr;

use crate::query::Where;

/// The SQL condition of `e`, its values bound in `w`: each leaf built by
/// [`Where::filter`] on the shared parameters and context-key marks.
pub(crate) fn condition(w: &mut Where, e: &Expr) -> String {
    e.to_sql(
        &mut |f| {
            let mut sub = Where::default();
            sub.params = std::mem::take(&mut w.params);
            sub.key_marks = w.key_marks.clone();
            sub.filter(f);
            w.params = std::mem::take(&mut sub.params);
            sub.conditions().unwrap_or_else(|| "1".to_owned())
        },
        "0",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use log_panel_query::parse_query;

    use crate::query::tests::plan;

    /// An OR of indexed leaves is an OR of index lookups (the message search
    /// table, the context side table, the logger index); a negation walks
    /// every record, and the filter names it as unindexed.
    #[test]
    fn an_or_of_indexed_leaves_uses_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let conn = sink.connection();
        crate::search::register(conn).unwrap();
        let f = parse_query("payment OR request_id:r-42 OR logger:billing::").unwrap();
        assert!(f.unindexed().is_empty());
        let p = plan(conn, &f);
        for index in ["log_records_fts", "log_context_index", "log_records_logger_ts"] {
            assert!(p.contains(index), "{index}: {p}");
        }
        let f = parse_query("-payment").unwrap();
        assert_eq!(f.unindexed(), ["-payment"]);
        // Every record is walked (in time order), the index's list only excluding.
        let p = plan(conn, &f);
        assert!(p.starts_with("SCAN log_records"), "{p}");
    }
}
