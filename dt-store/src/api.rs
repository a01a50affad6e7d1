//! The `Store` trait: everything the gRPC service needs from storage, and the contract every
//! implementation keeps.
//!
//! # Contract
//! - **Atomic turns.** A completion (orchestration, activity or entity batch) is committed as
//!   one unit: the new history, status or entity state, and every effect (activities queued,
//!   timers set, children created, events delivered, parents notified, entity operations
//!   queued, replies routed, locks granted) or none of it.
//! - **Leases.** [`Store::next_work_item`] hands a work item to exactly one worker and records a
//!   lease under a fresh, unique completion token. The lease ends when the item is completed or
//!   abandoned with that token, when the worker disconnects ([`Store::disconnect_worker`]), or
//!   when it expires (`StoreConfig::lease_duration`). A lease that ends without a completion
//!   puts the work back to be dispatched again; a completion carrying a token whose lease has
//!   ended (a duplicate, or a late answer from a lost worker) is ignored and reported as success.
//! - **One orchestration work item in flight per instance, one batch per entity**; what arrives
//!   meanwhile waits for the next one. Entity operations run in arrival order, and while a
//!   critical section holds an entity only its orchestration's operations run.
//! - **Locks.** A lock set is granted whole or not at all; no entity has two holders; locks are
//!   released by unlock or when the holder ends, continues as new, is purged or replaced.
//! - **Execution scoping.** Results of activities, timers and children are delivered only to the
//!   execution that scheduled them; nothing is delivered to a terminal instance.
//! - **Waiting.** [`Store::next_work_item`] and [`Store::wait_for_instance`] wait on
//!   notifications, never by polling, and are cancel-safe: dropping the future loses nothing.
//! - **Time.** Timers, delayed starts, delayed signals, lease expiry and backoffs are carried
//!   out by [`Store::run_due`], which the server's scheduler calls when the deadline it
//!   returned passes or when [`Store::schedule_changed`] fires.

use crate::error::StoreError;
use async_trait::async_trait;
use dt_core::{NewInstance, RuntimeStatus, WorkFilters};
use dt_proto::*;
use std::time::Duration;

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Identifies one connected worker stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u64);

/// Tunables of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Most history events one execution may hold; a turn beyond it fails the orchestration.
    pub max_history_size: usize,
    /// How long a worker may hold a work item without completing it before it is redelivered.
    pub lease_duration: Duration,
    /// How long an abandoned work item waits before it is dispatched again; the wait doubles
    /// with each further abandon of the same item, up to `max_abandon_delay`, so a worker that
    /// keeps rejecting an item does not spin.
    pub abandon_delay: Duration,
    /// The longest wait after repeated abandons.
    pub max_abandon_delay: Duration,
    /// The wire shape of entity work items.
    pub entity_work_item_format: dt_core::EntityWorkItemFormat,
    /// Past events larger than this (encoded bytes) are not sent inline to workers that
    /// stream history; they fetch them with StreamInstanceHistory.
    pub history_streaming_threshold: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_history_size: 10_000,
            lease_duration: Duration::from_secs(300),
            abandon_delay: Duration::from_secs(1),
            max_abandon_delay: Duration::from_secs(60),
            history_streaming_threshold: 1024 * 1024,
            entity_work_item_format: dt_core::EntityWorkItemFormat::V2,
        }
    }
}

/// What a worker stream asked for when it connected.
#[derive(Clone, Debug, Default)]
pub struct WorkerOptions {
    /// Which work it accepts.
    pub filters: WorkFilters,
    /// It advertised HISTORY_STREAMING: big histories may be left out of its work items, to be
    /// fetched with StreamInstanceHistory.
    pub history_streaming: bool,
    /// How many items of each kind it may hold at once; surplus stays queued for other workers.
    pub limits: WorkLimits,
}

/// Per-kind caps on the work items one worker holds at once; `None` is no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkLimits {
    /// Orchestration work items.
    pub orchestrations: Option<usize>,
    /// Activity work items.
    pub activities: Option<usize>,
    /// Entity batches.
    pub entities: Option<usize>,
}

impl WorkLimits {
    /// Limits from the wire, where 0 (or less) means "not specified".
    pub fn from_wire(orchestrations: i32, activities: i32, entities: i32) -> Self {
        let cap = |n: i32| usize::try_from(n).ok().filter(|n| *n > 0);
        Self {
            orchestrations: cap(orchestrations),
            activities: cap(activities),
            entities: cap(entities),
        }
    }

    /// Whether any kind is capped.
    pub fn any(&self) -> bool {
        self.orchestrations.is_some() || self.activities.is_some() || self.entities.is_some()
    }
}

impl From<WorkFilters> for WorkerOptions {
    fn from(filters: WorkFilters) -> Self {
        Self {
            filters,
            history_streaming: false,
            limits: WorkLimits::default(),
        }
    }
}

/// A request to create an orchestration instance.
#[derive(Clone, Debug, Default)]
pub struct CreateInstance {
    /// What to create; an empty id asks the store to generate one.
    pub spec: NewInstance,
    /// A caller-chosen execution id, if any.
    pub execution_id: Option<String>,
    /// Statuses of an existing instance with the same id that may be replaced. Empty means an
    /// existing instance is never replaced.
    pub replaceable: Vec<RuntimeStatus>,
}

/// What a waiter waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    /// Any status but `Pending`.
    Started,
    /// A terminal status.
    Completed,
}

impl WaitCondition {
    /// Whether an instance in `status` satisfies the condition.
    pub fn holds(self, status: RuntimeStatus) -> bool {
        match self {
            Self::Started => status != RuntimeStatus::Pending,
            Self::Completed => status.is_terminal(),
        }
    }
}

/// Which instances a purge removes. Only terminal instances are ever purged.
#[derive(Clone, Debug)]
pub enum PurgeTarget {
    /// One instance.
    Instance(String),
    /// A list of instances.
    Batch(Vec<String>),
    /// Every instance matching the filter.
    Filter(PurgeInstanceFilter),
}

/// A page of query results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Present only when another page exists.
    pub continuation_token: Option<String>,
}

/// Storage for instances, histories, work queues and timers.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an instance (see [`CreateInstance`]) and returns its id. `AlreadyExists` when the
    /// id is taken and the policy does not allow replacing it. A replaced instance's in-flight
    /// work and pending results are dropped.
    async fn create_instance(&self, request: CreateInstance) -> StoreResult<String>;

    /// The instance's state, `None` if unknown. Without payloads, input and output are omitted.
    async fn get_instance(
        &self,
        id: &str,
        include_payloads: bool,
    ) -> StoreResult<Option<OrchestrationState>>;

    /// Waits until the instance exists and satisfies `condition`, then returns its state. Waits
    /// indefinitely: callers bound it with their deadline. Cancel-safe.
    async fn wait_for_instance(
        &self,
        id: &str,
        condition: WaitCondition,
        include_payloads: bool,
    ) -> StoreResult<OrchestrationState>;

    /// Raises an external event. `NotFound` if unknown; dropped without error if terminal.
    async fn raise_event(&self, id: &str, name: String, input: Option<String>) -> StoreResult<()>;

    /// Terminates an instance (and, if `recursive`, its live children once it has ended).
    /// Unknown or terminal instances are left alone without error.
    async fn terminate_instance(
        &self,
        id: &str,
        reason: Option<String>,
        recursive: bool,
    ) -> StoreResult<()>;

    /// Suspends an instance. `NotFound` if unknown; no-op if terminal or already suspended.
    async fn suspend_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()>;

    /// Resumes an instance. `NotFound` if unknown; no-op unless suspended.
    async fn resume_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()>;

    /// Starts a terminal instance again with its original name, version, input and tags,
    /// under the same id or a new one; returns the id. `NotFound` if unknown,
    /// `FailedPrecondition` if not terminal.
    async fn restart_instance(&self, id: &str, new_instance_id: bool) -> StoreResult<String>;

    /// Reopens a failed instance: the worker rewrites its history without the failed results
    /// and replays it; failed children are rewound and purged ones re-created. `NotFound` if
    /// unknown, `FailedPrecondition` unless failed.
    async fn rewind_instance(&self, id: &str, reason: Option<String>) -> StoreResult<()>;

    /// Terminates instances at once, without a worker round-trip; returns the ids that were
    /// not terminated (unknown, already terminal, or holding entity locks).
    async fn terminate_now(
        &self,
        ids: Vec<String>,
        reason: Option<String>,
    ) -> StoreResult<Vec<String>>;

    /// Removes terminal instances and their histories; with `recursive`, their children too.
    /// Returns how many instances were removed.
    async fn purge_instances(&self, target: PurgeTarget, recursive: bool) -> StoreResult<usize>;

    /// Instances matching a query, in creation order, paged.
    async fn query_instances(&self, query: InstanceQuery) -> StoreResult<Page<OrchestrationState>>;

    /// Ids of terminal instances in completion order, paged with a `"<completed time>|<id>"`
    /// cursor.
    async fn list_instance_ids(&self, request: ListInstanceIdsRequest)
    -> StoreResult<Page<String>>;

    /// The committed history of the instance's current execution (or of `execution_id`, which
    /// must be the current one). `NotFound` if unknown.
    async fn instance_history(
        &self,
        id: &str,
        execution_id: Option<&str>,
    ) -> StoreResult<Vec<HistoryEvent>>;

    /// Registers a worker stream with its filters and capabilities.
    async fn connect_worker(&self, options: WorkerOptions) -> StoreResult<WorkerId>;

    /// Ends a worker stream: every work item it still holds is put back to be dispatched again.
    async fn disconnect_worker(&self, worker: WorkerId) -> StoreResult<()>;

    /// Waits for the next work item this worker's filters accept and leases it to the worker.
    /// Cancel-safe: a lease is taken only when the item is returned.
    async fn next_work_item(&self, worker: WorkerId) -> StoreResult<WorkItem>;

    /// Commits a worker's answer to an orchestration work item. Unknown or ended leases are
    /// ignored. An answer marked partial is held until the last chunk under the same token
    /// arrives; the actions of all chunks are then applied once, in order. A malformed answer fails the orchestration (so it never hangs) and returns
    /// `InvalidArgument`.
    async fn complete_orchestration(&self, response: OrchestratorResponse) -> StoreResult<()>;

    /// Commits an activity's result. Unknown or ended leases are ignored.
    async fn complete_activity(&self, response: ActivityResponse) -> StoreResult<()>;

    /// Commits a worker's answer to an entity batch: state, replies to callers, signals and
    /// orchestrations it started. A batch that failed as a whole (failureDetails) commits
    /// nothing and runs again later; results shorter than the batch run the rest again.
    async fn complete_entity(&self, result: EntityBatchResult) -> StoreResult<()>;

    /// Gives an entity batch back, in order; it is dispatched again after a short delay.
    async fn abandon_entity(&self, completion_token: &str) -> StoreResult<()>;

    /// Queues an operation on an entity (created if needed), at `scheduledTime` if that is in
    /// the future. `InvalidArgument` for an id not shaped `@name@key`.
    async fn signal_entity(&self, request: SignalEntityRequest) -> StoreResult<()>;

    /// An entity that has state; stateless (transient) entities read as absent.
    async fn get_entity(
        &self,
        id: &str,
        include_state: bool,
    ) -> StoreResult<Option<EntityMetadata>>;

    /// Entities in id order, paged.
    async fn query_entities(&self, query: EntityQuery) -> StoreResult<Page<EntityMetadata>>;

    /// Releases locks held by orchestrations that are gone or finished, and removes entities
    /// with no state, nothing queued and no lock. Returns (removed, released).
    async fn clean_entity_storage(
        &self,
        remove_empty: bool,
        release_orphaned_locks: bool,
    ) -> StoreResult<(usize, usize)>;

    /// Gives an orchestration work item back; it is dispatched again after a short delay.
    async fn abandon_orchestration(&self, completion_token: &str) -> StoreResult<()>;

    /// Gives an activity work item back; it is dispatched again after a short delay.
    async fn abandon_activity(&self, completion_token: &str) -> StoreResult<()>;

    /// Carries out everything due by now (timers, delayed starts, expired leases, backoffs)
    /// and returns how long until the next thing is due, if anything is scheduled.
    async fn run_due(&self) -> StoreResult<Option<Duration>>;

    /// Resolves when something was scheduled since the last call, so the scheduler can
    /// recompute its deadline. At most one caller is expected.
    async fn schedule_changed(&self);

    /// Removes all state. Connected workers stay connected.
    async fn reset(&self) -> StoreResult<()>;
}
