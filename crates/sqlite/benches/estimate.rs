//! Where the time of a lone context value's estimated histogram goes
//! (docs/performance.md, "The hot value's exact bars, cheaper (session 39)"):
//! on `LOG_PANEL_ESTIMATE_DB` (opened read-only; the 10 M hostile file), the
//! panel's 91 daily bars of `LOG_PANEL_ESTIMATE_FIELD` (default `user_id=3`)
//! through `histogram_estimate`, the records page beside it, and the
//! statements the bars' count is made of, each timed alone, alternating.
//! The store reads schema 11 and 12 alike, so one build times both layouts
//! of the side table (session 40: a file and its copy migrated to 12).
//!
//! ```text
//! LOG_PANEL_ESTIMATE_DB=/work/data/c/h10m-v11.db cargo bench -p log-panel-sqlite --bench estimate
//! ```
//!
//! With `LOG_PANEL_ESTIMATE_CASE=five`: the panel's 7-day histogram (bars
//! of 3 h) of the five-condition combination of the hostile set (`api::`
//! tree, WARN and above, 7 days, text `timeout`, `tenant=globex`;
//! docs/performance.md, session 40), and the statements an exact count of
//! it can be made of.
//!
//! Each read runs `LOG_PANEL_BENCH_ROUNDS` (default 30) times; one line per
//! read with its answer, median, p95 and maximum in ms.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ms, timed};
use log_panel_core::Timestamp;
use log_panel_query::{LevelCounts, PageAt, RecordFilter, Slots, Store};
use log_panel_sqlite::SqliteStore;
use rusqlite::{params_from_iter, Connection, OpenFlags, OptionalExtension};

/// A slot's first and last id by time: the two time-index lookups the
/// estimate makes per bar.
fn slot_ids(conn: &Connection, a: &str, b: &str) -> Option<(i64, i64)> {
    let first = conn
        .prepare_cached("SELECT id FROM log_records WHERE ts >= ?1 ORDER BY ts, id LIMIT 1")
        .unwrap()
        .query_row([a], |r| r.get::<_, i64>(0))
        .optional()
        .unwrap();
    let last = conn
        .prepare_cached("SELECT id FROM log_records WHERE ts < ?1 ORDER BY ts DESC, id DESC LIMIT 1")
        .unwrap()
        .query_row([b], |r| r.get::<_, i64>(0))
        .optional()
        .unwrap();
    first.zip(last).filter(|(lo, hi)| lo <= hi)
}

type Read<'a> = Box<dyn Fn() -> String + 'a>;

fn main() {
    let rounds: usize = std::env::var("LOG_PANEL_BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    let db = std::env::var("LOG_PANEL_ESTIMATE_DB").expect("LOG_PANEL_ESTIMATE_DB: the file to read");
    let store = SqliteStore::open(std::path::Path::new(&db)).unwrap();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap();
    let now = newest.records.first().map_or_else(|| Timestamp::now().0, |r| r.ts.0 + 1);
    if std::env::var("LOG_PANEL_ESTIMATE_CASE").is_ok_and(|c| c == "five") {
        five(&store, &conn, now, rounds);
    } else {
        field(&store, &conn, now, rounds);
    }
}

/// The lone context value's 91 daily bars and their statements.
fn field(store: &SqliteStore, conn: &Connection, now: i64, rounds: usize) {
    let field = std::env::var("LOG_PANEL_ESTIMATE_FIELD").unwrap_or_else(|_| "user_id=3".into());
    let slots = Slots::days_until(Timestamp(now), 0, 91).unwrap();
    let mut filter = RecordFilter::default();
    filter.fields = vec![field.parse().unwrap()];
    let bounds: Vec<String> = slots.bounds().iter().map(|t| t.to_rfc3339()).collect();
    let (key, value) = field.split_once('=').unwrap();
    let int: i64 = value.parse().unwrap();
    let extents: Vec<(i64, i64)> =
        (0..slots.len()).filter_map(|i| slot_ids(conn, &bounds[i], &bounds[i + 1])).collect();
    let part = |id: i64| id >> 16;
    // The levels' sample of the estimate: 500 blocks of 20 ids evenly over
    // the span (the store spreads them per bar, in proportion).
    let level_blocks = {
        let (first, last) = (extents[0].0, extents[extents.len() - 1].1);
        let share = (last - first + 1) / 500;
        let listed: Vec<String> = (0..500)
            .map(|k| first + k * share + (share - 20) / 2)
            .map(|start| format!("[{start},{}]", start + 20))
            .collect();
        format!("[{}]", listed.join(","))
    };

    let reads: Vec<(&str, Read<'_>)> = vec![
        (
            "histogram_estimate (91 days)",
            Box::new(|| {
                let h = store.histogram_estimate(&filter, &slots).unwrap();
                h.slots.iter().map(LevelCounts::total).sum::<u64>().to_string()
            }),
        ),
        (
            "records page (50 newest)",
            Box::new(|| store.records(&filter, PageAt::Newest, 50).unwrap().records.len().to_string()),
        ),
        (
            "slot ids: 182 time-index lookups",
            Box::new(|| {
                (0..slots.len()).filter_map(|i| slot_ids(conn, &bounds[i], &bounds[i + 1])).count().to_string()
            }),
        ),
        ("zone map read whole", Box::new(|| zone_map_read(conn))),
        (
            "counts: a statement per bar, part and form, typeof checked (main)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT count(*) FROM log_context_index
                         WHERE key = ?1 AND part = ?2 AND value = ?3 AND id BETWEEN ?4 AND ?5 AND typeof(value) = ?6",
                    )
                    .unwrap();
                let forms: [(rusqlite::types::Value, &str); 2] = [
                    (rusqlite::types::Value::Text(value.into()), "text"),
                    (rusqlite::types::Value::Integer(int), "integer"),
                ];
                let mut n = 0i64;
                for &(lo, hi) in &extents {
                    for p in part(lo)..=part(hi) {
                        for (v, t) in &forms {
                            n += stmt
                                .query_row(rusqlite::params![key, p, v, lo, hi, t], |r| r.get::<_, i64>(0))
                                .unwrap();
                        }
                    }
                }
                n.to_string()
            }),
        ),
        (
            "counts: per bar and part, both forms in one statement, no typeof (exact on schema 12; on 11 it would count a real 3.0)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT count(*) FROM log_context_index
                         WHERE key = ?1 AND part = ?2 AND value IN (?3, ?4) AND id BETWEEN ?5 AND ?6",
                    )
                    .unwrap();
                let mut n = 0i64;
                for &(lo, hi) in &extents {
                    for p in part(lo)..=part(hi) {
                        n += stmt
                            .query_row(rusqlite::params![key, p, int, value, lo, hi], |r| r.get::<_, i64>(0))
                            .unwrap();
                    }
                }
                n.to_string()
            }),
        ),
        (
            "counts: one statement, bars x parts joined, GROUP BY bar, typeof checked",
            Box::new(|| {
                let bars: Vec<String> = extents.iter().map(|(lo, hi)| format!("[{lo},{hi}]")).collect();
                let mut stmt = conn
                    .prepare_cached(
                        "WITH b(n, lo, hi) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1)),
                              p(n, bar, lo, hi) AS (
                                  SELECT b.lo >> 16, b.n, b.lo, b.hi FROM b
                                  UNION ALL SELECT p.n + 1, p.bar, p.lo, p.hi FROM p WHERE p.n < p.hi >> 16)
                         SELECT p.bar, count(*) FROM p CROSS JOIN log_context_index AS e
                           ON e.key = ?2 AND e.part = p.n AND e.value IN (?3, ?4) AND e.id BETWEEN p.lo AND p.hi
                              AND typeof(e.value) IN ('integer', 'text')
                         GROUP BY p.bar",
                    )
                    .unwrap();
                let rows = stmt
                    .query_map(rusqlite::params![format!("[{}]", bars.join(",")), key, int, value], |r| {
                        r.get::<_, i64>(1)
                    })
                    .unwrap();
                rows.map(Result::unwrap).sum::<i64>().to_string()
            }),
        ),
        (
            "ids: every entry returned, one statement (bucketed by the caller)",
            Box::new(|| {
                let (first, last) = (extents[0].0, extents[extents.len() - 1].1);
                let mut stmt = conn
                    .prepare_cached(
                        "WITH RECURSIVE p(n) AS (SELECT ?2 UNION ALL SELECT n + 1 FROM p WHERE n < ?3)
                         SELECT e.id FROM p CROSS JOIN log_context_index AS e
                           ON e.key = ?1 AND e.part = p.n AND e.value = ?4 AND e.id BETWEEN ?5 AND ?6",
                    )
                    .unwrap();
                let mut bar = vec![0u32; extents.len()];
                let mut rows = stmt.query(rusqlite::params![key, part(first), part(last), int, first, last]).unwrap();
                let mut k = 0;
                while let Some(r) = rows.next().unwrap() {
                    let id: i64 = r.get(0).unwrap();
                    while k < extents.len() && extents[k].1 < id {
                        k += 1;
                    }
                    if k < extents.len() && extents[k].0 <= id {
                        bar[k] += 1;
                    }
                }
                bar.iter().sum::<u32>().to_string()
            }),
        ),
        (
            "levels: 500 blocks of 20 ids, every row's context checked (session 40)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "WITH b(n, start, stop) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1))
                         SELECT count(*), sum(level) FROM b CROSS JOIN log_records NOT INDEXED
                         WHERE log_records.id >= b.start AND log_records.id < b.stop
                           AND json_extract(context, '$.{key}') IN (?2, ?3)"
                    ))
                    .unwrap();
                stmt.query_row(rusqlite::params![level_blocks, int, value], |r| r.get::<_, i64>(0)).unwrap().to_string()
            }),
        ),
        (
            "levels: the same blocks' side-table entries, each match's record by id (session 41)",
            Box::new(|| {
                let mut stmt = conn
                    .prepare_cached(
                        "WITH t(n, start, stop) AS (SELECT key, value ->> 0, value ->> 1 FROM json_each(?1))
                         SELECT count(*), sum(r.level) FROM t
                           CROSS JOIN log_context_index AS e
                             ON e.key = ?2 AND e.part IN (t.start >> 16, (t.stop - 1) >> 16)
                                AND e.value IN (?3, ?4) AND e.id >= t.start AND e.id < t.stop
                           CROSS JOIN log_records AS r ON r.id = e.id",
                    )
                    .unwrap();
                stmt.query_row(rusqlite::params![level_blocks, key, int, value], |r| r.get::<_, i64>(0))
                    .unwrap()
                    .to_string()
            }),
        ),
    ];
    run(&reads, rounds);
}

/// Runs every read `rounds` times, alternating (the first round dropped),
/// and prints each one's answer, median, p95 and maximum.
fn run(reads: &[(&str, Read<'_>)], rounds: usize) {
    let mut times = vec![Vec::new(); reads.len()];
    let mut answers = vec![String::new(); reads.len()];
    for round in 0..rounds {
        for k in 0..reads.len() {
            let k = (k + round) % reads.len();
            let (answer, t) = timed(&reads[k].1);
            answers[k] = answer;
            if round > 0 {
                times[k].push(t);
            }
        }
    }
    for ((name, _), (t, answer)) in reads.iter().zip(times.into_iter().zip(answers)) {
        let (p50, p95, max) = ms(t);
        println!("{name}: {answer} | median {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms");
    }
}

/// The five-condition combination's 7-day histogram (docs/performance.md,
/// session 40): the store's read, and the statements an exact count is
/// made of, each alone. `lp_contains` is registered here as the store does
/// (an ASCII case-insensitive substring test: the data is ASCII).
fn five(store: &SqliteStore, conn: &Connection, now: i64, rounds: usize) {
    use log_panel_core::Level;
    use log_panel_query::LoggerMatch;
    const HOUR: i64 = 3_600_000_000;
    conn.create_scalar_function("lp_contains", 2, rusqlite::functions::FunctionFlags::SQLITE_UTF8, |ctx| {
        let hay: String = ctx.get(0)?;
        let needle: String = ctx.get(1)?;
        Ok(hay.to_ascii_lowercase().contains(&needle))
    })
    .unwrap();
    let since = Timestamp(now - 7 * 24 * HOUR);
    let mut filter = RecordFilter::default();
    filter.logger = Some(LoggerMatch::Tree("api".into()));
    filter.min_level = Some(Level::Warn);
    filter.since = Some(since);
    filter.text = Some("timeout".into());
    filter.fields = vec!["tenant=globex".parse().unwrap()];
    // The panel's bars: 3 h each, from the one holding `since` to the one holding now.
    let w = 3 * HOUR;
    let (first_bar, end) = (since.0.div_euclid(w) * w, (now + w - 1).div_euclid(w) * w);
    let slots = Slots::ending_at(Timestamp(end), w, usize::try_from((end - first_bar) / w).unwrap()).unwrap();
    let (a, b) = (since.to_rfc3339(), Timestamp(end).to_rfc3339());
    let span: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT id FROM log_records WHERE ts >= ?1 ORDER BY ts, id LIMIT 1),
                    (SELECT id FROM log_records WHERE ts < ?2 ORDER BY ts DESC, id DESC LIMIT 1)",
            [&a, &b],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let tree = "logger IN (SELECT logger FROM log_logger_stats WHERE logger = 'api' OR (logger >= 'api::' AND logger < 'api:;'))";
    let time = "level >= 30 AND ts >= ?1 AND ts < ?2";
    let text = "lp_contains(message, 'timeout')";
    let tenant = "instr(context, '\"tenant\":\"globex\"') > 0 AND json_extract(context, '$.tenant') IN ('globex')
                  AND json_type(context, '$.tenant') IN ('text')";
    // The term's index query as the store looks it up: its three rarest
    // trigrams near the newest end (`search::lookup_query`).
    let mut ranked: Vec<(i64, &str)> = ["tim", "ime", "meo", "eou", "out"]
        .into_iter()
        .map(|t| {
            let nth: Option<i64> = conn
                .query_row(
                    "SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH ?1 ORDER BY rowid DESC LIMIT 1 OFFSET 63",
                    [format!("\"{t}\"")],
                    |r| r.get(0),
                )
                .optional()
                .unwrap();
            (nth.unwrap_or(i64::MIN), t)
        })
        .collect();
    ranked.sort_unstable();
    let mut rarest: Vec<&str> = ranked.into_iter().take(3).map(|(_, t)| t).collect();
    rarest.sort_unstable();
    let query = rarest.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" AND ");
    println!("index query {query}");
    let term = format!(
        "SELECT rowid FROM log_records_fts WHERE log_records_fts MATCH '{}' AND rowid BETWEEN ?3 AND ?4",
        query.replace('\'', "''")
    );
    let warnings = format!("SELECT id FROM log_records INDEXED BY log_records_warn_logger_ts WHERE {tree} AND {time}");
    let statements: Vec<(&str, String)> = vec![
        ("count as planned: the tree's warnings walked, every condition on each row", format!(
            "SELECT ts, level FROM log_records WHERE {tree} AND {time} AND {text} AND {tenant}")),
        ("the tree's warnings walked, rows read, no test", format!(
            "SELECT ts, level FROM log_records WHERE {tree} AND {time} AND length(message) >= 0")),
        ("the tree's warnings walked, the text tested", format!(
            "SELECT ts, level FROM log_records WHERE {tree} AND {time} AND {text}")),
        ("the tree's warnings walked, the tenant tested", format!(
            "SELECT ts, level FROM log_records WHERE {tree} AND {time} AND {tenant}")),
        ("the tree's warnings: ids only (covering)", warnings.clone()),
        ("the term's candidates within the span's ids", term.clone()),
        ("candidates within the span, their rows, every condition", format!(
            "SELECT ts, level FROM log_records WHERE id IN ({term}) AND {tree} AND {time} AND {text} AND {tenant}")),
        ("candidates within the span, their rows first (no index of the records)", format!(
            "SELECT ts, level FROM log_records WHERE id IN ({term}) AND +{tree} AND +level >= 30 AND +ts >= ?1 AND +ts < ?2
             AND {text} AND {tenant}")),
        ("the tree's warnings walked, candidates within the span as a set tested on each entry", format!(
            "SELECT ts, level FROM log_records INDEXED BY log_records_warn_logger_ts WHERE id IN ({term}) AND {tree}
             AND {time} AND {text} AND {tenant}")),
        ("candidates within the span ∩ the warnings' ids", format!("{term} INTERSECT {warnings}")),
        ("that intersection's rows, every condition", format!(
            "SELECT ts, level FROM log_records WHERE id IN ({term} INTERSECT {warnings}) AND {tree} AND {time} AND {text} AND {tenant}")),
    ];
    let params: Vec<rusqlite::types::Value> = vec![a.into(), b.into(), span.0.into(), span.1.into()];
    for (name, sql) in &statements {
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params_from_iter(params.iter().take(stmt_params(conn, sql))), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        println!("{name}: {}", plan.join(" | "));
    }
    let mut reads: Vec<(&str, Read<'_>)> = vec![
        (
            "histogram_estimate (7 days, 3 h bars)",
            Box::new(|| {
                let h = store.histogram_estimate(&filter, &slots).unwrap();
                format!("{} {}", h.slots.iter().map(LevelCounts::total).sum::<u64>(), h.sample.is_some())
            }),
        ),
        (
            "histogram, exact (the panel's count-exactly link)",
            Box::new(|| {
                store.histogram(&filter, &slots).unwrap().slots.iter().map(LevelCounts::total).sum::<u64>().to_string()
            }),
        ),
        (
            "records page (50 newest)",
            Box::new(|| store.records(&filter, PageAt::Newest, 50).unwrap().records.len().to_string()),
        ),
        (
            "the walk's rows from the aggregates (the tree's warnings over the span's quarter hours)",
            Box::new(|| {
                let q = 15 * 60 * 1_000_000;
                let quarters = Slots::new(vec![Timestamp(since.0.div_euclid(q) * q), Timestamp(end)]).unwrap();
                let mut walk = RecordFilter::default();
                walk.logger.clone_from(&filter.logger);
                walk.min_level = filter.min_level;
                store.histogram(&walk, &quarters).unwrap().slots.iter().map(LevelCounts::total).sum::<u64>().to_string()
            }),
        ),
        ("the zone map read whole", Box::new(|| zone_map_read(conn))),
    ];
    for (name, sql) in &statements {
        let params = &params;
        reads.push((
            name,
            Box::new(move || {
                let mut stmt = conn.prepare_cached(sql).unwrap();
                let n = stmt.parameter_count();
                let mut rows = stmt.query(params_from_iter(params.iter().take(n))).unwrap();
                let mut n = 0;
                while rows.next().unwrap().is_some() {
                    n += 1;
                }
                n.to_string()
            }),
        ));
    }
    println!("span ids {span:?}, {} bars", slots.len());
    run(&reads, rounds);
}

/// How many parameters `sql` takes (its highest `?N`).
fn stmt_params(conn: &Connection, sql: &str) -> usize {
    conn.prepare_cached(sql).unwrap().parameter_count()
}

/// The zone map read whole, as the estimate and a plan read it: its rows.
fn zone_map_read(conn: &Connection) -> String {
    let mut stmt = conn.prepare_cached("SELECT part, min_ts, max_ts FROM log_id_times ORDER BY part").unwrap();
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))).unwrap();
    rows.count().to_string()
}
