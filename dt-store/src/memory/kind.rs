//! What the memory store adds to [`WorkKind`] (public, beside the stats that count by it): the
//! round-robin order and the per-kind caps; and a table with one value per kind, so code that
//! treats each kind alike names the kind instead of an index.

use crate::api::WorkLimits;
use std::ops::{Index, IndexMut};

pub(crate) use crate::stats::WorkKind;

impl WorkKind {
    /// The kind after this one, round robin.
    pub(crate) fn next(self) -> Self {
        match self {
            Self::Orchestration => Self::Activity,
            Self::Activity => Self::Entity,
            Self::Entity => Self::Orchestration,
        }
    }

    /// Every kind once, starting with this one.
    pub(crate) fn rotation(self) -> [Self; 3] {
        [self, self.next(), self.next().next()]
    }

    /// The worker's cap on items of this kind held at once.
    pub(crate) fn cap(self, limits: &WorkLimits) -> Option<usize> {
        match self {
            Self::Orchestration => limits.orchestrations,
            Self::Activity => limits.activities,
            Self::Entity => limits.entities,
        }
    }
}

/// One `T` per kind of work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PerKind<T> {
    orchestration: T,
    activity: T,
    entity: T,
}

impl<T> Index<WorkKind> for PerKind<T> {
    type Output = T;

    fn index(&self, kind: WorkKind) -> &T {
        match kind {
            WorkKind::Orchestration => &self.orchestration,
            WorkKind::Activity => &self.activity,
            WorkKind::Entity => &self.entity,
        }
    }
}

impl<T> IndexMut<WorkKind> for PerKind<T> {
    fn index_mut(&mut self, kind: WorkKind) -> &mut T {
        match kind {
            WorkKind::Orchestration => &mut self.orchestration,
            WorkKind::Activity => &mut self.activity,
            WorkKind::Entity => &mut self.entity,
        }
    }
}
