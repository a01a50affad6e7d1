//! Durability for the in-memory engine: after every call that changes state, the engine hands
//! a [`Journal`] what changed ([`Changes`]: whole records of the instances, entities and tasks
//! touched, and only the new events of each history), and answers the caller once the
//! journal has written it. At start (and after a failed write) it reads everything back as a
//! [`Snapshot`]. A durable store (crate `dt-store-sqlite`) is a journal: the rules stay in one
//! place, the engine's.
//!
//! Records are the messages of `store.proto` (`dt_proto::store::v1`), encoded; this module
//! converts between them and the engine's types ([`records`]).

mod progress;
pub(crate) mod records;
mod shared;
mod writer;

pub use progress::{Progress, Ticket};
pub use shared::{
    HeldRecord, Holder, News, Orphans, Remote, RemoteInstance, RemoteRow, SharedStorage, Turn,
    task_key,
};
pub use writer::{Batch, Storage, WriterJournal};

use crate::api::StoreResult;

/// Where the engine's changes go, in order. Implementations write on their own thread and
/// resolve each [`Ticket`] once what it covers is durable.
pub trait Journal: Send + Sync + 'static {
    /// Queues `changes` to be written after everything queued before; the ticket resolves
    /// once they are written (an error if they could not be).
    fn write(&self, changes: Changes) -> Ticket;
    /// A ticket for everything queued so far: a read waits on it so it never shows what is
    /// not yet durable.
    fn settled(&self) -> Ticket;
    /// Whether a write failed since the last [`Journal::load`]: the engine's state is then
    /// ahead of the disk and must be read back before it is used again.
    fn needs_load(&self) -> bool;
    /// Reads everything back, after every write queued before it was written or failed.
    /// Blocking; called at start and after a failed write.
    fn load(&self) -> StoreResult<Snapshot>;
}

/// What one call changed, ready to write.
#[derive(Debug, Default)]
pub struct Changes {
    /// Everything was removed first (a reset).
    pub cleared: bool,
    /// Instances written or removed, each once.
    pub instances: Vec<InstanceChange>,
    /// Entities written (`Some` record, with who holds its batch in flight) or removed
    /// (`None`), by id.
    pub entities: Vec<(String, Option<EntityRecord>)>,
    /// The whole lock table (a `StoredLocks`), when it changed.
    pub locks: Option<Vec<u8>>,
    /// Activities scheduled (`StoredActivity`).
    pub activities_added: Vec<(TaskKey, Vec<u8>)>,
    /// Activities whose result was applied.
    pub activities_done: Vec<TaskKey>,
    /// Timers created (`StoredTimer`).
    pub timers_added: Vec<(TaskKey, Vec<u8>)>,
    /// Timers that fired.
    pub timers_done: Vec<TaskKey>,
    /// Delayed entity operations queued (`StoredDelayedOperation`), by id.
    pub signals_added: Vec<(u64, Vec<u8>)>,
    /// Delayed entity operations whose time came.
    pub signals_done: Vec<u64>,
    /// Activities a worker of this store took (a store shared by several servers records who
    /// holds each; empty otherwise).
    pub activities_claimed: Vec<TaskKey>,
    /// Activities this store gave back to be dispatched by anyone (shared stores only).
    pub activities_released: Vec<TaskKey>,
    /// The engine's sequence counter (completion tokens, incarnations), so a restarted store
    /// never hands out a token it handed out before.
    pub next_seq: u64,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        !self.cleared
            && self.instances.is_empty()
            && self.entities.is_empty()
            && self.locks.is_none()
            && self.activities_added.is_empty()
            && self.activities_done.is_empty()
            && self.timers_added.is_empty()
            && self.timers_done.is_empty()
            && self.signals_added.is_empty()
            && self.signals_done.is_empty()
            && self.activities_claimed.is_empty()
            && self.activities_released.is_empty()
    }
}

/// An entity's `StoredEntity` and who holds its batch in flight.
pub type EntityRecord = (Vec<u8>, Holder);

/// An instance written or removed.
#[derive(Debug)]
pub struct InstanceChange {
    /// Instance id.
    pub id: String,
    /// `None`: the instance was removed, with its history, activities and timers.
    pub row: Option<InstanceRow>,
}

/// An instance's record and what happened to its history.
#[derive(Debug)]
pub struct InstanceRow {
    /// The `StoredInstance` (everything but the history).
    pub record: Vec<u8>,
    /// Its current execution.
    pub execution_id: String,
    /// Activities and timers of other executions are gone (it moved to a new execution), or
    /// of every execution (it ended): remove theirs.
    pub prune: Prune,
    /// The history events to write.
    pub history: HistoryWrite,
    /// Who holds its work item in flight (shared stores record it; others ignore it).
    pub holder: Holder,
}

/// Which tasks of an instance no longer matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    /// None.
    Nothing,
    /// Those of executions other than the current one.
    OtherExecutions,
    /// All of them: the instance has ended.
    All,
}

/// History events to write, each a `HistoryEvent` encoding.
#[derive(Debug)]
pub enum HistoryWrite {
    /// Appended at positions `from..`; earlier events are already written.
    Append {
        /// Position of the first event.
        from: usize,
        /// The events.
        events: Vec<Vec<u8>>,
    },
    /// The whole history, replacing whatever was written before.
    Replace(Vec<Vec<u8>>),
}

/// Names an activity or a timer: the execution that asked for it and its task id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskKey {
    /// Instance id.
    pub instance_id: String,
    /// Execution id.
    pub execution_id: String,
    /// Task (or timer) id within the execution.
    pub task_id: i32,
}

/// Everything a journal holds, read back.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Each instance's `StoredInstance` with its history events in order.
    pub instances: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    /// `StoredEntity` records.
    pub entities: Vec<Vec<u8>>,
    /// The `StoredLocks`, if any was written.
    pub locks: Option<Vec<u8>>,
    /// `StoredActivity` records, in the order they were scheduled.
    pub activities: Vec<Vec<u8>>,
    /// `StoredTimer` records.
    pub timers: Vec<Vec<u8>>,
    /// `StoredDelayedOperation` records by id.
    pub signals: Vec<(u64, Vec<u8>)>,
    /// The last sequence counter written.
    pub next_seq: u64,
    /// Instances whose work item another server holds (shared stores): what they have in
    /// flight stays in flight instead of going back to be dispatched.
    pub held_instances: std::collections::HashSet<String>,
    /// Entities whose batch another server holds.
    pub held_entities: std::collections::HashSet<String>,
    /// Activities another server holds: they are not queued here.
    pub held_activities: std::collections::HashSet<TaskKey>,
}
