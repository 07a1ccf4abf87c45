//! The integration tests of the ClickHouse storage, one binary: they share
//! one throwaway two-shard cluster (`Cluster::shared`), each test in a
//! database of its own; a test that stops a shard starts a cluster of its own.

mod conformance;
mod context;
mod current;
mod faults;
mod prune;
mod sink;
mod sites;

use log_panel_clickhouse::ChSink;
use log_panel_core::{Batch, Sink};
use log_panel_query::conformance::{data_set, MemoryStore};
use log_panel_query::{CallSite, RecordFilter, Store};

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

/// Every call site `filter` keeps, in (logger, file, line) order.
#[allow(clippy::unwrap_used)]
fn sites(store: &dyn Store, filter: &RecordFilter) -> Vec<CallSite> {
    let mut sites = store.call_sites(filter, usize::MAX).unwrap();
    sites.sort_by(|a, b| (&a.logger, &a.file, a.line).cmp(&(&b.logger, &b.file, b.line)));
    sites
}

/// The database a test URL names.
#[allow(clippy::unwrap_used)]
fn database(url: &str) -> String {
    url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned()
}
