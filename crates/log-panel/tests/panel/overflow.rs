//! Full queue: `drop` never waits, `drop_below` never drops WARN and above,
//! and every drop is summarised in a stored WARN record matching `stats()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use log_panel::{Level, Overflow, Value};
use log_panel_testing::Shared;

/// A write takes this long, so a caller that waited for room would wait about this long.
const SLOW_WRITE: Duration = Duration::from_millis(600);
/// The bound a non-blocking call must stay under: well below one write.
const NEVER_WAITS: Duration = Duration::from_millis(300);

fn slow_panel(shared: &Shared, overflow: Overflow) -> log_panel::Pipeline {
    shared.script.lock().unwrap().delay = SLOW_WRITE;
    log_panel::builder()
        .sink(shared.sink())
        .overflow(overflow)
        .queue_capacity(16)
        .batch_size(8)
        .flush_level(None)
        .filter("trace")
        .build()
        .unwrap()
}

fn summaries(shared: &Shared) -> Vec<log_panel::Record> {
    shared.stored.lock().unwrap().iter().filter(|r| r.logger == "log_panel").cloned().collect()
}

fn kv(r: &log_panel::Record, key: &str) -> u64 {
    match r.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
        Some(Value::I64(n)) => u64::try_from(*n).unwrap(),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn drop_never_blocks_and_the_summary_matches_stats() {
    let shared = Shared::default();
    let panel = slow_panel(&shared, Overflow::Drop);
    let mut slowest = Duration::ZERO;
    for i in 0..400 {
        let t = Instant::now();
        log::info!(logger: panel, i = i; "burst");
        slowest = slowest.max(t.elapsed());
    }
    assert!(slowest < NEVER_WAITS, "a call waited {slowest:?}");
    let report = panel.shutdown();
    assert!(report.complete);
    let stats = panel.stats();
    assert!(stats.dropped.info > 0, "{stats:?}");
    assert_eq!(stats.dropped.total(), stats.dropped.info);
    let app_rows = shared.stored.lock().unwrap().iter().filter(|r| r.logger != "log_panel").count() as u64;
    assert_eq!(app_rows + stats.dropped.total(), 400, "every record is stored or counted as dropped");
    let sums = summaries(&shared);
    assert!(!sums.is_empty(), "a drop summary is stored");
    assert!(sums.iter().all(|r| r.level == Level::Warn));
    assert_eq!(sums.iter().map(|r| kv(r, "dropped")).sum::<u64>(), stats.dropped.total());
    assert_eq!(sums.iter().map(|r| kv(r, "dropped_info")).sum::<u64>(), stats.dropped.info);
    assert!(sums[0].message.starts_with("dropped "), "{}", sums[0].message);
    assert!(sums[0].message.contains("INFO"), "{}", sums[0].message);
    assert_eq!(report.dropped, stats.dropped.total());
}

#[test]
fn drop_below_warn_drops_only_lower_levels() {
    let shared = Shared::default();
    let panel = slow_panel(&shared, Overflow::DropBelow(Level::Warn));
    let mut slowest_info = Duration::ZERO;
    let (mut warns, mut errors) = (0u64, 0u64);
    for i in 0..300 {
        match i % 50 {
            0 => {
                log::error!(logger: panel, i = i; "error");
                errors += 1;
            }
            1 => {
                log::warn!(logger: panel, i = i; "warn");
                warns += 1;
            }
            _ => {
                let t = Instant::now();
                log::debug!(logger: panel, i = i; "debug");
                slowest_info = slowest_info.max(t.elapsed());
            }
        }
    }
    assert!(slowest_info < NEVER_WAITS, "a DEBUG call waited {slowest_info:?}");
    panel.shutdown();
    let stats = panel.stats();
    assert_eq!((stats.dropped.error, stats.dropped.warn), (0, 0), "{stats:?}");
    assert!(stats.dropped.debug > 0);
    let stored = shared.stored.lock().unwrap();
    let count = |level: Level, msg: &str| stored.iter().filter(|r| r.level == level && r.message == msg).count() as u64;
    assert_eq!(count(Level::Error, "error"), errors, "no ERROR dropped");
    assert_eq!(count(Level::Warn, "warn"), warns, "no WARN dropped");
    assert_eq!(count(Level::Debug, "debug") + stats.dropped.debug, 288);
    drop(stored);
    let sums = summaries(&shared);
    assert_eq!(sums.iter().map(|r| kv(r, "dropped_debug")).sum::<u64>(), stats.dropped.debug);
    assert_eq!(sums.iter().map(|r| kv(r, "dropped_warn") + kv(r, "dropped_error")).sum::<u64>(), 0);
}

#[test]
fn after_a_flush_the_stored_summaries_add_up_to_every_drop_before_it() {
    let shared = Shared::default();
    shared.script.lock().unwrap().delay = Duration::from_millis(20);
    let panel = log_panel::builder()
        .sink(shared.sink())
        .overflow(Overflow::Drop)
        .queue_capacity(16)
        .batch_size(8)
        .build()
        .unwrap();
    for round in 0..3 {
        for i in 0..300 {
            log::info!(logger: panel, i = i; "burst {round}");
        }
        panel.flush().unwrap();
        let dropped = panel.stats().dropped.total();
        assert!(dropped > 0);
        let summed: u64 = summaries(&shared).iter().map(|r| kv(r, "dropped")).sum();
        assert_eq!(summed, dropped, "round {round}: stored summaries after flush() vs stats().dropped");
    }
}
