//! Encoding records as PostgreSQL binary `COPY` tuples, by hand, into one
//! reusable buffer: no per-record allocation, no per-value dynamic dispatch.
//!
//! Text PostgreSQL cannot store is sanitised: a NUL character (`\0`) in any
//! text column (here) or in a context key or value (by the JSON encoder all
//! sinks share, `log_panel_core::json`) is replaced by U+FFFD (the Unicode
//! replacement character, `�`). Rust strings are valid UTF-8, so
//! nothing else needs fixing. Timestamps before PostgreSQL's earliest
//! (4714-11-24 BC) are clamped to it, which also counts as sanitised.

use std::borrow::Cow;

use log_panel_core::{severity, without_nul, Origin, Record};
use postgres::types::Type;

/// The columns written, in order (everything but `id`).
pub const COLUMNS: &str =
    "ts, level, logger, message, module, file, line, thread, pid, host, app, context, original_size";

/// The `COPY` statement the sink runs.
pub const COPY_SQL: &str = "COPY log_records (ts, level, logger, message, module, file, line, thread, pid, host, app, \
                            context, original_size) FROM STDIN (FORMAT binary)";

/// The PostgreSQL type of each of [`COLUMNS`], in order: what a raw
/// `BinaryCopyInWriter` over [`COPY_SQL`] needs (the benchmarks use it).
pub const COLUMN_TYPES: [Type; 13] = [
    Type::TIMESTAMPTZ,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::INT8,
];

const FIELD_COUNT: i16 = COLUMN_TYPES.len() as i16;
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// PostgreSQL's earliest timestamp (4714-11-24 00:00 BC), in microseconds since 2000-01-01.
const PG_MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;

/// Appends binary COPY data to a byte buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    dirty: bool,
}

impl Encoder {
    /// An encoder with an empty buffer.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The encoded bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Writes the binary COPY header.
    pub fn header(&mut self) {
        self.buf.extend_from_slice(SIGNATURE);
        self.buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        self.buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    }

    /// Writes the end-of-data marker.
    pub fn trailer(&mut self) {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
    }

    /// Encodes one record as a tuple. Returns whether anything had to be sanitised.
    pub fn record(&mut self, origin: &Origin, r: &Record) -> bool {
        self.dirty = false;
        self.buf.extend_from_slice(&FIELD_COUNT.to_be_bytes());
        // ts
        let mut pg_ts = r.timestamp.as_micros().saturating_sub(PG_EPOCH_OFFSET_MICROS);
        if pg_ts < PG_MIN_TIMESTAMP {
            pg_ts = PG_MIN_TIMESTAMP;
            self.dirty = true;
        }
        self.fixed(&pg_ts.to_be_bytes());
        // level
        self.fixed(&severity(r.level).to_be_bytes());
        self.text(&r.logger);
        self.text(&r.message);
        match &r.module_path {
            Some(m) => self.text(m),
            None => self.null(),
        }
        match &r.file {
            Some(f) => self.text(f),
            None => self.null(),
        }
        match r.line {
            Some(l) => self.fixed(&i32::try_from(l).unwrap_or(i32::MAX).to_be_bytes()),
            None => self.null(),
        }
        self.text(&r.thread);
        self.fixed(&i32::try_from(origin.pid).unwrap_or(i32::MAX).to_be_bytes());
        self.text(&origin.host);
        self.text(&origin.app);
        self.context(r);
        match r.original_size {
            Some(n) => self.fixed(&i64::try_from(n).unwrap_or(i64::MAX).to_be_bytes()),
            None => self.null(),
        }
        self.dirty
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn fixed(&mut self, bytes: &[u8]) {
        // Field widths are 2, 4 or 8 bytes.
        self.buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    /// Reserves a length prefix and returns its position.
    fn open(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Fills in the length prefix reserved at `at`.
    fn close(&mut self, at: usize) {
        let len = self.buf.len() - at - 4;
        // A single field over 2 GiB is impossible to send anyway; the server rejects it.
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    fn text(&mut self, s: &str) {
        let clean = without_nul(s);
        self.dirty |= matches!(clean, Cow::Owned(_));
        self.fixed_len_bytes(clean.as_bytes());
    }

    fn fixed_len_bytes(&mut self, bytes: &[u8]) {
        match i32::try_from(bytes.len()) {
            Ok(len) => {
                self.buf.extend_from_slice(&len.to_be_bytes());
                self.buf.extend_from_slice(bytes);
            }
            Err(_) => {
                // Longer than PostgreSQL can hold (1 GB); store the start, mark sanitised.
                self.dirty = true;
                let mut end = (1 << 29).min(bytes.len());
                while end > 0 && (bytes[end] & 0xC0) == 0x80 {
                    end -= 1;
                }
                self.fixed_len_bytes(&bytes[..end]);
            }
        }
    }

    /// The merged fields as a `jsonb` value: version byte 1, then the JSON
    /// text every sink stores (NUL characters already replaced there).
    fn context(&mut self, r: &Record) {
        let at = self.open();
        self.buf.push(1);
        self.dirty |= r.write_fields_json(&mut self.buf);
        self.close(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::{Context, Level, Timestamp, Value};

    fn origin() -> Origin {
        Origin::new("a", "h", 1)
    }

    fn context_json(r: &Record) -> (String, bool) {
        let mut e = Encoder::new();
        let dirty = e.record(&origin(), r);
        // The context is the 12th field; walk the tuple.
        let b = e.bytes();
        let mut pos = 2;
        let mut out = String::new();
        for field in 0..13 {
            let len = i32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
            pos += 4;
            if len >= 0 {
                let len = usize::try_from(len).unwrap_or(0);
                if field == 11 {
                    assert_eq!(b[pos], 1, "jsonb version byte");
                    out = String::from_utf8(b[pos + 1..pos + len].to_vec()).unwrap_or_default();
                }
                pos += len;
            }
        }
        assert_eq!(pos, b.len());
        (out, dirty)
    }

    #[test]
    fn json_matches_core_and_is_valid() {
        let mut r = Record::new(Level::Info, "t", "m");
        r.timestamp = Timestamp(0);
        r.context = Context::from_pairs([("a", Value::from(1)), ("q\"\\\n\u{1}", Value::from("x\ty\u{7f}é"))]);
        r.kv.push(("f".into(), Value::F64(1.5)));
        r.kv.push(("nan".into(), Value::F64(f64::NAN)));
        r.kv.push(("big".into(), Value::U64(u64::MAX)));
        r.kv.push(("b".into(), Value::Bool(false)));
        r.kv.push(("n".into(), Value::Null));
        let (json, dirty) = context_json(&r);
        assert!(!dirty);
        let mut core = String::new();
        r.write_fields_json(&mut core);
        // Byte for byte the JSON every other sink stores.
        assert_eq!(json, core);
        let ours: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let theirs: serde_json::Value = serde_json::from_str(&core).unwrap_or_default();
        assert_eq!(ours, theirs, "{json} vs {core}");
        assert!(ours.is_object());
    }

    #[test]
    fn nul_is_replaced_and_flagged() {
        let mut r = Record::new(Level::Info, "t", "m");
        r.kv.push(("k\0".into(), Value::from("v\0v")));
        let (json, dirty) = context_json(&r);
        assert!(dirty);
        assert_eq!(json, "{\"k\u{FFFD}\":\"v\u{FFFD}v\"}");
        let mut e = Encoder::new();
        assert!(e.record(&origin(), &Record::new(Level::Info, "t", "a\0b")));
        assert!(!e.record(&origin(), &Record::new(Level::Info, "t", "ab")));
    }
}
