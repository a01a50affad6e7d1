//! The in-memory store's state and the bookkeeping every operation shares: creating and
//! touching instances, carrying out effects, and the timeline of things due later.

use crate::api::{StoreConfig, WorkerId};
use chrono::{DateTime, Utc};
use dt_core::{
    ActivityTask, Effect, Entity, ExecutionId, Instance, Locks, NewInstance, Operation,
    TerminateOutcome, TimerTask, WorkFilters,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
    /// Instances that may be dispatchable; checked again when popped.
    pub(crate) ready: VecDeque<String>,
    pub(crate) ready_set: HashSet<String>,
    /// Activities waiting for a worker.
    pub(crate) activities: VecDeque<ActivityTask>,
    /// Things due at a time: timers, delayed starts, backoffs, lease expiries.
    pub(crate) timeline: BTreeMap<(DateTime<Utc>, u64), Due>,
    /// Work items handed to workers, by completion token.
    pub(crate) leases: HashMap<u64, Lease>,
    pub(crate) workers: HashMap<WorkerId, Worker>,
    /// Per-instance notifiers for `wait_for_instance`, created on demand.
    pub(crate) waiters: HashMap<String, Arc<Notify>>,
    pub(crate) next_seq: u64,
    /// Durable entities by id.
    pub(crate) entities: HashMap<String, Entity>,
    /// Which critical section holds which entity, and who waits.
    pub(crate) locks: Locks,
    /// Entities that may have a batch to run; checked again when popped.
    pub(crate) ready_entities: VecDeque<String>,
    pub(crate) ready_entities_set: HashSet<String>,
    /// How many times in a row each orchestration / activity was abandoned, for the backoff.
    pub(crate) abandons: HashMap<AbandonKey, u32>,
    /// The worker that last gave each orchestration back, which gets it only if no other
    /// connected worker would take it.
    pub(crate) abandoned_by: HashMap<String, WorkerId>,
    /// Set when something was added to the timeline, so the scheduler recomputes its deadline.
    pub(crate) work_added: u32,
    pub(crate) schedule_added: bool,
    /// Set when a lease ended: a worker at its limit may take more now.
    pub(crate) lease_ended: bool,
}

pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) instance: Instance,
}

pub(crate) struct Worker {
    /// Shared so each fetch can hold them while it changes the queues, without a copy.
    pub(crate) filters: Arc<WorkFilters>,
    pub(crate) history_streaming: bool,
    pub(crate) limits: crate::api::WorkLimits,
    /// Items held now, by kind: orchestrations, activities, entity batches.
    pub(crate) holding: [usize; 3],
    /// It may refuse an item it is woken for (filters, or a limit reached).
    pub(crate) picky: bool,
    pub(crate) tokens: HashSet<u64>,
    /// Rotates which queue a worker looks at first, so no kind of work starves the others.
    pub(crate) turn: u8,
}

/// A work item handed to a worker.
pub(crate) struct Lease {
    pub(crate) worker: WorkerId,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) work: Leased,
}

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
    /// 0 for orchestrations, 1 for activities, 2 for entity batches (index into
    /// `Worker::holding`).
    pub(crate) fn kind(&self) -> usize {
        match self {
            Self::Orchestration { .. } => 0,
            Self::Activity(_) => 1,
            Self::Entity(_) => 2,
        }
    }
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

/// What a run of abandons is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AbandonKey {
    Orchestration(String),
    Activity(String, i32),
    Entity(String),
}

/// Something to do at a time.
pub(crate) enum Due {
    Timer(TimerTask),
    /// An instance whose scheduled start or abandon backoff has passed.
    Instance(String),
    /// An abandoned activity whose backoff has passed.
    Activity(Box<ActivityTask>),
    LeaseExpiry(u64),
    /// An entity whose abandon backoff has passed.
    Entity(String),
    /// A delayed signal whose time has come.
    EntityOperation(String, Box<Operation>),
}

impl State {
    pub(crate) fn new(config: StoreConfig) -> Self {
        Self {
            config,
            ..Default::default()
        }
    }

    /// Takes the change flags and decides whom to wake. One worker per new item, unless some
    /// worker may refuse what it is woken for (filters, a limit reached, an item it gave back
    /// that another worker should have) and so leave it waiting; then everyone looks. A lease
    /// that ended while work is queued may free a worker that was at its limit.
    pub(crate) fn take_wake(&mut self) -> Wake {
        let work = std::mem::take(&mut self.work_added);
        let lease_ended = std::mem::take(&mut self.lease_ended);
        let picky = !self.abandoned_by.is_empty() || self.workers.values().any(|w| w.picky);
        let queued = !(self.ready.is_empty()
            && self.activities.is_empty()
            && self.ready_entities.is_empty());
        let limited = || self.workers.values().any(|w| w.limits.any());
        match (work, picky) {
            (0, _) if lease_ended && queued && limited() => Wake::All,
            (0, _) => Wake::Nobody,
            (_, true) => Wake::All,
            (n, false) => Wake::One(n),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.get(id).map(|e| &e.instance)
    }

    pub(crate) fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.get_mut(id).map(|e| &mut e.instance)
    }

    pub(crate) fn schedule(&mut self, at: DateTime<Utc>, due: Due) {
        let seq = self.next_seq();
        self.timeline.insert((at, seq), due);
        self.schedule_added = true;
    }

    /// Call after any change to an instance: wakes its waiters and queues it if it can be
    /// dispatched (or sets a wake-up for its scheduled start).
    pub(crate) fn touch(&mut self, id: &str, now: DateTime<Utc>) {
        if let Some(notify) = self.waiters.get(id) {
            notify.notify_waiters();
        }
        let Some(instance) = self.instance(id) else {
            return;
        };
        if instance.is_terminal() {
            // A finished orchestration holds no locks, whatever it forgot to release.
            self.release_locks_of(&dt_core::InstanceId::new(id), now);
            self.abandoned_by.remove(id);
            if let Some(finished) = self.instance_mut(id) {
                finished.archive();
            }
            return;
        }
        let Some(instance) = self.instance(id) else {
            return;
        };
        if let Some(at) = instance.start_delayed_until(now) {
            if instance.in_flight.is_none() {
                self.schedule(at, Due::Instance(id.to_owned()));
            }
            return;
        }
        if instance.is_dispatchable(now) && self.ready_set.insert(id.to_owned()) {
            self.ready.push_back(id.to_owned());
            self.work_added += 1;
        }
    }

    /// Inserts a new instance (replacing any with the same id) and queues it.
    pub(crate) fn insert_instance(
        &mut self,
        spec: NewInstance,
        execution: ExecutionId,
        now: DateTime<Utc>,
    ) -> String {
        let id = spec.id.clone();
        self.remove_instance(&id);
        let seq = self.next_seq();
        self.by_creation.insert(seq, id.clone());
        let instance = Instance::new(spec, execution, now);
        self.instances
            .insert(id.clone(), Box::new(Entry { seq, instance }));
        self.touch(&id, now);
        id
    }

    pub(crate) fn remove_instance(&mut self, id: &str) -> Option<Instance> {
        let entry = self.instances.remove(id)?;
        self.by_creation.remove(&entry.seq);
        self.abandoned_by.remove(id);
        let now = entry.instance.last_updated_at;
        self.release_locks_of(&entry.instance.id, now);
        if let Some(notify) = self.waiters.get(id) {
            notify.notify_waiters();
        }
        Some(entry.instance)
    }

    pub(crate) fn new_execution_id() -> ExecutionId {
        ExecutionId::new(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Carries out effects, including the ones they cause in turn, within the current commit.
    pub(crate) fn apply_effects(&mut self, effects: Vec<Effect>, now: DateTime<Utc>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::ScheduleActivity(task) => {
                    self.activities.push_back(task);
                    self.work_added += 1;
                }
                Effect::CreateTimer(timer) => {
                    let at = timer.due();
                    self.schedule(at, Due::Timer(timer));
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
                        self.schedule(at, Due::EntityOperation(target, Box::new(operation)))
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
    pub(crate) fn terminate(
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

    /// Drops all instances and queued work; workers stay connected with their filters, and
    /// waiters are woken so they see the instance is gone.
    pub(crate) fn clear(&mut self) {
        let config = self.config.clone();
        let mut workers = std::mem::take(&mut self.workers);
        for worker in workers.values_mut() {
            worker.tokens.clear();
        }
        let waiters = std::mem::take(&mut self.waiters);
        // Sequence numbers name completion tokens: restarting them would let a worker's answer
        // from before the reset complete a new lease that happens to get the same token.
        let next_seq = self.next_seq;
        *self = Self::new(config);
        self.next_seq = next_seq;
        self.workers = workers;
        for notify in waiters.values() {
            notify.notify_waiters();
        }
        self.waiters = waiters;
    }
}
