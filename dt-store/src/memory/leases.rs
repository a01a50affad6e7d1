//! Work items handed to workers: each lease by completion token, what each worker holds, and
//! when each lease expires. A worker's concurrency slots are counted from its leases here and
//! nowhere else, so ending or forgetting a lease frees its slot by construction.

use super::kind::{PerKind, WorkKind};
use crate::api::WorkerId;
use chrono::{DateTime, Utc};
use dt_core::{ActivityTask, ExecutionId};
use std::collections::{BTreeSet, HashMap};

/// A work item handed to a worker.
pub(crate) struct Lease {
    pub(crate) worker: WorkerId,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) work: Leased,
}

/// What a lease holds.
pub(crate) enum Leased {
    Orchestration {
        instance: String,
        /// The creation sequence number of the instance it was dispatched for, so an answer
        /// never reaches a replacement that happens to reuse the execution id.
        incarnation: u64,
        execution: ExecutionId,
        /// Actions of the chunks received so far of a chunked (isPartial) answer.
        partial: Vec<dt_proto::OrchestratorAction>,
        /// The chunkIndex expected next; a lower one is a duplicate.
        next_chunk: i32,
    },
    Activity(ActivityTask),
    Entity(String),
}

impl Leased {
    /// The instance (`false`) or entity (`true`) whose work this is; `None` for an activity.
    fn holding_id(&self) -> Option<(bool, String)> {
        match self {
            Self::Orchestration { instance, .. } => Some((false, instance.clone())),
            Self::Entity(id) => Some((true, id.clone())),
            Self::Activity(_) => None,
        }
    }

    pub(crate) fn kind(&self) -> WorkKind {
        match self {
            Self::Orchestration { .. } => WorkKind::Orchestration,
            Self::Activity(_) => WorkKind::Activity,
            Self::Entity(_) => WorkKind::Entity,
        }
    }
}

/// The leases one worker holds.
#[derive(Default)]
struct Held {
    tokens: BTreeSet<u64>,
    count: PerKind<usize>,
}

/// Every live lease.
#[derive(Default)]
pub(crate) struct Leases {
    by_token: HashMap<u64, Lease>,
    held: HashMap<WorkerId, Held>,
    /// (expiry, token) of every live lease, soonest first.
    expiries: BTreeSet<(DateTime<Utc>, u64)>,
    /// Set when a lease ended: a worker at its limit may take more now.
    ended: bool,
    /// How many leases name each instance (`false`) or entity (`true`), for [`Leases::holds`].
    holding_ids: HashMap<(bool, String), usize>,
    /// Set when a lease became the first to expire, so the scheduler recomputes its deadline.
    earliest_changed: bool,
}

impl Leases {
    /// Records a new lease under `token`.
    pub(crate) fn grant(&mut self, token: u64, lease: Lease) {
        if let Some(key) = lease.work.holding_id() {
            *self.holding_ids.entry(key).or_default() += 1;
        }
        let held = self.held.entry(lease.worker).or_default();
        held.tokens.insert(token);
        held.count[lease.work.kind()] += 1;
        let key = (lease.expires_at, token);
        if self.expiries.first().is_none_or(|first| key < *first) {
            self.earliest_changed = true;
        }
        self.expiries.insert(key);
        self.by_token.insert(token, lease);
    }

    pub(crate) fn get(&self, token: u64) -> Option<&Lease> {
        self.by_token.get(&token)
    }

    pub(crate) fn get_mut(&mut self, token: u64) -> Option<&mut Lease> {
        self.by_token.get_mut(&token)
    }

    /// Ends a lease (completed, given back or expired) and frees its worker's slot.
    pub(crate) fn end(&mut self, token: u64) -> Option<Lease> {
        let lease = self.by_token.remove(&token)?;
        if let Some(key) = lease.work.holding_id()
            && let std::collections::hash_map::Entry::Occupied(mut count) =
                self.holding_ids.entry(key)
        {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
        if let Some(held) = self.held.get_mut(&lease.worker) {
            held.tokens.remove(&token);
            held.count[lease.work.kind()] -= 1;
            if held.tokens.is_empty() {
                self.held.remove(&lease.worker);
            }
        }
        self.expiries.remove(&(lease.expires_at, token));
        self.ended = true;
        Some(lease)
    }

    /// The tokens a worker holds, oldest first.
    pub(crate) fn held_by(&self, worker: WorkerId) -> Vec<u64> {
        self.held
            .get(&worker)
            .map(|h| h.tokens.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many items of `kind` the worker holds.
    pub(crate) fn holding(&self, worker: WorkerId, kind: WorkKind) -> usize {
        self.held.get(&worker).map_or(0, |h| h.count[kind])
    }

    /// The token of a lease that has expired by `now`, soonest first.
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> Option<u64> {
        self.expiries
            .first()
            .filter(|(at, _)| *at <= now)
            .map(|(_, token)| *token)
    }

    /// When the next lease expires.
    pub(crate) fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Every live lease, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_token.values()
    }

    /// Whether a worker of this store holds the instance's orchestration work item, or the
    /// entity's batch (`entity`).
    pub(crate) fn holds(&self, id: &str, entity: bool) -> bool {
        self.holding_ids.contains_key(&(entity, id.to_owned()))
    }

    /// How many leases are live.
    pub(crate) fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Moves every expiry `by` later (the clock skipped ahead; leases are real time).
    pub(crate) fn shift(&mut self, by: chrono::Duration) {
        self.expiries = std::mem::take(&mut self.expiries)
            .into_iter()
            .map(|(at, token)| (at + by, token))
            .collect();
        for lease in self.by_token.values_mut() {
            lease.expires_at += by;
        }
    }

    /// Whether the first expiry moved earlier since the last call.
    pub(crate) fn take_earliest_changed(&mut self) -> bool {
        std::mem::take(&mut self.earliest_changed)
    }

    /// Whether a lease ended since the last call.
    pub(crate) fn take_ended(&mut self) -> bool {
        std::mem::take(&mut self.ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease_until(expires_at: DateTime<Utc>) -> Lease {
        Lease {
            worker: WorkerId(1),
            expires_at,
            work: Leased::Entity("@e@k".to_owned()),
        }
    }

    /// The scheduler is told only when a lease expires before every other: leases granted in
    /// order all expire later, but a wall clock set back makes a new one the first.
    #[test]
    fn only_a_lease_expiring_first_moves_the_deadline() {
        let at = |s| DateTime::UNIX_EPOCH + chrono::Duration::seconds(s);
        let mut leases = Leases::default();
        leases.grant(1, lease_until(at(10)));
        assert!(leases.take_earliest_changed(), "the first lease");
        assert!(!leases.take_earliest_changed(), "told once");
        leases.grant(2, lease_until(at(20)));
        assert!(!leases.take_earliest_changed(), "a lease expiring later");
        leases.grant(3, lease_until(at(5)));
        assert!(leases.take_earliest_changed(), "a lease expiring first");
        assert_eq!(leases.next_expiry(), Some(at(5)));
    }
}
