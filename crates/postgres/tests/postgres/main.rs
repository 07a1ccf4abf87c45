//! The integration tests of the PostgreSQL storage, one binary: none
//! installs a global, and they share one throwaway server
//! (`TestServer::shared`), each test in a database of its own; the tests
//! that stop a server or need TLS start one of their own.

mod aggregates;
mod conformance;
mod frozen;
mod frozen_read;
mod frozen_tail;
mod listen;
mod panels;
mod partitions;
mod plans;
mod reconnect;
mod search_mark;
mod sink;
mod standby;
mod store;
#[cfg(feature = "tls")]
mod tls;
