//! Why a store file could not be opened. Failures after opening are [`dt_store::StoreError`]s
//! (`Unavailable` for a write that did not commit, `Internal` for a damaged record).

use std::path::PathBuf;

/// A store file that cannot be used, said so at start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (another dt-server) has the file open.
    #[error(
        "{path} is in use by another process (another dt-server?); a SQLite store serves one server at a time"
    )]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer dt-server, with tables this one does not know.
    #[error(
        "{path} has schema version {found}, newer than this dt-server knows ({known}); use a newer dt-server"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// Not a SQLite file, a damaged one, or another program's database.
    #[error("{path} is not a dt-server store: {reason}")]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// SQLite could not open, lock or prepare the file (missing directory, no permission, a
    /// full disk).
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file opened but what it holds could not be read back.
    #[error("cannot read the store {path}: {source}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: dt_store::StoreError,
    },
}
