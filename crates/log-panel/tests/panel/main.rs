//! The integration tests that leave the process's globals alone: each builds
//! its own `Pipeline` (never `log_panel::init`, `log::set_logger`, a panic hook
//! or an environment variable), so they can share one test binary and its
//! link. A test that installs a global has a file (and a process) of its own
//! beside this folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod aggregates;
mod alerts;
mod deleted_file;
mod faults;
mod fields;
mod filters;
mod large_input;
mod overflow;
#[cfg(all(feature = "read", feature = "postgres"))]
mod read_api;
mod request_context;
mod retention;
mod threads;
mod triggers;
mod webhooks;
