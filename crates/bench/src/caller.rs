//! Caller cost: nanoseconds per `info!` call on the logging thread, for
//! log-panel and for the peers an application would pick instead, in the same run.
//!
//! Every backend gets a queue large enough for a whole configuration, so no
//! call ever waits for space: what is measured is the caller's own work. The
//! consumers (log-panel's writer, tracing-appender's worker, slog-async's
//! thread) run at the same time and compete for the same two cores, as in an
//! application. After each configuration the harness waits (untimed) until
//! every record has been consumed and checks the count.

use std::fs::File;
use std::hint::black_box;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use log_panel::context;

use crate::common::{args, bind_request_context, percentiles, sqlite_rows, LineCounter};

/// Untimed calls each thread makes before its timed ones.
pub const WARMUP: usize = 1_000;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What each call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// (a) the message with two format arguments, nothing else.
    Plain,
    /// (b) the same message, 5 keys bound as context on the thread, 2 key-values on the call.
    Context,
    /// (c) a `tracing` event with 2 fields inside two entered spans (5 fields,
    /// then 1): log-panel's layer against the fmt layer on tracing-appender.
    Spans,
}

impl Shape {
    /// Short label for tables and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Shape::Plain => "a: no context",
            Shape::Context => "b: 5 ctx + 2 kv",
            Shape::Spans => "c: 2 spans+2 kv",
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Row {
    pub backend: &'static str,
    pub shape: Shape,
    pub threads: usize,
    pub timed_calls: u64,
    pub median_ns: f64,
    pub p99_ns: f64,
    /// Mean over the block pass: the tail included.
    pub mean_ns: f64,
    /// Records the backend had consumed after the configuration, cumulative.
    pub consumed: u64,
    /// Records logged so far, cumulative (warm-up included).
    pub expected: u64,
}

/// A backend under test.
trait Peer: Sync {
    fn name(&self) -> &'static str;
    /// Runs on one logging thread: set up what the shape needs, then make the calls.
    fn thread(&self, shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples);
    /// Waits until the backend consumed `expected` records in all; returns how many it did.
    fn drained(&mut self, expected: u64) -> u64;
}

/// Calls per block in the block-timed pass.
pub const BLOCK: usize = 32;
/// Calls each thread makes back to back before pausing (a multiple of [`BLOCK`]).
pub const BURST: usize = 256;
/// Calls per second from all logging threads together: below every backend's
/// consumer throughput, so queues stay short and no call waits for space.
pub const TOTAL_RATE: u64 = 100_000;
/// Queue capacity of every backend (log-panel's default).
pub const QUEUE: usize = 8_192;

/// Records one thread logs for `n` timed calls: warm-up, per-call pass, block pass.
pub fn records_per_thread(n: usize) -> usize {
    WARMUP + n + n / BLOCK * BLOCK
}

/// Per-thread samples of one configuration.
struct Samples {
    /// Nanoseconds of each call of the per-call pass (timer cost included).
    per_call: Vec<u32>,
    /// Mean nanoseconds per call of each block of [`BLOCK`] calls (timer cost included once per block).
    block_means: Vec<f64>,
    /// Pause after each burst, untimed, so that the threads together log at [`TOTAL_RATE`].
    pause: Duration,
}

/// Warm-up calls, then all threads start together, then two passes of `n`
/// calls, in bursts of [`BURST`] calls separated by untimed pauses: each call
/// timed with its own `Instant` pair (median, p99), then calls timed in blocks
/// of [`BLOCK`] (the mean, tail included, free of the timer's granularity).
/// Timer costs are subtracted later.
#[inline(always)]
fn timed(barrier: &Barrier, n: usize, samples: &mut Samples, mut call: impl FnMut(u64)) {
    for i in 0..WARMUP as u64 {
        call(black_box(i));
    }
    std::thread::sleep(Duration::from_millis(50)); // let the consumers catch up
    barrier.wait();
    for i in 0..n as u64 {
        let t0 = Instant::now();
        call(black_box(i));
        let d = t0.elapsed();
        samples.per_call.push(u32::try_from(d.as_nanos()).unwrap_or(u32::MAX));
        if (i + 1) % BURST as u64 == 0 {
            std::thread::sleep(samples.pause);
        }
    }
    for block in 0..(n / BLOCK) as u64 {
        let t0 = Instant::now();
        for j in 0..BLOCK as u64 {
            call(black_box(block * BLOCK as u64 + j));
        }
        let d = t0.elapsed();
        samples.block_means.push(d.as_nanos() as f64 / BLOCK as f64);
        if (block + 1) % (BURST / BLOCK) as u64 == 0 {
            std::thread::sleep(samples.pause);
        }
    }
}

struct LogPanel {
    panel: log_panel::Pipeline,
}

impl Peer for LogPanel {
    fn name(&self) -> &'static str {
        "log-panel"
    }
    fn thread(&self, shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples) {
        let p = &self.panel;
        match shape {
            Shape::Plain => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                log::info!(logger: p, "handled request {} in {} us", a, b);
            }),
            Shape::Spans => unreachable!("{SPANS_ONLY}"),
            Shape::Context => {
                bind_request_context();
                timed(barrier, n, samples, |i| {
                    let (a, b) = args(i);
                    log::info!(logger: p, method = "GET", status = 200; "handled request {} in {} us", a, b);
                });
                context::clear();
            }
        }
    }
    fn drained(&mut self, _expected: u64) -> u64 {
        let _ = self.panel.flush();
        self.panel.stats().written
    }
}

struct Tracing {
    lines: LineCounter,
    _guard: tracing_appender::non_blocking::WorkerGuard,
}

impl Peer for Tracing {
    fn name(&self) -> &'static str {
        "tracing+appender"
    }
    fn thread(&self, shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples) {
        match shape {
            Shape::Plain => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                tracing::info!("handled request {} in {} us", a, b);
            }),
            Shape::Spans => unreachable!("{SPANS_ONLY}"),
            Shape::Context => {
                let span = tracing::info_span!(
                    "request",
                    request_id = "7f3a9c2e-51d0",
                    user_id = 4217,
                    tenant = "acme",
                    route = "/api/orders",
                    client_ip = "10.0.0.7"
                );
                let _entered = span.enter();
                timed(barrier, n, samples, |i| {
                    let (a, b) = args(i);
                    tracing::info!(method = "GET", status = 200, "handled request {} in {} us", a, b);
                });
            }
        }
    }
    fn drained(&mut self, expected: u64) -> u64 {
        self.lines.wait_for(expected, DRAIN_TIMEOUT)
    }
}

struct Slog {
    root: slog::Logger,
    lines: LineCounter,
    _guard: slog_async::AsyncGuard,
}

impl Peer for Slog {
    fn name(&self) -> &'static str {
        "slog-async+json"
    }
    fn thread(&self, shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples) {
        let log = match shape {
            Shape::Plain => self.root.clone(),
            Shape::Spans => unreachable!("{SPANS_ONLY}"),
            Shape::Context => self.root.new(slog::o!(
                "request_id" => "7f3a9c2e-51d0",
                "user_id" => 4217,
                "tenant" => "acme",
                "route" => "/api/orders",
                "client_ip" => "10.0.0.7",
            )),
        };
        match shape {
            Shape::Plain | Shape::Spans => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                slog::info!(log, "handled request {} in {} us", a, b);
            }),
            Shape::Context => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                slog::info!(log, "handled request {} in {} us", a, b; "method" => "GET", "status" => 200);
            }),
        }
    }
    fn drained(&mut self, expected: u64) -> u64 {
        self.lines.wait_for(expected, DRAIN_TIMEOUT)
    }
}

struct EnvLogger {
    logger: env_logger::Logger,
    lines: LineCounter,
}

impl Peer for EnvLogger {
    fn name(&self) -> &'static str {
        "env_logger"
    }
    fn thread(&self, shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples) {
        let l = &self.logger;
        match shape {
            Shape::Plain => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                log::info!(logger: l, "handled request {} in {} us", a, b);
            }),
            Shape::Spans => unreachable!("{SPANS_ONLY}"),
            // env_logger has no bound context: the same seven fields go on the call.
            Shape::Context => timed(barrier, n, samples, |i| {
                let (a, b) = args(i);
                log::info!(logger: l, request_id = "7f3a9c2e-51d0", user_id = 4217, tenant = "acme",
                    route = "/api/orders", client_ip = "10.0.0.7", method = "GET", status = 200;
                    "handled request {} in {} us", a, b);
            }),
        }
    }
    fn drained(&mut self, expected: u64) -> u64 {
        self.lines.wait_for(expected, Duration::from_secs(5))
    }
}

/// Shape (c) is measured on the span peers only (see [`span_peers`]).
const SPANS_ONLY: &str = "shape (c) runs only on the span peers";

/// Shape (c): the same `tracing` event in the same two entered spans, on the
/// thread's own dispatcher, for each subscriber under test.
fn span_stack(dispatch: &tracing::Dispatch, barrier: &Barrier, n: usize, samples: &mut Samples) {
    tracing::dispatcher::with_default(dispatch, || {
        let request = tracing::info_span!(
            "request",
            request_id = "7f3a9c2e-51d0",
            user_id = 4217,
            tenant = "acme",
            route = "/api/orders",
            client_ip = "10.0.0.7"
        );
        let _request = request.enter();
        let query = tracing::info_span!("db_query", table = "orders");
        let _query = query.enter();
        timed(barrier, n, samples, |i| {
            let (a, b) = args(i);
            tracing::info!(method = "GET", status = 200, "handled request {} in {} us", a, b);
        });
    });
}

/// A subscriber measured with shape (c), and how to count what it consumed.
struct SpanPeer {
    name: &'static str,
    dispatch: tracing::Dispatch,
    consumed: SpanSink,
}

enum SpanSink {
    Pipeline(std::sync::Arc<log_panel::Pipeline>),
    /// The guard flushes the worker when the peer is dropped.
    Lines(LineCounter, #[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard),
}

impl Peer for SpanPeer {
    fn name(&self) -> &'static str {
        self.name
    }
    fn thread(&self, _shape: Shape, barrier: &Barrier, n: usize, samples: &mut Samples) {
        span_stack(&self.dispatch, barrier, n, samples);
    }
    fn drained(&mut self, expected: u64) -> u64 {
        match &mut self.consumed {
            SpanSink::Pipeline(panel) => {
                let _ = panel.flush();
                panel.stats().written
            }
            SpanSink::Lines(lines, _) => lines.wait_for(expected, DRAIN_TIMEOUT),
        }
    }
}

/// Shape (c)'s two subscribers, each on its own dispatcher (installed per
/// thread with `with_default`, the same dispatch path for both): the
/// registry with log-panel's layer into its own database, and the fmt layer
/// on tracing-appender's non_blocking writer configured as for shapes (a)
/// and (b). Both keep INFO and above, each with the same level filter.
fn span_peers(dir: &Path, capacity: usize) -> (Vec<Box<dyn Peer>>, PathBuf) {
    use tracing_subscriber::layer::SubscriberExt;

    let db = dir.join("caller_spans.db");
    let panel = std::sync::Arc::new(
        log_panel::builder().database(&db).app("bench").queue_capacity(capacity).build().expect("start log-panel"),
    );
    let layered = tracing_subscriber::registry()
        .with(log_panel::tracing::LogPanelLayer::for_pipeline(std::sync::Arc::clone(&panel)))
        .with(tracing_subscriber::filter::LevelFilter::INFO);

    let file = dir.join("tracing_spans.log");
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(capacity)
        .finish(tracing_appender::rolling::never(dir, "tracing_spans.log"));
    let fmt = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .finish();

    let peers: Vec<Box<dyn Peer>> = vec![
        Box::new(SpanPeer {
            name: "log-panel layer",
            dispatch: tracing::Dispatch::new(layered),
            consumed: SpanSink::Pipeline(panel),
        }),
        Box::new(SpanPeer {
            name: "tracing+appender",
            dispatch: tracing::Dispatch::new(fmt),
            consumed: SpanSink::Lines(LineCounter::new(&file), guard),
        }),
    ];
    (peers, db)
}

/// Runs `n` timed calls on each of `threads` named threads; returns every sample.
fn measure(peer: &dyn Peer, shape: Shape, threads: usize, n: usize) -> Samples {
    let barrier = Barrier::new(threads);
    let rate_per_thread = TOTAL_RATE / threads as u64;
    let pause = Duration::from_secs_f64(BURST as f64 / rate_per_thread as f64);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                std::thread::Builder::new()
                    .name(format!("bench-{t}"))
                    .spawn_scoped(s, move || {
                        let mut samples = Samples {
                            per_call: Vec::with_capacity(n),
                            block_means: Vec::with_capacity(n / BLOCK),
                            pause,
                        };
                        peer.thread(shape, barrier, n, &mut samples);
                        samples
                    })
                    .expect("spawn a logging thread")
            })
            .collect();
        let mut all = Samples { per_call: Vec::new(), block_means: Vec::new(), pause };
        for h in handles {
            let s = h.join().expect("a logging thread panicked");
            all.per_call.extend(s.per_call);
            all.block_means.extend(s.block_means);
        }
        all
    })
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sets up every backend in `dir`, each with a queue of `capacity` entries.
fn peers(dir: &Path, capacity: usize) -> (Vec<Box<dyn Peer>>, PathBuf) {
    let db = dir.join("caller.db");
    let panel =
        log_panel::builder().database(&db).app("bench").queue_capacity(capacity).build().expect("start log-panel");

    let tracing_file = dir.join("tracing.log");
    let appender = tracing_appender::rolling::never(dir, "tracing.log");
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(capacity)
        .finish(appender);
    let subscriber = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).finish();
    tracing::subscriber::set_global_default(subscriber).expect("install the tracing subscriber");

    let slog_file = dir.join("slog.json");
    let json = slog_json::Json::new(BufWriter::new(File::create(&slog_file).expect("create slog file")))
        .set_flush(true)
        .add_default_keys()
        .build();
    let (drain, slog_guard) = slog_async::Async::new(slog::Drain::fuse(json))
        .chan_size(capacity)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .build_with_guard();
    let root = slog::Logger::root(slog::Drain::fuse(drain), slog::o!());

    let env_file = dir.join("env_logger.log");
    let logger = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(File::create(&env_file).expect("create env_logger file"))))
        .build();

    let peers: Vec<Box<dyn Peer>> = vec![
        Box::new(LogPanel { panel }),
        Box::new(Tracing { lines: LineCounter::new(&tracing_file), _guard: guard }),
        Box::new(Slog { root, lines: LineCounter::new(&slog_file), _guard: slog_guard }),
        Box::new(EnvLogger { logger, lines: LineCounter::new(&env_file) }),
    ];
    (peers, db)
}

/// The outcome of the caller phase.
pub struct Outcome {
    pub rows: Vec<Row>,
    /// Median cost of an empty `Instant` pair, subtracted from every sample.
    pub timer_overhead_ns: u32,
    /// Records logged into log-panel (warm-up included) and rows found in its database.
    pub log_panel_logged: u64,
    pub log_panel_rows: u64,
    /// The same for the tracing layer's database of shape (c).
    pub layer_logged: u64,
    pub layer_rows: u64,
}

/// Every configuration for every backend, interleaved so that each backend
/// sees the same machine conditions.
/// `only` names the backends to run (by a prefix of their name); all when empty.
///
/// The whole sweep runs `repeats` times; each configuration reports the
/// median over the sweeps of its median, p99 and mean (the machine is shared,
/// so one sweep can land on a busy moment).
pub fn run(dir: &Path, calls_per_thread: usize, thread_counts: &[usize], only: &[String], repeats: usize) -> Outcome {
    let overhead = crate::common::timer_overhead();
    let (mut peers, db) = peers(dir, QUEUE);
    let (mut rows, expected) =
        sweeps(&mut peers, &[Shape::Plain, Shape::Context], calls_per_thread, thread_counts, only, repeats, overhead);
    drop(peers); // log-panel drains and stops; the others flush their files.
                 // Shape (c) last: its per-thread dispatchers put every later `tracing`
                 // call of the process on tracing's scoped-dispatch path, which shapes
                 // (a) and (b) must not pay.
    let (mut span_peers, layer_db) = span_peers(dir, QUEUE);
    let (span_rows, span_expected) =
        sweeps(&mut span_peers, &[Shape::Spans], calls_per_thread, thread_counts, only, repeats, overhead);
    drop(span_peers);
    rows.extend(span_rows);
    Outcome {
        rows,
        timer_overhead_ns: overhead,
        log_panel_logged: expected[0],
        log_panel_rows: sqlite_rows(&db),
        layer_logged: span_expected[0],
        layer_rows: sqlite_rows(&layer_db),
    }
}

/// Runs every shape × thread count × selected peer `repeats` times and
/// returns the median figures with, per peer, the records it was given.
fn sweeps(
    peers: &mut [Box<dyn Peer>],
    shapes: &[Shape],
    calls_per_thread: usize,
    thread_counts: &[usize],
    only: &[String],
    repeats: usize,
    overhead: u32,
) -> (Vec<Row>, Vec<u64>) {
    let selected: Vec<bool> =
        peers.iter().map(|p| only.is_empty() || only.iter().any(|o| p.name().starts_with(o.as_str()))).collect();
    let mut expected = vec![0u64; peers.len()];
    let mut sweeps: Vec<Vec<Row>> = Vec::new();
    for _ in 0..repeats.max(1) {
        let mut rows = Vec::new();
        for &shape in shapes {
            for &threads in thread_counts {
                for (k, peer) in peers.iter_mut().enumerate() {
                    if !selected[k] {
                        continue;
                    }
                    let mut samples = measure(peer.as_ref(), shape, threads, calls_per_thread);
                    expected[k] += (threads * records_per_thread(calls_per_thread)) as u64;
                    let consumed = peer.drained(expected[k]);
                    let (median_ns, p99_ns) = percentiles(&mut samples.per_call, overhead);
                    let mean_ns = mean(&samples.block_means) - f64::from(overhead) / BLOCK as f64;
                    rows.push(Row {
                        backend: peer.name(),
                        shape,
                        threads,
                        timed_calls: (samples.per_call.len() + samples.block_means.len() * BLOCK) as u64,
                        median_ns,
                        p99_ns,
                        mean_ns,
                        consumed,
                        expected: expected[k],
                    });
                }
            }
        }
        sweeps.push(rows);
    }
    let mut rows = sweeps.last().cloned().unwrap_or_default();
    for (i, row) in rows.iter_mut().enumerate() {
        let of = |f: fn(&Row) -> f64| {
            let mut v: Vec<f64> = sweeps.iter().map(|s| f(&s[i])).collect();
            v.sort_unstable_by(f64::total_cmp);
            v[v.len() / 2]
        };
        row.median_ns = of(|r| r.median_ns);
        row.p99_ns = of(|r| r.p99_ns);
        row.mean_ns = of(|r| r.mean_ns);
        row.timed_calls = sweeps.iter().map(|s| s[i].timed_calls).sum();
    }
    (rows, expected)
}
