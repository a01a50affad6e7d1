//! A durable [`Store`](dt_store::Store) on PostgreSQL, which several dt-servers can share.
//!
//! Every server runs dt-store's engine ([`MemoryStore`]) on its own copy of the state, on
//! shared storage (`dt_store::journal::SharedStorage`): a server changes the store only in a
//! *turn*, a transaction holding the store-wide write lock (the `dt_head` row), which first
//! reads what the other servers changed since its last look, then runs the calls waiting for
//! the turn, and commits their changes together; the calls are answered once it has
//! committed. So every rule stays in dt-core and the engine, each change is made on an
//! up-to-date state, and a client on any server sees what any other server acknowledged. A
//! commit NOTIFYs the others, which catch up at once (see `listen`), and every server takes a
//! turn at least once a second anyway.
//!
//! Work in flight is held by a server (the `owner` of its row): each server registers in
//! `dt_servers` and renews that on the database clock; a server whose registration lapses for
//! [`PgOptions::server_ttl`] (dt-server's `--lease-seconds`) is declared dead by the next turn
//! that looks, and its work is handed out again. A live server keeps what it holds, however
//! long its workers take.
//!
//! Durability: a commit is acknowledged by PostgreSQL once its WAL record is flushed
//! (`synchronous_commit` is left as the server has it, `on` by default).
//!
//! Faults: connecting is bounded ([`PgOptions::connect_timeout`]), every statement is bounded
//! (`statement_timeout`), and a lost session fails the waiting calls with `Unavailable`; the
//! next turn reconnects (with back-off) and carries on with exactly what was committed.

mod connect;
mod error;
mod listen;
mod read;
mod registry;
mod schema;
mod storage;
mod url;
mod write;

pub use error::OpenError;
pub use schema::SCHEMA_VERSION;
pub use url::{PgUrl, PgUrlError, redact};

use dt_store::{Clock, MemoryStore, StoreConfig};
use std::sync::{Arc, mpsc};
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
    /// How long after its last renewal a server's registration lapses, and with it what its
    /// workers hold (renewed every quarter of this).
    pub server_ttl: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(30),
            server_ttl: Duration::from_secs(30),
        }
    }
}

/// Opens the store in the database at `url` (creating its tables if missing), registers this
/// server and reads the store.
pub fn open(
    url: &str,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    open_with(&url.parse()?, &PgOptions::default(), config, clock)
}

/// How far the driver got in opening its session.
enum Opening {
    Connected(Result<(), OpenError>),
    Prepared(Result<(), OpenError>),
}

/// [`open`] with options.
pub fn open_with(
    url: &PgUrl,
    options: &PgOptions,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
) -> Result<MemoryStore, OpenError> {
    let shown = url.to_string();
    let (opening, opened) = mpsc::sync_channel(2);
    let budget = connect::connect_budget(options);
    let (url_for_driver, options_for_driver) = (url.clone(), options.clone());
    // The driver (the postgres crate runs a runtime of its own) must be used, and dropped,
    // off tokio's threads, so the session is opened on the engine's driver thread.
    let starting = MemoryStore::start_shared(config, clock, "dt-postgres", move || {
        let (url, options) = (url_for_driver, options_for_driver);
        let client = match connect::connect(&url, &options) {
            Ok(client) => client,
            Err(err) => {
                let _ = opening.send(Opening::Connected(Err(err)));
                return None;
            }
        };
        let _ = opening.send(Opening::Connected(Ok(())));
        let prepared = connect::prepare(client, &url).and_then(|client| {
            storage::PgShared::new(client, url.clone(), options).map_err(|reason| {
                OpenError::Connect {
                    url: url.to_string(),
                    reason,
                }
            })
        });
        match prepared {
            Ok(storage) => {
                opening.send(Opening::Prepared(Ok(()))).ok()?;
                Some(storage)
            }
            Err(err) => {
                let _ = opening.send(Opening::Prepared(Err(err)));
                None
            }
        }
    })
    .map_err(|e| OpenError::Connect {
        url: shown.clone(),
        reason: format!("cannot start the store's driver thread: {e}"),
    })?;
    let stopped = || OpenError::Connect {
        url: shown.clone(),
        reason: "the store's driver thread stopped".to_owned(),
    };
    // A hung connection attempt is left behind: its thread ends with the socket.
    match opened.recv_timeout(budget) {
        Ok(Opening::Connected(Ok(()))) => {}
        Ok(Opening::Connected(Err(err)) | Opening::Prepared(Err(err))) => return Err(err),
        Ok(Opening::Prepared(Ok(()))) => return Err(stopped()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            starting.detach();
            return Err(OpenError::Connect {
                url: shown.clone(),
                reason: format!(
                    "no answer within {budget:?} (is a PostgreSQL server listening there?)"
                ),
            });
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
    }
    // Preparing runs statements, each bounded by the session's statement_timeout.
    match opened.recv() {
        Ok(Opening::Prepared(Ok(()))) => {}
        Ok(Opening::Connected(Err(err)) | Opening::Prepared(Err(err))) => return Err(err),
        Ok(Opening::Connected(Ok(()))) | Err(_) => return Err(stopped()),
    }
    starting
        .wait()
        .map_err(|source| OpenError::Load { url: shown, source })
}
