//! SQL for the read side: a record filter as a `WHERE` clause on
//! `log_records`.
//!
//! The packaged server (18.16) has no query parameters, so every value
//! enters a statement through [`quote`] (strings) or as a number Rust
//! formatted; column names are fixed.
//!
//! - A logger tree is a range on the sort key's first column (`logger =
//!   root OR root:: <= logger < root:;`), which the primary index serves;
//!   `startsWith` would scan.
//! - Text is `positionCaseInsensitiveUTF8` (`match` with `(?i)` gives wrong
//!   answers on 18.16).
//! - A context `key=value` looks in the `context_keys`/`context_values`
//!   arrays (see [`crate::schema`] for the typed values).

use log_panel_core::{severity, Timestamp};
use log_panel_query::{FieldRange, FieldValue, LoggerMatch, RecordFilter};

use crate::http::quote;

/// A time bound on `time` (seconds, clamped to `DateTime`'s range), beside
/// the exact bound on `ts`, so that whole partitions are skipped.
fn seconds(t: Timestamp) -> i64 {
    t.0.div_euclid(1_000_000).clamp(0, i64::from(u32::MAX))
}

/// `toDateTime(…)` of `t`'s second (clamped), as a literal.
pub(crate) fn datetime(t: Timestamp) -> String {
    format!("toDateTime({}, 'UTC')", seconds(t))
}

/// The logger condition.
pub(crate) fn logger_condition(logger: &LoggerMatch) -> String {
    match logger {
        LoggerMatch::Exact(name) => format!("logger = {}", quote(name)),
        LoggerMatch::Tree(root) => format!(
            "(logger = {} OR (logger >= {} AND logger < {}))",
            quote(root),
            quote(&format!("{root}::")),
            // `;` follows `:` in byte order: every `root::…` sorts below `root:;`.
            quote(&format!("{root}:;"))
        ),
    }
}

/// The typed forms `value` matches exactly (`s:` and the text, `n:` and the
/// integer, `b:` and the boolean), and the float that a number stored other
/// than as an i64 (a fraction, an exponent, beyond i64) must equal.
fn typed_forms(value: &FieldValue) -> (Vec<String>, Option<f64>) {
    let mut exact = Vec::new();
    exact.extend(value.as_text().map(|t| format!("s:{t}")));
    exact.extend(value.as_int().map(|i| format!("n:{i}")));
    exact.extend(value.as_bool().map(|b| format!("b:{b}")));
    (exact, value.as_float())
}

/// Whether the typed value in column `col` is one of the forms `value` matches
/// (`None`: it matches none).
fn value_condition(value: &FieldValue, col: &str) -> Option<String> {
    let (exact, float) = typed_forms(value);
    let mut alternatives: Vec<String> = exact.iter().map(|form| format!("{col} = {}", quote(form))).collect();
    if let Some(f) = float {
        alternatives.push(format!(
            "(substring({col}, 1, 2) = 'n:' AND toString(toInt64OrZero(substring({col}, 3))) != substring({col}, 3) \
             AND toFloat64OrZero(substring({col}, 3)) = {f:?})"
        ));
    }
    (!alternatives.is_empty()).then(|| alternatives.join(" OR "))
}

/// Whether the side table's `value` (a typed form without its prefix) is one
/// `value` matches (`None`: none): the exact forms as one `IN`, which is one
/// key range when they read alike (`7` for `s:7` and `n:7`), and any number
/// equal to the float. Types are not told apart: the side table only narrows.
fn side_value_condition(value: &FieldValue) -> Option<String> {
    let (exact, float) = typed_forms(value);
    let mut plain: Vec<String> = exact.iter().map(|form| quote(form.get(2..).unwrap_or_default())).collect();
    plain.sort();
    plain.dedup();
    let mut alternatives = Vec::new();
    if !plain.is_empty() {
        alternatives.push(format!("value IN ({})", plain.join(", ")));
    }
    alternatives.extend(float.map(|f| format!("toFloat64OrZero(value) = {f:?}")));
    (!alternatives.is_empty()).then(|| alternatives.join(" OR "))
}

/// `key = value` on the context arrays, each typed form the value matches.
/// With `side_table` (the database, when its tables are of version 5 on),
/// the records are first narrowed by [`membership`].
pub(crate) fn field_condition(key: &str, value: &FieldValue, side_table: Option<&str>) -> String {
    let Some(arrays) = value_condition(value, "v") else { return "0".to_owned() };
    let exact = format!("arrayExists((k, v) -> k = {} AND ({arrays}), context_keys, context_values)", quote(key));
    match side_table.and_then(|database| membership(database, key, value, None, None)) {
        Some(member) => format!("({member} AND {exact})"),
        None => exact,
    }
}

/// `ts IN (…)`: the times the shard's own context side table lists for
/// `key = value` (an index range on `(key, value, ts)`), within `[lo, hi]`.
/// It only narrows: the array condition beside it keeps a read exact (two
/// records may share a time), so `ts` alone, the sort key's column, does.
/// The subquery reads the local table on purpose: a record and its side
/// rows are on one shard, so each shard narrows its own records, and a
/// `Distributed` read needs no `GLOBAL IN`. The table is named with its
/// database: a shard runs a `Distributed` read's subquery in its default one.
fn membership(database: &str, key: &str, value: &FieldValue, lo: Option<i64>, hi: Option<i64>) -> Option<String> {
    let lookup = lookup(key, value, lo, hi)?;
    Some(format!("ts IN (SELECT ts FROM {database}.{}_local PREWHERE {lookup})", crate::aggregates::CONTEXT))
}

/// The side table's condition for `key = value` with `ts` in `[lo, hi]`
/// (`None`: the value matches no stored form), read as `PREWHERE`: 18.16
/// moves only part of it there by itself, and then reads the other columns
/// of every granule the key range spans (one a day partition), not only of
/// the matching rows (the request view's lookup at 10 M: 83 ms against 31).
fn lookup(key: &str, value: &FieldValue, lo: Option<i64>, hi: Option<i64>) -> Option<String> {
    let mut parts = vec![format!("key = {}", quote(key)), format!("({})", side_value_condition(value)?)];
    parts.extend(lo.map(|lo| format!("ts >= {lo}")));
    parts.extend(hi.map(|hi| format!("ts <= {hi}")));
    Some(parts.join(" AND "))
}

/// A filter's `key=value` pairs through the context side table, for reads
/// whose [`conditions`] hold the pairs on the arrays alone.
pub(crate) struct SideLookup<'a> {
    database: Option<&'a str>,
    filter: &'a RecordFilter,
}

impl<'a> SideLookup<'a> {
    /// The lookups of `filter`'s pairs in `side_table`'s side table (`None`: none).
    pub(crate) fn new(filter: &'a RecordFilter, side_table: Option<&'a str>) -> SideLookup<'a> {
        SideLookup { database: side_table, filter }
    }

    /// `[lo, hi]` within the filter's own time bounds.
    fn bounds(&self, lo: Option<i64>, hi: Option<i64>) -> (Option<i64>, Option<i64>) {
        (
            lo.into_iter().chain(self.filter.since.map(|t| t.0)).max(),
            hi.into_iter().chain(self.filter.until.map(|t| t.0)).min(),
        )
    }

    /// `PREWHERE …` (every pair's [`membership`]) for a read of all the
    /// matching records (counts, call sites), or nothing when no pair goes
    /// through the side table: read first, so that a shard reads the other
    /// columns of the granules holding the pairs' times only.
    pub(crate) fn prewhere(&self) -> String {
        let Some(database) = self.database else { return String::new() };
        let (lo, hi) = self.bounds(None, None);
        let lookups: Vec<String> =
            self.filter.fields.iter().filter_map(|f| membership(database, &f.key, &f.value, lo, hi)).collect();
        if lookups.is_empty() {
            String::new()
        } else {
            format!("PREWHERE {} ", lookups.join(" AND "))
        }
    }

    /// The `SELECT` of at most `limit` (time, logger) rows, within `[lo,
    /// hi]`, that the first pair's side rows list over all shards, newest
    /// first when `older`: the candidates of a page. `None` when no pair goes
    /// through the side table. A plain `ORDER BY … LIMIT` (a top-N sort; a
    /// row twice is harmless): each shard sends `limit` rows, where a `GROUP
    /// BY` time sends every group to be merged (50 000 for a frequent pair at
    /// 10 M), and a `DISTINCT` hashes every matching row first.
    pub(crate) fn candidates(&self, lo: Option<i64>, hi: Option<i64>, older: bool, limit: u64) -> Option<String> {
        self.database?;
        let (lo, hi) = self.bounds(lo, hi);
        let lookup = self.filter.fields.iter().find_map(|f| lookup(&f.key, &f.value, lo, hi))?;
        let order = if older { "DESC" } else { "ASC" };
        Some(format!(
            "SELECT ts, logger FROM {} PREWHERE {lookup} ORDER BY ts {order} LIMIT {limit}",
            crate::aggregates::CONTEXT
        ))
    }
}

/// `key op bound` on a context number.
fn range_condition(r: &FieldRange) -> String {
    format!(
        "arrayExists((k, v) -> k = {} AND substring(v, 1, 2) = 'n:' AND toFloat64OrZero(substring(v, 3)) {} {:?}, \
         context_keys, context_values)",
        quote(&r.key),
        r.op.symbol(),
        r.bound
    )
}

/// The conditions of `filter`, ANDed (`1` when none): its `key=value` pairs
/// on the arrays alone (their side-table narrowing is [`SideLookup`]'s),
/// those of its query also through `side_table` (see [`field_condition`]).
pub(crate) fn conditions(filter: &RecordFilter, side_table: Option<&str>) -> String {
    conditions_nested(filter, side_table, false)
}

fn conditions_nested(filter: &RecordFilter, side_table: Option<&str>, nested: bool) -> String {
    let mut parts = Vec::new();
    if let Some(logger) = &filter.logger {
        parts.push(logger_condition(logger));
    }
    if let Some(min) = filter.min_level {
        parts.push(format!("level >= {}", severity(min)));
    }
    if !filter.levels.is_empty() {
        let levels: Vec<String> = filter.levels.iter().map(|l| severity(*l).to_string()).collect();
        parts.push(format!("level IN ({})", levels.join(", ")));
    }
    if let Some(since) = filter.since {
        parts.push(format!("time >= {} AND ts >= {}", datetime(since), since.0));
    }
    if let Some(until) = filter.until {
        parts.push(format!("time <= {} AND ts < {}", datetime(until), until.0));
    }
    for (col, value) in [("app", &filter.app), ("host", &filter.host), ("thread", &filter.thread)] {
        if let Some(value) = value {
            parts.push(format!("{col} = {}", quote(value)));
        }
    }
    if let Some(pid) = filter.pid {
        parts.push(format!("pid = {pid}"));
    }
    if let Some(text) = &filter.text {
        parts.push(format!("positionCaseInsensitiveUTF8(message, {}) > 0", quote(text)));
    }
    for field in &filter.fields {
        parts.push(field_condition(&field.key, &field.value, side_table.filter(|_| nested)));
    }
    for range in &filter.ranges {
        parts.push(range_condition(range));
    }
    if let Some(site) = &filter.site {
        parts.push(format!("file = {}", quote(&site.file)));
        if let Some(line) = site.line {
            parts.push(format!("line = {line}"));
        }
    }
    if let Some(q) = &filter.query {
        parts.push(q.to_sql(&mut |f| conditions_nested(f, side_table, true), "0"));
    }
    if parts.is_empty() {
        "1".to_owned()
    } else {
        parts.join(" AND ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_enter_quoted() {
        let mut f = RecordFilter::default();
        f.logger = Some("a'b::".parse().unwrap());
        f.text = Some(r"it's \ 100%".into());
        let sql = conditions(&f, Some("db"));
        assert!(sql.contains(r"logger = 'a\'b'"), "{sql}");
        assert!(sql.contains(r"logger >= 'a\'b::' AND logger < 'a\'b:;'"), "{sql}");
        assert!(sql.contains(r"positionCaseInsensitiveUTF8(message, 'it\'s \\ 100%')"), "{sql}");
    }

    #[test]
    fn a_value_matches_each_typed_form() {
        let sql = field_condition("k", &FieldValue::Text("7".into()), None);
        assert!(sql.contains("v = 's:7' OR v = 'n:7'"), "{sql}");
        assert!(!sql.contains("log_context"), "{sql}");
        assert!(field_condition("k", &FieldValue::Text("true".into()), None).contains("v = 'b:true'"));
        assert!(field_condition("k", &FieldValue::Text("2.5".into()), None).contains("= 2.5)"));
    }

    #[test]
    fn the_side_table_narrows_by_the_same_forms_as_one_range() {
        let sql = field_condition("k", &FieldValue::Text("7".into()), Some("db"));
        assert!(
            sql.contains("ts IN (SELECT ts FROM db.log_context_pairs_local PREWHERE key = 'k' AND (value IN ('7')))"),
            "{sql}"
        );
        assert!(sql.contains("arrayExists((k, v) -> k = 'k' AND (v = 's:7' OR v = 'n:7')"), "{sql}");
        let sql = field_condition("k", &FieldValue::Text("007".into()), Some("db"));
        assert!(sql.contains("(value IN ('007', '7'))"), "{sql}");
        let sql = field_condition("k", &FieldValue::Text("true".into()), Some("db"));
        assert!(sql.contains("(value IN ('true'))"), "{sql}");
        let sql = field_condition("k", &FieldValue::Text("2.5".into()), Some("db"));
        assert!(sql.contains("(value IN ('2.5') OR toFloat64OrZero(value) = 2.5)"), "{sql}");
        assert_eq!(field_condition("k", &FieldValue::Int(3), Some("db")).matches("value IN ('3')").count(), 1);
    }
}
