//! The integration tests of the ClickHouse storage, one binary: they share
//! one throwaway two-shard cluster (`Cluster::shared`), each test in a
//! database of its own; a test that stops a shard starts a cluster of its own.

mod conformance;
mod context;
mod current;
mod faults;
mod prune;
mod sink;

use log_panel_clickhouse::ChSink;
use log_panel_core::{Batch, Sink};
use log_panel_query::conformance::{data_set, MemoryStore};

/// Writes the conformance data set to `url` and to a reference store, and
/// returns the reference.
#[allow(clippy::unwrap_used)]
fn filled(url: &str) -> MemoryStore {
    let mut sink = ChSink::connect(url).unwrap();
    let reference = MemoryStore::default();
    let mut reference_sink = reference.clone();
    for (origin, records) in data_set() {
        let batch = Batch::new(&origin, &records);
        sink.write(&batch).unwrap();
        reference_sink.write(&batch).unwrap();
    }
    reference
}
