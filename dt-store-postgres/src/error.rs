//! Why a store on PostgreSQL could not be opened. Failures after opening are
//! [`dt_store::StoreError`]s (`Unavailable` for a write that did not commit or a lost
//! connection, `Internal` for a damaged record).

/// A database that cannot be used, said so at start. URLs in messages have their password
/// hidden.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL cannot be read.
    #[error(transparent)]
    Url(#[from] crate::PgUrlError),
    /// No connection: no server answers there, wrong credentials, no such database.
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The server's or the network's answer.
        reason: String,
    },
    /// Written by a newer dt-server, with tables this one does not know.
    #[error(
        "the database at {url} has dt-server schema version {found}, newer than this dt-server knows ({known}); use a newer dt-server"
    )]
    NewerSchema {
        /// The URL, password hidden.
        url: String,
        /// Its schema version.
        found: i32,
        /// The newest this build knows.
        known: i32,
    },
    /// The tables could not be created or brought up to date (no permission, a table of
    /// the same name that is not ours).
    #[error("cannot prepare dt-server's tables in the database at {url}: {reason}")]
    Schema {
        /// The URL, password hidden.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The database opened but what it holds could not be read back.
    #[error("cannot read the store at {url}: {source}")]
    Load {
        /// The URL, password hidden.
        url: String,
        /// What failed.
        source: dt_store::StoreError,
    },
}
