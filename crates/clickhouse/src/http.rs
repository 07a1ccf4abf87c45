//! One blocking HTTP client for every request to the shards: statements and
//! their answers as text, inserts with a RowBinary body.
//!
//! No async runtime: the sink runs on the writer thread and the read side
//! is blocking by contract. The user and password travel as the `user` and
//! `password` parameters, which every ClickHouse release accepts.

use std::io::Read as _;
use std::time::Duration;

use crate::error::{RequestError, NOT_CONNECTED};
use crate::Options;

/// A client for the shards of one URL.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
    options: Options,
}

impl Http {
    pub(crate) fn new(options: &Options) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout()))
            .timeout_connect(Some(options.timeout().min(Duration::from_secs(5))))
            .build()
            .into();
        Http { agent, options: options.clone() }
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `sql` (the whole statement in the body) on shard `shard` with
    /// the given settings; returns the answer's body.
    pub(crate) fn query(&self, shard: usize, sql: &str, settings: &[(&str, &str)]) -> Result<String, RequestError> {
        let request = self.request(shard, settings, None)?;
        let answer = self.finish(request.send(sql));
        self.log(shard, sql, settings, None, &answer);
        answer
    }

    /// Runs `INSERT … FORMAT RowBinary` (`sql`, in the URL) with `rows` as
    /// the body, under `query_id`.
    pub(crate) fn insert(&self, shard: usize, sql: &str, rows: &[u8], query_id: &str) -> Result<(), RequestError> {
        let request = self.request(shard, &[("query", sql)], Some(query_id))?;
        let answer = self.finish(request.send(rows));
        self.log(shard, sql, &[], Some(rows), &answer);
        answer.map(drop)
    }

    /// Appends one request to the statement log, when there is one (see
    /// [`Options::with_statement_log`]). A log that cannot be written is
    /// skipped: it is a diagnostic, never a reason to fail a request.
    fn log(
        &self,
        shard: usize,
        sql: &str,
        settings: &[(&str, &str)],
        rows: Option<&[u8]>,
        answer: &Result<String, RequestError>,
    ) {
        use std::io::Write as _;
        let Some(path) = self.options.statement_log() else { return };
        let settings: serde_json::Map<String, serde_json::Value> =
            settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        let (ok, answer) = match answer {
            Ok(body) => (true, body.clone()),
            Err(e) => (false, e.to_string()),
        };
        let entry = serde_json::json!({
            "database": self.options.database(),
            "shard": shard,
            "sql": sql,
            "settings": settings,
            "rows_hex": rows.map(|r| r.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            "ok": ok,
            "answer": answer,
        });
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{entry}");
        }
    }

    fn request(
        &self,
        shard: usize,
        settings: &[(&str, &str)],
        query_id: Option<&str>,
    ) -> Result<ureq::RequestBuilder<ureq::typestate::WithBody>, RequestError> {
        let Some(host) = self.options.hosts().get(shard) else {
            return Err(RequestError::Transport(format!("{NOT_CONNECTED}: no shard {shard}")));
        };
        let mut request = self.agent.post(&format!("http://{host}/")).query("database", self.options.database());
        if let Some(user) = self.options.user() {
            request = request.query("user", user);
        }
        if let Some(password) = self.options.password() {
            request = request.query("password", password);
        }
        if let Some(id) = query_id {
            request = request.query("query_id", id);
        }
        for (key, value) in settings {
            request = request.query(*key, *value);
        }
        Ok(request)
    }

    fn finish(&self, sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<String, RequestError> {
        let mut response = sent.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let mut body = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .map_err(|e| RequestError::Transport(self.options.scrub(&format!("reading the answer: {e}"))))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = self.options.scrub(body.trim());
        Err(RequestError::Server { status, code: error_code(&message), message })
    }

    fn transport(&self, e: ureq::Error) -> RequestError {
        let refused = match &e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Io(io) => {
                matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable)
            }
            _ => false,
        };
        let shown = self.options.scrub(&e.to_string());
        if refused {
            RequestError::Transport(format!("{NOT_CONNECTED}: {shown}"))
        } else {
            RequestError::Transport(shown)
        }
    }
}

/// `Code: 60, e.displayText() = …` → 60.
fn error_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `text` as a ClickHouse string literal: the one place user values enter a
/// statement (the packaged server has no query parameters). Backslash and
/// quote are escaped; every other byte stands for itself inside quotes.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_literals() {
        assert_eq!(error_code("Code: 60, e.displayText() = DB::Exception: Table x doesn't exist"), Some(60));
        assert_eq!(error_code("Internal error"), None);
        assert_eq!(quote(r"it's a \ path"), r"'it\'s a \\ path'");
        assert_eq!(quote("a\0b"), r"'a\0b'");
    }
}
