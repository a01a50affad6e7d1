//! The in-memory store: one `std::sync::Mutex<State>` behind the `Store` methods.
//!
//! A std mutex rather than tokio's because no lock is ever held across an `.await`: every
//! method locks, changes state synchronously, unlocks, and only then waits on a `Notify`.
//!
//! With a [`Journal`] the same engine is durable: each call hands the journal its changes
//! while it holds the lock (so they are written in the order they were made) and answers once
//! they are written; reads wait until what they saw is written too.

mod abandons;
mod client;
mod dispatch;
mod entities;
mod journaling;
mod kind;
mod leases;
mod query;
mod queues;
mod remote;
mod shared;
pub use shared::StartingShared;
mod skipping;
mod state;
mod stats;
mod timeline;

use crate::api::*;
use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::journal::{Journal, Ticket};
use crate::skipping::SkipView;
use crate::work_item::WireWorkItem;
use async_trait::async_trait;
use dt_core::NewInstance;
use dt_proto::*;
use state::{State, Wake};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// A [`Store`] that keeps everything in process memory.
pub struct MemoryStore {
    core: Arc<Core>,
    clock: Arc<dyn Clock>,
    next_worker: AtomicU64,
    /// Where changes are written, for a durable store.
    journal: Option<Arc<dyn Journal>>,
    /// For a store several servers share: calls change the state only in this server's turn.
    shared: Option<shared::Shared>,
}

/// The state and whom to tell when it changes; shared with a shared store's driver thread.
struct Core {
    state: Mutex<State>,
    /// Woken whenever new work may be available for some worker.
    work_available: Notify,
    /// Woken (one permit) whenever the timeline gained an entry.
    schedule_changed: Notify,
    /// Moves after every call (`Store::activity`).
    activity: tokio::sync::watch::Sender<u64>,
}

/// Whom a change concerns, taken under the lock and told after it.
struct Aftermath {
    wake: Wake,
    schedule: bool,
}

impl Core {
    fn new(config: StoreConfig) -> Self {
        Self {
            state: Mutex::new(State::new(config)),
            work_available: Notify::new(),
            schedule_changed: Notify::new(),
            activity: tokio::sync::watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves state that is still structurally valid (every
        // change is a sequence of complete map operations), so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes, under the lock, whom the changes made so far concern.
    fn aftermath(state: &mut State) -> Aftermath {
        let wake = state.take_wake();
        // Both flags are taken: `|` rather than `||`.
        let schedule =
            state.timeline.take_earliest_changed() | state.leases.take_earliest_changed();
        Aftermath { wake, schedule }
    }

    /// Tells them, after the lock is let go.
    fn tell(&self, after: Aftermath) {
        match after.wake {
            Wake::Nobody => {}
            Wake::One(n) => {
                for _ in 0..n {
                    self.work_available.notify_one();
                }
            }
            Wake::All => self.work_available.notify_waiters(),
        }
        if after.schedule {
            self.schedule_changed.notify_one();
        }
        if self.activity.receiver_count() > 0 {
            self.activity.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new(config: StoreConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An empty store on the given clock.
    pub fn with_clock(config: StoreConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            core: Arc::new(Core::new(config)),
            clock,
            next_worker: AtomicU64::new(1),
            journal: None,
            shared: None,
        }
    }

    /// A durable store: the state `journal` holds, read back now, and every change written to
    /// it before it is acknowledged. Fails when the journal cannot be read.
    pub fn durable(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        journal: Arc<dyn Journal>,
    ) -> StoreResult<Self> {
        let snapshot = journal.load()?;
        let store = Self {
            journal: Some(journal),
            ..Self::with_clock(config, clock)
        };
        {
            let mut state = store.lock();
            state.dirty = journaling::Dirty::on(0);
            state.restore(snapshot, store.clock.now())?;
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.core.lock()
    }

    /// Leases the next item ready for the worker, if any; `NotFound` for a worker that is not
    /// connected.
    async fn fetch(&self, worker: WorkerId) -> StoreResult<Option<WireWorkItem>> {
        self.commit(|s, now| {
            if !s.workers.contains_key(&worker) {
                return Err(StoreError::NotFound(format!(
                    "worker {} is not connected",
                    worker.0
                )));
            }
            Ok(s.try_fetch(worker, now))
        })
        .await?
    }

    /// Runs `f` on the state, wakes whoever its changes concern, and answers once the changes
    /// (and everything `f` saw) are durable. In a shared store `f` runs in this server's turn.
    async fn commit<T>(
        &self,
        f: impl FnOnce(&mut State, chrono::DateTime<chrono::Utc>) -> T,
    ) -> StoreResult<T> {
        let admission = match &self.shared {
            Some(shared) => Some(shared.enter().await?),
            None => None,
        };
        let (result, ticket) = self.with_state(f)?;
        drop(admission);
        ticket.wait().await?;
        Ok(result)
    }

    /// Runs `f` on the state and then wakes whoever its changes concern; the ticket covers
    /// the changes. A journal whose last write failed is read back first, so `f` never works
    /// on changes the disk does not have.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State, chrono::DateTime<chrono::Utc>) -> T,
    ) -> StoreResult<(T, Ticket)> {
        let (result, ticket, after) = {
            let mut state = self.lock();
            // Read under the lock, so calls see time in the order they commit, and a clock
            // skip (made under the lock) is seen by every call after it.
            let now = self.clock.now();
            if let Some(journal) = &self.journal
                && journal.needs_load()
            {
                tracing::warn!("a write to the store failed; reading the store back");
                let snapshot = journal.load()?;
                state.restore(snapshot, now)?;
            }
            let result = f(&mut state, now);
            let ticket = match (&self.journal, state.take_changes()) {
                (None, _) => Ticket::ready(),
                (Some(journal), Some(changes)) => journal.write(changes),
                (Some(journal), None) => journal.settled(),
            };
            (result, ticket, Core::aftermath(&mut state))
        };
        self.core.tell(after);
        Ok((result, ticket))
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("durable", &self.journal.is_some())
            .finish_non_exhaustive()
    }
}

/// Removes an instance's waiter entry when the last waiter leaves, so ids that were only
/// ever waited on do not accumulate.
struct WaiterGuard<'a> {
    store: &'a MemoryStore,
    id: &'a str,
    notify: Option<Arc<Notify>>,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        drop(self.notify.take());
        let mut state = self.store.lock();
        if state
            .waiters
            .get(self.id)
            .is_some_and(|n| Arc::strong_count(n) == 1)
        {
            state.waiters.remove(self.id);
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_instance(&self, request: CreateInstance) -> StoreResult<String> {
        self.commit(|s, now| s.create_instance(request, now))
            .await?
    }

    async fn get_instance(
        &self,
        id: &str,
        include_payloads: bool,
    ) -> StoreResult<Option<OrchestrationState>> {
        self.commit(|s, _| s.instance(id).map(|i| i.to_state(include_payloads)))
            .await
    }

    async fn wait_for_instance(
        &self,
        id: &str,
        condition: WaitCondition,
        include_payloads: bool,
    ) -> StoreResult<OrchestrationState> {
        let mut guard = WaiterGuard {
            store: self,
            id,
            notify: None,
        };
        loop {
            // Read through `commit`, so only what is durable is reported.
            let found = self
                .commit(|s, _| {
                    s.instance(id)
                        .filter(|i| condition.holds(i.status))
                        .map(|i| i.to_state(include_payloads))
                })
                .await?;
            if let Some(found) = found {
                return Ok(found);
            }
            let notify = self
                .lock()
                .waiters
                .entry(id.to_owned())
                .or_default()
                .clone();
            guard.notify = Some(notify.clone());
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Re-check after enabling: a change between the unlock and `enable` would otherwise
            // be missed.
            let satisfied = self
                .lock()
                .instance(id)
                .is_some_and(|i| condition.holds(i.status));
            if !satisfied {
                notified.await;
            }
        }
    }

    async fn raise_event(&self, id: &str, name: String, input: Option<String>) -> StoreResult<()> {
        self.commit(|s, now| s.raise_event(id, name, input, now))
            .await?
    }

    async fn terminate_instance(
        &self,
        id: &str,
        reason: Option<String>,
        recursive: bool,
    ) -> StoreResult<()> {
        self.commit(|s, now| s.terminate_instance(id, reason, recursive, now))
            .await
    }

    async fn suspend_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        self.commit(|s, now| s.suspend(id, reason, now)).await?
    }

    async fn resume_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        self.commit(|s, now| s.resume(id, reason, now)).await?
    }

    async fn restart_instance(&self, id: &str, new_instance_id: bool) -> StoreResult<String> {
        self.commit(|s, now| s.restart(id, new_instance_id, now))
            .await?
    }

    async fn rewind_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        self.commit(|s, now| s.rewind(id, reason, now)).await?
    }

    async fn terminate_now(
        &self,
        ids: Vec<String>,
        reason: Option<String>,
    ) -> StoreResult<Vec<String>> {
        self.commit(|s, now| s.terminate_now(ids, reason, now))
            .await
    }

    async fn purge_instances(&self, target: PurgeTarget, recursive: bool) -> StoreResult<usize> {
        self.commit(|s, now| s.purge(target, recursive, now)).await
    }

    async fn query_instances(&self, query: InstanceQuery) -> StoreResult<Page<OrchestrationState>> {
        self.commit(|s, _| s.query_instances(query)).await?
    }

    async fn list_instance_ids(
        &self,
        request: ListInstanceIdsRequest,
    ) -> StoreResult<Page<String>> {
        self.commit(|s, _| s.list_instance_ids(request)).await?
    }

    async fn instance_history(
        &self,
        id: &str,
        execution_id: Option<&str>,
    ) -> StoreResult<Vec<HistoryEvent>> {
        self.commit(|s, _| s.instance_history(id, execution_id))
            .await?
    }

    async fn connect_worker(&self, options: WorkerOptions) -> StoreResult<WorkerId> {
        let id = WorkerId(self.next_worker.fetch_add(1, Ordering::Relaxed));
        self.lock().connect_worker(id, options);
        Ok(id)
    }

    async fn disconnect_worker(&self, worker: WorkerId) -> StoreResult<()> {
        self.commit(|s, now| s.disconnect_worker(worker, now)).await
    }

    async fn next_work_item(&self, worker: WorkerId) -> StoreResult<WireWorkItem> {
        loop {
            let notified = self.core.work_available.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(item) = self.fetch(worker).await? {
                return Ok(item);
            }
            notified.await;
        }
    }

    async fn try_next_work_item(&self, worker: WorkerId) -> StoreResult<Option<WireWorkItem>> {
        self.fetch(worker).await
    }

    async fn complete_orchestration(&self, response: OrchestratorResponse) -> StoreResult<()> {
        self.commit(|s, now| s.complete_orchestration(response, now))
            .await?
    }

    async fn complete_activity(&self, response: ActivityResponse) -> StoreResult<()> {
        self.commit(|s, now| s.complete_activity(response, now))
            .await?
    }

    async fn complete_entity(&self, result: EntityBatchResult) -> StoreResult<()> {
        self.commit(|s, now| s.complete_entity(result, now)).await?
    }

    async fn abandon_entity(&self, completion_token: &str) -> StoreResult<()> {
        self.commit(|s, now| s.abandon(completion_token, now)).await
    }

    async fn signal_entity(&self, request: SignalEntityRequest) -> StoreResult<()> {
        self.commit(|s, now| s.signal_entity(request, now)).await?
    }

    async fn get_entity(
        &self,
        id: &str,
        include_state: bool,
    ) -> StoreResult<Option<EntityMetadata>> {
        self.commit(|s, _| s.get_entity(id, include_state)).await
    }

    async fn query_entities(&self, query: EntityQuery) -> StoreResult<Page<EntityMetadata>> {
        self.commit(|s, _| s.query_entities(query)).await?
    }

    async fn clean_entity_storage(
        &self,
        remove_empty: bool,
        release_orphaned_locks: bool,
    ) -> StoreResult<(usize, usize)> {
        self.commit(|s, now| s.clean_entity_storage(remove_empty, release_orphaned_locks, now))
            .await
    }

    async fn abandon_orchestration(&self, completion_token: &str) -> StoreResult<()> {
        self.commit(|s, now| s.abandon(completion_token, now)).await
    }

    async fn abandon_activity(&self, completion_token: &str) -> StoreResult<()> {
        self.commit(|s, now| s.abandon(completion_token, now)).await
    }

    async fn run_due(&self) -> StoreResult<Option<Duration>> {
        self.commit(|s, now| s.run_due(now)).await
    }

    async fn schedule_changed(&self) {
        self.core.schedule_changed.notified().await;
    }

    fn activity(&self) -> tokio::sync::watch::Receiver<u64> {
        self.core.activity.subscribe()
    }

    async fn skip_view(&self) -> StoreResult<SkipView> {
        let state = self.lock();
        Ok(state.skip_view(self.clock.now()))
    }

    async fn advance_clock_to(&self, target: chrono::DateTime<chrono::Utc>) -> StoreResult<bool> {
        self.commit(|s, now| {
            let by = target - now;
            if by <= chrono::Duration::zero() {
                return Ok(false);
            }
            if !self.clock.skip(by) {
                return Err(StoreError::FailedPrecondition(
                    "time skipping is off: this store's clock cannot be moved".to_owned(),
                ));
            }
            s.clock_skipped(by);
            Ok(true)
        })
        .await?
    }

    async fn reset(&self) -> StoreResult<()> {
        self.commit(|s, _| s.clear()).await
    }

    async fn stats(&self) -> StoreResult<crate::StoreStats> {
        let state = self.lock();
        let now = self.clock.now();
        Ok(state.stats(now))
    }
}

/// Lets callers build a [`CreateInstance`] from a spec with the default policy.
impl From<NewInstance> for CreateInstance {
    fn from(spec: NewInstance) -> Self {
        Self {
            spec,
            ..Default::default()
        }
    }
}
