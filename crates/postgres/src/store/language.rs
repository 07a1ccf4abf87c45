//! A query's expression ([`RecordFilter::query`]) in PostgreSQL's SQL
//! ([`Expr::to_sql`]): each leaf is [`filter_conditions`] of its
//! one-condition filter, so a leaf uses the index the same condition uses
//! outside an expression (a word the trigram index of the search side table,
//! a context value its GIN index, a logger its `(logger, ts, id)` range).
//!
//! [`RecordFilter::query`]: log_panel_query::RecordFilter::query

use log_panel_query::Expr;

use crate::query::{filter_conditions, Sql};

/// The SQL condition of `e`, its values bound in `sql`.
pub(crate) fn condition(sql: &mut Sql, e: &Expr) -> String {
    e.to_sql(&mut |f| filter_conditions(sql, f), "FALSE")
}
