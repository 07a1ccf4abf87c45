//! Building the SQL of a [`RecordFilter`]: one `WHERE` clause and its bound
//! parameters. Every value is a parameter; only validated identifiers (a
//! context key matching `[A-Za-z0-9_]{1,64}`) are inlined, so the text of
//! a condition can equal the expression of an index on it.

use log_panel_core::{severity, Timestamp};
use log_panel_query::{FieldMatch, FieldRange, FieldValue, LoggerMatch, RangeOp, RecordFilter};
use rusqlite::types::Value;

use std::collections::{BTreeMap, BTreeSet};

use log_panel_query::Expr;
use rusqlite::Connection;

use crate::store::{tail_parts, TailMatches, TailPart};
use crate::upkeep::context_index::{self, all_mark, stored_text, valid_index_key};
use crate::upkeep::search;

/// The value of context key `key` (a [`valid_index_key`]) in SQL.
fn context_expr(key: &str) -> String {
    format!("json_extract(context, '$.{key}')")
}

/// The severity of `WARN`: the partial indexes `log_records_warn_ts` and
/// `log_records_warn_logger_ts` hold the records at or above it.
pub(crate) const WARN: i64 = 30;

/// How a filter's search term is read, as `SqliteStore::plan_with` chose.
#[derive(Clone, Default, Debug)]
pub(crate) struct TextPlan {
    /// By scan only (a common term).
    pub(crate) scan: bool,
    /// The search index query ([`search::lookup_query`]: the term's rarest
    /// trigrams); `None`: all of them ([`search::fts_query`]).
    pub(crate) query: Option<String>,
    /// The index's candidates are read from this id on only; the records of
    /// the filter's time span below it are walked through the time index,
    /// whose entries hold the id, so only those below it are read and
    /// tested (a page whose term's candidates are older than its span).
    /// Ignored without a `since`: the walk would have no start.
    pub(crate) floor: Option<i64>,
    /// The index's candidates are read among these ids only (inclusive
    /// bounds): a cover of the ids of the filter's time span (the zones the
    /// span meets, `by_id::span_runs`), so a count reads the span's
    /// candidates, not the table's. `None`: all of them.
    pub(crate) within: Option<(i64, i64)>,
    /// The unindexed tail's matches as the store remembers them
    /// ([`TailMatches`]): tested by id, and only the rows above them
    /// scanned. `None`: the whole tail is scanned.
    pub(crate) tail: Option<TailMatches>,
}

impl TextPlan {
    /// The search term read by scan only.
    pub(crate) fn scan() -> TextPlan {
        TextPlan { scan: true, ..TextPlan::default() }
    }
}

/// A `WHERE` clause under construction.
#[derive(Default)]
pub(crate) struct Sql {
    terms: Vec<String>,
    pub(crate) params: Vec<Value>,
    /// How the message search is read (see `SqliteStore::plan_with`).
    pub(crate) text_plan: TextPlan,
    /// The side table's marks and which key conditions are common (see
    /// [`context_index`](crate::upkeep::context_index)).
    pub(crate) key_marks: Marks,
    /// Key conditions added so far (their index in [`KeyCondition::all`]).
    key_conditions: usize,
    /// Only rows with a larger id are wanted (a tail's next rows): the scan
    /// side of an index lookup starts there, not at the index's mark, so a
    /// tail polled while the index lags tests only its new rows.
    above: Option<i64>,
    /// A condition is looked up in an index of its own (the search index or
    /// the context side table), so a count visits its matches, not every
    /// row of the time span.
    pub(crate) indexed: bool,
    /// A logger tree is its stored names ([`Sql::logger`]): for a read that
    /// visits every match, never for a page.
    tree_names: bool,
}

impl Sql {
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

    /// The conditions ANDed (`1` when none was added), taken out: the
    /// parameters stay, so the next conditions of the same statement bind after them.
    pub(crate) fn take_conditions(&mut self) -> String {
        let c = self.conditions().unwrap_or_else(|| "1".to_owned());
        self.terms.clear();
        c
    }

    /// The conditions of `filter`, its text searched as `text_plan` says,
    /// its context keys looked up under `key_marks`.
    pub(crate) fn planned(filter: &RecordFilter, text_plan: TextPlan, key_marks: Marks) -> Sql {
        Sql::planned_above(filter, text_plan, key_marks, None)
    }

    /// [`Sql::planned`] for the rows with an id above `above` only (the
    /// caller adds `id > above` itself).
    pub(crate) fn planned_above(
        filter: &RecordFilter,
        text_plan: TextPlan,
        key_marks: Marks,
        above: Option<i64>,
    ) -> Sql {
        let mut w = Sql { text_plan, key_marks, above, ..Sql::default() };
        w.filter(filter);
        w
    }

    /// [`Sql::planned`] for a read that visits every match (a count): a
    /// logger tree is the names stored under it ([`Sql::logger`]).
    pub(crate) fn planned_counting(filter: &RecordFilter, text_plan: TextPlan, key_marks: Marks) -> Sql {
        let mut w = Sql { text_plan, key_marks, tree_names: true, ..Sql::default() };
        w.filter(filter);
        w
    }

    /// The id the scan side of an index lookup starts above: the index's
    /// `mark`, or the rows wanted when they start later.
    fn scan_from(&mut self, mark: String) -> String {
        match self.above {
            Some(above) => {
                let p = self.bind(above);
                format!("max({mark}, {p})")
            }
            None => mark,
        }
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
        if f.keeps_warnings_only() {
            // Inlined, as the partial indexes say it: SQLite uses a partial
            // index only for a query term identical to its `WHERE`.
            self.and(format!("level >= {WARN}"));
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
        if let Some(thread) = &f.thread {
            let p = self.bind(thread.clone());
            self.and(format!("thread = {p}"));
        }
        if let Some(text) = &f.text {
            self.text(text, f.since, f.until);
        }
        for c in KeyCondition::all(f) {
            self.key_condition(c);
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
            let c = self.expression(q);
            self.and(c);
        }
    }

    /// A logger condition; a tree is a range on the name, so the
    /// `(logger, ts)` index serves it (`x::` ≤ name < `x:;`, `;` being `:` + 1).
    ///
    /// For a count ([`Sql::planned_counting`]) a tree is the names stored
    /// under it in `log_logger_stats` (the same snapshot as the rows, which
    /// the sink updates in each batch's transaction): SQLite walks each
    /// name's `(logger, ts)` entries within the time bounds, where its plan
    /// of the OR walked the children's range with no time bound (the
    /// histogram of `api::`'s warnings of 7 days with a common word and
    /// tenant, 20 700 rows: 158 → 71 ms at load 6, docs/performance.md). A
    /// page keeps the range: ordered by time, SQLite would sort every row
    /// of the names' walks.
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
                let range = format!("logger = {exact} OR (logger >= {lo} AND logger < {hi})");
                if self.tree_names {
                    self.and(format!("logger IN (SELECT logger FROM log_logger_stats WHERE {range})"));
                } else {
                    self.and(format!("({range})"));
                }
            }
        }
    }

    /// Message search (see [`search`]): the index below its mark, a scan
    /// above it; with a floor ([`TextPlan::floor`]) and a start `since`, the
    /// index from the floor on and the time index of `[since, until)` below it.
    fn text(&mut self, text: &str, since: Option<Timestamp>, until: Option<Timestamp>) {
        let needle = self.bind(search::fold(text));
        let scan = format!("{}(message, {needle})", search::CONTAINS_FN);
        if search::indexable(text) && !self.text_plan.scan {
            self.indexed = true;
            let query = self.text_plan.query.clone().unwrap_or_else(|| search::fts_query(text));
            let q = self.bind(query);
            let from = self.scan_from("(SELECT indexed_id FROM log_fts_state)".to_owned());
            // Below the floor, the span's records by time: every id below
            // it is there, whatever the order of ids and times (a spooled
            // batch's old times under new ids), so the rows are the same
            // for any floor; the time index gives each entry's id, so only
            // the few below the floor are read to test.
            let (above_floor, below_floor, below_floor_tested) = match (self.text_plan.floor, since) {
                (Some(floor), Some(since)) => {
                    let floor = self.bind(floor);
                    let since = self.bind(since.to_rfc3339());
                    let until = until.map_or_else(String::new, |u| {
                        let u = self.bind(u.to_rfc3339());
                        format!(" AND ts < {u}")
                    });
                    (
                        format!(" AND log_records_fts.rowid >= {floor}"),
                        format!(
                            "SELECT id FROM log_records INDEXED BY log_records_ts
                             WHERE ts >= {since}{until} AND id < {floor} AND {scan}
                             UNION ALL\n"
                        ),
                        format!(" OR id < {floor}"),
                    )
                }
                _ => (String::new(), String::new(), String::new()),
            };
            // The tail: its remembered matches by id and the rows the memory does not cover.
            let tail = self.tail_arms(&from, &scan, self.text_plan.tail.clone());
            let within = self.text_plan.within.map_or_else(String::new, |(lo, hi)| {
                let (lo, hi) = (self.bind(lo), self.bind(hi));
                format!(" AND log_records_fts.rowid BETWEEN {lo} AND {hi}")
            });
            // The index gives candidates (its trigrams, not their order):
            // each is checked on its message by the query that reads its
            // row for the other conditions, so a candidate's row is read
            // once. Checking them in the list (a join on the records) read
            // every candidate's row twice, the second time for its `ts` and
            // the page's sort (`job 12` over 90 days, 24 393 candidates:
            // ~12 ms of ~48, docs/performance.md, session 37). The rows the
            // list's other arms tested (the unindexed tail, the span below
            // the floor) are not tested again: each row is tested once.
            self.and(format!(
                "id IN (SELECT log_records_fts.rowid FROM log_records_fts
                        WHERE log_records_fts MATCH {q}
                          AND log_records_fts.rowid <= (SELECT indexed_id FROM log_fts_state){above_floor}{within}
                        UNION ALL
                        {below_floor}{tail})"
            ));
            // A `CASE`, not an `OR`: SQLite orders an `OR`'s operands by
            // its own cost estimate and ran the function before the
            // comparison with the mark's subquery.
            self.and(format!("CASE WHEN id > {from}{below_floor_tested} THEN 1 ELSE {scan} END"));
        } else {
            self.and(scan);
        }
    }

    /// The ids above an index's mark (`from`) that pass `test`, as arms of
    /// a `UNION ALL`: with the tail's remembered matches, those tested by
    /// id, then the rows the memory does not cover: those below its mark
    /// (only when this statement's mark is lower, an index rebuilt since)
    /// and those written after it; without, every row above `from`.
    fn tail_arms(&mut self, from: &str, test: &str, tail: Option<TailMatches>) -> String {
        let arms: Vec<String> = tail_parts(tail.as_ref())
            .into_iter()
            .map(|part| match part {
                // Ids at or below `from` are the index's too: `IN` takes each once.
                TailPart::Listed(t) => {
                    let list = self.bind(t.list());
                    format!("SELECT id FROM log_records WHERE id IN (SELECT value FROM json_each({list})) AND {test}")
                }
                TailPart::UpTo(mark) => {
                    let mark = self.bind(mark);
                    format!("SELECT id FROM log_records WHERE id > {from} AND id <= {mark} AND {test}")
                }
                TailPart::Above(Some(upto)) => {
                    let upto = self.bind(upto);
                    format!("SELECT id FROM log_records WHERE id > max({from}, {upto}) AND {test}")
                }
                TailPart::Above(None) => format!("SELECT id FROM log_records WHERE id > {from} AND {test}"),
            })
            .collect();
        arms.join("\n                     UNION ALL\n                     ")
    }

    /// `key = value` ([`KeyCondition::Field`]) or `key op number`
    /// ([`KeyCondition::Range`]): looked up in the side table (every
    /// top-level key, see [`context_index`](crate::upkeep::context_index)) up to the
    /// key's mark and scanned above it, so complete at any lag; then the
    /// exact typed condition is checked on the record. A common condition
    /// (see [`Marks::read`]) is checked on the records alone,
    /// which the time or logger order meets within a few rows.
    fn key_condition(&mut self, c: KeyCondition<'_>) {
        let check = c.record_check(&mut |v| self.bind(v));
        if !self.key_marks.common.contains(&self.key_conditions) {
            self.indexed = true;
            let apart = self.key_marks.booleans_apart;
            let side = c.side_condition(apart, &mut |v| self.bind(v));
            let keys = c.side_keys(&mut |v| self.bind(v));
            let mark = self.bind(self.key_marks.of(c.key()));
            let from = self.scan_from(mark.clone());
            let parts = if self.key_marks.in_span.contains(&self.key_conditions) {
                let listed = self.bind(self.key_marks.span_parts.clone());
                context_index::listed_parts(&listed)
            } else {
                context_index::parts(&mark)
            };
            let tail = self.tail_arms(&from, &check, self.key_marks.tails.get(&self.key_conditions).cloned());
            self.and(format!(
                "id IN (SELECT log_context_index.id FROM {parts} AS p
                          CROSS JOIN log_context_index ON log_context_index.key {keys} AND log_context_index.part = p.n
                        WHERE {side} AND log_context_index.id <= {mark}
                        UNION ALL
                        {tail})"
            ));
        }
        self.key_conditions += 1;
        self.and(check);
    }
}

/// One condition on a context key, as SQL: on the side table's `value`,
/// and on the record itself. Values are bound through `bind`, which returns
/// the placeholder.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyCondition<'a> {
    /// `key = value`.
    Field(&'a FieldMatch),
    /// `key op number`.
    Range(&'a FieldRange),
}

impl KeyCondition<'_> {
    /// Every condition of `f` on a context key, fields first.
    pub(crate) fn all(f: &RecordFilter) -> impl Iterator<Item = KeyCondition<'_>> {
        f.fields.iter().map(KeyCondition::Field).chain(f.ranges.iter().map(KeyCondition::Range))
    }

    /// The key.
    pub(crate) fn key(&self) -> &str {
        match self {
            KeyCondition::Field(m) => &m.key,
            KeyCondition::Range(r) => &r.key,
        }
    }

    /// The (value, JSON type it must have) pairs a field condition accepts;
    /// a stored boolean reads as 1 / 0.
    fn candidates(m: &FieldMatch) -> Vec<(Value, &'static str)> {
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
        candidates
    }

    /// The side table's keys a value of `key` is looked up under: a real
    /// under the key's BLOB form, where schema 12 keeps reals
    /// ([`context_index::real_key`]), and under the key, where schema 11
    /// kept them; any other value under the key alone. So a lookup that
    /// accepts no real never meets one.
    fn lookup_keys(key: &str, v: &Value) -> impl Iterator<Item = Value> {
        let real = matches!(v, Value::Real(_)).then(|| context_index::real_key(key));
        std::iter::once(Value::Text(key.to_owned())).chain(real)
    }

    /// The condition on the side table's `key`: the key, and every other
    /// key [`lookup_keys`](Self::lookup_keys) gives the accepted values (a
    /// range accepts reals).
    pub(crate) fn side_keys(&self, bind: &mut dyn FnMut(Value) -> String) -> String {
        let values = match self {
            // Only a real's key form differs, whatever a boolean is stored as.
            KeyCondition::Field(m) => Self::side_values(m, true),
            KeyCondition::Range(r) => vec![Value::Real(r.bound)],
        };
        let mut keys = vec![Value::Text(self.key().to_owned())];
        for k in values.iter().flat_map(|v| Self::lookup_keys(self.key(), v)) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let keys: Vec<String> = keys.into_iter().map(bind).collect();
        match keys.as_slice() {
            [k] => format!("= {k}"),
            _ => format!("IN ({})", keys.join(", ")),
        }
    }

    /// The side table's (`key`, `value`) pairs a field condition looks up:
    /// each of [`side_values`](Self::side_values) under each of its
    /// [`lookup_keys`](Self::lookup_keys).
    fn side_lookups(m: &FieldMatch, booleans_apart: bool) -> Vec<(Value, Value)> {
        Self::side_values(m, booleans_apart)
            .into_iter()
            .flat_map(|v| Self::lookup_keys(&m.key, &v).map(move |k| (k, v.clone())).collect::<Vec<_>>())
            .collect()
    }

    /// The condition on the side table's `value`: the accepted values (a
    /// long text as its stored prefix, and whole, as version 4 stored it),
    /// or the range. Every number sorts before every text in SQLite, so
    /// `value < ''` keeps a lower bound off the texts (and off the booleans'
    /// BLOBs, after every text). `booleans_apart` as for
    /// [`side_values`](Self::side_values).
    pub(crate) fn side_condition(&self, booleans_apart: bool, bind: &mut dyn FnMut(Value) -> String) -> String {
        match self {
            KeyCondition::Field(m) => {
                let values: Vec<String> = Self::side_values(m, booleans_apart).into_iter().map(bind).collect();
                format!("value IN ({})", values.join(", "))
            }
            KeyCondition::Range(r) => {
                let (op, bound) = (r.op.symbol(), bind(Value::Real(r.bound)));
                match r.op {
                    RangeOp::Gt | RangeOp::Ge => format!("value {op} {bound} AND value < ''"),
                    RangeOp::Lt | RangeOp::Le => format!("value {op} {bound}"),
                }
            }
        }
    }

    /// The side table's `value`s a field condition accepts: each accepted
    /// value, a long text also as its stored prefix (before it, as version
    /// 4 stored it whole), a boolean as schema 13 stores it
    /// ([`context_index::bool_value`]) and, unless the file is known to
    /// (`booleans_apart`), as 1 / 0 too, as earlier versions did.
    fn side_values(m: &FieldMatch, booleans_apart: bool) -> Vec<Value> {
        let mut values = Vec::new();
        for (v, t) in Self::candidates(m) {
            match (&v, t) {
                (Value::Text(text), _) => {
                    if let Some(prefix) = stored_text(text) {
                        values.push(Value::Text(prefix));
                    }
                }
                (Value::Integer(_), "true" | "false") => {
                    values.push(context_index::bool_value(t == "true"));
                    if booleans_apart {
                        continue;
                    }
                }
                _ => {}
            }
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values
    }

    /// A text every record matching `m` holds in its context's JSON text,
    /// or `None` when no value form has one (a float may be written `1.5`,
    /// `15e-1`, `1.50`). Each accepted value's text that JSON writers leave
    /// unescaped: an integer's digits (`-0` holds `0` too), a
    /// boolean's word, and a string's longest run of [`plain`] characters.
    /// The one shortest of these, if every other form contains it.
    fn needle(m: &FieldMatch) -> Option<String> {
        let mut forms = Vec::new();
        for (v, t) in Self::candidates(m) {
            forms.push(match (v, t) {
                (Value::Text(s), _) => longest_plain_run(&s)?,
                (Value::Integer(_), "true" | "false") => t.to_owned(),
                (Value::Integer(i), _) => i.to_string(),
                _ => return None,
            });
        }
        let shortest = forms.iter().min_by_key(|f| f.len())?;
        forms.iter().all(|f| f.contains(shortest.as_str())).then(|| shortest.clone())
    }

    /// The exact typed condition on a row of `log_records`: with
    /// `json_extract` for a key that can be inlined in a path, through
    /// `json_each` for any other (spaces, dots, quotes). A field condition
    /// first tests its [`needle`](Self::needle) with `instr`, which costs a
    /// fraction of parsing the JSON on the rows that lack it (most of an
    /// unindexed tail).
    pub(crate) fn record_check(&self, bind: &mut dyn FnMut(Value) -> String) -> String {
        let pre = match self {
            KeyCondition::Field(m) => {
                Self::needle(m).map(|n| format!("instr(log_records.context, {}) > 0 AND ", bind(Value::Text(n))))
            }
            KeyCondition::Range(_) => None,
        }
        .unwrap_or_default();
        format!("{pre}{}", self.typed_check(bind))
    }

    /// [`record_check`](Self::record_check) without the needle.
    fn typed_check(&self, bind: &mut dyn FnMut(Value) -> String) -> String {
        let (test, types) = match self {
            KeyCondition::Field(m) => {
                let candidates = Self::candidates(m);
                let types: Vec<String> = candidates.iter().map(|(_, t)| format!("'{t}'")).collect();
                let values: Vec<String> = candidates.into_iter().map(|(v, _)| bind(v)).collect();
                (format!("IN ({})", values.join(", ")), types.join(", "))
            }
            KeyCondition::Range(r) => {
                (format!("{} {}", r.op.symbol(), bind(Value::Real(r.bound))), "'integer', 'real'".to_owned())
            }
        };
        let key = self.key();
        if valid_index_key(key) {
            let e = context_expr(key);
            format!("{e} {test} AND json_type(context, '$.{key}') IN ({types})")
        } else {
            let k = bind(Value::Text(key.to_owned()));
            format!(
                "EXISTS (SELECT 1 FROM json_each(log_records.context) AS j
                         WHERE j.key = {k} AND j.value {test} AND j.type IN ({types}))"
            )
        }
    }
}

/// Whether JSON writers leave `c` unescaped in a string: printable ASCII
/// but for what some of them escape (`"` `\` `/`, and `<` `>` `&` `'` `+`
/// `` ` ``, which HTML-safe encoders escape by default). Non-ASCII is left
/// out, as writers with ASCII-only output write it as `\u` escapes. (JSON
/// allows `\u`-escaping any character and SQLite also reads JSON5, but the
/// sink's encoder and serde_json escape only quotes, backslashes and
/// controls, and no usual writer escapes the characters kept here.)
fn plain(c: char) -> bool {
    matches!(c, ' '..='~') && !matches!(c, '"' | '\\' | '/' | '<' | '>' | '&' | '\'' | '+' | '`')
}

/// A longest run of [`plain`] characters of `s`, or `None` when it has none.
fn longest_plain_run(s: &str) -> Option<String> {
    s.split(|c| !plain(c)).max_by_key(|run| run.len()).filter(|run| !run.is_empty()).map(str::to_owned)
}

impl Sql {
    /// The SQL condition of a query's expression ([`RecordFilter::query`],
    /// [`Expr::to_sql`]), its values bound here: each leaf is the conditions
    /// of its one-condition filter built by [`Sql::filter`] on the shared
    /// parameters and context-key marks, so a leaf uses the index the same
    /// condition uses outside an expression (a word the message search index,
    /// an indexed context key its side table, a logger its `(logger, ts)` range).
    fn expression(&mut self, e: &Expr) -> String {
        e.to_sql(
            &mut |f| {
                // A leaf's key conditions count from 0 again: the filter's
                // remembered tails are not theirs.
                let mut sub = Sql {
                    params: std::mem::take(&mut self.params),
                    key_marks: Marks { tails: BTreeMap::new(), ..self.key_marks.clone() },
                    ..Sql::default()
                };
                sub.filter(f);
                self.params = std::mem::take(&mut sub.params);
                sub.conditions().unwrap_or_else(|| "1".to_owned())
            },
            "0",
        )
    }
}

/// A record holding at least this many entries for a lookup makes it
/// common: a newest-first walk meets a page of it within a few rows, while
/// reading its every id out of the side table would cost O(matches).
pub(crate) const COMMON_MATCHES: i64 = 1_000;

/// Every registered key with its own mark, by key. Keys that could not be
/// inlined in a JSON path are left out (never written by us).
pub(crate) fn marks(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut stmt = conn.prepare_cached("SELECT key, indexed_id FROM log_context_state ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, mark) = row?;
        if valid_index_key(&key) {
            out.insert(key, mark);
        }
    }
    Ok(out)
}

/// The marks a lookup reads under: the common one, and the registered
/// keys' own (read just before the query, bound as values).
#[derive(Debug, Clone, Default)]
pub(crate) struct Marks {
    /// Every key is indexed up to here.
    pub(crate) all: i64,
    /// Registered keys are also indexed up to their own mark.
    pub(crate) keys: BTreeMap<String, i64>,
    /// The key conditions of the filter (their index in
    /// [`KeyCondition::all`]) that are common.
    pub(crate) common: BTreeSet<usize>,
    /// The key conditions common in the whole table but not within the
    /// filter's time span: looked up in the side table's parts that hold
    /// the span's records only, `span_parts`.
    pub(crate) in_span: BTreeSet<usize>,
    /// The parts holding a record of the filter's time span, as a JSON
    /// array (read once when a condition is probed in them).
    pub(crate) span_parts: String,
    /// The unindexed tail's matches of the key conditions looked up in the
    /// side table (their index in [`KeyCondition::all`]), as the store
    /// remembers them ([`TailMatches`]); a condition not here scans the tail.
    pub(crate) tails: BTreeMap<usize, TailMatches>,
    /// Whether the file holds booleans apart (schema 13,
    /// [`context_index::booleans_apart`]), read before the marks: if not
    /// (or not known), lookups also read a boolean as 1 / 0.
    pub(crate) booleans_apart: bool,
}

impl Marks {
    /// Reads the marks, and probes which of `filter`'s key conditions are
    /// common: with at least `common_at(condition, booleans_apart)` entries
    /// in the side table ([`Marks::booleans_apart`], read here once). With
    /// `within_span` (a read that visits every match) and a time bound, a
    /// condition common in the whole table is probed again in the parts that
    /// hold the span's records, and looked up there when it is not common
    /// in them: a hot user's matches of one day, among half a million.
    pub(crate) fn read(
        conn: &Connection,
        filter: &RecordFilter,
        common_at: &mut dyn FnMut(KeyCondition<'_>, bool) -> rusqlite::Result<CommonAt>,
        within_span: bool,
    ) -> rusqlite::Result<Marks> {
        let booleans_apart = context_index::booleans_apart(conn)?;
        let mut marks = Marks { all: all_mark(conn)?, keys: marks(conn)?, booleans_apart, ..Marks::default() };
        let bounded = within_span && (filter.since.is_some() || filter.until.is_some());
        let mut span_parts = None;
        for (i, c) in KeyCondition::all(filter).enumerate() {
            let CommonAt { at: common_at, counted } = common_at(c, booleans_apart)?;
            let counted = match counted {
                Some(counted) => counted,
                None => entries(conn, c, common_at, None, booleans_apart)?,
            };
            if counted < common_at {
                continue;
            }
            if bounded {
                let listed = match &span_parts {
                    Some(listed) => listed,
                    None => span_parts.insert(context_index::span_parts(conn, filter.since, filter.until)?),
                };
                if entries(conn, c, common_at, Some(listed), booleans_apart)? < common_at {
                    marks.in_span.insert(i);
                    continue;
                }
            }
            marks.common.insert(i);
        }
        marks.span_parts = span_parts.unwrap_or_default();
        Ok(marks)
    }

    /// The last id the side table holds `key` for.
    pub(crate) fn of(&self, key: &str) -> i64 {
        self.keys.get(key).map_or(self.all, |&own| own.max(self.all))
    }
}

/// How many side-table entries make a context condition common
/// ([`Marks::read`]), and its entries in the whole table if the caller
/// already counted them up to at least that many or found them fewer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommonAt {
    /// The entries from which the condition is common.
    pub(crate) at: i64,
    /// Its entries in every part ([`entries`]) when already counted: the
    /// count itself, fewer than `at`, or at least `at` when it reached it.
    pub(crate) counted: Option<i64>,
}

impl CommonAt {
    /// Common from `at` entries, not yet counted.
    pub(crate) fn at(at: i64) -> CommonAt {
        CommonAt { at, counted: None }
    }
}

/// The side table's entries answering `c`, counted up to `cap`: in every
/// part, or in the parts `listed` (a JSON array); `booleans_apart` as for
/// [`Marks::booleans_apart`].
pub(crate) fn entries(
    conn: &Connection,
    c: KeyCondition<'_>,
    cap: i64,
    listed: Option<&str>,
    booleans_apart: bool,
) -> rusqlite::Result<i64> {
    let mut params: Vec<Value> = vec![Value::Integer(cap)];
    let mut bind = |v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    let keys = c.side_keys(&mut bind);
    let side = c.side_condition(booleans_apart, &mut bind);
    let parts = match listed {
        None => context_index::parts("SELECT coalesce(max(id), 0) FROM log_records"),
        Some(listed) => context_index::listed_parts(&bind(Value::Text(listed.to_owned()))),
    };
    let sql = format!(
        "SELECT count(*) FROM
             (SELECT 1 FROM {parts} AS p
                CROSS JOIN log_context_index ON log_context_index.key {keys} AND log_context_index.part = p.n
              WHERE {side} LIMIT ?1)"
    );
    conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))
}

/// The typed values whose side-table entries are exactly the records a
/// field condition `m` matches, each with its SQLite type: `user_id=3`
/// from a URL is the integer 3, the real 3.0 or the text "3", a record
/// holds one of them, and a stored real `3.0` equals `3` in SQL (a real is
/// keyed apart since schema 12; [`entries_per_bar`]). `None` when some
/// accepted form has no entries of its own or is a long text's prefix: its
/// entries are then only candidates. Before schema 13 a boolean was stored
/// as 1 or 0 under the key, beside the integers 1 and 0, with the same
/// `typeof`: so without `booleans_apart` (the file's
/// [`context_index::booleans_apart`]) neither a boolean nor the integer 1
/// or 0 is (`flag=1` counted a record's `true` as well; session 40); with
/// it a boolean is its BLOB ([`context_index::bool_value`]).
pub(crate) fn exact_entries(m: &FieldMatch, booleans_apart: bool) -> Option<Vec<(Value, &'static str)>> {
    let candidates = KeyCondition::candidates(m);
    if candidates.is_empty() {
        return None;
    }
    candidates
        .into_iter()
        .map(|(v, t)| match (v, t) {
            (Value::Integer(_), "true" | "false") if booleans_apart => {
                Some((context_index::bool_value(t == "true"), t))
            }
            (Value::Integer(0 | 1), _) if !booleans_apart => None,
            (v @ Value::Integer(_), "integer") => Some((v, "integer")),
            (v @ Value::Real(_), "real") => Some((v, "real")),
            (Value::Text(t), "text") if stored_text(&t).is_none() => Some((Value::Text(t), "text")),
            _ => None,
        })
        .collect()
}

/// The side table's entries of `key` holding one of `values` (each of its
/// SQLite type, see [`exact_entries`]) in each id range of `bars`
/// (inclusive, the ranges ascending and apart), counted by **one**
/// statement: the bars' ranges are bound as a JSON list, split into their
/// parts, and each (bar, part) counts its entries in one B-tree range read
/// per probed value. Entry `i` of the answer is the count of `bars[i]`.
/// Complete only up to the key's mark ([`key_mark`]).
///
/// What it saves against a statement per bar, part and form (session 38;
/// docs/performance.md, "The hot value's exact bars, cheaper"): the
/// statements' own cost, ~450 of them for `user_id=3`'s 91 daily bars
/// (two or three parts a bar, the integer and the text).
///
/// In a file that keeps reals apart (schema 12, [`context_index::reals_apart`])
/// a key's integers and texts are looked up under the key and its reals
/// under the key's BLOB form: each lookup meets only entries of the type it
/// asks for, so no `typeof` is checked (15 ms of `user_id=3`'s 48 ms at
/// 10 M records, session 40). In a schema-11 file a real equal to an
/// integer sorts with it: equal numbers of both types are looked up once,
/// and `typeof` is checked when a lookup meets entries of a type not
/// accepted ([`probes`]): `user_id=3` does not match a stored 3.0, which
/// equals 3 in SQL. The file's version and its entries are read in one
/// transaction, so a writer's migration between them cannot mix the two.
pub(crate) fn entries_per_bar(
    conn: &Connection,
    key: &str,
    values: &[(Value, &'static str)],
    bars: &[(i64, i64)],
) -> rusqlite::Result<Vec<i64>> {
    let read = if conn.is_autocommit() { Some(conn.unchecked_transaction()?) } else { None };
    let lookups = BarLookup::of(conn, key, values)?;
    let mut params: Vec<Value> = Vec::new();
    let listed: Vec<String> = bars.iter().enumerate().map(|(i, (lo, hi))| format!("[{i},{lo},{hi}]")).collect();
    params.push(Value::Text(format!("[{}]", listed.join(","))));
    let mut counts_of_part = Vec::with_capacity(lookups.len());
    for lookup in lookups {
        let (k, holders, typed) = lookup.bind(&mut params);
        counts_of_part.push(format!(
            "(SELECT count(*) FROM log_context_index
              WHERE key = {k} AND part = p.n AND value IN ({}) AND id BETWEEN p.lo AND p.hi{typed})",
            holders.join(", ")
        ));
    }
    if counts_of_part.is_empty() {
        return Ok(vec![0; bars.len()]);
    }
    let bits = context_index::PART_BITS;
    // The count of each (bar, part) is a subquery, not a `GROUP BY` of the
    // joined entries: that would put every entry through a sorter.
    let sql = format!(
        "WITH RECURSIVE b(bar, lo, hi) AS (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)),
              p(bar, n, lo, hi) AS (SELECT bar, lo >> {bits}, lo, hi FROM b
                                    UNION ALL SELECT bar, n + 1, lo, hi FROM p WHERE n < hi >> {bits})
         SELECT bar, {} FROM p",
        counts_of_part.join(" + ")
    );
    let mut counts = vec![0i64; bars.len()];
    {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let (bar, n): (i64, i64) = (row.get(0)?, row.get(1)?);
            if let Some(c) = usize::try_from(bar).ok().and_then(|b| counts.get_mut(b)) {
                *c += n;
            }
        }
    }
    if let Some(read) = read {
        read.commit()?;
    }
    Ok(counts)
}

/// The records of `key`'s entries holding one of `values` (as for
/// [`entries_per_bar`]) in each block `[start, stop)` of ids of `blocks`,
/// by **one** statement: `(block, ts, level)` for each, in no particular
/// order. Each block is one B-tree range read per looked-up value in each
/// part it meets, and each match one read of a record by id.
///
/// Why (docs/performance.md, session 41): the levels of a hot value's
/// bars, whose totals [`entries_per_bar`] counts, were split by reading
/// the same blocks' rows whole, every row's context parsed to find the
/// value's ~5 % among them (10 000 rows for ~500 matches of `user_id=3`
/// at 10 M records); here only the matches are read. Every match of a
/// block is read, as the rows were: taking one match at each of evenly
/// spaced ids instead (the first at or after it) favours a match after a
/// long gap, and reads skewed levels where levels follow one another.
pub(crate) fn entries_in_blocks(
    conn: &Connection,
    key: &str,
    values: &[(Value, &'static str)],
    blocks: &[(i64, i64)],
) -> rusqlite::Result<Vec<(usize, String, i64)>> {
    let read = if conn.is_autocommit() { Some(conn.unchecked_transaction()?) } else { None };
    let lookups = BarLookup::of(conn, key, values)?;
    let mut params: Vec<Value> = Vec::new();
    let listed: Vec<String> = blocks.iter().map(|(start, stop)| format!("[{start},{stop}]")).collect();
    params.push(Value::Text(format!("[{}]", listed.join(","))));
    let bits = context_index::PART_BITS;
    let mut selects = Vec::with_capacity(lookups.len());
    for lookup in lookups {
        let (k, holders, typed) = lookup.bind(&mut params);
        // A block meets one part or two; `IN` lists the part once if one.
        selects.push(format!(
            "SELECT t.n, r.ts, r.level FROM t
               CROSS JOIN log_context_index AS e
                 ON e.key = {k} AND e.part IN (t.start >> {bits}, (t.stop - 1) >> {bits})
                    AND e.value IN ({}) AND e.id >= t.start AND e.id < t.stop{typed}
               CROSS JOIN log_records AS r ON r.id = e.id",
            holders.join(", ")
        ));
    }
    if selects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH t(n, start, stop) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1)) {}",
        selects.join(" UNION ALL ")
    );
    let mut found = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let n: i64 = row.get(0)?;
            if let Ok(n) = usize::try_from(n) {
                found.push((n, row.get(1)?, row.get(2)?));
            }
        }
    }
    if let Some(read) = read {
        read.commit()?;
    }
    Ok(found)
}

/// One lookup of [`entries_per_bar`] in each (bar, part), or of
/// [`entries_in_blocks`] in each block.
struct BarLookup {
    /// The side table's `key` form it reads (the key, or a real's).
    key: Value,
    /// The values it reads under it.
    values: Vec<Value>,
    /// The `typeof`s kept (`None`: every entry it meets is one accepted).
    types: Option<Vec<&'static str>>,
}

impl BarLookup {
    /// The lookups of `key`'s entries holding one of `values`, as the
    /// file `conn` reads keys them ([`context_index::reals_apart`]).
    fn of(conn: &Connection, key: &str, values: &[(Value, &'static str)]) -> rusqlite::Result<Vec<BarLookup>> {
        if context_index::reals_apart(conn)? {
            let (mut reals, mut others) = (Vec::new(), Vec::new());
            for (v, _) in values {
                if matches!(v, Value::Real(_)) { &mut reals } else { &mut others }.push(v.clone());
            }
            Ok([(Value::Text(key.to_owned()), others), (context_index::real_key(key), reals)]
                .into_iter()
                .filter(|(_, vs)| !vs.is_empty())
                .map(|(key, values)| BarLookup { key, values, types: None })
                .collect())
        } else {
            let (values, types) = probes(values);
            Ok(vec![BarLookup { key: Value::Text(key.to_owned()), values, types }])
        }
    }

    /// Binds the lookup's key and values as numbered parameters after
    /// `params`: the key's placeholder, each value's, and the `typeof`
    /// condition to add (empty when none).
    fn bind(self, params: &mut Vec<Value>) -> (String, Vec<String>, String) {
        params.push(self.key);
        let k = format!("?{}", params.len());
        let mut holders = Vec::with_capacity(self.values.len());
        for v in self.values {
            params.push(v);
            holders.push(format!("?{}", params.len()));
        }
        let typed = match self.types {
            Some(types) => format!(
                " AND typeof(value) IN ({})",
                types.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
            ),
            None => String::new(),
        };
        (k, holders, typed)
    }
}

/// The values [`entries_per_bar`] looks up for `values` (typed forms of one
/// value), and the `typeof`s to keep when the lookups would also meet
/// entries of a type not accepted (`None`: every entry they meet is one).
/// SQL compares an integer and a real by number: `value = 3` finds the
/// integer 3 and the real 3.0 alike, so both are looked up once, by the
/// integer; a text finds texts only.
fn probes(values: &[(Value, &'static str)]) -> (Vec<Value>, Option<Vec<&'static str>>) {
    let accepted: BTreeSet<&str> = values.iter().map(|(_, t)| *t).collect();
    let mut probed: Vec<Value> = Vec::new();
    let mut foreign = false;
    for (v, _) in values {
        // The types of the entries a lookup of `v` meets, and the integer
        // a real equals, if any (that lookup is then the integer's).
        let (v, meets): (Value, &[&str]) = match v {
            Value::Integer(i) => (Value::Integer(*i), &["integer", "real"]),
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            Value::Real(f) if f.fract() == 0.0 && (*f as i64) as f64 == *f => {
                (Value::Integer(*f as i64), &["integer", "real"])
            }
            Value::Real(f) => (Value::Real(*f), &["real"]),
            other => (other.clone(), &["text"]),
        };
        foreign |= meets.iter().any(|t| !accepted.contains(t));
        if !probed.contains(&v) {
            probed.push(v);
        }
    }
    (probed, foreign.then(|| accepted.into_iter().collect()))
}

/// The id up to which the side table holds every entry of `key`.
pub(crate) fn key_mark(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    let all = all_mark(conn)?;
    Ok(marks(conn)?.get(key).map_or(all, |&own| own.max(all)))
}

/// The id of the `n`th newest side-table entry answering `m` among the
/// ids `within` (inclusive bounds), `None` when they hold fewer: where a
/// walk of those ids newest first, testing each record, would find its
/// `n`th match (the side table lags, so at or below its mark). The
/// entries of a part are keyed by value, then id: each accepted value is
/// read newest first in the span's parts from its newest down (one B-tree
/// search per part and value, at most `n` entries each), so a value whose
/// entries are all old costs a probe per part of the span, not its entries.
/// `booleans_apart` as for [`Marks::booleans_apart`].
pub(crate) fn nth_newest_entry(
    conn: &Connection,
    m: &FieldMatch,
    within: (i64, i64),
    n: i64,
    booleans_apart: bool,
) -> rusqlite::Result<Option<i64>> {
    let lookups = KeyCondition::side_lookups(m, booleans_apart);
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM log_context_index
         WHERE key = ?1 AND part = ?2 AND value = ?3 AND id BETWEEN ?4 AND ?5
         ORDER BY id DESC LIMIT ?6",
    )?;
    let (first, last) = within;
    let mut left = n.max(1);
    let mut part = last >> context_index::PART_BITS;
    while part >= first >> context_index::PART_BITS {
        let mut ids = Vec::new();
        for (k, v) in &lookups {
            let found = stmt.query_map(rusqlite::params![k, part, v, first, last, left], |r| r.get::<_, i64>(0))?;
            for id in found {
                ids.push(id?);
            }
        }
        // A long text's record may hold its entry whole and as its prefix.
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        let found = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        if found >= left {
            return Ok(usize::try_from(left - 1).ok().and_then(|i| ids.get(i)).copied());
        }
        left -= found;
        part -= 1;
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use log_panel_query::parse_query;
    use rusqlite::params_from_iter;

    /// Each bar's entries of a value, counted by one statement: the integer 3
    /// and the text "3" for `user_id=3` as a URL gives it, the integer alone
    /// for a typed `3`, never the real 3.0 (equal to 3 in SQL, so `typeof`
    /// is checked), in bars that span parts; each equal to a `GROUP BY`
    /// of the entries by bar.
    #[test]
    fn each_bars_entries_are_counted_by_one_statement_per_form_as_typed() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE log_context_index (key TEXT NOT NULL, part INTEGER NOT NULL, value NOT NULL,
                 id INTEGER NOT NULL, PRIMARY KEY (key, part, value, id)) WITHOUT ROWID;",
        )
        .unwrap();
        let gap = 1i64 << context_index::PART_BITS;
        let entries: [(i64, Value); 8] = [
            (1, Value::Integer(3)),
            (2, Value::Integer(3)),
            (3, Value::Real(3.0)),
            (4, Value::Text("3".into())),
            (5, Value::Integer(4)),
            (gap + 1, Value::Integer(3)),
            (gap + 2, Value::Real(3.0)),
            (2 * gap + 5, Value::Text("3".into())),
        ];
        for (id, v) in &entries {
            conn.execute(
                "INSERT INTO log_context_index (key, part, value, id) VALUES ('user_id', ?1 >> 16, ?2, ?1)",
                rusqlite::params![id, v],
            )
            .unwrap();
        }
        // An entry of another key, equal value, inside the bars: never counted.
        conn.execute("INSERT INTO log_context_index VALUES ('tenant', 0, 3, 2)", []).unwrap();
        let bars = [(1, 2), (3, gap + 1), (gap + 2, 3 * gap), (3 * gap + 1, 4 * gap)];
        let untyped: FieldMatch = "user_id=3".parse().unwrap();
        let typed = FieldMatch::new("user_id", FieldValue::Int(3)).unwrap();
        let grouped = |types: &[&str]| -> Vec<i64> {
            bars.iter()
                .map(|&(lo, hi)| {
                    conn.query_row(
                        &format!(
                            "SELECT count(*) FROM log_context_index WHERE key = 'user_id' AND id BETWEEN ?1 AND ?2
                               AND value IN (3, '3') AND typeof(value) IN ('{}')",
                            types.join("', '")
                        ),
                        [lo, hi],
                        |r| r.get(0),
                    )
                    .unwrap()
                })
                .collect()
        };
        for (what, m, want, types) in [
            ("untyped", &untyped, vec![2, 2, 1, 0], vec!["integer", "text"]),
            ("typed", &typed, vec![2, 1, 0, 0], vec!["integer"]),
        ] {
            let values = exact_entries(m, false).unwrap();
            let counts = entries_per_bar(&conn, "user_id", &values, &bars).unwrap();
            assert_eq!(counts, want, "{what}");
            assert_eq!(counts, grouped(&types), "{what}");
        }
        // Schema 12: the reals under the key's BLOB form. The same counts,
        // and no `typeof` (the count reads the file's version).
        conn.execute_batch(
            "UPDATE log_context_index SET key = CAST(key AS BLOB) WHERE typeof(value) = 'real';
             PRAGMA user_version = 12;",
        )
        .unwrap();
        let real: FieldMatch = "user_id=3.0".parse().unwrap();
        for (what, m, want) in [
            ("untyped", &untyped, vec![2, 2, 1, 0]),
            ("typed", &typed, vec![2, 1, 0, 0]),
            ("real", &real, vec![0, 1, 1, 0]),
        ] {
            let values = exact_entries(m, false).unwrap();
            assert_eq!(entries_per_bar(&conn, "user_id", &values, &bars).unwrap(), want, "{what}, reals apart");
        }
        let (probed, types) = probes(&exact_entries(&untyped, false).unwrap());
        assert_eq!((probed.len(), types), (2, Some(vec!["integer", "text"])), "the real 3.0 is not `3`");
        assert_eq!(probes(&exact_entries(&typed, false).unwrap()).1, Some(vec!["integer"]));
        let both = [(Value::Integer(3), "integer"), (Value::Real(3.0), "real")];
        assert_eq!(probes(&both), (vec![Value::Integer(3)], None), "3 and 3.0 accepted: looked up once, no typeof");
        let (probed, types) = probes(&[(Value::Real(3.5), "real")]);
        assert_eq!((probed, types), (vec![Value::Real(3.5)], None), "no integer equals 3.5");
    }

    /// The `EXPLAIN QUERY PLAN` of a first page of `f`, its details joined by `; `.
    pub(crate) fn plan(conn: &rusqlite::Connection, f: &RecordFilter) -> String {
        plan_at(conn, f, COMMON_MATCHES)
    }

    /// [`plan`] with a context condition common from `common_at` entries.
    pub(crate) fn plan_at(conn: &rusqlite::Connection, f: &RecordFilter, common_at: i64) -> String {
        let w = Sql::planned(
            f,
            TextPlan::default(),
            Marks::read(conn, f, &mut |_, _| Ok(CommonAt::at(common_at)), false).unwrap(),
        );
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
        crate::upkeep::search::register(conn).unwrap();
        let mut f = RecordFilter::default();
        f.fields.push("request_id=r-42".parse().unwrap());
        let p = plan(conn, &f);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY"), "{p}");
        assert!(p.contains("SEARCH log_records USING INTEGER PRIMARY KEY"), "{p}");
        // Every key is in the side table, also one no JSON path can name.
        for key in ["user_id", "odd key.\"x"] {
            let mut f = RecordFilter::default();
            f.fields.push(FieldMatch::new(key, FieldValue::Text("7".into())).unwrap());
            let p = plan(conn, &f);
            assert!(
                p.contains("SEARCH log_context_index USING PRIMARY KEY (key=? AND part=? AND value=? AND id<?)"),
                "{p}"
            );
            assert!(p.contains("SEARCH log_records USING INTEGER PRIMARY KEY"), "{p}");
        }
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
    fn needles_are_texts_every_match_holds() {
        let needle = |v: FieldValue| KeyCondition::needle(&FieldMatch::new("k", v).unwrap());
        let text = |t: &str| needle(FieldValue::Text(t.into()));
        assert_eq!(text("r-42").as_deref(), Some("r-42"));
        assert_eq!(needle(FieldValue::Str("r-42".into())).as_deref(), Some("r-42"));
        // Escaped, HTML-sensitive and non-ASCII characters split the text.
        assert_eq!(text("ab\"cde\\f").as_deref(), Some("cde"));
        assert_eq!(text("path/to/x<y>&'+`z").as_deref(), Some("path"));
        assert_eq!(text("été chaud").as_deref(), Some(" chaud"));
        assert_eq!(text("line\nbreak").as_deref(), Some("break"));
        // Numbers: the integer's digits are in the string's text too.
        assert_eq!(text("7").as_deref(), Some("7"));
        assert_eq!(text("007").as_deref(), Some("7"));
        assert_eq!(text("+7").as_deref(), Some("7"));
        assert_eq!(text("-0").as_deref(), Some("0"));
        assert_eq!(needle(FieldValue::Int(-7)).as_deref(), Some("-7"));
        assert_eq!(text("true").as_deref(), Some("true"));
        // No text every match holds: a float's forms vary, a text of no plain character.
        for none in ["1.5", "1e3", "日本", "", "\"/"] {
            assert_eq!(text(none), None, "{none:?}");
        }
    }

    /// The scan of the records above the side table's mark tests the needle
    /// before `json_extract`; a condition with no needle scans as before.
    #[test]
    fn the_unindexed_tail_is_pre_checked() {
        let tail = |key: &str, value: &str| {
            let mut f = RecordFilter::default();
            f.fields.push(FieldMatch::new(key, FieldValue::Text(value.into())).unwrap());
            let w = Sql::planned(&f, TextPlan::default(), Marks::default());
            let sql = w.sql();
            let scan = sql.split("UNION ALL").nth(1).unwrap().to_owned();
            (scan, w.params)
        };
        let (scan, params) = tail("request_id", "r-42");
        let at = scan.find("instr(log_records.context, ?").unwrap();
        assert!(at < scan.find("json_extract").unwrap(), "{scan}");
        let p: usize = scan[at + 28..].split(')').next().unwrap().parse().unwrap();
        assert_eq!(params[p - 1], Value::Text("r-42".into()));
        let (scan, _) = tail("odd key", "r-42");
        assert!(scan.find("instr(").unwrap() < scan.find("json_each").unwrap(), "{scan}");
        let (scan, _) = tail("request_id", "1.5");
        assert!(!scan.contains("instr(") && scan.contains("json_extract"), "{scan}");
    }

    #[test]
    fn a_range_is_a_range_of_the_side_table() {
        let dir = tempfile::tempdir().unwrap();
        let sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let conn = sink.connection();
        let mut f = RecordFilter::default();
        f.ranges.push(FieldRange::new("status", RangeOp::Ge, 500.0).unwrap());
        let p = plan(conn, &f);
        assert!(
            p.contains("SEARCH log_context_index USING PRIMARY KEY (key=? AND part=? AND value>? AND value<?)"),
            "{p}"
        );
        f.ranges = vec![FieldRange::new("status", RangeOp::Lt, 200.0).unwrap()];
        let p = plan(conn, &f);
        assert!(p.contains("SEARCH log_context_index USING PRIMARY KEY (key=? AND part=? AND value<?)"), "{p}");
    }

    #[test]
    fn index_keys_are_validated() {
        assert!(valid_index_key("request_id") && valid_index_key(&"a".repeat(64)));
        for bad in ["", "a-b", "a'b", "a.b", "ключ", &"a".repeat(65)] {
            assert!(!valid_index_key(bad), "{bad}");
        }
    }

    /// An OR of indexed leaves is an OR of index lookups (the message search
    /// table, the context side table, the logger index); a negation walks
    /// every record, and the filter names it as unindexed.
    #[test]
    fn an_or_of_indexed_leaves_uses_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let sink = crate::SqliteSink::open(dir.path().join("logs.db")).unwrap();
        let conn = sink.connection();
        crate::upkeep::search::register(conn).unwrap();
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
