//! Micro-benchmark of the binary COPY encoding of one record, without a
//! server. `cargo bench -p log-panel-postgres --bench encode`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use log_panel_core::Origin;
use log_panel_postgres::copy::Encoder;

fn encode(c: &mut Criterion) {
    let origin = Origin::new("bench", "localhost", 1);
    let r = common::records(1).remove(0);
    let mut e = Encoder::new();
    c.bench_function("copy::Encoder::record (2 ctx + 2 kv)", |b| {
        b.iter(|| {
            e.clear();
            black_box(e.record(&origin, black_box(&r)));
            black_box(e.len())
        })
    });
}

criterion_group!(benches, encode);
criterion_main!(benches);
