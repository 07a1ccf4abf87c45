//! How far a store's lookup indexes are behind its records
//! ([`Store::index_lag`](crate::Store::index_lag)), and the one-line note a
//! face shows when a filter reads an index that lags.
//!
//! SQLite and PostgreSQL fill their message search index and context-key
//! side table off the burst path (the writer's idle steps), each up to a
//! mark; a read uses the index up to the mark and scans the records above
//! it, so answers stay complete at any lag, but the scan is what a user
//! waits on. Issue 24: "a user must never meet a silent scan".

use std::fmt;

use crate::{RecordFilter, Store};

/// How many records one index has not covered yet (the records above its
/// mark, which a read scans).
///
/// ```
/// use log_panel_query::Behind;
/// // 12 records above the mark: counted exactly.
/// let small = Behind::measure(88, Some(100), |_cap| Ok::<_, ()>(12)).unwrap();
/// assert_eq!((small.records, small.exact), (12, true));
/// assert_eq!(small.to_string(), "12 records");
/// // A lag past the count's cap is the span of ids above the mark, an upper bound.
/// let large = Behind::measure(0, Some(10_000_000), |cap| Ok::<_, ()>(cap)).unwrap();
/// assert_eq!((large.records, large.exact), (10_000_000, false));
/// assert_eq!(large.to_string(), "about 10\u{202f}000\u{202f}000 records");
/// assert!(!Behind::default().is_behind());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Behind {
    /// Records above the index's mark: counted when [`exact`](Self::exact),
    /// otherwise the newest id minus the mark (an upper bound: it also counts
    /// ids that were never committed or were deleted).
    pub records: u64,
    /// Whether [`records`](Self::records) was counted.
    pub exact: bool,
}

/// Nothing behind (counted: none).
impl Default for Behind {
    fn default() -> Behind {
        Behind::counted(0)
    }
}

impl Behind {
    /// The most records [`measure`](Self::measure) counts one by one. A
    /// count walks the id index: 1 000 entries cost ~0.1 ms warm on the
    /// 10 M-record SQLite file where 10 000 cost ~0.9 ms, the whole budget
    /// of the note on a search page (docs/performance.md, "Index lag").
    pub const COUNTED_UP_TO: u64 = 1_000;

    /// An index `records` records behind, counted.
    pub fn counted(records: u64) -> Behind {
        Behind { records, exact: true }
    }

    /// How far an index whose mark is `mark` is behind records whose newest
    /// id is `newest` (`None`: no record). Bounded whatever the lag: nothing
    /// is counted when the mark is at or past the newest id (the usual
    /// case); otherwise `count_above(cap)` counts the records above the mark,
    /// at most `cap` ([`COUNTED_UP_TO`](Self::COUNTED_UP_TO)), and when it
    /// reaches the cap the answer is the ids' span instead, marked not
    /// exact. Ids are unique integers, so the span is never below the count.
    pub fn measure<E>(
        mark: i64,
        newest: Option<i64>,
        count_above: impl FnOnce(u64) -> Result<u64, E>,
    ) -> Result<Behind, E> {
        let span = newest.map_or(0, |n| u64::try_from(n.saturating_sub(mark)).unwrap_or(0));
        if span == 0 {
            return Ok(Behind::default());
        }
        let counted = count_above(Self::COUNTED_UP_TO)?;
        Ok(if counted < Self::COUNTED_UP_TO {
            Behind::counted(counted)
        } else {
            Behind { records: span, exact: false }
        })
    }

    /// Whether any record is above the mark.
    pub fn is_behind(&self) -> bool {
        self.records > 0
    }
}

/// `12 records`, `1 record`, `about 10 000 000 records` (digits grouped by a
/// narrow no-break space, as [`grouped`] writes them).
impl fmt::Display for Behind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let about = if self.exact { "" } else { "about " };
        let noun = if self.records == 1 { "record" } else { "records" };
        write!(f, "{about}{} {noun}", grouped(self.records))
    }
}

/// How far each lookup index of a store is behind its records; the default,
/// nothing behind, is a store without an index that lags (ClickHouse fills
/// its context side table by materialised views as rows are inserted).
///
/// ```
/// use log_panel_query::{Behind, IndexLag, RecordFilter};
/// let lag = IndexLag::new(Behind::counted(12), Behind::default());
/// let mut search = RecordFilter::default();
/// search.text = Some("timeout".into());
/// assert_eq!(
///     lag.note(&search).as_deref(),
///     Some("search index 12 records behind: the newest 12 records are scanned (results stay complete)")
/// );
/// // The context-key index is not behind, and an unfiltered page reads neither.
/// let mut by_user = RecordFilter::default();
/// by_user.fields.push("user_id=7".parse()?);
/// assert_eq!(lag.note(&by_user), None);
/// assert_eq!(lag.note(&RecordFilter::default()), None);
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IndexLag {
    /// The message search index (text filters).
    pub search: Behind,
    /// The context-key side table (`key=value` and `key>=n` filters, a
    /// request's records). The same as `search` where one side table serves
    /// both (PostgreSQL's `log_search`).
    pub context: Behind,
}

impl IndexLag {
    /// The lag of each index.
    pub fn new(search: Behind, context: Behind) -> IndexLag {
        IndexLag { search, context }
    }

    /// This lag with every index that is behind one record behind: its
    /// note says which indexes are behind and not how far.
    fn uncounted(&self) -> IndexLag {
        let one = |b: Behind| if b.is_behind() { Behind::counted(1) } else { Behind::default() };
        IndexLag::new(one(self.search), one(self.context))
    }

    /// Whether either index is behind.
    pub fn is_behind(&self) -> bool {
        self.search.is_behind() || self.context.is_behind()
    }

    /// The one line a face shows beside the answer to `filter` when an index
    /// it reads is behind: how far, and that those records are scanned.
    /// `None` when the filter reads no index that lags.
    pub fn note(&self, filter: &RecordFilter) -> Option<String> {
        let (text, keys) = filter.reads_indexes();
        self.line(text, keys)
    }

    /// The line for a request's records (`key=value` alone, through the
    /// context-key index), `None` when that index is not behind.
    pub fn note_for_context(&self) -> Option<String> {
        self.line(false, true)
    }

    /// The line for every index that lags, whatever reads it (a health or
    /// stats view), `None` when none does.
    pub fn summary(&self) -> Option<String> {
        self.line(true, true)
    }

    fn line(&self, text: bool, keys: bool) -> Option<String> {
        let search = text && self.search.is_behind();
        let context = keys && self.context.is_behind();
        let scanned = |b: &Behind| {
            if b.exact && b.records == 1 {
                "the newest record is scanned".to_owned()
            } else if b.exact {
                format!("the newest {b} are scanned")
            } else {
                format!("the newest records above it, {b}, are scanned")
            }
        };
        let line = match (search, context) {
            (false, false) => return None,
            (true, false) => format!("search index {} behind: {}", self.search, scanned(&self.search)),
            (false, true) => format!("context-key index {} behind: {}", self.context, scanned(&self.context)),
            (true, true) if self.search == self.context => {
                format!("search and context-key index {} behind: {}", self.search, scanned(&self.search))
            }
            (true, true) => {
                let larger = if self.search.records >= self.context.records { &self.search } else { &self.context };
                format!(
                    "search index {} and context-key index {} behind: {}",
                    self.search,
                    self.context,
                    scanned(larger)
                )
            }
        };
        Some(format!("{line} (results stay complete)"))
    }
}

/// What a face says beside an answer about the lookup indexes it read.
///
/// The lag is advice and the records are the answer: a read of the lag that
/// fails never fails the answer, it takes the note's place
/// ([`IndexNote::Unknown`]), so a page still draws its rows and a command
/// still prints them and exits 0.
///
/// ```
/// use log_panel_query::{Behind, IndexLag, IndexNote, RecordFilter};
/// let mut search = RecordFilter::default();
/// search.text = Some("timeout".into());
/// let lag = IndexLag::new(Behind::counted(2), Behind::default());
/// assert!(matches!(IndexNote::from_read(Ok::<_, String>(&lag), &search), IndexNote::Behind(_)));
/// let failed = IndexNote::from_read(Err::<&IndexLag, _>("no such table: log_fts_state"), &search);
/// assert_eq!(failed.line(), Some("index lag unknown: no such table: log_fts_state"));
/// // A filter that reads no index has nothing to say, whatever the read.
/// assert_eq!(IndexNote::from_read(Err::<&IndexLag, _>("down"), &RecordFilter::default()), IndexNote::Current);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexNote {
    /// No index the answer reads is behind (or it reads none): nothing to say.
    Current,
    /// An index the answer reads is behind: the line saying how far
    /// ([`IndexLag::note`]).
    Behind(String),
    /// The lag could not be read: `index lag unknown: <error>`.
    Unknown(String),
}

impl IndexNote {
    /// The line to show, `None` when there is nothing to say.
    pub fn line(&self) -> Option<&str> {
        match self {
            IndexNote::Current => None,
            IndexNote::Behind(line) | IndexNote::Unknown(line) => Some(line),
        }
    }

    /// The note for an answer to `filter` from a read of the lag (what
    /// [`Store::index_lag`] answered, or its error): for a face that reads
    /// the lag once for several filters (the live tail's streams).
    pub fn from_read<E: fmt::Display>(read: Result<&IndexLag, E>, filter: &RecordFilter) -> IndexNote {
        let (text, keys) = filter.reads_indexes();
        IndexNote::of(|| read, text, keys)
    }

    /// The note for an answer reading the search index when `text` and the
    /// context-key index when `keys`; `read` is called only when it reads one.
    fn of<L: std::borrow::Borrow<IndexLag>, E: fmt::Display>(
        read: impl FnOnce() -> Result<L, E>,
        text: bool,
        keys: bool,
    ) -> IndexNote {
        if !text && !keys {
            return IndexNote::Current;
        }
        match read() {
            Ok(lag) => lag.borrow().line(text, keys).map_or(IndexNote::Current, IndexNote::Behind),
            Err(e) => IndexNote::Unknown(format!("index lag unknown: {e}")),
        }
    }
}

/// The note for `filter` on `store` ([`IndexLag::note`]), asking the store
/// only when the filter reads an index: an unfiltered page pays nothing. A
/// failed read is [`IndexNote::Unknown`], never an error of the answer.
pub fn index_note(store: &dyn Store, filter: &RecordFilter) -> IndexNote {
    let (text, keys) = filter.reads_indexes();
    IndexNote::of(|| store.index_lag(), text, keys)
}

/// The note for a request's records (`key=value` alone, through the
/// context-key index, [`IndexLag::note_for_context`]) on `store`.
pub fn context_note(store: &dyn Store) -> IndexNote {
    IndexNote::of(|| store.index_lag(), false, true)
}

/// The note for every index of `store` that lags, whatever reads it (a
/// health or stats view, [`IndexLag::summary`]).
pub fn summary_note(store: &dyn Store) -> IndexNote {
    IndexNote::of(|| store.index_lag(), true, true)
}

/// How long the indexes a live view's filter reads must stay behind, read
/// after read, before the view says so ([`SettledNote`]): a writer at a
/// steady rate leaves each batch unindexed until its next idle step, within
/// a second, so a note said at the first read behind flips on and off with
/// every batch (8 notes in 30 s beside 200 records/s). Three reads a second
/// apart: a lag that outlives them is one a user should know of.
pub const LAG_SETTLES_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// A lag said at the first read that meets it ([`SettledNote`]): more
/// records behind than a writer's idle steps leave unindexed at most
/// ([`log_panel_core::INDEX_LAG_BOUND`]), so not one batch waiting for its
/// step but a writer that fell behind (a burst, a bulk load, no writer).
pub const LAG_SAID_AT_ONCE: u64 = log_panel_core::INDEX_LAG_BOUND as u64;

/// What a live view (`log-panel tail -f`, the web live tail) shows about the
/// indexes its filter reads, from reads of the lag one after another: the
/// note that settled, not every read's. An index falling behind is said once
/// it has been behind for [`LAG_SETTLES_AFTER`] in every read, or at once
/// when it is more than [`LAG_SAID_AT_ONCE`] records behind; "caught up"
/// only after a lag was shown. A read of the lag that fails is shown at
/// once (it is not a writer's batch). The answer stays complete whatever is
/// shown: records above a mark are scanned.
///
/// ```
/// use std::time::{Duration, Instant};
/// use log_panel_query::{Behind, IndexLag, NoteChange, RecordFilter, SettledNote};
/// let mut filter = RecordFilter::default();
/// filter.text = Some("timeout".into());
/// let t0 = Instant::now();
/// let mut note = SettledNote::opened(&filter, Ok::<_, String>(&IndexLag::default()), t0);
/// let behind = IndexLag::new(Behind::counted(90), Behind::default());
/// // Behind for one read, caught up the next: nothing said.
/// assert_eq!(note.read(Ok::<_, String>(&behind), t0 + Duration::from_secs(1)), NoteChange::None);
/// assert_eq!(note.read(Ok::<_, String>(&IndexLag::default()), t0 + Duration::from_secs(2)), NoteChange::None);
/// // Behind in every read for three seconds: said.
/// for s in 3..6 {
///     assert_eq!(note.read(Ok::<_, String>(&behind), t0 + Duration::from_secs(s)), NoteChange::None);
/// }
/// assert_eq!(note.read(Ok::<_, String>(&behind), t0 + Duration::from_secs(6)), NoteChange::Said);
/// assert!(note.shown().line().is_some_and(|l| l.starts_with("search index 90 records behind")));
/// ```
#[derive(Debug, Clone)]
pub struct SettledNote {
    filter: RecordFilter,
    /// The note the view shows now.
    shown: IndexNote,
    /// [`shown`](Self::shown) with its counts left out: which indexes are
    /// behind, or why the lag could not be read. A change of it is said.
    which: IndexNote,
    /// Since when every read found an index the filter reads behind, while
    /// that is not shown yet.
    behind_since: Option<std::time::Instant>,
}

/// What a read of the lag changed in what a [`SettledNote`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteChange {
    /// Nothing: say nothing.
    None,
    /// The same indexes are behind, by another count: a view that shows the
    /// note in place may refresh it; one that prints lines stays quiet.
    Counted,
    /// Another note: an index fell behind (and stayed), another is the one
    /// behind, the indexes caught up ([`IndexNote::Current`]), or the lag
    /// could not be read (or can again). Say [`SettledNote::shown`].
    Said,
}

impl SettledNote {
    /// The note of a view that opened at `now` (the note of its first
    /// answer, said at once: it goes with the records read, see
    /// [`shown`](Self::shown)).
    /// `opening` is the read that note came from (its counts left out,
    /// what a later read is compared with).
    pub fn opened<E: fmt::Display>(
        filter: &RecordFilter,
        opening: Result<&IndexLag, E>,
        now: std::time::Instant,
    ) -> SettledNote {
        let (shown, which, _) = settled_notes(filter, opening);
        let behind_since = matches!(shown, IndexNote::Behind(_)).then_some(now);
        SettledNote { filter: filter.clone(), shown, which, behind_since }
    }

    /// The note shown now.
    pub fn shown(&self) -> &IndexNote {
        &self.shown
    }

    /// Takes a read of the lag made at `now` (what [`Store::index_lag`]
    /// answered, or its error) and says what changed in the note shown.
    pub fn read<E: fmt::Display>(&mut self, read: Result<&IndexLag, E>, now: std::time::Instant) -> NoteChange {
        let (note, which, far) = settled_notes(&self.filter, read);
        if let IndexNote::Behind(_) = note {
            let since = *self.behind_since.get_or_insert(now);
            let settled = far || now.saturating_duration_since(since) >= LAG_SETTLES_AFTER;
            // Only a note not shown yet waits: one shown follows its counts.
            if !settled && self.shown == IndexNote::Current {
                return NoteChange::None;
            }
        } else {
            self.behind_since = None;
        }
        let change = if note == self.shown {
            NoteChange::None
        } else if which == self.which {
            NoteChange::Counted
        } else {
            NoteChange::Said
        };
        self.shown = note;
        self.which = which;
        change
    }
}

/// The note of `filter` for `read`, the same with its counts left out, and
/// whether an index it reads is more than [`LAG_SAID_AT_ONCE`] behind.
fn settled_notes<E: fmt::Display>(filter: &RecordFilter, read: Result<&IndexLag, E>) -> (IndexNote, IndexNote, bool) {
    let (text, keys) = filter.reads_indexes();
    match read {
        Ok(lag) => {
            let far = |b: Behind| b.records > LAG_SAID_AT_ONCE;
            (
                IndexNote::of(|| Ok::<_, E>(lag), text, keys),
                IndexNote::of(|| Ok::<_, E>(lag.uncounted()), text, keys),
                (text && far(lag.search)) || (keys && far(lag.context)),
            )
        }
        Err(e) => {
            let note = IndexNote::of(|| Err::<IndexLag, E>(e), text, keys);
            (note.clone(), note, false)
        }
    }
}

impl RecordFilter {
    /// Whether this filter reads a lookup index (the message search index
    /// or the context-key index), its query's leaves included: whether
    /// [`Store::index_lag`] can change what a face says beside its answer.
    ///
    /// ```
    /// use log_panel_query::RecordFilter;
    /// let mut filter = RecordFilter::default();
    /// assert!(!filter.reads_an_index());
    /// filter.text = Some("timeout".into());
    /// assert!(filter.reads_an_index());
    /// ```
    pub fn reads_an_index(&self) -> bool {
        let (text, keys) = self.reads_indexes();
        text || keys
    }

    /// Which lookup indexes this filter reads: (the message search index,
    /// the context-key index), its query's leaves included.
    fn reads_indexes(&self) -> (bool, bool) {
        let own = (self.text.is_some(), !self.fields.is_empty() || !self.ranges.is_empty());
        self.query.iter().flat_map(|q| q.leaves()).fold(own, |(text, keys), leaf| {
            let (t, k) = leaf.reads_indexes();
            (text || t, keys || k)
        })
    }
}

/// `n` with its digits grouped by three, separated by a narrow no-break
/// space (U+202F): `10 000 000`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::parse_query;

    #[test]
    fn nothing_is_counted_when_the_mark_is_at_the_newest_id() {
        let never = |_cap: u64| -> Result<u64, ()> { panic!("counted") };
        assert_eq!(Behind::measure(10, Some(10), never), Ok(Behind::default()));
        assert_eq!(Behind::measure(10, Some(7), never), Ok(Behind::default()));
        assert_eq!(Behind::measure(0, None, never), Ok(Behind::default()));
    }

    #[test]
    fn a_count_at_the_cap_answers_the_span_of_ids() {
        let counted = Behind::measure(0, Some(5_000), |cap| Ok::<_, ()>(cap - 1)).unwrap();
        assert_eq!(counted, Behind::counted(Behind::COUNTED_UP_TO - 1));
        let capped = Behind::measure(0, Some(5_000), Ok::<_, ()>).unwrap();
        assert_eq!(capped, Behind { records: 5_000, exact: false });
        assert_eq!(Behind::counted(1).to_string(), "1 record");
    }

    #[test]
    fn the_note_names_only_the_indexes_the_filter_reads() {
        let lag = IndexLag::new(Behind::counted(3), Behind { records: 2_000_000, exact: false });
        let q = parse_query("timeout OR user_id:7").unwrap();
        assert_eq!(
            lag.note(&q).as_deref(),
            Some(
                "search index 3 records and context-key index about 2\u{202f}000\u{202f}000 records behind: \
                 the newest records above it, about 2\u{202f}000\u{202f}000 records, are scanned (results stay complete)"
            )
        );
        let range = parse_query("status>=500").unwrap();
        assert!(!range.ranges.is_empty(), "{range:?}");
        assert!(lag.note(&range).unwrap().starts_with("context-key index about"));
        let logger = RecordFilter { logger: Some("api::".parse().unwrap()), ..RecordFilter::default() };
        assert_eq!(lag.note(&logger), None);
        let same = IndexLag::new(Behind::counted(4), Behind::counted(4));
        assert_eq!(
            same.summary().as_deref(),
            Some("search and context-key index 4 records behind: the newest 4 records are scanned (results stay complete)")
        );
        assert_eq!(IndexLag::default().summary(), None);
        let one = IndexLag::new(Behind::counted(1), Behind::default());
        assert_eq!(
            one.summary().as_deref(),
            Some("search index 1 record behind: the newest record is scanned (results stay complete)")
        );
    }

    /// `reads` (a lag of the search index each, `None`: a failed read) one
    /// second apart through a [`SettledNote`] opened on nothing behind: the
    /// changes said, with the note then shown.
    fn said(reads: &[Option<u64>]) -> Vec<(NoteChange, Option<String>)> {
        let filter = RecordFilter { text: Some("timeout".into()), ..RecordFilter::default() };
        let t0 = std::time::Instant::now();
        let mut note = SettledNote::opened(&filter, Ok::<_, String>(&IndexLag::default()), t0);
        let mut out = Vec::new();
        for (s, read) in (1..).zip(reads) {
            let lag = read.map(|n| IndexLag::new(Behind::counted(n), Behind::default()));
            let change = note.read(lag.as_ref().ok_or("down"), t0 + std::time::Duration::from_secs(s));
            if change != NoteChange::None {
                out.push((change, note.shown().line().map(str::to_owned)));
            }
        }
        out
    }

    #[test]
    fn a_lag_that_flips_every_read_is_never_said() {
        // A writer at a steady rate: each read finds the last batch
        // unindexed or its idle step done, for 30 s.
        let flips: Vec<Option<u64>> = (0..30).map(|i| Some(if i % 2 == 0 { 91 } else { 0 })).collect();
        assert_eq!(said(&flips), []);
        // Behind for two reads in three: never for LAG_SETTLES_AFTER.
        let twos: Vec<Option<u64>> = (0..30).map(|i| Some(if i % 3 == 2 { 0 } else { 180 })).collect();
        assert_eq!(said(&twos), []);
    }

    #[test]
    fn a_lag_that_lasts_is_said_once_then_its_catching_up() {
        let mut reads = vec![Some(90), Some(300), Some(500), Some(800), Some(700)];
        reads.extend([Some(0), Some(0)]);
        let line = |n: u64| {
            Some(format!("search index {n} records behind: the newest {n} records are scanned (results stay complete)"))
        };
        // Said at the fourth read (three seconds after the first behind), the
        // count then refreshed in place, caught up once.
        assert_eq!(
            said(&reads),
            [(NoteChange::Said, line(800)), (NoteChange::Counted, line(700)), (NoteChange::Said, None)]
        );
    }

    #[test]
    fn a_lag_past_the_writers_bound_or_a_failed_read_is_said_at_once() {
        let far = LAG_SAID_AT_ONCE + 1;
        let said = said(&[Some(far), Some(0), None, Some(5)]);
        assert_eq!(said.len(), 4, "{said:?}");
        assert_eq!(said[0].0, NoteChange::Said);
        assert!(said[0].1.as_deref().is_some_and(|l| l.starts_with("search index 2\u{202f}001 records behind")));
        assert_eq!(said[1], (NoteChange::Said, None));
        assert_eq!(said[2], (NoteChange::Said, Some("index lag unknown: down".to_owned())));
        // After the failed read, the lag read again replaces its line.
        assert_eq!(said[3].0, NoteChange::Said);
    }

    #[test]
    fn a_view_opened_behind_says_when_it_caught_up() {
        let filter = RecordFilter { text: Some("timeout".into()), ..RecordFilter::default() };
        let t0 = std::time::Instant::now();
        let lag = IndexLag::new(Behind::counted(40), Behind::default());
        let mut note = SettledNote::opened(&filter, Ok::<_, String>(&lag), t0);
        assert!(note.shown().line().is_some());
        assert_eq!(note.read(Ok::<_, String>(&lag), t0), NoteChange::None);
        assert_eq!(note.read(Ok::<_, String>(&IndexLag::default()), t0), NoteChange::Said);
        assert_eq!(note.shown(), &IndexNote::Current);
        // A filter that reads no index: nothing, whatever the lag.
        let mut none = SettledNote::opened(&RecordFilter::default(), Ok::<_, String>(&lag), t0);
        assert_eq!(none.read(Err("down"), t0 + LAG_SETTLES_AFTER), NoteChange::None);
    }
}
