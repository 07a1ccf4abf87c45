//! A batch folded into the per-logger aggregates every storage keeps in the
//! batch's transaction (see `docs/aggregates.md`): per logger, its totals
//! and first/last time; per logger and UTC hour, and per logger and UTC
//! quarter hour, a count per level; per call site (logger, file, line) and
//! UTC hour, a count per level and the time of its newest record. Pure
//! computation: each storage crate owns the SQL that adds these to its tables.
//!
//! The same fold, over the rows a prune deletes, gives what to take off the
//! tables again: [`take_off`] hands each storage's [`AggregateTables`] the
//! deleted rows' aggregates as negative counts, in one order for every
//! storage.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{Level, Record, Timestamp, DAY, HOUR, LEVELS, QUARTER_HOUR};

/// The bucket of a call-site aggregate row: a UTC hour, a UTC day or an
/// ISO week (Monday 00:00 UTC to the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteUnit {
    /// Per call site and UTC hour (`log_site_hourly`).
    Hour,
    /// Per call site and UTC day (`log_site_daily`).
    Day,
    /// Per call site and ISO week, from Monday 00:00 UTC (`log_site_weekly`,
    /// SQLite only).
    Week,
}

impl SiteUnit {
    /// The aggregate table of this unit and its bucket column, as the SQL
    /// storages name them.
    pub fn table(self) -> (&'static str, &'static str) {
        match self {
            SiteUnit::Hour => ("log_site_hourly", "hour"),
            SiteUnit::Day => ("log_site_daily", "day"),
            SiteUnit::Week => ("log_site_weekly", "week"),
        }
    }

    /// A bucket's length and the start of one bucket (every other starts a
    /// whole number of lengths from it): weeks start on Mondays, and
    /// 1970-01-01 was a Thursday, so the first Monday is 4 days in.
    fn grid(self) -> (i64, i64) {
        match self {
            SiteUnit::Hour => (HOUR, 0),
            SiteUnit::Day => (DAY, 0),
            SiteUnit::Week => (7 * DAY, 4 * DAY),
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        let (len, origin) = self.grid();
        Timestamp(t.0.saturating_sub(origin).div_euclid(len).saturating_mul(len).saturating_add(origin))
    }

    /// The first bucket start at or after `t`.
    pub fn ceil(self, t: Timestamp) -> Timestamp {
        let start = self.floor(t);
        if start == t {
            start
        } else {
            Timestamp(start.0.saturating_add(self.grid().0))
        }
    }
}

/// One logger's part of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerTotals {
    /// Records, all levels.
    pub total: u64,
    /// ERROR records.
    pub errors: u64,
    /// WARN records.
    pub warnings: u64,
    /// Time of the oldest record.
    pub first: Timestamp,
    /// Time of the newest record.
    pub last: Timestamp,
}

impl LoggerTotals {
    /// Totals (for storage crates reading them back).
    pub fn new(total: u64, errors: u64, warnings: u64, first: Timestamp, last: Timestamp) -> LoggerTotals {
        LoggerTotals { total, errors, warnings, first, last }
    }
}

/// A batch's aggregates, summed in memory so the database sees one upsert
/// per distinct logger and (logger, bucket). Keys iterate sorted (by name,
/// then bucket start), so concurrent writers lock rows in the same order.
///
/// ```
/// use log_panel_core::fold::BatchAggregates;
/// use log_panel_core::{Level, Record, Timestamp};
///
/// let mut a = Record::new(Level::Error, "billing", "failed");
/// a.timestamp = Timestamp(3_600_000_001); // 01:00:00.000001 UTC, 1970-01-01
/// let mut b = Record::new(Level::Info, "billing", "retried");
/// b.timestamp = Timestamp(3_600_000_002);
/// let records = [a, b];
/// let agg = BatchAggregates::of(&records);
/// let (name, totals) = agg.loggers().next().unwrap();
/// assert_eq!((name, totals.total, totals.errors), ("billing", 2, 1));
/// let (_, hour, counts) = agg.hours().next().unwrap();
/// assert_eq!((hour, counts.error, counts.info), (Timestamp(3_600_000_000), 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct BatchAggregates<'a> {
    loggers: BTreeMap<Cow<'a, str>, LoggerTotals>,
    hours: BTreeMap<(Cow<'a, str>, i64), LevelCounts>,
    quarters: BTreeMap<(Cow<'a, str>, i64), LevelCounts>,
    sites: BTreeMap<SiteHour<'a>, SiteCounts>,
}

/// A call site's hour: (UTC hour start, logger, file, line). The hour comes
/// first, as in the storages' keys, so a batch's rows lie side by side.
type SiteHour<'a> = (i64, Cow<'a, str>, Option<Cow<'a, str>>, Option<u32>);

/// One call site's records in one UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SiteCounts {
    /// Records per level.
    pub counts: LevelCounts,
    /// The time of the newest of them.
    pub last: Timestamp,
}

/// A call site's records as the storage keeps them: the logger name, the
/// source file and the line, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSite<'a> {
    /// The logger name.
    pub logger: Cow<'a, str>,
    /// The source file.
    pub file: Option<Cow<'a, str>>,
    /// The source line.
    pub line: Option<u32>,
}

impl<'a> BatchAggregates<'a> {
    /// Folds `records` under their own logger names, files, lines and times.
    pub fn of(records: &'a [Record]) -> BatchAggregates<'a> {
        BatchAggregates::of_stored(records, |r| {
            let site = StoredSite {
                logger: Cow::Borrowed(r.logger.as_ref()),
                file: r.file.as_deref().map(Cow::Borrowed),
                line: r.line,
            };
            (site, r.timestamp)
        })
    }

    /// Folds `records` under the call site and time `stored` says the
    /// storage keeps for each (a sanitised name, a clamped time), so the
    /// counts agree with the stored rows.
    pub fn of_stored(
        records: &'a [Record],
        stored: impl Fn(&'a Record) -> (StoredSite<'a>, Timestamp),
    ) -> BatchAggregates<'a> {
        let mut agg = BatchAggregates::default();
        for r in records {
            let (site, t) = stored(r);
            agg.add(site, t, r.level, 1);
        }
        agg
    }

    /// Folds rows already grouped by a storage: `(site, time, level, n)`
    /// for `n` rows of that call site and level in the quarter hour holding
    /// `time` (the rows a prune deleted, read back). Each logger's first and
    /// last, and each site hour's newest, are the extreme `time`s given.
    pub fn of_counts(
        rows: impl IntoIterator<Item = (StoredSite<'static>, Timestamp, Level, u64)>,
    ) -> BatchAggregates<'static> {
        let mut agg = BatchAggregates::default();
        for (site, t, level, n) in rows {
            agg.add(site, t, level, n);
        }
        agg
    }

    /// Counts `n` records of `level` logged at `site` at `t`.
    fn add(&mut self, site: StoredSite<'a>, t: Timestamp, level: Level, n: u64) {
        let StoredSite { logger: name, file, line } = site;
        let hour = t.hour_floor().0;
        let at = self
            .sites
            .entry((hour, name.clone(), file, line))
            .or_insert(SiteCounts { counts: LevelCounts::default(), last: t });
        at.counts.add_n(level, n);
        at.last = at.last.max(t);
        let totals = self.loggers.entry(name.clone()).or_insert(LoggerTotals {
            total: 0,
            errors: 0,
            warnings: 0,
            first: t,
            last: t,
        });
        totals.total += n;
        totals.errors += if level == Level::Error { n } else { 0 };
        totals.warnings += if level == Level::Warn { n } else { 0 };
        totals.first = totals.first.min(t);
        totals.last = totals.last.max(t);
        self.hours.entry((name.clone(), hour)).or_default().add_n(level, n);
        self.quarters.entry((name, t.floor_to(QUARTER_HOUR).0)).or_default().add_n(level, n);
    }

    /// Whether the batch had no records.
    pub fn is_empty(&self) -> bool {
        self.loggers.is_empty()
    }

    /// Each logger's totals, by name.
    pub fn loggers(&self) -> impl ExactSizeIterator<Item = (&str, &LoggerTotals)> {
        self.loggers.iter().map(|(name, totals)| (name.as_ref(), totals))
    }

    /// Counts per logger and UTC hour: (logger, the hour's start, counts).
    pub fn hours(&self) -> impl ExactSizeIterator<Item = (&str, Timestamp, &LevelCounts)> {
        buckets(&self.hours)
    }

    /// Counts per logger and UTC quarter hour: (logger, the quarter's start, counts).
    pub fn quarters(&self) -> impl ExactSizeIterator<Item = (&str, Timestamp, &LevelCounts)> {
        buckets(&self.quarters)
    }

    /// Counts per call site and UTC hour, sorted by hour, then logger, file
    /// and line: (the hour's start, logger, file, line, counts and newest time).
    pub fn sites(&self) -> impl ExactSizeIterator<Item = SiteRow<'_>> {
        self.sites
            .iter()
            .map(|((hour, name, file, line), c)| (Timestamp(*hour), name.as_ref(), file.as_deref(), *line, c))
    }
}

fn buckets<'m>(
    map: &'m BTreeMap<(Cow<'_, str>, i64), LevelCounts>,
) -> impl ExactSizeIterator<Item = (&'m str, Timestamp, &'m LevelCounts)> {
    map.iter().map(|((name, start), counts)| (name.as_ref(), Timestamp(*start), counts))
}

/// `counts` as the five signed integers a database binds (TRACE … ERROR,
/// the order of [`LEVELS`]); a count past `i64::MAX` is held there.
pub fn counts_as_i64(counts: &LevelCounts) -> [i64; 5] {
    [counts.trace, counts.debug, counts.info, counts.warn, counts.error].map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// A call site's hour as [`BatchAggregates::sites`] gives it: (the hour's
/// start, logger, file, line, counts and newest time).
pub type SiteRow<'m> = (Timestamp, &'m str, Option<&'m str>, Option<u32>, &'m SiteCounts);

/// A call site's hour taken off: (the hour's start, logger, file, line,
/// signed counts TRACE … ERROR).
pub type SiteDelta<'m> = (Timestamp, &'m str, Option<&'m str>, Option<u32>, [i64; 5]);

/// An aggregate bucket: the coarse one or the fine one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Per logger and UTC hour.
    Hour,
    /// Per logger and UTC quarter hour.
    Quarter,
}

/// The aggregate tables of one storage, inside the transaction that deleted
/// the rows being taken off: the SQL primitives [`take_off`] runs. Counts
/// are signed (negative: rows taken off).
pub trait AggregateTables {
    /// What the storage fails with.
    type Error;

    /// Locks the totals rows of `loggers` (sorted by name) before any bucket
    /// row, when the storage's writers lock in that order (PostgreSQL);
    /// nothing by default (SQLite's write lock is the whole database).
    fn lock_loggers(&mut self, loggers: &[&str]) -> Result<(), Self::Error> {
        let _ = loggers;
        Ok(())
    }

    /// Adds `counts` (TRACE … ERROR) to each `(logger, bucket start)` row of
    /// `bucket`'s table, rows sorted by key, and removes the rows left with
    /// no records.
    fn add_to_buckets(&mut self, bucket: Bucket, rows: &[(&str, Timestamp, [i64; 5])]) -> Result<(), Self::Error>;

    /// Adds `(total, errors, warnings)` to each logger's totals, removes the
    /// loggers left with no records, and reads the others' first and last
    /// seen again from the records that remain.
    fn add_to_loggers(&mut self, rows: &[(&str, [i64; 3])]) -> Result<(), Self::Error>;

    /// Adds `counts` to each call site's hour, rows sorted by key, and
    /// removes the rows left with no records. A site hour's newest time stays:
    /// a prune deletes the oldest records first, so a site hour that keeps
    /// records keeps its newest. Nothing by default, for a storage that
    /// keeps no per-site aggregates.
    fn add_to_sites(&mut self, rows: &[SiteDelta<'_>]) -> Result<(), Self::Error> {
        let _ = rows;
        Ok(())
    }
}

/// Takes the aggregates of deleted rows (folded with
/// [`BatchAggregates::of_counts`]) off `tables`: the loggers' rows locked
/// first, then the hour buckets, the quarter buckets, the call sites' hours
/// and the totals, each
/// sorted by key, as writers lock them, so a prune and a writer cannot
/// deadlock.
pub fn take_off<T: AggregateTables + ?Sized>(tables: &mut T, deleted: &BatchAggregates<'_>) -> Result<(), T::Error> {
    if deleted.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = deleted.loggers().map(|(name, _)| name).collect();
    tables.lock_loggers(&names)?;
    let negative = |c: &LevelCounts| counts_as_i64(c).map(|n| -n);
    let hours: Vec<(&str, Timestamp, [i64; 5])> = deleted.hours().map(|(n, t, c)| (n, t, negative(c))).collect();
    tables.add_to_buckets(Bucket::Hour, &hours)?;
    let quarters: Vec<(&str, Timestamp, [i64; 5])> = deleted.quarters().map(|(n, t, c)| (n, t, negative(c))).collect();
    tables.add_to_buckets(Bucket::Quarter, &quarters)?;
    let sites: Vec<SiteDelta<'_>> = deleted.sites().map(|(t, n, f, l, c)| (t, n, f, l, negative(&c.counts))).collect();
    tables.add_to_sites(&sites)?;
    let loggers: Vec<(&str, [i64; 3])> = deleted
        .loggers()
        .map(|(n, t)| (n, [t.total, t.errors, t.warnings].map(|c| -i64::try_from(c).unwrap_or(i64::MAX))))
        .collect();
    tables.add_to_loggers(&loggers)
}

/// Records per level in some bucket or range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LevelCounts {
    /// TRACE records.
    pub trace: u64,
    /// DEBUG records.
    pub debug: u64,
    /// INFO records.
    pub info: u64,
    /// WARN records.
    pub warn: u64,
    /// ERROR records.
    pub error: u64,
}

impl LevelCounts {
    /// All levels together.
    pub fn total(&self) -> u64 {
        self.trace + self.debug + self.info + self.warn + self.error
    }

    /// The count of one level.
    pub fn get(&self, level: Level) -> u64 {
        match level {
            Level::Trace => self.trace,
            Level::Debug => self.debug,
            Level::Info => self.info,
            Level::Warn => self.warn,
            Level::Error => self.error,
        }
    }

    /// Adds `n` records of `level`.
    pub fn add_n(&mut self, level: Level, n: u64) {
        *self.slot(level) += n;
    }

    /// Adds one record of `level`.
    pub fn add(&mut self, level: Level) {
        self.add_n(level, 1);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &LevelCounts) {
        for level in LEVELS {
            self.add_n(level, other.get(level));
        }
    }

    fn slot(&mut self, level: Level) -> &mut u64 {
        match level {
            Level::Trace => &mut self.trace,
            Level::Debug => &mut self.debug,
            Level::Info => &mut self.info,
            Level::Warn => &mut self.warn,
            Level::Error => &mut self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: Level, logger: &'static str, micros: i64) -> Record {
        let mut r = Record::new(level, logger, "m");
        r.timestamp = Timestamp(micros);
        r
    }

    #[test]
    fn a_batch_is_summed_per_logger_hour_and_quarter() {
        let records = [
            record(Level::Error, "a", HOUR + 1),
            record(Level::Warn, "a", HOUR + QUARTER_HOUR),
            record(Level::Info, "a", 2 * HOUR - 1),
            record(Level::Trace, "b", -1),
            record(Level::Debug, "a", HOUR + 2),
        ];
        let agg = BatchAggregates::of(&records);
        let loggers: Vec<(&str, LoggerTotals)> = agg.loggers().map(|(n, t)| (n, *t)).collect();
        assert_eq!(
            loggers,
            [
                (
                    "a",
                    LoggerTotals {
                        total: 4,
                        errors: 1,
                        warnings: 1,
                        first: Timestamp(HOUR + 1),
                        last: Timestamp(2 * HOUR - 1)
                    }
                ),
                ("b", LoggerTotals { total: 1, errors: 0, warnings: 0, first: Timestamp(-1), last: Timestamp(-1) }),
            ]
        );
        let hours: Vec<(&str, i64, [i64; 5])> = agg.hours().map(|(n, s, c)| (n, s.0, counts_as_i64(c))).collect();
        assert_eq!(hours, [("a", HOUR, [0, 1, 1, 1, 1]), ("b", -HOUR, [1, 0, 0, 0, 0])]);
        let quarters: Vec<(&str, i64)> = agg.quarters().map(|(n, s, _)| (n, s.0)).collect();
        assert_eq!(
            quarters,
            [("a", HOUR), ("a", HOUR + QUARTER_HOUR), ("a", HOUR + 3 * QUARTER_HOUR), ("b", -QUARTER_HOUR)]
        );
        assert!(BatchAggregates::of(&[]).is_empty());
    }

    #[test]
    fn deleted_rows_are_taken_off_as_negative_counts_in_lock_order() {
        #[derive(Default)]
        struct Calls(Vec<String>);
        impl AggregateTables for Calls {
            type Error = ();
            fn lock_loggers(&mut self, loggers: &[&str]) -> Result<(), ()> {
                self.0.push(format!("lock {loggers:?}"));
                Ok(())
            }
            fn add_to_buckets(&mut self, bucket: Bucket, rows: &[(&str, Timestamp, [i64; 5])]) -> Result<(), ()> {
                self.0.push(format!("{bucket:?} {:?}", rows.iter().map(|(n, t, c)| (*n, t.0, *c)).collect::<Vec<_>>()));
                Ok(())
            }
            fn add_to_loggers(&mut self, rows: &[(&str, [i64; 3])]) -> Result<(), ()> {
                self.0.push(format!("loggers {rows:?}"));
                Ok(())
            }
            fn add_to_sites(&mut self, rows: &[SiteDelta<'_>]) -> Result<(), ()> {
                self.0.push(format!(
                    "sites {:?}",
                    rows.iter().map(|(t, n, _, l, c)| (t.0, *n, *l, *c)).collect::<Vec<_>>()
                ));
                Ok(())
            }
        }
        let at = |logger: &'static str, line: u32| StoredSite {
            logger: Cow::Borrowed(logger),
            file: Some(Cow::Borrowed("src/a.rs")),
            line: Some(line),
        };
        let deleted = BatchAggregates::of_counts([
            (at("b", 7), Timestamp(QUARTER_HOUR), Level::Error, 2),
            (at("a", 9), Timestamp(HOUR + QUARTER_HOUR), Level::Warn, 3),
            (at("a", 8), Timestamp(HOUR), Level::Info, 1),
        ]);
        let mut calls = Calls::default();
        assert_eq!(take_off(&mut calls, &deleted), Ok(()));
        let q = QUARTER_HOUR;
        assert_eq!(
            calls.0,
            [
                r#"lock ["a", "b"]"#.to_owned(),
                format!(r#"Hour [("a", {HOUR}, [0, 0, -1, -3, 0]), ("b", 0, [0, 0, 0, 0, -2])]"#),
                format!(
                    r#"Quarter [("a", {HOUR}, [0, 0, -1, 0, 0]), ("a", {}, [0, 0, 0, -3, 0]), ("b", {q}, [0, 0, 0, 0, -2])]"#,
                    HOUR + q
                ),
                format!(
                    r#"sites [(0, "b", Some(7), [0, 0, 0, 0, -2]), ({HOUR}, "a", Some(8), [0, 0, -1, 0, 0]), ({HOUR}, "a", Some(9), [0, 0, 0, -3, 0])]"#
                ),
                r#"loggers [("a", [-4, 0, -3]), ("b", [-2, -2, 0])]"#.to_owned(),
            ]
        );
        let mut none = Calls::default();
        assert_eq!(take_off(&mut none, &BatchAggregates::of_counts([])), Ok(()));
        assert!(none.0.is_empty());
    }

    #[test]
    fn stored_names_and_times_are_what_is_counted() {
        let records = [record(Level::Info, "x\0y", i64::MIN), record(Level::Info, "x\u{FFFD}y", 0)];
        let agg = BatchAggregates::of_stored(&records, |r| {
            let site = StoredSite { logger: Cow::Owned(r.logger.replace('\0', "\u{FFFD}")), file: None, line: None };
            (site, Timestamp(r.timestamp.0.max(-HOUR)))
        });
        let loggers: Vec<(&str, u64, Timestamp)> = agg.loggers().map(|(n, t)| (n, t.total, t.first)).collect();
        assert_eq!(loggers, [("x\u{FFFD}y", 2, Timestamp(-HOUR))]);
        assert_eq!(agg.hours().len(), 2);
        let sites: Vec<(i64, &str, u64)> = agg.sites().map(|(t, n, _, _, c)| (t.0, n, c.counts.total())).collect();
        assert_eq!(sites, [(-HOUR, "x\u{FFFD}y", 1), (0, "x\u{FFFD}y", 1)]);
    }

    #[test]
    fn a_site_hour_counts_its_levels_and_keeps_its_newest_time() {
        let mut late = record(Level::Warn, "a", HOUR + 50);
        late.line = Some(3);
        let mut early = record(Level::Error, "a", HOUR + 10);
        early.line = Some(3);
        let mut other = record(Level::Info, "a", HOUR + 20);
        other.line = Some(4);
        let records = [late, early, other, record(Level::Info, "a", 2 * HOUR)];
        let agg = BatchAggregates::of(&records);
        let sites: Vec<(i64, Option<u32>, [i64; 5], i64)> =
            agg.sites().map(|(t, _, _, l, c)| (t.0, l, counts_as_i64(&c.counts), c.last.0)).collect();
        assert_eq!(
            sites,
            [
                (HOUR, Some(3), [0, 0, 0, 1, 1], HOUR + 50),
                (HOUR, Some(4), [0, 0, 1, 0, 0], HOUR + 20),
                (2 * HOUR, None, [0, 0, 1, 0, 0], 2 * HOUR),
            ]
        );
    }
}
