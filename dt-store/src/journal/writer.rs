//! The writer thread every durable store runs: the one user of its storage. It takes the
//! changes queued since it last looked, has the storage write them all in one transaction
//! (group commit), and publishes how far it got, which answers the waiting calls. A failed
//! transaction refuses every change queued after it until the engine reads the store back
//! (`Journal::load`), so memory never runs ahead of the storage by an acknowledged change.
//!
//! A store supplies only its [`Storage`]: how to write a batch and how to read everything
//! back. The queue, the batching, the refusal after a failure and the tickets are kept here.

use super::{Changes, Journal, Progress, Snapshot, Ticket};
use crate::api::StoreResult;
use crate::error::StoreError;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most calls one transaction carries; more wait for the next.
const MAX_BATCH: usize = 1024;

/// One numbered call's changes, as the writer hands them to the storage.
pub type Batch = [(u64, Box<Changes>)];

/// What a durable store's writer thread writes to and reads from.
pub trait Storage: 'static {
    /// Writes the batch in one transaction; on an error nothing of it is kept (the storage
    /// has rolled back) and the caller refuses what follows until the next load.
    fn commit(&mut self, batch: &Batch) -> Result<(), String>;
    /// Reads everything back (reopening what it must).
    fn load(&mut self) -> StoreResult<Snapshot>;
    /// The writer is stopping: let go of what others may wait for.
    fn close(&mut self) {}
}

enum Message {
    Write {
        seq: u64,
        changes: Box<Changes>,
    },
    Load {
        reply: mpsc::SyncSender<StoreResult<Snapshot>>,
    },
}

/// A [`Journal`] whose writes a [`Storage`] makes on a thread of its own.
pub struct WriterJournal {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    progress: Arc<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The longest a load may take (`None`: as long as it takes).
    load_limit: Option<Duration>,
}

impl WriterJournal {
    /// Starts the writer thread `name`; `open` runs on it first and makes the storage (or
    /// gives up, `None`, having said why to whoever waits for it), so a storage that must
    /// live off the caller's threads is made there.
    pub fn spawn<S: Storage>(
        name: &str,
        load_limit: Option<Duration>,
        open: impl FnOnce() -> Option<S> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let progress = Arc::new(Progress::default());
        let writer_progress = progress.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                if let Some(storage) = open() {
                    Writer {
                        storage,
                        progress: writer_progress,
                        poisoned: false,
                    }
                    .run(receiver);
                }
            })?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            progress,
            thread: Mutex::new(Some(thread)),
            load_limit,
        })
    }

    /// Lets the writer thread go without waiting for it (it may be stuck opening its
    /// storage); it ends by itself once it sees nothing more will come.
    pub fn detach(self) {
        drop(self.thread.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn send(&self, message: Message) -> bool {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        sender.as_ref().is_some_and(|s| s.send(message).is_ok())
    }
}

impl Journal for WriterJournal {
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
        let answer = match self.load_limit {
            Some(limit) => answer.recv_timeout(limit).map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => StoreError::Unavailable(format!(
                    "the store could not be read back within {limit:?}"
                )),
                mpsc::RecvTimeoutError::Disconnected => stopped(),
            }),
            None => answer.recv().map_err(|_| stopped()),
        };
        let snapshot = answer??;
        // Marked here, where the engine is sure to restore it: a snapshot that came too late
        // leaves the failure standing, so the next call reads the store back again.
        self.progress.loaded();
        Ok(snapshot)
    }
}

impl Drop for WriterJournal {
    /// Stops the writer once it has written what is queued, and closes the storage, so the
    /// same process may open it again.
    fn drop(&mut self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

struct Writer<S> {
    storage: S,
    progress: Arc<Progress>,
    /// A transaction failed and the engine has not read the store back yet.
    poisoned: bool,
}

impl<S: Storage> Writer<S> {
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
        self.storage.close();
    }

    /// Writes the batch in one transaction and tells the waiting calls.
    fn commit(&mut self, batch: &mut Vec<(u64, Box<Changes>)>) {
        let (Some((first, _)), Some((last, _))) = (batch.first(), batch.last()) else {
            return;
        };
        let (first, last) = (*first, *last);
        let failed = self.poisoned
            || match self.storage.commit(batch) {
                Ok(()) => false,
                Err(err) => {
                    tracing::error!(%err, "writing to the store failed; the changes were not kept");
                    self.poisoned = true;
                    true
                }
            };
        batch.clear();
        self.progress.done(first, last, failed);
    }

    fn load(&mut self) -> StoreResult<Snapshot> {
        let snapshot = self.storage.load()?;
        self.poisoned = false;
        Ok(snapshot)
    }
}
