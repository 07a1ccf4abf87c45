//! The log-panel schema in PostgreSQL and its migrations.
//!
//! Migrations are an append-only list: version N's SQL runs once, in the same
//! transaction that records N in `log_panel_schema`. The whole run holds a
//! transaction-scoped advisory lock, so processes starting at the same time
//! migrate one after the other and the second finds nothing to do.

use log_panel_core::Record;
use postgres::{Client, GenericClient};

use crate::aggregates::PG_MIN_UNIX_MICROS;

/// Key of the advisory lock taken while migrating (`"lgpanel\x01"` as an i64).
pub const MIGRATION_LOCK_KEY: i64 = 0x6c67_7061_6e65_6c01;

/// Key of the advisory lock `log_panel_ensure_days` takes before creating a
/// day partition (`"lgpanel\x02"` as an i64; the SQL spells it in decimal).
pub const PARTITION_LOCK_KEY: i64 = 0x6c67_7061_6e65_6c02;

/// One schema version: applied once, in order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version this migration brings the schema to (1, 2, …, no gaps).
    pub version: i32,
    /// What it does, stored in `log_panel_schema.description`.
    pub description: &'static str,
    /// The statements to run.
    pub sql: &'static str,
}

/// The statement that fills `log_site_hourly` from `log_records` (its
/// backfill in migration 7, and [`aggregates::rebuild`](crate::aggregates::rebuild)):
/// per UTC hour and call site, a count per level and the newest time.
macro_rules! fill_site_hourly {
    () => {
        "INSERT INTO log_site_hourly (hour, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
    SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', logger,
           CASE WHEN file IS NULL THEN '' ELSE '>' || file END, coalesce(line, -1),
           count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
           count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40), max(ts)
    FROM log_records GROUP BY 1, 2, 3, 4"
    };
}
pub(crate) use fill_site_hourly;

/// The statement that fills `log_site_daily` from `log_site_hourly` (its
/// backfill in migration 10, and [`aggregates::rebuild`](crate::aggregates::rebuild)
/// after the hours): per UTC day and call site, the sums of the day's hours
/// and their newest time. From the hours, not the records: 24 times fewer
/// rows to group, and the two tables agree by construction.
macro_rules! fill_site_daily {
    () => {
        "INSERT INTO log_site_daily (day, logger, file_key, line_key, trace, debug, info, warn, error, last_seen)
    SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', logger, file_key, line_key,
           sum(trace), sum(debug), sum(info), sum(warn), sum(error), max(last_seen)
    FROM log_site_hourly GROUP BY 1, 2, 3, 4"
    };
}
pub(crate) use fill_site_daily;

/// Every migration, oldest first. Append new versions; never edit old ones.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "log records, levels, time and per-logger indexes",
        sql: r#"
CREATE TABLE log_levels (
    level smallint PRIMARY KEY,
    name  text NOT NULL
);
INSERT INTO log_levels (level, name) VALUES
    (5, 'TRACE'), (10, 'DEBUG'), (20, 'INFO'), (30, 'WARN'), (40, 'ERROR');

CREATE TABLE log_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts            timestamptz NOT NULL,
    level         smallint    NOT NULL,
    logger        text        NOT NULL,
    message       text        NOT NULL,
    module        text,
    file          text,
    line          integer,
    thread        text        NOT NULL,
    pid           integer     NOT NULL,
    host          text        NOT NULL,
    app           text        NOT NULL,
    context       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    original_size bigint
);
CREATE INDEX log_records_ts_idx ON log_records (ts);
CREATE INDEX log_records_logger_ts_idx ON log_records (logger, ts);

-- One row per running sink: the number of its last committed batch, written
-- in the batch's own transaction, so a lost COMMIT answer can be settled.
CREATE TABLE log_panel_writers (
    writer_id  bigint PRIMARY KEY,
    last_batch bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"#,
    },
    Migration {
        version: 2,
        description: "per-logger aggregates: totals, UTC hours, UTC quarter hours (backfilled)",
        // Kept by the sink in each batch's transaction; see docs/aggregates.md.
        // Buckets are UTC whatever the session's TimeZone (`AT TIME ZONE 'UTC'`).
        sql: r#"
CREATE TABLE log_logger_stats (
    logger     text        PRIMARY KEY,
    total      bigint      NOT NULL,
    errors     bigint      NOT NULL,
    warnings   bigint      NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE TABLE log_logger_hourly (
    logger text        NOT NULL,
    hour   timestamptz NOT NULL,
    trace  bigint      NOT NULL DEFAULT 0,
    debug  bigint      NOT NULL DEFAULT 0,
    info   bigint      NOT NULL DEFAULT 0,
    warn   bigint      NOT NULL DEFAULT 0,
    error  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (logger, hour)
);
CREATE INDEX log_logger_hourly_hour_idx ON log_logger_hourly (hour);
CREATE TABLE log_logger_quarter (
    logger  text        NOT NULL,
    quarter timestamptz NOT NULL,
    trace   bigint      NOT NULL DEFAULT 0,
    debug   bigint      NOT NULL DEFAULT 0,
    info    bigint      NOT NULL DEFAULT 0,
    warn    bigint      NOT NULL DEFAULT 0,
    error   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (logger, quarter)
);
CREATE INDEX log_logger_quarter_quarter_idx ON log_logger_quarter (quarter);

-- Backfill from the rows already stored, with no batch in flight.
LOCK TABLE log_records IN SHARE MODE;
INSERT INTO log_logger_stats (logger, total, errors, warnings, first_seen, last_seen)
    SELECT logger, count(*), count(*) FILTER (WHERE level = 40), count(*) FILTER (WHERE level = 30), min(ts), max(ts)
    FROM log_records GROUP BY logger;
INSERT INTO log_logger_hourly (logger, hour, trace, debug, info, warn, error)
    SELECT logger, date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
           count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
    FROM log_records GROUP BY 1, 2;
INSERT INTO log_logger_quarter (logger, quarter, trace, debug, info, warn, error)
    SELECT logger,
           date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               + floor(extract(minute FROM ts AT TIME ZONE 'UTC') / 15) * interval '15 minutes',
           count(*) FILTER (WHERE level = 5), count(*) FILTER (WHERE level = 10), count(*) FILTER (WHERE level = 20),
           count(*) FILTER (WHERE level = 30), count(*) FILTER (WHERE level = 40)
    FROM log_records GROUP BY 1, 2;
"#,
    },
    Migration {
        version: 3,
        description: "read side: keyset and logger-tree indexes, search side table (trigram message, GIN context)",
        // See docs/schema.md and docs/query.md. The GIN indexes are on a side
        // table filled while the writer is idle (`upkeep::index_step`): on
        // `log_records` itself a trigram index cut COPY throughput to 37-45 %,
        // and the context GIN with the new btrees to about half (docs/performance.md).
        // `logger COLLATE "C"`: the tree filter is a byte range (`a::` <= x < `a:;`),
        // which only a C-collated index can serve whatever the database's collation.
        sql: r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX log_records_ts_id_idx ON log_records (ts, id);
DROP INDEX log_records_ts_idx;
CREATE INDEX log_records_logger_c_ts_id_idx ON log_records ((logger COLLATE "C"), ts, id);
DROP INDEX log_records_logger_ts_idx;

-- Search: (id, message, context) of every record with id <= log_search_mark.last_id.
CREATE TABLE log_search (
    id      bigint PRIMARY KEY,
    message text   NOT NULL,
    context jsonb  NOT NULL
);
CREATE INDEX log_search_message_trgm_idx ON log_search USING gin (message gin_trgm_ops);
CREATE INDEX log_search_context_idx ON log_search USING gin (context jsonb_path_ops);
CREATE TABLE log_search_mark (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id   bigint  NOT NULL
);

-- Backfill with no batch in flight, so every id up to the mark is indexed.
LOCK TABLE log_records IN SHARE MODE;
INSERT INTO log_search (id, message, context) SELECT id, message, context FROM log_records;
INSERT INTO log_search_mark (singleton, last_id) SELECT true, coalesce(max(id), 0) FROM log_records;
"#,
    },
    Migration {
        version: 4,
        description: "numeric comparisons on context keys: (key, number, id) side table beside the search table",
        // Filled by `upkeep::index_step` with the rows it copies into
        // `log_search`, so it covers the same ids (up to the search mark).
        // A GIN `jsonb_path_ops` index answers equality only; a range on any
        // key needs a btree on (key, number). Numbers beyond float8 are left
        // out: a comparison reads a number as f64 (`FieldRange`).
        sql: r#"
CREATE TABLE log_search_num (
    key text   NOT NULL,
    num float8 NOT NULL,
    id  bigint NOT NULL,
    PRIMARY KEY (key, num, id)
);
CREATE INDEX log_search_num_id_idx ON log_search_num (id);
LOCK TABLE log_records IN SHARE MODE;
INSERT INTO log_search_num (key, num, id)
    SELECT e.key, e.value::numeric::float8, s.id FROM log_search s,
         jsonb_each(CASE WHEN jsonb_typeof(s.context) = 'object' THEN s.context ELSE '{}' END) e
    WHERE jsonb_typeof(e.value) = 'number' AND abs(e.value::numeric) < 1e308
    ON CONFLICT DO NOTHING;
"#,
    },
    Migration {
        version: 5,
        description: "warnings and errors by time and per logger: partial indexes on level >= 30",
        // Only the few records at WARN or above pay for them on COPY; a
        // logger tree with a minimum level, or errors over days, walks them
        // instead of every record of a quiet logger (docs/query.md).
        sql: r#"
CREATE INDEX log_records_warn_ts_id_idx ON log_records (ts, id) WHERE level >= 30;
CREATE INDEX log_records_warn_logger_c_ts_id_idx ON log_records ((logger COLLATE "C"), ts, id) WHERE level >= 30;
"#,
    },
    Migration {
        version: 6,
        description: "log_panel_ensure_days: creates the day partitions a batch needs when log_records is partitioned",
        // Partitioning itself is a choice (`partition=day`, [`partition_by_day`],
        // docs/scale.md); the function is here for every database so any
        // writer of this version can fill a partitioned one, and an older
        // writer (which would not create days) refuses it as too new.
        sql: r#"
-- The partitions of the UTC days in `days`, and of the two days after the
-- last one, unless they exist (nothing when log_records is not partitioned). Writers call it in each batch's transaction:
-- when every partition exists it only looks names up (no lock). Creating one
-- takes an advisory lock first, so two writers creating the same day wait
-- for each other instead of failing on the catalog's unique keys; the second
-- finds the table. SECURITY DEFINER: a writer role with just INSERT on the
-- tables can log into a day nobody wrote yet.
CREATE FUNCTION log_panel_ensure_days(days date[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    d date;
    name text;
    child text;
    parent text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'log_records'::regclass) <> 'p' THEN
        RETURN;  -- not partitioned: nothing to create
    END IF;
    FOR d IN
        SELECT x FROM unnest(days) x WHERE x IS NOT NULL
        UNION SELECT max(x) + k FROM unnest(days) x, generate_series(1, 2) k GROUP BY k HAVING max(x) IS NOT NULL
    LOOP
        name := 'log_records_' || to_char(d, 'YYYYMMDD') || CASE WHEN d < date '0001-01-01' THEN '_bc' ELSE '' END;
        CONTINUE WHEN to_regclass(quote_ident(name)) IS NOT NULL;
        PERFORM pg_advisory_xact_lock(7811335642463693826);
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF log_records FOR VALUES FROM (%L) TO (%L)',
                       name, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
        -- Each index named after the parent's (log_records_20261205_warn_ts_id_idx),
        -- not PostgreSQL's column-derived name, so a plan says which one it uses.
        FOR child, parent IN
            SELECT c.relname, p.relname FROM pg_index x
            JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_inherits i ON i.inhrelid = x.indexrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE x.indrelid = to_regclass(quote_ident(name))
        LOOP
            CONTINUE WHEN child = name || substr(parent, 12);
            EXECUTE format('ALTER INDEX %I RENAME TO %I', child, name || substr(parent, 12));
        END LOOP;
    END LOOP;
END $$;
"#,
    },
    Migration {
        version: 7,
        description: "per call site and UTC hour: log_site_hourly (backfilled)",
        // Kept by the sink in each batch's transaction (crates/postgres/src/aggregates.rs);
        // the store's call sites read its whole hours. A key column cannot be
        // NULL: `file_key` is '' without a file and '>' || file otherwise,
        // `line_key` -1 without a line (as in SQLite). Keys in byte order
        // (`COLLATE "C"`), the order writers and prunes lock them in.
        sql: concat!(
            r#"
CREATE TABLE log_site_hourly (
    hour      timestamptz     NOT NULL,
    logger    text COLLATE "C" NOT NULL,
    file_key  text COLLATE "C" NOT NULL,
    line_key  integer         NOT NULL,
    trace     bigint          NOT NULL DEFAULT 0,
    debug     bigint          NOT NULL DEFAULT 0,
    info      bigint          NOT NULL DEFAULT 0,
    warn      bigint          NOT NULL DEFAULT 0,
    error     bigint          NOT NULL DEFAULT 0,
    last_seen timestamptz     NOT NULL,
    PRIMARY KEY (hour, logger, file_key, line_key)
);
LOCK TABLE log_records IN SHARE MODE;
"#,
            fill_site_hourly!(),
            ";
ANALYZE log_site_hourly;"
        ),
    },
    Migration {
        version: 8,
        description: "record time beside the id in the search side tables (backfilled)",
        // With `log_records` partitioned by day, a lookup by id alone probes
        // every day partition; with the record's `ts` beside its id a search
        // reads its (ts, id) pairs and names them as values, which
        // PostgreSQL prunes the days by (docs/scale.md). Filled by
        // `upkeep::index_step` with the ids.
        // A side row whose record is gone (none should be: retention takes
        // both off together) could never match a record, so it goes.
        sql: r#"
LOCK TABLE log_records IN SHARE MODE;
ALTER TABLE log_search ADD COLUMN ts timestamptz;
UPDATE log_search s SET ts = r.ts FROM log_records r WHERE r.id = s.id;
DELETE FROM log_search WHERE ts IS NULL;
ALTER TABLE log_search ALTER COLUMN ts SET NOT NULL;
ALTER TABLE log_search_num ADD COLUMN ts timestamptz;
UPDATE log_search_num n SET ts = r.ts FROM log_records r WHERE r.id = n.id;
DELETE FROM log_search_num WHERE ts IS NULL;
ALTER TABLE log_search_num ALTER COLUMN ts SET NOT NULL;
ANALYZE log_search, log_search_num;
"#,
    },
    Migration {
        version: 9,
        description: "per day partition, the range of its record ids (backfilled), so a lookup by id reads one day",
        // With `log_records` partitioned by day, `record(id)` knows only the
        // id and probes every day's id index; with each day's (min id, max id)
        // it reads the days whose range holds the id (docs/scale.md). Writers
        // widen their days' ranges in each batch's transaction
        // (`log_panel_note_ids`, after `log_panel_ids_before` in its `BEGIN`);
        // retention takes a dropped day's row off; `log_panel_fill_day_ids`
        // recomputes every row from the partitions' own id indexes (here, after
        // `partition_by_day` and in `aggregates::rebuild`). A range is a
        // bound, not an inventory: concurrent writers widen each other's days,
        // and a reader looks in every day when the days named miss the id.
        sql: r#"
CREATE TABLE log_day_ids (
    day    date   PRIMARY KEY,
    min_id bigint NOT NULL,
    max_id bigint NOT NULL
);

-- Every day partition's (min id, max id), two probes of its id index each;
-- nothing when log_records is not partitioned. The day is the partition's
-- lower bound, read from the catalog whatever its name.
CREATE FUNCTION log_panel_fill_day_ids() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    part regclass;
    d date;
    lo bigint;
    hi bigint;
BEGIN
    DELETE FROM log_day_ids;
    IF (SELECT relkind FROM pg_class WHERE oid = 'log_records'::regclass) <> 'p' THEN
        RETURN;
    END IF;
    FOR part, d IN
        SELECT c.oid::regclass,
               (substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']*)''\)')::timestamptz
                   AT TIME ZONE 'UTC')::date
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'log_records'::regclass
    LOOP
        EXECUTE format('SELECT min(id), max(id) FROM %s', part) INTO lo, hi;
        CONTINUE WHEN lo IS NULL;
        INSERT INTO log_day_ids (day, min_id, max_id) VALUES (d, lo, hi);
    END LOOP;
END $$;

-- Before a batch's COPY: the last id drawn so far, for log_panel_note_ids
-- (a transaction-local setting), and true; false when log_records is not
-- partitioned (nothing to note). The ids the COPY draws next are all above it.
CREATE FUNCTION log_panel_ids_before() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'log_records'::regclass) <> 'p' THEN
        RETURN false;
    END IF;
    PERFORM set_config('log_panel.ids_before',
        coalesce(pg_sequence_last_value(pg_get_serial_sequence('log_records', 'id')::regclass), 0)::text, true);
    RETURN true;
END $$;

-- After a batch's COPY of n rows: its ids rose in row order from above the
-- mark log_panel_ids_before left to this session's last (currval), so the
-- rows from position `firsts[k]` to `lasts[k]` (0-based), those of day
-- `days[k]`, hold ids in [before + 1 + first, last - (n - 1 - last position)]:
-- exact for a lone writer, wider when others drew ids meanwhile. Each day's
-- range is widened to cover it, days locked in date order.
CREATE FUNCTION log_panel_note_ids(days date[], firsts bigint[], lasts bigint[], n bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    before bigint := nullif(current_setting('log_panel.ids_before', true), '')::bigint;
    last bigint;
BEGIN
    IF before IS NULL THEN
        RETURN;  -- not partitioned: log_panel_ids_before noted nothing
    END IF;
    last := currval(pg_get_serial_sequence('log_records', 'id'));
    INSERT INTO log_day_ids AS o (day, min_id, max_id)
        SELECT u.d, before + 1 + u.f, last - (n - 1 - u.l) FROM unnest(days, firsts, lasts) AS u(d, f, l) ORDER BY u.d
    ON CONFLICT (day) DO UPDATE SET min_id = least(o.min_id, EXCLUDED.min_id), max_id = greatest(o.max_id, EXCLUDED.max_id)
        WHERE o.min_id > EXCLUDED.min_id OR o.max_id < EXCLUDED.max_id;
END $$;

LOCK TABLE log_records IN SHARE MODE;
SELECT log_panel_fill_day_ids();
"#,
    },
    Migration {
        version: 10,
        description: "per call site and UTC day: log_site_daily (backfilled from log_site_hourly)",
        // Kept by the sink in each batch's transaction right after
        // `log_site_hourly` (crates/postgres/src/aggregates.rs), and by
        // retention in the same order; the store's call sites read its whole
        // days, the hours only at the ends: a 90-day list sums ~90 rows per
        // site instead of ~2 160. Same keys as the hours' (docs/schema.md).
        // `SHARE` on `log_records` first: no batch is between its COPY and
        // its upserts while the hours are summed.
        sql: concat!(
            r#"
CREATE TABLE log_site_daily (
    day       timestamptz     NOT NULL,
    logger    text COLLATE "C" NOT NULL,
    file_key  text COLLATE "C" NOT NULL,
    line_key  integer         NOT NULL,
    trace     bigint          NOT NULL DEFAULT 0,
    debug     bigint          NOT NULL DEFAULT 0,
    info      bigint          NOT NULL DEFAULT 0,
    warn      bigint          NOT NULL DEFAULT 0,
    error     bigint          NOT NULL DEFAULT 0,
    last_seen timestamptz     NOT NULL,
    PRIMARY KEY (day, logger, file_key, line_key)
);
LOCK TABLE log_records IN SHARE MODE;
"#,
            fill_site_daily!(),
            ";
ANALYZE log_site_daily;"
        ),
    },
];

/// Converts an unpartitioned `log_records` into one partitioned by UTC day
/// (run by [`partition_by_day`] under the migration lock, in one
/// transaction). A partitioned table's unique keys include the partition
/// key, so the primary key becomes (ts, id), which also serves the keyset
/// pages (the former (ts, id) index goes); `record(id)` and the search side
/// tables look rows up by id, hence an index on id (one per partition).
/// The rows move with their ids; the identity continues after the highest id
/// the old sequence, the rows or the search mark have seen, so no id is
/// reused and nothing new falls below the search mark.
const PARTITION_SQL: &str = r#"
LOCK TABLE log_records IN ACCESS EXCLUSIVE MODE;
CREATE TEMP TABLE log_panel_next_id ON COMMIT DROP AS
    SELECT greatest((SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM log_records_id_seq),
                    (SELECT coalesce(max(id), 0) FROM log_records),
                    (SELECT coalesce(max(last_id), 0) FROM log_search_mark)) AS last_id;
ALTER TABLE log_records RENAME TO log_records_unpartitioned;
ALTER TABLE log_records_unpartitioned DROP CONSTRAINT log_records_pkey;
DROP INDEX log_records_ts_id_idx, log_records_logger_c_ts_id_idx,
           log_records_warn_ts_id_idx, log_records_warn_logger_c_ts_id_idx;
ALTER TABLE log_records_unpartitioned ALTER COLUMN id DROP IDENTITY;

-- The same columns in the same order (LIKE), the identity back on id.
CREATE TABLE log_records (LIKE log_records_unpartitioned INCLUDING DEFAULTS, PRIMARY KEY (ts, id))
    PARTITION BY RANGE (ts);
ALTER TABLE log_records ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
CREATE INDEX log_records_id_idx ON log_records (id);
CREATE INDEX log_records_logger_c_ts_id_idx ON log_records ((logger COLLATE "C"), ts, id);
CREATE INDEX log_records_warn_ts_id_idx ON log_records (ts, id) WHERE level >= 30;
CREATE INDEX log_records_warn_logger_c_ts_id_idx ON log_records ((logger COLLATE "C"), ts, id) WHERE level >= 30;

SELECT log_panel_ensure_days(array_agg(DISTINCT (ts AT TIME ZONE 'UTC')::date)) FROM log_records_unpartitioned;
SELECT log_panel_ensure_days(ARRAY[(now() AT TIME ZONE 'UTC')::date]);
INSERT INTO log_records (id, ts, level, logger, message, module, file, line, thread, pid, host, app, context,
                         original_size)
    OVERRIDING SYSTEM VALUE
    SELECT id, ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size
    FROM log_records_unpartitioned;
SELECT setval(pg_get_serial_sequence('log_records', 'id'), last_id) FROM log_panel_next_id WHERE last_id > 0;
DROP TABLE log_records_unpartitioned;
SELECT log_panel_fill_day_ids();
ANALYZE log_records;
"#;

/// The latest schema version this build knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Whether `log_records` is partitioned (by day, [`partition_by_day`]).
pub fn is_partitioned(client: &mut impl GenericClient) -> Result<bool, postgres::Error> {
    client.query_one("SELECT relkind = 'p' FROM pg_class WHERE oid = 'log_records'::regclass", &[])?.try_get(0)
}

/// Partitions `log_records` by UTC day unless it is already (the schema must
/// be current: run [`migrate`] first). One transaction under the migration's
/// advisory lock, holding `log_records` exclusively while the rows move, so
/// processes asking at once convert it once and the others find it done.
/// Returns whether this call converted it.
pub fn partition_by_day(client: &mut Client) -> Result<bool, postgres::Error> {
    if is_partitioned(client)? {
        return Ok(false);
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    if is_partitioned(&mut tx)? {
        return Ok(false);
    }
    tx.batch_execute(PARTITION_SQL)?;
    tx.commit()?;
    Ok(true)
}

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// The statement that makes sure the day partitions `records` go to exist
/// (`log_panel_ensure_days`, migration 6): their distinct UTC days, of the
/// timestamps as the COPY stores them (clamped to PostgreSQL's earliest).
/// Sent with the batch's `BEGIN`, so it costs no round trip of its own.
pub fn ensure_days_sql(records: &[Record]) -> String {
    let mut days: Vec<i64> = records.iter().map(utc_day).collect();
    days.sort_unstable();
    days.dedup();
    format!("SELECT log_panel_ensure_days({})", date_array(&days))
}

/// The UTC day (days since 1970-01-01) of `record`'s timestamp as the COPY
/// stores it (clamped to PostgreSQL's earliest).
fn utc_day(record: &Record) -> i64 {
    record.timestamp.as_micros().max(PG_MIN_UNIX_MICROS).div_euclid(DAY_MICROS)
}

/// `days` (since 1970-01-01) as a SQL `date[]` literal.
fn date_array(days: &[i64]) -> String {
    let list: Vec<String> = days.iter().map(|d| format!("date '1970-01-01' + {d}")).collect();
    format!("ARRAY[{}]::date[]", list.join(", "))
}

/// The statement that widens the id ranges of the days `records` went to
/// (`log_panel_note_ids`, migration 9), sent after their COPY in the same
/// transaction: per day, the first and last position of its records in the
/// batch, which bound its ids (they rise in row order). Does nothing when
/// `log_records` is not partitioned.
pub fn note_ids_sql(records: &[Record]) -> String {
    let mut spans: std::collections::BTreeMap<i64, (usize, usize)> = std::collections::BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        spans.entry(utc_day(r)).and_modify(|s| s.1 = i).or_insert((i, i));
    }
    let days: Vec<i64> = spans.keys().copied().collect();
    let list = |pick: fn(&(usize, usize)) -> usize| -> String {
        spans.values().map(|s| pick(s).to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "SELECT log_panel_note_ids({}, ARRAY[{}]::int8[], ARRAY[{}]::int8[], {})",
        date_array(&days),
        list(|s| s.0),
        list(|s| s.1),
        records.len()
    )
}

/// What [`migrate`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationOutcome {
    /// Version before the run (0 for an empty database).
    pub from: i32,
    /// Version after the run.
    pub to: i32,
}

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum MigrateError {
    /// A database error.
    Db(postgres::Error),
    /// The database is at a newer version than this build knows.
    TooNew(i32),
    /// The server lacks an extension a migration needs (its name): `pg_trgm`
    /// ships with PostgreSQL, in the `postgresql-contrib` package on some systems.
    MissingExtension(&'static str),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Brings the schema to [`latest_version`] in one transaction guarded by
/// `pg_advisory_xact_lock`; a no-op when it is already there.
///
/// When the schema is already current this only reads `log_panel_schema`
/// (no lock, no DDL), so a role with just `SELECT` and `INSERT` on the tables
/// can log into a database migrated by its owner (plus `UPDATE` on
/// `log_panel_writers`).
pub fn migrate(client: &mut Client) -> Result<MigrationOutcome, MigrateError> {
    let exists: bool = client.query_one("SELECT to_regclass('log_panel_schema') IS NOT NULL", &[])?.try_get(0)?;
    if exists {
        let current: i32 =
            client.query_one("SELECT coalesce(max(version), 0) FROM log_panel_schema", &[])?.try_get(0)?;
        if current > latest_version() {
            return Err(MigrateError::TooNew(current));
        }
        if current == latest_version() {
            return Ok(MigrationOutcome { from: current, to: current });
        }
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS log_panel_schema (
            version     integer PRIMARY KEY,
            description text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let from: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM log_panel_schema", &[])?.try_get(0)?;
    if from > latest_version() {
        return Err(MigrateError::TooNew(from));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        for extension in m.sql.lines().filter_map(|l| l.strip_prefix("CREATE EXTENSION IF NOT EXISTS ")) {
            let name = extension.trim_end_matches(';').trim();
            let available: bool = tx
                .query_one("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", &[&name])?
                .try_get(0)?;
            if !available {
                return Err(MigrateError::MissingExtension(if name == "pg_trgm" { "pg_trgm" } else { "an extension" }));
            }
        }
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO log_panel_schema (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )?;
    }
    tx.commit()?;
    Ok(MigrationOutcome { from, to: from.max(latest_version()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i32::try_from(i + 1).unwrap_or(-1));
        }
        assert_eq!(latest_version(), 10);
    }

    #[test]
    fn a_batch_asks_for_each_of_its_days_once() {
        let at = |micros: i64| {
            let mut r = Record::new(log_panel_core::Level::Info, "l", "m");
            r.timestamp = log_panel_core::Timestamp(micros);
            r
        };
        let records = [at(DAY_MICROS + 5), at(-1), at(DAY_MICROS), at(0), at(i64::MIN)];
        let earliest = PG_MIN_UNIX_MICROS.div_euclid(DAY_MICROS);
        assert_eq!(
            ensure_days_sql(&records),
            format!(
                "SELECT log_panel_ensure_days(ARRAY[date '1970-01-01' + {earliest}, date '1970-01-01' + -1, \
                 date '1970-01-01' + 0, date '1970-01-01' + 1]::date[])"
            )
        );
    }

    #[test]
    fn a_batch_notes_each_days_first_and_last_position() {
        let at = |micros: i64| {
            let mut r = Record::new(log_panel_core::Level::Info, "l", "m");
            r.timestamp = log_panel_core::Timestamp(micros);
            r
        };
        // Out of time order: day 1 holds positions 0 and 3, day 0 positions 1 and 2.
        let records = [at(DAY_MICROS + 5), at(-1 + DAY_MICROS), at(0), at(2 * DAY_MICROS - 1)];
        assert_eq!(
            note_ids_sql(&records),
            "SELECT log_panel_note_ids(ARRAY[date '1970-01-01' + 0, date '1970-01-01' + 1]::date[], \
             ARRAY[1, 0]::int8[], ARRAY[2, 3]::int8[], 4)"
        );
    }

    #[test]
    fn the_partition_function_takes_the_partition_lock() {
        let sql = MIGRATIONS.iter().map(|m| m.sql).collect::<String>();
        assert!(sql.contains(&format!("pg_advisory_xact_lock({PARTITION_LOCK_KEY})")));
    }
}
