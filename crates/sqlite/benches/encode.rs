//! Micro-benchmarks of the writer's per-record work and of a whole SQLite
//! batch. `cargo bench -p log-panel-sqlite --bench encode`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use log_panel_core::{Batch, Context, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_sqlite::SqliteSink;

fn record(i: u64) -> Record {
    let mut r = Record::new(Level::Info, "app::orders", format!("handled request {i} in {} us", 100 + i % 900));
    r.module_path = Some("app::orders".into());
    r.file = Some("src/orders.rs".into());
    r.line = Some(42);
    r.context = Context::from_pairs([
        ("request_id", Value::from("7f3a9c2e-51d0")),
        ("user_id", Value::from(4217)),
        ("tenant", Value::from("acme")),
        ("route", Value::from("/api/orders")),
        ("client_ip", Value::from("10.0.0.7")),
    ]);
    r.kv = vec![("method".into(), Value::from("GET")), ("status".into(), Value::from(200))];
    r
}

fn encode(c: &mut Criterion) {
    let r = record(1);
    let mut out = String::with_capacity(256);
    c.bench_function("write_fields_json (5 ctx + 2 kv)", |b| {
        b.iter(|| {
            out.clear();
            black_box(&r).write_fields_json(&mut out);
            black_box(out.len())
        })
    });
    let t = Timestamp(1_763_800_000_123_456);
    c.bench_function("Timestamp::to_rfc3339", |b| b.iter(|| black_box(black_box(t).to_rfc3339())));
    c.bench_function("Timestamp::write_rfc3339 (reused buffer)", |b| {
        b.iter(|| {
            out.clear();
            black_box(t).write_rfc3339(&mut out);
            black_box(out.len())
        })
    });
}

/// A whole batch into a fresh in-memory database: the CPU cost of encoding
/// and inserting, without the disk (which the end-to-end bench includes).
fn batch(c: &mut Criterion) {
    let origin = Origin::new("bench", "localhost", 1);
    let records: Vec<Record> = (0..1000).map(record).collect();
    let mut g = c.benchmark_group("sqlite");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.sample_size(20);
    g.bench_function("write batch of 1000 (5 ctx + 2 kv), in memory", |b| {
        b.iter_batched(
            || SqliteSink::open(":memory:").expect("sink"),
            |mut sink| {
                sink.write(&Batch::new(&origin, &records)).expect("write");
                sink // dropped outside the timing
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, encode, batch);
criterion_main!(benches);
