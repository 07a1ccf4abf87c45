//! Alert webhooks against a real HTTP receiver on loopback
//! (`common::receiver`): each alert arrives once, a 5xx is retried and the
//! 2xx ends it, a receiver that never answers costs bounded attempts and
//! never blocks logging, a full queue drops the oldest. Dropping the panel
//! joins the delivery threads, so the counts read after it are final.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common;

use common::receiver::Receiver;
use common::{TempDb, WAIT};
use log_panel::{AlertStats, Level, Pipeline, WebhookConfig};

/// Waits (at most `WAIT`) until `done` holds for the panel's alert counters.
fn wait_stats(panel: &Pipeline, done: impl Fn(&AlertStats) -> bool) -> AlertStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = panel.alert_stats();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{stats:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fast(hook: WebhookConfig) -> WebhookConfig {
    hook.with_backoff(Duration::from_millis(5)).with_timeout(Duration::from_secs(5))
}

#[test]
fn an_alert_reaches_a_json_webhook_once_with_its_fields() {
    let db = TempDb::new();
    let receiver = Receiver::answering(&[]);
    let panel = log_panel::builder()
        .database(&db.path)
        .app("billing-app")
        .alert_threshold(Level::Error, Some(2))
        .alert_window(Duration::from_secs(600))
        .webhook(fast(WebhookConfig::json(&receiver.url)).with_header("Authorization", "Bearer t0ken"))
        .build()
        .unwrap();
    log::error!(logger: panel, target: "billing::payments", "payment failed (attempt 1)");
    let _request = log_panel::scope!(request_id = "r-42");
    log::error!(logger: panel, target: "billing::payments", "payment failed <b>\"2\"</b>");
    log::error!(logger: panel, target: "billing::payments", "a third: above the threshold, no new alert");
    panel.flush().unwrap();
    wait_stats(&panel, |s| s.webhooks_delivered == 1);
    drop(panel);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert!(request.head.starts_with("POST /hooks/T000/B000/s3cret-path HTTP/1.1\r\n"), "{}", request.head);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some("Bearer t0ken"));
    let body = request.json();
    assert_eq!(request.header("idempotency-key"), body["id"].as_str());
    let times: Vec<String> = {
        let conn = db.conn();
        let mut stmt = conn.prepare("SELECT ts FROM log_records ORDER BY id LIMIT 2").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let object = body.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "app",
            "context",
            "count",
            "file",
            "first_record_at",
            "host",
            "id",
            "last_record_at",
            "level",
            "line",
            "logger",
            "message",
            "module",
            "pid",
            "text",
            "threshold",
            "window_end",
            "window_secs",
            "window_start"
        ]
    );
    assert_eq!(body["app"], "billing-app");
    let host: String = db.conn().query_row("SELECT host FROM log_records LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(body["host"], host.as_str());
    assert_eq!(body["pid"], std::process::id());
    assert_eq!(body["logger"], "billing::payments");
    assert_eq!(body["level"], "ERROR");
    assert_eq!((body["threshold"].as_u64(), body["count"].as_u64()), (Some(2), Some(2)));
    assert_eq!(body["window_secs"], 600);
    assert_eq!(body["first_record_at"], times[0].as_str());
    assert_eq!(body["last_record_at"], times[1].as_str());
    assert_eq!(body["window_end"], times[1].as_str());
    assert_eq!(body["message"], "payment failed <b>\"2\"</b>");
    assert_eq!(body["context"], serde_json::json!({ "request_id": "r-42" }));
    assert_eq!(body["file"], file!());
    assert!(body["text"].as_str().unwrap().starts_with("ERROR threshold 2 reached by billing::payments: 2 records"));
}

#[test]
fn a_500_is_retried_and_the_200_ends_it() {
    let db = TempDb::new();
    let receiver = Receiver::answering(&[500]);
    let panel = log_panel::builder()
        .database(&db.path)
        .alert_threshold(Level::Error, Some(1))
        .webhook(fast(WebhookConfig::json(&receiver.url)).with_retries(5))
        .build()
        .unwrap();
    log::error!(logger: panel, target: "svc", "boom");
    panel.flush().unwrap();
    let stats = wait_stats(&panel, |s| s.webhooks_delivered == 1);
    assert_eq!((stats.webhook_retries, stats.webhooks_failed), (1, 0));
    // Dropping joins the delivery thread: a duplicate after the 200 would be in by now.
    drop(panel);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "the 500, then the 200, nothing after: {requests:?}");
    assert_eq!(requests[0].body, requests[1].body, "the same alert, the same id");
}

#[test]
fn a_receiver_that_never_answers_costs_bounded_attempts_and_never_blocks_logging() {
    let db = TempDb::new();
    let receiver = Receiver::holding();
    let panel = log_panel::builder()
        .database(&db.path)
        .alert_threshold(Level::Error, Some(1))
        .webhook(
            WebhookConfig::json(&receiver.url)
                .with_timeout(Duration::from_millis(300))
                .with_retries(2)
                .with_backoff(Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    log::error!(logger: panel, target: "svc", "boom");
    panel.flush().unwrap();
    receiver.wait_for(1); // the first attempt is waiting for an answer that does not come…
    for i in 0..500 {
        log::error!(logger: panel, target: "svc", "more {i}"); // …while the application logs on
    }
    panel.flush().unwrap();
    assert_eq!(db.count("1"), 501, "storage does not wait for the webhook");
    let stats = wait_stats(&panel, |s| s.webhooks_failed == 1);
    assert_eq!((stats.webhooks_delivered, stats.webhook_retries, stats.fired), (0, 2, 1));
    assert_eq!(receiver.requests().len(), 3, "1 attempt + 2 retries, each cut by the timeout");
    drop(panel);
    assert_eq!(receiver.requests().len(), 3, "nothing after giving up");
}

#[test]
fn a_404_is_final() {
    let db = TempDb::new();
    let receiver = Receiver::answering(&[404]);
    let panel = log_panel::builder()
        .database(&db.path)
        .alert_threshold(Level::Warn, Some(1))
        .webhook(fast(WebhookConfig::json(&receiver.url)))
        .build()
        .unwrap();
    log::warn!(logger: panel, target: "svc", "careful");
    panel.flush().unwrap();
    let stats = wait_stats(&panel, |s| s.webhooks_failed == 1);
    assert_eq!((stats.webhooks_delivered, stats.webhook_retries), (0, 0));
    drop(panel);
    assert_eq!(receiver.requests().len(), 1);
}

#[test]
fn slack_gets_text_only_with_mentions_and_links_escaped() {
    let db = TempDb::new();
    let receiver = Receiver::answering(&[]);
    let panel = log_panel::builder()
        .database(&db.path)
        .app("shop")
        .alert_threshold(Level::Error, Some(1))
        .webhook(fast(WebhookConfig::slack(&receiver.url)))
        .build()
        .unwrap();
    log::error!(logger: panel, target: "checkout", "<!channel> paid & <http://evil.example|click here>");
    panel.flush().unwrap();
    wait_stats(&panel, |s| s.webhooks_delivered == 1);
    drop(panel);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    let body = requests[0].json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("[shop@"), "{text}");
    assert!(text.contains("ERROR threshold 1 reached by checkout: 1 records in ["), "{text}");
    assert!(text.contains("last: \"&lt;!channel&gt; paid &amp; &lt;http://evil.example|click here&gt;\""), "{text}");
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
}

#[test]
fn a_full_queue_drops_the_oldest_alert() {
    let db = TempDb::new();
    let receiver = Receiver::holding();
    let panel = log_panel::builder()
        .database(&db.path)
        .alert_threshold(Level::Error, Some(1))
        .webhook(fast(WebhookConfig::json(&receiver.url)).with_timeout(Duration::from_secs(30)))
        .build()
        .unwrap();
    log::error!(logger: panel, target: "svc-0", "first");
    panel.flush().unwrap();
    receiver.wait_for(1); // the delivery thread is busy with svc-0
    let extra = log_panel::alerts::WEBHOOK_QUEUE + 44;
    for i in 1..=extra {
        log::error!(logger: panel, target: &format!("svc-{i}"), "error {i}");
    }
    panel.flush().unwrap();
    let stats = wait_stats(&panel, |s| s.callback_runs == 1 + extra as u64);
    assert_eq!(stats.webhooks_dropped, 44);
    receiver.release();
    drop(panel);
    let loggers: Vec<String> =
        receiver.requests().iter().map(|r| r.json()["logger"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = std::iter::once(0).chain(45..=extra).map(|i| format!("svc-{i}")).collect();
    assert_eq!(loggers, expected, "svc-1 … svc-44, the oldest waiting, were dropped");
}

#[test]
fn a_bad_webhook_in_code_is_refused_naming_the_key() {
    let db = TempDb::new();
    let err = log_panel::builder()
        .database(&db.path)
        .webhook(WebhookConfig::json("http://127.0.0.1:9/ok"))
        .webhook(WebhookConfig::json("ftp://example/x"))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("key `alerts.webhooks[1].url`: `ftp://example/x` is not an http"), "{err}");
    let err = log_panel::builder()
        .database(&db.path)
        .webhook(WebhookConfig::json("http://127.0.0.1:9/ok").with_retries(11))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("key `alerts.webhooks[0].retries`: 11 retries is more than 10"), "{err}");
    assert!(db.path.metadata().is_err(), "nothing was opened");
}
