//! Writer throughput into ClickHouse (two shards): log-panel (logger,
//! queue, writer, `ChSink`) against the raw RowBinary HTTP insert of the
//! same rows, on a throwaway two-shard 18.16 cluster started by
//! `log_panel_testing::clickhouse`.

use std::fmt::Write as _;
use std::time::Instant;

use log_panel_clickhouse::rowbinary::{Encoder, Insert};
use log_panel_clickhouse::schema::{INSERT_COLUMNS, RECORDS_LOCAL};
use log_panel_core::{Level, Origin, Record, Timestamp, Value};
use log_panel_testing::clickhouse::Cluster;

use crate::common::{args, bound_context};
use crate::throughput::Row;

/// Rows per insert, for both paths (log-panel's batch size is set to it).
pub const BATCH: usize = 10_000;

fn db_of(url: &str) -> &str {
    let tail = url.rsplit('/').next().unwrap_or_default();
    tail.split('?').next().unwrap_or_default()
}

/// Rows stored in `url`'s database, over both shards.
pub fn count(cluster: &Cluster, url: &str) -> u64 {
    let db = db_of(url);
    (0..cluster.len())
        .map(|i| {
            cluster
                .try_query(i, &format!("SELECT count() FROM {db}.{RECORDS_LOCAL}"))
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// A cluster, or why there is none (the phase is then skipped).
pub fn cluster() -> Result<Cluster, String> {
    Cluster::start().ok_or_else(|| {
        "skipped: no clickhouse-server binary found; install it (apt-get install clickhouse-server)".into()
    })
}

/// The limit: each batch of [`BATCH`] rows, built as an application would
/// (time now, message formatted, the same context and key-values), encoded
/// with the crate's RowBinary encoder and sent as one HTTP insert, the
/// shards taken in turn; no retry, no shard choice, no lookup.
fn raw(cluster: &Cluster, records: u64) -> Row {
    let url = cluster.create_database();
    drop(log_panel_clickhouse::ChSink::connect(&url).expect("create the tables"));
    let db = db_of(&url).to_owned();
    let agent = ureq::Agent::new_with_defaults();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned();
    let origin = Origin::new("bench", host, std::process::id());
    let ctx = bound_context();
    let thread: std::sync::Arc<str> = "bench-0".into();
    let sql = format!("INSERT INTO {RECORDS_LOCAL} ({INSERT_COLUMNS}) FORMAT RowBinary");
    let mut encoder = Encoder::new();
    let start = Instant::now();
    let (mut i, mut batch) = (0u64, 0u64);
    while i < records {
        let end = (i + BATCH as u64).min(records);
        encoder.clear();
        while i < end {
            let (a, b) = args(i);
            let mut message = String::with_capacity(64);
            let _ = write!(message, "handled request {a} in {b} us");
            let mut r = Record::new(Level::Info, module_path!(), message);
            r.timestamp = Timestamp::now();
            r.module_path = Some(module_path!().into());
            r.file = Some(file!().into());
            r.line = Some(line!());
            r.thread = thread.clone();
            r.context = ctx.clone();
            r.kv = vec![("method".into(), Value::from("GET")), ("status".into(), Value::from(200))];
            let id = i64::try_from(i).unwrap_or(i64::MAX);
            encoder.record(id, &origin, &r, Insert { writer: 1, batch });
            i += 1;
        }
        let shard = usize::try_from(batch).unwrap_or(0) % cluster.len();
        let response = agent
            .post(&format!("http://127.0.0.1:{}/", cluster.http_port(shard)))
            .query("database", &db)
            .query("query", &sql)
            .send(encoder.bytes())
            .expect("insert");
        assert!(response.status().is_success(), "insert refused: {}", response.status());
        batch += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    crate::throughput::row("raw RowBinary insert (limit)".into(), 1, records, secs, count(cluster, &url))
}

/// log-panel into the two shards, batches of [`BATCH`], shape-(b) records from `threads` threads.
fn log_panel(cluster: &Cluster, records: u64, threads: usize) -> Row {
    let url = cluster.create_database();
    let panel = log_panel::builder()
        .database(&url)
        .app("bench")
        .batch_size(BATCH)
        .build()
        .expect("start log-panel (clickhouse)");
    let secs = crate::throughput::log_burst(&panel, records, threads);
    drop(panel);
    crate::throughput::row("log-panel -> ClickHouse".into(), threads, records, secs, count(cluster, &url))
}

/// Like [`crate::throughput::run`], for ClickHouse.
pub fn run(cluster: &Cluster, records: u64, rounds: usize) -> (Vec<Row>, Vec<String>) {
    crate::throughput::best_of(rounds, |_round| {
        [raw(cluster, records), log_panel(cluster, records, 1), log_panel(cluster, records, 4)]
    })
}

/// `--ch-freeze ROUNDS`: how long a write and a read take to fail with one
/// shard of a fresh two-shard cluster frozen (SIGSTOP), under the URL's
/// defaults (`silence_ms` 2 000, `timeout_ms` 30 000) and with the silence
/// bound out of reach (`silence_ms=60000`: the whole-request 30 s alone, as
/// before it existed), the two alternating, each round on a cluster of its
/// own. One line per measurement on stdout.
pub fn freeze(rounds: usize) {
    use log_panel_clickhouse::{ChSink, ChStore};
    use log_panel_core::{Batch, Sink};
    use log_panel_query::{PageAt, RecordFilter, Store};

    let origin = Origin::new("bench", "freeze", 1);
    for round in 0..rounds {
        let sides: [(&str, &str); 2] = [("silence_ms=2000 (default)", ""), ("silence_ms=60000", "&silence_ms=60000")];
        let order: Vec<_> = if round % 2 == 0 { sides.to_vec() } else { sides.iter().rev().copied().collect() };
        for (side, extra) in order {
            let cluster = match cluster() {
                Ok(c) => c,
                Err(e) => return println!("{e}"),
            };
            let url = cluster.create_database();
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}{}", extra.trim_start_matches('&'));
            let url = url.trim_end_matches(['?', '&']).to_owned();
            let mut sink = ChSink::connect(&url).expect("a sink");
            let store = ChStore::connect(&url).expect("a store");
            cluster.pause_shard(1);
            let mut n = 0u64;
            let (write, err) = loop {
                let records: Vec<Record> = (0..1_000)
                    .map(|_| {
                        n += 1;
                        Record::new(Level::Info, "bench::freeze", format!("record {n}"))
                    })
                    .collect();
                let started = Instant::now();
                if let Err(e) = sink.write(&Batch::new(&origin, &records)) {
                    break (started.elapsed(), e.to_string());
                }
            };
            println!(
                "round {round}, {side}: a batch into the frozen shard failed after {:.2} s: {err}",
                write.as_secs_f64()
            );
            let started = Instant::now();
            let read = store.records(&RecordFilter::default(), PageAt::Newest, 10).err().map(|e| e.to_string());
            println!(
                "round {round}, {side}: a read failed after {:.2} s: {}",
                started.elapsed().as_secs_f64(),
                read.unwrap_or_else(|| "it answered".into())
            );
            cluster.resume_shard(1);
        }
    }
}
