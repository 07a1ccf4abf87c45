//! Commits pushed to live tails: the sink sends a notification on
//! [`COMMIT_CHANNEL`] in each batch's transaction (PostgreSQL delivers it
//! when, and only if, the batch commits; its payload is the newest id),
//! and `PgCommitWaiter` (feature `read`) listens on one connection of its own.
//!
//! When it cannot listen (server down, connection dropped) the waiter
//! sleeps like a poller and tries to listen again on its next wait, and
//! after (re)connecting it returns at once so the tail reads whatever
//! committed while nobody listened. Its one error is a listener connection
//! whose server stopped answering (frozen, or behind a network black hole),
//! found within seconds by asking the server when it has been quiet.

#[cfg(feature = "read")]
mod waiter;
#[cfg(feature = "read")]
pub use waiter::PgCommitWaiter;

/// The channel the sink notifies after each committed batch.
pub const COMMIT_CHANNEL: &str = "log_panel_commit";

/// What the waiter listens with, and checks a quiet server with too:
/// `LISTEN` on a channel the session listens on already changes nothing and
/// is answered at once, and `pg_stat_activity` keeps showing it as the
/// session's statement (how an administrator, and the panel's tests, tell
/// the listener).
#[cfg(feature = "read")]
pub(crate) const LISTEN_SQL: &str = "LISTEN log_panel_commit";

/// The statement the sink runs in each batch's transaction, just before
/// `COMMIT`. The payload is the newest id the transaction sees (its own last
/// row, unless a newer one committed meanwhile), for a listener that wants
/// it; listeners here only wake. `max(id)` rather than `currval`: it needs
/// only the `SELECT` a sink role has, not a grant on the sequence.
pub(crate) const NOTIFY_SQL: &str = "SELECT pg_notify('log_panel_commit', (SELECT max(id) FROM log_records)::text)";

#[cfg(test)]
mod tests {
    #[test]
    fn the_statements_name_the_channel() {
        assert!(super::NOTIFY_SQL.contains(&format!("'{}'", super::COMMIT_CHANNEL)));
        #[cfg(feature = "read")]
        assert_eq!(super::LISTEN_SQL, format!("LISTEN {}", super::COMMIT_CHANNEL));
    }
}
