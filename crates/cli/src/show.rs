//! Writing records: neutralised text for people, exact JSON/CSV for machines,
//! colours by level on a terminal.
//!
//! Stored strings are attacker input. In every human-readable output (and in
//! CSV written to a terminal) control characters are shown as escapes, so an
//! ESC sequence can never drive the terminal, a NUL never cuts a line, and a
//! newline never forges a second record.

use std::fmt::Write as _;
use std::io::Write;

use log_panel_core::{level_name, Level};
use log_panel_query::StoredRecord;
use serde::Serialize;

use crate::error::{out, CliError};
use crate::local_time::Clock;

/// Appends `s` with every control character (C0, DEL, C1) and bidirectional
/// override shown as an escape, newlines and tabs too: a logger, field or
/// error message stays on its line ([`line()`] breaks only a message's lines).
pub(crate) fn clean_into(buf: &mut String, s: &str) {
    log_panel_core::escape_controls_into(buf, s, false);
}

pub(crate) fn clean(s: &str) -> String {
    let mut buf = String::with_capacity(s.len());
    clean_into(&mut buf, s);
    buf
}

/// ANSI colours, or nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    pub on: bool,
}

pub(crate) const RESET: &str = "\x1b[0m";
pub(crate) const DIM: &str = "\x1b[2m";
pub(crate) const RED: &str = "\x1b[31m";
pub(crate) const YELLOW: &str = "\x1b[33m";
pub(crate) const GREEN: &str = "\x1b[32m";
pub(crate) const BLUE: &str = "\x1b[34m";
pub(crate) const MAGENTA: &str = "\x1b[35m";

impl Paint {
    pub(crate) fn level_color(level: Level) -> &'static str {
        match level {
            Level::Error => "\x1b[1;31m",
            Level::Warn => YELLOW,
            Level::Info => GREEN,
            Level::Debug => BLUE,
            Level::Trace => MAGENTA,
        }
    }

    /// Appends `text` (already clean) in `color` when colours are on.
    pub(crate) fn push(&self, buf: &mut String, color: &str, text: &str) {
        if self.on {
            buf.push_str(color);
            buf.push_str(text);
            buf.push_str(RESET);
        } else {
            buf.push_str(text);
        }
    }
}

/// Continuation lines of a multi-line message start with this: a record's
/// own line starts with its time, so a newline in stored text can never pass
/// for a record of its own.
pub(crate) const CONTINUATION: &str = "    ";

/// A record for people: time, level, logger, the message's first line, the
/// fields (`key=value`, logfmt-quoted where needed), then each further line
/// of the message indented by [`CONTINUATION`]. A line break is LF or CRLF;
/// trailing line breaks are dropped; every other control character is shown
/// as an escape.
pub(crate) fn line(buf: &mut String, r: &StoredRecord, clock: &Clock, paint: Paint) {
    buf.push_str(&clock.short(r.ts));
    buf.push(' ');
    paint.push(buf, Paint::level_color(r.level), &format!("{:<5}", r.level.as_str()));
    buf.push(' ');
    let logger = clean(&r.logger);
    paint.push(buf, DIM, &logger);
    buf.push_str(": ");
    let mut lines = r.message.trim_end_matches(['\n', '\r']).split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    clean_into(buf, lines.next().unwrap_or_default());
    if !r.context.is_empty() {
        let mut fields = String::new();
        for (k, v) in &r.context {
            fields.push(' ');
            value_into(&mut fields, k);
            fields.push('=');
            match v {
                serde_json::Value::String(s) => value_into(&mut fields, s),
                other => value_into(&mut fields, &other.to_string()),
            }
        }
        buf.push(' ');
        paint.push(buf, DIM, fields.trim_start());
    }
    buf.push('\n');
    for more in lines {
        buf.push_str(CONTINUATION);
        clean_into(buf, more);
        buf.push('\n');
    }
}

/// Appends a field's key or value as logfmt does: bare when it is a plain
/// word, else in double quotes with `"` and `\` escaped (then control
/// characters as escapes), so one can always tell where a field ends and a
/// stored `\n` from a newline (`"a\\nb"` against `"a\nb"`).
pub(crate) fn value_into(buf: &mut String, s: &str) {
    let bare = !s.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '=' | '\\'))
        && matches!(log_panel_core::escape_controls(s, false), std::borrow::Cow::Borrowed(_));
    if bare {
        buf.push_str(s);
        return;
    }
    let quoted = s.replace('\\', "\\\\").replace('"', "\\\"");
    buf.push('"');
    clean_into(buf, &quoted);
    buf.push('"');
}

/// Columns a clean string takes on a terminal (wide characters count two).
pub(crate) fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Appends clean `text` in `color`, padded with spaces to `columns`, on the
/// left (`right`: numbers) or on the right; padding stays outside the colour.
pub(crate) fn cell_into(buf: &mut String, paint: Paint, color: &str, text: &str, columns: usize, right: bool) {
    let pad = " ".repeat(columns.saturating_sub(width(text)));
    if right {
        buf.push_str(&pad);
    }
    if color.is_empty() {
        buf.push_str(text);
    } else {
        paint.push(buf, color, text);
    }
    if !right {
        buf.push_str(&pad);
    }
}

/// The most columns a name column (logger, call site) is padded to: a
/// longer name is written whole and its row goes on on the next line, under
/// the column's end, so one 120-character logger does not push every row of
/// `stats` and `sites` past a 160-column terminal.
pub(crate) const NAME_COLUMN: usize = 40;

/// Appends a left-aligned name cell of `columns` that starts `at` columns
/// into the line: a name wider than `columns` is written whole, then a new
/// line and `at + columns` spaces, so the next cell lands under its header.
pub(crate) fn name_cell_into(buf: &mut String, paint: Paint, text: &str, columns: usize, at: usize) {
    if width(text) <= columns {
        cell_into(buf, paint, "", text, columns, false);
        return;
    }
    buf.push_str(text);
    buf.push('\n');
    buf.push_str(&" ".repeat(at + columns));
}

/// A record as JSON: every column, the time as RFC 3339 in the display zone.
#[derive(Serialize)]
pub(crate) struct JsonRecord<'a> {
    id: i64,
    ts: String,
    level: &'static str,
    logger: &'a str,
    message: &'a str,
    module: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<u32>,
    thread: &'a str,
    pid: u32,
    host: &'a str,
    app: &'a str,
    context: &'a serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_size: Option<u64>,
}

impl<'a> JsonRecord<'a> {
    pub(crate) fn new(r: &'a StoredRecord, clock: &Clock) -> JsonRecord<'a> {
        JsonRecord {
            id: r.id,
            ts: clock.rfc3339(r.ts),
            level: level_name(r.level),
            logger: &r.logger,
            message: &r.message,
            module: r.module.as_deref(),
            file: r.file.as_deref(),
            line: r.line,
            thread: &r.thread,
            pid: r.pid,
            host: &r.host,
            app: &r.app,
            context: &r.context,
            original_size: r.original_size,
        }
    }
}

/// A record as one line of JSON. serde_json escapes C0 controls; DEL, the C1
/// controls and bidirectional overrides are escaped here too (`\u009b` is the
/// same JSON string), so the text is safe even when printed on a terminal.
fn json(r: &StoredRecord, clock: &Clock) -> Result<String, CliError> {
    let text = serde_json::to_string(&JsonRecord::new(r, clock)).map_err(|e| out(e.into()))?;
    if !text.chars().any(needs_json_escape) {
        return Ok(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_json_escape(c) {
            let _ = write!(safe, "\\u{:04x}", c as u32);
        } else {
            safe.push(c);
        }
    }
    Ok(safe)
}

fn needs_json_escape(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub(crate) const CSV_HEADER: [&str; 14] = [
    "id",
    "ts",
    "level",
    "logger",
    "message",
    "module",
    "file",
    "line",
    "thread",
    "pid",
    "host",
    "app",
    "context",
    "original_size",
];

/// Writes records in one format, page after page, holding nothing but the current one.
pub(crate) enum RecordWriter<W: Write> {
    Table { w: W, paint: Paint },
    Json { w: W, first: bool },
    Ndjson { w: W },
    Csv { w: Box<csv::Writer<W>>, neutralise: bool },
}

impl<W: Write> RecordWriter<W> {
    pub(crate) fn table(w: W, paint: Paint) -> Self {
        RecordWriter::Table { w, paint }
    }

    pub(crate) fn json(mut w: W) -> Result<Self, CliError> {
        w.write_all(b"[").map_err(out)?;
        Ok(RecordWriter::Json { w, first: true })
    }

    pub(crate) fn ndjson(w: W) -> Self {
        RecordWriter::Ndjson { w }
    }

    /// CSV; `neutralise` (output on a terminal) escapes control characters in fields.
    pub(crate) fn csv(w: W, neutralise: bool) -> Result<Self, CliError> {
        let mut w = csv::Writer::from_writer(w);
        w.write_record(CSV_HEADER)?;
        Ok(RecordWriter::Csv { w: Box::new(w), neutralise })
    }

    pub(crate) fn write(&mut self, r: &StoredRecord, clock: &Clock) -> Result<(), CliError> {
        match self {
            RecordWriter::Table { w, paint } => {
                let mut buf = String::new();
                line(&mut buf, r, clock, *paint);
                w.write_all(buf.as_bytes()).map_err(out)
            }
            RecordWriter::Json { w, first } => {
                if !*first {
                    w.write_all(b",").map_err(out)?;
                }
                *first = false;
                w.write_all(b"\n").map_err(out)?;
                w.write_all(json(r, clock)?.as_bytes()).map_err(out)
            }
            RecordWriter::Ndjson { w } => {
                let mut text = json(r, clock)?;
                text.push('\n');
                w.write_all(text.as_bytes()).map_err(out)
            }
            RecordWriter::Csv { w, neutralise } => {
                let context = serde_json::Value::Object(r.context.clone()).to_string();
                let opt = |v: Option<&str>| v.unwrap_or("").to_owned();
                let fields = [
                    r.id.to_string(),
                    clock.rfc3339(r.ts),
                    level_name(r.level).to_owned(),
                    r.logger.clone(),
                    r.message.clone(),
                    opt(r.module.as_deref()),
                    opt(r.file.as_deref()),
                    r.line.map(|l| l.to_string()).unwrap_or_default(),
                    r.thread.clone(),
                    r.pid.to_string(),
                    r.host.clone(),
                    r.app.clone(),
                    context,
                    r.original_size.map(|s| s.to_string()).unwrap_or_default(),
                ];
                if *neutralise {
                    w.write_record(fields.iter().map(|f| clean(f)))?;
                } else {
                    w.write_record(&fields)?;
                }
                Ok(())
            }
        }
    }

    /// Pushes what is buffered (after each page of a live tail).
    pub(crate) fn flush(&mut self) -> Result<(), CliError> {
        match self {
            RecordWriter::Table { w, .. } | RecordWriter::Json { w, .. } | RecordWriter::Ndjson { w } => {
                w.flush().map_err(out)
            }
            RecordWriter::Csv { w, .. } => w.flush().map_err(out),
        }
    }

    /// Ends the output (closes a JSON array) and flushes.
    pub(crate) fn finish(mut self) -> Result<(), CliError> {
        if let RecordWriter::Json { w, first } = &mut self {
            w.write_all(if *first { b"]\n" as &[u8] } else { b"\n]\n" }).map_err(out)?;
        }
        self.flush()
    }
}

/// Writes `text` to standard output, mapping errors.
pub(crate) fn print(w: &mut impl Write, text: &str) -> Result<(), CliError> {
    w.write_all(text.as_bytes()).map_err(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("a\x1b[31mred\0b\nc\rd\te\x7f"), "a\\e[31mred\\0b\\nc\\rd\\te\\x7f");
        assert_eq!(clean("csi\u{9b}2J rtl\u{202e}x"), "csi\\u{9b}2J rtl\\u{202e}x");
        assert_eq!(clean("plain ünïcode ✓"), "plain ünïcode ✓");
    }

    #[test]
    fn a_line_never_carries_escapes_from_the_record() {
        let mut r = StoredRecord::default();
        r.logger = "evil\x1b]0;title\x07".into();
        r.message = "one\ntwo\x1b[2J".into();
        r.context.insert("k\x1b".into(), serde_json::json!("v\0w"));
        r.context.insert("n".into(), serde_json::json!({"x": "\x1b"}));
        let clock = Clock::new(true);
        let mut buf = String::new();
        line(&mut buf, &r, &clock, Paint { on: false });
        assert!(!buf.contains('\x1b') && !buf.contains('\0') && !buf.contains('\x07'), "{buf:?}");
        // The newline starts an indented continuation line, never a line of its own.
        assert!(
            buf.ends_with(": one \"k\\e\"=\"v\\0w\" n=\"{\\\"x\\\":\\\"\\\\u001b\\\"}\"\n    two\\e[2J\n"),
            "{buf:?}"
        );
    }

    #[test]
    fn values_are_bare_words_or_quoted_logfmt() {
        let v = |s: &str| {
            let mut buf = String::new();
            value_into(&mut buf, s);
            buf
        };
        assert_eq!(v("u-42"), "u-42");
        assert_eq!(v(""), "\"\"");
        assert_eq!(v("Mozilla/5.0 (X11)"), "\"Mozilla/5.0 (X11)\"");
        assert_eq!(v("a=b"), "\"a=b\"");
        assert_eq!(v("say \"hi\""), "\"say \\\"hi\\\"\"");
        // A stored backslash-n and a newline stay apart.
        assert_eq!(v("a\\nb"), "\"a\\\\nb\"");
        assert_eq!(v("a\nb\x1b"), "\"a\\nb\\e\"");
        assert_eq!(v("rtl\u{202e}"), "\"rtl\\u{202e}\"");
        assert_eq!(v("non\u{a0}breaking"), "\"non\u{a0}breaking\"");
    }

    #[test]
    fn cells_pad_by_display_width_outside_the_colour() {
        let mut buf = String::new();
        cell_into(&mut buf, Paint { on: false }, RED, "计费", 6, false);
        cell_into(&mut buf, Paint { on: true }, RED, "7", 3, true);
        assert_eq!(buf, "计费  |  \x1b[31m7\x1b[0m".replace('|', ""));
    }
}
