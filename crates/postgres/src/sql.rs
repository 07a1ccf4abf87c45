//! SQL for the read side: a record filter, and a query's expression, as a
//! parameterised `WHERE` clause.
//!
//! Every value is a bound parameter; only fixed column names are inlined.
//! Which index serves each condition is documented in `docs/query.md`.

use std::time::SystemTime;

use log_panel_core::severity;
use log_panel_query::{FieldRange, FieldValue, LoggerMatch, RecordFilter};
use postgres::types::{ToSql, Type};
use postgres::{Client, Row};

use crate::time::system_time;

/// The severity of `WARN`: the partial indexes of schema version 5 hold
/// the records at or above it.
const WARN: i16 = 30;

/// A value a statement binds, with the type PostgreSQL is told it has (its
/// natural type: the one the value's `ToSql` accepts). Statements are sent
/// with their parameters' types ([`Sql::query`]), so the server needs no
/// round trip of its own to infer them.
pub(crate) trait Param: ToSql + Sync + Send + 'static {
    /// The type the value is sent as.
    fn pg_type() -> Type;
}

macro_rules! params {
    ($($rust:ty => $pg:expr),* $(,)?) => {
        $(impl Param for $rust {
            fn pg_type() -> Type {
                $pg
            }
        })*
    };
}

params! {
    bool => Type::BOOL,
    i16 => Type::INT2,
    i32 => Type::INT4,
    i64 => Type::INT8,
    f64 => Type::FLOAT8,
    String => Type::TEXT,
    SystemTime => Type::TIMESTAMPTZ,
    Vec<i16> => Type::INT2_ARRAY,
    Vec<i64> => Type::INT8_ARRAY,
    Vec<String> => Type::TEXT_ARRAY,
    Vec<SystemTime> => Type::TIMESTAMPTZ_ARRAY,
}

impl<T: Param> Param for Option<T> {
    fn pg_type() -> Type {
        T::pg_type()
    }
}

/// A statement under construction: its text and its bound parameters.
/// A clone is cheap (the parameters are shared): a read sends its own to
/// the connection's thread (`PgStore::rows`).
#[derive(Default, Clone)]
pub(crate) struct Sql {
    pub(crate) text: String,
    params: Vec<(std::sync::Arc<dyn ToSql + Sync + Send>, Type)>,
    /// The search mark read just before (see [`mark_expr`]).
    pub(crate) mark: Option<i64>,
    /// Whether `log_records` was partitioned by day when the mark was read.
    pub(crate) partitioned: bool,
    /// The `(ts, id)` pairs of the first searching condition's candidates,
    /// read beforehand ([`listing_candidates`]): that condition then names
    /// them as values, which PostgreSQL prunes day partitions by while
    /// planning (see [`IdPlan::List`]).
    pub(crate) listed: Option<(Vec<SystemTime>, Vec<i64>)>,
    /// The statement that read [`listed`](Sql::listed), kept for `EXPLAIN`.
    pub(crate) listed_by: Option<Box<Sql>>,
}

impl Sql {
    /// Binds `value` and returns its placeholder (`$n`).
    pub(crate) fn bind<T: Param>(&mut self, value: T) -> String {
        self.params.push((std::sync::Arc::new(value), T::pg_type()));
        format!("${}", self.params.len())
    }

    /// Runs the statement on `client` in one round trip: parsed, bound and
    /// executed together, its parameters' types sent with it. (`Client::query`
    /// of a text first prepares it, a round trip of its own, and closes it
    /// after: two waits on the server a statement where one does; a page of
    /// two statements waited four times.)
    pub(crate) fn query(&self, client: &mut Client) -> Result<Vec<Row>, postgres::Error> {
        let params: Vec<(&(dyn ToSql + Sync), Type)> =
            self.params.iter().map(|(p, t)| (&**p as &(dyn ToSql + Sync), t.clone())).collect();
        client.query_typed(self.text.as_str(), &params)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern with the default escape character.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The logger condition on column `col` (`r.logger`): exact, or a byte range
/// for a tree, so the `(logger COLLATE "C", ts, id)` index serves both.
pub(crate) fn logger_condition(sql: &mut Sql, col: &str, logger: &LoggerMatch) -> String {
    match logger {
        LoggerMatch::Exact(name) => format!("{col} COLLATE \"C\" = {}", sql.bind(name.clone())),
        LoggerMatch::Tree(root) => {
            let exact = sql.bind(root.clone());
            // Children are `root::…`: every string from `root::` up to, not
            // including, `root:;` (`;` follows `:` in byte order).
            let low = sql.bind(format!("{root}::"));
            let high = sql.bind(format!("{root}:;"));
            format!(
                "({col} COLLATE \"C\" = {exact} OR ({col} COLLATE \"C\" >= {low} AND {col} COLLATE \"C\" < {high}))"
            )
        }
    }
}

/// What a stored number must look like for an alternative to hold: jsonb
/// compares `7` and `7.0` equal, but an integer condition wants an integer
/// as stored, and a float condition a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberForm {
    /// Not a number: containment alone decides.
    Any,
    /// Stored without a fraction or exponent.
    Integer,
    /// Stored with one.
    Float,
}

/// The JSON objects a stored `context` must contain one of for `key = value`
/// (a GIN `jsonb_path_ops` index on the search side table serves `context @> …`),
/// each with the form a number must have and what `->>` answers for the
/// value (its text as jsonb prints it; `None` for a float, which is stored
/// as written: `7.50` equals `7.5`).
pub(crate) fn field_alternatives(key: &str, value: &FieldValue) -> Vec<(String, NumberForm, Option<String>)> {
    let mut values = Vec::new();
    if let Some(text) = value.as_text() {
        values.push((serde_json::Value::String(text.to_owned()), NumberForm::Any, Some(text.to_owned())));
    }
    if let Some(i) = value.as_int() {
        values.push((serde_json::Value::from(i), NumberForm::Integer, Some(i.to_string())));
    }
    if let Some(f) = value.as_float() {
        values.push((serde_json::Value::from(f), NumberForm::Float, None));
    }
    if let Some(b) = value.as_bool() {
        values.push((serde_json::Value::Bool(b), NumberForm::Any, Some(b.to_string())));
    }
    values
        .into_iter()
        .map(|(v, form, printed)| {
            let mut object = serde_json::Map::new();
            object.insert(key.to_owned(), v);
            (serde_json::Value::Object(object).to_string(), form, printed)
        })
        .collect()
}

/// The search side table's mark: the value read just before when there is
/// one, so the planner sees how few rows lie above it (a subquery there
/// looked like a third of the table and drew a parallel scan costing ~20 ms).
/// A mark read earlier is never ahead of the current one, so the scan above
/// it covers at least the unindexed rows.
fn mark_expr(sql: &mut Sql) -> String {
    match sql.mark {
        Some(mark) => format!("{}::int8", sql.bind(mark)),
        None => "coalesce((SELECT m.last_id FROM log_search_mark m), 0)".to_owned(),
    }
}

/// `json` bound as a jsonb parameter.
fn bind_object(sql: &mut Sql, json: String) -> String {
    format!("{}::text::jsonb", sql.bind(json))
}

/// The bound JSON objects of `key = value` (one per typed form) and the
/// exact typed check of them on `r.context`; `None` when nothing can match.
///
/// Every form but a float is checked behind `r.context ->> key IN (…)` (a
/// column that is never NULL, so FALSE for a missing key, as `@>`), the
/// value's text as jsonb prints it: a walk tests thousands of rows, and
/// `->>` with a text comparison costs about half of `@>` a row (a walk for a
/// 1 % tenant: 4.3–4.9 ms with `@>` alone, 2.6–2.7 ms with `->>` first, at
/// 10 M). The containment after it keeps the typed rules (a string never
/// matches the number of the same text). A float is not: `7.50` is stored
/// as written and equals `7.5`.
fn field_parts(sql: &mut Sql, key: &str, value: &FieldValue) -> Option<(Vec<String>, String)> {
    let alternatives = field_alternatives(key, value);
    if alternatives.is_empty() {
        return None;
    }
    let key_param = sql.bind(key.to_owned());
    let mut objects = Vec::new();
    // Checked behind `->>` (their printed texts), and floats.
    let (mut texts, mut behind_text, mut floats) = (Vec::new(), Vec::new(), Vec::new());
    for (json, form, printed) in alternatives {
        let object = bind_object(sql, json);
        let contains = format!("r.context @> {object}");
        objects.push(object);
        let exact = match form {
            NumberForm::Any => contains,
            NumberForm::Integer => format!("({contains} AND (r.context -> {key_param}::text)::text !~ '[.eE]')"),
            NumberForm::Float => format!("({contains} AND (r.context -> {key_param}::text)::text ~ '[.eE]')"),
        };
        match printed {
            Some(text) => {
                if !texts.contains(&text) {
                    texts.push(text);
                }
                behind_text.push(exact);
            }
            None => floats.push(exact),
        }
    }
    let mut exact = floats;
    if !behind_text.is_empty() {
        let texts: Vec<String> = texts.into_iter().map(|t| sql.bind(t)).collect();
        // A CASE, not an AND: the planner orders an AND's operands by its
        // own costs, and it puts `@>` first.
        exact.push(format!(
            "CASE WHEN r.context ->> {key_param}::text IN ({}) THEN {} ELSE FALSE END",
            texts.join(", "),
            behind_text.join(" OR ")
        ));
    }
    Some((objects, format!("({})", exact.join(" OR "))))
}

/// The condition `key = value` tested on the record `r` itself, without an
/// index: for walks over a bounded number of rows (see `PgStore::page_by_walk`).
pub(crate) fn field_check(sql: &mut Sql, key: &str, value: &FieldValue) -> String {
    field_parts(sql, key, value).map_or_else(|| "FALSE".to_owned(), |(_, exact)| exact)
}

/// The columns a search's candidates are read with: `id`, or `ts, id`
/// (the day partition's key with it, [`listing_candidates`]), or these and
/// the `context` (the side table's is a copy of the record's), which a
/// field's exact check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// `id`.
    Id,
    /// `ts, id`.
    TsId,
    /// `ts, id, context`.
    TsIdContext,
}

impl Keys {
    /// The columns of table alias `t`.
    fn of(self, t: &str) -> String {
        match self {
            Keys::Id => format!("{t}.id"),
            Keys::TsId => format!("{t}.ts, {t}.id"),
            Keys::TsIdContext => format!("{t}.ts, {t}.id, {t}.context"),
        }
    }
}

/// The records a field condition's index lists: the GIN index of the search
/// side table up to its mark, and a scan above it (not yet indexed).
fn field_candidates(sql: &mut Sql, objects: &[String], keys: Keys) -> String {
    let any_of = |col: &str| objects.iter().map(|o| format!("{col} @> {o}")).collect::<Vec<_>>().join(" OR ");
    let mark = mark_expr(sql);
    format!(
        "SELECT {} FROM log_search s WHERE {} \
         UNION ALL SELECT {} FROM log_records t WHERE t.id > {mark} AND ({})",
        keys.of("s"),
        any_of("s.context"),
        keys.of("t"),
        any_of("t.context")
    )
}

/// The records a message condition's index lists: the trigram-indexed side
/// table up to the mark, and a scan of the rows above it (not yet indexed),
/// so results are complete however far the index lags.
fn text_candidates(sql: &mut Sql, text: &str, keys: Keys) -> String {
    let pattern = sql.bind(format!("%{}%", like_escape(text)));
    let mark = mark_expr(sql);
    format!(
        "SELECT {} FROM log_search s WHERE s.message ILIKE {pattern} \
         UNION ALL SELECT {} FROM log_records t WHERE t.id > {mark} AND t.message ILIKE {pattern}",
        keys.of("s"),
        keys.of("t")
    )
}

/// The candidates (columns `keys`, [`Keys::TsId`] or [`Keys::TsIdContext`])
/// of the searching condition [`page_conditions`] lists first (the text,
/// else the first field), or `None` when `filter` has none or its first
/// field can match nothing.
pub(crate) fn listing_candidates(sql: &mut Sql, filter: &RecordFilter, keys: Keys) -> Option<String> {
    if let Some(text) = &filter.text {
        return Some(text_candidates(sql, text, keys));
    }
    let field = filter.fields.first()?;
    // The objects alone: the typed check's parameters would go unused here.
    let objects: Vec<String> =
        field_alternatives(&field.key, &field.value).into_iter().map(|(json, ..)| bind_object(sql, json)).collect();
    if objects.is_empty() {
        return None;
    }
    Some(field_candidates(sql, &objects, keys))
}

/// The condition `key = value` on `r.context`: candidates from the GIN
/// index of the search side table up to its mark and a scan above it, then
/// the exact typed check on the record itself.
pub(crate) fn field_condition(sql: &mut Sql, key: &str, value: &FieldValue, ids: IdPlan) -> String {
    let Some((objects, exact)) = field_parts(sql, key, value) else {
        return "FALSE".to_owned();
    };
    let listed = ids.wrap(sql, |sql| field_candidates(sql, &objects, Keys::Id));
    format!("({listed} AND {exact})")
}

/// The message condition tested on the record `r` itself, without an index
/// (see [`field_check`]).
pub(crate) fn text_check(sql: &mut Sql, text: &str) -> String {
    format!("r.message ILIKE {}", sql.bind(format!("%{}%", like_escape(text))))
}

/// The condition `key op bound` on a JSON number in `r.context`: the
/// `(key, num, id)` btree of `log_search_num` up to the search mark (filled
/// with `log_search`), and a scan above it. The scan compares as `numeric`
/// so a number beyond float8's range is compared, not an error.
pub(crate) fn range_condition(sql: &mut Sql, r: &FieldRange) -> String {
    let op = r.op.symbol();
    let key = sql.bind(r.key.clone());
    let bound = sql.bind(r.bound);
    let mark = mark_expr(sql);
    format!(
        "r.id IN (SELECT n.id FROM log_search_num n WHERE n.key = {key} AND n.num {op} {bound} \
         UNION ALL SELECT t.id FROM log_records t WHERE t.id > {mark} \
         AND CASE WHEN jsonb_typeof(t.context -> {key}::text) = 'number' \
         THEN (t.context -> {key}::text)::numeric END {op} {bound}::float8::numeric)"
    )
}

/// The message condition: the records [`text_candidates`] lists.
pub(crate) fn text_condition(sql: &mut Sql, text: &str, ids: IdPlan) -> String {
    ids.wrap(sql, |sql| text_candidates(sql, text, Keys::Id))
}

/// How a searching condition (text, context field) hands its index's ids to the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdPlan {
    /// `r.id IN (…)`: the planner's choice, right for counting many rows.
    /// For an ordered page it may walk the time index and test each row
    /// against the hashed ids, reading the whole table when few rows match
    /// (the request view took 130 ms at 2 M rows).
    Join,
    /// `r.id = ANY(ARRAY(…))`: the ids listed first, then each row fetched
    /// by its key and the few sorted: for a page whose matches are few
    /// (what a walk of the nearest rows could not settle). With the pairs
    /// already read ([`Sql::listed`]), `r.id = ANY($ids) AND r.ts = ANY($ts)`
    /// instead: on a table partitioned by day the values prune the days
    /// while planning, where a list from a subquery probes every day's id
    /// index (and plans every day).
    List,
}

impl IdPlan {
    /// The condition on `r` for the records `candidates` lists (built only
    /// when the statement reads them: an unused parameter is an error).
    fn wrap(self, sql: &mut Sql, candidates: impl FnOnce(&mut Sql) -> String) -> String {
        match self {
            IdPlan::Join => format!("r.id IN ({})", candidates(sql)),
            IdPlan::List => match sql.listed.take() {
                Some((ts, ids)) => {
                    let ids = sql.bind(ids);
                    let ts = sql.bind(ts);
                    format!("(r.id = ANY({ids}::int8[]) AND r.ts = ANY({ts}::timestamptz[]))")
                }
                None => format!("r.id = ANY(ARRAY({}))", candidates(sql)),
            },
        }
    }
}

/// The conditions of `filter` on `log_records r`, ANDed (`TRUE` when none).
pub(crate) fn filter_conditions(sql: &mut Sql, filter: &RecordFilter) -> String {
    conditions(sql, filter, IdPlan::Join)
}

/// [`filter_conditions`] for an ordered page or the request view, once a
/// walk of the nearest rows has shown the matches to be few: the first
/// searching condition lists its ids first ([`IdPlan::List`]); any other
/// stays a join (a listed array tested row by row would cost rows × ids).
pub(crate) fn page_conditions(sql: &mut Sql, filter: &RecordFilter) -> String {
    conditions(sql, filter, IdPlan::List)
}

fn conditions(sql: &mut Sql, filter: &RecordFilter, first_ids: IdPlan) -> String {
    let mut ids = first_ids;
    let mut parts = Vec::new();
    if let Some(logger) = &filter.logger {
        parts.push(logger_condition(sql, "r.logger", logger));
    }
    if let Some(min) = filter.min_level {
        parts.push(format!("r.level >= {}", sql.bind(severity(min))));
    }
    if !filter.levels.is_empty() {
        let levels: Vec<i16> = filter.levels.iter().map(|l| severity(*l)).collect();
        parts.push(format!("r.level = ANY({}::int2[])", sql.bind(levels)));
    }
    if filter.keeps_warnings_only() {
        // Inlined, so the planner proves the partial indexes' predicate
        // from the query text (a generic plan cannot from a parameter).
        parts.push(format!("r.level >= {WARN}"));
    }
    if let Some(since) = filter.since {
        parts.push(format!("r.ts >= {}", sql.bind(system_time(since))));
    }
    if let Some(until) = filter.until {
        parts.push(format!("r.ts < {}", sql.bind(system_time(until))));
    }
    if let Some(app) = &filter.app {
        parts.push(format!("r.app = {}", sql.bind(app.clone())));
    }
    if let Some(host) = &filter.host {
        parts.push(format!("r.host = {}", sql.bind(host.clone())));
    }
    if let Some(pid) = filter.pid {
        // A pid above i32::MAX cannot be stored; it matches nothing.
        match i32::try_from(pid) {
            Ok(pid) => parts.push(format!("r.pid = {}", sql.bind(pid))),
            Err(_) => parts.push("FALSE".to_owned()),
        }
    }
    if let Some(thread) = &filter.thread {
        parts.push(format!("r.thread = {}", sql.bind(thread.clone())));
    }
    if let Some(text) = &filter.text {
        parts.push(text_condition(sql, text, ids));
        ids = IdPlan::Join;
    }
    for field in &filter.fields {
        parts.push(field_condition(sql, &field.key, &field.value, ids));
        ids = IdPlan::Join;
    }
    for range in &filter.ranges {
        parts.push(range_condition(sql, range));
    }
    if let Some(site) = &filter.site {
        parts.push(format!("r.file = {}", sql.bind(site.file.clone())));
        if let Some(line) = site.line {
            // A line above i32::MAX cannot be stored; it matches nothing.
            match i32::try_from(line) {
                Ok(line) => parts.push(format!("r.line = {}", sql.bind(line))),
                Err(_) => parts.push("FALSE".to_owned()),
            }
        }
    }
    if let Some(q) = &filter.query {
        // Each leaf of the expression is the conditions of its one-condition
        // filter, so it uses the index the same condition uses outside one.
        parts.push(q.to_sql(&mut |f| filter_conditions(sql, f), "FALSE"));
    }
    if parts.is_empty() {
        "TRUE".to_owned()
    } else {
        parts.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn text_values_match_every_typed_form() {
        let json = |v: FieldValue| -> Vec<String> { field_alternatives("k", &v).into_iter().map(|a| a.0).collect() };
        assert_eq!(json(FieldValue::Text("7".into())), [r#"{"k":"7"}"#, r#"{"k":7}"#]);
        assert_eq!(json(FieldValue::Text("true".into())), [r#"{"k":"true"}"#, r#"{"k":true}"#]);
        assert_eq!(json(FieldValue::Text("2.5".into())), [r#"{"k":"2.5"}"#, r#"{"k":2.5}"#]);
        assert_eq!(json(FieldValue::Int(7)), [r#"{"k":7}"#]);
        assert_eq!(json(FieldValue::Str("7".into())), [r#"{"k":"7"}"#]);
        let forms: Vec<NumberForm> =
            field_alternatives("k", &FieldValue::Text("2.5".into())).into_iter().map(|a| a.1).collect();
        assert_eq!(forms, [NumberForm::Any, NumberForm::Float]);
    }
}
