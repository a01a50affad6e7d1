//! The `Store` trait: everything the gRPC service needs from storage, and the contract every
//! implementation keeps.
//!
//! # Contract
//! Every implementation keeps these sentences. Each has a label; the conformance suite (crate
//! `dt-store-conformance`) names in each check the sentences it proves.
//!
//! **Commits**
//! - **C1** A call that returns `Ok` has committed its whole change, visible to the next call:
//!   reads show it, and work it made ready is handed out by the next fetch. A call that returns
//!   an error has changed nothing, unless its method says otherwise.
//! - **C2** A completion (orchestration turn, activity result, entity batch) is committed as
//!   one unit: the new history, status or entity state, and every effect (activities queued,
//!   timers set, children created, events delivered, parents notified, entity operations
//!   queued, replies routed, locks granted), or none of it.
//! - **C3** Errors keep their kind ([`StoreError`]): `NotFound`, `AlreadyExists`,
//!   `FailedPrecondition` and `InvalidArgument` are the caller's; `Internal` and `Unavailable`
//!   are the store's own trouble.
//!
//! **Instances**
//! - **I1** A created instance is `Pending` with its name, version, input, tags, execution id
//!   and the store's clock as creation time; an empty id gets a generated one; a scheduled
//!   start ahead of the clock holds its first work item until then.
//! - **I2** An id that is taken is `AlreadyExists` unless the request lists the existing
//!   status as replaceable; a replacement is a new execution, and the replaced one's work in
//!   flight and pending results are dropped. A child whose id is held by a live instance
//!   fails in its parent (`subOrchestrationInstanceFailed`, saying why) instead of replacing
//!   it; a terminal instance with that id is replaced.
//! - **I3** Client changes (raise event, terminate, suspend, resume) reach the worker in the
//!   next work item, in the order they were made; raising on an unknown instance is
//!   `NotFound`, on a terminal one it is dropped.
//! - **I4** Terminating an instance that never ran ends it at once; a running one gets
//!   `executionTerminated` to acknowledge; with `recursive`, its live children are terminated
//!   once it ends; unknown and terminal instances are left alone.
//! - **I5** Restart and rewind start a terminal (rewind: failed) instance again; anything
//!   else is `FailedPrecondition`, an unknown id `NotFound`. A rewind's failed children are
//!   rewound and purged ones re-created.
//! - **I6** Terminate-now ends live instances without a worker; instances holding entity
//!   locks, unknown and terminal ones are returned untouched.
//! - **I7** Purge removes terminal instances only, with their histories; `recursive` removes
//!   their children too, but never an instance that merely reuses a child's id.
//! - **I8** Queries page in creation order with a continuation token on every page but the
//!   last; id listings page terminal instances in completion order.
//!
//! **Turns**
//! - **T1** Timers, delayed starts, delayed signals, lease expiries and back-offs are carried
//!   out by [`Store::run_due`] once the store's clock has reached their time, never before;
//!   `run_due` returns how long until the next one. The store reads time only from the
//!   [`Clock`](crate::Clock) it was given.
//! - **T2** [`Store::schedule_changed`] resolves after something was scheduled earlier than
//!   anything before it, so the scheduler can move its deadline.
//! - **T3** At most one orchestration work item per instance is in flight; what arrives
//!   meanwhile waits for the next one, in arrival order.
//! - **T4** A completion under a token whose lease has ended (a duplicate, a late answer) is
//!   ignored and reported as success; chunked answers are applied once, whole, with their last
//!   chunk.
//! - **T5** A malformed answer fails the orchestration (so it never hangs; its failure
//!   details say why and are non-retriable: a retry would get the same answer) and is
//!   `InvalidArgument`.
//! - **T6** Results of activities, timers and children reach only the execution that asked
//!   for them; nothing reaches a terminal instance. The history cap fails an execution that
//!   would grow past it, but never a turn that continues as new.
//! - **T7** A worker that streams history gets work items without past events when the
//!   history's encoded size (its `pastEvents` entries) exceeds `history_streaming_threshold`,
//!   marked to fetch them with [`Store::instance_history`]; other workers always get the whole
//!   history. [`WireWorkItem::orchestration`] applies it.
//!
//! **Leases**
//! - **L1** [`Store::next_work_item`] / [`Store::try_next_work_item`] hand each work item to
//!   one worker under a fresh completion token, unique for the store's lifetime (across
//!   resets too).
//! - **L2** A lease ends with a completion, an abandon, the worker's disconnect, or expiry;
//!   work whose lease ended without a completion is dispatched again under a new token.
//! - **L3** A disconnect puts the worker's work back at once.
//! - **L4** An abandoned item comes back after `abandon_delay`, doubled for each further
//!   abandon of the same item in a row (a completion starts the count afresh), capped at
//!   `max_abandon_delay`. An abandoned orchestration is offered first to another connected
//!   worker that accepts it.
//! - **L5** A lease expires `lease_duration` after it was granted.
//! - **L6** Work given back belongs to the instance as it was: if the instance was replaced,
//!   ended or moved to another execution meanwhile, the work is dropped and the new
//!   execution's work is left alone.
//! - **L7** A worker holds at most its limit of each kind (orchestrations, activities, entity
//!   batches); a slot is free again when the lease ends, however it ends (reset included), and
//!   a worker that waits at its limit is woken then.
//! - **L8** A worker is handed only work its filters accept.
//!
//! **Waiting**
//! - **W1** [`Store::next_work_item`] waits until an item this worker accepts is ready, and
//!   is cancel-safe: a dropped wait holds no lease. [`Store::try_next_work_item`] never waits.
//! - **W2** [`Store::wait_for_instance`] returns once the instance exists and satisfies the
//!   condition, with its state then; it waits on notifications, never by polling, and is
//!   cancel-safe.
//!
//! **Entities**
//! - **E1** A signal to `@name@key` is queued for the entity (at its `scheduledTime` if that is
//!   ahead of the clock); another id is `InvalidArgument`; an entity without state reads as
//!   absent.
//! - **E2** One batch per entity is in flight; operations run in arrival order; a batch that
//!   failed as a whole commits nothing and runs again after a back-off.
//! - **E3** A lock set is granted whole or not at all, and no entity has two holders; while
//!   held, only the holder's operations run. Locks are released by unlock, and when the holder
//!   ends (completes, fails, is terminated), continues as new, is replaced, purged or reset.
//! - **E4** Purging an entity removes it only when idle (nothing in flight or queued) and
//!   unlocked.
//! - **E5** Entity queries return entities in id order, filtered by id prefix and
//!   last-modified range, paged with the last id as token; stateless entities only on
//!   request, state only on request.
//! - **E6** Cleaning entity storage removes entities with no state, nothing queued and no
//!   lock, and releases locks whose holder is gone or finished; it reports both counts.
//! - **E7** An entity's `startNewOrchestration` creates the instance, replacing a finished one
//!   with the same id and leaving a live one alone.
//!
//! **Time skipping** (a store on a clock that can be moved, such as
//! [`VirtualClock`](crate::VirtualClock); see README "Time skipping")
//! - **S1** [`Store::skip_view`] reports, in one consistent read, the earliest *target* (a
//!   timer of a live, non-suspended execution; a scheduled start of a pending instance; a
//!   delayed entity signal; never a lease expiry or back-off end) and the *blockers*: every
//!   orchestration, activity or entity work item queued, leased, or waiting out a back-off,
//!   each with its kind and instance or entity id (named up to [`SkipView::MAX_BLOCKERS`],
//!   counted in full).
//! - **S2** [`Store::advance_clock_to`] moves the store's clock forward to the target, never
//!   back (an earlier target changes nothing and answers `false`), and moves every lease expiry
//!   and back-off end forward by the same amount, so those stay where they were in real time:
//!   a leased item survives a 30-day skip. What became due is carried out by the next
//!   [`Store::run_due`], and the scheduler is told (T2). A clock that cannot be moved (the
//!   system clock) is `FailedPrecondition`.
//! - **S3** [`Store::activity`] moves after every call that changed state, so a reader of
//!   [`Store::skip_view`] that marks the counter seen before reading never misses a change.
//!
//! **Durability** (stores that keep their state, such as `dt-store-sqlite`; proved by the
//! restart checks, `dt_store_conformance::restart_tests!`)
//! - **D1** What a call acknowledged survives a restart of the store: instances with their
//!   status, payloads and current execution's history, events waiting for the next turn,
//!   entities with their state and queued operations, entity locks, and timers, delayed
//!   signals and activities not yet done.
//! - **D2** Work leased when the store stopped is handed out again once it starts, under new
//!   tokens; answers under tokens from before are ignored (T4).
//! - **D3** A result that was acknowledged is not asked for again: an activity whose result
//!   was committed is not handed out after a restart.
//!
//! **Sharing** (stores several servers share, such as `dt-store-postgres`; proved by the
//! sharing checks, `dt_store_conformance::sharing_tests!`, two servers on one store)
//! - **M1** Several servers on one store are one task hub: what one acknowledged, any other
//!   reads at once; any server's worker gets any work; a waiter on one wakes when the instance
//!   changes through another.
//! - **M2** A work item is handed out by one server at a time, however many ask at once.
//! - **M3** A timer fires once and a delayed signal is delivered once, though every server
//!   carries out what is due.
//! - **M4** The work a server's workers hold is handed out again by the others once that
//!   server stops renewing its registration (it died); answers it takes in after that are
//!   not applied.
//! - **M5** A live server keeps what its workers hold for as long as they take (L5's expiry
//!   is then the configuration's choice, not the sharing's).
//!
//! **Reset**
//! - **R1** [`Store::reset`] removes every instance, entity, queued item and lease; connected
//!   workers stay connected, with every slot free; waits in progress keep waiting; the
//!   store's configuration stays.
//!
//! **Observation**
//! - **O1** [`Store::stats`] counts instances by status as every change is made (a query of
//!   the instances finds the same counts), work queued and leased per kind, connected workers,
//!   and leases that ended without an answer (disconnect, expiry; counted since the store was
//!   created, a reset included); it reads no instance one by one.

use crate::error::StoreError;
use crate::skipping::SkipView;
use crate::stats::StoreStats;
use crate::work_item::WireWorkItem;
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
    /// Cancel-safe: a lease is taken only when the item is returned. The item encodes as the
    /// `WorkItem` it stands for ([`WireWorkItem::into_proto`] gives that message).
    async fn next_work_item(&self, worker: WorkerId) -> StoreResult<WireWorkItem>;

    /// Leases the next work item this worker's filters and limits accept if one is ready now;
    /// `None` if none is. Never waits.
    async fn try_next_work_item(&self, worker: WorkerId) -> StoreResult<Option<WireWorkItem>>;

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

    /// The next time-skipping target and what blocks a skip now (contract S1). Reads only.
    async fn skip_view(&self) -> StoreResult<SkipView>;

    /// A counter that moves after every call that may have changed what is queued, leased or
    /// backing off (contract S3), so time skipping waits for it instead of polling while a
    /// skip is blocked.
    fn activity(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Moves the store's clock forward to `target`, keeping leases and back-offs on real time
    /// (contract S2); returns whether the clock moved. `FailedPrecondition` when the store's
    /// clock cannot be moved.
    async fn advance_clock_to(&self, target: chrono::DateTime<chrono::Utc>) -> StoreResult<bool>;

    /// Removes all state. Connected workers stay connected.
    async fn reset(&self) -> StoreResult<()>;

    /// A snapshot of what the store holds (see [`StoreStats`] for the meaning of each number),
    /// for dashboards and metrics. Read-only, and cheap enough to call on every scrape: it must
    /// not read every instance (keep counts by status as instances change).
    async fn stats(&self) -> StoreResult<StoreStats>;
}
