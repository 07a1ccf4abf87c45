//! A query's expression ([`RecordFilter::query`]) in SQLite's SQL. Each
//! leaf is the [`Where`] conditions of its one-condition filter, so a leaf
//! uses the index the same condition uses outside an expression (a word the
//! message search index, an indexed context key its side table, a logger its
//! `(logger, ts)` range); OR is OR, NOT is NOT.

use log_panel_core::store::{Expr, RecordFilter};

use crate::query::Where;

/// The SQL condition of `e`, its values bound in `w`.
pub(crate) fn condition(w: &mut Where, e: &Expr) -> String {
    match e {
        Expr::Leaf(f) => leaf(w, f),
        Expr::And(v) => join(w, v, " AND "),
        Expr::Or(v) => join(w, v, " OR "),
        // A condition on a missing value (a context key, a file) is NULL,
        // and NOT NULL keeps nothing; the reference keeps those records.
        Expr::Not(e) => format!("NOT coalesce({}, 0)", condition(w, e)),
    }
}

fn join(w: &mut Where, v: &[Expr], op: &str) -> String {
    let parts: Vec<String> = v.iter().map(|e| condition(w, e)).collect();
    format!("({})", parts.join(op))
}

/// One leaf: its conditions built by [`Where::filter`] on the shared parameters.
fn leaf(w: &mut Where, f: &RecordFilter) -> String {
    // The filter's check has refused a leaf over the caps; one that cannot
    // match (a NUL in its text) keeps nothing, as it would alone.
    if !matches!(f.check(), Ok(true)) {
        return "0".to_owned();
    }
    let mut sub = Where::default();
    sub.params = std::mem::take(&mut w.params);
    sub.key_marks = w.key_marks.clone();
    sub.filter(f);
    let sql = sub.conditions().unwrap_or_else(|| "1".to_owned());
    w.params = sub.params;
    format!("({sql})")
}
