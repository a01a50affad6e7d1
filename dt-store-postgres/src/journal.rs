//! The writer thread: the only user of the database session. It takes the changes queued
//! since it last looked, writes them all in one transaction (group commit: one WAL flush for
//! many calls), and publishes how far it got, which answers the waiting calls.
//!
//! A transaction that fails (a lost session, a statement timeout) is rolled back, every queued
//! change is refused until the engine reads the store back, and the engine does that before
//! its next call. A lost session is opened again then, not before: reconnecting takes the
//! server lock and checks the schema again, and is tried at most once per back-off step, so
//! calls during an outage fail fast with `Unavailable` instead of queueing behind it.

use crate::connect;
use crate::error::OpenError;
use crate::write::{self, Session};
use crate::{PgOptions, PgUrl, read};
use dt_store::journal::{Changes, Journal, Progress, Snapshot, Ticket};
use dt_store::{StoreError, StoreResult};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most calls one transaction carries; more wait for the next.
const MAX_BATCH: usize = 1024;
/// First and longest wait between two reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

enum Message {
    Write {
        seq: u64,
        changes: Box<Changes>,
    },
    Load {
        reply: mpsc::SyncSender<StoreResult<Snapshot>>,
    },
}

/// How far the writer got in opening its first session.
enum Opening {
    Connected(Result<(), OpenError>),
    Claimed(Result<(), OpenError>),
}

/// A [`Journal`] on a PostgreSQL session, written by its own thread.
pub(crate) struct PgJournal {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    progress: Arc<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The longest a load may take, reconnecting included.
    load_limit: Duration,
}

impl PgJournal {
    /// Starts the writer and waits until it has its session.
    pub(crate) fn start(url: PgUrl, options: PgOptions) -> Result<Self, OpenError> {
        let (sender, receiver) = mpsc::channel();
        let (opening, opened) = mpsc::sync_channel(2);
        let progress = Arc::new(Progress::default());
        let shown = url.to_string();
        let budget = connect::connect_budget(&options);
        // Reconnecting (bounded by budget + statement timeout), then reading back.
        let load_limit = budget + options.statement_timeout * 2 + Duration::from_secs(1);
        let writer_progress = progress.clone();
        // The driver runs its own runtime: it must be used, and dropped, off tokio's threads.
        let thread = std::thread::Builder::new()
            .name("dt-postgres-writer".to_owned())
            .spawn(move || {
                let client = match connect::connect(&url, &options) {
                    Ok(client) => client,
                    Err(err) => {
                        let _ = opening.send(Opening::Connected(Err(err)));
                        return;
                    }
                };
                let _ = opening.send(Opening::Connected(Ok(())));
                let client = match connect::claim(client, &url, &options) {
                    Ok(client) => client,
                    Err(err) => {
                        let _ = opening.send(Opening::Claimed(Err(err)));
                        return;
                    }
                };
                if opening.send(Opening::Claimed(Ok(()))).is_err() {
                    return;
                }
                let writer = Writer {
                    session: Some(Session::new(client)),
                    url,
                    options,
                    progress: writer_progress,
                    poisoned: false,
                    backoff: BACKOFF_MIN,
                    next_attempt: Instant::now(),
                };
                writer.run(receiver);
            })
            .map_err(|e| OpenError::Connect {
                url: shown.clone(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        let hung = || OpenError::Connect {
            url: shown.clone(),
            reason: format!(
                "no answer within {budget:?} (is a PostgreSQL server listening there?)"
            ),
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
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(hung()),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
        }
        // Claiming runs statements, each bounded by the session's statement_timeout.
        match opened.recv() {
            Ok(Opening::Claimed(Ok(()))) => {}
            Ok(Opening::Connected(Err(err)) | Opening::Claimed(Err(err))) => return Err(err),
            Ok(Opening::Connected(Ok(()))) | Err(_) => return Err(stopped()),
        }
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            progress,
            thread: Mutex::new(Some(thread)),
            load_limit,
        })
    }

    fn send(&self, message: Message) -> bool {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        sender.as_ref().is_some_and(|s| s.send(message).is_ok())
    }
}

impl Journal for PgJournal {
    fn write(&self, changes: Changes) -> Ticket {
        let seq = self.progress.queue();
        let changes = Box::new(changes);
        if !self.send(Message::Write { seq, changes }) {
            self.progress.done(seq, seq, true);
        }
        self.progress.ticket(seq)
    }

    fn settled(&self) -> Ticket {
        self.progress.settled()
    }

    fn needs_load(&self) -> bool {
        self.progress.failed()
    }

    fn load(&self) -> StoreResult<Snapshot> {
        let (reply, answer) = mpsc::sync_channel(1);
        let stopped = || StoreError::Unavailable("the store's writer has stopped".to_owned());
        if !self.send(Message::Load { reply }) {
            return Err(stopped());
        }
        let snapshot = match answer.recv_timeout(self.load_limit) {
            Ok(result) => result?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(StoreError::Unavailable(format!(
                    "the store could not be read back within {:?}",
                    self.load_limit
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
        };
        // Marked here, where the engine is sure to restore it: a snapshot that came too late
        // leaves the failure standing, so the next call reads the store back again.
        self.progress.loaded();
        Ok(snapshot)
    }
}

impl Drop for PgJournal {
    /// Stops the writer once it has written what is queued, and closes the session (which
    /// releases the server lock).
    fn drop(&mut self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

struct Writer {
    /// `None` once the session is lost, until a load opens a new one.
    session: Option<Session>,
    url: PgUrl,
    options: PgOptions,
    progress: Arc<Progress>,
    /// A transaction failed and the engine has not read the store back yet.
    poisoned: bool,
    /// Wait after the next failed reconnection attempt.
    backoff: Duration,
    /// No reconnection attempt before this.
    next_attempt: Instant,
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Message>) {
        let mut batch: Vec<(u64, Box<Changes>)> = Vec::new();
        while let Ok(first) = receiver.recv() {
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Write { seq, changes } => batch.push((seq, changes)),
                    Message::Load { reply } => {
                        self.commit(&mut batch);
                        let _ = reply.send(self.load());
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = receiver.try_recv().ok();
                }
            }
            self.commit(&mut batch);
        }
        // Stopping: let go of the database now rather than when the server notices the
        // closed socket, so a server started right after this one is not refused.
        if let Some(session) = &mut self.session
            && let Err(err) = session
                .client
                .execute("SELECT pg_advisory_unlock_all()", &[])
        {
            tracing::warn!(err = %connect::describe(&err), "releasing the database failed");
        }
    }

    /// Writes the batch in one transaction and tells the waiting calls.
    fn commit(&mut self, batch: &mut Vec<(u64, Box<Changes>)>) {
        let (Some((first, _)), Some((last, _))) = (batch.first(), batch.last()) else {
            return;
        };
        let (first, last) = (*first, *last);
        let failed = match (&mut self.session, self.poisoned) {
            (None, _) | (_, true) => true,
            (Some(session), false) => match transaction(session, batch) {
                Ok(()) => false,
                Err(err) => {
                    tracing::error!(
                        err = %connect::describe(&err),
                        "writing to PostgreSQL failed; the changes were not kept"
                    );
                    self.poisoned = true;
                    let lost = err.is_closed()
                        || session.client.is_closed()
                        || session.client.batch_execute("ROLLBACK").is_err();
                    if lost {
                        tracing::warn!(url = %self.url, "the session to PostgreSQL is lost");
                        self.session = None;
                        self.next_attempt = Instant::now();
                    }
                    true
                }
            },
        };
        batch.clear();
        self.progress.done(first, last, failed);
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
        match read::snapshot(&mut session.client) {
            Ok(snapshot) => {
                self.poisoned = false;
                Ok(snapshot)
            }
            Err(err) => {
                if err.is_closed() || session.client.is_closed() {
                    self.session = None;
                    self.next_attempt = Instant::now();
                }
                Err(StoreError::Unavailable(format!(
                    "the store could not be read back from PostgreSQL: {}",
                    connect::describe(&err)
                )))
            }
        }
    }

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

fn transaction(
    session: &mut Session,
    batch: &[(u64, Box<Changes>)],
) -> Result<(), postgres::Error> {
    session.client.batch_execute("BEGIN")?;
    let mut next_seq = 0;
    for (_, changes) in batch {
        write::apply(session, changes)?;
        next_seq = next_seq.max(changes.next_seq);
    }
    write::next_seq(session, next_seq)?;
    session.client.batch_execute("COMMIT")
}
