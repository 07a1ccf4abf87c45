//! The tables, on every shard: what the sink creates and the store reads.
//!
//! Per shard (the `_local` tables):
//!
//! - `log_records_local`: one row per record, `MergeTree` partitioned by
//!   UTC day (`toYYYYMMDD(time)`) and ordered by `(logger, ts, id)`, the order of
//!   the panel's reads (a logger's records by time). `ts` is the time in
//!   microseconds (`DateTime64` is missing on 18.16), `time` the same in
//!   seconds as a `DateTime('UTC')` for the partition and the aggregates.
//!   Beside the context's JSON text, its top-level keys and values as two
//!   arrays (`context_keys`, `context_values`), for `key=value` filters
//!   (18.16 has no JSON functions that read `{"k" : "v"}` right). A value is
//!   kept typed: `s:` and the string, or `n:` and the JSON number, `b:true` /
//!   `b:false`, or `j:` and the JSON of anything else. `writer` and `batch`
//!   identify the insert a row came with (see [`crate::sink`]).
//! - `log_panel_writer_tags`: which writer holds which id tag (see
//!   [`crate::writer_tag`]; version 2).
//! - The aggregates (see [`crate::aggregates`]): materialised views with
//!   explicit `TO` tables, partitioned by the same day, so retention drops
//!   the same partitions everywhere.
//! - The context side table `log_context_pairs_local`, fed the same way
//!   (see [`crate::aggregates`]; version 5). Migrating a database that had
//!   none fills it from the records already there, day by day, and drops
//!   the side table of versions 3 and 4 (`log_context_local`: typed values,
//!   granules of 8 192 rows, which 18.16 cannot change in place).
//! - The call-site table `log_site_hourly_local` (see [`crate::aggregates`];
//!   version 4), filled the same way when a database without it is migrated.
//!
//! Over all shards (what reads use): `log_records`, `log_logger_stats`,
//! `log_logger_hourly`, `log_logger_quarter`, `log_context_pairs`, `log_site_hourly` — `Distributed` tables over the
//! URL's cluster, or, with one server and no cluster, `Merge` tables over
//! its one local table.
//!
//! Only what both 18.16 and current releases accept: no `LowCardinality`,
//! `DateTime64`, TTL or skip indexes.

use crate::aggregates;
use crate::error::RequestError;
use crate::http::{quote, Http, Resend};

/// The version of the tables this build creates.
pub const LATEST_VERSION: u32 = 5;

/// The first version with the context side table that reads use
/// (`log_context_pairs`); readers of older tables read the arrays alone.
pub const CONTEXT_VERSION: u32 = 5;

/// The side table of versions 3 and 4 (`_mv`, over all shards, `_local`),
/// which migrating to [`CONTEXT_VERSION`] drops once its successor is filled.
const TYPED_CONTEXT: &str = "log_context";

/// The first version with the call-site table (`log_site_hourly`).
pub const SITES_VERSION: u32 = 4;

/// The columns an insert sends, in the order of the RowBinary encoding.
pub const INSERT_COLUMNS: &str = "id, ts, time, level, logger, message, module, file, line, thread, pid, host, app, \
                                  context, context_keys, context_values, original_size, writer, batch";

/// ClickHouse's code for "Table … already exists".
const TABLE_ALREADY_EXISTS: u32 = 57;

/// The local table of the records.
pub const RECORDS_LOCAL: &str = "log_records_local";

const RECORDS_DDL: &str = "CREATE TABLE IF NOT EXISTS log_records_local (\
    id Int64, ts Int64, time DateTime('UTC'), level Int16, logger String, message String, \
    module Nullable(String), file Nullable(String), line Nullable(UInt32), thread String, pid UInt32, \
    host String, app String, context String, context_keys Array(String), context_values Array(String), \
    original_size Nullable(UInt64), writer UInt64, batch UInt64\
    ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(time) ORDER BY (logger, ts, id)";

const VERSION_DDL: &str = "CREATE TABLE IF NOT EXISTS log_panel_schema (version UInt32) ENGINE = TinyLog";

/// Why migrating failed.
#[derive(Debug)]
pub enum MigrateError {
    /// A request failed.
    Request(RequestError),
    /// The tables are newer than this build.
    TooNew(u32),
}

impl From<RequestError> for MigrateError {
    fn from(e: RequestError) -> MigrateError {
        MigrateError::Request(e)
    }
}

/// Every statement that creates the tables of one shard, in order.
pub fn statements(database: &str, cluster: Option<&str>) -> Vec<String> {
    let mut out = vec![VERSION_DDL.to_owned(), RECORDS_DDL.to_owned(), crate::writer_tag::DDL.to_owned()];
    out.extend(aggregates::statements());
    for table in std::iter::once("log_records").chain(aggregates::TABLES) {
        let engine = match cluster {
            Some(cluster) => format!("Distributed({cluster}, {database}, {table}_local)"),
            None => format!("Merge({database}, '^{table}_local$')"),
        };
        out.push(format!("CREATE TABLE IF NOT EXISTS {table} AS {table}_local ENGINE = {engine}"));
    }
    out
}

/// The day partitions (`YYYYMMDD`) of `table` on shard `shard`.
pub(crate) fn partitions(http: &Http, shard: usize, table: &str) -> Result<Vec<u32>, RequestError> {
    let sql = format!(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = {} AND active",
        quote(table)
    );
    Ok(http
        .query(shard, Resend::Safe, &sql, &[])?
        .lines()
        .filter_map(|l| l.trim().trim_matches('\'').parse().ok())
        .collect())
}

/// Whether table `table` exists in the database on shard `shard`.
fn exists(http: &Http, shard: usize, table: &str) -> Result<bool, RequestError> {
    let sql =
        format!("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {}", quote(table));
    Ok(http.query(shard, Resend::Safe, &sql, &[])?.trim() != "0")
}

/// Creates the tables on shard `shard` unless they exist; refuses tables of a newer build.
pub(crate) fn migrate(http: &Http, shard: usize) -> Result<(), MigrateError> {
    // Every statement here but the version's row leaves the same when sent
    // twice (`IF NOT EXISTS`, `IF EXISTS`, reads), so a silence the shards
    // answer `/ping` to sends it again (`Resend::Safe`; a second `CREATE`
    // racing its first is told code 57, as below). Filling the aggregates
    // (`DROP PARTITION`, `INSERT … SELECT`) is bounded by `timeout_ms` alone
    // and never sent again.
    // Writers that start together create the same tables at once, and
    // `IF NOT EXISTS` does not cover the race on 18.16: one of them can be
    // told the table already exists (code 57). It does: that is success.
    let create = |sql: &str| match http.query(shard, Resend::Safe, sql, &[]) {
        Err(RequestError::Server { code: Some(TABLE_ALREADY_EXISTS), .. }) => Ok(String::new()),
        answer => answer,
    };
    create(VERSION_DDL)?;
    let found = version(http, shard)?;
    if found > LATEST_VERSION {
        return Err(MigrateError::TooNew(found));
    }
    // A view sees only new inserts: the records stored before it existed go in by day, each
    // day at once (`DROP PARTITION`, then `INSERT … SELECT`), every day the records have once the
    // view exists. Only when the records had rows before: on a fresh database, where sinks
    // migrate and insert at once, no migration refills another's days. A record a writer adds
    // to a day while it is filled may be counted twice there (reads of the context side table
    // stay exact: it only narrows the records' own condition).
    let mut backfill = Vec::new();
    if !partitions(http, shard, RECORDS_LOCAL)?.is_empty() {
        for table in aggregates::TABLES {
            if !exists(http, shard, &format!("{table}_local"))? {
                backfill.push(table);
            }
        }
    }
    let options = http.options();
    for sql in statements(options.database(), options.cluster()) {
        create(&sql)?;
    }
    if !backfill.is_empty() {
        for day in partitions(http, shard, RECORDS_LOCAL)? {
            for table in &backfill {
                aggregates::rebuild_table_day(http, shard, table, day)?;
            }
        }
    }
    if found < CONTEXT_VERSION {
        // The view first, so that no insert feeds the table while it goes.
        for suffix in ["_mv", "", "_local"] {
            http.query(shard, Resend::Safe, &format!("DROP TABLE IF EXISTS {TYPED_CONTEXT}{suffix}"), &[])?;
        }
    }
    if found < LATEST_VERSION {
        record_version(http, shard)?;
    }
    Ok(())
}

/// The version of the tables on shard `shard` (0: none recorded).
pub(crate) fn version(http: &Http, shard: usize) -> Result<u32, RequestError> {
    Ok(http.query(shard, Resend::Safe, "SELECT max(version) FROM log_panel_schema", &[])?.trim().parse().unwrap_or(0))
}

/// Records [`LATEST_VERSION`] on shard `shard`. `TinyLog` takes one writer
/// at a time: sinks migrating a shard at once fail each other's insert (its
/// `tmp_sizes.json` renamed away), so one that failed succeeds when another
/// recorded the version, and otherwise tries again (three times in all).
/// A silent insert is handled the same way rather than sent again at once
/// (`Resend::Never`): a second writer while the first may still write is
/// what fails on `TinyLog`, and reading the version first tells whether the
/// silent one landed (a second row of the same version would change nothing:
/// readers take the greatest).
fn record_version(http: &Http, shard: usize) -> Result<(), RequestError> {
    let mut tries = 1;
    loop {
        let Err(e) = http.query(
            shard,
            Resend::Never,
            &format!("INSERT INTO log_panel_schema (version) VALUES ({LATEST_VERSION})"),
            &[],
        ) else {
            return Ok(());
        };
        if version(http, shard).is_ok_and(|v| v >= LATEST_VERSION) {
            return Ok(());
        }
        if tries == 3 {
            return Err(e);
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(50 * tries));
    }
}
