//! A batch folded into the per-logger aggregates every storage keeps in the
//! batch's transaction (see `docs/aggregates.md`): per logger, its totals
//! and first/last time; per logger and UTC hour, and per logger and UTC
//! quarter hour, a count per level. Pure computation: each storage crate
//! owns the SQL that adds these to its tables.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::{Level, Record, Timestamp, HOUR, LEVELS, QUARTER_HOUR};

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
/// use log_panel_core::aggregate::BatchAggregates;
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
}

impl<'a> BatchAggregates<'a> {
    /// Folds `records` under their own logger names and times.
    pub fn of(records: &'a [Record]) -> BatchAggregates<'a> {
        BatchAggregates::of_stored(records, |r| (Cow::Borrowed(r.logger.as_ref()), r.timestamp))
    }

    /// Folds `records` under the logger name and time `stored` says the
    /// storage keeps for each (a sanitised name, a clamped time), so the
    /// counts agree with the stored rows.
    pub fn of_stored(
        records: &'a [Record],
        stored: impl Fn(&'a Record) -> (Cow<'a, str>, Timestamp),
    ) -> BatchAggregates<'a> {
        let mut agg = BatchAggregates::default();
        for r in records {
            let (name, t) = stored(r);
            let totals = agg.loggers.entry(name.clone()).or_insert(LoggerTotals {
                total: 0,
                errors: 0,
                warnings: 0,
                first: t,
                last: t,
            });
            totals.total += 1;
            totals.errors += u64::from(r.level == Level::Error);
            totals.warnings += u64::from(r.level == Level::Warn);
            totals.first = totals.first.min(t);
            totals.last = totals.last.max(t);
            agg.hours.entry((name.clone(), t.0.div_euclid(HOUR) * HOUR)).or_default().add(r.level);
            agg.quarters.entry((name, t.0.div_euclid(QUARTER_HOUR) * QUARTER_HOUR)).or_default().add(r.level);
        }
        agg
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
}

fn buckets<'m>(
    map: &'m BTreeMap<(Cow<'_, str>, i64), LevelCounts>,
) -> impl ExactSizeIterator<Item = (&'m str, Timestamp, &'m LevelCounts)> {
    map.iter().map(|((name, start), counts)| (name.as_ref(), Timestamp(*start), counts))
}

/// `counts` as the five signed integers a database binds (TRACE … ERROR,
/// the order of [`LEVELS`](crate::LEVELS)); a count past `i64::MAX` is held there.
pub fn counts_as_i64(counts: &LevelCounts) -> [i64; 5] {
    [counts.trace, counts.debug, counts.info, counts.warn, counts.error].map(|n| i64::try_from(n).unwrap_or(i64::MAX))
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
    fn stored_names_and_times_are_what_is_counted() {
        let records = [record(Level::Info, "x\0y", i64::MIN), record(Level::Info, "x\u{FFFD}y", 0)];
        let agg = BatchAggregates::of_stored(&records, |r| {
            (Cow::Owned(r.logger.replace('\0', "\u{FFFD}")), Timestamp(r.timestamp.0.max(-HOUR)))
        });
        let loggers: Vec<(&str, u64, Timestamp)> = agg.loggers().map(|(n, t)| (n, t.total, t.first)).collect();
        assert_eq!(loggers, [("x\u{FFFD}y", 2, Timestamp(-HOUR))]);
        assert_eq!(agg.hours().len(), 2);
    }
}
