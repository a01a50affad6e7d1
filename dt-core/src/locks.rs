//! Entity locks for critical sections: who holds which entity, and who waits.
//!
//! A request names a set of entities; it is granted only when it can hold all of them at
//! once. Waiting requests are served in arrival order: an entity wanted by an earlier waiting
//! request is never granted to a later one, so every request is granted once the holders
//! ahead of it release, and nothing deadlocks (a request holds nothing while it waits).

use crate::ids::{ExecutionId, InstanceId};
use std::collections::{HashMap, HashSet, VecDeque};

/// A critical section's request for a set of entities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRequest {
    /// The critical section id the orchestration chose.
    pub critical_section: String,
    /// The orchestration asking.
    pub instance: InstanceId,
    /// Its execution; a grant for an execution that has moved on is dropped by delivery.
    pub execution: ExecutionId,
    /// The entity ids to hold (duplicates are ignored).
    pub entities: Vec<String>,
}

/// Who holds an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The critical section.
    pub critical_section: String,
    /// The orchestration in it.
    pub instance: InstanceId,
}

/// Lock state of every entity.
#[derive(Clone, Debug, Default)]
pub struct Locks {
    holders: HashMap<String, Holder>,
    waiting: VecDeque<LockRequest>,
    /// Counts the changes to `holders` and `waiting`, so a durable store can tell whether
    /// there is anything new to write without comparing the whole lock table.
    changes: u64,
}

/// Equal when they hold and wait for the same; how they got there does not matter.
impl PartialEq for Locks {
    fn eq(&self, other: &Self) -> bool {
        self.holders == other.holders && self.waiting == other.waiting
    }
}

impl Locks {
    /// Lock state read back from storage: holders by entity, and requests waiting, oldest
    /// first.
    pub fn restore(
        holders: impl IntoIterator<Item = (String, Holder)>,
        waiting: impl IntoIterator<Item = LockRequest>,
    ) -> Self {
        Self {
            holders: holders.into_iter().collect(),
            waiting: waiting.into_iter().collect(),
            changes: 0,
        }
    }

    /// A number that moves whenever the holders or the waiting requests change.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Who holds `entity`, if anyone.
    pub fn holder(&self, entity: &str) -> Option<&Holder> {
        self.holders.get(entity)
    }

    /// The requests still waiting, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &LockRequest> {
        self.waiting.iter()
    }

    /// Every entity held, with its holder.
    pub fn held(&self) -> impl Iterator<Item = (&String, &Holder)> {
        self.holders.iter()
    }

    /// Queues a request and returns every request granted as a result (possibly this one).
    pub fn request(&mut self, request: LockRequest) -> Vec<LockRequest> {
        self.waiting.push_back(request);
        self.grant_ready()
    }

    /// Releases `entity` if `critical_section` holds it; returns the requests granted as a
    /// result.
    pub fn release(&mut self, entity: &str, critical_section: &str) -> Vec<LockRequest> {
        if self
            .holders
            .get(entity)
            .is_some_and(|h| h.critical_section == critical_section)
        {
            self.holders.remove(entity);
            return self.grant_ready();
        }
        Vec::new()
    }

    /// Drops everything an orchestration holds or waits for (it ended, continued as new, or
    /// was purged); returns the entities it held and the requests granted as a result.
    pub fn release_instance(&mut self, instance: &InstanceId) -> (Vec<String>, Vec<LockRequest>) {
        let mut released: Vec<String> = self
            .holders
            .iter()
            .filter(|(_, h)| h.instance == *instance)
            .map(|(e, _)| e.clone())
            .collect();
        released.sort();
        for entity in &released {
            self.holders.remove(entity);
        }
        let before = self.waiting.len();
        self.waiting.retain(|r| r.instance != *instance);
        if released.is_empty() && before == self.waiting.len() {
            return (released, Vec::new());
        }
        let granted = self.grant_ready();
        (released, granted)
    }

    /// Releases `entity` whoever holds it (orphaned-lock cleanup); returns the grants.
    pub fn force_release(&mut self, entity: &str) -> Vec<LockRequest> {
        if self.holders.remove(entity).is_some() {
            return self.grant_ready();
        }
        Vec::new()
    }

    /// Grants waiting requests in order; a request is grantable when none of its entities is
    /// held or wanted by an earlier waiting request.
    fn grant_ready(&mut self) -> Vec<LockRequest> {
        // Every change of holders or waiting requests ends here.
        self.changes += 1;
        let mut granted = Vec::new();
        let mut reserved: HashSet<String> = HashSet::new();
        let mut still_waiting = VecDeque::with_capacity(self.waiting.len());
        for request in self.waiting.drain(..) {
            let free = request
                .entities
                .iter()
                .all(|e| !self.holders.contains_key(e) && !reserved.contains(e));
            if free {
                for entity in &request.entities {
                    self.holders.insert(
                        entity.clone(),
                        Holder {
                            critical_section: request.critical_section.clone(),
                            instance: request.instance.clone(),
                        },
                    );
                }
                granted.push(request);
            } else {
                reserved.extend(request.entities.iter().cloned());
                still_waiting.push_back(request);
            }
        }
        self.waiting = still_waiting;
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cs: &str, instance: &str, entities: &[&str]) -> LockRequest {
        LockRequest {
            critical_section: cs.into(),
            instance: InstanceId::new(instance),
            execution: ExecutionId::new("e"),
            entities: entities.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn second_request_waits_until_the_first_releases() {
        let mut locks = Locks::default();
        assert_eq!(locks.request(req("a", "o1", &["x", "y"])).len(), 1);
        assert!(locks.request(req("b", "o2", &["y"])).is_empty());
        assert_eq!(
            locks.holder("y").map(|h| h.critical_section.as_str()),
            Some("a")
        );
        assert!(locks.release("x", "a").is_empty(), "b does not need x");
        let granted = locks.release("y", "a");
        assert_eq!(granted, [req("b", "o2", &["y"])]);
        assert_eq!(locks.holder("y").map(|h| h.instance.as_str()), Some("o2"));
    }

    #[test]
    fn a_later_request_never_overtakes_an_earlier_one_on_a_shared_entity() {
        let mut locks = Locks::default();
        locks.request(req("a", "o1", &["x"]));
        assert!(locks.request(req("b", "o2", &["x", "y"])).is_empty());
        // y is free, but b (earlier) wants it: c must wait behind b.
        assert!(locks.request(req("c", "o3", &["y"])).is_empty());
        let granted = locks.release("x", "a");
        assert_eq!(granted, [req("b", "o2", &["x", "y"])]);
    }

    #[test]
    fn release_by_a_non_holder_is_ignored() {
        let mut locks = Locks::default();
        locks.request(req("a", "o1", &["x"]));
        locks.release("x", "not-a");
        assert!(locks.holder("x").is_some());
    }

    #[test]
    fn an_ended_instance_releases_its_locks_and_drops_its_waits() {
        let mut locks = Locks::default();
        locks.request(req("a", "o1", &["x"]));
        locks.request(req("b", "o2", &["x"]));
        locks.request(req("c", "o1", &["z"]));
        let (released, granted) = locks.release_instance(&InstanceId::new("o1"));
        assert_eq!(released, ["x", "z"]);
        assert_eq!(granted, [req("b", "o2", &["x"])]);
        assert_eq!(locks.waiting().count(), 0);
    }
}
