//! One rule for every storage, applied by the writer before a record is
//! batched (so the spool, SQLite, PostgreSQL and custom sinks all see the
//! same record; see `docs/schema.md`):
//!
//! - a logger name (target) or key longer than [`MAX_NAME_BYTES`] is cut at a
//!   character boundary and ends with `…[cut]`;
//! - NUL characters, which PostgreSQL cannot store in text, become U+FFFD
//!   everywhere (logger, message, thread, call site, keys and values).

use log_panel_core::record::cut;
use log_panel_core::{Record, Text, Value};

/// The longest logger name or key stored, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// What [`make_storable`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    /// Names cut to [`MAX_NAME_BYTES`].
    pub(crate) cut: u64,
    /// Whether NUL characters were replaced.
    pub(crate) sanitised: bool,
}

pub(crate) fn make_storable(record: &mut Record) -> Changed {
    let mut changed = Changed::default();
    if has_nul(record) {
        *record = record.sanitised();
        changed.sanitised = true;
    }
    if let Some(short) = cut(&record.logger, MAX_NAME_BYTES) {
        record.logger = Text::Owned(short);
        changed.cut += 1;
    }
    for (key, _) in &mut record.kv {
        if let Some(short) = cut(key, MAX_NAME_BYTES) {
            *key = Text::Owned(short);
            changed.cut += 1;
        }
    }
    changed
}

fn has_nul(r: &Record) -> bool {
    let nul = |s: &str| s.as_bytes().contains(&0);
    nul(&r.message)
        || nul(&r.logger)
        || nul(&r.thread)
        || r.module_path.as_deref().is_some_and(nul)
        || r.file.as_deref().is_some_and(nul)
        || r.fields().any(|(k, v)| nul(k) || matches!(v, Value::Str(s) if nul(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::Level;

    #[test]
    fn long_names_are_cut_at_a_char_boundary_and_nul_replaced() {
        let long = "é".repeat(1000); // 2000 bytes
        let mut r = Record::new(Level::Info, long.clone(), "m\0");
        r.kv.push((Text::Owned(long.clone()), Value::from("v\0")));
        let changed = make_storable(&mut r);
        assert_eq!(changed, Changed { cut: 2, sanitised: true });
        assert_eq!(r.logger, format!("{}…[cut]", "é".repeat(512)));
        assert_eq!(r.kv[0].0.len(), 1024 + "…[cut]".len());
        assert_eq!((r.message.as_ref(), &r.kv[0].1), ("m\u{FFFD}", &Value::from("v\u{FFFD}")));
        let mut clean = Record::new(Level::Info, "a::b", "fine");
        assert_eq!(make_storable(&mut clean), Changed::default());
    }
}
