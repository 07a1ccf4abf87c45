//! Alert webhooks, the running part: one delivery thread per configured
//! webhook, fed by a bounded queue, posting with a timeout and retrying with
//! jittered backoff. See `docs/alerts.md`, "Webhooks".
//!
//! - The queue is filled by a callback on the alert thread, which never
//!   waits: when [`WEBHOOK_QUEUE`] deliveries are already waiting, the oldest
//!   is dropped (counted, and said on stderr), so a dead receiver costs
//!   memory for 256 alerts, never the writer's or the alert thread's time.
//! - An alert is posted until one attempt gets a 2xx answer, then never
//!   again; a connection error, a timeout, 5xx, 408 or 429 is retried (at
//!   most `retries` times), any other answer is final.
//! - Records logged on a delivery thread (the HTTP client logs through
//!   `log`) are stored but never counted toward thresholds, like the alert
//!   thread's, so a delivery can never cause another alert.
//! - At shutdown each thread gets [`WEBHOOK_SHUTDOWN_WAIT`] to post what is
//!   queued; backoff waits are cut to that deadline and no attempt starts
//!   after it. A thread still posting then is left behind (said on stderr).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use log_panel_core::Timestamp;

use log_panel_config::WebhookConfig;

use super::payload::{render, Sender as From};
use super::{AlertCounters, AlertEvent};

/// Deliveries that may wait, per webhook, before the oldest is dropped.
pub const WEBHOOK_QUEUE: usize = 256;

/// How long shutdown lets the webhooks post what is queued.
pub const WEBHOOK_SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Name of the threads that post to the webhooks.
pub const WEBHOOK_THREAD_NAME: &str = "log-panel-webhook";

/// The most of an answer's body read (so the connection can be reused); the rest is ignored.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The thread name every delivery thread gives its records; recognised by
/// identity, like the alert thread's (see `alerts/mod.rs`).
pub(crate) fn webhook_thread_marker() -> &'static Arc<str> {
    static MARKER: OnceLock<Arc<str>> = OnceLock::new();
    MARKER.get_or_init(|| Arc::from(WEBHOOK_THREAD_NAME))
}

/// One alert for one webhook. `id` is the same for every webhook and every attempt.
struct Delivery {
    event: Arc<AlertEvent>,
    id: Arc<str>,
}

/// The alert thread's end of one webhook's queue.
struct Queue {
    tx: Option<Sender<Delivery>>,
    /// The same channel's receiving end, to take the oldest delivery out when it is full.
    oldest: Receiver<Delivery>,
    shown_url: String,
}

/// The webhooks of one panel: the callback side (queues) and the delivery threads.
pub(crate) struct Webhooks {
    queues: Vec<Queue>,
    /// Dropped at shutdown, which ends the threads' backoff waits early.
    stop: Option<Sender<()>>,
    /// Set at shutdown: no attempt starts after this instant.
    closing: Arc<OnceLock<Instant>>,
    threads: Vec<JoinHandle<()>>,
    /// Disconnected once every delivery thread has ended.
    exited: Receiver<()>,
    counters: Arc<AlertCounters>,
    id_prefix: String,
    sequence: u64,
}

impl Webhooks {
    /// Starts one delivery thread per webhook; `None` when there are none.
    pub(crate) fn start(
        hooks: &[WebhookConfig],
        from: &From,
        counters: &Arc<AlertCounters>,
    ) -> std::io::Result<Option<Webhooks>> {
        if hooks.is_empty() {
            return Ok(None);
        }
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let (exiting, exited) = crossbeam_channel::bounded::<()>(0);
        let closing = Arc::new(OnceLock::new());
        let mut webhooks = Webhooks {
            queues: Vec::with_capacity(hooks.len()),
            stop: Some(stop),
            closing: Arc::clone(&closing),
            threads: Vec::with_capacity(hooks.len()),
            exited,
            counters: Arc::clone(counters),
            id_prefix: format!("{}-{}", from.pid, Timestamp::now().0),
            sequence: 0,
        };
        for hook in hooks {
            let (tx, rx) = crossbeam_channel::bounded(WEBHOOK_QUEUE);
            let oldest = rx.clone();
            let poster = Poster {
                agent: agent(hook),
                hook: hook.clone(),
                shown_url: hook.shown_url(),
                from: from.clone(),
                counters: Arc::clone(counters),
                stopped: stopped.clone(),
                closing: Arc::clone(&closing),
            };
            let exiting = exiting.clone();
            // Dropping `webhooks` on an error stops the threads already started.
            let thread = std::thread::Builder::new().name(WEBHOOK_THREAD_NAME.into()).spawn(move || {
                let _exiting = exiting; // dropped when the thread ends, even by a panic
                crate::thread::set_thread_name(Arc::clone(webhook_thread_marker()));
                for delivery in rx.iter() {
                    poster.deliver(&delivery);
                }
            })?;
            webhooks.threads.push(thread);
            webhooks.queues.push(Queue { tx: Some(tx), oldest, shown_url: hook.shown_url() });
        }
        Ok(Some(webhooks))
    }

    /// Queues `event` for every webhook, never waiting (the alert thread's callback).
    pub(crate) fn notify(&mut self, event: &AlertEvent) {
        self.sequence += 1;
        let id: Arc<str> = Arc::from(format!("{}-{}", self.id_prefix, self.sequence));
        let event = Arc::new(event.clone());
        for queue in &self.queues {
            let Some(tx) = &queue.tx else { continue };
            let mut delivery = Delivery { event: Arc::clone(&event), id: Arc::clone(&id) };
            // Each turn either queues it or takes one out, and the queue is bounded: this ends.
            loop {
                match tx.try_send(delivery) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) => {
                        delivery = back;
                        if let Ok(old) = queue.oldest.try_recv() {
                            self.counters.webhooks_dropped.fetch_add(1, Relaxed);
                            eprintln!(
                                "log-panel: alert webhook {} is behind ({WEBHOOK_QUEUE} alerts waiting); oldest dropped: {}",
                                queue.shown_url, old.event
                            );
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => {
                        self.counters.webhooks_dropped.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Webhooks {
    /// Lets the threads post what is queued until [`WEBHOOK_SHUTDOWN_WAIT`], then leaves them.
    fn drop(&mut self) {
        let deadline = Instant::now() + WEBHOOK_SHUTDOWN_WAIT;
        let _ = self.closing.set(deadline);
        for queue in &mut self.queues {
            queue.tx = None; // the thread posts what is left, then its loop ends
        }
        self.stop = None;
        match self.exited.recv_timeout(WEBHOOK_SHUTDOWN_WAIT) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                for thread in self.threads.drain(..) {
                    let _ = thread.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "log-panel: alert webhooks still posting after {WEBHOOK_SHUTDOWN_WAIT:?} of shutdown; not waiting for them"
                );
            }
        }
    }
}

/// A delivery thread's state: one webhook and its client.
struct Poster {
    agent: ureq::Agent,
    hook: WebhookConfig,
    shown_url: String,
    from: From,
    counters: Arc<AlertCounters>,
    /// Disconnected at shutdown.
    stopped: Receiver<()>,
    closing: Arc<OnceLock<Instant>>,
}

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// A 2xx answer: delivered, never sent again.
    Delivered,
    /// Worth another attempt (connection error, timeout, 5xx, 408, 429),
    /// after at least the answer's `Retry-After`.
    Retry { reason: String, retry_after: Option<Duration> },
    /// Any other answer: another attempt would get the same.
    Final(String),
}

/// The client of one webhook: its timeout for the whole attempt, no
/// redirects (a redirected POST is a misconfigured URL), answers of any
/// status returned as answers, proxies from the environment.
fn agent(hook: &WebhookConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(hook.timeout_ms.get())))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("log-panel/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Poster {
    /// Posts one alert until an attempt is delivered or final, or the attempts or time run out.
    fn deliver(&self, delivery: &Delivery) {
        let body = render(self.hook.format, &delivery.event, &self.from, &delivery.id);
        let attempts = self.hook.retries.saturating_add(1);
        let mut last = String::from("not attempted before shutdown");
        let mut retry_after = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                let wait = backoff(Duration::from_millis(self.hook.backoff_ms.get()), attempt - 1, retry_after);
                if !self.wait(wait) {
                    last.push_str("; shutting down");
                    break;
                }
                self.counters.webhook_retries.fetch_add(1, Relaxed);
            } else if self.past_deadline() {
                break;
            }
            match self.post(&body, &delivery.id) {
                Outcome::Delivered => {
                    self.counters.webhooks_delivered.fetch_add(1, Relaxed);
                    return;
                }
                Outcome::Retry { reason, retry_after: after } => {
                    last = reason;
                    retry_after = after;
                }
                Outcome::Final(reason) => {
                    last = format!("{reason}, not retried");
                    break;
                }
            }
        }
        self.counters.webhooks_failed.fetch_add(1, Relaxed);
        eprintln!(
            "log-panel: alert webhook {} failed ({last}); alert not delivered: {}",
            self.shown_url, delivery.event
        );
    }

    /// One attempt.
    fn post(&self, body: &[u8], id: &str) -> Outcome {
        let mut request =
            self.agent.post(&self.hook.url).header("content-type", "application/json").header("idempotency-key", id);
        for (name, value) in &self.hook.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send(body) {
            Ok(mut answer) => {
                let retry_after = answer
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Read (a bounded part of) the answer so the connection can serve the next alert.
                let _ = answer.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_vec();
                classify(answer.status().as_u16(), retry_after)
            }
            // The URL's path may be a secret (Slack's is): messages name the host only.
            Err(e) => {
                Outcome::Retry { reason: e.to_string().replace(&self.hook.url, &self.shown_url), retry_after: None }
            }
        }
    }

    /// Waits `delay` before a retry; at shutdown only until the deadline.
    /// False when the deadline has passed (give up).
    fn wait(&self, delay: Duration) -> bool {
        let begin = Instant::now();
        match self.stopped.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => !self.past_deadline(),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let Some(&deadline) = self.closing.get() else { return false };
                let until = (begin + delay).min(deadline);
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                Instant::now() < deadline
            }
        }
    }

    fn past_deadline(&self) -> bool {
        self.closing.get().is_some_and(|&deadline| Instant::now() >= deadline)
    }
}

/// Delivered, retried or final, by status code.
fn classify(status: u16, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry { reason: format!("HTTP {status}"), retry_after },
        _ => Outcome::Final(format!("HTTP {status}")),
    }
}

/// The wait before retry `n` (1-based): `base · 2^(n−1)`, at most
/// [`WebhookConfig::MAX_BACKOFF`], jittered to between half and all of it so
/// that processes that failed together do not retry together; at least the
/// answer's `Retry-After` (itself capped at the same maximum).
fn backoff(base: Duration, n: u32, retry_after: Option<Duration>) -> Duration {
    let full = base.saturating_mul(1u32 << n.saturating_sub(1).min(20)).min(WebhookConfig::MAX_BACKOFF);
    let jittered = full / 2 + (full / 2).mul_f64(random_fraction());
    jittered.max(retry_after.unwrap_or_default().min(WebhookConfig::MAX_BACKOFF))
}

/// A number in `[0, 1]`, from the standard library's per-instance random hash keys.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_delivered_retried_or_final() {
        assert_eq!(classify(200, None), Outcome::Delivered);
        assert_eq!(classify(204, None), Outcome::Delivered);
        for status in [500, 502, 503, 408, 429] {
            assert!(matches!(classify(status, None), Outcome::Retry { .. }), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 422] {
            assert_eq!(classify(status, None), Outcome::Final(format!("HTTP {status}")));
        }
    }

    #[test]
    fn backoff_doubles_is_jittered_and_capped() {
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            let first = backoff(base, 1, None);
            assert!(first >= Duration::from_millis(50) && first <= base, "{first:?}");
            let third = backoff(base, 3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
            let late = backoff(base, 30, None);
            assert!(late >= WebhookConfig::MAX_BACKOFF / 2 && late <= WebhookConfig::MAX_BACKOFF, "{late:?}");
        }
        assert!(backoff(base, 1, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
        assert!(backoff(base, 1, Some(Duration::from_secs(86_400))) <= WebhookConfig::MAX_BACKOFF);
    }
}
