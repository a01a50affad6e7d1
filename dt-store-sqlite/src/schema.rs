//! The tables, their versions, and bringing a file up to date at start.
//!
//! The file is marked as ours with `PRAGMA application_id` and versioned with
//! `PRAGMA user_version`. Migrations run in order, in the same transaction that takes the file
//! for this process; a file from a newer server is refused rather than guessed at.

use crate::error::OpenError;
use rusqlite::{Connection, ErrorCode};
use std::path::Path;

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// "DTRS": marks the file as a dt-server store.
const APPLICATION_ID: i64 = 0x4454_5253;

/// Each migration takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema. Records are `store.proto` messages (dt-store's journal).
    "
    CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    -- One row per history event of each instance's current execution: a turn inserts its
    -- new events and never rewrites the others.
    CREATE TABLE history (
        instance_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        event BLOB NOT NULL,
        PRIMARY KEY (instance_id, position)
    ) WITHOUT ROWID;
    CREATE TABLE entities (
        id TEXT PRIMARY KEY,
        record BLOB NOT NULL
    ) WITHOUT ROWID;
    -- Scheduled activities without an applied result; the rowid keeps scheduling order.
    CREATE TABLE activities (
        seq INTEGER PRIMARY KEY,
        instance_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        record BLOB NOT NULL,
        UNIQUE (instance_id, execution_id, task_id)
    );
    CREATE TABLE timers (
        instance_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        timer_id INTEGER NOT NULL,
        record BLOB NOT NULL,
        PRIMARY KEY (instance_id, execution_id, timer_id)
    ) WITHOUT ROWID;
    CREATE TABLE delayed_signals (
        id INTEGER PRIMARY KEY,
        record BLOB NOT NULL
    );
    -- Single values: the lock table ('locks') and the sequence counter ('next_seq').
    CREATE TABLE store_state (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    ",
];

/// Turns on WAL and full sync, takes the file, checks it is ours and migrates it.
pub(crate) fn prepare(conn: &Connection, path: &Path, synchronous: &str) -> Result<(), OpenError> {
    let classify = |source: rusqlite::Error| classify(source, path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(classify)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotAStore {
            path: path.to_owned(),
            reason: format!("it cannot use write-ahead logging (journal mode stays {mode})"),
        });
    }
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(classify)?;
    // In exclusive locking mode the lock this takes is held until the connection closes.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(classify)?;
    let result = migrate(conn, path);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(classify)?;
    result
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let classify = |source: rusqlite::Error| classify(source, path);
    let pragma = |name: &str| -> Result<i64, OpenError> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(classify)
    };
    let (application_id, version) = (pragma("application_id")?, pragma("user_version")?);
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(classify)?;
    if application_id != APPLICATION_ID && (application_id != 0 || tables > 0) {
        return Err(OpenError::NotAStore {
            path: path.to_owned(),
            reason: "it is another program's SQLite database".to_owned(),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(version).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tracing::info!(path = %path.display(), to = index + 1, "migrating the store's schema");
        conn.execute_batch(sql).map_err(classify)?;
    }
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(classify)?;
    Ok(())
}

/// Says why opening failed in the user's terms.
pub(crate) fn classify(source: rusqlite::Error, path: &Path) -> OpenError {
    let path = path.to_owned();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::InUse { path },
        Some(ErrorCode::NotADatabase) => OpenError::NotAStore {
            path,
            reason: "it is not a SQLite database, or it is damaged".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => OpenError::NotAStore {
            path,
            reason: "it is damaged".to_owned(),
        },
        _ => OpenError::Open { path, source },
    }
}
