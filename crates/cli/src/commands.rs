//! The subcommands, each against the `Store` trait only.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use log_panel_query::{
    CardFilter, CardsQuery, CommitWaiter, FieldValue, Follow, IndexNote, LoggerCard, PageAt, RecordFilter, Slots,
    StoredRecord, Wake,
};
use log_panel_query::{
    IndexLag, LevelCounts, Maintenance, NoteChange, SettledNote, Store, StoreError, StoreErrorKind, Timeline,
};

use crate::args::{ExportArgs, ExportFormat, Format, PruneArgs, QueryArgs, SitesArgs, StatsArgs, TailArgs};
use crate::error::{out, CliError};
use crate::local_time::Clock;
use crate::show::{cell_into, clean, print, width, Paint, RecordWriter, DIM, GREEN, RED, YELLOW};

/// What every subcommand works with.
pub(crate) struct Ctx {
    pub store: Box<dyn Store>,
    pub clock: Clock,
    pub paint: Paint,
    /// Whether standard output is a terminal (CSV is then neutralised too).
    pub stdout_tty: bool,
}

/// Records read per store call when paging or following.
const PAGE: usize = 1000;
/// How often `tail -f` asks for new records.
const POLL: Duration = Duration::from_millis(200);
/// How often `tail -f` reads when the store pushes commits (the fallback).
const PUSHED_POLL: Duration = Duration::from_secs(2);
/// The least time between two reads of `tail -f`, however often commits are announced.
const MIN_GAP: Duration = Duration::from_millis(100);
/// The longest pause between two tries of `tail -f` while the storage is unavailable.
const RETRY_MAX: Duration = Duration::from_secs(5);

fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Walks the records `filter` keeps, newest first, page by page with
/// cursors, calling `each` for at most `limit` of them. Returns whether more
/// records match beyond the limit.
pub(crate) fn walk(
    store: &dyn Store,
    filter: &RecordFilter,
    limit: Option<usize>,
    mut each: impl FnMut(&StoredRecord) -> Result<(), CliError>,
) -> Result<bool, CliError> {
    let mut at = PageAt::Newest;
    let mut seen = 0usize;
    loop {
        let want = limit.map_or(PAGE, |l| l.saturating_sub(seen).min(PAGE));
        if want == 0 {
            // `--limit 0`: nothing shown; one record tells whether any matches.
            return Ok(!store.records(filter, at, 1)?.records.is_empty());
        }
        let page = store.records(filter, at, want)?;
        for r in &page.records {
            each(r)?;
        }
        seen += page.records.len();
        match page.older {
            // The page's `older` cursor already says whether more match: a
            // further page of one record would cost a second statement and
            // the store's check for newer records above it.
            Some(_) if limit.is_some_and(|l| seen >= l) => return Ok(true),
            Some(cursor) if !page.records.is_empty() => at = PageAt::Older(cursor),
            _ => return Ok(false),
        }
    }
}

pub(crate) fn tail(ctx: &Ctx, a: &TailArgs, filter: RecordFilter) -> Result<(), CliError> {
    // Before anything is printed: Ctrl-C from then on ends the loop cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    if a.follow {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop))
                .map_err(|e| CliError::Io("installing the Ctrl-C handler".into(), e))?;
        }
    }
    let mut w = RecordWriter::table(stdout(), ctx.paint);
    // The newest id of all, read first: following starts after it, so no
    // record committed from now on is missed, matching or not.
    let start = if a.follow { ctx.store.tail(&RecordFilter::default(), None, 1)?.last().map(|r| r.id) } else { None };
    let lag = LagWatch::read(&*ctx.store, &filter);
    let latest = latest_by_time(&*ctx.store, &filter, a.lines)?;
    if !a.follow {
        for r in &latest {
            w.write(r, &ctx.clock)?;
        }
        w.flush()?;
        say(lag.said());
        return Ok(());
    }
    say(lag.said());
    let mut lag = lag;
    let watched = filter.clone();
    // The latest lines go through the follow too: those younger than the
    // reorder window come out in time order with the records committed
    // after them (see `Follow`), each once.
    let mut follow = Follow::after(filter, start.unwrap_or(0)).reorder(Duration::from_millis(a.reorder_ms));
    follow.hold(latest);
    let mut warn = |line: &str| eprintln!("log-panel: {}", clean(line));
    follow_until(&*ctx.store, &mut follow, &stop, &mut warn, |new| {
        for r in new {
            w.write(r, &ctx.clock)?;
        }
        w.flush()?;
        lag.check(&*ctx.store, &watched);
        Ok(())
    })
}

/// How often `tail -f` reads the index lag again while its filter reads an
/// index (a filter that reads none never asks the store).
const LAG_EVERY: Duration = Duration::from_secs(1);

/// What `tail -f` said on stderr about the indexes its filter reads: the
/// note of its opening lines, then each change of the note that settled
/// ([`SettledNote`]: a lag that lasts, one past the writer's bound, the
/// indexes caught up after a lag was said, a read of the lag that failed) —
/// never a lag that comes and goes with each of a writer's batches, nor a
/// count moving with the writer, either of which would be a line per poll.
struct LagWatch {
    note: SettledNote,
    read_at: Instant,
}

/// What `tail -f` says when the indexes its filter reads caught up.
const CAUGHT_UP: &str = "the index caught up: no records above it are scanned";

impl LagWatch {
    /// The note of `filter` now, read before the records it goes with (a
    /// filter that reads no index never asks the store).
    fn read(store: &dyn Store, filter: &RecordFilter) -> LagWatch {
        let read_at = Instant::now();
        let read = if filter.reads_an_index() { store.index_lag() } else { Ok(IndexLag::default()) };
        LagWatch { note: SettledNote::opened(filter, read.as_ref(), read_at), read_at }
    }

    /// The note said with the opening lines.
    fn said(&self) -> &IndexNote {
        self.note.shown()
    }

    /// Reads the lag again (at most every [`LAG_EVERY`], and only when the
    /// filter reads an index) and says the note when it changed other than
    /// by a count.
    fn check(&mut self, store: &dyn Store, filter: &RecordFilter) {
        if !filter.reads_an_index() || self.read_at.elapsed() < LAG_EVERY {
            return;
        }
        self.read_at = Instant::now();
        if self.note.read(store.index_lag().as_ref(), self.read_at) == NoteChange::Said {
            match self.note.shown() {
                IndexNote::Current => eprintln!("log-panel: {CAUGHT_UP}"),
                shown => say(shown),
            }
        }
    }
}

/// The newest `n` records `filter` keeps by time (then id), oldest first:
/// with several writers, ids are not in time order.
fn latest_by_time(store: &dyn Store, filter: &RecordFilter, n: usize) -> Result<Vec<StoredRecord>, CliError> {
    let mut latest = Vec::new();
    if n > 0 {
        walk(store, filter, Some(n), |r| {
            latest.push(r.clone());
            Ok(())
        })?;
    }
    latest.reverse();
    Ok(latest)
}

/// Polls `follow` until `stop` is set, handing each batch of new records to
/// `print`. While the storage is unavailable (a server down, a file locked)
/// it says so once through `warn`, tries again with a growing pause (up to
/// [`RETRY_MAX`]), and resumes from the last record printed: `Follow` keeps
/// its position across a failed poll, so nothing is missed or repeated.
/// A read past its time budget, and a wait whose server went silent
/// (PostgreSQL frozen: the live tail's listener found it), are retried the
/// same way. Only an error retrying cannot mend (a bad filter, a newer
/// schema) ends it.
pub(crate) fn follow_until(
    store: &dyn Store,
    follow: &mut Follow,
    stop: &AtomicBool,
    warn: &mut dyn FnMut(&str),
    print: impl FnMut(&[StoredRecord]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    follow_waiting(store, &mut *store.commit_waiter(), follow, stop, warn, print)
}

/// [`follow_until`] with the waiter between two reads given.
pub(crate) fn follow_waiting(
    store: &dyn Store,
    waiter: &mut dyn CommitWaiter,
    follow: &mut Follow,
    stop: &AtomicBool,
    warn: &mut dyn FnMut(&str),
    mut print: impl FnMut(&[StoredRecord]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    // While polls fail: the pause before the next try, and the line that
    // says the failure is over — it answers the line that said it began
    // (a read past its budget is not an outage of the storage).
    let mut failing: Option<(Duration, &str)> = None;
    while !stop.load(Ordering::Relaxed) {
        let read_at = Instant::now();
        let failed = match follow.poll(store, PAGE) {
            Ok(new) => {
                if let Some((_, back)) = failing.take() {
                    warn(back);
                }
                print(&new)?;
                if !follow.caught_up() {
                    continue;
                }
                // The wait's error (the listener's server went silent) is
                // told as a failed read is; the read after the pause says
                // whether the store answers again.
                match wait_for_commit(waiter, stop, follow.due_in()) {
                    Ok(()) => {
                        pause(stop, MIN_GAP.saturating_sub(read_at.elapsed()));
                        continue;
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        // A read past its time budget is retried too: on a PostgreSQL whose
        // search index lags far behind a writer at full rate, a search's poll
        // scanned that tail past the budget and ended `tail -f` (session 41
        // attack), though the next poll after the index catches up answers.
        if !matches!(failed.kind(), StoreErrorKind::Unavailable | StoreErrorKind::Storage | StoreErrorKind::TimedOut) {
            return Err(failed.into());
        }
        let (wait, back) = match failing {
            None => {
                let (what, back) = if failed.kind() == StoreErrorKind::TimedOut {
                    ("read stopped", "reads answer again; following")
                } else {
                    ("storage unavailable", "storage available again; following")
                };
                warn(&format!("{what}: {}; retrying", CliError::Store(failed)));
                (POLL, back)
            }
            Some((last, back)) => ((last * 2).min(RETRY_MAX), back),
        };
        failing = Some((wait, back));
        pause(stop, wait);
    }
    Ok(())
}

/// Waits until the store says a batch committed (PostgreSQL), the poll
/// interval passed ([`POLL`]; [`PUSHED_POLL`] when commits are pushed), a
/// record held for time order is `due`, or `stop` is set, in slices short
/// enough for Ctrl-C.
fn wait_for_commit(waiter: &mut dyn CommitWaiter, stop: &AtomicBool, due: Option<Duration>) -> Result<(), StoreError> {
    let (fallback, slice) = if waiter.pushed() { (PUSHED_POLL, POLL) } else { (POLL, Duration::from_millis(20)) };
    let until = Instant::now() + due.map_or(fallback, |d| d.min(fallback));
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || waiter.wait(left.min(slice))? == Wake::Committed {
            return Ok(());
        }
    }
    Ok(())
}

/// Sleeps for `length`, or until `stop` is set (Ctrl-C ends a pause at once).
fn pause(stop: &AtomicBool, length: Duration) {
    let until = Instant::now() + length;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn query(ctx: &Ctx, a: &QueryArgs, filter: &RecordFilter) -> Result<(), CliError> {
    let w = stdout();
    let mut w = match a.format {
        Format::Table => RecordWriter::table(w, ctx.paint),
        Format::Json => RecordWriter::json(w)?,
        Format::Ndjson => RecordWriter::ndjson(w),
        Format::Csv => RecordWriter::csv(w, ctx.stdout_tty)?,
    };
    let limit = usize::try_from(a.limit).unwrap_or(usize::MAX);
    let lag = match &a.request {
        Some(_) => log_panel_query::context_note(&*ctx.store),
        None => log_panel_query::index_note(&*ctx.store, filter),
    };
    if let Some(id) = &a.request {
        let records = ctx.store.related("request_id", &FieldValue::Text(id.clone()), limit)?;
        for r in &records {
            w.write(r, &ctx.clock)?;
        }
        w.finish()?;
        say(&lag);
        say_none(ctx, records.is_empty());
        return Ok(());
    }
    let mut shown = 0u64;
    let more = walk(&*ctx.store, filter, Some(limit), |r| {
        shown += 1;
        w.write(r, &ctx.clock)
    })?;
    w.finish()?;
    say(&lag);
    say_none(ctx, shown == 0);
    if more && io::stderr().is_terminal() {
        eprintln!("log-panel: more records match; raise --limit or narrow the filter");
    }
    Ok(())
}

/// A query that printed nothing to a terminal says why on stderr: an empty
/// screen reads as a command that hung or failed. Piped, stdout stays empty
/// and stderr silent (scripts test for no output).
fn say_none(ctx: &Ctx, none: bool) {
    if none && ctx.stdout_tty {
        eprintln!("log-panel: no records match");
    }
}

pub(crate) fn export(ctx: &Ctx, a: &ExportArgs, filter: &RecordFilter) -> Result<(), CliError> {
    let (sink, neutralise): (Box<dyn Write>, bool) = match &a.output {
        Some(path) => {
            let file = File::create(path)
                .map_err(|e| CliError::Io(format!("cannot create {}", clean(&path.display().to_string())), e))?;
            (Box::new(BufWriter::new(file)), false)
        }
        None => (Box::new(stdout()), ctx.stdout_tty),
    };
    let mut w = match a.format {
        ExportFormat::Ndjson => RecordWriter::ndjson(sink),
        ExportFormat::Csv => RecordWriter::csv(sink, neutralise)?,
    };
    let lag = log_panel_query::index_note(&*ctx.store, filter);
    let progress = if a.output.is_some() { counter("exporting") } else { ProgressBar::hidden() };
    let mut n = 0u64;
    walk(&*ctx.store, filter, None, |r| {
        n += 1;
        if n.is_multiple_of(1000) {
            progress.set_position(n);
        }
        w.write(r, &ctx.clock)
    })?;
    w.finish()?;
    progress.finish_and_clear();
    say(&lag);
    if let Some(path) = &a.output {
        eprintln!("log-panel: exported {n} records to {}", clean(&path.display().to_string()));
    }
    Ok(())
}

/// The line of an index that lags (`Store::index_lag`), read before the
/// records (the lag the read met), said after them on stderr: stdout stays
/// clean for pipes and JSON, and a read of the records that fails says only
/// its error. A read of the lag that failed says so here
/// (`index lag unknown: …`) and leaves the records and the exit status alone.
fn say(lag: &IndexNote) {
    if let Some(line) = lag.line() {
        eprintln!("log-panel: {}", clean(line));
    }
}

/// A spinner on stderr, only when stderr is a terminal.
fn spinner(message: &'static str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn counter(message: &'static str) -> ProgressBar {
    let bar = spinner(message);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} records, {elapsed}") {
        bar.set_style(style);
    }
    bar
}

pub(crate) fn prune(ctx: &Ctx, maintenance: &dyn Maintenance, a: &PruneArgs) -> Result<(), CliError> {
    let before = ctx.clock.resolve(&a.older_than)?;
    let batch = usize::try_from(a.batch_size).unwrap_or(usize::MAX);
    let bar = spinner(if a.dry_run { "counting" } else { "pruning" });
    let report = maintenance.prune(before, batch, a.dry_run);
    bar.finish_and_clear();
    let report = report?;
    let when = ctx.clock.rfc3339(before);
    let mut w = stdout();
    if a.dry_run {
        print(
            &mut w,
            &format!("would delete {} records older than {when} (dry run: nothing deleted)\n", report.deleted),
        )?;
    } else {
        print(
            &mut w,
            &format!(
                "deleted {} records older than {when} in {} batches of at most {batch}\n",
                report.deleted, report.batches
            ),
        )?;
    }
    w.flush().map_err(out)
}

pub(crate) fn rebuild(ctx: &Ctx, maintenance: &dyn Maintenance) -> Result<(), CliError> {
    let bar = spinner("rebuilding the aggregates");
    let started = Instant::now();
    let done = maintenance.rebuild();
    bar.finish_and_clear();
    done?;
    let mut w = stdout();
    print(
        &mut w,
        &format!(
            "rebuilt the aggregates of {} from its records in {:.1} s\n",
            clean(&ctx.store.describe()),
            started.elapsed().as_secs_f64()
        ),
    )?;
    w.flush().map_err(out)
}

pub(crate) fn sites(ctx: &Ctx, a: &SitesArgs, filter: &RecordFilter) -> Result<(), CliError> {
    let limit = usize::try_from(a.limit).unwrap_or(usize::MAX);
    // A text or context filter counts the rows through its index (without
    // one, the site aggregates are summed and no index is read).
    let lag = log_panel_query::index_note(&*ctx.store, filter);
    let sites = ctx.store.call_sites(filter, limit)?;
    let mut w = stdout();
    if sites.is_empty() {
        print(&mut w, "no records in this window\n")?;
        w.flush().map_err(out)?;
        say(&lag);
        return Ok(());
    }
    let rows: Vec<[String; 6]> = sites
        .iter()
        .map(|s| {
            let place = match (&s.file, s.line) {
                (Some(f), Some(l)) => format!("{}:{l}", clean(f)),
                (Some(f), None) => clean(f),
                _ => "-".to_owned(),
            };
            [
                s.counts.total().to_string(),
                s.counts.error.to_string(),
                s.counts.warn.to_string(),
                ctx.clock.minute(s.last_seen),
                clean(&s.logger),
                place,
            ]
        })
        .collect();
    let headers = ["COUNT", "ERRORS", "WARNINGS", "LAST SEEN", "LOGGER", "CALL SITE"];
    let mut widths = column_widths(&headers, rows.iter().map(|r| r.as_slice()));
    for w in &mut widths[4..] {
        *w = (*w).min(crate::show::NAME_COLUMN);
    }
    let mut text = String::new();
    for (i, h) in headers.iter().enumerate() {
        cell_into(&mut text, ctx.paint, "", h, widths[i], i < 3);
        text.push_str("  ");
    }
    text.push_str("EXAMPLE\n");
    for (s, row) in sites.iter().zip(&rows) {
        let mut at = 0;
        for (i, value) in row.iter().enumerate() {
            let color = match i {
                1 if s.counts.error > 0 => RED,
                2 if s.counts.warn > 0 => YELLOW,
                _ => "",
            };
            if i >= 4 {
                crate::show::name_cell_into(&mut text, ctx.paint, value, widths[i], at);
            } else {
                cell_into(&mut text, ctx.paint, color, value, widths[i], i < 3);
            }
            text.push_str("  ");
            at += widths[i] + 2;
        }
        text.push_str(&shorten(&clean(&s.example), 80));
        text.push('\n');
    }
    print(&mut w, &text)?;
    w.flush().map_err(out)?;
    say(&lag);
    Ok(())
}

/// The width of each column: its widest cell, header included.
fn column_widths<'a>(headers: &[&str], rows: impl Iterator<Item = &'a [String]>) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, value) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(value));
        }
    }
    widths
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

pub(crate) fn stats(ctx: &Ctx, a: &StatsArgs) -> Result<(), CliError> {
    let now = ctx.clock.now();
    let (slots, what) = match a.range {
        Timeline::Hours(n) => (Slots::hours_until(now, n)?, format!("{n} hours")),
        Timeline::Days(n) => (ctx.clock.day_slots(n)?, format!("{n} days")),
    };
    let mut query = CardsQuery::new(slots.clone(), now);
    query.filter = if a.errors {
        CardFilter::Errors
    } else if a.warnings {
        CardFilter::Warnings
    } else {
        CardFilter::All
    };
    query.name.clone_from(&a.name);
    query.limit = 200;
    let mut cards: Vec<LoggerCard> = Vec::new();
    loop {
        let page = ctx.store.cards(&query)?;
        let got = page.cards.len();
        cards.extend(page.cards);
        query.offset += got;
        if got == 0 || query.offset >= page.matching {
            break;
        }
    }
    let mut w = stdout();
    if cards.is_empty() {
        print(&mut w, "no loggers with records\n")?;
        return w.flush().map_err(out);
    }
    let hourly = matches!(a.range, Timeline::Hours(_));
    let rows: Vec<[String; 7]> = cards
        .iter()
        .map(|c| {
            [
                clean(&c.logger),
                c.totals.total.to_string(),
                c.totals.errors.to_string(),
                c.totals.warnings.to_string(),
                c.last_hour.error.to_string(),
                c.last_hour.warn.to_string(),
                ctx.clock.minute(c.totals.last),
            ]
        })
        .collect();
    let headers = ["LOGGER", "RECORDS", "ERRORS", "WARNINGS", "ERRORS", "WARNINGS", "LAST SEEN"];
    let mut widths = column_widths(&headers, rows.iter().map(|r| r.as_slice()));
    widths[0] = widths[0].min(crate::show::NAME_COLUMN);
    let mut text = format!(
        "{} loggers; ALL TIME counts every stored record of the logger, LAST HOUR the hour to {}; \
         timeline: {what}, {} to {} ({}), oldest first\n",
        cards.len(),
        ctx.clock.minute(now),
        ctx.clock.minute(slots.start()),
        ctx.clock.minute(slots.end()),
        if hourly { "one cell per hour" } else { "one cell per local day" }
    );
    // A line above the headers spans each group of counts with its window.
    let span = |from: usize, to: usize| widths[from..to].iter().sum::<usize>() + 2 * (to - from - 1);
    text.push_str(&" ".repeat(widths[0] + 2));
    text.push_str(&group("ALL TIME", span(1, 4)));
    text.push_str("  ");
    text.push_str(&group("LAST HOUR", span(4, 6)));
    text.push('\n');
    for (i, h) in headers.iter().enumerate() {
        cell_into(&mut text, ctx.paint, "", h, widths[i], (1..6).contains(&i));
        text.push_str("  ");
    }
    text.push_str("TIMELINE\n");
    for (card, row) in cards.iter().zip(&rows) {
        for (i, value) in row.iter().enumerate() {
            let color = match i {
                2 if card.totals.errors > 0 => RED,
                3 if card.totals.warnings > 0 => YELLOW,
                4 if card.last_hour.error > 0 => RED,
                5 if card.last_hour.warn > 0 => YELLOW,
                _ => "",
            };
            if i == 0 {
                crate::show::name_cell_into(&mut text, ctx.paint, value, widths[0], 0);
            } else {
                cell_into(&mut text, ctx.paint, color, value, widths[i], (1..6).contains(&i));
            }
            text.push_str("  ");
        }
        for slot in &card.slots {
            cell(&mut text, slot, ctx.paint);
        }
        text.push('\n');
    }
    text.push_str(if ctx.paint.on {
        "cells: red errors, yellow warnings, green other records, · none\n"
    } else {
        "cells: E errors, W warnings, + other records, . none\n"
    });
    if let Some(line) = log_panel_query::summary_note(&*ctx.store).line() {
        text.push_str(&clean(line));
        text.push('\n');
    }
    print(&mut w, &text)?;
    w.flush().map_err(out)
}

/// `label` centred in `columns` between dashes (`--- ALL TIME ---`), or
/// alone when the span is narrower.
fn group(label: &str, columns: usize) -> String {
    let free = columns.saturating_sub(width(label) + 2);
    if free < 2 {
        return format!("{label:<columns$}");
    }
    let left = free / 2;
    format!("{} {label} {}", "-".repeat(left), "-".repeat(free - left))
}

/// One timeline cell: the worst level present decides its colour (or letter).
fn cell(text: &mut String, counts: &LevelCounts, paint: Paint) {
    let (letter, color) = if counts.error > 0 {
        ("E", RED)
    } else if counts.warn > 0 {
        ("W", YELLOW)
    } else if counts.total() > 0 {
        ("+", GREEN)
    } else {
        (".", DIM)
    };
    if paint.on {
        paint.push(text, color, if counts.total() > 0 { "█" } else { "·" });
    } else {
        text.push_str(letter);
    }
}

#[cfg(test)]
mod wait_tests {
    use super::*;

    /// Answers each wait with the next of `wakes` (then `TimedOut`), sleeping
    /// the time asked when it times out; notes every time asked.
    struct Scripted {
        wakes: Vec<Wake>,
        asked: Vec<Duration>,
        pushed: bool,
    }

    impl CommitWaiter for Scripted {
        fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError> {
            self.asked.push(timeout);
            let wake = if self.wakes.is_empty() { Wake::TimedOut } else { self.wakes.remove(0) };
            if wake == Wake::TimedOut {
                std::thread::sleep(timeout);
            }
            Ok(wake)
        }

        fn pushed(&self) -> bool {
            self.pushed
        }
    }

    #[test]
    fn a_pushed_commit_ends_the_wait_at_once() {
        let mut w = Scripted { wakes: vec![Wake::Committed], asked: Vec::new(), pushed: true };
        wait_for_commit(&mut w, &AtomicBool::new(false), None).unwrap_or_else(|e| panic!("{e}"));
        // One slice asked (never the whole fallback at once: Ctrl-C stays prompt).
        assert_eq!(w.asked, [POLL]);
    }

    #[test]
    fn a_held_record_due_sooner_shortens_the_wait_and_stop_ends_it() {
        let mut w = Scripted { wakes: Vec::new(), asked: Vec::new(), pushed: true };
        wait_for_commit(&mut w, &AtomicBool::new(false), Some(Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!w.asked.is_empty() && w.asked.iter().all(|d| *d <= Duration::from_millis(50)), "{:?}", w.asked);
        let mut w = Scripted { wakes: Vec::new(), asked: Vec::new(), pushed: true };
        wait_for_commit(&mut w, &AtomicBool::new(true), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(w.asked.is_empty());
        // Without pushes the wait is the poll interval, in short slices.
        let mut w = Scripted { wakes: Vec::new(), asked: Vec::new(), pushed: false };
        wait_for_commit(&mut w, &AtomicBool::new(false), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(w.asked.len() > 1 && w.asked.iter().all(|d| *d <= Duration::from_millis(20)), "{:?}", w.asked);
    }
}
