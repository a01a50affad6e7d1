//! [`ObservedStore`]: a [`Store`] that forwards every call to another store and tells
//! observers what changed (a broadcast channel of [`Change`]s) and how much work went through
//! it ([`WorkCounts`]). The server wraps its store once and hands the same wrapper to gRPC and
//! HTTP, so the dashboard's live feed and the metrics see every change without any store
//! knowing about them.

use crate::api::*;
use crate::skipping::SkipView;
use crate::stats::{PerKind, StoreStats, WorkKind};
use crate::work_item::WireWorkItem;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dt_proto::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

/// How many changes a slow observer may fall behind before it misses some (it is then told it
/// lagged, and should re-read everything).
const CHANGE_BUFFER: usize = 1024;

/// What changed, as far as the call tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// This orchestration instance changed (and nothing else, as far as the call shows).
    Instance(String),
    /// This entity changed.
    Entity(String),
    /// Anything may have changed: a worker's answer or something coming due reaches other
    /// instances (children, parents, event targets, callers), and a reset or a purge by filter
    /// removes many.
    Any,
}

/// Work items through the store since it was created, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkCounts {
    /// Handed to workers.
    pub dispatched: PerKind,
    /// Answered by workers (including answers the store ignored as late or duplicate).
    pub completed: PerKind,
    /// Given back by workers.
    pub abandoned: PerKind,
}

#[derive(Default)]
struct Counters {
    dispatched: [AtomicU64; 3],
    completed: [AtomicU64; 3],
    abandoned: [AtomicU64; 3],
}

fn index(kind: WorkKind) -> usize {
    match kind {
        WorkKind::Orchestration => 0,
        WorkKind::Activity => 1,
        WorkKind::Entity => 2,
    }
}

fn add(counters: &[AtomicU64; 3], kind: WorkKind) {
    counters[index(kind)].fetch_add(1, Ordering::Relaxed);
}

fn read(counters: &[AtomicU64; 3]) -> PerKind {
    let get = |kind| counters[index(kind)].load(Ordering::Relaxed);
    PerKind {
        orchestrations: get(WorkKind::Orchestration),
        activities: get(WorkKind::Activity),
        entities: get(WorkKind::Entity),
    }
}

/// A [`Store`] that forwards to `inner` and reports changes and work counts.
pub struct ObservedStore {
    inner: Arc<dyn Store>,
    changes: broadcast::Sender<Change>,
    counters: Counters,
}

impl ObservedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            changes: broadcast::channel(CHANGE_BUFFER).0,
            counters: Counters::default(),
        }
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The work counts so far.
    pub fn work_counts(&self) -> WorkCounts {
        WorkCounts {
            dispatched: read(&self.counters.dispatched),
            completed: read(&self.counters.completed),
            abandoned: read(&self.counters.abandoned),
        }
    }

    fn publish(&self, change: Change) {
        // No receiver is fine: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// Publishes `change` if the call succeeded, and passes the result on.
    fn after<T>(
        &self,
        result: StoreResult<T>,
        change: impl FnOnce(&T) -> Change,
    ) -> StoreResult<T> {
        if let Ok(value) = &result {
            self.publish(change(value));
        }
        result
    }

    /// Counts a worker's answer or abandon if the call succeeded.
    fn count(&self, counters: &[AtomicU64; 3], kind: WorkKind, result: &StoreResult<()>) {
        if result.is_ok() {
            add(counters, kind);
        }
    }
}

fn instance(id: &str) -> impl FnOnce(&()) -> Change + '_ {
    move |_| Change::Instance(id.to_owned())
}

#[async_trait]
impl Store for ObservedStore {
    async fn create_instance(&self, request: CreateInstance) -> StoreResult<String> {
        let result = self.inner.create_instance(request).await;
        self.after(result, |id| Change::Instance(id.clone()))
    }

    async fn get_instance(
        &self,
        id: &str,
        include_payloads: bool,
    ) -> StoreResult<Option<OrchestrationState>> {
        self.inner.get_instance(id, include_payloads).await
    }

    async fn wait_for_instance(
        &self,
        id: &str,
        condition: WaitCondition,
        include_payloads: bool,
    ) -> StoreResult<OrchestrationState> {
        self.inner
            .wait_for_instance(id, condition, include_payloads)
            .await
    }

    async fn raise_event(&self, id: &str, name: String, input: Option<String>) -> StoreResult<()> {
        let result = self.inner.raise_event(id, name, input).await;
        self.after(result, instance(id))
    }

    async fn terminate_instance(
        &self,
        id: &str,
        reason: Option<String>,
        recursive: bool,
    ) -> StoreResult<()> {
        // An instance that never ran ends at once and may notify its parent.
        let result = self.inner.terminate_instance(id, reason, recursive).await;
        self.after(result, |_| Change::Any)
    }

    async fn suspend_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        let result = self.inner.suspend_instance(id, reason).await;
        self.after(result, instance(id))
    }

    async fn resume_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        let result = self.inner.resume_instance(id, reason).await;
        self.after(result, instance(id))
    }

    async fn restart_instance(&self, id: &str, new_instance_id: bool) -> StoreResult<String> {
        let result = self.inner.restart_instance(id, new_instance_id).await;
        self.after(result, |new_id| Change::Instance(new_id.clone()))
    }

    async fn rewind_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()> {
        let result = self.inner.rewind_instance(id, reason).await;
        self.after(result, instance(id))
    }

    async fn terminate_now(
        &self,
        ids: Vec<String>,
        reason: Option<String>,
    ) -> StoreResult<Vec<String>> {
        let result = self.inner.terminate_now(ids, reason).await;
        self.after(result, |_| Change::Any)
    }

    async fn purge_instances(&self, target: PurgeTarget, recursive: bool) -> StoreResult<usize> {
        let change = match (&target, recursive) {
            (PurgeTarget::Instance(id), false) if dt_core::is_entity_id(id) => {
                Change::Entity(id.clone())
            }
            (PurgeTarget::Instance(id), false) => Change::Instance(id.clone()),
            _ => Change::Any,
        };
        let result = self.inner.purge_instances(target, recursive).await;
        self.after(result, |_| change)
    }

    async fn query_instances(&self, query: InstanceQuery) -> StoreResult<Page<OrchestrationState>> {
        self.inner.query_instances(query).await
    }

    async fn list_instance_ids(
        &self,
        request: ListInstanceIdsRequest,
    ) -> StoreResult<Page<String>> {
        self.inner.list_instance_ids(request).await
    }

    async fn instance_history(
        &self,
        id: &str,
        execution_id: Option<&str>,
    ) -> StoreResult<Vec<HistoryEvent>> {
        self.inner.instance_history(id, execution_id).await
    }

    async fn connect_worker(&self, options: WorkerOptions) -> StoreResult<WorkerId> {
        let result = self.inner.connect_worker(options).await;
        self.after(result, |_| Change::Any)
    }

    async fn disconnect_worker(&self, worker: WorkerId) -> StoreResult<()> {
        let result = self.inner.disconnect_worker(worker).await;
        self.after(result, |_| Change::Any)
    }

    async fn next_work_item(&self, worker: WorkerId) -> StoreResult<WireWorkItem> {
        let result = self.inner.next_work_item(worker).await;
        if let Ok(item) = &result {
            self.count_dispatch(item);
        }
        result
    }

    async fn try_next_work_item(&self, worker: WorkerId) -> StoreResult<Option<WireWorkItem>> {
        let result = self.inner.try_next_work_item(worker).await;
        if let Ok(Some(item)) = &result {
            self.count_dispatch(item);
        }
        result
    }

    async fn complete_orchestration(&self, response: OrchestratorResponse) -> StoreResult<()> {
        // A chunk of a chunked answer changes nothing until the last one arrives.
        #[allow(deprecated)]
        let last_chunk = !response.is_partial;
        let result = self.inner.complete_orchestration(response).await;
        if last_chunk {
            self.count(&self.counters.completed, WorkKind::Orchestration, &result);
            self.after(result, |_| Change::Any)
        } else {
            result
        }
    }

    async fn complete_activity(&self, response: ActivityResponse) -> StoreResult<()> {
        let id = response.instance_id.clone();
        let result = self.inner.complete_activity(response).await;
        self.count(&self.counters.completed, WorkKind::Activity, &result);
        self.after(result, |_| Change::Instance(id))
    }

    async fn complete_entity(&self, result: EntityBatchResult) -> StoreResult<()> {
        let result = self.inner.complete_entity(result).await;
        self.count(&self.counters.completed, WorkKind::Entity, &result);
        self.after(result, |_| Change::Any)
    }

    async fn abandon_entity(&self, completion_token: &str) -> StoreResult<()> {
        let result = self.inner.abandon_entity(completion_token).await;
        self.count(&self.counters.abandoned, WorkKind::Entity, &result);
        result
    }

    async fn signal_entity(&self, request: SignalEntityRequest) -> StoreResult<()> {
        let id = request.instance_id.clone();
        let result = self.inner.signal_entity(request).await;
        self.after(result, |_| Change::Entity(id))
    }

    async fn get_entity(
        &self,
        id: &str,
        include_state: bool,
    ) -> StoreResult<Option<EntityMetadata>> {
        self.inner.get_entity(id, include_state).await
    }

    async fn query_entities(&self, query: EntityQuery) -> StoreResult<Page<EntityMetadata>> {
        self.inner.query_entities(query).await
    }

    async fn clean_entity_storage(
        &self,
        remove_empty: bool,
        release_orphaned_locks: bool,
    ) -> StoreResult<(usize, usize)> {
        let result = self
            .inner
            .clean_entity_storage(remove_empty, release_orphaned_locks)
            .await;
        self.after(result, |_| Change::Any)
    }

    async fn abandon_orchestration(&self, completion_token: &str) -> StoreResult<()> {
        let result = self.inner.abandon_orchestration(completion_token).await;
        self.count(&self.counters.abandoned, WorkKind::Orchestration, &result);
        result
    }

    async fn abandon_activity(&self, completion_token: &str) -> StoreResult<()> {
        let result = self.inner.abandon_activity(completion_token).await;
        self.count(&self.counters.abandoned, WorkKind::Activity, &result);
        result
    }

    async fn run_due(&self) -> StoreResult<Option<Duration>> {
        let result = self.inner.run_due().await;
        self.after(result, |_| Change::Any)
    }

    async fn schedule_changed(&self) {
        self.inner.schedule_changed().await;
    }

    async fn reset(&self) -> StoreResult<()> {
        let result = self.inner.reset().await;
        self.after(result, |_| Change::Any)
    }

    async fn stats(&self) -> StoreResult<StoreStats> {
        self.inner.stats().await
    }

    fn activity(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.activity()
    }

    async fn skip_view(&self) -> StoreResult<SkipView> {
        self.inner.skip_view().await
    }

    async fn advance_clock_to(&self, target: DateTime<Utc>) -> StoreResult<bool> {
        // Timers that fall due fire in the next run_due, which reports its own change.
        self.inner.advance_clock_to(target).await
    }
}

impl ObservedStore {
    /// Counts a work item handed to a worker by its kind (health pings are not work).
    fn count_dispatch(&self, item: &WireWorkItem) {
        if let Some(kind) = item.kind() {
            add(&self.counters.dispatched, kind);
        }
    }
}
