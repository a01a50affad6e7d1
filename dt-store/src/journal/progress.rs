//! How far a journal has written, shared between the journal's writer (which publishes) and
//! the callers waiting on [`Ticket`]s.

use crate::api::StoreResult;
use crate::error::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Numbers every write in order, and publishes how far writing got.
pub struct Progress {
    queued: AtomicU64,
    state: watch::Sender<Written>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Written {
    /// Every write numbered up to this one has been written or has failed.
    done: u64,
    /// The first write that failed since the last load, if one did.
    failed_from: Option<u64>,
    /// How many loads there have been: a ticket taken before a load covers state that the
    /// load threw away.
    loads: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            queued: AtomicU64::new(0),
            state: watch::Sender::new(Written::default()),
        }
    }
}

impl Progress {
    /// Numbers a new write; hand the number to the writer with the changes.
    pub fn queue(&self) -> u64 {
        self.queued.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A ticket for write `seq` (and everything before it).
    pub fn ticket(&self, seq: u64) -> Ticket {
        let written = *self.state.borrow();
        if written.done >= seq && written.failed_from.is_none() {
            return Ticket::ready();
        }
        Ticket(Some(Pending {
            target: seq,
            loads_at: written.loads,
            rx: self.state.subscribe(),
        }))
    }

    /// A ticket for everything queued so far.
    pub fn settled(&self) -> Ticket {
        self.ticket(self.queued.load(Ordering::SeqCst))
    }

    /// The writer finished writes `first..=last` (and everything before them); `failed` says
    /// they were not written.
    pub fn done(&self, first: u64, last: u64, failed: bool) {
        self.state.send_modify(|w| {
            w.done = w.done.max(last);
            if failed && w.failed_from.is_none() {
                w.failed_from = Some(first);
            }
        });
    }

    /// The first failed write since the last load, if any.
    pub fn failed(&self) -> bool {
        self.state.borrow().failed_from.is_some()
    }

    /// State was read back: failures before now no longer matter, tickets taken before now
    /// resolve with an error.
    pub fn loaded(&self) {
        self.state.send_modify(|w| {
            w.failed_from = None;
            w.loads += 1;
        });
    }
}

/// Resolves once the writes it covers are durable.
pub struct Ticket(Option<Pending>);

struct Pending {
    target: u64,
    loads_at: u64,
    rx: watch::Receiver<Written>,
}

impl Ticket {
    /// A ticket with nothing to wait for (a store without a journal, or nothing written).
    pub fn ready() -> Self {
        Self(None)
    }

    /// Waits until the writes are durable; `Unavailable` if one of them failed (the change
    /// was not kept) or the journal went away.
    pub async fn wait(self) -> StoreResult<()> {
        let Some(Pending {
            target,
            loads_at,
            mut rx,
        }) = self.0
        else {
            return Ok(());
        };
        let written = rx
            .wait_for(|w| w.done >= target || w.loads != loads_at)
            .await
            .map(|w| *w)
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".to_owned()))?;
        let lost = written.loads != loads_at || written.failed_from.is_some_and(|f| f <= target);
        if lost {
            return Err(StoreError::Unavailable(
                "the change could not be written to the store and was not kept".to_owned(),
            ));
        }
        Ok(())
    }
}
