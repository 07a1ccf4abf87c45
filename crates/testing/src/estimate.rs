//! The estimated histograms' data set and check, the same on every storage
//! ([`Store::histogram_estimate`](log_panel_query::Store::histogram_estimate)):
//! [`RECORDS`] records 0.9 s apart, a common word and a common context
//! value each in about a fifth of them, spread evenly but not periodically
//! (a hash of the record's number, so no block of a sample lines up with
//! them), a rare word in one record of two hundred. Large enough that a
//! storage's default sizes estimate its whole span (more than 200 000 rows).

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::{FieldMatch, FieldValue, Histogram, RecordFilter, Slots};

use crate::records::{filter, BASE};

/// Records in the set.
pub const RECORDS: u64 = 240_000;
/// Microseconds between two records: the set spans 60 hours, so [`slots`]
/// are whole hours, as a panel's bars are (a store may then size each bar
/// from its aggregates).
pub const STEP: i64 = 900_000;
/// Bars of [`slots`].
pub const BARS: usize = 20;
/// The common word, in about 20 % of the messages.
pub const COMMON_WORD: &str = "timeout";
/// The rare word, in one message of [`RARE_EVERY`].
pub const RARE_WORD: &str = "quasar";
/// One record in this many holds [`RARE_WORD`].
pub const RARE_EVERY: u64 = 200;
/// The common context value: `user_id` = this, in about 20 % of the records.
pub const COMMON_USER: i64 = 3;

/// A well-mixed hash of `i` (splitmix64's finaliser).
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Record `i`: INFO, WARN on 2 of 10, ERROR on 1 of 10.
pub fn record(i: u64) -> Record {
    let level = match i % 10 {
        7 | 8 => Level::Warn,
        9 => Level::Error,
        _ => Level::Info,
    };
    let h = mix(i);
    let message = if i % RARE_EVERY == 11 {
        format!("{RARE_WORD} checksum mismatch {i}")
    } else if h % 100 < 20 {
        format!("upstream {COMMON_WORD} after 30 s, request {i}")
    } else {
        format!("request {i} served")
    };
    let mut r = Record::new(level, "web::api", message);
    r.timestamp = Timestamp(BASE + i as i64 * STEP);
    let user = if (h >> 32) % 100 < 20 { COMMON_USER } else { 1_000 + (h >> 40) as i64 % 5_000 };
    r.kv = vec![("user_id".into(), Value::from(user))];
    r
}

/// The records of the bursty set ([`write_bursty`]) that all hold
/// [`COMMON_WORD`]: an incident of 2 000 consecutive records in the middle
/// of bar 7 of [`slots`] (records 84 000 to 96 000).
pub const BURST: std::ops::Range<u64> = 89_000..91_000;

/// Record `i` of the bursty set: [`record`]'s time, level and user, and
/// [`COMMON_WORD`] in about 1 % of the messages (a hash) and in every
/// record of [`BURST`] — what an incident does to a word like `timeout`.
pub fn bursty_record(i: u64) -> Record {
    bursty_record_at(i, 1)
}

/// [`bursty_record`] with [`COMMON_WORD`] in about `percent` % of the
/// messages outside the burst.
pub fn bursty_record_at(i: u64, percent: u64) -> Record {
    let mut r = record(i);
    r.message = if BURST.contains(&i) || mix(i ^ 0x5555) % 100 < percent {
        format!("upstream {COMMON_WORD} after 30 s, request {i}")
    } else {
        format!("request {i} served")
    }
    .into();
    r
}

/// Writes the set to `sink` in batches of `batch`.
pub fn write(sink: &mut dyn Sink, batch: u64) {
    write_with(sink, batch, record);
}

/// Writes the bursty set ([`bursty_record`]) to `sink` in batches of `batch`.
pub fn write_bursty(sink: &mut dyn Sink, batch: u64) {
    write_with(sink, batch, bursty_record);
}

/// Writes the bursty set with [`COMMON_WORD`] in about 5 % of the
/// messages outside the burst ([`bursty_record_at`]): common enough for a
/// store that samples only common terms.
pub fn write_bursty_common(sink: &mut dyn Sink, batch: u64) {
    write_with(sink, batch, |i| bursty_record_at(i, 5));
}

fn write_with(sink: &mut dyn Sink, batch: u64, record: fn(u64) -> Record) {
    let origin = Origin::new("api", "h1", 10);
    for chunk in 0..RECORDS.div_ceil(batch) {
        let records: Vec<Record> = (chunk * batch..((chunk + 1) * batch).min(RECORDS)).map(record).collect();
        if let Err(e) = sink.write(&Batch::new(&origin, &records)) {
            panic!("writing the estimate set: {e}");
        }
    }
}

/// [`BARS`] equal bars over the whole set.
pub fn slots() -> Slots {
    let width = RECORDS as i64 * STEP / BARS as i64;
    match Slots::ending_at(Timestamp(BASE + RECORDS as i64 * STEP), width, BARS) {
        Ok(s) => s,
        Err(e) => panic!("the estimate set's slots: {e}"),
    }
}

/// Records with the common word.
pub fn common_word() -> RecordFilter {
    filter(|f| f.text = Some(COMMON_WORD.into()))
}

/// Records with the rare word.
pub fn rare_word() -> RecordFilter {
    filter(|f| f.text = Some(RARE_WORD.into()))
}

/// Records of the common user.
pub fn common_user() -> RecordFilter {
    user(COMMON_USER)
}

/// Records of user `id` (any other than [`COMMON_USER`] has about 40).
pub fn user(id: i64) -> RecordFilter {
    match FieldMatch::new("user_id", FieldValue::Int(id)) {
        Ok(m) => filter(|f| f.fields = vec![m]),
        Err(e) => panic!("user_id={id}: {e}"),
    }
}

/// Asserts that `estimate` is an estimate of `exact` (which must be exact):
/// each bar's total within `bar` (a fraction, 0.2 for 20 %) of the exact
/// bar's, and the whole histogram's total and its errors within `whole`.
pub fn assert_close(what: &str, exact: &Histogram, estimate: &Histogram, bar: f64, whole: f64) {
    assert!(exact.sample.is_none() && exact.complete, "{what}: the reference is exact");
    assert!(estimate.sample.is_some(), "{what}: an estimate says so");
    assert_eq!(exact.slots.len(), estimate.slots.len(), "{what}");
    assert_eq!(estimate.margins.len(), estimate.slots.len(), "{what}: a margin per bar");
    let off = |e: u64, x: u64| (e as f64 - x as f64).abs() / (x.max(1) as f64);
    for (i, (x, e)) in exact.slots.iter().zip(&estimate.slots).enumerate() {
        let d = off(e.total(), x.total());
        assert!(d <= bar, "{what}: bar {i}: {} estimated, {} counted ({:.1} % off)", e.total(), x.total(), d * 100.0);
    }
    let sum = |h: &Histogram, f: fn(&log_panel_query::LevelCounts) -> u64| h.slots.iter().map(f).sum::<u64>();
    let (x, e) = (sum(exact, |c| c.total()), sum(estimate, |c| c.total()));
    assert!(off(e, x) <= whole, "{what}: {e} estimated in all, {x} counted");
    let (x, e) = (sum(exact, |c| c.error), sum(estimate, |c| c.error));
    assert!(off(e, x) <= whole * 2.0, "{what}: {e} errors estimated, {x} counted");
}
