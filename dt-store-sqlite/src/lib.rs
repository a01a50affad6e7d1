//! A durable [`Store`](dt_store::Store) on one SQLite file.
//!
//! The store is dt-store's engine ([`MemoryStore`]) with a journal: every call's changes are
//! written to the file, by one writer thread, and the call is answered only once the
//! transaction holding them has committed. Many calls arriving together share one transaction
//! and one fsync (group commit). At start the file is read back whole, so every rule stays in
//! dt-core and the engine, and reads never touch the disk.
//!
//! Durability: WAL with `synchronous=FULL` by default: a commit is fsynced before it is
//! acknowledged, so an acknowledged change survives a killed process, an OS crash and power
//! loss (as far as the disk honours fsync). [`Synchronous::Normal`] trades the last two for
//! speed. The file is opened with `locking_mode=EXCLUSIVE`, so a second server on
//! the same file refuses to start.
//!
//! Files: [`open`] (opening, checks), `schema` (tables and migrations), `journal` (the writer
//! thread and group commit), `write` (one change set as SQL), `read` (reading it all back).

mod error;
mod journal;
mod read;
mod schema;
mod write;

pub use error::OpenError;
pub use schema::SCHEMA_VERSION;

use dt_store::{Clock, MemoryStore, StoreConfig};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::Arc;

/// Options beyond the path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The most bytes the file may grow to (SQLite's `max_page_count`); writes past it fail
    /// as a full disk would. `None`: no limit but the disk's.
    pub size_limit_bytes: Option<u64>,
    /// When a commit reaches the disk.
    pub synchronous: Synchronous,
}

/// SQLite's `synchronous` level in WAL mode: what an acknowledged change survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is fsynced before it is acknowledged: it survives a killed process, an OS
    /// crash and a power loss.
    #[default]
    Full,
    /// Commits are fsynced only at checkpoints: an acknowledged change survives a killed
    /// process, but the last commits before an OS crash or a power loss may be lost (the file
    /// stays consistent). Several times faster for one client waiting on each call.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Opens (creating if missing) the store in the SQLite file at `path` and reads it back.
pub fn open(
    path: impl AsRef<Path>,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    open_with(path, &SqliteOptions::default(), config, clock)
}

/// [`open`] with options.
pub fn open_with(
    path: impl AsRef<Path>,
    options: &SqliteOptions,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    let path = path.as_ref();
    let conn = connect(path, options)?;
    let journal = journal::start(conn, path)?;
    MemoryStore::durable(config, clock, Arc::new(journal)).map_err(|source| OpenError::Load {
        path: path.to_owned(),
        source,
    })
}

/// Opens the file, takes it for this process alone, and brings its schema up to date.
fn connect(path: &Path, options: &SqliteOptions) -> Result<Connection, OpenError> {
    let failed = |source| OpenError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
    // Another process holding the file answers at once rather than after a wait.
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(failed)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(failed)?;
    schema::prepare(&conn, path, options.synchronous.pragma())?;
    if let Some(bytes) = options.size_limit_bytes {
        let page: u64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(failed)?;
        let pages = (bytes / page.max(1)).max(1);
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(failed)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synchronous_level_is_the_one_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (level, pragma) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let options = SqliteOptions {
                synchronous: level,
                ..Default::default()
            };
            let path = dir.path().join(format!("{level:?}.db"));
            let conn = connect(&path, &options).expect("opens");
            let got: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .expect("reads the pragma");
            assert_eq!(got, pragma, "{level:?}");
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .expect("reads the journal mode");
            assert_eq!(mode, "wal");
        }
    }
}
