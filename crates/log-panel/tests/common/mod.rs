//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use log_panel::{Batch, Record, Sink, SinkError};

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
