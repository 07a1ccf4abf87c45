//! The live tail's streams. One poller reads the records committed since its
//! last read, for every open stream at once, and each stream keeps those its
//! filter keeps: N streams cost one query a poll, not N. The poller runs
//! while at least one stream is open; streams are capped
//! (`PanelOptions::tail_streams`).
//!
//! Between two reads the poller waits on the store's
//! [`CommitWaiter`](log_panel_query::CommitWaiter): PostgreSQL wakes it
//! when a batch commits (`LISTEN/NOTIFY`), so a record reaches the streams
//! as soon as it is due, not at the next poll; other stores sleep the poll
//! interval (`PanelOptions::tail_poll`), which is also the fallback when
//! the listener is down. Reads are at least [`MIN_GAP`] apart, so a busy
//! writer's commits do not turn into one read each.
//!
//! Records come in time order: the poller's [`Follow`] holds what it reads
//! for [`Follow::REORDER`] (3 s) behind this machine's clock and hands it on
//! sorted by (time, id), so the batches of several writers, committed out of
//! time order, are not shown with times going back. A stream's first page is
//! sorted by time too; a record older than that page's newest line that
//! commits after it was read follows it (the seam is at most the window).
//!
//! The poller also reads the indexes' lag ([`Store::index_lag`]), at most
//! every [`LAG_EVERY`] and only while an open stream's filter reads an index
//! (no other note can change), and tells the streams when it changed or is
//! behind; each stream sends its page a `lag` event when the note of its own
//! filter that settled changed ([`SettledNote`]: an index it reads stayed
//! behind for a few seconds or is far behind, moved, caught up, or its lag
//! could not be read; not a lag that comes and goes with a writer's
//! batches), which the page shows in place of the note it opened with.
//! The stream's own reads (its first page, a resync) read those indexes; the
//! poller's reads take every record and read none.
//!
//! A stream starts from a read of the lag begun after it opened, so after
//! its page read its note: the poller's last read may be up to
//! [`LAG_EVERY`] older than the page's, and would replace the page's right
//! note with a stale one until the next read. Streams opening together share
//! one such read ([`TailHub::fresh_lag`]), and of two reads the one begun
//! later wins, wherever it comes from, so a slow older read never undoes a
//! newer one.
//!
//! A stream starts at most one page back: it reads the newest
//! [`TAIL_BATCH`] records of its filter once (after the page's last line, or
//! the browser's `Last-Event-ID`), says so when more were missed, then takes
//! its records from the poller. A stream that falls behind the poller (a slow
//! client) does the same again from its last line.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::Stream;
use log_panel_core::escape_controls;
use log_panel_query::{CommitWaiter, Follow, IndexLag, NoteChange, RecordFilter, SettledNote, StoredRecord};
use log_panel_query::{Store, StoreError, StoreErrorKind};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::row::{row_json, RowLinks};

/// Lines a stream starts with at most (one page), and the poller reads per poll at most.
pub(crate) const TAIL_BATCH: usize = 200;
/// The least time between two of the poller's reads, however often commits are announced.
const MIN_GAP: Duration = Duration::from_millis(100);
/// Polls a stream may fall behind before it starts again from its last line;
/// bounds the records held for slow streams to `TICKS_BUFFERED * TAIL_BATCH`.
const TICKS_BUFFERED: usize = 8;
/// How long opening a stream waits for the poller's first read.
const OPEN_WAIT: Duration = Duration::from_secs(5);
/// How often the poller reads the indexes' lag at most: a stream's note
/// changes at most this often, whatever the rate of commits.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// A read of the indexes' lag, as the streams share it (the error as text).
type LagRead = Result<IndexLag, String>;

/// A read of the lag and when it began: of two reads, the one begun later
/// is the fresher, whichever ends first.
#[derive(Debug, Clone)]
struct LagAt {
    read: LagRead,
    at: Instant,
}

/// What the poller tells every stream.
#[derive(Debug)]
enum Tick {
    /// The poller knows where the records end: every record committed from
    /// now on comes in a [`Tick::Records`].
    Positioned,
    /// Records committed since the last tick, each once.
    Records(Vec<StoredRecord>),
    /// The read failed; the next one starts where this one would have.
    Failed(String),
    /// Reads work again after a failure.
    Recovered,
    /// The indexes' lag changed (or its read failed, or works again).
    Lag(LagAt),
}

/// The live tail's shared state: the stream cap and the poller's channel.
pub(crate) struct TailHub {
    store: Arc<dyn Store>,
    permits: Arc<Semaphore>,
    max: usize,
    poll: Duration,
    shared: Mutex<Shared>,
    /// Open streams whose filter reads an index: the poller reads the lag
    /// only while there is one.
    index_streams: AtomicUsize,
    /// Held by the one stream reading the lag for those opening now
    /// ([`TailHub::fresh_lag`]): the others wait and take its read.
    lag_gate: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Shared {
    /// The poller's channel, while it runs.
    tx: Option<broadcast::Sender<Arc<Tick>>>,
    /// Whether it has read where the records end.
    positioned: bool,
    /// The freshest read of the indexes' lag (the poller's or a new stream's).
    lag: Option<LagAt>,
}

impl TailHub {
    /// A hub over `store` that accepts at most `max` streams at once and
    /// reads at least every `poll`.
    pub(crate) fn new(store: Arc<dyn Store>, max: usize, poll: Duration) -> TailHub {
        TailHub {
            store,
            permits: Arc::new(Semaphore::new(max)),
            max,
            poll,
            shared: Mutex::new(Shared::default()),
            index_streams: AtomicUsize::new(0),
            lag_gate: tokio::sync::Mutex::new(()),
        }
    }

    /// The most streams open at once.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new stream of `filter` after `after`, its rows linked and marked as
    /// `links` says, starting the poller if none runs; `None` when
    /// [`TailHub::max`] streams are open.
    pub(crate) fn open(
        self: &Arc<Self>,
        filter: RecordFilter,
        after: Option<i64>,
        links: RowLinks,
    ) -> Option<TailStream> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        let opened = Instant::now();
        let reads_index = filter.reads_an_index();
        if reads_index {
            // Before the poller may start: its first read then reads the lag too.
            self.index_streams.fetch_add(1, Ordering::SeqCst);
        }
        let mut shared = self.lock();
        let rx = match &shared.tx {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(TICKS_BUFFERED);
                shared.tx = Some(tx.clone());
                shared.positioned = false;
                tokio::spawn(poll(self.clone(), tx));
                rx
            }
        };
        let positioned = shared.positioned;
        drop(shared);
        // A filter that reads no index has nothing to say, as its page said.
        let lag = (!reads_index)
            .then(|| SettledNote::opened(&filter, Ok::<_, String>(&IndexLag::default()), opened.into_std()));
        Some(TailStream {
            rx,
            positioned,
            _permit: permit,
            hub: self.clone(),
            opened,
            reads_index,
            filter,
            links,
            floor: after,
            last: None,
            needs_resync: true,
            resynced: BTreeSet::new(),
            failing: false,
            pending: VecDeque::new(),
            lag,
            lag_at: None,
        })
    }

    /// A read of the lag begun at or after `since`: the freshest one known
    /// if it is, else a new one. Streams asking at once share a read: each
    /// waits for the one under way, which (begun after they asked) serves
    /// them all, so a burst of streams costs a read or two, not one each.
    async fn fresh_lag(&self, since: Instant) -> LagAt {
        let _gate = self.lag_gate.lock().await;
        if let Some(lag) = self.lock().lag.clone().filter(|l| l.at >= since) {
            return lag;
        }
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            let at = Instant::now();
            LagAt { read: store.index_lag().map_err(|e| e.to_string()), at }
        })
        .await
        .unwrap_or_else(|e| LagAt { read: Err(format!("the live tail's read of the lag failed: {e}")), at: since });
        self.publish_lag(read)
    }

    /// Keeps `lag` when it is fresher than the read kept and tells the
    /// streams when the lag changed or is behind; returns the freshest read.
    fn publish_lag(&self, lag: LagAt) -> LagAt {
        let mut shared = self.lock();
        let kept = match &shared.lag {
            Some(kept) if kept.at >= lag.at => return kept.clone(),
            Some(kept) => Some(kept.read.clone()),
            None => None,
        };
        // A lag read again unchanged is told too: a stream shows a lag once
        // it lasted ([`SettledNote`]), which only later reads can say.
        let behind = lag.read.as_ref().is_ok_and(IndexLag::is_behind);
        if behind || kept.as_ref() != Some(&lag.read) {
            if let Some(tx) = &shared.tx {
                let _ = tx.send(Arc::new(Tick::Lag(lag.clone())));
            }
        }
        shared.lag = Some(lag.clone());
        lag
    }
}

/// Clears the hub's channel when the poller ends, also when its runtime
/// drops it, so the next stream starts a new one.
struct Stopped {
    hub: Arc<TailHub>,
    tx: broadcast::Sender<Arc<Tick>>,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let mut shared = self.hub.lock();
        if shared.tx.as_ref().is_some_and(|tx| tx.same_channel(&self.tx)) {
            *shared = Shared::default();
        }
    }
}

/// The poller: reads every record committed since its last read, until no
/// stream listens.
async fn poll(hub: Arc<TailHub>, tx: broadcast::Sender<Arc<Tick>>) {
    let stopped = Stopped { hub, tx };
    let (hub, tx) = (&stopped.hub, &stopped.tx);
    let mut follow: Option<Follow> = None;
    let mut failing = false;
    let mut waiter = OffRuntime(None);
    let mut lag_read_at: Option<Instant> = None;
    loop {
        {
            let mut shared = hub.lock();
            if tx.receiver_count() == 0 {
                *shared = Shared::default();
                return;
            }
        }
        let read_at = Instant::now();
        let (store, position) = (hub.store.clone(), follow.take());
        let was_positioned = position.is_some();
        // Only while a stream's filter reads an index: no other note can change.
        let lag_due = hub.index_streams.load(Ordering::SeqCst) > 0
            && lag_read_at.is_none_or(|at| read_at.duration_since(at) >= LAG_EVERY);
        let read = tokio::task::spawn_blocking(move || {
            let (position, read) = read_new(store.as_ref(), position);
            // Not while the records cannot be read: the streams say that already.
            let lag = (lag_due && read.is_ok()).then(|| {
                let at = Instant::now();
                LagAt { read: store.index_lag().map_err(|e| e.to_string()), at }
            });
            (position, read, lag)
        });
        let (position, read, lag) = match read.await {
            Ok(x) => x,
            Err(e) => (
                None,
                Err(StoreError::new(StoreErrorKind::Storage, "the live tail's read failed").with_source(e)),
                None,
            ),
        };
        follow = position;
        if let Some(lag) = lag {
            lag_read_at = Some(read_at);
            hub.publish_lag(lag);
        }
        let mut full = false;
        match read {
            Ok(records) => {
                if failing {
                    failing = false;
                    let _ = tx.send(Arc::new(Tick::Recovered));
                }
                if !was_positioned && follow.is_some() {
                    let mut shared = hub.lock();
                    shared.positioned = true;
                    let _ = tx.send(Arc::new(Tick::Positioned));
                }
                full = follow.as_ref().is_some_and(|f| !f.caught_up());
                // A read takes at most a page of new records, but the held
                // records that come of age together (after a stall: thousands)
                // are released at once; each stream turns every record of a
                // tick it keeps into an event before sending one, so a tick is
                // at most a page (the session 40 attack: 64 streams of a level
                // filter grew the panel to 1 GiB on a busy machine).
                for page in records.chunks(TAIL_BATCH) {
                    let _ = tx.send(Arc::new(Tick::Records(page.to_vec())));
                }
            }
            Err(e) => {
                failing = true;
                let _ = tx.send(Arc::new(Tick::Failed(e.to_string())));
            }
        }
        if full {
            // More is waiting: read on at once (streams that cannot keep up start again).
            tokio::task::yield_now().await;
        } else {
            // Records held for time order are due before the next poll maybe.
            let wait = follow.as_ref().and_then(Follow::due_in).map_or(hub.poll, |due| due.min(hub.poll));
            let mut w = waiter.0.take().unwrap_or_else(|| hub.store.commit_waiter());
            if let Ok((w, woke)) = tokio::task::spawn_blocking(move || {
                let woke = w.wait(wait);
                (w, woke)
            })
            .await
            {
                waiter.0 = Some(w);
                // A listener whose server went silent (PostgreSQL frozen) is
                // told as a failed read is; the next read that answers ends it.
                if let Err(e) = woke {
                    failing = true;
                    let _ = tx.send(Arc::new(Tick::Failed(e.to_string())));
                }
            }
            tokio::time::sleep_until(read_at + MIN_GAP).await;
        }
    }
}

/// The poller's commit waiter, dropped on a thread of its own: a waiter may
/// hold a blocking database connection, whose drop must not run on the
/// async runtime (it blocks, and the PostgreSQL driver refuses to).
struct OffRuntime(Option<Box<dyn CommitWaiter>>);

impl Drop for OffRuntime {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            std::thread::spawn(move || drop(w));
        }
    }
}

/// One read of the poller: where the records end (the first time), then
/// every record committed since, whatever its filter. `Follow` re-reads a
/// window below the newest id, so a row committed late with a smaller id
/// (several PostgreSQL writers) is read too.
fn read_new(store: &dyn Store, position: Option<Follow>) -> (Option<Follow>, Result<Vec<StoredRecord>, StoreError>) {
    match position {
        Some(mut follow) => {
            let read = follow.poll(store, TAIL_BATCH);
            (Some(follow), read)
        }
        None => match store.tail(&RecordFilter::default(), None, 1) {
            Ok(newest) => {
                let after = newest.last().map_or(0, |r| r.id);
                (Some(Follow::after(RecordFilter::default(), after)), Ok(Vec::new()))
            }
            Err(e) => (None, Err(e)),
        },
    }
}

/// One live-tail stream: its filter, what it sent, what it holds a slot for.
pub(crate) struct TailStream {
    rx: broadcast::Receiver<Arc<Tick>>,
    positioned: bool,
    _permit: OwnedSemaphorePermit,
    hub: Arc<TailHub>,
    /// When the stream opened (after its page read its note).
    opened: Instant,
    /// Whether its filter reads an index (counted in `TailHub::index_streams`).
    reads_index: bool,
    filter: RecordFilter,
    links: RowLinks,
    /// Nothing at or below this id is sent: the page's last line, or the
    /// browser's `Last-Event-ID`.
    floor: Option<i64>,
    /// The newest id sent.
    last: Option<i64>,
    /// Whether the stream must read its own last page before taking the poller's records.
    needs_resync: bool,
    /// Ids sent by those reads, so the poller's copy of them is dropped.
    resynced: BTreeSet<i64>,
    failing: bool,
    pending: VecDeque<Event>,
    /// The note of this stream's filter, from the reads of the lag so far
    /// (`None`: none yet): what settled is sent ([`SettledNote`]).
    lag: Option<SettledNote>,
    /// When the read of the lag that note came from began: an older read
    /// that reaches the stream later is not said.
    lag_at: Option<Instant>,
}

impl Drop for TailStream {
    fn drop(&mut self) {
        if self.reads_index {
            self.hub.index_streams.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl TailStream {
    /// Waits (a little) for the poller to know where the records end, then
    /// reads the stream's first page. A filter the store refuses is an error;
    /// any other failure is reported on the stream, which retries.
    pub(crate) async fn start(&mut self) -> Result<(), StoreError> {
        if self.reads_index {
            let lag = self.hub.fresh_lag(self.opened).await;
            self.take_lag(&lag);
        }
        if self.positioned {
            return self.resync().await;
        }
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        while !self.positioned {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Ok(tick)) => {
                    let failed = matches!(*tick, Tick::Failed(_));
                    self.on_tick(&tick).await?;
                    if failed {
                        break;
                    }
                }
                Ok(Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) | Err(_) => break,
            }
        }
        Ok(())
    }

    /// The events, as the response body wants them.
    pub(crate) fn events(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut s| async move { s.next().await.map(|e| (Ok(e), s)) })
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            match self.rx.recv().await {
                // A refused filter was reported when the stream opened; later
                // failures are on the stream already.
                Ok(tick) => {
                    let _ = self.on_tick(&tick).await;
                }
                Err(RecvError::Lagged(_)) => {
                    self.needs_resync = true;
                    let _ = self.resync().await;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn on_tick(&mut self, tick: &Tick) -> Result<(), StoreError> {
        match tick {
            Tick::Lag(lag) => {
                self.take_lag(lag);
                return Ok(());
            }
            Tick::Failed(message) => {
                self.failing = true;
                self.pending.push_back(status(message));
                return Ok(());
            }
            Tick::Positioned => self.positioned = true,
            Tick::Recovered | Tick::Records(_) => {}
        }
        if self.needs_resync && self.positioned {
            // The records of this tick were committed before the read, which
            // sees them (as far as a page goes).
            return self.resync().await;
        }
        if self.failing {
            self.failing = false;
            self.pending.push_back(status("ok"));
        }
        if self.needs_resync {
            return Ok(());
        }
        if let Tick::Records(records) = tick {
            for r in records {
                let above_floor = self.floor.is_none_or(|f| r.id > f);
                if above_floor && !self.resynced.contains(&r.id) && self.filter.keeps(r) {
                    self.send(r);
                }
            }
        }
        Ok(())
    }

    /// Reads the newest page of the stream's filter and sends what is above
    /// its last line, saying so when more than a page was missed.
    async fn resync(&mut self) -> Result<(), StoreError> {
        let (store, filter) = (self.hub.store.clone(), self.filter.clone());
        let read = match tokio::task::spawn_blocking(move || store.tail(&filter, None, TAIL_BATCH + 1)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::new(StoreErrorKind::Storage, "the live tail's read failed").with_source(e)),
        };
        let rows = match read {
            Ok(rows) => rows,
            Err(e) => {
                self.failing = true;
                self.pending.push_back(status(&e.to_string()));
                return Err(e);
            }
        };
        let after = self.last.or(self.floor);
        let mut fresh: Vec<StoredRecord> =
            rows.into_iter().filter(|r| after.is_none_or(|a| r.id > a) && !self.resynced.contains(&r.id)).collect();
        // The newest page by id, shown by time: ids of several writers are not in time order.
        fresh.sort_by_key(|r| (r.ts, r.id));
        if fresh.len() > TAIL_BATCH {
            fresh.drain(..fresh.len() - TAIL_BATCH);
            if after.is_some() {
                self.pending.push_back(Event::default().event("gap").data(format!(
                    "more than {TAIL_BATCH} lines arrived since the last one shown; the newest {TAIL_BATCH} follow \
                     (the Records page has them all)"
                )));
            }
        }
        if self.failing {
            self.failing = false;
            self.pending.push_back(status("ok"));
        }
        for r in &fresh {
            self.resynced.insert(r.id);
            self.send(r);
        }
        while self.resynced.len() > 2 * TAIL_BATCH {
            self.resynced.pop_first();
        }
        self.needs_resync = false;
        Ok(())
    }

    /// Says the note of `lag` unless the stream said one from a read begun
    /// later (a tick of an older read can arrive after its own fresh read).
    fn take_lag(&mut self, lag: &LagAt) {
        if self.lag_at.is_some_and(|said| said > lag.at) {
            return;
        }
        self.lag_at = Some(lag.at);
        self.say_lag(&lag.read, lag.at);
    }

    /// Sends the note of this stream's filter for the lag `read`, begun at
    /// `at`: the first read's at once (it replaces the page's), then the
    /// note that settled ([`SettledNote`]) when it changed — a lag that
    /// lasted or is far behind, its count moving, its catching up, a failed
    /// read — never a lag that comes and goes with a writer's batches. The
    /// data is the line as a JSON string, `""` when nothing is behind (which
    /// hides the page's note): a browser drops an event whose data is empty.
    fn say_lag(&mut self, read: &LagRead, at: Instant) {
        let change = match &mut self.lag {
            None => {
                self.lag = Some(SettledNote::opened(&self.filter, read.as_ref(), at.into_std()));
                NoteChange::Said
            }
            Some(note) => note.read(read.as_ref(), at.into_std()),
        };
        if let (NoteChange::Said | NoteChange::Counted, Some(note)) = (change, &self.lag) {
            let line = escape_controls(note.shown().line().unwrap_or(""), false);
            let data = serde_json::Value::from(line.as_ref()).to_string();
            self.pending.push_back(Event::default().event("lag").data(data));
        }
    }

    fn send(&mut self, r: &StoredRecord) {
        self.last = Some(self.last.map_or(r.id, |l| l.max(r.id)));
        self.pending.push_back(event_of(&self.links, r));
    }
}

fn status(text: &str) -> Event {
    Event::default().event("status").data(escape_controls(text, false))
}

/// A record as the page script wants it (the records page's row, in
/// pieces); the script inserts it as text.
fn event_of(links: &RowLinks, r: &StoredRecord) -> Event {
    Event::default().event("record").id(r.id.to_string()).data(row_json(links, r).to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::html::Base;
    use log_panel_core::{Batch, Level, Origin, Record, Sink, Timestamp};
    use log_panel_query::conformance::MemoryStore;

    /// Records read young are held for time order and come of age
    /// together: the poller hands them on in ticks of at most a page, so a
    /// stream never holds more than a page of events from one tick.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_released_together_go_out_in_ticks_of_at_most_a_page() {
        let mut store = MemoryStore::default();
        let hub = Arc::new(TailHub::new(Arc::new(store.clone()), 4, Duration::from_millis(20)));
        let links = RowLinks { base: Base(String::new()), tz: None, keys: Vec::new(), term: None };
        let mut stream = hub.open(RecordFilter::default(), None, links).unwrap();
        while !matches!(*stream.rx.recv().await.unwrap(), Tick::Positioned) {}
        // Five pages stamped now, committed in pieces the poller reads one by
        // one: all held for the reorder window, then due at once.
        let now = Timestamp::now().0;
        let origin = Origin::new("a", "h", 1);
        for part in 0..10i64 {
            let records: Vec<Record> = (0..100i64)
                .map(|i| {
                    let mut r = Record::new(Level::Info, "t", format!("line {}", part * 100 + i));
                    r.timestamp = Timestamp(now + part * 100 + i);
                    r
                })
                .collect();
            store.write(&Batch::new(&origin, &records)).unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < 1_000 {
            let tick = tokio::time::timeout(Duration::from_secs(10), stream.rx.recv()).await.unwrap().unwrap();
            if let Tick::Records(records) = &*tick {
                sizes.push(records.len());
            }
        }
        assert_eq!(sizes.iter().sum::<usize>(), 1_000, "{sizes:?}");
        assert!(sizes.iter().all(|n| *n <= TAIL_BATCH), "{sizes:?}");
        assert!(sizes.len() >= 5, "{sizes:?}");
    }
}
