//! The connections of [`Server::run`](super::Server::run): accepted one by one,
//! each served by hyper under a watchdog that closes it when it stays quiet too
//! long, and at most `max_connections` of them open at once.
//!
//! A connection is *busy* from the moment its request head is complete until
//! its answer's body is dropped (written out, or the client gone), and *quiet*
//! otherwise: before its first request, while a head trickles in, and between
//! requests on a kept-alive connection. Only quiet connections are timed out
//! or shed; an answer in progress (a live-tail stream) is never cut.

use std::collections::BTreeMap;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::WebError;

/// hyper's smallest read buffer: a head bound below it cannot be set.
pub(super) const MIN_HEADER_BYTES: usize = 8192;

/// At most one line on stderr this often about shed or refused connections.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The longest pause after a failing `accept`.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);

/// Refusals being written at once; beyond it a new connection is just closed.
const MAX_REFUSING: usize = 64;

/// How long a refusal waits for the client's request before closing: reading
/// it first lets the close be a clean FIN, so the client reads the `503`
/// rather than a reset.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The bounds a server runs within (from `ServeOptions`).
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) header_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) max_header_bytes: usize,
    /// The bytes of the `503` a connection gets when every slot is busy.
    pub(super) refusal: Vec<u8>,
}

/// The `503` written to a connection that cannot be served, as raw HTTP/1.1,
/// with the same security headers as every other answer.
pub(super) async fn refusal() -> Vec<u8> {
    const BODY: &str = "503 Service Unavailable: the log panel has all the connections it takes open; retry shortly.\n";
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, BODY).into_response();
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    let response = crate::security_headers(response).await;
    let mut out = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n".to_vec();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n{BODY}", BODY.len()).as_bytes());
    out
}

/// One open connection, as the accept loop and its own task see it.
struct Slot {
    id: u64,
    /// Requests whose answer is in progress.
    busy: AtomicUsize,
    /// A request was served: the quiet time is bounded by the idle timeout, not the head's.
    served: AtomicBool,
    /// Milliseconds since the server's epoch when it was accepted or last became quiet.
    since: AtomicU64,
    /// Set when the accept loop sheds it.
    shed: Notify,
}

impl Slot {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }
}

/// Marks a slot busy for as long as it lives: from the request head to the end
/// of the answer's body.
struct Busy {
    slot: Arc<Slot>,
    shared: Arc<Shared>,
}

impl Busy {
    fn start(slot: &Arc<Slot>, shared: &Arc<Shared>) -> Busy {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        slot.served.store(true, Ordering::Release);
        Busy { slot: slot.clone(), shared: shared.clone() }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // The quiet time starts now; stored before the count drops so the
        // watchdog never sees a quiet slot with the time of an older request.
        self.slot.since.store(self.shared.now_ms(), Ordering::Release);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its connection busy until it is dropped.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What the accept loop and every connection task share.
struct Shared {
    limits: Limits,
    epoch: Instant,
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    refusing: AtomicUsize,
    report: Mutex<Report>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection that has been quiet longest; `false` when every one is busy.
    fn shed_one(&self) -> bool {
        let mut slots = self.slots();
        let oldest =
            slots.values().filter(|s| !s.is_busy()).min_by_key(|s| s.since.load(Ordering::Acquire)).map(|s| s.id);
        match oldest.and_then(|id| slots.remove(&id)) {
            Some(slot) => {
                slot.shed.notify_one();
                true
            }
            None => false,
        }
    }

    /// When a quiet `slot` is due to be closed: its quiet time plus the head's
    /// or the idle timeout; for a busy one, when to look again.
    fn deadline(&self, slot: &Slot) -> tokio::time::Instant {
        let limits = &self.limits;
        if slot.is_busy() {
            return later(Instant::now(), limits.header_timeout.min(limits.idle_timeout));
        }
        let timeout = if slot.served.load(Ordering::Acquire) { limits.idle_timeout } else { limits.header_timeout };
        // `since` was measured from the epoch, so adding it back cannot overflow.
        let since = self.epoch + Duration::from_millis(slot.since.load(Ordering::Acquire));
        later(since, timeout)
    }

    fn note(self: &Arc<Self>, event: Event) {
        let mut report = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(line) = report.note(Instant::now(), event) {
            eprintln!("log-panel: {line}");
            return;
        }
        // The rest of a burst is said when its ten seconds are up, also when
        // nothing follows it (else a flood's count waits for the next event,
        // maybe for hours, after a first line saying 1).
        if let Some(mut due) = report.schedule() {
            let shared = Arc::clone(self);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                    let mut report = shared.report.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(line) = report.due_line(Instant::now()) {
                        eprintln!("log-panel: {line}");
                        return;
                    }
                    // A later event's line said them first; what came after it waits its turn.
                    match report.schedule() {
                        Some(next) => due = next,
                        None => return,
                    }
                }
            });
        }
    }
}

/// `at + by`, or a year from `at` when a timeout of `Duration::MAX` would overflow.
fn later(at: Instant, by: Duration) -> tokio::time::Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    tokio::time::Instant::from_std(at.checked_add(by).unwrap_or(at + YEAR))
}

/// Removes its slot from the map when the connection's task ends, however it ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.slots().remove(&self.id);
    }
}

/// Something worth a line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// A quiet connection closed to make room at the cap.
    Shed,
    /// A new connection answered `503`: every open one was busy.
    Refused,
    /// `accept` failed with this error (out of file descriptors, say); `shed`:
    /// a quiet connection was closed to make room.
    AcceptFailed { error: String, shed: bool },
}

/// Counts events and says them at most once every [`REPORT_EVERY`]: the first
/// of a burst at once, the rest of it when its ten seconds are up.
#[derive(Debug, Default)]
struct Report {
    last: Option<Instant>,
    /// Whether a line for the counts held back is due (a task waits for it).
    scheduled: bool,
    shed: u64,
    refused: u64,
    accept_failed: u64,
    accept_error: String,
    max_connections: usize,
}

impl Report {
    fn note(&mut self, now: Instant, event: Event) -> Option<String> {
        match event {
            Event::Shed => self.shed += 1,
            Event::Refused => self.refused += 1,
            Event::AcceptFailed { error, shed } => {
                self.accept_failed += 1;
                self.shed += u64::from(shed);
                self.accept_error = error;
            }
        }
        if self.last.is_some_and(|last| now.duration_since(last) < REPORT_EVERY) {
            return None;
        }
        Some(self.line(now))
    }

    fn pending(&self) -> bool {
        self.shed + self.refused + self.accept_failed > 0
    }

    /// When the counts held back are due to be said, once while they wait:
    /// `None` when nothing waits or a task already waits for them.
    fn schedule(&mut self) -> Option<Instant> {
        let last = self.last?;
        if self.scheduled || !self.pending() {
            return None;
        }
        self.scheduled = true;
        Some(last + REPORT_EVERY)
    }

    /// The line of the counts held back, when they are due and not said
    /// meanwhile (by the line of a later event).
    fn due_line(&mut self, now: Instant) -> Option<String> {
        self.scheduled = false;
        let due = self.last.is_none_or(|last| now.duration_since(last) >= REPORT_EVERY);
        (due && self.pending()).then(|| self.line(now))
    }

    /// Says every count since the last line, and starts counting again.
    fn line(&mut self, now: Instant) -> String {
        let since = match self.last {
            Some(last) => format!("in the last {} s", now.duration_since(last).as_secs()),
            None => "so far".to_owned(),
        };
        let mut parts = Vec::new();
        if self.accept_failed > 0 {
            parts.push(format!(
                "accepting a connection failed {} time(s) ({}), retried after a pause",
                self.accept_failed, self.accept_error
            ));
        }
        if self.shed > 0 {
            parts.push(format!("closed {} quiet connection(s) to make room", self.shed));
        }
        if self.refused > 0 {
            parts.push(format!("refused {} new connection(s) with 503 (all open ones busy)", self.refused));
        }
        if self.accept_failed > 0 {
            parts.push(format!(
                "accept failed {} time(s) (out of file descriptors?), retrying with a pause",
                self.accept_failed
            ));
        }
        self.last = Some(now);
        (self.shed, self.refused, self.accept_failed) = (0, 0, 0);
        format!("web panel (cap {} connections): {} {since}", self.max_connections, parts.join("; "))
    }
}

/// Accepts and serves until the process ends.
pub(super) async fn run(listener: TcpListener, app: axum::Router, limits: Limits) -> Result<(), WebError> {
    let report = Report { max_connections: limits.max_connections, ..Report::default() };
    let shared = Arc::new(Shared {
        limits,
        epoch: Instant::now(),
        slots: Mutex::new(BTreeMap::new()),
        refusing: AtomicUsize::new(0),
        report: Mutex::new(report),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(shared.limits.max_header_bytes).max_header_size(shared.limits.max_header_bytes);
    let mut next_id = 0u64;
    let mut backoff = Duration::ZERO;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if is_client_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or memory: make room and
                // wait rather than retry at once, which would spin.
                let shed = shared.shed_one();
                shared.note(Event::AcceptFailed { error: e.to_string(), shed });
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_BACKOFF);
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        backoff = Duration::ZERO;
        if shared.slots().len() >= shared.limits.max_connections {
            if shared.shed_one() {
                shared.note(Event::Shed);
            } else {
                shared.note(Event::Refused);
                refuse(stream, &shared);
                continue;
            }
        }
        next_id += 1;
        let slot = Arc::new(Slot {
            id: next_id,
            busy: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            since: AtomicU64::new(shared.now_ms()),
            shed: Notify::new(),
        });
        shared.slots().insert(slot.id, slot.clone());
        tokio::spawn(serve_connection(stream, slot, shared.clone(), app.clone(), builder.clone()));
    }
}

/// Errors of one client's connection, not of the listener.
fn is_client_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted)
}

/// Answers `503` and closes, without holding the accept loop.
fn refuse(mut stream: TcpStream, shared: &Arc<Shared>) {
    if shared.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        shared.refusing.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let answer = async {
            stream.write_all(&shared.limits.refusal).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
        shared.refusing.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Serves one connection until it ends, its quiet time runs out, or it is shed.
async fn serve_connection(
    stream: TcpStream,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    app: axum::Router,
    builder: hyper::server::conn::http1::Builder,
) {
    let _registered = Registered { shared: shared.clone(), id: slot.id };
    let service = {
        let (slot, shared) = (slot.clone(), shared.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(&slot, &shared);
            let mut app = app.clone();
            async move {
                let response = tower_service::Service::call(&mut app, request.map(Body::new)).await;
                response.map(|r: Response| r.map(|inner| Body::new(Tracked { inner, _busy: busy })))
            }
        })
    };
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let mut draining = false;
    loop {
        let deadline = shared.deadline(&slot);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = slot.shed.notified() => {
                // Shed while quiet; a request that began since then is answered first.
                if !slot.is_busy() || draining {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = tokio::time::sleep_until(deadline) => {
                if !slot.is_busy() && tokio::time::Instant::now() >= shared.deadline(&slot) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_report_says_the_first_event_of_a_burst_and_then_once_every_ten_seconds() {
        let mut report = Report { max_connections: 512, ..Report::default() };
        let t0 = Instant::now();
        let first = report.note(t0, Event::Shed).unwrap();
        assert_eq!(first, "web panel (cap 512 connections): closed 1 quiet connection(s) to make room so far");
        for i in 1..1000 {
            assert_eq!(report.note(t0 + Duration::from_millis(i), Event::Shed), None);
        }
        assert_eq!(report.note(t0 + Duration::from_secs(5), Event::Refused), None);
        let emfile = Event::AcceptFailed { error: "Too many open files (os error 24)".into(), shed: true };
        assert_eq!(report.note(t0 + Duration::from_secs(6), emfile), None);
        let second = report.note(t0 + Duration::from_secs(11), Event::Shed).unwrap();
        assert!(second.contains("closed 1001 quiet connection(s)"), "{second}");
        assert!(second.contains("refused 1 new connection(s)"), "{second}");
        assert!(second.contains("failed 1 time(s) (Too many open files (os error 24))"), "{second}");
        assert!(second.ends_with("in the last 11 s"), "{second}");
        assert_eq!(report.note(t0 + Duration::from_secs(12), Event::Refused), None);
    }

    /// A flood of 700 connections at a cap of 512: the first shed is said at
    /// once, the other 187 when the ten seconds are up, though nothing follows.
    #[test]
    fn the_rest_of_a_burst_is_said_when_its_ten_seconds_are_up_without_a_later_event() {
        let mut report = Report { max_connections: 512, ..Report::default() };
        let t0 = Instant::now();
        assert_eq!(report.schedule(), None, "nothing said, nothing held back");
        assert!(report.note(t0, Event::Shed).is_some());
        assert_eq!(report.schedule(), None, "nothing held back");
        for i in 1..188 {
            assert_eq!(report.note(t0 + Duration::from_millis(i), Event::Shed), None);
        }
        assert_eq!(report.schedule(), Some(t0 + REPORT_EVERY));
        assert_eq!(report.schedule(), None, "one task waits");
        assert_eq!(
            report.due_line(t0 + REPORT_EVERY).as_deref(),
            Some("web panel (cap 512 connections): closed 187 quiet connection(s) to make room in the last 10 s")
        );
        assert_eq!(report.due_line(t0 + REPORT_EVERY * 2), None, "said once");
        // Said by a later event's line before the task woke: not again.
        assert!(report.note(t0 + Duration::from_secs(21), Event::Refused).is_some());
        assert_eq!(report.note(t0 + Duration::from_secs(22), Event::Refused), None);
        assert!(report.schedule().is_some());
        assert!(report.note(t0 + Duration::from_secs(32), Event::Refused).is_some());
        assert_eq!(report.due_line(t0 + Duration::from_secs(32)), None);
    }
}
