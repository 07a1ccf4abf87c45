//! The console tee: records printed to stderr as well as stored.
//!
//! It wraps the sink, so it runs on the writer thread and prints a batch only
//! once the storage has committed it: the calling thread never waits on the
//! terminal, a batch retried after a failure is printed once, and what the
//! console shows is what the database holds.

use std::fmt::Write as _;
use std::io::Write;

use log_panel_core::{Batch, Sink, SinkError};

/// A sink that prints each committed record to stderr.
pub(crate) struct Console {
    inner: Box<dyn Sink>,
    line: String,
}

impl Console {
    pub(crate) fn new(inner: Box<dyn Sink>) -> Console {
        Console { inner, line: String::with_capacity(256) }
    }
}

impl Sink for Console {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.inner.write(batch)?;
        let mut err = std::io::stderr().lock();
        for r in batch.records {
            self.line.clear();
            r.timestamp.write_rfc3339(&mut self.line);
            self.line.push(' ');
            self.line.push_str(r.level.as_str());
            self.line.push(' ');
            push_printable(&mut self.line, &r.logger);
            self.line.push_str(": ");
            push_printable(&mut self.line, &r.message);
            if !r.context.is_empty() || !r.kv.is_empty() {
                self.line.push(' ');
                r.write_fields_json(&mut self.line);
            }
            self.line.push('\n');
            // A closed or full terminal must not fail a batch that is already stored.
            if err.write_all(self.line.as_bytes()).is_err() {
                break;
            }
        }
        let _ = err.flush();
        Ok(())
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn sanitised_count(&self) -> u64 {
        self.inner.sanitised_count()
    }

    fn idle(&mut self) -> Result<bool, SinkError> {
        self.inner.idle()
    }

    fn idle_soon(&self) -> Option<std::time::Duration> {
        self.inner.idle_soon()
    }
}

/// Appends `s` with control characters escaped (`\n`, `\u{1b}`): a logged
/// string must not move the cursor, clear the screen or forge a line.
fn push_printable(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        push_printable(&mut out, "a\nb\u{1b}[2Jc\u{9b}d é");
        assert_eq!(out, "a\\nb\\u{1b}[2Jc\\u{9b}d é");
    }
}
