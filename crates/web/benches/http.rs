//! Page latencies of the panel through real HTTP over a SQLite file:
//! `cargo bench -p log-panel-web --bench http -- [--records N] [--requests N] [--db FILE]`.
//!
//! Fills a fresh database through `SqliteSink` (30 days of records, 20
//! loggers, 3 apps, a request id per 3 records), lets the search index
//! catch up, serves the panel on a loopback port, and times each page with a
//! plain HTTP/1.1 client (one connection per request, the body read in full).
//! `--db FILE` serves an existing database instead of filling one (for
//! example the bench binary's `--read-db`, 10 M records); the filtered page
//! and the request view then take a logger and a request id from its rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp, Value};
use log_panel_query::Store;
use log_panel_query::{Cursor, PageAt, RecordFilter};
use log_panel_web::{ServeOptions, Server};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn fill(path: &std::path::Path, n: usize) {
    let mut sink = log_panel_sqlite::SqliteSink::open(path).unwrap();
    let origins: Vec<Origin> = (0..3).map(|i| Origin::new(format!("app{i}"), format!("host{i}"), 100 + i)).collect();
    let now = Timestamp::now().0;
    let span = 30 * 24 * 3_600_000_000_i64;
    let step = span / n as i64;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let level = match i % 100 {
            0 => Level::Error,
            1..=4 => Level::Warn,
            5..=40 => Level::Debug,
            _ => Level::Info,
        };
        let logger = format!("svc{}::{}", i % 20, ["api", "db", "jobs"][i % 3]);
        let mut r =
            Record::new(level, logger, format!("handled request {} for user {} in {} ms", i / 3, i % 977, i % 250));
        r.timestamp = Timestamp(now - span + step * i as i64);
        r.file = Some("src/handler.rs".into());
        r.line = Some(10 + (i % 7) as u32);
        r.kv = vec![("request_id".into(), Value::from(format!("r-{}", i / 3))), ("user".into(), Value::from(i % 977))];
        batch.push(r);
        if batch.len() == 10_000 || i + 1 == n {
            let origin = &origins[(i / 10_000) % 3];
            sink.write(&Batch::new(origin, &batch)).unwrap();
            batch.clear();
        }
    }
    while sink.idle().unwrap() {}
}

fn get(addr: SocketAddr, path: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let requests = arg("--requests", 200);
    let dir = tempfile::tempdir().unwrap();
    let path = match text_arg("--db") {
        Some(existing) => std::path::PathBuf::from(existing),
        None => {
            let path = dir.path().join("bench.db");
            let records = arg("--records", 1_000_000);
            let t = Instant::now();
            fill(&path, records);
            eprintln!("filled {records} records in {:.1} s", t.elapsed().as_secs_f64());
            path
        }
    };

    let store = Arc::new(log_panel_sqlite::SqliteStore::open(&path).unwrap());
    let newest = store.records(&RecordFilter::default(), PageAt::Newest, 1).unwrap().records[0].id;
    // A record half-way down the newest-first order: the deep page's cursor
    // ("page N/100" by keyset) and the request of the request view.
    let middle = store.record(newest / 2).unwrap().unwrap();
    let deep = Cursor::of(&middle);
    let request = middle.context["request_id"].as_str().unwrap().to_owned();
    // A logger tree: the first logger with children's prefix (`svc0::`).
    let tree = store.loggers().unwrap().iter().find_map(|l| l.split_once("::").map(|(p, _)| p.to_owned())).unwrap();
    eprintln!("serving {} (newest id {newest}), logger tree {tree}::, request {request}", path.display());
    // "Sharing this value" for an unindexed key shared by ~1 000 records:
    // the page (100 newest) against `Store::related` (the 1 000 oldest), and
    // the cursor of a page half-way down.
    let mut shared = RecordFilter::default();
    shared.fields.push("user=7".parse().unwrap());
    let t = Instant::now();
    let mut at = PageAt::Newest;
    for _ in 0..5 {
        match store.records(&shared, at, 100).unwrap().older {
            Some(c) => at = PageAt::Older(c),
            None => break,
        }
    }
    let PageAt::Older(shared_deep) = at else { panic!("user=7 fills five pages") };
    eprintln!("five pages of user=7 in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let old = store.related("user", &log_panel_query::FieldValue::Text("7".into()), 1000).unwrap();
    eprintln!("Store::related(user=7, 1000): {} records in {:.0} ms", old.len(), t.elapsed().as_secs_f64() * 1e3);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = rt.block_on(async {
        let server = Server::bind(store.clone(), ServeOptions::default().bind("127.0.0.1:0")).await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run());
        addr
    });
    let pages = [
        ("home (24 h cards)", "/".to_owned()),
        ("home (90 d cards)", "/?range=90d".to_owned()),
        ("home (90 d cards, by name)", "/?range=90d&sort=name".to_owned()),
        ("records page 1 + histogram", "/records".to_owned()),
        ("records deep page (keyset)", format!("/records?older={deep}")),
        ("logger + level filter + histogram", format!("/records?logger={tree}%3A%3A&level=warn")),
        ("one record", format!("/records/{newest}")),
        ("request view", format!("/related?key=request_id&value={request}")),
        ("request view, newest first", format!("/related?key=request_id&value={request}&order=newest")),
        ("value view, unindexed key (1 record in 977)", "/related?key=user&value=7".to_owned()),
        ("value view, unindexed key, deep page", format!("/related?key=user&value=7&older={shared_deep}")),
        ("records + field keys (newest 10 000)", "/records?fields=on".to_owned()),
        ("records + top values of `user` (newest 100 000)", "/records?field=user".to_owned()),
        ("records + top values, logger + level filter", format!("/records?logger={tree}%3A%3A&level=warn&field=user")),
        ("surrounding records, same thread", format!("/records/{}/around", middle.id)),
        ("surrounding records, all, 200 each side", format!("/records/{}/around?scope=all&n=200", middle.id)),
        ("alerts, 24 h", "/alerts".to_owned()),
        ("alerts, 7 d", "/alerts?range=7d".to_owned()),
    ];
    println!("| page | p50 | p95 | bytes |");
    println!("|---|---|---|---|");
    for (name, uri) in &pages {
        let (status, bytes) = get(addr, uri);
        assert_eq!(status, 200, "{uri}");
        let mut times: Vec<Duration> = (0..requests)
            .map(|_| {
                let t = Instant::now();
                let (status, _) = get(addr, uri);
                assert_eq!(status, 200);
                t.elapsed()
            })
            .collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {bytes} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
    }
}
