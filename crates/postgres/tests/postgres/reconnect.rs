//! The server goes away and comes back: `write` reports `Unavailable` while it
//! is down, reconnects by itself, and no batch is stored twice, also when the
//! answer to a COMMIT is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use log_panel_core::{Batch, Origin, Record, Sink, SinkErrorKind, Timestamp};
use log_panel_postgres::PgSink;
use log_panel_testing::postgres::{fresh_sink, TestServer};
use log_panel_testing::records::{sequence, BASE};
use postgres::{Client, NoTls};

fn origin() -> Origin {
    Origin::new("reconnect", "h", 7)
}

fn batch_of(from: i64, n: i64) -> Vec<Record> {
    sequence("seq", from..from + n, Timestamp(BASE), 1_000)
}

/// (count, distinct seq, max seq)
fn stored(url: &str) -> (i64, i64, i64) {
    let row = Client::connect(url, NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*), count(DISTINCT (context->>'seq')::bigint), coalesce(max((context->>'seq')::bigint), -1) \
             FROM log_records",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn server_stopped_and_started_again() {
    let Some(server) = TestServer::start_stoppable("the reconnect test") else { return };
    let url = server.create_database();
    let mut sink = PgSink::connect(&url).unwrap();
    let first = batch_of(0, 1000);
    sink.write(&Batch::new(&origin(), &first)).unwrap();

    server.stop_server();
    let second = batch_of(1000, 1000);
    for _ in 0..3 {
        let err = sink.write(&Batch::new(&origin(), &second)).unwrap_err();
        assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
        assert!(!err.to_string().is_empty());
    }
    server.start_server();
    // The writer retries the same batch; the sink reconnects on its own.
    sink.write(&Batch::new(&origin(), &second)).unwrap();
    assert!(sink.reconnects() >= 1);
    let third = batch_of(2000, 1000);
    sink.write(&Batch::new(&origin(), &third)).unwrap();
    assert_eq!(stored(&url), (3000, 3000, 2999));
}

/// A TCP proxy in front of the server that, once armed, swallows the server's
/// answer to the next COMMIT and cuts the connection: the COMMIT happened, but
/// the client cannot know.
struct CommitEater {
    port: u16,
    armed: Arc<AtomicBool>,
    eaten: Arc<AtomicBool>,
}

impl CommitEater {
    fn start(upstream: u16) -> CommitEater {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let eaten = Arc::new(AtomicBool::new(false));
        let (armed2, eaten2) = (Arc::clone(&armed), Arc::clone(&eaten));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // client -> server: plain copy
                thread::spawn(move || pump(c2, s2, None));
                // server -> client: watch for the COMMIT's CommandComplete
                let (armed, eaten) = (Arc::clone(&armed2), Arc::clone(&eaten2));
                thread::spawn(move || pump(server, client, Some((armed, eaten))));
            }
        });
        CommitEater { port, armed, eaten }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, watch: Option<(Arc<AtomicBool>, Arc<AtomicBool>)>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((armed, eaten)) = &watch {
            // CommandComplete 'C' with tag "COMMIT\0".
            let hit = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
            if hit && armed.swap(false, Ordering::SeqCst) {
                eaten.store(true, Ordering::SeqCst);
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn a_lost_commit_answer_is_settled_without_writing_twice() {
    let Some(server) =
        TestServer::shared_own("the lost-COMMIT test proxies the server's port (LOG_PANEL_TEST_PG_URL is set)")
    else {
        return;
    };
    let direct = server.create_database();
    let dbname = direct.rsplit('/').next().unwrap().to_owned();
    let proxy = CommitEater::start(server.port());
    let url = format!("postgres://postgres@127.0.0.1:{}/{dbname}", proxy.port);
    let mut sink = PgSink::connect(&url).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(0, 500))).unwrap();

    // The COMMIT succeeds on the server, but its answer never arrives.
    let second = batch_of(500, 500);
    proxy.armed.store(true, Ordering::SeqCst);
    let err = sink.write(&Batch::new(&origin(), &second)).unwrap_err();
    assert!(proxy.eaten.load(Ordering::SeqCst), "the proxy did not see the COMMIT");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    assert_eq!(stored(&direct), (1000, 1000, 999), "the second batch did commit");

    // The writer retries the same batch: acknowledged, not stored again.
    sink.write(&Batch::new(&origin(), &second)).unwrap();
    assert_eq!(stored(&direct), (1000, 1000, 999), "no duplicate");
    sink.write(&Batch::new(&origin(), &batch_of(1000, 500))).unwrap();
    assert_eq!(stored(&direct), (1500, 1500, 1499));
}

#[test]
fn a_lost_connection_before_commit_rewrites_the_batch_once() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    sink.write(&Batch::new(&origin(), &batch_of(0, 100))).unwrap();
    // Kill the sink's backend between batches: the next write finds the
    // connection dead, reports Unavailable or reconnects, and stores once.
    let mut admin = Client::connect(&url, NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name = 'log-panel'",
            &[],
        )
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    let second = batch_of(100, 100);
    let mut attempts = 0;
    while let Err(e) = sink.write(&Batch::new(&origin(), &second)) {
        assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}");
        attempts += 1;
        assert!(attempts < 5, "no reconnect after {attempts} attempts: {e}");
    }
    assert_eq!(stored(&url), (200, 200, 199));
}
