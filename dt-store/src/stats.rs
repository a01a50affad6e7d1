//! What [`Store::stats`](crate::Store::stats) reports: a snapshot of what a store holds, for
//! dashboards and metrics.

use dt_core::RuntimeStatus;

/// The statuses an instance can be seen in, in the order reports list them.
pub const STATUSES: [RuntimeStatus; 6] = [
    RuntimeStatus::Pending,
    RuntimeStatus::Running,
    RuntimeStatus::Suspended,
    RuntimeStatus::Completed,
    RuntimeStatus::Failed,
    RuntimeStatus::Terminated,
];

/// The kinds of work item a worker is handed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// An orchestration work item (one turn).
    #[default]
    Orchestration,
    /// An activity.
    Activity,
    /// A batch of entity operations.
    Entity,
}

impl WorkKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [WorkKind; 3] = [Self::Orchestration, Self::Activity, Self::Entity];

    /// A lower-case name for labels and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Orchestration => "orchestration",
            Self::Activity => "activity",
            Self::Entity => "entity",
        }
    }
}

/// One count per [`WorkKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerKind {
    /// Orchestration work items.
    pub orchestrations: u64,
    /// Activities.
    pub activities: u64,
    /// Entity batches.
    pub entities: u64,
}

impl PerKind {
    /// The count of one kind.
    pub fn get(&self, kind: WorkKind) -> u64 {
        match kind {
            WorkKind::Orchestration => self.orchestrations,
            WorkKind::Activity => self.activities,
            WorkKind::Entity => self.entities,
        }
    }

    /// The count of one kind, to change.
    pub fn get_mut(&mut self, kind: WorkKind) -> &mut u64 {
        match kind {
            WorkKind::Orchestration => &mut self.orchestrations,
            WorkKind::Activity => &mut self.activities,
            WorkKind::Entity => &mut self.entities,
        }
    }
}

/// A snapshot of a store. Each number is exact at the moment it was read; the numbers need not
/// all be read at the same moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// How many instances exist in each status, as `get_instance` would report it (statuses
    /// with none may be left out).
    pub instances: Vec<(RuntimeStatus, u64)>,
    /// Work waiting for a worker now: instances with new events to dispatch, activities not
    /// yet handed out, entities with operations to run. Work waiting for a time (a timer, a
    /// delayed start, an abandon backoff) is not counted here but in `scheduled`.
    pub queued: PerKind,
    /// Work items handed to workers and not yet completed, abandoned or given back.
    pub leased: PerKind,
    /// Things due at a later time: timers, delayed starts and signals, abandon backoffs (not
    /// lease expiries).
    pub scheduled: u64,
    /// Connected worker streams.
    pub workers: u64,
    /// Leases that ended without an answer since the store was created, so their work went
    /// back to be dispatched again: because the worker disconnected...
    pub lost_on_disconnect: PerKind,
    /// ...or because the lease expired.
    pub lost_on_expiry: PerKind,
}

impl StoreStats {
    /// How many instances are in `status`.
    pub fn count(&self, status: RuntimeStatus) -> u64 {
        self.instances
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// How many instances exist.
    pub fn total(&self) -> u64 {
        self.instances.iter().map(|(_, n)| n).sum()
    }
}
