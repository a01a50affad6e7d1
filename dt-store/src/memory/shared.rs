//! The engine on a store several servers share ([`SharedStorage`]): a driver thread takes
//! turns, and calls change the state only inside this server's turn.
//!
//! A turn: the storage takes the store-wide write lock and reads what others changed; the
//! driver applies that (and hands out again the work of dead servers); then it opens the
//! *gate*, and the calls waiting for it run on the up-to-date state one after another, each
//! queueing its changes as in a journaled store; when none is left waiting (or the turn has
//! run long enough) the gate closes and the storage writes everything in the turn's
//! transaction, which lets the lock go. Calls are answered once it has committed (their
//! tickets). Between turns the driver catches up without the lock when the storage says
//! something changed, and takes a turn at least every poll interval (the fallback for lost
//! notifications, and when dead servers are noticed).
//!
//! A failed commit leaves this server's state ahead of the store, and a turn that could not
//! start refused calls that may have been workers' answers: either way the next turn reads
//! everything back first (and the storage registers the server anew, so what it held under its
//! old name is handed out again, instead of waiting for answers that were lost).

use super::{Core, MemoryStore};
use crate::api::{StoreConfig, StoreResult};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::journal::{Changes, Journal, News, Progress, SharedStorage, Snapshot, Ticket};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most calls one turn admits; more wait for the next.
const MAX_TURN_CALLS: usize = 1024;
/// The longest a turn stays open for calls that were waiting for it to start.
const MAX_TURN_OPEN: Duration = Duration::from_millis(20);
/// First and longest wait after a turn could not start.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Who may change the state now, shared by the calls and the driver.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    /// The driver waits here for calls, news, and calls leaving.
    driver: Condvar,
    /// Calls wait here for the gate to open (or a turn to fail).
    opened: tokio::sync::Notify,
}

#[derive(Default)]
struct GateState {
    open: bool,
    /// Calls waiting for a turn.
    waiting: usize,
    /// Calls admitted and not yet done.
    inside: usize,
    /// Calls admitted in this turn.
    admitted: usize,
    /// The furthest position another server announced since the driver last looked.
    news: u64,
    stop: bool,
    /// Turns that could not start, and why the last one could not.
    failures: u64,
    error: String,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn news(&self, position: u64) {
        let mut g = self.lock();
        g.news = g.news.max(position);
        drop(g);
        self.driver.notify_all();
    }
}

/// A call inside the gate; leaving lets the turn end.
pub(super) struct Admission<'a>(&'a Gate);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        g.inside -= 1;
        if g.inside == 0 {
            self.0.driver.notify_all();
        }
    }
}

/// A call registered as waiting for a turn; a dropped (cancelled) call stops counting.
struct Waiting<'a> {
    gate: &'a Gate,
    failures_at: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.gate.lock().waiting -= 1;
        self.gate.driver.notify_all();
    }
}

/// What a [`MemoryStore`] on shared storage holds besides the engine.
pub(super) struct Shared {
    gate: Arc<Gate>,
    driver: Option<JoinHandle<()>>,
}

impl Shared {
    /// Waits for this server's turn; `Unavailable` when the turn could not start (the store
    /// is unreachable).
    pub(super) async fn enter(&self) -> StoreResult<Admission<'_>> {
        let gate = &*self.gate;
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let opened = gate.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            {
                let mut g = gate.lock();
                if g.open && g.admitted < MAX_TURN_CALLS {
                    g.inside += 1;
                    g.admitted += 1;
                    drop(g);
                    drop(waiting);
                    return Ok(Admission(gate));
                }
                match &waiting {
                    Some(w) if g.failures > w.failures_at => {
                        return Err(StoreError::Unavailable(g.error.clone()));
                    }
                    Some(_) => {}
                    None => {
                        g.waiting += 1;
                        waiting = Some(Waiting {
                            gate,
                            failures_at: g.failures,
                        });
                        gate.driver.notify_all();
                    }
                }
            }
            opened.await;
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.gate.lock().stop = true;
        self.gate.driver.notify_all();
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// The journal calls write to: their changes go to the driver, which writes them at the end
/// of the turn.
struct TurnJournal {
    sender: Mutex<mpsc::Sender<(u64, Box<Changes>)>>,
    progress: Arc<Progress>,
}

impl Journal for TurnJournal {
    fn write(&self, changes: Changes) -> Ticket {
        let seq = self.progress.queue();
        let sent = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((seq, Box::new(changes)))
            .is_ok();
        if !sent {
            self.progress.done(seq, seq, true);
        }
        self.progress.ticket(seq)
    }

    fn settled(&self) -> Ticket {
        self.progress.settled()
    }

    fn needs_load(&self) -> bool {
        // The driver reads the store back itself, before the next turn's calls run.
        false
    }

    fn load(&self) -> StoreResult<Snapshot> {
        Err(StoreError::Internal(
            "a shared store is read back by its driver".to_owned(),
        ))
    }
}

/// A shared store whose driver is still opening its storage and reading it.
pub struct StartingShared {
    ready: mpsc::Receiver<StoreResult<()>>,
    store: MemoryStore,
}

impl StartingShared {
    /// Waits until the store is read and ready; the error says why it is not.
    pub fn wait(mut self) -> StoreResult<MemoryStore> {
        match self.ready.recv() {
            Ok(Ok(())) => Ok(self.store),
            Ok(Err(err)) => Err(err),
            Err(_) => {
                // The storage never opened (its opener said why to whoever waits for it).
                if let Some(shared) = &mut self.store.shared {
                    drop(shared.driver.take());
                }
                Err(StoreError::Unavailable(
                    "the shared store could not be opened".to_owned(),
                ))
            }
        }
    }

    /// Gives up on the store without waiting for its driver (it may be stuck opening the
    /// storage); the driver ends by itself.
    pub fn detach(mut self) {
        if let Some(shared) = &mut self.store.shared {
            shared.gate.lock().stop = true;
            drop(shared.driver.take());
        }
    }
}

impl MemoryStore {
    /// Starts a store on storage several servers share. `open` runs on the driver thread
    /// (storage that must live off the caller's threads is made there) and gives up with
    /// `None`, having said why to whoever waits for it.
    pub fn start_shared<S: SharedStorage>(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        name: &str,
        open: impl FnOnce() -> Option<S> + Send + 'static,
    ) -> std::io::Result<StartingShared> {
        let core = Arc::new(Core::new(config));
        let gate = Arc::new(Gate::default());
        let progress = Arc::new(Progress::default());
        let (sender, writes) = mpsc::channel();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let journal = Arc::new(TurnJournal {
            sender: Mutex::new(sender),
            progress: progress.clone(),
        });
        let driver = {
            let (core, gate, clock) = (core.clone(), gate.clone(), clock.clone());
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || {
                    let Some(storage) = open() else {
                        return;
                    };
                    let mut driver = Driver {
                        storage,
                        core,
                        clock,
                        gate,
                        progress,
                        writes,
                        seen: 0,
                        reload: false,
                        backoff: BACKOFF_MIN,
                        own: Vec::new(),
                    };
                    let started = driver.start();
                    let ok = started.is_ok();
                    let _ = ready_tx.send(started);
                    if ok {
                        driver.run();
                    }
                    driver.storage.close();
                })?
        };
        Ok(StartingShared {
            ready,
            store: MemoryStore {
                core,
                clock,
                next_worker: AtomicU64::new(1),
                journal: Some(journal),
                shared: Some(Shared {
                    gate,
                    driver: Some(driver),
                }),
            },
        })
    }
}

struct Driver<S> {
    storage: S,
    core: Arc<Core>,
    clock: Arc<dyn Clock>,
    gate: Arc<Gate>,
    progress: Arc<Progress>,
    writes: mpsc::Receiver<(u64, Box<Changes>)>,
    /// The store's position this server's state reflects.
    seen: u64,
    /// The state is ahead of the store (a commit failed): read everything in the next turn.
    reload: bool,
    backoff: Duration,
    /// Changes the driver made itself in this turn (work of dead servers handed out again).
    own: Vec<(u64, Box<Changes>)>,
}

impl<S: SharedStorage> Driver<S> {
    /// Reads everything and subscribes to news.
    fn start(&mut self) -> StoreResult<()> {
        let (snapshot, position) = self.storage.load()?;
        {
            let mut state = self.core.lock();
            state.dirty = super::journaling::Dirty::shared(0);
            state.restore(snapshot, self.clock.now())?;
        }
        self.seen = position;
        let gate = self.gate.clone();
        self.storage
            .subscribe(Arc::new(move |position| gate.news(position)));
        Ok(())
    }

    fn run(&mut self) {
        let poll = self.storage.poll_interval();
        let mut last_turn = Instant::now();
        loop {
            let locked = {
                let mut g = self.gate.lock();
                loop {
                    if g.stop {
                        return;
                    }
                    if g.waiting > 0 {
                        break true;
                    }
                    if std::mem::take(&mut g.news) > self.seen {
                        break false;
                    }
                    let since = last_turn.elapsed();
                    if since >= poll {
                        break true;
                    }
                    g = self
                        .gate
                        .driver
                        .wait_timeout(g, poll - since)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            };
            if locked {
                self.turn();
                last_turn = Instant::now();
            } else {
                self.catch_up();
            }
        }
    }

    /// Applies news under the state lock and tells whom it concerns.
    fn apply(&mut self, news: News, orphans: Option<crate::journal::Orphans>) -> StoreResult<()> {
        let core = self.core.clone();
        let after = {
            let mut state = core.lock();
            let now = self.clock.now();
            match news {
                News::Nothing => {}
                News::Changes(remote) => state.apply_remote(remote, now)?,
                News::Everything(snapshot) => {
                    state.restore(snapshot, now)?;
                    if std::mem::take(&mut self.reload) {
                        self.progress.loaded();
                    } else {
                        // Read whole outside a reload (another server reset the store, or this
                        // one fell behind): the leases here are gone, so the next turn registers
                        // this server anew, and what it held under its old name is handed out.
                        self.reload = true;
                    }
                }
            }
            if let Some(orphans) = orphans.filter(|o| !o.is_empty()) {
                state.release_orphans(orphans, now)?;
                if let Some(changes) = state.take_changes() {
                    // Written with this turn's calls; nobody waits for them.
                    self.own.push((self.progress.queue(), Box::new(changes)));
                }
            }
            Core::aftermath(&mut state)
        };
        core.tell(after);
        Ok(())
    }

    fn catch_up(&mut self) {
        match self.storage.catch_up(self.seen) {
            Ok(None) => {}
            Ok(Some((news, position))) => match self.apply(news, None) {
                Ok(()) => self.seen = position,
                Err(err) => {
                    tracing::error!(%err, "what another server wrote could not be read; reading everything again");
                    self.reload = true;
                }
            },
            Err(err) => tracing::debug!(%err, "catching up with the shared store failed"),
        }
    }

    fn turn(&mut self) {
        let turn = match self.storage.begin(self.seen, self.reload) {
            Ok(turn) => turn,
            Err(err) => {
                tracing::warn!(%err, "the shared store is unreachable");
                self.refuse_waiting(err);
                return;
            }
        };
        self.backoff = BACKOFF_MIN;
        let position = turn.position;
        if let Err(err) = self.apply(turn.news, Some(turn.orphans)) {
            tracing::error!(%err, "what another server wrote could not be read; reading everything again");
            self.reload = true;
            // Changes made on a state that is read again are not written.
            let stale = std::mem::take(&mut self.own);
            if let (Some((first, _)), Some((last, _))) = (stale.first(), stale.last()) {
                self.progress.done(*first, *last, true);
            }
            let _ = self.storage.commit(&[]);
            self.refuse_waiting(err.to_string());
            return;
        }
        self.seen = position;
        self.admit_calls();
        let mut batch = std::mem::take(&mut self.own);
        batch.extend(self.writes.try_iter());
        batch.sort_by_key(|(seq, _)| *seq);
        let span = batch.first().zip(batch.last()).map(|(f, l)| (f.0, l.0));
        match self.storage.commit(&batch) {
            Ok(position) => {
                self.seen = position;
                if let Some((first, last)) = span {
                    self.progress.done(first, last, false);
                }
            }
            Err(err) => {
                tracing::error!(%err, "writing to the shared store failed; the changes were not kept");
                self.reload = true;
                if let Some((first, last)) = span {
                    self.progress.done(first, last, true);
                }
            }
        }
    }

    /// Opens the gate and closes it once the calls that waited for the turn are done.
    fn admit_calls(&self) {
        let opened_at = Instant::now();
        let mut g = self.gate.lock();
        g.open = true;
        g.admitted = 0;
        self.gate.opened.notify_waiters();
        loop {
            let full = g.admitted >= MAX_TURN_CALLS;
            let late = opened_at.elapsed() >= MAX_TURN_OPEN;
            if g.inside == 0 && (g.waiting == 0 || full || late || g.stop) {
                break;
            }
            let wait = MAX_TURN_OPEN
                .saturating_sub(opened_at.elapsed())
                .max(Duration::from_millis(1));
            g = self
                .gate
                .driver
                .wait_timeout(g, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        g.open = false;
    }

    /// Tells the calls waiting for this turn that it could not start, and waits a back-off.
    ///
    /// A refused call may have been a worker's answer, which SDK workers do not send again:
    /// the next turn reads everything again (and the storage registers this server anew), so
    /// the work this server's workers hold is handed out again rather than held for a result
    /// that will never come.
    fn refuse_waiting(&mut self, error: String) {
        let mut g = self.gate.lock();
        if g.waiting > 0 {
            self.reload = true;
        }
        g.failures += 1;
        g.error = error;
        self.gate.opened.notify_waiters();
        let wait = self.backoff;
        self.backoff = (wait * 2).min(BACKOFF_MAX);
        if !g.stop {
            drop(
                self.gate
                    .driver
                    .wait_timeout_while(g, wait, |g| !g.stop)
                    .unwrap_or_else(|p| p.into_inner()),
            );
        }
    }
}
