//! Cost of the context operations, each with 0, 5 and 20 keys already bound:
//! `bind` one key, a scope enter/exit binding one key, the per-record capture
//! (`current()` clone + drop), and building a fresh context of that many keys.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use log_panel_core::{context, Context, Value};

const SIZES: [usize; 3] = [0, 5, 20];

/// A context with `n` keys of mixed value types, like a real request's.
fn base(n: usize) -> Context {
    Context::from_pairs((0..n).map(|i| {
        let v = match i % 3 {
            0 => Value::from(i as u64),
            1 => Value::from(format!("value-{i}")),
            _ => Value::from(i % 2 == 0),
        };
        (format!("key_{i}"), v)
    }))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("context");
    for n in SIZES {
        let _installed = base(n).enter();

        g.bench_with_input(BenchmarkId::new("capture", n), &n, |b, _| {
            // What the logger does for every record: one reference-count bump.
            b.iter(|| black_box(context::current()));
        });

        g.bench_with_input(BenchmarkId::new("scope_enter_exit", n), &n, |b, _| {
            b.iter(|| {
                let _g = log_panel_core::scope!(request_id = black_box(7u64), user = "ann");
            });
        });

        g.bench_with_input(BenchmarkId::new("scope_new_with_n_keys", n), &n, |b, &n| {
            let pairs: Vec<(String, Value)> = base(n).iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            b.iter(|| {
                let _g = context::scope_new(pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
            });
        });

        // Last, as it leaves `request_id` bound until `_installed` is dropped.
        g.bench_with_input(BenchmarkId::new("bind_one_key", n), &n, |b, _| {
            // Re-binding the same key keeps the map at n + 1 keys.
            b.iter(|| log_panel_core::bind!(request_id = black_box(7u64)));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
