//! Records as ClickHouse `RowBinary` rows, by hand, into one reusable
//! buffer: the columns of [`crate::schema::INSERT_COLUMNS`], little-endian
//! numbers, strings as a LEB128 length and the bytes, `Nullable` as a 0/1
//! byte before the value, arrays as a LEB128 count and the items.
//!
//! Sanitised as the other storages do, so every storage holds the same
//! text: NUL in any text becomes U+FFFD (the filter contract says stored
//! text holds no NUL), and a time outside `DateTime`'s range (1970–2106)
//! is clamped for the `time` column (the microseconds in `ts` are kept).

use std::borrow::Cow;

use log_panel_core::{severity, without_nul, Origin, Record};

/// The largest second a `DateTime` holds.
const MAX_DATETIME: i64 = u32::MAX as i64;

/// The UTC day (days since the epoch) a record's row is partitioned by.
pub fn day_of(micros: i64) -> i64 {
    seconds(micros).div_euclid(86_400)
}

/// A record's time in seconds as its `time` column stores it (clamped).
pub(crate) fn seconds(micros: i64) -> i64 {
    micros.div_euclid(1_000_000).clamp(0, MAX_DATETIME)
}

/// The identity of a row's insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insert {
    /// The writer (random per sink).
    pub writer: u64,
    /// The batch's number.
    pub batch: u64,
}

/// A reusable buffer of encoded rows.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    json: String,
    keys: Vec<String>,
    values: Vec<String>,
    dirty: bool,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The rows encoded since the last [`clear`](Encoder::clear).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the rows encoded.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Appends one row; returns whether a value had to be sanitised.
    pub fn record(&mut self, id: i64, origin: &Origin, r: &Record, insert: Insert) -> bool {
        self.dirty = false;
        let micros = r.timestamp.as_micros();
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&micros.to_le_bytes());
        let secs = seconds(micros);
        self.dirty |= secs != micros.div_euclid(1_000_000);
        // `seconds` clamps to u32's range.
        self.buf.extend_from_slice(&u32::try_from(secs).unwrap_or(u32::MAX).to_le_bytes());
        self.buf.extend_from_slice(&severity(r.level).to_le_bytes());
        self.text(&r.logger);
        self.text(&r.message);
        self.nullable_text(r.module_path.as_deref());
        self.nullable_text(r.file.as_deref());
        match r.line {
            Some(line) => {
                self.buf.push(0);
                self.buf.extend_from_slice(&line.to_le_bytes());
            }
            None => self.buf.push(1),
        }
        self.text(&r.thread);
        self.buf.extend_from_slice(&origin.pid.to_le_bytes());
        self.text(&origin.host);
        self.text(&origin.app);
        self.context(r);
        match r.original_size {
            Some(n) => {
                self.buf.push(0);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            None => self.buf.push(1),
        }
        self.buf.extend_from_slice(&insert.writer.to_le_bytes());
        self.buf.extend_from_slice(&insert.batch.to_le_bytes());
        self.dirty
    }

    fn len(&mut self, n: usize) {
        let mut n = n as u64;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    fn text(&mut self, s: &str) {
        let clean = without_nul(s);
        self.dirty |= matches!(clean, Cow::Owned(_));
        self.len(clean.len());
        self.buf.extend_from_slice(clean.as_bytes());
    }

    fn nullable_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.buf.push(0);
                self.text(s);
            }
            None => self.buf.push(1),
        }
    }

    /// The context's JSON text (the encoder every storage shares), then its
    /// top-level keys and typed values (see [`crate::schema`]).
    fn context(&mut self, r: &Record) {
        self.json.clear();
        self.dirty |= r.write_fields_json(&mut self.json);
        self.keys.clear();
        self.values.clear();
        // The JSON was written by core's encoder a moment ago: it parses.
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&self.json) {
            for (k, v) in map {
                self.values.push(typed_value(&v));
                self.keys.push(k);
            }
        }
        let json = std::mem::take(&mut self.json);
        self.text(&json);
        self.json = json;
        let keys = std::mem::take(&mut self.keys);
        self.len(keys.len());
        for k in &keys {
            self.text(k);
        }
        self.keys = keys;
        let values = std::mem::take(&mut self.values);
        self.len(values.len());
        for v in &values {
            self.text(v);
        }
        self.values = values;
    }
}

/// A context value as `context_values` holds it: `s:` text, `n:` number,
/// `b:` boolean, `j:` any other JSON.
pub fn typed_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("s:{s}"),
        serde_json::Value::Number(n) => format!("n:{n}"),
        serde_json::Value::Bool(b) => format!("b:{b}"),
        other => format!("j:{other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use log_panel_core::Level;

    #[test]
    fn lengths_are_leb128() {
        let mut e = Encoder::new();
        e.len(1);
        e.len(300);
        assert_eq!(e.bytes(), [1, 0xac, 0x02]);
    }

    #[test]
    fn nul_is_replaced_and_counted() {
        let mut e = Encoder::new();
        let origin = Origin::new("app", "host", 7);
        let r = Record::new(Level::Info, "a", "x\0y");
        assert!(e.record(1, &origin, &r, Insert { writer: 1, batch: 1 }));
        let cleaned = "x\u{FFFD}y".as_bytes();
        assert!(e.bytes().windows(cleaned.len()).any(|w| w == cleaned), "NUL stored as U+FFFD");
        assert_eq!(day_of(86_400_000_000), 1);
        assert_eq!(day_of(-1), 0, "clamped to the epoch");
    }

    #[test]
    fn values_keep_their_type() {
        assert_eq!(typed_value(&serde_json::json!("7")), "s:7");
        assert_eq!(typed_value(&serde_json::json!(7)), "n:7");
        assert_eq!(typed_value(&serde_json::json!(true)), "b:true");
        assert_eq!(typed_value(&serde_json::json!([1])), "j:[1]");
    }
}
