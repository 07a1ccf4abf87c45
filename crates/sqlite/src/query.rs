//! Building the SQL of a [`RecordFilter`]: one `WHERE` clause and its bound
//! parameters. Every value is a parameter; only validated identifiers (a
//! context key matching `[A-Za-z0-9_]{1,64}`) are inlined, so the text of
//! a condition can equal the expression of an index on it.

use std::collections::BTreeMap;

use log_panel_core::severity;
use log_panel_core::store::{FieldMatch, FieldRange, FieldValue, LoggerMatch, RangeOp, RecordFilter};
use rusqlite::types::Value;

use crate::search;

/// Whether a context key may be inlined in SQL and indexed:
/// `[A-Za-z0-9_]{1,64}`.
pub fn valid_index_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The value of context key `key` (a [`valid_index_key`]) in SQL.
fn context_expr(key: &str) -> String {
    format!("json_extract(context, '$.{key}')")
}

/// A `WHERE` clause under construction.
#[derive(Default)]
pub(crate) struct Where {
    terms: Vec<String>,
    pub(crate) params: Vec<Value>,
    /// Search the message by scan only (a common term, see [`search::COMMON_MATCHES`]).
    pub(crate) scan_text: bool,
    /// The context keys of the side table and their marks (see
    /// [`context_index`](crate::context_index)); other keys are scanned.
    pub(crate) key_marks: BTreeMap<String, i64>,
}

impl Where {
    /// Binds `v`; returns its placeholder.
    pub(crate) fn bind(&mut self, v: impl Into<Value>) -> String {
        self.params.push(v.into());
        format!("?{}", self.params.len())
    }

    /// Adds a condition (ANDed).
    pub(crate) fn and(&mut self, term: String) {
        self.terms.push(term);
    }

    /// ` WHERE …`, or nothing when no condition was added.
    pub(crate) fn sql(&self) -> String {
        self.conditions().map_or_else(String::new, |c| format!(" WHERE {c}"))
    }

    /// The conditions ANDed, or `None` when none was added.
    pub(crate) fn conditions(&self) -> Option<String> {
        (!self.terms.is_empty()).then(|| self.terms.join(" AND "))
    }

    /// The conditions of `filter`, its text searched by scan alone when
    /// `scan_text`, its context keys looked up with `key_marks`.
    pub(crate) fn planned(filter: &RecordFilter, scan_text: bool, key_marks: BTreeMap<String, i64>) -> Where {
        let mut w = Where { scan_text, key_marks, ..Where::default() };
        w.filter(filter);
        w
    }

    /// Adds the conditions of `filter`.
    pub(crate) fn filter(&mut self, f: &RecordFilter) {
        if let Some(logger) = &f.logger {
            self.logger(logger);
        }
        if let Some(min) = f.min_level {
            let p = self.bind(i64::from(severity(min)));
            self.and(format!("level >= {p}"));
        }
        if !f.levels.is_empty() {
            let ps: Vec<String> = f.levels.iter().map(|l| self.bind(i64::from(severity(*l)))).collect();
            self.and(format!("level IN ({})", ps.join(", ")));
        }
        if let Some(since) = f.since {
            let p = self.bind(since.to_rfc3339());
            self.and(format!("ts >= {p}"));
        }
        if let Some(until) = f.until {
            let p = self.bind(until.to_rfc3339());
            self.and(format!("ts < {p}"));
        }
        if let Some(app) = &f.app {
            let p = self.bind(app.clone());
            self.and(format!("app = {p}"));
        }
        if let Some(host) = &f.host {
            let p = self.bind(host.clone());
            self.and(format!("host = {p}"));
        }
        if let Some(pid) = f.pid {
            let p = self.bind(i64::from(pid));
            self.and(format!("pid = {p}"));
        }
        if let Some(text) = &f.text {
            self.text(text);
        }
        for m in &f.fields {
            self.field(m);
        }
        for r in &f.ranges {
            self.range(r);
        }
        if let Some(site) = &f.site {
            let file = self.bind(site.file.clone());
            self.and(format!("file = {file}"));
            if let Some(line) = site.line {
                let line = self.bind(i64::from(line));
                self.and(format!("line = {line}"));
            }
        }
        if let Some(q) = &f.query {
            let c = crate::store::language::condition(self, q);
            self.and(c);
        }
    }

    /// A logger condition; a tree is a range on the name, so the
    /// `(logger, ts)` index serves it (`x::` ≤ name < `x:;`, `;` being `:` + 1).
    pub(crate) fn logger(&mut self, m: &LoggerMatch) {
        match m {
            LoggerMatch::Exact(name) => {
                let p = self.bind(name.clone());
                self.and(format!("logger = {p}"));
            }
            LoggerMatch::Tree(root) => {
                let exact = self.bind(root.clone());
                let lo = self.bind(format!("{root}::"));
                let hi = self.bind(format!("{root}:;"));
                self.and(format!("(logger = {exact} OR (logger >= {lo} AND logger < {hi}))"));
            }
        }
    }

    /// Message search (see [`search`]): the index below its mark, a scan above it.
    fn text(&mut self, text: &str) {
        let needle = self.bind(search::fold(text));
        let scan = format!("{}(message, {needle})", search::CONTAINS_FN);
        if search::indexable(text) && !self.scan_text {
            let q = self.bind(search::fts_string(text));
            self.and(format!(
                "id IN (SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH {q}
                          AND rowid <= (SELECT indexed_id FROM log_fts_state)
                        UNION ALL
                        SELECT id FROM log_records WHERE id > (SELECT indexed_id FROM log_fts_state)
                          AND {scan})"
            ));
        } else {
            self.and(scan);
        }
    }

    /// `key = value`, typed as [`FieldValue`] says. An indexed key is looked
    /// up in the side table up to its mark and scanned above it (complete at
    /// any lag); the exact typed condition is then checked on the record.
    /// Other keys that could be indexed are checked with `json_extract`, the
    /// rest through `json_each`.
    pub(crate) fn field(&mut self, m: &FieldMatch) {
        // (value, JSON type it must have) pairs; a stored boolean reads as 1 / 0.
        let mut candidates: Vec<(Value, &'static str)> = Vec::new();
        if let Some(t) = m.value.as_text() {
            candidates.push((Value::Text(t.to_owned()), "text"));
        }
        if let Some(i) = m.value.as_int() {
            candidates.push((Value::Integer(i), "integer"));
        }
        if let Some(f) = m.value.as_float() {
            candidates.push((Value::Real(f), "real"));
        }
        if let Some(b) = m.value.as_bool() {
            candidates.push((Value::Integer(i64::from(b)), if b { "true" } else { "false" }));
        }
        if matches!(m.value, FieldValue::Int(_)) {
            candidates.retain(|(_, t)| *t == "integer");
        }
        let types: Vec<String> = candidates.iter().map(|(_, t)| format!("'{t}'")).collect();
        let values: Vec<String> = candidates.into_iter().map(|(v, _)| self.bind(v)).collect();
        let (values, types) = (values.join(", "), types.join(", "));
        if valid_index_key(&m.key) {
            let e = context_expr(&m.key);
            let path = format!("'$.{}'", m.key);
            if let Some(&mark) = self.key_marks.get(&m.key) {
                let (k, mark) = (self.bind(m.key.clone()), self.bind(mark));
                self.and(format!(
                    "id IN (SELECT id FROM log_context_index WHERE key = {k} AND value IN ({values}) AND id <= {mark}
                            UNION ALL
                            SELECT id FROM log_records WHERE id > {mark} AND {e} IN ({values}))"
                ));
            }
            self.and(format!("{e} IN ({values}) AND json_type(context, {path}) IN ({types})"));
        } else {
            let k = self.bind(m.key.clone());
            self.and(format!(
                "EXISTS (SELECT 1 FROM json_each(log_records.context) AS j
                         WHERE j.key = {k} AND j.value IN ({values}) AND j.type IN ({types}))"
            ));
        }
    }

    /// `key op bound` on a JSON number. An indexed key is looked up as a
    /// range of the side table's `value` up to its mark and scanned above
    /// it; in SQLite's order every number sorts before every text, so
    /// `value < ''` keeps a lower bound off the text values. The stored JSON
    /// type is then checked on the record (a boolean is 1 / 0 in the side table).
    pub(crate) fn range(&mut self, r: &FieldRange) {
        let op = r.op.symbol();
        let bound = self.bind(r.bound);
        if valid_index_key(&r.key) {
            let e = context_expr(&r.key);
            let path = format!("'$.{}'", r.key);
            if let Some(&mark) = self.key_marks.get(&r.key) {
                let (k, mark) = (self.bind(r.key.clone()), self.bind(mark));
                let numbers_only = match r.op {
                    RangeOp::Gt | RangeOp::Ge => " AND value < ''",
                    RangeOp::Lt | RangeOp::Le => "",
                };
                self.and(format!(
                    "id IN (SELECT id FROM log_context_index WHERE key = {k} AND value {op} {bound}{numbers_only} AND id <= {mark}
                            UNION ALL
                            SELECT id FROM log_records WHERE id > {mark} AND {e} {op} {bound})"
                ));
            }
            self.and(format!("{e} {op} {bound} AND json_type(context, {path}) IN ('integer', 'real')"));
        } else {
            let k = self.bind(r.key.clone());
            self.and(format!(
                "EXISTS (SELECT 1 FROM json_each(log_records.context) AS j
                         WHERE j.key = {k} AND j.type IN ('integer', 'real') AND j.value {op} {bound})"
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use rusqlite::params_from_iter;

    /// The `EXPLAIN QUERY PLAN` of a first page of `f`, its details joined by `; `.
    pub(crate) fn plan(conn: &rusqlite::Connection, f: &RecordFilter) -> String {
        let w = Where::planned(f, false, crate::context_index::marks(conn).unwrap());
        let sql =
            format!("EXPLAIN QUERY PLAN SELECT id FROM log_records{} ORDER BY ts DESC, id DESC LIMIT 50", w.sql());
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn the_planner_uses_the_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let conn = sink.connection();
        crate::search::register(conn).unwrap();
        let mut f = RecordFilter::default();
        f.fields.push("request_id=r-42".parse().unwrap());
        let p = plan(conn, &f);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY"), "{p}");
        assert!(p.contains("SEARCH log_records USING INTEGER PRIMARY KEY"), "{p}");
        // An unindexed key cannot use it (and says so by scanning).
        let mut f = RecordFilter::default();
        f.fields.push("user_id=7".parse().unwrap());
        assert!(!plan(conn, &f).contains("log_context_index"));
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Tree("billing".into()));
        let p = plan(conn, &f);
        assert!(p.contains("log_records_logger_ts"), "{p}");
        // One call site: its logger's index bounds the rows; file and line are checked on them.
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Exact("billing".into()));
        f.site = Some("src/billing.rs:12".parse().unwrap());
        let p = plan(conn, &f);
        assert!(p.contains("log_records_logger_ts"), "{p}");
        let mut f = RecordFilter::default();
        f.text = Some("payment".into());
        let p = plan(conn, &f);
        assert!(p.contains("VIRTUAL TABLE INDEX") && p.contains("log_records_fts"), "{p}");
    }

    #[test]
    fn a_range_on_an_indexed_key_is_a_range_of_the_side_table() {
        let dir = tempfile::tempdir().unwrap();
        let sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let conn = sink.connection();
        crate::context_index::add_key(conn, "status").unwrap();
        let mut f = RecordFilter::default();
        f.ranges.push(FieldRange::new("status", RangeOp::Ge, 500.0).unwrap());
        let p = plan(conn, &f);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY (key=? AND value>? AND value<?)"), "{p}");
        f.ranges = vec![FieldRange::new("status", RangeOp::Lt, 200.0).unwrap()];
        let p = plan(conn, &f);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY (key=? AND value<?)"), "{p}");
    }

    #[test]
    fn index_keys_are_validated() {
        assert!(valid_index_key("request_id") && valid_index_key(&"a".repeat(64)));
        for bad in ["", "a-b", "a'b", "a.b", "ключ", &"a".repeat(65)] {
            assert!(!valid_index_key(bad), "{bad}");
        }
    }
}
