//! The local spool: records the storage could not take, kept on disk as JSON
//! lines until it can.
//!
//! Layout of the spool directory:
//! - `spool-<start µs>-<pid>-<seq>.jsonl`: one file per stretch of spilling.
//!   The first line is a header naming the process (app, host, pid) that
//!   logged the records; every other line is one record. Names sort in the
//!   order the files were written, so replay takes the oldest first.
//! - `<file>.offset`: how far replay has got (bytes), written and fsynced after
//!   each replayed batch commits, so a restarted process resumes there.
//! - `quarantine.jsonl`: records the storage rejected even after sanitising.
//! - `spool-<start µs>-<pid>-.lock`: held (an OS file lock) by the process that
//!   writes that run's files, for as long as it lives. Several processes may
//!   share one spool directory: each replays its own files, and another
//!   process's files only once it can take their lock — that is, once their
//!   writer has exited — holding the lock while it replays them. So no two
//!   processes ever replay the same file.
//!
//! Exactly-once: a batch is appended and fsynced before it leaves memory; the
//! offset advances only after the storage commits. The one window left is a
//! crash between a replay commit and the offset write: that batch would be
//! replayed again by the next process.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log_panel_core::{context::Context, Level, Origin, Record, Text, Timestamp, Value};
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
            logger: r.target.to_string(),
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
        Record {
            timestamp: Timestamp(self.ts),
            level: self.level.parse().unwrap_or(Level::Error),
            target: Text::Owned(self.logger),
            message: Text::Owned(self.message),
            module_path: self.module.map(Text::Owned),
            file: self.file.map(Text::Owned),
            line: self.line,
            thread: Arc::from(self.thread.as_str()),
            kv: self.fields.into_iter().map(|(k, v)| (Text::Owned(k), Value::from_json(v))).collect(),
            context: Context::empty(),
            original_size: self.original_size,
        }
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
    file: PathBuf,
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
        // Offset 0 means "from the start": `next` skips the header itself.
        self.end_offset = match n.checked_sub(1) {
            Some(last) => self.record_ends[last],
            None => 0,
        };
        self.records.truncate(n);
        self.record_ends.truncate(n);
        let end = self.end_offset;
        self.bad_lines.retain(|(at, _)| *at <= end);
        self.at_eof = false;
    }
}

pub(crate) struct Spool {
    dir: PathBuf,
    /// Prefix shared by the files this process writes in this run.
    run_prefix: String,
    seq: u32,
    writing: Option<(PathBuf, File)>,
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
}

/// How often the directory is listed again for files of exited processes.
const RESCAN: Duration = Duration::from_secs(30);

impl Spool {
    pub(crate) fn new(dir: PathBuf, origin: &Origin) -> Spool {
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
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a batch and fsyncs it; only then may it leave memory.
    pub(crate) fn append(&mut self, origin: &Origin, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 256);
        for r in records {
            serde_json::to_writer(&mut buf, &Line::from_record(r))?;
            buf.push(b'\n');
        }
        self.maybe_pending = true;
        let file = self.writer(origin)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        self.own_records += records.len() as u64;
        Ok(())
    }

    fn writer(&mut self, origin: &Origin) -> io::Result<&mut File> {
        if self.writing.is_none() {
            fs::create_dir_all(&self.dir)?;
            if self.run_lock.is_none() {
                let lock = open_lock(&self.dir, &self.run_prefix)?;
                lock.lock()?; // our own run: nobody else holds it
                self.run_lock = Some(lock);
            }
            self.seq += 1;
            let path = self.dir.join(format!("{}{:06}.jsonl", self.run_prefix, self.seq));
            let mut file = OpenOptions::new().create_new(true).append(true).open(&path)?;
            let header = Header { log_panel_spool: 1, origin: origin.clone() };
            let mut line = serde_json::to_vec(&header)?;
            line.push(b'\n');
            file.write_all(&line)?;
            self.writing = Some((path, file));
        }
        match &mut self.writing {
            Some((_, file)) => Ok(file),
            None => Err(io::Error::other("spool file not open")),
        }
    }

    /// Spool files waiting for replay, oldest first.
    fn files(&self) -> io::Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("spool-") && n.ends_with(".jsonl"))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// True when nothing is waiting for replay.
    #[cfg(test)]
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.files()?.is_empty())
    }

    /// Reads the next batch of at most `max` records from the oldest file.
    pub(crate) fn next(&mut self, max: usize) -> io::Result<Option<Replay>> {
        let rescan = self.last_scan.is_none_or(|t| t.elapsed() >= RESCAN);
        if !self.maybe_pending && !rescan {
            return Ok(None);
        }
        self.last_scan = Some(Instant::now());
        let mut chosen = None;
        for path in self.files()? {
            if self.may_replay(&path)? {
                chosen = Some(path);
                break;
            }
        }
        let Some(path) = chosen else {
            self.maybe_pending = false;
            return Ok(None);
        };
        // Replaying the file we are writing: close it, so new spills start a newer file.
        if self.writing.as_ref().is_some_and(|(p, _)| *p == path) {
            self.writing = None;
        }
        let own = run_of(&path).as_deref() == Some(self.run_prefix.as_str());
        let mut reader = BufReader::new(File::open(&path)?);
        let mut header = String::new();
        let header_len = reader.read_line(&mut header)? as u64;
        let origin = match serde_json::from_str::<Header>(&header) {
            Ok(h) if h.log_panel_spool == 1 => h.origin,
            _ => {
                // Not ours or unreadable: set it aside rather than block replay forever.
                let aside = path.with_extension("unreadable");
                fs::rename(&path, &aside)?;
                eprintln!("log-panel: spool file {} has no valid header; moved to {}", path.display(), aside.display());
                return self.next(max);
            }
        };
        let start = read_offset(&path).max(header_len);
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
        Ok(Some(Replay { origin, records, bad_lines, record_ends, file: path, end_offset: offset, at_eof, own }))
    }

    /// Records that a replayed batch is stored: advance the offset (fsynced),
    /// or remove the file once it is fully replayed.
    pub(crate) fn commit(&mut self, replay: &Replay) -> io::Result<()> {
        for (_, bad) in &replay.bad_lines {
            self.quarantine_text(bad, "unreadable spool line")?;
        }
        if replay.own {
            self.own_records = self.own_records.saturating_sub(replay.records.len() as u64);
        }
        let offset_path = offset_path(&replay.file);
        if replay.at_eof {
            fs::remove_file(&replay.file)?;
            match fs::remove_file(&offset_path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            match run_of(&replay.file) {
                Some(run) if run == self.run_prefix => self.release_own()?,
                Some(run) => self.release_foreign(&run)?,
                None => {}
            }
        } else {
            let tmp = offset_path.with_extension("offset.tmp");
            let mut f = File::create(&tmp)?;
            f.write_all(replay.end_offset.to_string().as_bytes())?;
            f.sync_data()?;
            fs::rename(&tmp, &offset_path)?;
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
        f.write_all(line.as_bytes())?;
        f.sync_data()
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
        let left = self.files()?.iter().any(|p| run_of(p).as_deref() == Some(self.run_prefix.as_str()));
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

    fn origin() -> Origin {
        Origin { app: "a".into(), host: "h".into(), pid: 42 }
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
        assert_eq!((r.level, r.target.as_ref(), r.message.as_ref(), r.line), (Level::Warn, "t::x", "m1", Some(7)));
        let fields: Vec<(&str, &Value)> = r.fields().collect();
        assert_eq!(fields, vec![("req", &Value::from("r1")), ("i", &Value::I64(1))]);
        spool.commit(&first).unwrap();

        // The process exits; a new one resumes after the committed batch.
        drop(spool);
        let mut again = Spool::new(dir.path().join("s"), &Origin { pid: 43, ..origin() });
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
        let mut b = Spool::new(dir.path().to_path_buf(), &Origin { pid: 43, ..origin() });
        assert!(b.next(10).unwrap().is_none(), "a is alive: its files are its own to replay");
        drop(a); // a exits: the OS releases its lock
        b.last_scan = None; // as after the rescan interval
        let replay = b.next(10).unwrap().unwrap();
        assert_eq!((replay.records.len(), replay.own), (3, false));
        // A third process cannot take the same run while b replays it.
        let mut c = Spool::new(dir.path().to_path_buf(), &Origin { pid: 44, ..origin() });
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
        assert_eq!(next.records.len(), 2, "the later spill is in its own, newer file");
        assert_eq!(spool.files().unwrap().len(), 1);
    }
}
