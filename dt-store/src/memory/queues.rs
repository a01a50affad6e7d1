//! The queues of work ready for a worker: instances and entities that may have a work item
//! (each queued at most once), and activities. The queues count what they gain, so whoever
//! adds work cannot forget to wake a worker for it.

use dt_core::ActivityTask;
use std::collections::{HashSet, VecDeque};

/// What a fetch does with a queued id it looks at.
pub(crate) enum Pick {
    /// Hand it out: it leaves the queue.
    Take,
    /// This worker may not take it: it stays in place for another.
    Skip,
    /// It has nothing to run any more: it leaves the queue (it is queued again when it has).
    Drop,
}

/// Ids in arrival order, each at most once.
#[derive(Default)]
pub(crate) struct ReadyIds {
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl ReadyIds {
    /// Queues `id` unless it is queued already; returns whether it was added.
    fn push(&mut self, id: &str) -> bool {
        if self.members.contains(id) {
            return false;
        }
        self.members.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The first id `pick` takes. Ids it skips keep their places; ids it drops leave.
    fn take_first(&mut self, mut pick: impl FnMut(&str) -> Pick) -> Option<String> {
        let mut skipped = Vec::new();
        let mut taken = None;
        while let Some(id) = self.order.pop_front() {
            match pick(&id) {
                Pick::Skip => skipped.push(id),
                Pick::Drop => {
                    self.members.remove(&id);
                }
                Pick::Take => {
                    self.members.remove(&id);
                    taken = Some(id);
                    break;
                }
            }
        }
        for id in skipped.into_iter().rev() {
            self.order.push_front(id);
        }
        taken
    }
}

/// Everything waiting for a worker.
#[derive(Default)]
pub(crate) struct Queues {
    instances: ReadyIds,
    activities: VecDeque<ActivityTask>,
    entities: ReadyIds,
    /// Items gained since the last [`Queues::take_added`]: one waiting worker is woken per item.
    added: u32,
}

impl Queues {
    /// Queues an instance that may have a work item to send.
    pub(crate) fn ready_instance(&mut self, id: &str) {
        if self.instances.push(id) {
            self.added += 1;
        }
    }

    /// Queues an entity that may have a batch to run.
    pub(crate) fn ready_entity(&mut self, id: &str) {
        if self.entities.push(id) {
            self.added += 1;
        }
    }

    /// Queues an activity behind the others.
    pub(crate) fn push_activity(&mut self, task: ActivityTask) {
        self.activities.push_back(task);
        self.added += 1;
    }

    /// Puts an activity given back by a lost worker first in line.
    pub(crate) fn return_activity(&mut self, task: ActivityTask) {
        self.activities.push_front(task);
        self.added += 1;
    }

    /// Takes every queued activity of an instance out (another server changed its tasks).
    pub(crate) fn remove_activities_of(&mut self, instance: &str) {
        self.activities.retain(|a| a.instance.as_str() != instance);
    }

    /// The first instance id `pick` takes.
    pub(crate) fn take_instance(&mut self, pick: impl FnMut(&str) -> Pick) -> Option<String> {
        self.instances.take_first(pick)
    }

    /// The first entity id `pick` takes.
    pub(crate) fn take_entity(&mut self, pick: impl FnMut(&str) -> Pick) -> Option<String> {
        self.entities.take_first(pick)
    }

    /// The first activity the worker accepts.
    pub(crate) fn take_activity(
        &mut self,
        accepts: impl Fn(&ActivityTask) -> bool,
    ) -> Option<ActivityTask> {
        let index = self.activities.iter().position(accepts)?;
        self.activities.remove(index)
    }

    /// How many items were gained since the last call.
    pub(crate) fn take_added(&mut self) -> u32 {
        std::mem::take(&mut self.added)
    }

    /// Queued instance ids, in order.
    pub(crate) fn instance_ids(&self) -> impl ExactSizeIterator<Item = &String> {
        self.instances.order.iter()
    }

    /// Queued entity ids, in order.
    pub(crate) fn entity_ids(&self) -> impl ExactSizeIterator<Item = &String> {
        self.entities.order.iter()
    }

    /// Queued activities, in order.
    pub(crate) fn activities(&self) -> impl ExactSizeIterator<Item = &ActivityTask> {
        self.activities.iter()
    }

    /// Whether nothing at all is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.activities.is_empty() && self.entities.is_empty()
    }
}
