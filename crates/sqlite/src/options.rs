//! [`Options`]: how a sink keeps the database beyond storing batches.

use std::time::Duration;

/// How a [`SqliteSink`](crate::SqliteSink) keeps the database, beyond storing batches.
///
/// ```
/// use std::time::Duration;
/// use log_panel_sqlite::{Options, SqliteSink};
///
/// let dir = tempfile::tempdir()?;
/// let mut options = Options::default();
/// options.index_keys.push("user_id".into());
/// options.retention = Some(Duration::from_secs(90 * 86_400));
/// let sink = SqliteSink::open_with(dir.path().join("logs.db"), options)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Context keys registered on open. Every top-level context key is
    /// indexed (a side table filled while the writer is idle, never on the
    /// burst path; lookups scan only the records not indexed yet), so this
    /// no longer chooses what is indexed; a database written by version 4
    /// keeps using the rows it indexed for these keys. Each must match
    /// `[A-Za-z0-9_]{1,64}`.
    /// Default: `["request_id"]`.
    pub index_keys: Vec<String>,
    /// Delete records older than this, in small batches while the writer is
    /// idle. `None` (the default) keeps records forever.
    pub retention: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options { index_keys: vec!["request_id".to_owned()], retention: None }
    }
}
