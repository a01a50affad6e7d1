//! A durable [`Store`](dt_store::Store) on PostgreSQL, one dt-server per database for now.
//!
//! As with `dt-store-sqlite`, the store is dt-store's engine ([`MemoryStore`]) with a
//! journal: every call's changes are written by one writer thread, which owns the database
//! session, and the call is answered only once the transaction holding them has committed.
//! Many calls arriving together share one transaction (group commit). At start the database
//! is read back whole, so every rule stays in dt-core and the engine, and reads never touch
//! the database.
//!
//! Durability: a commit is acknowledged by PostgreSQL once its WAL record is flushed
//! (`synchronous_commit` is left as the server has it, `on` by default, and is never turned
//! off here), so an acknowledged change survives a killed dt-server and a crashed database
//! server. The writer's session holds a session-level advisory lock, so a second dt-server on
//! the same database refuses to start (several servers on one database is the next step).
//!
//! Faults: connecting is bounded ([`PgOptions::connect_timeout`]), every statement is bounded
//! (`statement_timeout`), and a lost session fails the calls whose writes it took with
//! `Unavailable`; the engine then reads the store back, which reconnects (with back-off,
//! taking the lock again) and carries on with exactly what was acknowledged.

mod connect;
mod error;
mod journal;
mod read;
mod schema;
mod url;
mod write;

pub use error::OpenError;
pub use schema::SCHEMA_VERSION;
pub use url::{PgUrl, PgUrlError, redact};

use dt_store::{Clock, MemoryStore, StoreConfig};
use std::sync::Arc;
use std::time::Duration;

/// Bounds on waiting for the database.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// How long connecting may take (the URL's `connect_timeout` wins when it has one).
    pub connect_timeout: Duration,
    /// The longest one statement may run (`statement_timeout`) and unacknowledged data may
    /// sit on the socket (`tcp_user_timeout`).
    pub statement_timeout: Duration,
    /// Idle time before TCP keepalive probes start.
    pub keepalive: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(30),
        }
    }
}

/// Opens the store in the database at `url` (creating its tables if missing) and reads it
/// back.
pub fn open(
    url: &str,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    open_with(&url.parse()?, &PgOptions::default(), config, clock)
}

/// [`open`] with options.
pub fn open_with(
    url: &PgUrl,
    options: &PgOptions,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    let journal = journal::start(url.clone(), options.clone())?;
    MemoryStore::durable(config, clock, Arc::new(journal)).map_err(|source| OpenError::Load {
        url: url.to_string(),
        source,
    })
}
