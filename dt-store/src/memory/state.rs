//! The in-memory store's state, made of parts that each keep their own agreements (queues,
//! leases, timeline, abandons), and what every operation shares: creating and touching
//! instances, the end of an execution, and carrying out effects.

use super::abandons::Abandons;
use super::kind::WorkKind;
use super::leases::Leases;
use super::queues::Queues;
use super::timeline::{Due, Timeline};
use crate::api::{StoreConfig, WorkLimits, WorkerId};
use chrono::{DateTime, Utc};
use dt_core::{
    ActivityTask, Effect, Entity, ExecutionId, Instance, Locks, NewInstance, TerminateOutcome,
    WorkFilters,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything the in-memory store holds, behind one mutex.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) config: StoreConfig,
    /// Instances by id, each with the sequence number of its creation (boxed: the table then
    /// holds pointers, and its spare capacity costs little).
    pub(crate) instances: HashMap<String, Box<Entry>>,
    /// Instance ids in creation order, for paging.
    pub(crate) by_creation: BTreeMap<u64, String>,
    /// Durable entities by id.
    pub(crate) entities: HashMap<String, Entity>,
    /// Which critical section holds which entity, and who waits.
    pub(crate) locks: Locks,
    pub(crate) queues: Queues,
    pub(crate) timeline: Timeline,
    pub(crate) leases: Leases,
    pub(crate) abandons: Abandons,
    /// Connected workers. Survives a reset, and holds nothing about work.
    pub(crate) workers: HashMap<WorkerId, Worker>,
    /// Per-instance notifiers for `wait_for_instance`, created on demand. Survives a reset.
    pub(crate) waiters: HashMap<String, Arc<Notify>>,
    /// Names completion tokens and instance incarnations. Survives a reset, so an answer from
    /// before the reset can never match a lease granted after it.
    next_seq: u64,
    /// Counts behind `Store::stats`, kept as instances change.
    pub(crate) tally: super::stats::Tally,
    /// What changed since a durable store last took the changes (off without one).
    pub(crate) dirty: super::journaling::Dirty,
}

pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) instance: Instance,
    /// The status this instance is counted under in `State::tally` (none until first touched).
    pub(crate) counted: Option<dt_core::RuntimeStatus>,
    /// What a durable store has recorded of this entry's history (none yet: all of it is new).
    pub(crate) recorded: Option<super::journaling::Recorded>,
}

/// A connected worker: what it asked for. What it holds is in [`Leases`].
pub(crate) struct Worker {
    /// Shared so each fetch can hold them while it changes the queues, without a copy.
    pub(crate) filters: Arc<WorkFilters>,
    pub(crate) history_streaming: bool,
    pub(crate) limits: WorkLimits,
    /// It may refuse an item it is woken for (filters, or a limit reached).
    pub(crate) picky: bool,
    /// Which queue it looks at first next time, so no kind of work starves the others.
    pub(crate) turn: WorkKind,
}

/// Whom to wake after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    Nobody,
    /// One waiting worker per new item.
    One(u32),
    /// Every waiting worker looks.
    All,
}

impl State {
    pub(crate) fn new(config: StoreConfig) -> Self {
        Self {
            config,
            ..Default::default()
        }
    }

    /// Decides whom to wake for what changed. One worker per new item, unless some worker may
    /// refuse what it is woken for (filters, a limit reached, an item it gave back that another
    /// worker should have) and so leave it waiting; then everyone looks. A lease that ended
    /// while work is queued may free a worker that was at its limit.
    pub(crate) fn take_wake(&mut self) -> Wake {
        let added = self.queues.take_added();
        let lease_ended = self.leases.take_ended();
        let picky = self.abandons.any_given_back() || self.workers.values().any(|w| w.picky);
        let limited = || self.workers.values().any(|w| w.limits.any());
        match (added, picky) {
            (0, _) if lease_ended && !self.queues.is_empty() && limited() => Wake::All,
            (0, _) => Wake::Nobody,
            (_, true) => Wake::All,
            (n, false) => Wake::One(n),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The last number handed out.
    pub(crate) fn peek_seq(&self) -> u64 {
        self.next_seq
    }

    /// Numbers continue after `seq` (a restored store).
    pub(crate) fn set_seq(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    pub(crate) fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.get(id).map(|e| &e.instance)
    }

    pub(crate) fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.get_mut(id).map(|e| &mut e.instance)
    }

    /// Call after any change to an instance: wakes its waiters and queues it if it can be
    /// dispatched (or sets a wake-up for its scheduled start).
    pub(crate) fn touch(&mut self, id: &str, now: DateTime<Utc>) {
        self.dirty.instance(id);
        self.recount(id);
        if let Some(notify) = self.waiters.get(id) {
            notify.notify_waiters();
        }
        let Some(instance) = self.instance(id) else {
            return;
        };
        if instance.is_terminal() {
            self.end_execution(id, now);
            if let Some(finished) = self.instance_mut(id) {
                finished.archive();
            }
            return;
        }
        if let Some(at) = instance.start_delayed_until(now) {
            if instance.in_flight.is_none() {
                self.timeline.schedule(at, Due::Instance(id.to_owned()));
            }
            return;
        }
        if instance.is_dispatchable(now) {
            self.queues.ready_instance(id);
        }
    }

    /// Lets go of what belonged to the instance's current execution, which has ended or is being
    /// replaced by another (terminal status, continue-as-new, rewind, replacement, purge): the
    /// locks it holds or waits for, and its run of abandons. The one place this happens.
    pub(crate) fn end_execution(&mut self, id: &str, now: DateTime<Utc>) {
        self.release_locks_of(&dt_core::InstanceId::new(id), now);
        self.abandons.forget_instance(id);
    }

    /// Inserts a new instance (replacing any with the same id) and queues it.
    pub(crate) fn insert_instance(
        &mut self,
        spec: NewInstance,
        execution: ExecutionId,
        now: DateTime<Utc>,
    ) -> String {
        let id = spec.id.clone();
        self.remove_instance(&id, now);
        let seq = self.next_seq();
        self.by_creation.insert(seq, id.clone());
        let instance = Instance::new(spec, execution, now);
        self.instances.insert(
            id.clone(),
            Box::new(Entry {
                seq,
                instance,
                counted: None,
                recorded: None,
            }),
        );
        self.touch(&id, now);
        id
    }

    pub(crate) fn remove_instance(&mut self, id: &str, now: DateTime<Utc>) -> Option<Instance> {
        let entry = self.instances.remove(id)?;
        self.dirty.instance(id);
        self.uncount(entry.counted);
        self.by_creation.remove(&entry.seq);
        self.end_execution(id, now);
        if let Some(notify) = self.waiters.get(id) {
            notify.notify_waiters();
        }
        Some(entry.instance)
    }

    pub(crate) fn new_execution_id() -> ExecutionId {
        ExecutionId::new(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Queues an activity if the execution that scheduled it is still alive; `returned` puts
    /// it first in line (a lost worker's). The one check that no activity runs for an
    /// execution that has ended or moved on.
    pub(crate) fn queue_activity(&mut self, task: ActivityTask, returned: bool) {
        let alive = self
            .instance(task.instance.as_str())
            .is_some_and(|i| i.execution_id == task.execution && !i.is_terminal());
        match (alive, returned) {
            (false, _) => {}
            (true, false) => {
                self.dirty.activity_released(&task);
                self.queues.push_activity(task);
            }
            (true, true) => {
                self.dirty.activity_released(&task);
                self.queues.return_activity(task);
            }
        }
    }

    /// Carries out effects, including the ones they cause in turn, within the current commit.
    /// Worker answers and client requests alike change other parts of the state only through
    /// here.
    pub(crate) fn apply_effects(&mut self, effects: Vec<Effect>, now: DateTime<Utc>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::ScheduleActivity(task) => {
                    self.dirty.activity_added(&task);
                    self.queues.push_activity(task);
                }
                Effect::CreateTimer(timer) => {
                    self.dirty.timer_added(&timer);
                    let at = timer.due();
                    self.timeline.schedule(at, Due::Timer(timer));
                }
                Effect::StartChild(spec) => self.start_child(spec, now, &mut queue),
                Effect::SendEvent { target, event } => {
                    if let Some(instance) = self.instance_mut(target.as_str()) {
                        instance.deliver(event, now);
                        self.touch(target.as_str(), now);
                    }
                }
                Effect::NotifyParent { parent, event } => {
                    if let Some(instance) = self.instance_mut(parent.instance.as_str()) {
                        instance.deliver_result(&parent.execution, event, now);
                        self.touch(parent.instance.as_str(), now);
                    }
                }
                Effect::EntityOperation {
                    target,
                    operation,
                    not_before,
                } => match not_before {
                    Some(at) if at > now => {
                        self.entity_mut_or_create(&target, now);
                        let id = self.next_seq();
                        self.dirty.signal_added(id, &target, at, &operation);
                        self.timeline
                            .schedule(at, Due::EntityOperation(target, Box::new(operation), id));
                    }
                    _ => self.queue_entity_operation(&target, operation, now),
                },
                Effect::EntityReply {
                    instance,
                    execution,
                    event,
                } => {
                    if let Some(caller) = self.instance_mut(instance.as_str()) {
                        caller.deliver_result(&execution, event, now);
                        self.touch(instance.as_str(), now);
                    }
                }
                Effect::LockRequest(request) => self.request_locks(request, now),
                Effect::Unlock {
                    entity,
                    critical_section,
                } => {
                    let granted = self.locks.release(&entity, &critical_section);
                    self.touch_entity(&entity);
                    self.deliver_grants(granted, now);
                }
                Effect::StartOrchestration(spec) => self.start_for_entity(spec, now),
                Effect::RewindChild { child, reason } => {
                    self.rewind_child(child, reason, now, &mut queue)
                }
                Effect::Terminate {
                    target,
                    reason,
                    recurse,
                } => {
                    let more = self.terminate(target.as_str(), reason, recurse, now);
                    queue.extend(more);
                }
            }
        }
    }

    /// Creates a child; an id held by a live instance fails the child task in its parent
    /// instead, so the parent never waits for a child that will not run.
    fn start_child(&mut self, spec: NewInstance, now: DateTime<Utc>, queue: &mut VecDeque<Effect>) {
        let taken = self
            .instance(&spec.id)
            .filter(|i| !i.is_terminal())
            .map(|i| i.status);
        match (taken, spec.parent.clone()) {
            (Some(status), Some(parent)) => {
                let details = dt_proto::TaskFailureDetails {
                    error_type: "OrchestrationAlreadyExists".to_owned(),
                    error_message: format!(
                        "cannot start sub-orchestration '{}': an instance with that id is {:?}",
                        spec.id, status
                    ),
                    ..Default::default()
                };
                let event = dt_core::events::sub_orchestration_failed(parent.task_id, details, now);
                queue.push_back(Effect::NotifyParent { parent, event });
            }
            _ => {
                self.insert_instance(spec, Self::new_execution_id(), now);
            }
        }
    }

    /// Brings back a child of a rewound parent: re-created if purged, rewound if failed,
    /// re-reported if it finished after the parent failed, and linked to the new execution.
    fn rewind_child(
        &mut self,
        spec: NewInstance,
        reason: Option<String>,
        now: DateTime<Utc>,
        queue: &mut VecDeque<Effect>,
    ) {
        let id = spec.id.clone();
        let Some(child) = self.instance_mut(&id) else {
            self.insert_instance(spec, Self::new_execution_id(), now);
            return;
        };
        let parent_execution = spec.parent.as_ref().map(|p| p.execution.clone());
        child.parent = spec.parent.map(Box::new);
        if child.status == dt_core::RuntimeStatus::Failed {
            if let Err(err) = child.rewind(reason, parent_execution.as_ref(), now) {
                tracing::warn!(%err, child = %id, "could not rewind a failed child");
            }
        } else if let Some(report) = child.parent_notification(now) {
            queue.push_back(report);
        }
        self.touch(&id, now);
    }

    /// Terminates one instance; returns the effects of a termination done on the spot.
    fn terminate(
        &mut self,
        id: &str,
        reason: Option<String>,
        recurse: bool,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let Some(instance) = self.instance_mut(id) else {
            return Vec::new();
        };
        let outcome = instance.terminate(reason, recurse, now);
        self.touch(id, now);
        match outcome {
            TerminateOutcome::Terminated(effects) => effects,
            TerminateOutcome::Requested | TerminateOutcome::Ignored => Vec::new(),
        }
    }

    /// Drops all instances, entities, queued work and leases; workers stay connected with
    /// their filters, and waiters are woken so they see the instance is gone. Whatever a
    /// worker held is forgotten with the leases, which are also what its slots are counted
    /// from, so every slot is free again.
    pub(crate) fn clear(&mut self) {
        let survivors = Self {
            config: self.config.clone(),
            workers: std::mem::take(&mut self.workers),
            waiters: std::mem::take(&mut self.waiters),
            next_seq: self.next_seq,
            tally: self.tally.after_reset(),
            dirty: self.dirty.after_clear(),
            ..Self::default()
        };
        *self = survivors;
        for notify in self.waiters.values() {
            notify.notify_waiters();
        }
    }
}
