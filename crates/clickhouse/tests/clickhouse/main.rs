//! The integration tests of the ClickHouse storage, one binary: they share
//! one throwaway two-shard cluster (`Cluster::shared`), each test in a
//! database of its own; a test that stops a shard starts a cluster of its own.

mod conformance;
mod current;
mod faults;
mod prune;
mod sink;
