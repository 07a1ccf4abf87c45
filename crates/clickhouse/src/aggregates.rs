//! The tables derived from the records: materialised views that ClickHouse
//! feeds from every insert into `log_records_local`, each into an explicit
//! `TO` table, all partitioned by the records' UTC day.
//!
//! - `log_logger_quarter_local`, `log_logger_hourly_local`: records per
//!   level per logger per UTC quarter hour / hour (`SummingMergeTree`).
//! - `log_logger_stats_local`: per logger per UTC day, the count, errors,
//!   warnings and the first and last record's time (`AggregatingMergeTree`).
//!   Per day, so that dropping a day's partition takes its totals with it.
//! - `log_context_pairs_local`: one row per top-level context key of a
//!   record (`key`, its `value` as in `context_values` without the type's
//!   prefix, the record's `ts`, `id`, `logger` and `time`), ordered by
//!   `(key, value, ts, id)`: a `key=value` filter finds its records' times
//!   and loggers by the primary index instead of reading every record's
//!   arrays (version 5), and then the records by theirs, `(logger, ts)`. A
//!   record and its rows are on one shard. A lookup reads at least one granule
//!   per day partition, so the table's granules are small
//!   ([`CONTEXT_GRANULARITY`] rows); and without the prefix, the text and
//!   the number a value matches (`s:7`, `n:7`) are one key range, not two.
//!   The side table only narrows (the arrays keep a read exact), so values
//!   of different types that read alike may share rows of a lookup.
//! - `log_site_hourly_local`: per call site (logger, file, line) per UTC hour,
//!   the count per level, the newest record's time and its message
//!   (`AggregatingMergeTree`; version 4). Call sites over days read it for
//!   their whole hours and the records only for the partial hours at the
//!   ends. The sort key cannot hold `Nullable` columns on 18.16, so the file
//!   is `file_key` (`''` without one, else `=` and the file) and the line
//!   `line_key` (-1 without one); see [`site_file`].
//!
//! Merges are eventual, so a table may hold several rows of one key: every
//! read groups (`sum`, `…Merge`). When a view missed rows (they were
//! deleted by a mutation, or restored behind the view's back),
//! `rebuild_day` (the read side's rebuild and prune) recomputes a day from the records.

use crate::error::RequestError;
use crate::http::Http;

/// The totals table over all shards (and `_local`, one shard's).
pub const STATS: &str = "log_logger_stats";
/// The hourly counts over all shards.
pub const HOURLY: &str = "log_logger_hourly";
/// The quarter-hour counts over all shards.
pub const QUARTER: &str = "log_logger_quarter";

/// The context side table over all shards.
pub const CONTEXT: &str = "log_context_pairs";

/// Rows per granule of the context side table (the default is 8 192): a
/// `key=value` lookup reads at least one granule per day partition it spans.
pub const CONTEXT_GRANULARITY: u32 = 1024;

/// The call-site counts per hour over all shards.
pub const SITES: &str = "log_site_hourly";

/// Every derived table, by its name over all shards.
pub const TABLES: [&str; 5] = [STATS, HOURLY, QUARTER, CONTEXT, SITES];

/// A call site's file as `file_key` keeps it, read back (`None`: the records had none).
pub fn site_file(file_key: &str) -> Option<&str> {
    file_key.strip_prefix('=')
}

/// A call site's line as `line_key` keeps it, read back (`None`: the records had none).
pub fn site_line(line_key: i64) -> Option<u32> {
    u32::try_from(line_key).ok()
}

const COUNTS: &str = "countIf(level = 5) AS trace, countIf(level = 10) AS debug, countIf(level = 20) AS info, \
                      countIf(level = 30) AS warn, countIf(level = 40) AS error";

/// What the view of `table` selects from the records, with `condition` (`1`: all).
pub(crate) fn select(table: &str, condition: &str) -> String {
    match table {
        STATS => format!(
            "SELECT logger, toDate(time) AS day, countState() AS total, countIfState(level = 40) AS errors, \
             countIfState(level = 30) AS warnings, minState(ts) AS first_seen, maxState(ts) AS last_seen \
             FROM log_records_local WHERE {condition} GROUP BY logger, day"
        ),
        HOURLY => format!(
            "SELECT logger, toStartOfHour(time) AS bucket, {COUNTS} FROM log_records_local \
             WHERE {condition} GROUP BY logger, bucket"
        ),
        SITES => format!(
            "SELECT logger, if(isNull(file), '', concat('=', ifNull(file, ''))) AS file_key, \
             ifNull(toInt64(line), -1) AS line_key, toStartOfHour(time) AS bucket, \
             countIfState(level = 5) AS trace, countIfState(level = 10) AS debug, countIfState(level = 20) AS info, \
             countIfState(level = 30) AS warn, countIfState(level = 40) AS error, maxState(ts) AS last_seen, \
             argMaxState(message, (ts, id)) AS example FROM log_records_local WHERE {condition} \
             GROUP BY logger, file_key, line_key, bucket"
        ),
        CONTEXT => format!(
            "SELECT key, substring(typed, 3) AS value, ts, id, logger, time FROM log_records_local \
             ARRAY JOIN context_keys AS key, context_values AS typed WHERE {condition}"
        ),
        _ => format!(
            "SELECT logger, toStartOfFifteenMinutes(time) AS bucket, {COUNTS} FROM log_records_local \
             WHERE {condition} GROUP BY logger, bucket"
        ),
    }
}

/// The statements that create the derived tables and their views on one shard.
pub fn statements() -> Vec<String> {
    let counts = "trace UInt64, debug UInt64, info UInt64, warn UInt64, error UInt64";
    let state = "AggregateFunction(countIf, UInt8)";
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {STATS}_local (logger String, day Date, \
             total AggregateFunction(count), errors AggregateFunction(countIf, UInt8), \
             warnings AggregateFunction(countIf, UInt8), first_seen AggregateFunction(min, Int64), \
             last_seen AggregateFunction(max, Int64)) \
             ENGINE = AggregatingMergeTree PARTITION BY toYYYYMMDD(day) ORDER BY (logger, day)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {HOURLY}_local (logger String, bucket DateTime('UTC'), {counts}) \
             ENGINE = SummingMergeTree PARTITION BY toYYYYMMDD(bucket) ORDER BY (logger, bucket)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {QUARTER}_local (logger String, bucket DateTime('UTC'), {counts}) \
             ENGINE = SummingMergeTree PARTITION BY toYYYYMMDD(bucket) ORDER BY (logger, bucket)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {CONTEXT}_local (key String, value String, ts Int64, id Int64, \
             logger String, time DateTime('UTC')) ENGINE = MergeTree PARTITION BY toYYYYMMDD(time) ORDER BY (key, value, ts, id) \
             SETTINGS index_granularity = {CONTEXT_GRANULARITY}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {SITES}_local (logger String, file_key String, line_key Int64, \
             bucket DateTime('UTC'), trace {state}, debug {state}, info {state}, warn {state}, error {state}, \
             last_seen AggregateFunction(max, Int64), example AggregateFunction(argMax, String, Tuple(Int64, Int64))) \
             ENGINE = AggregatingMergeTree PARTITION BY toYYYYMMDD(bucket) ORDER BY (logger, bucket, file_key, line_key)"
        ),
    ];
    for table in TABLES {
        out.push(format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO {table}_local AS {}",
            select(table, "1")
        ));
    }
    out
}
/// Recomputes day `day` (`YYYYMMDD`) of every derived table on shard
/// `shard` from its records (see [`rebuild_table_day`]).
#[cfg(feature = "read")]
pub(crate) fn rebuild_day(http: &Http, shard: usize, day: u32) -> Result<(), RequestError> {
    for table in TABLES {
        rebuild_table_day(http, shard, table, day)?;
    }
    Ok(())
}

/// Recomputes day `day` (`YYYYMMDD`) of the derived table `table` on shard
/// `shard` from its records: drops the day's partition, then inserts what
/// the view would have. Rows inserted meanwhile by a writer into that day
/// may be counted twice or not at all; run it on days no writer writes to.
pub(crate) fn rebuild_table_day(http: &Http, shard: usize, table: &str, day: u32) -> Result<(), RequestError> {
    http.query_patient(shard, &format!("ALTER TABLE {table}_local DROP PARTITION {day}"), &[])?;
    let condition = format!("toYYYYMMDD(time) = {day}");
    http.query_patient(shard, &format!("INSERT INTO {table}_local {}", select(table, &condition)), &[])?;
    Ok(())
}
