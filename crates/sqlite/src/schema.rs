//! The SQLite schema, created and migrated by the sink when it opens.
//!
//! Each migration runs once, in order, inside a `BEGIN IMMEDIATE` transaction
//! (so two processes opening the same file at once do not both migrate);
//! `PRAGMA user_version` records how many have run. Append new migrations to
//! the end of [`MIGRATIONS`]; never edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use crate::Error;

/// Migration `i` brings the schema from version `i` to version `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the records table, a level-name lookup table, and the two
    // indexes the read side needs (time-ordered, per-logger time-ordered).
    "CREATE TABLE log_levels (
         level INTEGER PRIMARY KEY,
         name  TEXT NOT NULL
     );
     INSERT INTO log_levels (level, name) VALUES
         (5, 'TRACE'), (10, 'DEBUG'), (20, 'INFO'), (30, 'WARN'), (40, 'ERROR');
     CREATE TABLE log_records (
         id            INTEGER PRIMARY KEY,
         ts            TEXT    NOT NULL,
         level         INTEGER NOT NULL,
         logger        TEXT    NOT NULL,
         message       TEXT    NOT NULL,
         module        TEXT,
         file          TEXT,
         line          INTEGER,
         thread        TEXT    NOT NULL,
         pid           INTEGER NOT NULL,
         host          TEXT    NOT NULL,
         app           TEXT    NOT NULL,
         context       TEXT    NOT NULL DEFAULT '{}',
         original_size INTEGER
     );
     CREATE INDEX log_records_ts ON log_records (ts);
     CREATE INDEX log_records_logger_ts ON log_records (logger, ts);",
    // Version 2: per-logger aggregates (docs/aggregates.md), kept by the sink in
    // the same transaction as each batch, backfilled here from existing rows.
    // Buckets are UTC; quarter hours make days exact for offsets like +05:30.
    "CREATE TABLE log_logger_stats (
         logger     TEXT PRIMARY KEY,
         total      INTEGER NOT NULL,
         errors     INTEGER NOT NULL,
         warnings   INTEGER NOT NULL,
         first_seen TEXT    NOT NULL,
         last_seen  TEXT    NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE log_logger_hourly (
         logger TEXT    NOT NULL,
         hour   TEXT    NOT NULL,
         trace  INTEGER NOT NULL DEFAULT 0,
         debug  INTEGER NOT NULL DEFAULT 0,
         info   INTEGER NOT NULL DEFAULT 0,
         warn   INTEGER NOT NULL DEFAULT 0,
         error  INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (logger, hour)
     ) WITHOUT ROWID;
     CREATE INDEX log_logger_hourly_hour ON log_logger_hourly (hour);
     CREATE TABLE log_logger_quarter (
         logger  TEXT    NOT NULL,
         quarter TEXT    NOT NULL,
         trace   INTEGER NOT NULL DEFAULT 0,
         debug   INTEGER NOT NULL DEFAULT 0,
         info    INTEGER NOT NULL DEFAULT 0,
         warn    INTEGER NOT NULL DEFAULT 0,
         error   INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (logger, quarter)
     ) WITHOUT ROWID;
     CREATE INDEX log_logger_quarter_quarter ON log_logger_quarter (quarter);
     INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
         SELECT logger, count(*), sum(level = 40), sum(level = 30), min(ts), max(ts)
         FROM log_records GROUP BY logger;
     INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
         SELECT logger, substr(ts, 1, 13) || ':00:00.000000Z',
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY 1, 2;
     INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
         SELECT logger,
                substr(ts, 1, 14) || CASE WHEN substr(ts, 15, 2) < '15' THEN '00'
                                          WHEN substr(ts, 15, 2) < '30' THEN '15'
                                          WHEN substr(ts, 15, 2) < '45' THEN '30'
                                          ELSE '45' END || ':00.000000Z',
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40)
         FROM log_records GROUP BY 1, 2;",
    // Version 3: message search (docs/query.md). A trigram FTS5 index over
    // log_records.message, external content keyed by rowid, filled by the
    // sink when it is idle (never on the burst path) up to
    // log_fts_state.indexed_id; a search scans the rows above that mark.
    "CREATE VIRTUAL TABLE log_records_fts USING fts5(
         message, content='log_records', content_rowid='id',
         tokenize='trigram case_sensitive 0'
     );
     CREATE TABLE log_fts_state (
         one        INTEGER PRIMARY KEY CHECK (one = 1),
         indexed_id INTEGER NOT NULL
     );
     INSERT INTO log_fts_state (one, indexed_id) VALUES (1, 0);",
    // Version 4: context-key lookups through a side table filled while idle
    // (crates/sqlite/src/upkeep/context_index.rs), replacing version 3's expression
    // indexes on the burst path. Their keys carry over from mark 0; the
    // indexes themselves are dropped by `drop_expression_indexes`. `value`
    // has no declared type, so no affinity turns '7' into 7.
    "CREATE TABLE log_context_state (
         key        TEXT    PRIMARY KEY,
         indexed_id INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE log_context_index (
         key   TEXT    NOT NULL,
         value         NOT NULL,
         id    INTEGER NOT NULL,
         PRIMARY KEY (key, value, id)
     ) WITHOUT ROWID;
     INSERT INTO log_context_state (key, indexed_id)
         SELECT substr(name, 17), 0 FROM sqlite_master
         WHERE type = 'index' AND tbl_name = 'log_records' AND name LIKE 'log\\_records\\_ctx\\_%' ESCAPE '\\';",
    // Version 5: every top-level context key goes into log_context_index,
    // from one mark (crates/sqlite/src/upkeep/context_index.rs), filled while idle
    // from 0; version 4's per-key rows stay valid up to their own marks.
    "CREATE TABLE log_context_all (
         one        INTEGER PRIMARY KEY CHECK (one = 1),
         indexed_id INTEGER NOT NULL
     );
     INSERT INTO log_context_all (one, indexed_id) VALUES (1, 0);",
    // Version 6: warnings and errors by time, and per logger by time
    // (docs/query.md "Levels"): partial indexes, so only the few records at
    // WARN or above pay for them on the burst path.
    "CREATE INDEX log_records_warn_ts ON log_records (ts) WHERE level >= 30;
     CREATE INDEX log_records_warn_logger_ts ON log_records (logger, ts) WHERE level >= 30;",
    // Version 7: per call site and UTC hour, a count per level and the newest
    // record's time (crates/sqlite/src/aggregates.rs), kept by the sink in each
    // batch's transaction, backfilled here. A key column cannot be NULL, so
    // `file_key` is '' for a record without a file and '>' || file otherwise,
    // `line_key` -1 for one without a line.
    "CREATE TABLE log_site_hourly (
         hour      TEXT    NOT NULL,
         logger    TEXT    NOT NULL,
         file_key  TEXT    NOT NULL,
         line_key  INTEGER NOT NULL,
         trace     INTEGER NOT NULL DEFAULT 0,
         debug     INTEGER NOT NULL DEFAULT 0,
         info      INTEGER NOT NULL DEFAULT 0,
         warn      INTEGER NOT NULL DEFAULT 0,
         error     INTEGER NOT NULL DEFAULT 0,
         last_seen TEXT    NOT NULL,
         PRIMARY KEY (hour, logger, file_key, line_key)
     ) WITHOUT ROWID;
     INSERT INTO log_site_hourly (hour, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
         SELECT substr(ts, 1, 13) || ':00:00.000000Z', logger,
                CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1),
                sum(level = 5), sum(level = 10), sum(level = 20), sum(level = 30), sum(level = 40), max(ts)
         FROM log_records GROUP BY 1, 2, 3, 4;",
    // Version 8: per call site and UTC day, the same columns as the hours
    // (crates/sqlite/src/aggregates.rs), so a call-site list over days reads
    // a row per site and day; kept with the hours, backfilled here from them.
    "CREATE TABLE log_site_daily (
         day       TEXT    NOT NULL,
         logger    TEXT    NOT NULL,
         file_key  TEXT    NOT NULL,
         line_key  INTEGER NOT NULL,
         trace     INTEGER NOT NULL DEFAULT 0,
         debug     INTEGER NOT NULL DEFAULT 0,
         info      INTEGER NOT NULL DEFAULT 0,
         warn      INTEGER NOT NULL DEFAULT 0,
         error     INTEGER NOT NULL DEFAULT 0,
         last_seen TEXT    NOT NULL,
         PRIMARY KEY (day, logger, file_key, line_key)
     ) WITHOUT ROWID;
     INSERT INTO log_site_daily (day, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
         SELECT substr(hour, 1, 10) || 'T00:00:00.000000Z', logger, file_key, line_key,
                sum(trace), sum(debug), sum(info), sum(warn), sum(error), max(last_seen)
         FROM log_site_hourly GROUP BY 1, 2, 3, 4;",
    // Version 9: cheaper indexing (docs/performance.md, "SQLite: the cost of
    // indexing a record"). The search index without positions or sizes
    // (crates/sqlite/src/upkeep/search.rs): a search asks it for a term's
    // trigrams and checks each record it gives. The context side table keyed
    // by the id's part first (crates/sqlite/src/upkeep/context_index.rs), so
    // a step writes the newest part of each key, not pages all over it. Both
    // are refilled from mark 0 by the idle steps; lookups and searches scan
    // the records above the marks meanwhile, so none is missed.
    "DROP TABLE log_records_fts;
     CREATE VIRTUAL TABLE log_records_fts USING fts5(
         message, content='log_records', content_rowid='id',
         tokenize='trigram case_sensitive 0', detail=none, columnsize=0
     );
     UPDATE log_fts_state SET indexed_id = 0;
     DROP TABLE log_context_index;
     CREATE TABLE log_context_index (
         key   TEXT    NOT NULL,
         part  INTEGER NOT NULL,
         value         NOT NULL,
         id    INTEGER NOT NULL,
         PRIMARY KEY (key, part, value, id)
     ) WITHOUT ROWID;
     UPDATE log_context_all SET indexed_id = 0;
     UPDATE log_context_state SET indexed_id = 0;",
    // Version 10: per call site and ISO week (from Monday 00:00 UTC), the
    // same columns as the days, so a call-site list over months reads a row
    // per site and week (docs/performance.md); kept with the hours and days,
    // backfilled here from the days. `date(day, '-6 days', 'weekday 1')` is
    // the Monday on or before `day`.
    "CREATE TABLE log_site_weekly (
         week      TEXT    NOT NULL,
         logger    TEXT    NOT NULL,
         file_key  TEXT    NOT NULL,
         line_key  INTEGER NOT NULL,
         trace     INTEGER NOT NULL DEFAULT 0,
         debug     INTEGER NOT NULL DEFAULT 0,
         info      INTEGER NOT NULL DEFAULT 0,
         warn      INTEGER NOT NULL DEFAULT 0,
         error     INTEGER NOT NULL DEFAULT 0,
         last_seen TEXT    NOT NULL,
         PRIMARY KEY (week, logger, file_key, line_key)
     ) WITHOUT ROWID;
     INSERT INTO log_site_weekly (week, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
         SELECT date(day, '-6 days', 'weekday 1') || 'T00:00:00.000000Z', logger, file_key, line_key,
                sum(trace), sum(debug), sum(info), sum(warn), sum(error), max(last_seen)
         FROM log_site_daily GROUP BY 1, 2, 3, 4;",
    // Version 11: the zone map (crates/sqlite/src/zone_map.rs): per range of
    // 2^12 ids (a zone, `part`), the oldest and newest time of its records, so a read of a term's candidates by id knows when no unread
    // id can hold a time its page wants (docs/performance.md, session 38).
    // Widened by the sink in each batch's transaction, filled here.
    "CREATE TABLE log_id_times (
         part   INTEGER PRIMARY KEY,
         min_ts TEXT    NOT NULL,
         max_ts TEXT    NOT NULL
     );
     INSERT INTO log_id_times (part, min_ts, max_ts)
         SELECT id >> 12, min(ts), max(ts) FROM log_records GROUP BY id >> 12;",
    // Version 12: reals apart in the context side table
    // (crates/sqlite/src/upkeep/context_index.rs): a real's entries keyed by
    // the key as a BLOB, so a lookup of an integer or a text never meets a
    // real equal to it in SQL and an exact count checks no `typeof`
    // (docs/performance.md, session 40). A reader also reads version 11.
    "UPDATE log_context_index SET key = CAST(key AS BLOB)
     WHERE typeof(value) = 'real' AND typeof(key) = 'text';",
    // Version 13: booleans apart in the context side table
    // (crates/sqlite/src/upkeep/context_index.rs): a boolean's entry holds
    // x'01' / x'00', not the 1 / 0 the integers hold, so `x=1`, `x=0` and
    // `flag=true` are counted from their entries (issue 24). `typeof` cannot
    // tell them apart: each entry 1 or 0 under a text key is checked against
    // its record's members of that key (one read by id and one parse per
    // such entry, after one scan of the table), its boolean form added when
    // the record holds that boolean, the integer removed when it holds no
    // such integer (a key written twice may hold both). A reader also reads
    // versions 11 and 12.
    "CREATE TEMP TABLE lp_zero_one AS
         SELECT e.key AS key, e.part AS part, e.value AS value, e.id AS id,
                max(j.type = CASE e.value WHEN 1 THEN 'true' ELSE 'false' END) AS boolean,
                max(j.type = 'integer' AND j.value = e.value) AS integer
         FROM log_context_index AS e
              CROSS JOIN log_records AS r ON r.id = e.id
              CROSS JOIN json_each(CASE WHEN json_valid(r.context) THEN
                                       CASE WHEN json_type(r.context) = 'object' THEN r.context END END) AS j
         WHERE typeof(e.key) = 'text' AND typeof(e.value) = 'integer' AND e.value IN (0, 1) AND j.key = e.key
         GROUP BY e.key, e.part, e.value, e.id;
     INSERT OR IGNORE INTO log_context_index (key, part, value, id)
         SELECT key, part, CASE value WHEN 1 THEN x'01' ELSE x'00' END, id FROM temp.lp_zero_one WHERE boolean;
     DELETE FROM log_context_index
         WHERE (key, part, value, id) IN (SELECT key, part, value, id FROM temp.lp_zero_one WHERE NOT integer);
     DROP TABLE temp.lp_zero_one;",
];

/// The first version without context-key expression indexes.
const SIDE_TABLE_VERSION: usize = 4;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The oldest schema version a reader ([`SqliteStore`](crate::SqliteStore))
/// reads: versions 12 and 13 only moved reals and booleans within the side
/// table, and a reader's lookups find them in either place
/// (`context_index::reals_apart`, `context_index::booleans_apart`).
/// Everything that writes (the sink, [`SqliteMaintenance`](crate::SqliteMaintenance))
/// works on [`SCHEMA_VERSION`] only.
#[cfg(feature = "read")]
pub(crate) const OLDEST_READ: i64 = 11;

/// Brings the database to [`SCHEMA_VERSION`], refusing a newer one. A
/// current database is only read: opening a writer then neither waits for
/// the write lock nor commits anything.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    if conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema { found: version, supported: SCHEMA_VERSION });
    }
    let start = usize::try_from(version).unwrap_or(0);
    for sql in &MIGRATIONS[start..] {
        tx.execute_batch(sql)?;
    }
    if start < SIDE_TABLE_VERSION {
        drop_expression_indexes(&tx)?;
    }
    // PRAGMA takes no bound parameters; the value is our own constant.
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}

/// Drops the context-key expression indexes of schema version 3 (their
/// keys are in `log_context_state` now): they would keep slowing every insert.
fn drop_expression_indexes(conn: &Connection) -> rusqlite::Result<()> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master
             WHERE type = 'index' AND tbl_name = 'log_records' AND name LIKE 'log\\_records\\_ctx\\_%' ESCAPE '\\'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for name in names {
        // Inlined only when it is the name log-panel gave it.
        if name.strip_prefix("log_records_ctx_").is_some_and(crate::valid_index_key) {
            conn.execute_batch(&format!("DROP INDEX {name}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use log_panel_core::Sink;
    use log_panel_query::Store;
    use log_panel_query::{PageAt, RangeOp, RecordFilter};

    /// A database at schema `version` (its migrations run by hand, then
    /// `extra`) holding `n` records, the `i`-th with context `context(i)`.
    fn old_database(
        path: &std::path::Path,
        version: usize,
        extra: &str,
        n: usize,
        context: impl Fn(usize) -> String,
    ) -> Connection {
        let conn = Connection::open(path).unwrap();
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version}; {extra}")).unwrap();
        for i in 0..n {
            conn.execute(
                "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, context)
                 VALUES ('2026-11-22T08:00:00.000000Z', 20, 'old', 'm', 't', 1, 'h', 'a', ?1)",
                [context(i)],
            )
            .unwrap();
        }
        conn
    }

    /// Migrates `path` as `log-panel migrate` does (readers never do), checks
    /// the version, and opens a store and a connection on it.
    fn migrated(path: &std::path::Path) -> (SqliteStore, Connection) {
        crate::SqliteMaintenance::migrate(path).unwrap();
        let store = SqliteStore::open(path).unwrap();
        let conn = Connection::open(path).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        (store, conn)
    }

    /// A version-2 database with rows: migration 3 adds the search index
    /// empty (mark 0), searches see every old row at once (scan), and idle
    /// steps index them.
    #[test]
    fn a_version_2_database_with_rows_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.execute_batch("PRAGMA user_version = 2").unwrap();
            for i in 0..5_000 {
                conn.execute(
                    "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, context)
                     VALUES ('2026-11-22T08:00:00.000000Z', 20, 'old', ?1, 't', 1, 'h', 'a', ?2)",
                    rusqlite::params![format!("Old message {i}"), format!("{{\"request_id\":\"r{}\"}}", i % 7)],
                )
                .unwrap();
            }
        }
        // Readers never migrate; `log-panel migrate` (or the sink) does.
        let (store, _) = migrated(&path);
        assert_eq!(store.unindexed().unwrap(), 5_000);
        let mut f = RecordFilter::default();
        f.text = Some("MESSAGE 12".into());
        let before: Vec<i64> = store.records(&f, PageAt::Newest, 1_000).unwrap().records.iter().map(|r| r.id).collect();
        // 12, 120..129, 1200..1299: 111 rows.
        assert_eq!(before.len(), 111);
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        let mut steps = 1;
        while sink.idle().unwrap() {
            steps += 1;
        }
        // A step past the lag bound indexes the excess, or more when its
        // time budget allows at the pace of the last steps
        // (crate::upkeep::steps): never fewer than 100 rows a step.
        assert!((1..=5_000 / 100).contains(&steps), "{steps} steps");
        assert_eq!(store.unindexed().unwrap(), 0);
        let after: Vec<i64> = store.records(&f, PageAt::Newest, 1_000).unwrap().records.iter().map(|r| r.id).collect();
        assert_eq!(after, before);
        // The request-id index of the sink's defaults exists now.
        assert_eq!(store.indexed_keys().unwrap(), ["request_id"]);
        assert_eq!(
            store.related("request_id", &log_panel_query::FieldValue::Text("r3".into()), 10_000).unwrap().len(),
            714
        );
    }

    /// A version-6 database with rows: migration 7 counts them into the call
    /// sites' hours, migration 8 sums the hours into days, and a call-site
    /// list over days (read from the days) counts every row once.
    #[test]
    fn a_version_6_database_gets_call_site_hours_and_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let conn = old_database(&path, 6, "", 30, |_| "{}".to_owned());
        conn.execute(
            "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, file, line)
             VALUES ('2026-11-23T17:59:59.999999Z', 40, 'old', 'late', 't', 1, 'h', 'a', 'src/old.rs', 7)",
            [],
        )
        .unwrap();
        drop(conn);
        let (store, conn) = migrated(&path);
        let days: Vec<(String, String, i64, i64, i64, String)> = conn
            .prepare("SELECT day, file_key, line_key, info, error, last_seen FROM log_site_daily ORDER BY day")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let day = |d: &str, file: &str, line: i64, info: i64, error: i64, last: &str| {
            (d.to_owned(), file.to_owned(), line, info, error, last.to_owned())
        };
        assert_eq!(
            days,
            [
                day("2026-11-22T00:00:00.000000Z", "", -1, 30, 0, "2026-11-22T08:00:00.000000Z"),
                day("2026-11-23T00:00:00.000000Z", ">src/old.rs", 7, 0, 1, "2026-11-23T17:59:59.999999Z"),
            ]
        );
        let mut f = RecordFilter::default();
        f.since = Some(log_panel_core::Timestamp::parse_rfc3339("2026-11-21T00:00:00.000000Z").unwrap());
        f.until = Some(log_panel_core::Timestamp::parse_rfc3339("2026-11-25T00:00:00.000000Z").unwrap());
        let sites = store.call_sites(&f, 10).unwrap();
        let totals: Vec<(Option<u32>, u64)> = sites.iter().map(|s| (s.line, s.counts.total())).collect();
        assert_eq!(totals, [(None, 30), (Some(7), 1)]);
    }

    /// A version-9 database with rows over weeks (its hours and days
    /// backfilled by migrations 7 and 8): migration 10 sums the days into ISO
    /// weeks from Monday 00:00 UTC, each site's week once, and those are the
    /// rows the sink's upserts write for the same records.
    #[test]
    fn a_version_9_database_gets_call_site_weeks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v9.db");
        // (time, level, line): 2026-11-22 is a Sunday, 2027-01-01 a Friday
        // (its ISO week starts on Monday 2026-12-28).
        let rows = [
            ("2026-11-22T23:59:59.999999Z", 40, Some(7)),
            ("2026-11-23T00:00:00.000000Z", 20, Some(7)),
            ("2026-11-25T10:00:00.000000Z", 30, Some(7)),
            ("2026-11-29T23:00:00.000000Z", 20, None),
            ("2026-11-30T00:30:00.000000Z", 20, None),
            ("2027-01-03T12:00:00.000000Z", 10, Some(7)),
        ];
        let conn = old_database(&path, 6, "", 0, |_| String::new());
        for (ts, level, line) in rows {
            conn.execute(
                "INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app, file, line)
                 VALUES (?1, ?2, 'old', 'm', 't', 1, 'h', 'a', 'src/old.rs', ?3)",
                rusqlite::params![ts, level, line],
            )
            .unwrap();
        }
        for sql in &MIGRATIONS[6..9] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 9").unwrap();
        drop(conn);
        let (_, conn) = migrated(&path);
        let weeks = |conn: &Connection| -> Vec<(String, i64, i64, i64, i64, i64, String)> {
            conn.prepare(
                "SELECT week, line_key, debug, info, warn, error, last_seen FROM log_site_weekly ORDER BY week, line_key",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let week = |w: &str, line: i64, [d, i, wa, e]: [i64; 4], last: &str| {
            (format!("{w}T00:00:00.000000Z"), line, d, i, wa, e, last.to_owned())
        };
        let want = [
            week("2026-11-16", 7, [0, 0, 0, 1], "2026-11-22T23:59:59.999999Z"),
            week("2026-11-23", -1, [0, 1, 0, 0], "2026-11-29T23:00:00.000000Z"),
            week("2026-11-23", 7, [0, 1, 1, 0], "2026-11-25T10:00:00.000000Z"),
            week("2026-11-30", -1, [0, 1, 0, 0], "2026-11-30T00:30:00.000000Z"),
            week("2026-12-28", 7, [1, 0, 0, 0], "2027-01-03T12:00:00.000000Z"),
        ];
        assert_eq!(weeks(&conn), want);
        // The same records through a sink: its upserts bucket them alike.
        let mut sink = crate::SqliteSink::open(dir.path().join("new.db")).unwrap();
        let origin = log_panel_core::Origin::new("a", "h", 1);
        let records: Vec<log_panel_core::Record> = rows
            .iter()
            .map(|&(ts, level, line)| {
                let level = log_panel_core::level_from_severity(level).unwrap();
                let mut r = log_panel_core::Record::new(level, "old", "m");
                r.timestamp = log_panel_core::Timestamp::parse_rfc3339(ts).unwrap();
                r.file = Some("src/old.rs".into());
                r.line = line;
                r
            })
            .collect();
        sink.write(&log_panel_core::Batch::new(&origin, &records)).unwrap();
        assert_eq!(weeks(sink.connection()), want);
    }

    /// A version-10 database with rows over three zones of 4 096 ids,
    /// times out of id order (a spooled record's old time under a new id):
    /// migration 11 fills the zone map with each part's oldest and newest
    /// time, the rows the sink's upserts wrote for the same records, and a
    /// reader refuses the file until it is migrated. A prune and a rebuild
    /// keep it a bound.
    #[test]
    fn a_version_10_database_gets_its_zone_map() {
        let dir = tempfile::tempdir().unwrap();
        // The records through a sink, its next id moved to a part's start
        // twice by a record of that id (its part noted by the sink's upsert).
        let written = dir.path().join("new.db");
        let mut sink = crate::SqliteSink::open(&written).unwrap();
        let origin = log_panel_core::Origin::new("a", "h", 1);
        let thread: std::sync::Arc<str> = std::sync::Arc::from("t");
        let batch = |times: &[&str]| -> Vec<log_panel_core::Record> {
            times
                .iter()
                .map(|ts| {
                    let ts = log_panel_core::Timestamp::parse_rfc3339(ts).unwrap();
                    log_panel_core::Record::at(
                        ts,
                        log_panel_core::Level::Info,
                        "old".into(),
                        "m".into(),
                        thread.clone(),
                    )
                })
                .collect()
        };
        let jump = |conn: &Connection, id: i64, ts: &str| {
            conn.execute(
                "INSERT INTO log_records (id, ts, level, logger, message, thread, pid, host, app)
                 VALUES (?1, ?2, 20, 'old', 'm', 't', 1, 'h', 'a')",
                rusqlite::params![id, ts],
            )
            .unwrap();
            conn.execute(crate::zone_map::UPSERT, rusqlite::params![id >> crate::zone_map::ZONE_BITS, ts, ts]).unwrap();
        };
        let write = |sink: &mut crate::SqliteSink, times: &[&str]| {
            sink.write(&log_panel_core::Batch::new(&origin, &batch(times))).unwrap();
        };
        write(&mut sink, &["2026-11-22T08:00:00.000000Z", "2026-11-22T07:00:00.000000Z"]);
        write(&mut sink, &["2026-11-22T09:00:00.000000Z"]);
        jump(sink.connection(), 1 << 16, "2026-11-22T09:30:00.000000Z");
        write(&mut sink, &["2026-11-22T10:00:00.000000Z", "2026-11-21T23:00:00.000000Z"]);
        jump(sink.connection(), 5 << 16, "2026-11-23T00:00:00.000000Z");
        write(&mut sink, &["2026-11-23T01:00:00.000000Z"]);
        let map = |conn: &Connection| -> Vec<(i64, String, String)> { crate::zone_map::read(conn).unwrap() };
        let want = [
            (0, "2026-11-22T07:00:00.000000Z", "2026-11-22T09:00:00.000000Z"),
            (16, "2026-11-21T23:00:00.000000Z", "2026-11-22T10:00:00.000000Z"),
            (80, "2026-11-23T00:00:00.000000Z", "2026-11-23T01:00:00.000000Z"),
        ]
        .map(|(p, a, b)| (p, a.to_owned(), b.to_owned()));
        assert_eq!(map(sink.connection()), want);
        // The same records, ids and all, in a version-10 file.
        let path = dir.path().join("v10.db");
        let conn = old_database(&path, 10, "", 0, |_| String::new());
        conn.execute("ATTACH ?1 AS written", [written.to_str().unwrap()]).unwrap();
        conn.execute_batch("INSERT INTO log_records SELECT * FROM written.log_records; DETACH written;").unwrap();
        drop(conn);
        let refused = SqliteStore::open(&path).unwrap_err();
        assert!(refused.to_string().contains("schema version 10"), "{refused}");
        let (_, conn) = migrated(&path);
        assert_eq!(map(&conn), want);
        // A prune drops the parts below the oldest id left and leaves the
        // others' bounds wider than their records (still bounds); a
        // rebuild makes them exact.
        use log_panel_query::Maintenance;
        let maintenance = crate::SqliteMaintenance::open(&path).unwrap();
        let before = log_panel_core::Timestamp::parse_rfc3339("2026-11-22T09:45:00.000000Z").unwrap();
        assert_eq!(maintenance.prune(before, 100, false).unwrap().deleted, 5);
        assert_eq!(map(&conn), want[1..]);
        maintenance.rebuild().unwrap();
        let exact = (16, "2026-11-22T10:00:00.000000Z".to_owned(), "2026-11-22T10:00:00.000000Z".to_owned());
        assert_eq!(map(&conn), [exact, want[2].clone()]);
    }

    /// A version-4 database whose registered key is indexed: migration 5
    /// keeps its rows (lookups use them up to the key's own mark), every
    /// other key is found at once (scan) and, after idle steps, through the
    /// side table, which then holds each (key, value, id) once.
    #[test]
    fn a_version_4_database_is_migrated_to_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        old_database(&path, 4, "", 900, |i| {
            format!("{{\"request_id\":\"r{}\",\"status\":{}}}", i % 9, 200 + i % 4 * 100)
        })
        .execute_batch(
            "INSERT INTO log_context_state (key, indexed_id) VALUES ('request_id', 900);
                 INSERT INTO log_context_index (key, value, id)
                     SELECT 'request_id', json_extract(context, '$.request_id'), id FROM log_records;",
        )
        .unwrap();
        let (store, conn) = migrated(&path);
        let count = |f: &RecordFilter| store.records(f, PageAt::Newest, 1_000).unwrap().records.len();
        let mut by_request = RecordFilter::default();
        by_request.fields.push("request_id=r3".parse().unwrap());
        let mut by_status = RecordFilter::default();
        by_status.ranges.push(log_panel_query::FieldRange::new("status", RangeOp::Ge, 400.0).unwrap());
        assert_eq!((count(&by_request), count(&by_status)), (100, 450));
        assert_eq!(store.unindexed().unwrap(), 900);
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        while sink.idle().unwrap() {}
        assert_eq!(store.unindexed().unwrap(), 0);
        assert_eq!((count(&by_request), count(&by_status)), (100, 450));
        let side: i64 = conn.query_row("SELECT count(*) FROM log_context_index", [], |r| r.get(0)).unwrap();
        assert_eq!(side, 1_800, "request_id and status of each record, once");
    }

    /// A version-3 database with rows and a context-key expression index:
    /// migration 4 drops the index, carries its key over to the side table
    /// from mark 0, lookups see every old row at once (scan), and idle steps
    /// fill the side table.
    #[test]
    fn a_version_3_database_with_an_expression_index_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let index = "CREATE INDEX log_records_ctx_tenant ON log_records (json_extract(context, '$.tenant'))
                         WHERE json_extract(context, '$.tenant') IS NOT NULL;";
        old_database(&path, 3, index, 1_200, |i| format!("{{\"tenant\":\"t{}\"}}", i % 4));
        // Readers never migrate; `log-panel migrate` (or the sink) does.
        let (store, conn) = migrated(&path);
        let indexes: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'log_records_ctx_tenant'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(indexes, 0, "the expression index is off the burst path");
        assert_eq!(store.indexed_keys().unwrap(), ["tenant"]);
        let t1 = log_panel_query::FieldValue::Text("t1".into());
        assert_eq!(store.related("tenant", &t1, 10_000).unwrap().len(), 300);
        let mut sink = crate::SqliteSink::open(&path).unwrap();
        while sink.idle().unwrap() {}
        assert_eq!(store.unindexed().unwrap(), 0);
        let side: i64 =
            conn.query_row("SELECT count(*) FROM log_context_index WHERE key = 'tenant'", [], |r| r.get(0)).unwrap();
        assert_eq!(side, 1_200);
        assert_eq!(store.related("tenant", &t1, 10_000).unwrap().len(), 300);
        assert_eq!(store.indexed_keys().unwrap(), ["request_id", "tenant"]);
    }
}
