//! The writer thread: the only user of the connection. It takes the changes queued since it
//! last looked, writes them all in one transaction (group commit: one fsync for many calls),
//! and publishes how far it got, which answers the waiting calls.
//!
//! A transaction that fails (full disk, I/O error) is rolled back, every queued change is
//! refused until the engine reads the store back, and the engine does that before its next
//! call; so memory never runs ahead of the disk for long, and never by an acknowledged change.

use crate::error::OpenError;
use crate::{read, write};
use dt_store::journal::{Changes, Journal, Progress, Snapshot, Ticket};
use dt_store::{StoreError, StoreResult};
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The most calls one transaction carries; more wait for the next.
const MAX_BATCH: usize = 1024;

enum Message {
    Write {
        seq: u64,
        changes: Box<Changes>,
    },
    Load {
        reply: mpsc::SyncSender<StoreResult<Snapshot>>,
    },
}

/// A [`Journal`] on a SQLite connection, written by its own thread.
pub(crate) struct SqliteJournal {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    progress: Arc<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteJournal {
    /// Starts the writer on `conn`.
    pub(crate) fn start(conn: Connection, path: &Path) -> Result<Self, OpenError> {
        let (sender, receiver) = mpsc::channel();
        let progress = Arc::new(Progress::default());
        let writer = Writer {
            conn,
            progress: progress.clone(),
            poisoned: false,
        };
        let thread = std::thread::Builder::new()
            .name("dt-sqlite-writer".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|e| OpenError::NotAStore {
                path: path.to_owned(),
                reason: format!("cannot start its writer thread: {e}"),
            })?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            progress,
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, message: Message) -> bool {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        sender.as_ref().is_some_and(|s| s.send(message).is_ok())
    }
}

impl Journal for SqliteJournal {
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
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for SqliteJournal {
    /// Stops the writer once it has written what is queued, and closes the file, so the same
    /// process may open it again.
    fn drop(&mut self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

struct Writer {
    conn: Connection,
    progress: Arc<Progress>,
    /// A transaction failed and the engine has not read the store back yet.
    poisoned: bool,
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
    }

    /// Writes the batch in one transaction and tells the waiting calls.
    fn commit(&mut self, batch: &mut Vec<(u64, Box<Changes>)>) {
        let (Some((first, _)), Some((last, _))) = (batch.first(), batch.last()) else {
            return;
        };
        let (first, last) = (*first, *last);
        let failed = if self.poisoned {
            true
        } else if let Err(err) = self.transaction(batch) {
            tracing::error!(%err, "writing to the store failed; the changes were not kept");
            if !self.conn.is_autocommit()
                && let Err(err) = self.conn.execute_batch("ROLLBACK")
            {
                tracing::error!(%err, "rolling back the failed transaction failed");
            }
            self.poisoned = true;
            true
        } else {
            false
        };
        batch.clear();
        self.progress.done(first, last, failed);
    }

    fn transaction(&self, batch: &[(u64, Box<Changes>)]) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut next_seq = 0;
        for (_, changes) in batch {
            write::apply(&self.conn, changes)?;
            next_seq = next_seq.max(changes.next_seq);
        }
        write::next_seq(&self.conn, next_seq)?;
        self.conn.execute_batch("COMMIT")
    }

    fn load(&mut self) -> StoreResult<Snapshot> {
        let snapshot = read::snapshot(&self.conn).map_err(|err| {
            StoreError::Unavailable(format!("the store could not be read back: {err}"))
        })?;
        self.poisoned = false;
        self.progress.loaded();
        Ok(snapshot)
    }
}
