//! The integration tests of the SQLite storage, one binary: none installs
//! a global (each opens its own database in a temp dir), so they share one
//! link and run in parallel.

mod aggregates;
mod lag;
mod panels;
mod plans;
mod sink;
mod store;
