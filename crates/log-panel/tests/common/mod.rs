//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use log_panel::{Batch, Record, Sink, SinkError};

pub mod receiver;

/// A temp dir with a database path inside it.
pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempDb {
    pub fn new() -> TempDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.db");
        TempDb { dir, path }
    }

    pub fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }

    pub fn count(&self, sql_where: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM log_records WHERE {sql_where}");
        self.conn().query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    pub fn messages(&self) -> Vec<String> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT message FROM log_records ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A sink that hands every batch it is given to the test.
pub struct Recorder {
    pub tx: mpsc::Sender<Vec<Record>>,
}

impl Sink for Recorder {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let _ = self.tx.send(batch.records.to_vec());
        Ok(())
    }
}

pub fn recorder() -> (Recorder, mpsc::Receiver<Vec<Record>>) {
    let (tx, rx) = mpsc::channel();
    (Recorder { tx }, rx)
}

/// Long enough for the writer to act on a record already queued, on a loaded CI machine.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A scripted sink: stores into shared memory, and fails or panics on cue.
pub mod scripted {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use log_panel::{Batch, Record, Sink, SinkError, SinkErrorKind};

    #[derive(Default)]
    pub struct Script {
        /// Fail this many write calls (Unavailable) before succeeding.
        pub fail_first: usize,
        /// Panic on these (1-based) write calls.
        pub panic_on: HashSet<usize>,
        /// Reject (BadRecord) any batch holding a record whose message contains this.
        pub reject: Option<String>,
        /// Also reject it when sanitised (so it must be quarantined).
        pub reject_sanitised: bool,
        /// Sleep this long in every write.
        pub delay: Duration,
        /// Fail every write while this is true.
        pub down: bool,
    }

    #[derive(Clone, Default)]
    pub struct Shared {
        pub script: Arc<Mutex<Script>>,
        pub stored: Arc<Mutex<Vec<Record>>>,
        pub calls: Arc<Mutex<usize>>,
    }

    impl Shared {
        pub fn sink(&self) -> ScriptedSink {
            ScriptedSink(self.clone())
        }
        pub fn stored_messages(&self) -> Vec<String> {
            self.stored.lock().unwrap().iter().map(|r| r.message.to_string()).collect()
        }
        pub fn set_down(&self, down: bool) {
            self.script.lock().unwrap().down = down;
        }
    }

    pub struct ScriptedSink(pub Shared);

    impl Sink for ScriptedSink {
        fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
            let call = {
                let mut c = self.0.calls.lock().unwrap();
                *c += 1;
                *c
            };
            let script = self.0.script.lock().unwrap();
            std::thread::sleep(script.delay);
            if script.down || call <= script.fail_first {
                return Err(SinkError::unavailable(format!("scripted outage on call {call}")));
            }
            if script.panic_on.contains(&call) {
                drop(script);
                panic!("scripted panic on call {call}");
            }
            if let Some(bad) = &script.reject {
                let rejected = batch.records.iter().any(|r| {
                    r.message.contains(bad.as_str())
                        && (script.reject_sanitised || !r.message.contains('\u{FFFD}'))
                        && (script.reject_sanitised || r.message.contains('\0'))
                });
                if rejected {
                    return Err(SinkError::new(SinkErrorKind::BadRecord, "scripted rejection"));
                }
            }
            drop(script);
            self.0.stored.lock().unwrap().extend(batch.records.iter().cloned());
            Ok(())
        }
    }
}

/// Logs `per_thread` records from each of `threads` threads at once through
/// `panel`, each with key-values `t` (its thread) and `seq` (0, 1, …), so the
/// stored rows show whether any was lost, duplicated or reordered.
pub fn log_from_threads(panel: &log_panel::Pipeline, threads: u32, per_thread: u32) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for seq in 0..per_thread {
                    log::info!(logger: panel, t = t, seq = seq; "record {}", seq);
                }
            });
        }
    });
}
