//! A sink that logs from inside its own write (as database drivers do)
//! neither loops nor deadlocks: those records never re-enter the queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use log_panel::{Batch, Sink, SinkError};

struct Chatty {
    stored: Arc<AtomicUsize>,
}

impl Sink for Chatty {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        // Everything a driver might do through `log` while we hold the writer.
        log::warn!("driver: writing {} records", batch.records.len());
        log::logger().flush();
        assert!(matches!(log_panel::flush(), Err(log_panel::Error::OnWriterThread)));
        log_panel::shutdown(); // ignored on the writer thread
        self.stored.fetch_add(batch.records.len(), Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn sink_that_logs_neither_loops_nor_deadlocks() {
    let stored = Arc::new(AtomicUsize::new(0));
    let guard = log_panel::builder().sink(Chatty { stored: Arc::clone(&stored) }).batch_size(10).init().unwrap();
    for i in 0..100 {
        log::info!("app record {}", i);
    }
    log_panel::flush().unwrap();
    assert_eq!(stored.load(Ordering::SeqCst), 100, "only the app's records are stored");
    let stats = log_panel::stats();
    assert_eq!(stats.written, 100);
    assert!(stats.writer_thread_records >= 10, "driver records were diverted: {stats:?}");
    drop(guard);
    assert_eq!(stored.load(Ordering::SeqCst), 100);
}
