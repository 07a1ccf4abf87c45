//! Not a check of the panel: writes the database behind
//! `docs/img/records-exact-zeros-1400.png` and `docs/img/records-burst-1400.png`
//! to `$ESTIMATE_SCREENSHOT_DB` (`cargo test -p log-panel-web --test web --
//! --ignored estimate_shots`, then `log-panel --db … serve` and a headless
//! Chromium, docs/panel.md). It checks that the file draws what the pictures
//! are for, through the store the panel reads: a term of old records only
//! answered with exact zeros over the last 24 hours, and a bursty term
//! estimated with margins, some bars uncertain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::{RecordFilter, Slots, Store};
use log_panel_sqlite::{SqliteSink, SqliteStore};

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// Records of the last 24 hours: over the estimate's exact budget (100 000 rows).
const RECENT: i64 = 150_000;
/// Records of the 4 days before: 10 000 of them say `comet`, more
/// candidates than the exact budget's cap (6 250), so the term is common and
/// would be sampled.
const OLD: i64 = 30_000;
/// Consecutive records saying `timeout`, about 7 hours ago: the burst.
const BURST: std::ops::Range<i64> = 106_000..106_600;

/// A record of the last 24 hours: hostile markup, a bidi override, a long
/// token and ANSI escapes in messages and values; one in 25 and the burst
/// say `timeout`.
fn recent(i: i64, now: i64) -> Record {
    let token = format!("tok_{}", "a1b2c3d4".repeat(40));
    let rtl = "\u{202e} طلب الدفع مرفوض — בקשה נדחתה";
    let (level, logger, message) = if BURST.contains(&i) {
        (Level::Error, "payments::gateway", format!("upstream timeout {rtl} {} after 30000 ms", common::H_MSG))
    } else if i % 25 == 0 {
        (Level::Warn, common::H_LOGGER, format!("\x1b[31mtimeout\x1b[0m talking to db-{} {}", i % 7, common::H_ATTR))
    } else {
        match i % 4 {
            0 => (Level::Info, "api::http", format!("GET /orders/{} 200 {}", i % 9_973, common::H_MSG)),
            1 => (Level::Info, "i18n", format!("{rtl} #{i}")),
            2 => (Level::Debug, "auth", format!("token {token} refreshed")),
            _ => (Level::Info, "jobs", format!("job done \x1b[2J\x1b[32mok\x1b[0m {i}")),
        }
    };
    let mut r = Record::new(level, logger, message);
    r.timestamp = Timestamp(now - DAY + (i + 1) * (DAY - MINUTE) / RECENT);
    r.kv = vec![
        ("user_id".into(), Value::from(i % 500)),
        ("note".into(), Value::from(common::H_ATTR)),
        ("label".into(), Value::from(rtl)),
        ("trace".into(), Value::from(token.as_str())),
    ];
    r
}

/// A record of the 4 days before the last 24 hours; every other one of the
/// oldest 20 000 says `comet`, the newest 10 000 (a day and more) never:
/// the zones of ids the last 24 hours meet hold no `comet`.
fn old(i: i64, now: i64) -> Record {
    let mut r = if i < 20_000 && i % 2 == 0 {
        Record::new(Level::Info, "astro", format!("comet {i} seen {} near \u{202e}shard", common::H_MSG))
    } else {
        recent(i + 1, now)
    };
    r.timestamp = Timestamp(now - 5 * DAY + i * 4 * DAY / OLD);
    r
}

#[test]
#[ignore = "writes the screenshot database; run by hand"]
fn estimate_shots() {
    let Some(target) = std::env::var_os("ESTIMATE_SCREENSHOT_DB") else {
        return;
    };
    let path = std::path::PathBuf::from(target);
    let now = Timestamp::now().0;
    let origin = Origin::new("shop", "web-1", 4400);
    let mut sink = SqliteSink::open(&path).unwrap();
    let mut write = |records: Vec<Record>| sink.write(&Batch::new(&origin, &records)).unwrap();
    for from in (0..OLD).step_by(1_000) {
        write((from..from + 1_000).map(|i| old(i, now)).collect());
    }
    for from in (0..RECENT).step_by(1_000) {
        write((from..from + 1_000).map(|i| recent(i, now)).collect());
    }
    while sink.idle().unwrap() {}
    drop(sink);

    // What the records page asks for `since=24h`: 48 bars of 30 minutes.
    let store = SqliteStore::open(&path).unwrap();
    let slots = Slots::ending_at(Timestamp(now), 30 * MINUTE, 48).unwrap();
    let term = |text: &str| {
        let mut f = RecordFilter::default();
        f.text = Some(text.to_owned());
        f.since = Some(Timestamp(now - DAY));
        f
    };
    let zeros = store.histogram_estimate(&term("comet"), &slots).unwrap();
    assert!(zeros.sample.is_none(), "comet over the last 24 h: counted, not sampled");
    assert_eq!(zeros.slots.iter().map(|s| s.total()).sum::<u64>(), 0);
    let burst = store.histogram_estimate(&term("timeout"), &slots).unwrap();
    assert!(burst.sample.is_some(), "timeout over the last 24 h: sampled");
    let uncertain = (0..slots.len()).filter(|&i| burst.is_uncertain(i)).count();
    assert!(uncertain > 0 && uncertain < slots.len(), "{uncertain} uncertain bars");
}
