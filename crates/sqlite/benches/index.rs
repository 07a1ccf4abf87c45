//! What indexing a record costs: the message search index (FTS5 trigram)
//! and the context side table, each timed apart, in variants of their
//! schema and statements, against the sink's own steps.
//! docs/performance.md, "SQLite: the cost of indexing a record"; where a
//! step's time goes, profiled with `perf_steps.py` beside this file: "Where
//! an index step's time goes" (session 38).
//!
//! ```text
//! LOG_PANEL_BENCH_SOURCE=/tmp/hostile.db LOG_PANEL_BENCH_RECORDS=100000 \
//!   cargo bench -p log-panel-sqlite --bench index
//! ```
//!
//! `LOG_PANEL_BENCH_SOURCE` is a log-panel database whose first
//! `LOG_PANEL_BENCH_RECORDS` (default 100 000) records are copied, unindexed,
//! into a fresh file per variant (`LOG_PANEL_BENCH_DIR`, default a temp dir);
//! without one, records of [`app_batch`] are written. Each variant then
//! indexes them in transactions of `LOG_PANEL_BENCH_STEP` (default 2 000)
//! rows; `LOG_PANEL_BENCH_ROUNDS` (default 2) rounds, the variants in
//! reversed order every other round. `LOG_PANEL_BENCH_ONLY` runs the
//! variants whose name contains one of its comma-separated words. Prints one
//! line of JSON per variant and round.
//!
//! The `idle …` variants time the sink's own idle steps (`Sink::idle` until
//! it says nothing is left, the steps the writer runs between batches) on a
//! copy of one base file whose first `LOG_PANEL_BENCH_BELOW`
//! records are indexed: *cold* is the first tenth of the timed records on a
//! sink just opened (an empty page cache), *warm* the rest, on the same
//! connection. Each variant sets its setting on the sink's connection (a
//! pragma, an FTS5 option) before the timed part, so every variant runs the
//! same build; each step's time is timed too (its p50, p99 and maximum: a
//! step is one write transaction, so a batch may wait that long behind it).
//! `LOG_PANEL_BENCH_KEEP=1` keeps their base file in
//! `LOG_PANEL_BENCH_DIR` and reuses it in the next run (so a profile of that
//! run is mostly the timed steps). `read rows` reads what a step reads (messages, `json_each` of
//! the contexts) and writes nothing: the part of a step that is not inserts;
//! the `json …` variants read the context entries with the JSON parsed
//! three times (schema 9's `json_valid`, `json_type`, `json_each`), twice,
//! once, or not at all.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Origin, Sink};
use log_panel_query::{FieldRange, FieldValue, PageAt, RangeOp, RecordFilter, Store};
use log_panel_sqlite::{SqliteSink, SqliteStore};
use log_panel_testing::records::{app_batch, APP_BATCH};
use rusqlite::{params, Connection};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// A variant: how the file is prepared after the copy, and how one step of
/// `rows` records above `mark` is indexed.
struct Variant {
    name: &'static str,
    prepare: String,
    step: fn(&Connection, i64, i64) -> rusqlite::Result<()>,
}

/// The statements that make the search index anew with `options`.
fn fts_table(options: &str) -> String {
    format!(
        "DROP TABLE log_records_fts;
         CREATE VIRTUAL TABLE log_records_fts USING fts5(message, content='log_records', content_rowid='id',
             tokenize='trigram case_sensitive 0'{options});"
    )
}

/// Runs `sql` for the records above `mark` up to `last` (`?1`, `?2`).
fn exec(conn: &Connection, sql: &str, mark: i64, last: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute(params![mark, last])?;
    Ok(())
}

fn fts(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql =
        "INSERT INTO log_records_fts (rowid, message) SELECT id, message FROM log_records WHERE id > ?1 AND id <= ?2";
    exec(conn, sql, mark, last)
}

const CTX_ENTRIES: &str = "SELECT j.key,
        CASE WHEN j.type = 'text' AND length(j.value) > 128 THEN substr(j.value, 1, 128) ELSE j.value END, r.id
     FROM log_records AS r,
          json_each(CASE WHEN json_valid(r.context) THEN CASE WHEN json_type(r.context) = 'object' THEN r.context END END) AS j
     WHERE r.id > ?1 AND r.id <= ?2
       AND j.type IN ('text', 'integer', 'real', 'true', 'false') AND length(j.key) <= 128";

fn ctx(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    exec(conn, &format!("INSERT OR IGNORE INTO log_context_index (key, value, id) {CTX_ENTRIES}"), mark, last)
}

fn ctx_sorted(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT OR IGNORE INTO log_context_index (key, value, id) SELECT * FROM ({CTX_ENTRIES}) ORDER BY 1, 2, 3"
    );
    exec(conn, &sql, mark, last)
}

/// The side table keyed by (key, value, id), as before schema 9.
const OLD_CTX: &str = "DROP TABLE log_context_index;
    CREATE TABLE log_context_index (key TEXT NOT NULL, value NOT NULL, id INTEGER NOT NULL,
        PRIMARY KEY (key, value, id)) WITHOUT ROWID;";

/// The side table keyed by (key, part, value, id), `part` being the id's
/// 2^16-record range: a step's entries land in the current part of each key.
const PARTS: &str = "DROP TABLE log_context_index;
    CREATE TABLE log_context_index (key TEXT NOT NULL, part INTEGER NOT NULL, value NOT NULL, id INTEGER NOT NULL,
        PRIMARY KEY (key, part, value, id)) WITHOUT ROWID;";

fn ctx_parts(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT OR IGNORE INTO log_context_index (key, value, id, part) SELECT e.*, e.id >> 16 FROM ({CTX_ENTRIES}) AS e"
    );
    exec(conn, &sql, mark, last)
}

/// What a step reads and writes nothing with: the messages the search
/// index takes and the context entries the side table takes.
fn read_rows(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let n: i64 = conn
        .prepare_cached("SELECT sum(length(message)) FROM log_records WHERE id > ?1 AND id <= ?2")?
        .query_row(params![mark, last], |r| r.get::<_, Option<i64>>(0))?
        .unwrap_or(0);
    let m: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM ({CTX_ENTRIES})"))?
        .query_row(params![mark, last], |r| r.get(0))?;
    std::hint::black_box((n, m));
    Ok(())
}

/// Counts the rows `entries` gives for the records above `mark` up to
/// `last` and writes nothing: what reading a step's context entries costs
/// with a given way of parsing the JSON.
fn count_entries(conn: &Connection, entries: &str, mark: i64, last: i64) -> rusqlite::Result<()> {
    let n: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM ({entries})"))?
        .query_row(params![mark, last], |r| r.get(0))?;
    std::hint::black_box(n);
    Ok(())
}

/// Schema 9's entries with the JSON parsed twice, not three times:
/// `json_valid` guards `json_each`, and a top-level object is told from an
/// array or a scalar by its entries' keys (text for an object's members,
/// an integer index for an array's, NULL for a scalar) instead of by
/// `json_type`, which parses the text once more.
const CTX_ENTRIES_2: &str = "SELECT j.key,
        CASE WHEN j.type = 'text' AND length(j.value) > 128 THEN substr(j.value, 1, 128) ELSE j.value END, r.id
     FROM log_records AS r, json_each(CASE WHEN json_valid(r.context) THEN r.context END) AS j
     WHERE r.id > ?1 AND r.id <= ?2 AND typeof(j.key) = 'text'
       AND j.type IN ('text', 'integer', 'real', 'true', 'false') AND length(j.key) <= 128";

/// The entries with one parse, unguarded: `json_each` alone (an error on a
/// context that is not JSON, so only for measuring what a parse costs).
const CTX_ENTRIES_1: &str = "SELECT j.key,
        CASE WHEN j.type = 'text' AND length(j.value) > 128 THEN substr(j.value, 1, 128) ELSE j.value END, r.id
     FROM log_records AS r, json_each(r.context) AS j
     WHERE r.id > ?1 AND r.id <= ?2 AND typeof(j.key) = 'text'
       AND j.type IN ('text', 'integer', 'real', 'true', 'false') AND length(j.key) <= 128";

fn json_3(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    count_entries(conn, CTX_ENTRIES, mark, last)
}

fn json_2(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    count_entries(conn, CTX_ENTRIES_2, mark, last)
}

fn json_1(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    count_entries(conn, CTX_ENTRIES_1, mark, last)
}

/// `json_valid` of each context alone: one parse a record.
fn json_valid_only(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    count_entries(conn, "SELECT 1 FROM log_records WHERE id > ?1 AND id <= ?2 AND json_valid(context)", mark, last)
}

/// The records' contexts read and nothing parsed.
fn json_none(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    count_entries(conn, "SELECT 1 FROM log_records WHERE id > ?1 AND id <= ?2 AND length(context) > 0", mark, last)
}

fn ctx_parts_2(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT OR IGNORE INTO log_context_index (key, value, id, part) SELECT e.*, e.id >> 16 FROM ({CTX_ENTRIES_2}) AS e"
    );
    exec(conn, &sql, mark, last)
}

/// Schema 9's insert without `OR IGNORE` (a duplicate key in a context
/// would fail it: only for measuring what the conflict check costs).
fn ctx_parts_plain(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO log_context_index (key, value, id, part) SELECT e.*, e.id >> 16 FROM ({CTX_ENTRIES}) AS e"
    );
    exec(conn, &sql, mark, last)
}

/// The side table with parts of 2^12 records (16 times smaller than schema 9's).
fn ctx_parts_12(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT OR IGNORE INTO log_context_index (key, value, id, part) SELECT e.*, e.id >> 12 FROM ({CTX_ENTRIES}) AS e"
    );
    exec(conn, &sql, mark, last)
}

fn both(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    fts(conn, mark, last)?;
    ctx(conn, mark, last)
}

fn both_parts(conn: &Connection, mark: i64, last: i64) -> rusqlite::Result<()> {
    fts(conn, mark, last)?;
    ctx_parts(conn, mark, last)
}

const NONE: &str = ", detail=none, columnsize=0";
const CACHE: &str = "PRAGMA cache_size = -65536;";

fn variants() -> Vec<Variant> {
    let v = |name, prepare: String, step| Variant { name, prepare, step };
    let merge = |setting: &str, value: u32| {
        format!("INSERT INTO log_records_fts (log_records_fts, rank) VALUES ('{setting}', {value});")
    };
    let old = |prepare: String| format!("{OLD_CTX}{prepare}");
    vec![
        v("both full (now)", old(fts_table("")), both),
        v("both full cache 64M", old(format!("{CACHE}{}", fts_table(""))), both),
        v("both none", old(fts_table(NONE)), both),
        v("both none cache 64M", old(format!("{CACHE}{}", fts_table(NONE))), both),
        v("both none parts (schema 9)", format!("{PARTS}{}", fts_table(NONE)), both_parts),
        v("fts full (now)", fts_table(""), fts),
        v("fts detail=column", fts_table(", detail=column"), fts),
        v("fts detail=none", fts_table(", detail=none"), fts),
        v("fts detail=none columnsize=0", fts_table(NONE), fts),
        v("fts full columnsize=0", fts_table(", columnsize=0"), fts),
        v("fts full automerge=16", format!("{}{}", fts_table(""), merge("automerge", 16)), fts),
        v("fts full crisismerge=64", format!("{}{}", fts_table(""), merge("crisismerge", 64)), fts),
        v("fts full pgsz=4000", format!("{}{}", fts_table(""), merge("pgsz", 4000)), fts),
        v("fts full cache 64M", format!("{CACHE}{}", fts_table("")), fts),
        v("read rows (schema 9)", String::new(), read_rows),
        v("fts (schema 9)", String::new(), fts),
        v("ctx (schema 9)", String::new(), ctx_parts),
        v("both (schema 9)", String::new(), both_parts),
        v("ctx parts of 2^12", PARTS.to_owned(), ctx_parts_12),
        v("json none (read contexts)", String::new(), json_none),
        v("json valid only", String::new(), json_valid_only),
        v("json rows 3 parses (schema 9)", String::new(), json_3),
        v("json rows 2 parses", String::new(), json_2),
        v("json rows 1 parse", String::new(), json_1),
        v("ctx 2 parses", String::new(), ctx_parts_2),
        v("ctx plain insert", String::new(), ctx_parts_plain),
        v("ctx json_each (now)", OLD_CTX.to_owned(), ctx),
        v("ctx parts", PARTS.to_owned(), ctx_parts),
        v("ctx sorted", OLD_CTX.to_owned(), ctx_sorted),
        v("ctx cache 64M", old(CACHE.to_owned()), ctx),
        v("ctx sorted cache 64M", old(CACHE.to_owned()), ctx_sorted),
    ]
}

/// A fresh file at `path` with the current schema and the first `records`
/// records of `source` (or of [`app_batch`]), none indexed.
fn fresh(path: &Path, source: Option<&Path>, records: usize) -> Connection {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut sink = SqliteSink::open(path).unwrap();
    match source {
        Some(src) => {
            let conn = sink.connection();
            conn.execute("ATTACH DATABASE ?1 AS src", [src.display().to_string()]).unwrap();
            conn.execute(
                "INSERT INTO log_records (id, ts, level, logger, message, module, file, line, thread, pid, host, app,
                                          context, original_size)
                 SELECT id, ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size
                 FROM src.log_records WHERE id <= ?1",
                [records as i64],
            )
            .unwrap();
            conn.execute_batch("DETACH DATABASE src").unwrap();
        }
        None => {
            let origin = Origin::new("bench", "h", 1);
            for n in 0..records.div_ceil(APP_BATCH) {
                sink.write(&Batch::new(&origin, &app_batch(n))).unwrap();
            }
        }
    }
    drop(sink);
    let conn = Connection::open(path).unwrap();
    checkpoint(&conn);
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    // No checkpoint on this thread (the sink's are on a thread of its own):
    // the WAL's size at the end is what the indexing wrote.
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn
}

/// Copies the WAL into the file and empties it, waiting out any reader
/// (a dropped sink's checkpoint thread), so the WAL's size after a run is
/// what the run wrote.
fn checkpoint(conn: &Connection) {
    while conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)).unwrap() != 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Indexes every record of `conn` in steps of `step` rows, one transaction
/// each; returns the time.
fn run(conn: &Connection, v: &Variant, below: i64, step: i64) -> Duration {
    conn.execute_batch(&v.prepare).unwrap();
    let max: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM log_records", [], |r| r.get(0)).unwrap();
    let mut mark = 0;
    while mark < below {
        let last = (mark + 20_000).min(below);
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        (v.step)(conn, mark, last).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        mark = last;
    }
    checkpoint(conn);
    let t = Instant::now();
    while mark < max {
        let last = (mark + step).min(max);
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        (v.step)(conn, mark, last).unwrap();
        conn.execute_batch("COMMIT").unwrap();
        mark = last;
    }
    t.elapsed()
}

/// The sink's own steps: `index_some(step)` until nothing is left.
fn run_sink(path: &Path, below: usize, step: usize) -> Duration {
    let mut sink = SqliteSink::open(path).unwrap();
    if below > 0 {
        sink.index_some(below).unwrap();
        checkpoint(sink.connection());
    }
    let t = Instant::now();
    while sink.index_some(step).unwrap() {}
    t.elapsed()
}

/// A variant of the sink's idle steps: what is set on its connection first.
struct Idle {
    name: &'static str,
    setup: String,
    /// `index_some(rows)` transactions instead of idle steps: what the
    /// step's size alone does.
    rows: Option<usize>,
}

fn idle_variants() -> Vec<Idle> {
    let fts = |setting: &str, value: u32| {
        format!("INSERT INTO log_records_fts (log_records_fts, rank) VALUES ('{setting}', {value});")
    };
    let v = |name, setup: String| Idle { name, setup, rows: None };
    let some = |name, rows| Idle { name, setup: String::new(), rows: Some(rows) };
    vec![
        v("idle (now)", String::new()),
        v("idle cache 16M", "PRAGMA cache_size = -16384;".into()),
        v("idle cache 64M", "PRAGMA cache_size = -65536;".into()),
        v("idle mmap 1G", "PRAGMA mmap_size = 1073741824;".into()),
        v("idle cache 64M mmap 1G", "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824;".into()),
        // The pair session 39 proposed and session 40 measured at 10 M
        // (docs/performance.md): steps as short as FTS5's defaults', a
        // quarter more records a second, searches at 10 M 2-27 ms slower.
        v("idle automerge 16 crisismerge 64", format!("{}{}", fts("automerge", 16), fts("crisismerge", 64))),
        v("idle automerge 8", fts("automerge", 8)),
        v("idle automerge 16", fts("automerge", 16)),
        v("idle crisismerge 64", fts("crisismerge", 64)),
        v("idle usermerge 16", fts("usermerge", 16)),
        v("idle pgsz 4000", fts("pgsz", 4000)),
        v("idle cache 64M automerge 16", format!("PRAGMA cache_size = -65536; {}", fts("automerge", 16))),
        some("idle tx 2000 (index_some)", 2_000),
        some("idle tx 5000 (index_some)", 5_000),
        some("idle tx 10000 (index_some)", 10_000),
        some("idle tx 20000 (index_some)", 20_000),
    ]
}

/// The base of the idle variants: `fresh`'s file with its first `below`
/// records indexed by the sink, the WAL folded in.
fn idle_base(path: &Path, source: Option<&Path>, records: usize, below: usize) {
    drop(fresh(path, source, records));
    let mut sink = SqliteSink::open(path).unwrap();
    let mut done = 0;
    while done < below {
        let rows = 20_000.min(below - done);
        sink.index_some(rows).unwrap();
        done += rows;
    }
    drop(sink);
    checkpoint(&Connection::open(path).unwrap());
}

/// The sink's idle steps on a copy of `base` with `setup` run on its
/// connection first, until nothing is left: the time of the first
/// `cold_rows` records indexed and of the rest, and each step's time (one
/// write transaction: how long a batch may wait behind it).
fn run_idle(base: &Path, path: &Path, v: &Idle, cold_rows: i64) -> (Duration, Duration, Vec<Duration>, i64) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(base, path).unwrap();
    let mut sink = SqliteSink::open(path).unwrap();
    sink.connection().execute_batch(&v.setup).unwrap();
    let mark = |sink: &SqliteSink| -> i64 {
        sink.connection()
            .query_row(
                "SELECT min(s.indexed_id, a.indexed_id) FROM log_fts_state AS s, log_context_all AS a",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let start = mark(&sink);
    let (mut cold, mut steps) = (None, Vec::new());
    let t = Instant::now();
    let mut step = |sink: &mut SqliteSink| {
        let started = Instant::now();
        let more = match v.rows {
            Some(rows) => sink.index_some(rows).unwrap(),
            None => sink.idle().unwrap(),
        };
        steps.push(started.elapsed());
        more
    };
    while step(&mut sink) {
        if cold.is_none() && mark(&sink) - start >= cold_rows {
            cold = Some((t.elapsed(), mark(&sink) - start));
        }
    }
    let total = t.elapsed();
    let (cold, cold_done) = cold.unwrap_or((total, mark(&sink) - start));
    (cold, total - cold, steps, cold_done)
}

/// After the sink's run: lookups and searches of the hostile data through
/// the store, `rounds` times each; prints what each found (the same in
/// every build) and its median in ms.
fn reads(path: &Path, rounds: usize) {
    let store = SqliteStore::open(path).unwrap();
    let unindexed = store.unindexed().unwrap();
    let text = |t: &str| {
        let mut f = RecordFilter::default();
        f.text = Some(t.into());
        f
    };
    let field = |k: &str, v: &str| {
        let mut f = RecordFilter::default();
        f.fields.push(format!("{k}={v}").parse().unwrap());
        f
    };
    let mut range = RecordFilter::default();
    range.ranges.push(FieldRange::new("latency_ms", RangeOp::Ge, 2_999.0).unwrap());
    let pages = [
        ("search quasar (rare)", text("quasar")),
        ("search 'shard 42' (rare phrase)", text("shard 42")),
        ("search timeout (common)", text("timeout")),
        ("search 'in 7ms' (phrase of common trigrams)", text("in 7ms")),
        ("user_id=10286 (rare)", field("user_id", "10286")),
        ("user_id=3 (hot)", field("user_id", "3")),
        ("tenant=t7 (small)", field("tenant", "t7")),
        ("latency_ms >= 2999 (range)", range),
    ];
    let time = |what: &str, run: &dyn Fn() -> Vec<i64>| {
        let mut ms = Vec::with_capacity(rounds);
        let mut found = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            found = run();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        let sum: i64 = found.iter().sum();
        println!(
            "{{\"read\": \"{what}\", \"unindexed\": {unindexed}, \"found\": {}, \"id_sum\": {sum}, \"median_ms\": {:.2}}}",
            found.len(),
            ms[ms.len() / 2]
        );
    };
    for (what, f) in &pages {
        time(&format!("page of 50: {what}"), &|| {
            store.records(f, PageAt::Newest, 50).unwrap().records.iter().map(|r| r.id).collect()
        });
    }
    let request = FieldValue::Text("req-1000".into());
    time("related request_id=req-1000", &|| {
        store.related("request_id", &request, 1_000).unwrap().iter().map(|r| r.id).collect()
    });
}

fn main() {
    let records = env("LOG_PANEL_BENCH_RECORDS", 100_000);
    let rounds = env("LOG_PANEL_BENCH_ROUNDS", 2);
    let step = env("LOG_PANEL_BENCH_STEP", 2_000) as i64;
    let below = env("LOG_PANEL_BENCH_BELOW", 0);
    let source = std::env::var_os("LOG_PANEL_BENCH_SOURCE").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("LOG_PANEL_BENCH_DIR").map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let only: Vec<String> =
        std::env::var("LOG_PANEL_BENCH_ONLY").map(|s| s.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|w| name.contains(w.as_str()));
    let mut all = variants();
    let path = dir.join("index-bench.db");
    let base = dir.join("index-bench-base.db");
    let idle = idle_variants();
    // `LOG_PANEL_BENCH_KEEP=1` keeps the idle variants' base file at the
    // end and reuses one left by an earlier run (same source and counts):
    // a profile of the timed steps then holds little else.
    let keep = std::env::var_os("LOG_PANEL_BENCH_KEEP").is_some();
    if idle.iter().any(|v| wanted(v.name)) && !(keep && base.exists()) {
        idle_base(&base, source.as_deref(), below + records, below);
    }
    for round in 0..rounds {
        let mut idles: Vec<&Idle> = idle.iter().filter(|v| wanted(v.name)).collect();
        if round % 2 == 1 {
            idles.reverse();
        }
        for v in idles {
            let cold_rows = (records / 10) as i64;
            let (cold, warm, mut steps, cold_done) = run_idle(&base, &path, v, cold_rows);
            let warm_done = records as i64 - cold_done;
            steps.sort();
            let at = |q: f64| steps[((steps.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
            let wal = std::fs::metadata(format!("{}-wal", path.display())).map(|m| m.len()).unwrap_or(0);
            println!(
                "{{\"variant\": \"{}\", \"round\": {round}, \"below\": {below}, \"records\": {records}, \"steps\": {}, \
                 \"step_ms_p50\": {:.1}, \"step_ms_p99\": {:.1}, \"step_ms_max\": {:.1}, \"cold_records_per_sec\": {:.0}, \"warm_records_per_sec\": {:.0}, \"records_per_sec\": {:.0}, \
                 \"seconds\": {:.3}, \"wal_mb\": {:.1}, \"load\": \"{}\"}}",
                v.name,
                steps.len(),
                at(0.5),
                at(0.99),
                at(1.0),
                cold_done as f64 / cold.as_secs_f64(),
                warm_done as f64 / warm.as_secs_f64().max(1e-9),
                records as f64 / (cold + warm).as_secs_f64(),
                (cold + warm).as_secs_f64(),
                wal as f64 / 1e6,
                loadavg()
            );
        }
        let mut names: Vec<&'static str> = all.iter().map(|v| v.name).chain(["sink index_some"]).collect();
        if round % 2 == 1 {
            names.reverse();
        }
        for name in names.into_iter().filter(|n| wanted(n) && !n.starts_with("idle")) {
            let conn = fresh(&path, source.as_deref(), below + records);
            let took = if name == "sink index_some" {
                drop(conn);
                let took = run_sink(&path, below, step as usize);
                if source.is_some() {
                    reads(&path, 20);
                }
                took
            } else {
                let v = all.iter_mut().find(|v| v.name == name).unwrap();
                run(&conn, v, below as i64, step)
            };
            let wal = std::fs::metadata(format!("{}-wal", path.display())).map(|m| m.len()).unwrap_or(0);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{{\"variant\": \"{name}\", \"round\": {round}, \"below\": {below}, \"records\": {records}, \"step\": {step}, \
                 \"seconds\": {:.3}, \"records_per_sec\": {:.0}, \"wal_mb\": {:.1}, \"db_mb\": {:.1}, \"load\": \"{}\"}}",
                took.as_secs_f64(),
                records as f64 / took.as_secs_f64(),
                wal as f64 / 1e6,
                size as f64 / 1e6,
                loadavg()
            );
        }
    }
    for p in [&path, &base] {
        if keep && p == &base {
            continue;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
}

/// The 1-minute load average, beside every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(str::to_owned))
        .unwrap_or_default()
}
