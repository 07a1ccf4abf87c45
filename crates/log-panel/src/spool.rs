//! The local spool: records the storage could not take, kept on disk as JSON
//! lines until it can.
//!
//! Layout of the spool directory:
//! - `spool-<start µs>-<pid>-<seq>.jsonl`: one file per stretch of spilling.
//!   The first line is a header naming the process (app, host, pid) that
//!   logged the records; every other line is one record. Names sort in the
//!   order the files were written, so replay takes the oldest first. A file
//!   is written under a `.tmp` name and renamed once its header and first
//!   batch are fsynced, so a spool file is never header-less; a failed
//!   append is cut off again.
//! - `<file>.offset`: how far replay has got (bytes), written at a fixed width
//!   when the file is created and overwritten in place (fsynced) after each
//!   replayed batch commits, so that recording progress needs no free space
//!   and a restarted process resumes there.
//! - `quarantine.jsonl`: records the storage rejected even after sanitising.
//! - `*.unreadable`: spool files that could not be read, set aside.
//! - `spool-<start µs>-<pid>-.lock`: held (an OS file lock) by the process that
//!   writes that run's files, for as long as it lives. Several processes may
//!   share one spool directory: each replays its own files, and another
//!   process's files only once it can take their lock — that is, once their
//!   writer has exited — holding the lock while it replays them. So no two
//!   processes ever replay the same file.
//!
//! Exactly-once: a batch is appended and fsynced before it leaves memory; the
//! offset advances only after the storage commits. This process remembers
//! its replay progress in memory as well, so a batch it stored is never
//! replayed again by it, even when the offset cannot be written; replay then
//! pauses until it can. The one window left is a crash after a replay commit
//! and before its offset reached the disk: that one batch is replayed again
//! by the next process.
//!
//! The directory is bounded ([`SpoolLimits`]); an append past the bound
//! fails, and the writer keeps the records in memory or reports them lost.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{Level, Origin, Record, Text, Timestamp, Value};
use serde::{Deserialize, Serialize};

const QUARANTINE: &str = "quarantine.jsonl";

#[derive(Serialize, Deserialize)]
struct Header {
    log_panel_spool: u32,
    origin: Origin,
}

#[derive(Serialize, Deserialize)]
struct Line {
    ts: i64,
    level: String,
    logger: String,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    thread: String,
    /// Context and key-values, merged as they would be stored, as `[key, value]`
    /// pairs so their order survives.
    fields: Vec<(String, serde_json::Value)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    original_size: Option<u64>,
}

impl Line {
    fn from_record(r: &Record) -> Line {
        let fields = r
            .fields()
            .map(|(k, v)| (k.to_owned(), serde_json::to_value(v).unwrap_or(serde_json::Value::Null)))
            .collect();
        Line {
            ts: r.timestamp.as_micros(),
            level: r.level.as_str().to_owned(),
            logger: r.logger.to_string(),
            message: r.message.to_string(),
            module: r.module_path.as_deref().map(str::to_owned),
            file: r.file.as_deref().map(str::to_owned),
            line: r.line,
            thread: r.thread.to_string(),
            fields,
            original_size: r.original_size,
        }
    }

    fn into_record(self) -> Record {
        let mut record = Record::at(
            Timestamp(self.ts),
            self.level.parse().unwrap_or(Level::Error),
            Text::Owned(self.logger),
            Text::Owned(self.message),
            Arc::from(self.thread.as_str()),
        );
        record.module_path = self.module.map(Text::Owned);
        record.file = self.file.map(Text::Owned);
        record.line = self.line;
        record.kv = self.fields.into_iter().map(|(k, v)| (Text::Owned(k), Value::from_json(v))).collect();
        record.original_size = self.original_size;
        record
    }
}

/// A batch read back from a spool file, to be stored and then committed.
pub(crate) struct Replay {
    pub(crate) origin: Origin,
    pub(crate) records: Vec<Record>,
    /// Lines that could not be parsed (a torn last line after a crash, or
    /// damage); moved to quarantine on commit.
    bad_lines: Vec<(u64, String)>,
    /// The file offset just past each record's line, so a stored prefix can be committed.
    record_ends: Vec<u64>,
    pub(crate) file: PathBuf,
    /// Where this batch starts in the file.
    start_offset: u64,
    end_offset: u64,
    at_eof: bool,
    /// Written by this process in this run (so its records count towards `flush`).
    pub(crate) own: bool,
}

impl Replay {
    /// Keeps only the first `n` records (those already stored), so that
    /// committing advances the offset just past them and no further.
    pub(crate) fn keep_first(&mut self, n: usize) {
        if n >= self.records.len() {
            return;
        }
        self.end_offset = match n.checked_sub(1) {
            Some(last) => self.record_ends[last],
            None => self.start_offset,
        };
        self.records.truncate(n);
        self.record_ends.truncate(n);
        let end = self.end_offset;
        self.bad_lines.retain(|(at, _)| *at <= end);
        self.at_eof = false;
    }
}

/// How far replay of one file has got in this process.
#[derive(Debug, Clone, Copy)]
struct Progress {
    offset: u64,
    done: bool,
}

/// The file being appended to: its path, handle and length.
struct Writing {
    path: PathBuf,
    file: File,
    len: u64,
}

pub(crate) struct Spool {
    dir: PathBuf,
    /// Prefix shared by the files this process writes in this run.
    run_prefix: String,
    seq: u32,
    writing: Option<Writing>,
    /// Records of this run that are in the spool and not yet replayed.
    pub(crate) own_records: u64,
    /// False once the directory was seen with nothing to replay and nothing
    /// was appended since: spares a directory listing per record.
    maybe_pending: bool,
    /// When the directory was last listed, so files of a process that has
    /// since exited are found again even when this process appends nothing.
    last_scan: Option<Instant>,
    /// The lock on this run's files, held from the first append until exit.
    run_lock: Option<File>,
    /// Locks taken on other (exited) processes' runs while replaying them.
    foreign_locks: HashMap<String, File>,
    /// Replay progress committed in this process. It is ahead of the offset
    /// files only when writing one failed, and `next` reads from here, so a
    /// stored batch is never replayed again by this process.
    progress: HashMap<PathBuf, Progress>,
    /// A file whose progress could not be written (and since when): replay
    /// pauses until it can be, so a crash can replay at most that one batch again.
    unsaved: Option<(PathBuf, Instant)>,
    /// Files that cannot be read and could not be renamed aside: left alone.
    skipped: HashSet<PathBuf>,
    /// Unreadable lines that could not be quarantined either, not yet
    /// added to `stats().lost` (see [`Spool::take_lost`]).
    lost: u64,
    limits: SpoolLimits,
    /// Bytes and files of spool data in the directory, as of the last
    /// listing plus what was appended since.
    used: Option<(u64, usize)>,
}

/// How much the spool directory may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpoolLimits {
    /// Bytes of spool files (all processes sharing the directory).
    pub(crate) max_bytes: u64,
    /// Spool files.
    pub(crate) max_files: usize,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits { max_bytes: 1024 * 1024 * 1024, max_files: MAX_FILES }
    }
}

/// How often the directory is listed again for files of exited processes.
const RESCAN: Duration = Duration::from_secs(30);
/// How often a replay paused by an unwritable offset tries to write it again.
const SAVE_RETRY: Duration = Duration::from_secs(1);
/// Default bound on the number of spool files in the directory.
pub(crate) const MAX_FILES: usize = 1_000;
/// Width of an offset file's number: fixed, so that it is rewritten in
/// place, which needs no free space on a full disk.
const OFFSET_WIDTH: usize = 20;

impl Spool {
    #[cfg(test)]
    pub(crate) fn new(dir: PathBuf, origin: &Origin) -> Spool {
        Spool::with_limits(dir, origin, SpoolLimits::default())
    }

    pub(crate) fn with_limits(dir: PathBuf, origin: &Origin, limits: SpoolLimits) -> Spool {
        let start = Timestamp::now().as_micros();
        Spool {
            dir,
            run_prefix: format!("spool-{start:020}-{}-", origin.pid),
            seq: 0,
            writing: None,
            own_records: 0,
            maybe_pending: true,
            last_scan: None,
            run_lock: None,
            foreign_locks: HashMap::new(),
            progress: HashMap::new(),
            unsaved: None,
            skipped: HashSet::new(),
            lost: 0,
            limits,
            used: None,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Unreadable spool lines that could be neither replayed nor quarantined
    /// since the last call.
    pub(crate) fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Appends a batch and fsyncs it; only then may it leave memory. On an
    /// error nothing of the batch is left in the spool: a new file is
    /// written under a temporary name and renamed once complete, and a failed
    /// append is cut off again.
    pub(crate) fn append(&mut self, origin: &Origin, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 256);
        for r in records {
            serde_json::to_writer(&mut buf, &Line::from_record(r))?;
            buf.push(b'\n');
        }
        self.maybe_pending = true;
        self.check_room(buf.len() as u64)?;
        match &mut self.writing {
            Some(w) => {
                if let Err(e) = w.file.write_all(&buf).and_then(|()| w.file.sync_data()) {
                    // Cut the partial batch off; if even that fails, the torn
                    // tail is quarantined as an unreadable line on replay.
                    if w.file.set_len(w.len).and_then(|()| w.file.sync_data()).is_err() {
                        self.writing = None;
                    }
                    return Err(e);
                }
                w.len += buf.len() as u64;
            }
            None => self.create(origin, &buf)?,
        }
        if let Some((bytes, _)) = &mut self.used {
            *bytes += buf.len() as u64;
        }
        self.own_records += records.len() as u64;
        Ok(())
    }

    /// Refuses a write that would take the directory past its limits.
    fn check_room(&mut self, more: u64) -> io::Result<()> {
        let (bytes, files) = match self.used {
            Some(u) => u,
            None => {
                self.files()?;
                self.used.unwrap_or((0, 0))
            }
        };
        let new_file = self.writing.is_none();
        if bytes + more > self.limits.max_bytes || (new_file && files >= self.limits.max_files) {
            return Err(io::Error::other(format!(
                "the spool is full ({bytes} bytes in {files} files; limits {} bytes, {} files)",
                self.limits.max_bytes, self.limits.max_files
            )));
        }
        Ok(())
    }

    /// Writes a new spool file holding the header and `body`: under a
    /// temporary name, fsynced, then renamed, so a spool file always has its
    /// header and whole lines. Its offset file is written first, at its fixed
    /// width, so that recording progress later never needs disk space.
    fn create(&mut self, origin: &Origin, body: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        if self.run_lock.is_none() {
            let lock = open_lock(&self.dir, &self.run_prefix)?;
            lock.lock()?; // our own run: nobody else holds it
            self.run_lock = Some(lock);
        }
        self.seq += 1;
        let path = self.dir.join(format!("{}{:06}.jsonl", self.run_prefix, self.seq));
        let tmp = path.with_extension("tmp");
        let offset = offset_path(&path);
        let header = Header { log_panel_spool: 1, origin: origin.clone() };
        let mut data = serde_json::to_vec(&header)?;
        data.push(b'\n');
        let header_len = data.len() as u64;
        data.extend_from_slice(body);
        let written = (|| {
            write_offset_in_place(&offset, 0, true)?;
            // Append mode: after a failed append is cut off, the next one
            // writes at the new end, not past it.
            let mut file = OpenOptions::new().create_new(true).append(true).open(&tmp)?;
            file.write_all(&data)?;
            file.sync_data()?;
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir);
            Ok::<File, io::Error>(file)
        })();
        match written {
            Ok(file) => {
                self.writing = Some(Writing { path, file, len: header_len + body.len() as u64 });
                if let Some((bytes, files)) = &mut self.used {
                    *bytes += header_len;
                    *files += 1;
                }
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                let _ = fs::remove_file(&offset);
                Err(e)
            }
        }
    }

    /// Spool files waiting for replay, oldest first; also counts what the
    /// directory holds, for the limits.
    fn files(&mut self) -> io::Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.used = Some((0, 0));
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut bytes = 0;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let is_spool = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("spool-") && n.ends_with(".jsonl"));
            if is_spool {
                bytes += entry.metadata().map_or(0, |m| m.len());
                files.push(path);
            }
        }
        files.sort();
        self.used = Some((bytes, files.len()));
        Ok(files)
    }

    /// True when nothing is waiting for replay.
    #[cfg(test)]
    fn is_empty(&mut self) -> io::Result<bool> {
        Ok(self.files()?.is_empty())
    }

    /// Reads the next batch of at most `max` records from the oldest file.
    /// Files that cannot be read are set aside (and named on stderr), never
    /// retried in a loop.
    pub(crate) fn next(&mut self, max: usize) -> io::Result<Option<Replay>> {
        if let Some((file, since)) = &self.unsaved {
            if since.elapsed() < SAVE_RETRY {
                return Ok(None);
            }
            let file = file.clone();
            if self.save(&file).is_err() {
                return Ok(None);
            }
            eprintln!("log-panel: spool replay progress for {} recorded; replay resumes", file.display());
        }
        let rescan = self.last_scan.is_none_or(|t| t.elapsed() >= RESCAN);
        if !self.maybe_pending && !rescan {
            return Ok(None);
        }
        self.last_scan = Some(Instant::now());
        for path in self.files()? {
            if self.skipped.contains(&path) || self.progress.get(&path).is_some_and(|p| p.done) {
                continue;
            }
            // A lock that cannot even be opened (a full or read-only disk): not now.
            if !self.may_replay(&path).unwrap_or(false) {
                continue;
            }
            match self.read_batch(&path, max) {
                Ok(Some(replay)) => return Ok(Some(replay)),
                Ok(None) => {}
                Err(e) => self.set_aside(&path, &format!("cannot be read: {e}")),
            }
        }
        self.maybe_pending = false;
        Ok(None)
    }

    /// The next batch of `path`; `None` when its header is not valid (the
    /// file is then set aside).
    fn read_batch(&mut self, path: &Path, max: usize) -> io::Result<Option<Replay>> {
        let own = run_of(path).as_deref() == Some(self.run_prefix.as_str());
        let mut reader = BufReader::new(File::open(path)?);
        let mut header = String::new();
        let header_len = reader.read_line(&mut header)? as u64;
        let origin = match serde_json::from_str::<Header>(&header) {
            Ok(h) if h.log_panel_spool == 1 => h.origin,
            _ => {
                self.set_aside(path, "has no valid header");
                return Ok(None);
            }
        };
        let committed = self.progress.get(path).map_or(0, |p| p.offset);
        let start = read_offset(path).max(committed).max(header_len);
        reader.seek(SeekFrom::Start(start))?;
        let (mut records, mut bad_lines, mut record_ends, mut offset) = (Vec::new(), Vec::new(), Vec::new(), start);
        let mut at_eof = false;
        let mut line = String::new();
        while records.len() < max {
            line.clear();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                at_eof = true;
                break;
            }
            offset += n as u64;
            match serde_json::from_str::<Line>(line.trim_end_matches('\n')) {
                Ok(l) => {
                    records.push(l.into_record());
                    record_ends.push(offset);
                }
                Err(_) => bad_lines.push((offset, line.trim_end().to_owned())),
            }
        }
        if !at_eof {
            // Peek: a file that ends exactly here is done with this batch.
            at_eof = reader.fill_buf()?.is_empty();
        }
        Ok(Some(Replay {
            origin,
            records,
            bad_lines,
            record_ends,
            file: path.to_path_buf(),
            start_offset: start,
            end_offset: offset,
            at_eof,
            own,
        }))
    }

    /// Moves an unreadable file out of replay's way: renamed to
    /// `.unreadable`, or, when even that fails, skipped for the rest of the run.
    fn set_aside(&mut self, path: &Path, why: &str) {
        let aside = path.with_extension("unreadable");
        match fs::rename(path, &aside) {
            Ok(()) => eprintln!("log-panel: spool file {} {why}; moved to {}", path.display(), aside.display()),
            Err(e) => {
                eprintln!(
                    "log-panel: spool file {} {why}, and cannot be moved aside ({e}); skipping it",
                    path.display()
                );
                self.skipped.insert(path.to_path_buf());
            }
        }
    }

    /// Records that a replayed batch is stored. This process's own memory of
    /// the progress is updated first and cannot fail; then the offset is
    /// written (fsynced), or the file removed once fully replayed. An error
    /// means the progress is not on disk yet: replay pauses until it is.
    pub(crate) fn commit(&mut self, replay: &Replay) -> io::Result<()> {
        let mut unkept = 0;
        for (_, bad) in &replay.bad_lines {
            if self.quarantine_text(bad, "unreadable spool line").is_err() {
                unkept += 1;
            }
        }
        if unkept > 0 {
            self.lost += unkept;
            eprintln!(
                "log-panel: {unkept} unreadable lines of spool file {} could not be quarantined; they are lost",
                replay.file.display()
            );
        }
        if replay.own {
            self.own_records = self.own_records.saturating_sub(replay.records.len() as u64);
        }
        // Replayed from the file we are writing: close it, so new spills start
        // a newer file. Only now: a replay attempt that fails (storage still
        // down) keeps appending to the same file, one file per outage.
        let mut done = replay.at_eof;
        if let Some(w) = self.writing.take_if(|w| w.path == replay.file) {
            // Appended to since it was read: not done after all.
            done &= w.len <= replay.end_offset;
        }
        self.progress.insert(replay.file.clone(), Progress { offset: replay.end_offset, done });
        self.save(&replay.file)
    }

    /// Writes the progress of `file` to disk.
    fn save(&mut self, file: &Path) -> io::Result<()> {
        let Some(progress) = self.progress.get(file).copied() else { return Ok(()) };
        let result = if progress.done {
            self.remove_replayed(file)
        } else {
            let offset_path = offset_path(file);
            match write_offset_in_place(&offset_path, progress.offset, false) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => write_offset_replacing(&offset_path, progress.offset),
                other => other,
            }
        };
        match result {
            Ok(()) => {
                self.unsaved = None;
                if progress.done {
                    self.progress.remove(file);
                }
                Ok(())
            }
            Err(e) => {
                self.unsaved = Some((file.to_path_buf(), Instant::now()));
                Err(e)
            }
        }
    }

    fn remove_replayed(&mut self, file: &Path) -> io::Result<()> {
        remove_if_present(file)?;
        remove_if_present(&offset_path(file))?;
        // Counted again at the next listing.
        self.used = None;
        // A lock file left behind only costs an empty file.
        let released = match run_of(file) {
            Some(run) if run == self.run_prefix => self.release_own(),
            Some(run) => self.release_foreign(&run),
            None => Ok(()),
        };
        if let Err(e) = released {
            eprintln!("log-panel: spool {}: cannot remove a lock file: {e}", self.dir.display());
        }
        Ok(())
    }

    /// Keeps a record the storage rejects even sanitised, with the reason.
    pub(crate) fn quarantine(&mut self, origin: &Origin, record: &Record, reason: &str) -> io::Result<()> {
        let entry = serde_json::json!({
            "reason": reason,
            "origin": origin,
            "record": Line::from_record(record),
        });
        self.quarantine_text(&entry.to_string(), reason)
    }

    fn quarantine_text(&mut self, text: &str, reason: &str) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut f = OpenOptions::new().create(true).append(true).open(self.dir.join(QUARANTINE))?;
        let line = if text.starts_with('{') && text.contains("\"reason\"") {
            format!("{text}\n")
        } else {
            format!("{}\n", serde_json::json!({ "reason": reason, "line": text }))
        };
        let before = f.metadata()?.len();
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.sync_data()) {
            let _ = f.set_len(before);
            return Err(e);
        }
        Ok(())
    }
}

impl Spool {
    /// Whether this process may replay `path`: its own run's files always; another
    /// run's only while holding that run's lock (its writer has exited).
    fn may_replay(&mut self, path: &Path) -> io::Result<bool> {
        let Some(run) = run_of(path) else { return Ok(false) };
        if run == self.run_prefix || self.foreign_locks.contains_key(&run) {
            return Ok(true);
        }
        let lock = open_lock(&self.dir, &run)?;
        match lock.try_lock() {
            Ok(()) => {
                self.foreign_locks.insert(run, lock);
                Ok(true)
            }
            Err(fs::TryLockError::WouldBlock) => Ok(false),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// All of this run's files replayed: drop the lock file, and spill any
    /// later records under a new run name, so that a process that opened the
    /// old lock file can never take files written after this.
    fn release_own(&mut self) -> io::Result<()> {
        let prefix = self.run_prefix.clone();
        let left = self.files()?.iter().any(|p| run_of(p).as_deref() == Some(prefix.as_str()));
        if left || self.writing.is_some() {
            return Ok(());
        }
        if let Some(lock) = self.run_lock.take() {
            fs::remove_file(self.dir.join(format!("{}.lock", self.run_prefix)))?;
            drop(lock);
            let pid = self.run_prefix.rsplit('-').nth(1).unwrap_or("0").to_owned();
            let start = Timestamp::now().as_micros();
            self.run_prefix = format!("spool-{start:020}-{pid}-");
            self.seq = 0;
        }
        Ok(())
    }

    /// Done with an exited run: remove its lock file once none of its files is left.
    fn release_foreign(&mut self, run: &str) -> io::Result<()> {
        let left = self.files()?.iter().any(|p| run_of(p).as_deref() == Some(run));
        if !left {
            if let Some(lock) = self.foreign_locks.remove(run) {
                fs::remove_file(self.dir.join(format!("{run}.lock")))?;
                drop(lock);
            }
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `offset` at the fixed width over the file's first bytes (creating
/// the file when `create`): on an existing file this overwrites blocks it
/// already has, so it works on a full disk.
fn write_offset_in_place(path: &Path, offset: u64, create: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(create).open(path)?;
    f.write_all(format!("{offset:0width$}\n", width = OFFSET_WIDTH).as_bytes())?;
    f.sync_data()
}

/// Writes an offset file by renaming a new one over it (for files spooled
/// by versions that wrote no offset file up front).
fn write_offset_replacing(path: &Path, offset: u64) -> io::Result<()> {
    let tmp = path.with_extension("offset.tmp");
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{offset:0width$}\n", width = OFFSET_WIDTH).as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Makes a rename in `dir` durable; best effort (not every platform can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The run prefix of a spool file name (`spool-<start>-<pid>-`).
fn run_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".jsonl")?;
    let cut = stem.rfind('-')?;
    Some(stem[..=cut].to_owned())
}

fn open_lock(dir: &Path, run: &str) -> io::Result<File> {
    OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(format!("{run}.lock")))
}

fn offset_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".offset");
    PathBuf::from(name)
}

fn read_offset(file: &Path) -> u64 {
    fs::read_to_string(offset_path(file)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use log_panel_core::Context;

    fn origin() -> Origin {
        origin_of(42)
    }

    /// The same application on the same host, in process `pid`.
    fn origin_of(pid: u32) -> Origin {
        Origin::new("a", "h", pid)
    }

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let mut r = Record::new(Level::Warn, "t::x", format!("m{i}"));
                r.kv.push(("i".into(), Value::I64(i as i64)));
                r.context = Context::from_pairs([("req", "r1")]);
                r.line = Some(7);
                r
            })
            .collect()
    }

    #[test]
    fn append_then_replay_in_batches_resumes_at_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().join("s"), &origin());
        spool.append(&origin(), &records(5)).unwrap();
        assert_eq!(spool.own_records, 5);

        let first = spool.next(3).unwrap().unwrap();
        assert_eq!(first.records.len(), 3);
        assert!(!first.at_eof);
        assert_eq!(first.origin, origin());
        let r = &first.records[1];
        assert_eq!((r.level, r.logger.as_ref(), r.message.as_ref(), r.line), (Level::Warn, "t::x", "m1", Some(7)));
        let fields: Vec<(&str, &Value)> = r.fields().collect();
        assert_eq!(fields, vec![("req", &Value::from("r1")), ("i", &Value::I64(1))]);
        spool.commit(&first).unwrap();

        // The process exits; a new one resumes after the committed batch.
        drop(spool);
        let mut again = Spool::new(dir.path().join("s"), &origin_of(43));
        let second = again.next(10).unwrap().unwrap();
        let msgs: Vec<&str> = second.records.iter().map(|r| r.message.as_ref()).collect();
        assert_eq!(msgs, ["m3", "m4"]);
        assert!(second.at_eof && !second.own);
        again.commit(&second).unwrap();
        assert!(again.is_empty().unwrap());
        assert!(again.next(10).unwrap().is_none());
    }

    #[test]
    fn a_stored_prefix_is_committed_and_the_rest_replayed_next() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), &origin());
        spool.append(&origin(), &records(5)).unwrap();
        let mut replay = spool.next(10).unwrap().unwrap();
        replay.keep_first(2);
        spool.commit(&replay).unwrap();
        let rest = spool.next(10).unwrap().unwrap();
        let msgs: Vec<&str> = rest.records.iter().map(|r| r.message.as_ref()).collect();
        assert_eq!(msgs, ["m2", "m3", "m4"]);
        assert_eq!(spool.own_records, 3);
    }

    #[test]
    fn torn_last_line_is_quarantined_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), &origin());
        spool.append(&origin(), &records(2)).unwrap();
        let path = spool.files().unwrap().remove(0);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"ts\":1,\"lev").unwrap();
        let replay = spool.next(10).unwrap().unwrap();
        assert_eq!(replay.records.len(), 2);
        spool.commit(&replay).unwrap();
        let q = fs::read_to_string(dir.path().join(QUARANTINE)).unwrap();
        assert_eq!(q.lines().count(), 1);
        assert!(q.contains("unreadable spool line"));
    }

    #[test]
    fn another_live_process_s_files_are_left_to_it_until_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Spool::new(dir.path().to_path_buf(), &origin());
        a.append(&origin(), &records(3)).unwrap();
        // Another process sharing the directory (distinct start time in its run prefix).
        std::thread::sleep(Duration::from_millis(2));
        let mut b = Spool::new(dir.path().to_path_buf(), &origin_of(43));
        assert!(b.next(10).unwrap().is_none(), "a is alive: its files are its own to replay");
        drop(a); // a exits: the OS releases its lock
        b.last_scan = None; // as after the rescan interval
        let replay = b.next(10).unwrap().unwrap();
        assert_eq!((replay.records.len(), replay.own), (3, false));
        // A third process cannot take the same run while b replays it.
        let mut c = Spool::new(dir.path().to_path_buf(), &origin_of(44));
        assert!(c.next(10).unwrap().is_none());
        b.commit(&replay).unwrap();
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "files and the exited run's lock removed: {left:?}");
    }

    #[test]
    fn replaying_the_file_being_written_starts_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), &origin());
        spool.append(&origin(), &records(1)).unwrap();
        let replay = spool.next(10).unwrap().unwrap();
        spool.append(&origin(), &records(2)).unwrap();
        spool.commit(&replay).unwrap();
        let next = spool.next(10).unwrap().unwrap();
        assert_eq!(next.records.len(), 2, "the later spill is replayed next, not removed with the file");
        spool.commit(&next).unwrap();
        spool.append(&origin(), &records(1)).unwrap();
        assert_eq!(spool.files().unwrap().len(), 1, "a newer file for spills after the replay");
    }

    #[test]
    fn thousands_of_unreadable_files_are_set_aside_without_recursion() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5000 {
            fs::write(dir.path().join(format!("spool-{i:020}-1-000001.jsonl")), b"").unwrap();
        }
        let limits = SpoolLimits { max_files: 10_000, ..SpoolLimits::default() };
        let mut spool = Spool::with_limits(dir.path().to_path_buf(), &origin(), limits);
        spool.append(&origin(), &records(2)).unwrap();
        let replay = spool.next(10).unwrap().unwrap();
        assert_eq!(replay.records.len(), 2, "the good file behind 5000 bad ones is replayed");
        spool.commit(&replay).unwrap();
        assert!(spool.next(10).unwrap().is_none());
        let aside = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "unreadable"))
            .count();
        assert_eq!(aside, 5000);
    }

    #[test]
    fn an_unwritable_offset_pauses_replay_and_never_repeats_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_path_buf(), &origin());
        spool.append(&origin(), &records(5)).unwrap();
        let path = spool.files().unwrap().remove(0);
        // A directory where the offset file should be: it cannot be written (even by root).
        fs::remove_file(offset_path(&path)).unwrap();
        fs::create_dir(offset_path(&path)).unwrap();
        let first = spool.next(2).unwrap().unwrap();
        assert!(spool.commit(&first).is_err());
        assert!(spool.next(2).unwrap().is_none(), "paused, not repeated");
        fs::remove_dir(offset_path(&path)).unwrap();
        spool.unsaved.as_mut().unwrap().1 -= SAVE_RETRY;
        let second = spool.next(10).unwrap().unwrap();
        let msgs: Vec<&str> = second.records.iter().map(|r| r.message.as_ref()).collect();
        assert_eq!(msgs, ["m2", "m3", "m4"], "resumes after the stored batch");
        assert_eq!(read_offset(&path), first.end_offset, "the progress reached the disk");
    }

    #[test]
    fn the_spool_refuses_past_its_limit_and_keeps_nothing_partial() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits { max_bytes: 2000, max_files: 10 };
        let mut spool = Spool::with_limits(dir.path().to_path_buf(), &origin(), limits);
        spool.append(&origin(), &records(3)).unwrap();
        let err = spool.append(&origin(), &records(100)).unwrap_err();
        assert!(err.to_string().contains("the spool is full"), "{err}");
        assert_eq!(spool.own_records, 3);
        let replay = spool.next(1000).unwrap().unwrap();
        assert_eq!(replay.records.len(), 3);
        assert!(replay.bad_lines.is_empty());
    }
}
