//! The SQLite side of the writer thread (dt-store's `WriterJournal`): one connection, a
//! batch written in one `BEGIN IMMEDIATE` transaction (one fsync), rolled back whole on an
//! error, and the file read back on request.

use crate::error::OpenError;
use crate::{read, write};
use dt_store::journal::{Batch, Snapshot, Storage, WriterJournal};
use dt_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::path::Path;

/// Starts the writer on `conn`.
pub(crate) fn start(conn: Connection, path: &Path) -> Result<WriterJournal, OpenError> {
    WriterJournal::spawn("dt-sqlite-writer", None, move || {
        Some(SqliteStorage { conn })
    })
    .map_err(|e| OpenError::NotAStore {
        path: path.to_owned(),
        reason: format!("cannot start its writer thread: {e}"),
    })
}

struct SqliteStorage {
    conn: Connection,
}

impl Storage for SqliteStorage {
    fn commit(&mut self, batch: &Batch) -> Result<(), String> {
        let result = transaction(&self.conn, batch);
        if result.is_err()
            && !self.conn.is_autocommit()
            && let Err(err) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(%err, "rolling back the failed transaction failed");
        }
        result.map_err(|e| e.to_string())
    }

    fn load(&mut self) -> StoreResult<Snapshot> {
        read::snapshot(&self.conn).map_err(|err| {
            StoreError::Unavailable(format!("the store could not be read back: {err}"))
        })
    }
}

fn transaction(conn: &Connection, batch: &Batch) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut next_seq = 0;
    for (_, changes) in batch {
        write::apply(conn, changes)?;
        next_seq = next_seq.max(changes.next_seq);
    }
    write::next_seq(conn, next_seq)?;
    conn.execute_batch("COMMIT")
}
