//! A query's expression ([`RecordFilter::query`]) in PostgreSQL's SQL. Each
//! leaf is [`filter_conditions`] of its one-condition filter, so a leaf uses
//! the index the same condition uses outside an expression (a word the
//! trigram index of the search side table, a context value its GIN index, a
//! logger its `(logger, ts, id)` range); OR is OR, NOT is NOT.

use log_panel_core::store::{Expr, RecordFilter};

use crate::query::{filter_conditions, Sql};

/// The SQL condition of `e`, its values bound in `sql`.
pub(crate) fn condition(sql: &mut Sql, e: &Expr) -> String {
    match e {
        Expr::Leaf(f) => leaf(sql, f),
        Expr::And(v) => join(sql, v, " AND "),
        Expr::Or(v) => join(sql, v, " OR "),
        // A condition on a missing value (a file) is NULL, and NOT NULL
        // keeps nothing; the reference keeps those records.
        Expr::Not(e) => format!("NOT coalesce({}, FALSE)", condition(sql, e)),
    }
}

fn join(sql: &mut Sql, v: &[Expr], op: &str) -> String {
    let parts: Vec<String> = v.iter().map(|e| condition(sql, e)).collect();
    format!("({})", parts.join(op))
}

fn leaf(sql: &mut Sql, f: &RecordFilter) -> String {
    // The filter's check has refused a leaf over the caps; one that cannot
    // match (a NUL in its text, which PostgreSQL does not take) keeps nothing.
    if !matches!(f.check(), Ok(true)) {
        return "FALSE".to_owned();
    }
    format!("({})", filter_conditions(sql, f))
}
