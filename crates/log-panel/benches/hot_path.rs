//! Micro-benchmarks of the calling thread's hot path: context capture,
//! record capture + enqueue through a running panel, and the queue alone.
//! `cargo bench -p log-panel --bench hot_path`. The end-to-end figures are in
//! `crates/bench` (`docs/performance.md`); these exist so regressions show.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use log_panel::{Batch, Level, Record, Sink, SinkError};
use log_panel_core::{context, Context, Timestamp, Value};

/// Discards every batch: the writer keeps up, so the queue never fills and
/// what is measured is the caller's side.
struct Discard;

impl Sink for Discard {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        black_box(batch.records.len());
        Ok(())
    }
}

fn bound() -> Context {
    Context::from_pairs([
        ("request_id", Value::from("7f3a9c2e-51d0")),
        ("user_id", Value::from(4217)),
        ("tenant", Value::from("acme")),
        ("route", Value::from("/api/orders")),
        ("client_ip", Value::from("10.0.0.7")),
    ])
}

fn capture(c: &mut Criterion) {
    let panel = log_panel::builder().sink(Discard).build().expect("panel");
    let mut i = 0u64;
    c.bench_function("info!/a: 2 format args", |b| {
        b.iter(|| {
            i += 1;
            log::info!(logger: panel, "handled request {} in {} us", i, 100 + i % 900);
        })
    });
    let before = context::replace(bound());
    c.bench_function("info!/b: 5 bound ctx + 2 kv + 2 format args", |b| {
        b.iter(|| {
            i += 1;
            log::info!(logger: panel, method = "GET", status = 200; "handled request {} in {} us", i, 100 + i % 900);
        })
    });
    c.bench_function("context::current (5 keys)", |b| b.iter(|| black_box(context::current())));
    context::replace(before);
    c.bench_function("info!/filtered out (debug)", |b| {
        b.iter(|| log::debug!(logger: panel, "not stored {}", black_box(1)))
    });
    c.bench_function("Timestamp::now", |b| b.iter(|| black_box(Timestamp::now())));
}

fn enqueue(c: &mut Criterion) {
    // The queue alone: one record moved in and out of a bounded channel like the panel's.
    let (tx, rx) = crossbeam_channel::bounded::<Record>(8192);
    let template = Record::new(Level::Info, "bench", "handled request 1 in 250 us");
    c.bench_function("queue send+recv (one record)", |b| {
        b.iter_batched(
            || template.clone(),
            |r| {
                let _ = tx.send(r);
                black_box(rx.recv().ok())
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, capture, enqueue);
criterion_main!(benches);
