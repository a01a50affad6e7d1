//! What a store tells time skipping: the next time-driven thing an orchestration waits for,
//! and the work that is runnable or in flight now (which forbids a skip).

use chrono::{DateTime, Utc};

/// One read of what skipping needs ([`Store::skip_view`](crate::Store::skip_view)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkipView {
    /// The earliest timer of a live, non-suspended execution, scheduled start or delayed
    /// entity delivery. Never a lease expiry or a back-off end: those are real time.
    pub next_target: Option<DateTime<Utc>>,
    /// Work queued, leased or backing off, the first [`SkipView::MAX_BLOCKERS`] of it.
    pub blockers: Vec<Blocker>,
    /// How many blockers there are in all.
    pub blocker_count: usize,
}

impl SkipView {
    /// The most blockers a view lists by name.
    pub const MAX_BLOCKERS: usize = 16;

    /// Whether nothing is runnable or in flight.
    pub fn is_idle(&self) -> bool {
        self.blocker_count == 0
    }
}

/// A piece of work that keeps the clock from skipping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// What kind of work, and in what state.
    pub kind: BlockerKind,
    /// The instance (orchestration, or the activity's orchestration) or entity id.
    pub id: String,
}

/// The kinds of [`Blocker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlockerKind {
    /// An orchestration work item waits for a worker.
    QueuedOrchestration,
    /// An activity waits for a worker.
    QueuedActivity,
    /// An entity batch waits for a worker.
    QueuedEntity,
    /// A worker holds an orchestration work item.
    LeasedOrchestration,
    /// A worker runs an activity.
    LeasedActivity,
    /// A worker runs an entity batch.
    LeasedEntity,
    /// Work given back (abandoned, or a failed entity batch) waits out its back-off.
    BackingOff,
}

impl BlockerKind {
    /// A short lowercase name for status output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueuedOrchestration => "queued orchestration",
            Self::QueuedActivity => "queued activity",
            Self::QueuedEntity => "queued entity batch",
            Self::LeasedOrchestration => "leased orchestration",
            Self::LeasedActivity => "leased activity",
            Self::LeasedEntity => "leased entity batch",
            Self::BackingOff => "backing off",
        }
    }
}

/// Collects blockers up to the cap while counting them all.
#[derive(Default)]
pub(crate) struct BlockerList {
    view: SkipView,
}

impl BlockerList {
    pub(crate) fn add(&mut self, kind: BlockerKind, id: &str) {
        self.view.blocker_count += 1;
        if self.view.blockers.len() < SkipView::MAX_BLOCKERS {
            self.view.blockers.push(Blocker {
                kind,
                id: id.to_owned(),
            });
        }
    }

    /// Whether the named list is full (more need only be counted).
    pub(crate) fn is_full(&self) -> bool {
        self.view.blockers.len() >= SkipView::MAX_BLOCKERS
    }

    /// Counts `n` blockers without naming them.
    pub(crate) fn count_more(&mut self, n: usize) {
        self.view.blocker_count += n;
    }

    pub(crate) fn finish(self, next_target: Option<DateTime<Utc>>) -> SkipView {
        SkipView {
            next_target,
            ..self.view
        }
    }
}
