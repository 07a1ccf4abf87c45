//! Alert webhooks, the pure part: the bodies posted (generic JSON and
//! Slack's incoming-webhook shape) for a `[[alerts.webhooks]]` entry
//! ([`WebhookConfig`](log_panel_config::WebhookConfig)). No threads and no network: `delivery.rs` sends what
//! this renders.

use log_panel_config::WebhookFormat;
use serde::Serialize;

use super::AlertEvent;

/// What the process tells receivers about itself.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pub(crate) app: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
}

/// The generic JSON body. Field by field in `docs/alerts.md`; adding a field
/// is compatible, renaming or removing one is not.
#[derive(Serialize)]
struct JsonBody<'a> {
    id: &'a str,
    app: &'a str,
    host: &'a str,
    pid: u32,
    logger: &'a str,
    level: &'a str,
    threshold: u32,
    count: u32,
    window_secs: i64,
    window_start: String,
    window_end: String,
    first_record_at: String,
    last_record_at: String,
    message: &'a str,
    module: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
    context: serde_json::Value,
    text: String,
}

/// The request body for `event` in `format`. `id` names the event across
/// retries so that a receiver can drop a repeat (sent again after an attempt
/// whose answer was lost).
pub(crate) fn render(format: WebhookFormat, event: &AlertEvent, from: &Sender, id: &str) -> Vec<u8> {
    let body = match format {
        WebhookFormat::Json => serde_json::to_vec(&JsonBody {
            id,
            app: &from.app,
            host: &from.host,
            pid: from.pid,
            logger: &event.logger,
            level: event.level.as_str(),
            threshold: event.threshold,
            count: event.count,
            window_secs: event.window_end.0.saturating_sub(event.window_start.0) / 1_000_000,
            window_start: event.window_start.to_rfc3339(),
            window_end: event.window_end.to_rfc3339(),
            first_record_at: event.first_timestamp.to_rfc3339(),
            last_record_at: event.timestamp.to_rfc3339(),
            message: &event.message,
            module: event.module.as_deref(),
            file: event.file.as_deref(),
            line: event.line,
            // The stored context column is a JSON object; it stays one in the body.
            context: serde_json::from_str(&event.context).unwrap_or_else(|_| event.context.clone().into()),
            text: event.to_string(),
        }),
        WebhookFormat::Slack => serde_json::to_vec(
            &serde_json::json!({ "text": slack_escape(&format!("[{}@{}] {event}", from.app, from.host)) }),
        ),
    };
    // Serialising strings and numbers into a Vec cannot fail; an empty object is a safe fallback.
    body.unwrap_or_else(|_| b"{}".to_vec())
}

/// Slack reads `<…>` as links and mentions (`<!channel>` pings everyone) and
/// `&` as an entity: a logged message must show as text, never act.
fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_cannot_mention_or_link() {
        assert_eq!(slack_escape("<!channel> a&b <http://x|y>"), "&lt;!channel&gt; a&amp;b &lt;http://x|y&gt;");
    }
}
