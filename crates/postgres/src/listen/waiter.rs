//! [`PgCommitWaiter`]: `LISTEN` on a connection of its own, for live tails.

use std::time::{Duration, Instant};

use log_panel_query::{CommitWaiter, Wake};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::COMMIT_CHANNEL;
use crate::Options;

/// Longest a wait sleeps after failing to (re)connect before it returns;
/// the next wait tries again.
const RETRY: Duration = Duration::from_secs(1);

/// A [`CommitWaiter`] over `LISTEN log_panel_commit` on a connection of its own.
pub struct PgCommitWaiter {
    config: Options,
    client: Option<Client>,
    connects: u64,
}

impl std::fmt::Debug for PgCommitWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCommitWaiter")
            .field("url", &self.config.redacted())
            .field("listening", &self.client.is_some())
            .field("connects", &self.connects)
            .finish()
    }
}

impl PgCommitWaiter {
    /// A waiter for the database of `config`; it connects on its first wait.
    pub fn new(config: Options) -> PgCommitWaiter {
        PgCommitWaiter { config, client: None, connects: 0 }
    }

    /// How many listener connections it opened (1 while the first one lives).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The backend pid of the listener connection, when there is one (tests end it).
    pub fn backend_pid(&mut self) -> Option<i32> {
        let client = self.client.as_mut()?;
        client.query_one("SELECT pg_backend_pid()", &[]).ok()?.try_get(0).ok()
    }

    fn listen(&mut self) -> bool {
        let mut client = match self.config.connect() {
            Ok(c) => c,
            Err(_) => return false,
        };
        if client.batch_execute(&format!("LISTEN {COMMIT_CHANNEL}")).is_err() {
            return false;
        }
        self.connects += 1;
        self.client = Some(client);
        true
    }
}

impl CommitWaiter for PgCommitWaiter {
    fn wait(&mut self, timeout: Duration) -> Wake {
        let start = Instant::now();
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            if self.listen() {
                // Commits while nobody listened are not announced: read now.
                return Wake::TimedOut;
            }
            std::thread::sleep(timeout.min(RETRY));
            return Wake::TimedOut;
        }
        let Some(client) = self.client.as_mut() else { return Wake::TimedOut };
        let mut notifications = client.notifications();
        let committed = matches!(notifications.timeout_iter(timeout).next(), Ok(Some(_)));
        if committed {
            // Several batches may have committed: one read sees them all.
            let mut pending = notifications.iter();
            while let Ok(Some(_)) = pending.next() {}
        }
        drop(notifications);
        let woke = if committed { Wake::Committed } else { Wake::TimedOut };
        if client.is_closed() {
            // Dropped (server restart, terminated backend): listen again on
            // the next wait, without a sleep, unless this one ended at once.
            self.client = None;
            if start.elapsed() < timeout && self.listen() {
                return Wake::TimedOut;
            }
        }
        woke
    }

    fn pushed(&self) -> bool {
        true
    }
}
