//! The PostgreSQL side of the writer thread (dt-store's `WriterJournal`): the one session,
//! a batch written in one transaction (one WAL flush for many calls), and the store read back
//! on request.
//!
//! A lost session is opened again when the engine reads the store back, not before:
//! reconnecting takes the server lock and checks the schema again, and is tried at most once
//! per back-off step, so calls during an outage fail fast with `Unavailable` instead of
//! queueing behind it.

use crate::connect;
use crate::error::OpenError;
use crate::write::{self, Session};
use crate::{PgOptions, PgUrl, read};
use dt_store::journal::{Batch, Snapshot, Storage, WriterJournal};
use dt_store::{StoreError, StoreResult};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// First and longest wait between two reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How far the writer got in opening its first session.
enum Opening {
    Connected(Result<(), OpenError>),
    Claimed(Result<(), OpenError>),
}

/// Starts the writer and waits until it has its session.
pub(crate) fn start(url: PgUrl, options: PgOptions) -> Result<WriterJournal, OpenError> {
    let (opening, opened) = mpsc::sync_channel(2);
    let shown = url.to_string();
    let budget = connect::connect_budget(&options);
    // Reconnecting (bounded by budget + statement timeout), then reading back.
    let load_limit = budget + options.statement_timeout * 2 + Duration::from_secs(1);
    // The driver runs its own runtime: it must be used, and dropped, off tokio's threads, so
    // the session is opened on the writer's thread.
    let journal = WriterJournal::spawn("dt-postgres-writer", Some(load_limit), move || {
        let client = match connect::connect(&url, &options) {
            Ok(client) => client,
            Err(err) => {
                let _ = opening.send(Opening::Connected(Err(err)));
                return None;
            }
        };
        let _ = opening.send(Opening::Connected(Ok(())));
        let client = match connect::claim(client, &url, &options) {
            Ok(client) => client,
            Err(err) => {
                let _ = opening.send(Opening::Claimed(Err(err)));
                return None;
            }
        };
        opening.send(Opening::Claimed(Ok(()))).ok()?;
        Some(PgStorage {
            session: Some(Session::new(client)),
            url,
            options,
            backoff: BACKOFF_MIN,
            next_attempt: Instant::now(),
        })
    })
    .map_err(|e| OpenError::Connect {
        url: shown.clone(),
        reason: format!("cannot start the writer thread: {e}"),
    })?;
    let hung = || OpenError::Connect {
        url: shown.clone(),
        reason: format!("no answer within {budget:?} (is a PostgreSQL server listening there?)"),
    };
    let stopped = || OpenError::Connect {
        url: shown.clone(),
        reason: "the writer thread stopped".to_owned(),
    };
    // A hung connection attempt is left behind: its thread ends with the socket.
    match opened.recv_timeout(budget) {
        Ok(Opening::Connected(Ok(()))) => {}
        Ok(Opening::Connected(Err(err)) | Opening::Claimed(Err(err))) => return Err(err),
        Ok(Opening::Claimed(Ok(()))) => return Err(stopped()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // Not joined: the thread may still be inside the driver's connect.
            journal.detach();
            return Err(hung());
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
    }
    // Claiming runs statements, each bounded by the session's statement_timeout.
    match opened.recv() {
        Ok(Opening::Claimed(Ok(()))) => Ok(journal),
        Ok(Opening::Connected(Err(err)) | Opening::Claimed(Err(err))) => Err(err),
        Ok(Opening::Connected(Ok(()))) | Err(_) => Err(stopped()),
    }
}

struct PgStorage {
    /// `None` once the session is lost, until a load opens a new one.
    session: Option<Session>,
    url: PgUrl,
    options: PgOptions,
    /// Wait after the next failed reconnection attempt.
    backoff: Duration,
    /// No reconnection attempt before this.
    next_attempt: Instant,
}

impl Storage for PgStorage {
    fn commit(&mut self, batch: &Batch) -> Result<(), String> {
        let Some(session) = &mut self.session else {
            return Err("no session to PostgreSQL".to_owned());
        };
        let Err(err) = transaction(session, batch) else {
            return Ok(());
        };
        let lost = err.is_closed()
            || session.client.is_closed()
            || session.client.batch_execute("ROLLBACK").is_err();
        if lost {
            tracing::warn!(url = %self.url, "the session to PostgreSQL is lost");
            self.session = None;
            self.next_attempt = Instant::now();
        }
        Err(connect::describe(&err))
    }

    fn load(&mut self) -> StoreResult<Snapshot> {
        if self.session.is_none() {
            self.reconnect()?;
        }
        let Some(session) = &mut self.session else {
            return Err(StoreError::Unavailable(
                "no session to PostgreSQL".to_owned(),
            ));
        };
        let err = match read::snapshot(&mut session.client) {
            Ok(snapshot) => return Ok(snapshot),
            Err(err) => err,
        };
        if err.is_closed() || session.client.is_closed() {
            self.session = None;
            self.next_attempt = Instant::now();
        }
        Err(StoreError::Unavailable(format!(
            "the store could not be read back from PostgreSQL: {}",
            connect::describe(&err)
        )))
    }

    /// Lets go of the database now rather than when the server notices the closed socket,
    /// so a server started right after this one is not refused.
    fn close(&mut self) {
        if let Some(session) = &mut self.session
            && let Err(err) = session
                .client
                .execute("SELECT pg_advisory_unlock_all()", &[])
        {
            tracing::warn!(err = %connect::describe(&err), "releasing the database failed");
        }
    }
}

impl PgStorage {
    /// Opens a new session, at most once per back-off step.
    fn reconnect(&mut self) -> StoreResult<()> {
        let now = Instant::now();
        if now < self.next_attempt {
            return Err(StoreError::Unavailable(format!(
                "the connection to PostgreSQL at {} is lost; the next attempt to reconnect is in {:?}",
                self.url,
                self.next_attempt - now
            )));
        }
        match connect::open_bounded(&self.url, &self.options) {
            Ok(client) => {
                tracing::info!(url = %self.url, "reconnected to PostgreSQL");
                self.session = Some(Session::new(client));
                self.backoff = BACKOFF_MIN;
                Ok(())
            }
            Err(err) => {
                let wait = self.backoff;
                self.next_attempt = Instant::now() + wait;
                self.backoff = (wait * 2).min(BACKOFF_MAX);
                tracing::warn!(%err, retry_in = ?wait, "reconnecting to PostgreSQL failed");
                Err(StoreError::Unavailable(format!(
                    "the connection to PostgreSQL is lost and reconnecting failed: {err}"
                )))
            }
        }
    }
}

fn transaction(session: &mut Session, batch: &Batch) -> Result<(), postgres::Error> {
    session.client.batch_execute("BEGIN")?;
    let mut next_seq = 0;
    for (_, changes) in batch {
        write::apply(session, changes)?;
        next_seq = next_seq.max(changes.next_seq);
    }
    write::next_seq(session, next_seq)?;
    session.client.batch_execute("COMMIT")
}
