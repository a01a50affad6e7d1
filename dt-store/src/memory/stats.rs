//! `Store::stats` for the in-memory store. Counts by status are kept as instances change
//! (`touch`, insert and remove call in here), so a report reads no instance; queue lengths
//! are read off the queues, checking each queued entry as a worker would.

use super::state::State;
use crate::stats::{PerKind, STATUSES, StoreStats};
use chrono::{DateTime, Utc};
use dt_core::RuntimeStatus;

/// Why a lease ended without an answer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LostBy {
    Disconnect,
    Expiry,
}

/// The counts `State` keeps for `stats`.
#[derive(Default)]
pub(crate) struct Tally {
    by_status: [u64; STATUSES.len()],
    /// Instances in a status outside [`STATUSES`] (canceled, which no client can cause).
    other: u64,
    lost_on_disconnect: PerKind,
    lost_on_expiry: PerKind,
}

impl Tally {
    /// What a reset keeps: no instance is left to count, but leases lost before it stay
    /// counted (they are counters "since the store was created", exported as such).
    pub(crate) fn after_reset(&self) -> Self {
        Self {
            lost_on_disconnect: self.lost_on_disconnect,
            lost_on_expiry: self.lost_on_expiry,
            ..Self::default()
        }
    }

    fn slot(&mut self, status: RuntimeStatus) -> &mut u64 {
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => &mut self.by_status[i],
            None => &mut self.other,
        }
    }
}

impl State {
    /// Moves the instance to the count of its current status (it changed, or is new).
    pub(crate) fn recount(&mut self, id: &str) {
        let Some(entry) = self.instances.get_mut(id) else {
            return;
        };
        let status = entry.instance.status;
        let Some(before) = entry.counted.replace(status) else {
            *self.tally.slot(status) += 1;
            return;
        };
        if before != status {
            let old = self.tally.slot(before);
            *old = old.saturating_sub(1);
            *self.tally.slot(status) += 1;
        }
    }

    /// Takes a removed instance out of the counts.
    pub(crate) fn uncount(&mut self, counted: Option<RuntimeStatus>) {
        if let Some(status) = counted {
            let slot = self.tally.slot(status);
            *slot = slot.saturating_sub(1);
        }
    }

    /// Counts a lease that is about to end without an answer.
    pub(crate) fn count_lost_lease(&mut self, token: u64, by: LostBy) {
        let Some(kind) = self.leases.get(token).map(|l| l.work.kind()) else {
            return;
        };
        let counts = match by {
            LostBy::Disconnect => &mut self.tally.lost_on_disconnect,
            LostBy::Expiry => &mut self.tally.lost_on_expiry,
        };
        *counts.get_mut(kind) += 1;
    }

    pub(crate) fn stats(&self, now: DateTime<Utc>) -> StoreStats {
        let instances = STATUSES
            .iter()
            .zip(self.tally.by_status)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (*s, n))
            .collect();
        // The ready queues may hold entries that stopped being dispatchable (a worker skips
        // them when it pops them), so each is checked the way a worker would.
        let orchestrations = self
            .queues
            .instance_ids()
            .filter(|id| self.instance(id).is_some_and(|i| i.is_dispatchable(now)))
            .count();
        let entities = self
            .queues
            .entity_ids()
            .filter(|id| {
                let holder = self.locks.holder(id).map(|h| &h.instance);
                self.entities
                    .get(id.as_str())
                    .is_some_and(|e| e.is_dispatchable(holder))
            })
            .count();
        let mut leased = PerKind::default();
        for lease in self.leases.iter() {
            *leased.get_mut(lease.work.kind()) += 1;
        }
        StoreStats {
            instances,
            queued: PerKind {
                orchestrations: orchestrations as u64,
                activities: self.queues.activities().len() as u64,
                entities: entities as u64,
            },
            leased,
            // Lease expiries are kept apart from the timeline.
            scheduled: self.timeline.len() as u64,
            workers: self.workers.len() as u64,
            lost_on_disconnect: self.tally.lost_on_disconnect,
            lost_on_expiry: self.tally.lost_on_expiry,
        }
    }
}
