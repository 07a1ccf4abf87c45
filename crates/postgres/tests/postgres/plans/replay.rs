//! The look-up by content of a batch logged before its sink (crate docs, "A
//! batch in doubt that outlives its process") in a database other
//! applications write to: it reads its own loggers' rows of the batch's
//! span, not every application's (docs/reliability.md, "Cost in a shared
//! database").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, DAY};
use log_panel_postgres::PgSink;
use log_panel_testing::postgres::client;
use log_panel_testing::records::requests;

use super::{explained_database, plans_of, removed_by_filter};

/// Another application's rows in the replayed batch's span.
const OTHERS: i64 = 20_000;
/// The replayed batch: this application's records over the same span.
const OURS: usize = 1_000;
/// The span both cover: ten minutes.
const SPAN: i64 = 600_000_000;

fn ours(start: i64) -> Vec<Record> {
    requests(0, OURS, start, SPAN / OURS as i64)
}

/// Another application's `OTHERS` rows over the span from `start` and as
/// many over the day before, then this application's batch, each stored
/// through its own sink.
fn fill(url: &str, start: i64) {
    let mut sink = PgSink::connect(url).unwrap();
    let shop = Origin::new("shop", "shop-1", 1);
    for (from, step) in [(start - DAY, DAY / OTHERS), (start, SPAN / OTHERS)] {
        let records: Vec<Record> = (0..OTHERS)
            .map(|i| {
                let mut r =
                    Record::new(Level::Info, ["shop::orders", "shop::stock"][(i % 2) as usize], format!("order {i}"));
                r.timestamp = Timestamp(from + i * step);
                r
            })
            .collect();
        for batch in records.chunks(5_000) {
            sink.write(&Batch::new(&shop, batch)).unwrap();
        }
    }
    let mut sink = PgSink::connect(url).unwrap();
    sink.write(&Batch::new(&Origin::new("replay", "bench", 7), &ours(start))).unwrap();
}

#[test]
fn a_replayed_batch_s_look_up_reads_its_loggers_rows_not_other_applications() {
    let start = Timestamp::now().0 - 2 * DAY;
    let Some((url, log, _turn)) = explained_database(|url| fill(url, start)) else { return };
    let mut admin = client(&url);
    admin.batch_execute("VACUUM ANALYZE log_records").unwrap();
    let count = |admin: &mut postgres::Client| -> i64 {
        admin.query_one("SELECT count(*) FROM log_records", &[]).unwrap().get(0)
    };
    let stored = count(&mut admin);
    let plans = plans_of(&log, || {
        let mut sink = PgSink::connect(&url).unwrap();
        sink.write(&Batch::new(&Origin::new("replay", "bench", 7), &ours(start))).unwrap();
    });
    assert_eq!(count(&mut admin), stored, "the replayed batch was stored again");
    let lookups: Vec<&String> = plans.iter().filter(|p| p.contains("host = ") && p.contains("pid = ")).collect();
    assert_eq!(lookups.len(), 1, "one look-up for the batch: {plans:#?}");
    let removed = removed_by_filter(lookups[0]);
    assert!(
        removed < OTHERS / 10,
        "the look-up read {removed} rows of another application's {OTHERS} in its span:\n{}",
        lookups[0]
    );
}
