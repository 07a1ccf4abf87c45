//! [`ChStore`]: the read side over the `Distributed` tables, and the
//! [`Maintenance`] that drops whole day partitions on every shard.
//!
//! A reader never creates or changes a table. Each read goes to the first
//! shard of the URL that answers (any shard reads the whole cluster through
//! the `Distributed` tables); a read that finds a shard down fails rather
//! than answer from part of the data.

use std::collections::BTreeMap;
use std::time::Duration;

use log_panel_core::{civil_from_days, level_from_severity, Level, Timestamp};
use log_panel_query::{
    CallSite, Cards, CardsQuery, Cursor, FieldMatch, FieldValue, Histogram, LevelCounts, LoggerCard, LoggerTotals,
    Maintenance, Page, PageAt, PruneReport, RecordFilter, Slots, Store, StoreError, StoreErrorKind, StoredRecord,
    DEFAULT_READ_TIMEOUT, QUARTER_HOUR,
};
use serde_json::Value;

use crate::aggregates::{self, rebuild_day, HOURLY, QUARTER, STATS};
use crate::error::RequestError;
use crate::http::{quote, Http};
use crate::rowbinary::day_of;
use crate::schema::{self, MigrateError, LATEST_VERSION, RECORDS_LOCAL};
use crate::sql::{conditions, datetime, field_condition};
use crate::{Error, Options};

/// The columns of a [`StoredRecord`], in the order [`record`] reads them.
const RECORD_COLUMNS: &str =
    "id, ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size";

/// Reads the records of a `clickhouse://` URL. See the [module documentation](self).
pub struct ChStore {
    http: Http,
    read_timeout: Duration,
}

impl std::fmt::Debug for ChStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChStore").field("url", &self.http.options().redacted()).finish_non_exhaustive()
    }
}

/// A failed read as a [`StoreError`].
fn store_error(what: &str, e: RequestError) -> StoreError {
    let kind = match &e {
        RequestError::Transport(_) => StoreErrorKind::Unavailable,
        // TIMEOUT_EXCEEDED: the read ran past `max_execution_time`.
        RequestError::Server { code: Some(159), .. } => StoreErrorKind::TimedOut,
        // ALL_CONNECTION_TRIES_FAILED: a shard is down.
        RequestError::Server { code: Some(279 | 210), .. } => StoreErrorKind::Unavailable,
        RequestError::Server { .. } => StoreErrorKind::Storage,
    };
    StoreError::new(kind, format!("{what}: {e}")).with_source(e)
}

fn bad_data(what: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Storage, format!("reading {what}: an answer of an unexpected shape"))
}

fn int(v: &Value) -> Result<i64, StoreError> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX))),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad_data("a number"))
}

fn uint(v: &Value) -> Result<u64, StoreError> {
    int(v).map(|i| u64::try_from(i).unwrap_or(0))
}

fn text(v: &Value) -> Result<String, StoreError> {
    v.as_str().map(str::to_owned).ok_or_else(|| bad_data("a text"))
}

fn opt_text(v: &Value) -> Result<Option<String>, StoreError> {
    if v.is_null() {
        Ok(None)
    } else {
        text(v).map(Some)
    }
}

fn level(v: &Value) -> Result<Level, StoreError> {
    let severity = int(v)?;
    level_from_severity(severity)
        .ok_or_else(|| StoreError::new(StoreErrorKind::Storage, format!("a record has an unknown level {severity}")))
}

/// A row of [`RECORD_COLUMNS`] as a record.
fn record(row: &[Value]) -> Result<StoredRecord, StoreError> {
    let [id, ts, lvl, logger, message, module, file, line, thread, pid, host, app, context, original_size] = row else {
        return Err(bad_data("a record"));
    };
    let context = match serde_json::from_str::<Value>(&text(context)?) {
        Ok(Value::Object(map)) => map,
        Ok(_) => serde_json::Map::new(),
        Err(e) => {
            return Err(StoreError::new(StoreErrorKind::Storage, "reading a record: context is not JSON").with_source(e))
        }
    };
    let mut r = StoredRecord::default();
    r.id = int(id)?;
    r.ts = Timestamp(int(ts)?);
    r.level = level(lvl)?;
    r.logger = text(logger)?;
    r.message = text(message)?;
    r.module = opt_text(module)?;
    r.file = opt_text(file)?;
    r.line = if line.is_null() { None } else { u32::try_from(int(line)?).ok() };
    r.thread = text(thread)?;
    r.pid = u32::try_from(int(pid)?).unwrap_or(0);
    r.host = text(host)?;
    r.app = text(app)?;
    r.context = context;
    r.original_size = if original_size.is_null() { None } else { Some(uint(original_size)?) };
    Ok(r)
}

/// A limit as SQL takes it: `limit` (+ `extra`), at most what `LIMIT` holds.
fn limit_sql(limit: usize, extra: usize) -> u64 {
    u64::try_from(limit.saturating_add(extra)).unwrap_or(u64::MAX)
}

impl ChStore {
    /// Parses `url` and checks that a shard answers and holds the log-panel
    /// tables of a version this build reads (it creates nothing).
    pub fn connect(url: &str) -> Result<ChStore, StoreError> {
        let options = Options::parse(url).map_err(|e| StoreError::bad_filter(e.to_string()))?;
        let store = ChStore { http: Http::new(&options), read_timeout: DEFAULT_READ_TIMEOUT };
        let url = options.redacted();
        let version = store.rows("SELECT max(version) FROM log_panel_schema").map_err(|e| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                format!("`{url}` is not a log-panel database, or no shard answers: {e}"),
            )
        })?;
        let found = version.first().and_then(|row| row.first()).map(uint).transpose()?.unwrap_or(0);
        if found > u64::from(LATEST_VERSION) {
            let found = u32::try_from(found).unwrap_or(u32::MAX);
            let e = Error::SchemaTooNew { url: url.to_owned(), found, supported: LATEST_VERSION };
            return Err(StoreError::new(StoreErrorKind::NewerSchema, e.to_string()));
        }
        Ok(store)
    }

    /// Creates the log-panel tables on every shard of `url` where they are
    /// missing, as a writer does (`log-panel migrate`). Returns the versions
    /// before (0: none) and after.
    pub fn migrate(url: &str) -> Result<(u32, u32), StoreError> {
        let options = Options::parse(url).map_err(|e| StoreError::bad_filter(e.to_string()))?;
        let http = Http::new(&options);
        let before = http
            .query(0, "SELECT max(version) FROM log_panel_schema", &[])
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        for shard in 0..options.hosts().len() {
            schema::migrate(&http, shard).map_err(|e| match e {
                MigrateError::Request(e) => store_error("creating the tables", e),
                MigrateError::TooNew(found) => StoreError::new(
                    StoreErrorKind::NewerSchema,
                    Error::SchemaTooNew { url: options.redacted().to_owned(), found, supported: LATEST_VERSION }
                        .to_string(),
                ),
            })?;
        }
        Ok((before, LATEST_VERSION))
    }

    /// The same store with another time budget per read (`max_execution_time`).
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> ChStore {
        self.read_timeout = timeout;
        self
    }

    /// The data rows of a `SELECT`, from the first shard that answers.
    fn rows(&self, sql: &str) -> Result<Vec<Vec<Value>>, StoreError> {
        let budget = self.read_timeout.as_secs().max(1).to_string();
        let settings = [("max_execution_time", budget.as_str()), ("output_format_json_quote_64bit_integers", "0")];
        let sql = format!("{sql} FORMAT JSONCompact");
        let mut last = None;
        for shard in 0..self.http.options().hosts().len() {
            match self.http.query(shard, &sql, &settings) {
                Ok(body) => {
                    let answer: Value = serde_json::from_str(&body).map_err(|e| {
                        StoreError::new(StoreErrorKind::Storage, "reading an answer: not JSON").with_source(e)
                    })?;
                    let Some(Value::Array(data)) = answer.get("data") else { return Err(bad_data("an answer")) };
                    return data.iter().map(|row| row.as_array().cloned().ok_or_else(|| bad_data("a row"))).collect();
                }
                Err(e @ RequestError::Transport(_)) => last = Some(e),
                Err(e) => return Err(store_error(&format!("reading [{sql}]"), e)),
            }
        }
        Err(last
            .map_or_else(|| StoreError::new(StoreErrorKind::Unavailable, "no shard"), |e| store_error("reading", e)))
    }

    fn records_where(&self, condition: &str, order: &str, limit: u64) -> Result<Vec<StoredRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM log_records WHERE {condition} ORDER BY {order} LIMIT {limit}");
        self.rows(&sql)?.iter().map(|row| record(row)).collect()
    }

    fn count(&self, sql: &str) -> Result<u64, StoreError> {
        match self.rows(sql)?.first().and_then(|row| row.first()) {
            Some(v) => uint(v),
            None => Ok(0),
        }
    }

    /// Runs `sql` on shard `shard` (maintenance: every shard in turn).
    fn on_shard(&self, shard: usize, sql: &str) -> Result<String, StoreError> {
        self.http.query(shard, sql, &[]).map_err(|e| store_error("maintenance", e))
    }

    /// The day partitions (`YYYYMMDD`) of `table` on shard `shard`.
    fn partitions(&self, shard: usize, table: &str) -> Result<Vec<u32>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = {} AND active",
            quote(table)
        );
        Ok(self.on_shard(shard, &sql)?.lines().filter_map(|l| l.trim().trim_matches('\'').parse().ok()).collect())
    }

    /// Waits until shard `shard` has applied every mutation of the records table.
    fn await_mutations(&self, shard: usize) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = '{RECORDS_LOCAL}' \
             AND is_done = 0"
        );
        while self.on_shard(shard, &sql)?.trim() != "0" {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// The records strictly older (or newer) than `c` in (time, id) order.
/// Spelled out: 18.16 fails on a tuple comparison through a `Distributed` table.
fn beyond(c: Cursor, older: bool) -> String {
    let (op, bound) = if older { ("<", "<=") } else { (">", ">=") };
    format!("ts {bound} {ts} AND (ts {op} {ts} OR id {op} {id})", ts = c.ts.0, id = c.id)
}

/// `YYYYMMDD` of a UTC day number: a day partition's name.
fn yyyymmdd(day: i64) -> u32 {
    let (y, m, d) = civil_from_days(day);
    u32::try_from(y * 10_000 + m * 100 + d).unwrap_or(0)
}

impl Store for ChStore {
    fn records(&self, filter: &RecordFilter, at: PageAt, limit: usize) -> Result<Page, StoreError> {
        Page::check_limit(limit)?;
        if !filter.check()? {
            return Ok(Page::default());
        }
        let cond = conditions(filter);
        let n = limit_sql(limit, 1);
        let rows = match at {
            PageAt::Newest => self.records_where(&cond, "ts DESC, id DESC", n)?,
            PageAt::Older(c) => {
                self.records_where(&format!("({cond}) AND {}", beyond(c, true)), "ts DESC, id DESC", n)?
            }
            PageAt::Newer(c) => self.records_where(&format!("({cond}) AND {}", beyond(c, false)), "ts, id", n)?,
        };
        Page::from_rows(at, limit, rows, |c: Cursor, older| {
            // A column, not a constant: 18.16 loses the constants of a query that selects only constants through a `Distributed` table.
            let sql = format!("SELECT id FROM log_records WHERE ({cond}) AND {} LIMIT 1", beyond(c, older));
            Ok(!self.rows(&sql)?.is_empty())
        })
    }

    fn tail(
        &self,
        filter: &RecordFilter,
        after_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        let cond = conditions(filter);
        let n = limit_sql(limit, 0);
        match after_id {
            Some(id) => self.records_where(&format!("({cond}) AND id > {id}"), "id", n),
            None => {
                let mut rows = self.records_where(&cond, "id DESC", n)?;
                rows.reverse();
                Ok(rows)
            }
        }
    }

    fn record(&self, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.records_where(&format!("id = {id}"), "ts", 1)?.into_iter().next())
    }

    fn related(&self, key: &str, value: &FieldValue, limit: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let mut filter = RecordFilter::default();
        filter.fields.push(FieldMatch::new(key, value.clone())?);
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        self.records_where(&field_condition(key, value), "ts, id", limit_sql(limit, 0))
    }

    fn cards(&self, query: &CardsQuery) -> Result<Cards, StoreError> {
        if !query.slots.aligned_to(QUARTER_HOUR) {
            return Err(StoreError::bad_filter("card slots must be on quarter hours"));
        }
        if !query.check()? {
            return Ok(Cards::default());
        }
        let totals = self.rows(&format!(
            "SELECT logger, countMerge(total), countIfMerge(errors), countIfMerge(warnings), minMerge(first_seen), \
             maxMerge(last_seen) FROM {STATS} GROUP BY logger HAVING countMerge(total) > 0"
        ))?;
        let mut cards: BTreeMap<String, LoggerCard> = BTreeMap::new();
        for row in &totals {
            let [logger, total, errors, warnings, first, last] = row.as_slice() else { return Err(bad_data("a card")) };
            let logger = text(logger)?;
            let t = LoggerTotals::new(
                uint(total)?,
                uint(errors)?,
                uint(warnings)?,
                Timestamp(int(first)?),
                Timestamp(int(last)?),
            );
            let mut card = LoggerCard::new(logger.clone(), t);
            card.slots = vec![LevelCounts::default(); query.slots.len()];
            cards.insert(logger, card);
        }
        let (hour_start, hour_end) = query.last_hour();
        let from = query.slots.start().min(hour_start);
        let to = query.slots.end().max(hour_end);
        let buckets = self.rows(&format!(
            "SELECT logger, toUInt32(bucket), sum(trace), sum(debug), sum(info), sum(warn), sum(error) \
             FROM {QUARTER} WHERE bucket >= {} AND bucket < {} GROUP BY logger, bucket",
            datetime(from),
            datetime(to)
        ))?;
        for row in &buckets {
            let [logger, bucket, counts @ ..] = row.as_slice() else { return Err(bad_data("a bucket")) };
            let Some(card) = cards.get_mut(&text(logger)?) else { continue };
            let ts = Timestamp(int(bucket)? * 1_000_000);
            let mut c = LevelCounts::default();
            for (level, n) in
                [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().zip(counts)
            {
                c.add_n(level, uint(n)?);
            }
            if ts >= hour_start && ts < hour_end {
                card.last_hour.merge(&c);
            }
            if let Some(i) = query.slots.index_of(ts) {
                card.slots[i].merge(&c);
            }
        }
        Ok(query.select(cards.into_values().collect()))
    }

    fn histogram(&self, filter: &RecordFilter, slots: &Slots) -> Result<Histogram, StoreError> {
        let mut out = vec![LevelCounts::default(); slots.len()];
        if !filter.check()? || slots.is_empty() {
            return Ok(Histogram { slots: out, complete: true });
        }
        let mut narrowed = filter.clone();
        narrowed.since = Some(filter.since.map_or(slots.start(), |s| s.max(slots.start())));
        narrowed.until = Some(filter.until.map_or(slots.end(), |u| u.min(slots.end())));
        let bounds: Vec<String> = slots.bounds().iter().map(|b| b.0.to_string()).collect();
        let rows = self.rows(&format!(
            "SELECT arrayCount(b -> b <= ts, [{}]) AS slot, level, count() FROM log_records WHERE {} \
             GROUP BY slot, level",
            bounds.join(", "),
            conditions(&narrowed)
        ))?;
        for row in &rows {
            let [slot, lvl, n] = row.as_slice() else { return Err(bad_data("a histogram row")) };
            let slot = usize::try_from(int(slot)? - 1).map_err(|_| bad_data("a slot"))?;
            if let Some(counts) = out.get_mut(slot) {
                counts.add_n(level(lvl)?, uint(n)?);
            }
        }
        Ok(Histogram { slots: out, complete: true })
    }

    fn call_sites(&self, filter: &RecordFilter, limit: usize) -> Result<Vec<CallSite>, StoreError> {
        if limit == 0 || !filter.check()? {
            return Ok(Vec::new());
        }
        let rows = self.rows(&format!(
            "SELECT logger, file, line, countIf(level = 5), countIf(level = 10), countIf(level = 20), \
             countIf(level = 30), countIf(level = 40), max(ts), argMax(message, (ts, id)) FROM log_records \
             WHERE {} GROUP BY logger, file, line",
            conditions(filter)
        ))?;
        let mut sites = Vec::with_capacity(rows.len());
        for row in &rows {
            let [logger, file, line, counts @ .., last, example] = row.as_slice() else {
                return Err(bad_data("a call site"));
            };
            let line = if line.is_null() { None } else { u32::try_from(int(line)?).ok() };
            let mut site = CallSite::new(text(logger)?, opt_text(file)?, line);
            for (level, n) in
                [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error].into_iter().zip(counts)
            {
                site.counts.add_n(level, uint(n)?);
            }
            site.last_seen = Timestamp(int(last)?);
            site.example = text(example)?;
            sites.push(site);
        }
        // As the reference orders them: by (logger, file, line), then most records first.
        sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
        sites.sort_by_key(|s| std::cmp::Reverse(s.counts.total()));
        sites.truncate(limit);
        Ok(sites)
    }

    fn loggers(&self) -> Result<Vec<String>, StoreError> {
        self.rows(&format!("SELECT logger FROM {STATS} GROUP BY logger HAVING countMerge(total) > 0 ORDER BY logger"))?
            .iter()
            .map(|row| row.first().ok_or_else(|| bad_data("a logger")).and_then(text))
            .collect()
    }

    fn describe(&self) -> String {
        format!("ClickHouse {}", self.http.options().redacted())
    }
}

impl Maintenance for ChStore {
    /// Drops, on every shard, the day partitions wholly before `before`, of
    /// the records and the aggregates together; the rows of `before`'s own
    /// day that are older go by one `ALTER … DELETE` (waited for), and that
    /// day's aggregates are recomputed. ClickHouse deletes whole partitions,
    /// not batches: [`PruneReport::batches`] counts what the deleted records
    /// make in `batch_size` units.
    fn prune(&self, before: Timestamp, batch_size: usize, dry_run: bool) -> Result<PruneReport, StoreError> {
        if batch_size == 0 {
            return Err(StoreError::bad_filter("prune: the batch size must be at least 1"));
        }
        let deleted = self.count(&format!("SELECT count() FROM log_records WHERE ts < {}", before.0))?;
        let batches = deleted.div_ceil(batch_size as u64);
        if dry_run || deleted == 0 {
            return Ok(PruneReport::new(deleted, batches));
        }
        let last_day = yyyymmdd(day_of(before.0));
        for shard in 0..self.http.options().hosts().len() {
            for table in ["log_records", STATS, HOURLY, QUARTER] {
                for day in self.partitions(shard, &format!("{table}_local"))? {
                    if day < last_day {
                        self.on_shard(shard, &format!("ALTER TABLE {table}_local DROP PARTITION {day}"))?;
                    }
                }
            }
            let partial = format!("SELECT count() FROM {RECORDS_LOCAL} WHERE ts < {}", before.0);
            if self.on_shard(shard, &partial)?.trim() != "0" {
                self.on_shard(shard, &format!("ALTER TABLE {RECORDS_LOCAL} DELETE WHERE ts < {}", before.0))?;
                self.await_mutations(shard)?;
                rebuild_day(&self.http, shard, last_day).map_err(|e| store_error("recomputing the aggregates", e))?;
            }
        }
        Ok(PruneReport::new(deleted, batches))
    }

    /// Recomputes every day of the aggregates from the records, shard by
    /// shard, and drops aggregate days with no records. Rows a writer adds
    /// meanwhile to a day being recomputed may be counted twice or not at all.
    fn rebuild(&self) -> Result<(), StoreError> {
        for shard in 0..self.http.options().hosts().len() {
            let days = self.partitions(shard, RECORDS_LOCAL)?;
            for table in aggregates::TABLES {
                for day in self.partitions(shard, &format!("{table}_local"))? {
                    if !days.contains(&day) {
                        self.on_shard(shard, &format!("ALTER TABLE {table}_local DROP PARTITION {day}"))?;
                    }
                }
            }
            for day in days {
                rebuild_day(&self.http, shard, day).map_err(|e| store_error("recomputing the aggregates", e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_as_partition_names() {
        assert_eq!(yyyymmdd(0), 19_700_101);
        assert_eq!(yyyymmdd(20_787), 20_261_130);
        assert_eq!(yyyymmdd(11_016), 20_000_229);
    }
}
