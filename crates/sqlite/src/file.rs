//! Which files the sink writes. In WAL mode SQLite writes on into a database
//! file deleted or moved away under it (only the rollback journal checks), so
//! records would be counted written that no reader of the path can see. The
//! sink remembers the device and inode of the database it opened and of its
//! `-wal` and `-shm`, and compares the path with them around each batch: two
//! `stat` calls, a few microseconds a batch.
//!
//! When the path names another file (or none), the old `-wal` and `-shm`
//! are still at the path: SQLite does not delete them when a moved database
//! is closed, and a new database opened there would read the old WAL's
//! frames as its own. [`DbFile::remove_stale_wal`] deletes them, but only
//! while they are the very files the sink opened; another process's new
//! ones are left alone.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// A file's identity: device and inode (on Unix; elsewhere an open file
/// cannot be deleted or moved, and only existence is compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Id {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl Id {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Id {
        use std::os::unix::fs::MetadataExt;
        Id { dev: meta.dev(), ino: meta.ino() }
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Id {
        Id {}
    }

    /// The identity of the file at `path`, `None` when there is none.
    pub(crate) fn at(path: &Path) -> io::Result<Option<Id>> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Some(Id::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The database file of a sink, its `-wal` and `-shm`, and the identities
/// they had when the sink opened them.
#[derive(Debug)]
pub(crate) struct DbFile {
    /// Absolute, as SQLite resolves it when opening: a later change of the
    /// working directory must not make the same file look moved.
    path: PathBuf,
    /// Next to the file SQLite opened (through any symbolic link), as
    /// SQLite names them.
    wal: PathBuf,
    shm: PathBuf,
    /// Database, `-wal`, `-shm`, remembered while open.
    opened: Option<[Option<Id>; 3]>,
}

impl DbFile {
    pub(crate) fn new(path: &Path) -> io::Result<DbFile> {
        let path = std::path::absolute(path)?;
        Ok(DbFile { wal: suffixed(&path, "-wal"), shm: suffixed(&path, "-shm"), path, opened: None })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Remembers the files now at the paths as the ones the sink opened;
    /// `opened` is the database file's name as SQLite resolved it.
    pub(crate) fn remember(&mut self, opened: Option<&Path>) -> io::Result<()> {
        let db = opened.unwrap_or(&self.path);
        (self.wal, self.shm) = (suffixed(db, "-wal"), suffixed(db, "-shm"));
        self.opened = Some([Id::at(&self.path)?, Id::at(&self.wal)?, Id::at(&self.shm)?]);
        Ok(())
    }

    /// Forgets the opened files: [`DbFile::is_current`] is false until the
    /// next [`DbFile::remember`].
    pub(crate) fn forget(&mut self) {
        self.opened = None;
    }

    /// Whether the path still names the database file the sink opened.
    pub(crate) fn is_current(&self) -> io::Result<bool> {
        match self.opened {
            Some([Some(db), ..]) => Ok(Id::at(&self.path)? == Some(db)),
            _ => Ok(false),
        }
    }

    /// Deletes the `-wal` and `-shm` at the path if they are still the ones
    /// the sink opened (call while the sink's connections hold them open, so
    /// their inodes cannot have been reused).
    pub(crate) fn remove_stale_wal(&self) -> io::Result<()> {
        let Some([_, wal, shm]) = self.opened else { return Ok(()) };
        for (path, opened) in [(&self.wal, wal), (&self.shm, shm)] {
            if opened.is_some() && Id::at(path)? == opened {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The `-wal` file's length (0 when there is none or it cannot be read:
    /// the caller only decides whether to checkpoint).
    pub(crate) fn wal_len(&self) -> u64 {
        std::fs::metadata(&self.wal).map_or(0, |m| m.len())
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}
