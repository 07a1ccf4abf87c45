//! Commits pushed to live tails: the sink notifies `log_panel_commit` in each
//! batch's transaction, the store's waiter wakes on it long before its
//! timeout, a dropped listener connection is opened again, and a batch that
//! does not commit wakes nobody. Bounded waits, no timing measurements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_postgres::listen::{PgCommitWaiter, COMMIT_CHANNEL};
use log_panel_postgres::{Options, PgStore};
use log_panel_query::Store;
use log_panel_query::{CommitWaiter, Wake};
use log_panel_testing::postgres::{client, fresh_sink};

/// Far longer than any bounded wait below: a wake before it is a push.
const LONG: Duration = Duration::from_secs(30);
/// How long a test waits for a pushed wake at most.
const BOUND: Duration = Duration::from_secs(10);

fn write(sink: &mut impl Sink, message: &str) {
    let origin = Origin::new("listen", "h", 1);
    sink.write(&Batch::new(&origin, &[Record::new(Level::Info, "push", message.to_owned())])).unwrap();
}

/// Waits `LONG` on another thread; the answer comes back on the channel.
fn wait_in_thread(mut w: Box<dyn CommitWaiter>) -> mpsc::Receiver<(Wake, Box<dyn CommitWaiter>)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let wake = w.wait(LONG).expect("the server answers");
        let _ = tx.send((wake, w));
    });
    rx
}

#[test]
fn a_committed_batch_wakes_the_store_waiter_long_before_its_timeout() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let store = PgStore::connect(&url).unwrap();
    let mut w = store.commit_waiter();
    assert!(w.pushed());
    // The first wait connects and returns at once: what committed before is read now.
    assert_eq!(w.wait(LONG).unwrap(), Wake::TimedOut);
    let rx = wait_in_thread(w);
    write(&mut sink, "pushed");
    let (wake, mut w) = rx.recv_timeout(BOUND).expect("the waiter woke on the commit");
    assert_eq!(wake, Wake::Committed);
    // Nothing else committed: a short wait times out.
    assert_eq!(w.wait(Duration::from_millis(200)).unwrap(), Wake::TimedOut);
    // Commits while nobody waited are reported at once. The server delivers
    // each commit's notification on its own, so the second may reach the
    // socket after the first wake drained what had arrived: at most one more
    // wake follows (a harmless extra read), never one per wait after that.
    write(&mut sink, "one");
    write(&mut sink, "two");
    let rx = wait_in_thread(w);
    let (wake, mut w) = rx.recv_timeout(BOUND).expect("pending commits reported");
    assert_eq!(wake, Wake::Committed);
    let mut extra = 0;
    while w.wait(Duration::from_millis(500)).unwrap() == Wake::Committed {
        extra += 1;
        assert!(extra <= 1, "two commits woke the waiter {} times", extra + 1);
    }
}

#[test]
fn the_notification_carries_the_batch_last_id_and_only_commits_send_one() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let mut listener = client(&url);
    listener.batch_execute(&format!("LISTEN {COMMIT_CHANNEL}")).unwrap();
    write(&mut sink, "a");
    let origin = Origin::new("listen", "h", 1);
    let records: Vec<Record> = (0..3).map(|i| Record::new(Level::Info, "push", format!("b{i}"))).collect();
    sink.write(&Batch::new(&origin, &records)).unwrap();
    // A transaction that copies rows and rolls back notifies nobody.
    let mut other = client(&url);
    other
        .batch_execute(
            "BEGIN; INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app) \
             VALUES (now(), 20, 'x', 'rolled back', 't', 1, 'h', 'a'); ROLLBACK",
        )
        .unwrap();
    let ids: Vec<i64> =
        listener.query("SELECT id FROM log_records ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    let mut payloads = Vec::new();
    let mut notes = listener.notifications();
    let mut it = notes.timeout_iter(Duration::from_secs(2));
    while let Ok(Some(n)) = postgres::fallible_iterator::FallibleIterator::next(&mut it) {
        assert_eq!(n.channel(), COMMIT_CHANNEL);
        payloads.push(n.payload().to_owned());
    }
    // One per committed batch: the first batch's id, then the second's last.
    assert_eq!(payloads, [ids[0].to_string(), ids[3].to_string()], "{ids:?}");
}

#[test]
fn a_dropped_listener_connection_is_opened_again() {
    let Some((url, mut sink)) = fresh_sink() else { return };
    let mut w = PgCommitWaiter::new(Options::parse(&url).unwrap());
    assert_eq!(w.wait(LONG).unwrap(), Wake::TimedOut);
    assert_eq!(w.connects(), 1);
    let pid = w.backend_pid().expect("listening");
    let mut admin = client(&url);
    let ended: bool = admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(ended);
    // The wait sees the connection end, listens again and returns for a read.
    let rx = wait_in_thread(Box::new(w));
    let (wake, _) = rx.recv_timeout(BOUND).expect("the wait noticed the dropped connection");
    assert_eq!(wake, Wake::TimedOut);
    // And pushes work on the new connection.
    let mut w = PgCommitWaiter::new(Options::parse(&url).unwrap());
    assert_eq!(w.wait(LONG).unwrap(), Wake::TimedOut);
    let pid = w.backend_pid().expect("listening");
    admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
    for _ in 0..50 {
        if w.wait(Duration::from_millis(100)).unwrap() == Wake::TimedOut && w.connects() == 2 {
            break;
        }
    }
    assert_eq!(w.connects(), 2);
    assert_ne!(w.backend_pid(), Some(pid));
    let rx = wait_in_thread(Box::new(w));
    write(&mut sink, "after the drop");
    let (wake, _) = rx.recv_timeout(BOUND).expect("woken on the new connection");
    assert_eq!(wake, Wake::Committed);
}
