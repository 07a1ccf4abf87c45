//! The server frozen whole (SIGSTOP) in the middle of a batch: its kernel
//! keeps the connection open and nothing answers. The sink gives the batch
//! up within its write timeout, as failed before the COMMIT and in doubt
//! after it, reconnects once the server answers again, and every record is
//! stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log_panel_core::{Batch, Record, Sink, SinkError, SinkErrorKind};
use log_panel_postgres::PgSink;
use log_panel_testing::postgres::TestServer;

use crate::reconnect::{batch_of, origin, stored};

/// A TCP proxy in front of the server that, once armed, freezes when the
/// client sends `trigger`: from then on nothing goes either way on any
/// connection, new ones included (accepted, as a frozen server's kernel
/// accepts them, and left unanswered), until `thaw`; what was held then
/// goes on in order. The chunk carrying `trigger` is held too: the
/// server has not read it.
pub(crate) struct Freezer {
    pub(crate) port: u16,
    trigger: &'static [u8],
    armed: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    /// Each connection's own freeze ([`Freezer::black_hole_open_connections`]).
    each: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Freezer {
    pub(crate) fn start(upstream: u16, trigger: &'static [u8]) -> Freezer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let each = Arc::new(Mutex::new(Vec::new()));
        let (armed2, frozen2, each2) = (Arc::clone(&armed), Arc::clone(&frozen), Arc::clone(&each));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let own = Arc::new(AtomicBool::new(false));
                each2.lock().unwrap().push(Arc::clone(&own));
                let up = (Some((trigger, Arc::clone(&armed2))), Arc::clone(&frozen2), Arc::clone(&own));
                thread::spawn(move || pump(c2, s2, up));
                let down = (None, Arc::clone(&frozen2), own);
                thread::spawn(move || pump(server, client, down));
            }
        });
        Freezer { port, trigger, armed, frozen, each }
    }

    /// From now on nothing goes either way on the connections open now, for
    /// good (a network black hole that lost them: a NAT or firewall that
    /// forgot their state); new connections pass.
    pub(crate) fn black_hole_open_connections(&self) {
        for own in self.each.lock().unwrap().iter() {
            own.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// Freezes now, whatever is sent.
    pub(crate) fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

type Watch = (Option<(&'static [u8], Arc<AtomicBool>)>, Arc<AtomicBool>, Arc<AtomicBool>);

fn pump(mut from: TcpStream, mut to: TcpStream, (trigger, frozen, own): Watch) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((trigger, armed)) = &trigger {
            if buf[..n].windows(trigger.len()).any(|w| w == *trigger) && armed.swap(false, Ordering::SeqCst) {
                frozen.store(true, Ordering::SeqCst);
            }
        }
        while frozen.load(Ordering::SeqCst) || own.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A new database, a [`Freezer`] in front of the server and a sink through
/// it with a write timeout of 1 s that stored records 0..500.
fn through_freezer(trigger: &'static [u8]) -> Option<(String, Freezer, PgSink)> {
    let server = TestServer::shared_own("the freeze tests proxy the server's port (LOG_PANEL_TEST_PG_URL is set)")?;
    let direct = server.create_database();
    let dbname = direct.rsplit('/').next().unwrap().to_owned();
    let proxy = Freezer::start(server.port(), trigger);
    let url = format!("postgres://postgres@127.0.0.1:{}/{dbname}?write_timeout=1&connect_timeout=3", proxy.port);
    let mut sink = PgSink::connect(&url).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(0, 500))).unwrap();
    Some((direct, proxy, sink))
}

/// Writes `records` on a thread, freezing the proxy on its trigger: the
/// write's error and how long it took. A write that has not returned after
/// 20 s (twenty write timeouts) fails the test: it hangs on the frozen
/// server, as every write did before the bound.
fn write_into_the_freeze(proxy: &Freezer, sink: PgSink, records: Vec<Record>) -> (PgSink, SinkError, Duration) {
    proxy.armed.store(true, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sink = sink;
        let started = Instant::now();
        let written = sink.write(&Batch::new(&origin(), &records));
        let _ = tx.send((sink, written, started.elapsed()));
    });
    let Ok((sink, written, took)) = rx.recv_timeout(Duration::from_secs(20)) else {
        proxy.thaw();
        panic!("a write into a frozen server did not return within 20 s (write_timeout=1)");
    };
    assert!(proxy.frozen.load(Ordering::SeqCst), "the proxy did not see {:?}", String::from_utf8_lossy(proxy.trigger));
    let err = written.expect_err("a write into a frozen server succeeded");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("gave no answer for"), "{err}");
    // One second of silence, then given up: not the minutes of a TCP timeout.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    (sink, err, took)
}

/// While frozen a retry fails at once: the server went silent, so the new
/// connection attempt is only looked at (waiting for it a write timeout
/// each time would hold the writer, and callers on its full queue, as long
/// again); after the thaw the writer's retries store the batch.
fn retry_through_the_thaw(proxy: &Freezer, sink: &mut PgSink, records: &[Record]) {
    for _ in 0..3 {
        let started = Instant::now();
        let err = sink.write(&Batch::new(&origin(), records)).expect_err("written into a frozen server");
        assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
        assert!(started.elapsed() < Duration::from_millis(700), "{:?}: {err}", started.elapsed());
    }
    proxy.thaw();
    let started = Instant::now();
    while let Err(e) = sink.write(&Batch::new(&origin(), records)) {
        assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}");
        assert!(started.elapsed() < Duration::from_secs(30), "no write after the thaw: {e}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Frozen as the COPY's rows arrive: no COMMIT was sent, so the batch is
/// failed (not in doubt), and when the server wakes it sees the old
/// connection end without one.
#[test]
fn a_server_frozen_before_the_commit_costs_no_record_and_stores_none_twice() {
    let Some((direct, proxy, sink)) = through_freezer(b"PGCOPY\n") else { return };
    let second = batch_of(500, 500);
    let (mut sink, err, _) = write_into_the_freeze(&proxy, sink, second.clone());
    assert!(err.to_string().contains("writing the batch"), "{err}");
    retry_through_the_thaw(&proxy, &mut sink, &second);
    sink.write(&Batch::new(&origin(), &batch_of(1000, 500))).unwrap();
    assert_eq!(stored(&direct), (1500, 1500, 1499), "every record once");
}

/// Frozen with the COMMIT on its way (held by the proxy, read by the server
/// when it wakes): the batch is in doubt. The writer has meanwhile spooled
/// it: a live batch comes first, then the doubted records again in batches
/// of the spool's replay beside new ones; each record is stored once,
/// whether the held COMMIT or the retry stored it.
#[test]
fn a_server_frozen_with_the_commit_in_flight_leaves_the_batch_in_doubt_and_stores_it_once() {
    let Some((direct, proxy, sink)) = through_freezer(b"COMMIT") else { return };
    let second = batch_of(500, 500);
    let (mut sink, err, _) = write_into_the_freeze(&proxy, sink, second);
    assert!(err.to_string().contains("committing the batch"), "{err}");
    retry_through_the_thaw(&proxy, &mut sink, &batch_of(1000, 100));
    let mut replayed = batch_of(500, 300);
    replayed.extend(batch_of(1100, 50));
    sink.write(&Batch::new(&origin(), &replayed)).unwrap();
    sink.write(&Batch::new(&origin(), &batch_of(800, 200))).unwrap();
    assert_eq!(stored(&direct), (1150, 1150, 1149), "every record once");
}

/// The search index as the database holds it: rows in `log_search`, distinct
/// ids there, whether the mark is at the newest record (1) or not (0), rows
/// in `log_search_num` (one `seq` number a record) and records not indexed
/// below the mark.
fn indexed(url: &str) -> (i64, i64, i64, i64, i64) {
    let row = postgres::Client::connect(url, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT (SELECT count(*) FROM log_search), (SELECT count(DISTINCT id) FROM log_search),
                    (SELECT (last_id = (SELECT coalesce(max(id), 0) FROM log_records))::int::int8 FROM log_search_mark),
                    (SELECT count(*) FROM log_search_num WHERE key = 'seq'),
                    (SELECT count(*) FROM log_records r WHERE r.id <= (SELECT last_id FROM log_search_mark)
                       AND NOT EXISTS (SELECT 1 FROM log_search s WHERE s.id = r.id))",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

/// An idle step (indexing messages for search) frozen with its COMMIT in
/// flight is given up after the write timeout; it has no COMMIT gate, so
/// the held COMMIT lands when the server wakes, after the sink has
/// reconnected and started its next steps. Those re-read the mark under
/// its row lock (they wait for the late transaction, then start where it
/// ended): every record is indexed once, none lost, and the numbers once.
#[test]
fn an_idle_step_given_up_and_committed_late_indexes_every_record_once() {
    let Some((direct, proxy, mut sink)) = through_freezer(b"COMMIT") else { return };
    assert_eq!(indexed(&direct), (0, 0, 0, 0, 0), "nothing indexed before the first idle step");
    proxy.armed.store(true, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let step = sink.idle();
        let _ = tx.send((sink, step, started.elapsed()));
    });
    let Ok((mut sink, step, took)) = rx.recv_timeout(Duration::from_secs(20)) else {
        proxy.thaw();
        panic!("an idle step on a frozen server did not return within 20 s (write_timeout=1)");
    };
    assert!(proxy.frozen.load(Ordering::SeqCst), "the idle step sent no COMMIT");
    let err = step.expect_err("an idle step on a frozen server succeeded");
    assert_eq!(err.kind(), SinkErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("gave no answer for"), "{err}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    // The late step's transaction is still open on the server, its COMMIT held.
    assert_eq!(indexed(&direct).0, 0, "the held step committed before the thaw");
    // New records while frozen: the writer keeps them and writes them after.
    retry_through_the_thaw(&proxy, &mut sink, &batch_of(500, 200));
    // The given-up step's COMMIT, held until the thaw, lands: its 250 rows.
    let started = Instant::now();
    while indexed(&direct).0 == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the late step never committed");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(indexed(&direct).0, 250, "the late step's rows, one step's worth");
    let started = Instant::now();
    loop {
        match sink.idle() {
            Ok(false) if indexed(&direct).2 == 1 => break,
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), SinkErrorKind::Unavailable, "{e}"),
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the index did not catch up: {:?}", indexed(&direct));
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stored(&direct), (700, 700, 699), "every record once");
    assert_eq!(indexed(&direct), (700, 700, 1, 700, 0), "every record indexed once, the mark at the newest");
}
