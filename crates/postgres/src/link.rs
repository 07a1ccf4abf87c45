//! A connection on a thread of its own, so that every call on it has a
//! client-side bound: the sink's, and each of a reader's ([`crate::PgStore`]).
//!
//! A server frozen whole (SIGSTOP, a stuck host or VM) keeps its sockets
//! open in the kernel: the driver's calls then wait with no error, for as
//! long as the freeze lasts. The `postgres` driver has no per-call timeout
//! and does not show its socket (its blocking `Client` is built only by its
//! own `connect`), so neither a socket timeout nor a watchdog shutting the
//! socket down can reach it. Instead a [`Link`] owns the connection on a
//! thread, runs one job at a time there, and its caller waits for the
//! answer only while the job shows signs of life ([`Alive`]); past the bound
//! the caller gives the link up. An abandoned thread ends when its call
//! returns (the server wakes, or the connection fails) and closes the
//! connection then.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The time of a job's last sign of life (a statement answered, a chunk of
/// rows taken by the server), which its caller's bound counts from.
#[derive(Debug, Clone)]
pub(crate) struct Alive {
    epoch: Instant,
    /// Milliseconds from `epoch`.
    last: Arc<AtomicU64>,
}

impl Alive {
    fn new() -> Alive {
        Alive { epoch: Instant::now(), last: Arc::default() }
    }

    /// Notes a sign of life now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

type Job<C> = Box<dyn FnOnce(&mut C, &Alive) + Send>;

/// Where a link's thread answers whether its connection opened.
pub(crate) type Opened<T, E> = mpsc::Receiver<Result<T, E>>;

/// Why a job gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// No sign of life for this long (the bound): the link must be given up.
    Silent(Duration),
    /// The thread ended without an answer (the job panicked).
    Gone,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stall::Silent(waited) => write!(
                f,
                "the server gave no answer for {} ms (write_timeout); the connection is given up",
                waited.as_millis()
            ),
            Stall::Gone => f.write_str("the connection's thread ended without an answer"),
        }
    }
}

/// A connection of type `C` owned by a thread of its own. Dropping the link
/// ends the thread once its current job returns; the connection is closed there.
pub(crate) struct Link<C> {
    jobs: Option<mpsc::Sender<Job<C>>>,
    alive: Alive,
    /// Set by the thread when a job left the connection closed, or it ended.
    closed: Arc<AtomicBool>,
    /// Disconnected once the thread has ended (and closed the connection).
    ended: mpsc::Receiver<()>,
    /// A job was given up: dropping the link does not wait for the thread.
    abandoned: bool,
}

/// How long dropping a link (a sink dropped at shutdown) waits for its thread
/// to close the connection, so the server sees a proper goodbye rather than
/// a process gone; a server that does not answer is not waited for longer.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

impl<C: 'static> Link<C> {
    /// Starts the thread, which first runs `open`; its answer (`T` on success)
    /// comes on the returned channel. `is_closed` tells after each job
    /// whether the connection is still usable.
    pub(crate) fn spawn<T, E>(
        name: &str,
        open: impl FnOnce() -> Result<(C, T), E> + Send + 'static,
        is_closed: fn(&C) -> bool,
    ) -> std::io::Result<(Link<C>, Opened<T, E>)>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (jobs, queue) = mpsc::channel::<Job<C>>();
        let (opened_tx, opened) = mpsc::sync_channel(1);
        let (ended_tx, ended) = mpsc::sync_channel::<()>(0);
        let alive = Alive::new();
        let closed = Arc::new(AtomicBool::new(false));
        let (thread_alive, thread_closed) = (alive.clone(), Arc::clone(&closed));
        // A writer's thread when the writer starts it: the driver's notices
        // logged here (a migration's "already exists, skipping") stay out of
        // the queue, as on the writer thread.
        let builder = std::thread::Builder::new().name(name.to_owned());
        log_panel_core::writer_thread::spawn_beside(builder, move || {
            // Dropped last, also when a job panics: the link sees the thread gone.
            let _ended = (ended_tx, ClosedOnExit(thread_closed));
            let mut conn = match open() {
                Ok((conn, info)) => {
                    let _ = opened_tx.send(Ok(info));
                    conn
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            while let Ok(job) = queue.recv() {
                job(&mut conn, &thread_alive);
                if is_closed(&conn) {
                    break;
                }
            }
        })?;
        Ok((Link { jobs: Some(jobs), alive, closed, ended, abandoned: false }, opened))
    }

    /// Gives the link up without waiting for its thread: dropping it then
    /// does not wait for a connection attempt or a job the server never
    /// answers (its thread ends, and closes the connection, when it does).
    #[cfg(feature = "read")]
    pub(crate) fn abandon(&mut self) {
        self.abandoned = true;
    }

    /// Whether the connection was found closed (or the thread ended).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Runs `job` on the connection's thread and waits for its answer while
    /// the job shows signs of life, at most `bound` since the last one.
    /// After [`Stall::Silent`] the caller must drop the link (the thread
    /// may still be in the job).
    pub(crate) fn run<R: Send + 'static>(
        &mut self,
        bound: Duration,
        job: impl FnOnce(&mut C, &Alive) -> R + Send + 'static,
    ) -> Result<R, Stall> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.alive.touch();
        let sent = self.jobs.as_ref().is_some_and(|jobs| {
            jobs.send(Box::new(move |conn: &mut C, alive: &Alive| {
                let _ = tx.send(job(conn, alive));
            }))
            .is_ok()
        });
        if !sent {
            return Err(Stall::Gone);
        }
        loop {
            let deadline = self.alive.last() + bound;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // One last look: an answer may have come with the deadline.
                return rx.try_recv().map_err(|_| {
                    self.abandoned = true;
                    Stall::Silent(self.alive.last().elapsed())
                });
            }
            match rx.recv_timeout(left) {
                Ok(answer) => return Ok(answer),
                // Signs of life since move the deadline: look again.
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.abandoned = true;
                    return Err(Stall::Gone);
                }
            }
        }
    }
}

/// Marks a link closed when its thread ends, however it ends.
struct ClosedOnExit(Arc<AtomicBool>);

impl Drop for ClosedOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl<C> Drop for Link<C> {
    fn drop(&mut self) {
        self.jobs = None;
        if !self.abandoned {
            let _ = self.ended.recv_timeout(CLOSE_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(conn: u32) -> (Link<u32>, mpsc::Receiver<Result<(), String>>) {
        Link::spawn("test", move || Ok::<_, String>((conn, ())), |_| false).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_silent_job_stalls_after_the_bound_and_a_lively_one_does_not() {
        let (mut link, opened) = ready(7);
        assert_eq!(opened.recv().ok(), Some(Ok(())));
        assert_eq!(link.run(Duration::from_secs(5), |c, _| *c + 1), Ok(8));
        // Signs of life every 50 ms for 600 ms: a 200 ms bound is never reached.
        let lively = link.run(Duration::from_millis(200), |c, alive| {
            for _ in 0..12 {
                std::thread::sleep(Duration::from_millis(50));
                alive.touch();
            }
            *c
        });
        assert_eq!(lively, Ok(7));
        let started = Instant::now();
        let silent = link.run(Duration::from_millis(200), |c, _| {
            std::thread::sleep(Duration::from_millis(1500));
            *c
        });
        let took = started.elapsed();
        assert!(matches!(silent, Err(Stall::Silent(d)) if d >= Duration::from_millis(200)), "{silent:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
        // Given up: dropping it does not wait for the sleeping job.
        let started = Instant::now();
        drop(link);
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    }

    #[test]
    fn a_failed_open_and_a_panicking_job_are_reported() {
        let (link, opened) = Link::<u32>::spawn("test", || Err::<(u32, ()), _>("refused".to_owned()), |_| false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.recv().ok(), Some(Err("refused".to_owned())));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !link.is_closed() {
            assert!(Instant::now() < deadline, "the thread did not end");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (mut link, _opened) = ready(1);
        let answer: Result<u32, Stall> = link.run(Duration::from_secs(5), |_, _| panic!("a bug in a job"));
        assert_eq!(answer, Err(Stall::Gone));
    }
}
