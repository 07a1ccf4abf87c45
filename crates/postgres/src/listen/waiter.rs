//! [`PgCommitWaiter`]: `LISTEN` on a connection of its own, for live tails.
//!
//! The connection lives on a thread of its own ([`Link`]), as a reader's
//! does: a server frozen whole (SIGSTOP, a stuck host) or gone behind a
//! network black hole keeps the socket open and silent, so a listener that
//! only waits for notifications would wait on it for as long as that lasts,
//! and one whose server dropped it unseen would never be woken again. So
//! when the server said nothing for [`CHECK_EVERY`] the wait asks it
//! something (`LISTEN` again) and gives the connection up when the answer
//! does not come within [`ANSWER_WITHIN`]: the wait then returns an error
//! (the tail says the store is unavailable) and a later wait listens again.
//!
//! Threads stay bounded however long the server is frozen: one thread
//! listens; a connection attempt runs on a thread of its own, and a waiter
//! never starts a second one while its first still waits for the server
//! (later waits look at the same attempt); a given-up connection's thread
//! ends when the server answers it or the connection fails, and a new one is
//! only given up after its server answered it first.

use std::time::{Duration, Instant};

use log_panel_query::{CommitWaiter, StoreError, StoreErrorKind, Wake};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::LISTEN_SQL;
use crate::link::{Alive, Link, Opened, Stall};
use crate::options::error_chain;
use crate::Options;

/// Longest a wait sleeps after failing to (re)connect before it returns;
/// the next wait tries again.
const RETRY: Duration = Duration::from_secs(1);

/// How long the listener connection may go without a word from the server
/// (a notification, an answer) before a wait asks it for one.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How long the server has to answer that check: an idle backend answers
/// it at once, so past this it is taken for frozen or gone.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The longest silence of the connection's thread the wait accepts: the
/// thread waits for notifications at most [`CHECK_EVERY`] between two signs
/// of life (no longer than [`ANSWER_WITHIN`]), and the server answers a
/// check within [`ANSWER_WITHIN`]; a little more for a loaded machine's timers.
const SILENCE_BOUND: Duration = ANSWER_WITHIN.saturating_add(Duration::from_millis(500));
const _: () = assert!(CHECK_EVERY.as_millis() <= ANSWER_WITHIN.as_millis());

/// What one wait on the listener connection heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// A commit notification (others pending were taken too).
    Committed,
    /// Nothing before the timeout; the server answered any check asked.
    Quiet,
    /// The connection ended (server restart, terminated backend).
    Closed,
}

/// Where the waiter's connection stands.
enum State {
    /// None, and no attempt under way: the next wait starts one.
    Idle,
    /// An attempt under way on its thread; waits look at it until it answers.
    Opening(Link<Client>, Opened<i32, String>),
    /// Listening, on the backend of this pid.
    Listening(Link<Client>, i32),
}

/// A [`CommitWaiter`] over `LISTEN log_panel_commit` on a connection of its own.
pub struct PgCommitWaiter {
    config: Options,
    state: State,
    connects: u64,
    /// When the server last said something on the listener connection.
    heard_at: Instant,
}

impl std::fmt::Debug for PgCommitWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCommitWaiter")
            .field("url", &self.config.redacted())
            .field("listening", &matches!(self.state, State::Listening(..)))
            .field("connects", &self.connects)
            .finish()
    }
}

impl PgCommitWaiter {
    /// A waiter for the database of `config`; it connects on its first wait.
    pub fn new(config: Options) -> PgCommitWaiter {
        PgCommitWaiter { config, state: State::Idle, connects: 0, heard_at: Instant::now() }
    }

    /// How many listener connections it opened (1 while the first one lives).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The backend pid of the listener connection, when there is one (tests end it).
    pub fn backend_pid(&self) -> Option<i32> {
        match self.state {
            State::Listening(_, pid) => Some(pid),
            State::Idle | State::Opening(..) => None,
        }
    }

    /// Starts a connection attempt, or looks at the one under way, for up to
    /// `left`. Returns at once when it opened: commits while nobody listened
    /// are not announced, so the caller reads now.
    fn open_within(&mut self, left: Duration) -> Wake {
        let start = Instant::now();
        if matches!(self.state, State::Idle) {
            match self.spawn_open() {
                Ok((link, opened)) => self.state = State::Opening(link, opened),
                Err(_) => {
                    std::thread::sleep(left.min(RETRY));
                    return Wake::TimedOut;
                }
            }
        }
        let State::Opening(_, opened) = &self.state else { return Wake::TimedOut };
        match opened.recv_timeout(left) {
            Ok(Ok(pid)) => {
                if let State::Opening(link, _) = std::mem::replace(&mut self.state, State::Idle) {
                    self.state = State::Listening(link, pid);
                    self.connects += 1;
                    self.heard_at = Instant::now();
                }
            }
            // Still waiting for the server: the next wait looks again.
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // Refused, or the attempt's thread is gone: sleep like a poller.
            Ok(Err(_)) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                self.state = State::Idle;
                std::thread::sleep(left.saturating_sub(start.elapsed()).min(RETRY));
            }
        }
        Wake::TimedOut
    }

    /// A thread that connects and listens; its answer is the backend's pid.
    fn spawn_open(&self) -> std::io::Result<(Link<Client>, Opened<i32, String>)> {
        let config = self.config.clone();
        Link::spawn(
            "log-panel-pg-listen",
            move || {
                let mut client = config.connect_now()?;
                // `LISTEN` last: what `pg_stat_activity` shows of the session.
                let listen = client
                    .query_one("SELECT pg_backend_pid()", &[])
                    .and_then(|row| row.try_get::<_, i32>(0))
                    .and_then(|pid| client.batch_execute(LISTEN_SQL).map(|()| pid));
                match listen {
                    Ok(pid) => Ok((client, pid)),
                    Err(e) => Err(config.scrub(&error_chain(&e))),
                }
            },
            Client::is_closed,
        )
    }

    fn silent(&self, waited: Duration) -> StoreError {
        StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "PostgreSQL at `{}`: the live tail's listener connection: the server gave no answer for {} ms; \
                 the connection is given up and opened again once the server answers",
                self.config.redacted(),
                waited.as_millis()
            ),
        )
    }
}

/// Waits on the listener connection for a notification until `timeout`,
/// checking the server when it said nothing since `heard_at` for
/// [`CHECK_EVERY`]: what it heard, and when the server last spoke.
fn listen_for(client: &mut Client, alive: &Alive, timeout: Duration, mut heard_at: Instant) -> (Heard, Instant) {
    let until = Instant::now() + timeout;
    loop {
        let check_at = heard_at + CHECK_EVERY;
        let slice = until.min(check_at).saturating_duration_since(Instant::now());
        let mut notifications = client.notifications();
        let heard = notifications.timeout_iter(slice).next();
        match heard {
            Ok(Some(_)) => {
                // Several batches may have committed: one read sees them all.
                let mut pending = notifications.iter();
                while let Ok(Some(_)) = pending.next() {}
                alive.touch();
                return (Heard::Committed, Instant::now());
            }
            Ok(None) => {}
            Err(_) => return (Heard::Closed, heard_at),
        }
        drop(notifications);
        if client.is_closed() {
            return (Heard::Closed, heard_at);
        }
        if Instant::now() >= check_at {
            // The bound on the answer counts from the question.
            alive.touch();
            if client.batch_execute(LISTEN_SQL).is_err() {
                return (Heard::Closed, heard_at);
            }
            alive.touch();
            heard_at = Instant::now();
        }
        if Instant::now() >= until {
            return (Heard::Quiet, heard_at);
        }
    }
}

impl CommitWaiter for PgCommitWaiter {
    fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError> {
        let start = Instant::now();
        if let State::Listening(link, _) = &mut self.state {
            if !link.is_closed() {
                let heard_at = self.heard_at;
                match link.run(SILENCE_BOUND, move |client, alive| listen_for(client, alive, timeout, heard_at)) {
                    Ok((heard, at)) if heard != Heard::Closed => {
                        self.heard_at = at;
                        return Ok(if heard == Heard::Committed { Wake::Committed } else { Wake::TimedOut });
                    }
                    Err(Stall::Silent(waited)) => {
                        // `run` gave the link up: dropping it does not wait for its thread.
                        self.state = State::Idle;
                        return Err(self.silent(waited));
                    }
                    Ok(_) | Err(Stall::Gone) => {}
                }
            }
            // Dropped (server restart, terminated backend): listen again in
            // what is left of this wait; the next wait finishes the attempt.
            self.state = State::Idle;
        }
        Ok(self.open_within(timeout.saturating_sub(start.elapsed())))
    }

    fn pushed(&self) -> bool {
        true
    }
}

impl Drop for PgCommitWaiter {
    fn drop(&mut self) {
        // An attempt still waiting for the server is not waited for: its
        // thread ends, closing the connection, when the server answers.
        if let State::Opening(link, _) = &mut self.state {
            link.abandon();
        }
    }
}
