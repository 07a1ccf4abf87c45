//! Which records of a batch a storage already holds, by content: for a
//! batch that may have been stored before its writer could know (a spool
//! left by an earlier process, replayed after a restart, holding a batch
//! whose commit went unacknowledged). A storage lists its stored rows of the
//! batch's origin in the batch's time span, and [`Unstored`] matches them
//! to the records one for one by time, logger, thread and message, as
//! stored (NUL characters replaced): two identical records need two stored
//! rows, so a record logged twice is stored twice.
//!
//! ```
//! use log_panel_core::stored::Unstored;
//! use log_panel_core::{Level, Record};
//!
//! let records = [Record::new(Level::Info, "app", "twice"), Record::new(Level::Info, "app", "twice")];
//! let mut unstored = Unstored::of(&records, |r| r.timestamp.as_micros());
//! let first = &records[0];
//! // One row: it stands for one of the two.
//! unstored.stored(first.timestamp.as_micros(), &first.logger, &first.thread, &first.message);
//! assert_eq!(unstored.rest(&records).len(), 1);
//! ```

use std::collections::HashMap;

use crate::{without_nul, Record};

/// FNV-1a of `bytes`: stable across runs and builds (unlike std's hasher),
/// so it can place data (a shard) as well as tell contents apart.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// One hash of several byte strings in order, each prefixed by its length
/// (so `("ab", "c")` and `("a", "bc")` differ).
pub fn content_key<'a>(texts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut bytes = Vec::new();
    for t in texts {
        bytes.extend_from_slice(&(t.len() as u64).to_le_bytes());
        bytes.extend_from_slice(t);
    }
    fnv(&bytes)
}

/// A record's identity by content: its stored time (µs) and a hash of its
/// stored logger, thread and message.
type Key = (i64, u64);

fn stored_key(ts: i64, logger: &[u8], thread: &[u8], message: &[u8]) -> Key {
    (ts, content_key([logger, thread, message]))
}

fn record_key(r: &Record, ts: i64) -> Key {
    let texts = [without_nul(&r.logger), without_nul(&r.thread), without_nul(&r.message)];
    stored_key(ts, texts[0].as_bytes(), texts[1].as_bytes(), texts[2].as_bytes())
}

/// The records of one batch against the rows a storage lists for them
/// (see the [module documentation](self)). Its memory is bounded by the
/// batch: a listed row that matches no record left is not kept.
#[derive(Debug)]
pub struct Unstored<F> {
    /// How many records of the batch have each key.
    wanted: HashMap<Key, usize>,
    /// How many listed rows matched each key, at most `wanted`.
    matched: HashMap<Key, usize>,
    /// A record's time as the storage keeps it (µs; a storage may clamp it).
    stored_ts: F,
}

impl<F: Fn(&Record) -> i64> Unstored<F> {
    /// Starts matching rows to `records`; `stored_ts` gives a record's time
    /// (µs) as the storage keeps it.
    pub fn of(records: &[Record], stored_ts: F) -> Unstored<F> {
        let mut wanted: HashMap<Key, usize> = HashMap::with_capacity(records.len());
        for r in records {
            *wanted.entry(record_key(r, stored_ts(r))).or_default() += 1;
        }
        Unstored { wanted, matched: HashMap::new(), stored_ts }
    }

    /// A stored row of the batch's origin: its time (µs) and its logger,
    /// thread and message as stored. It stands for one record at most.
    pub fn stored(&mut self, ts: i64, logger: &str, thread: &str, message: &str) {
        self.stored_bytes(ts, logger.as_bytes(), thread.as_bytes(), message.as_bytes());
    }

    /// [`stored`](Unstored::stored) for a storage that hands text back as bytes.
    pub fn stored_bytes(&mut self, ts: i64, logger: &[u8], thread: &[u8], message: &[u8]) {
        let key = stored_key(ts, logger, thread, message);
        let Some(&wanted) = self.wanted.get(&key) else { return };
        let matched = self.matched.entry(key).or_default();
        if *matched < wanted {
            *matched += 1;
        }
    }

    /// Whether some listed row matched a record.
    pub fn any_stored(&self) -> bool {
        !self.matched.is_empty()
    }

    /// The records no listed row matched, in their order (`records` being
    /// the batch given to [`of`](Unstored::of)).
    pub fn rest(mut self, records: &[Record]) -> Vec<Record> {
        let mut rest = Vec::with_capacity(records.len());
        for r in records {
            match self.matched.get_mut(&record_key(r, (self.stored_ts)(r))) {
                Some(n) if *n > 0 => *n -= 1,
                _ => rest.push(r.clone()),
            }
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, Timestamp};

    fn at(micros: i64, message: &'static str) -> Record {
        let mut r = Record::new(Level::Info, "a", message);
        r.timestamp = Timestamp(micros);
        r
    }

    fn as_stored(u: &mut Unstored<impl Fn(&Record) -> i64>, r: &Record) {
        u.stored(r.timestamp.as_micros(), &without_nul(&r.logger), &without_nul(&r.thread), &without_nul(&r.message));
    }

    #[test]
    fn rows_match_records_one_for_one() {
        let records = [at(1, "x"), at(1, "x"), at(1, "y"), at(2, "x"), at(3, "nul\0")];
        let micros = |r: &Record| r.timestamp.as_micros();
        let mut u = Unstored::of(&records, micros);
        assert!(!u.any_stored());
        // One row for the twins, and the NUL record as stored.
        as_stored(&mut u, &records[0]);
        as_stored(&mut u, &records[4]);
        as_stored(&mut u, &at(9, "not in the batch"));
        assert!(u.any_stored());
        let rest = u.rest(&records);
        let messages: Vec<(i64, &str)> = rest.iter().map(|r| (r.timestamp.as_micros(), &*r.message)).collect();
        assert_eq!(messages, [(1, "x"), (1, "y"), (2, "x")]);
        // Three rows for two twins: both stored, the third row stands for none.
        let mut u = Unstored::of(&records, micros);
        for _ in 0..3 {
            as_stored(&mut u, &records[0]);
        }
        assert_eq!(u.rest(&records).len(), 3);
    }

    #[test]
    fn the_storage_time_is_what_is_compared() {
        let records = [at(-5, "old")];
        let mut u = Unstored::of(&records, |r| r.timestamp.as_micros().max(0));
        u.stored(0, "a", &records[0].thread, "old");
        assert!(u.rest(&records).is_empty());
    }

    #[test]
    fn texts_are_told_apart_by_their_bounds() {
        assert_ne!(content_key([&b"ab"[..], b"c"]), content_key([&b"a"[..], b"bc"]));
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
    }
}
