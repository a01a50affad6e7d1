//! What a durable store needs from the engine: the changes of each call, gathered as they are
//! made ([`Dirty`]) and turned into records once the call is done
//! ([`State::take_changes`]), and the state rebuilt from records ([`State::restore`]).
//!
//! Only what cannot be worked out again is recorded: instances (with their histories),
//! entities, entity locks, activities not yet answered, timers not yet fired, delayed signals.
//! Queues, leases, back-offs and scheduled starts follow from those, so a restored store hands
//! out again whatever was in flight.

use super::state::{Entry, State};
use super::timeline::Due;
use crate::error::StoreError;
use crate::journal::records::*;
use crate::journal::{
    Changes, HistoryWrite, Holder, InstanceChange, InstanceRow, Prune, Snapshot, TaskKey,
};
use chrono::{DateTime, Utc};
use dt_core::{ActivityTask, ExecutionId, Operation, TimerTask};
use std::collections::HashSet;

/// A restarted store numbers its tokens this far past the last number written, so a token
/// handed out after that write (fetches write nothing) is never handed out again.
const SEQ_GAP_AFTER_RESTART: u64 = 1 << 32;

/// What the calls since the last [`State::take_changes`] touched. Off (and empty) unless the
/// store has a journal.
#[derive(Default)]
pub(crate) struct Dirty {
    on: bool,
    /// Several servers share the store: taking and giving back work is recorded too, so the
    /// others know what is held and by whom.
    shared: bool,
    cleared: bool,
    instances: HashSet<String>,
    entities: HashSet<String>,
    activities_added: Vec<(TaskKey, Vec<u8>)>,
    activities_done: Vec<TaskKey>,
    timers_added: Vec<(TaskKey, Vec<u8>)>,
    timers_done: Vec<TaskKey>,
    signals_added: Vec<(u64, Vec<u8>)>,
    signals_done: Vec<u64>,
    activities_claimed: Vec<TaskKey>,
    activities_released: Vec<TaskKey>,
    /// `Locks::changes` when the lock table was last recorded.
    locks_recorded: u64,
}

/// What was last recorded of an instance's history, to write only what is new.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    execution: ExecutionId,
    generation: u64,
    events: usize,
}

impl Recorded {
    /// An instance whose first `events` history events are recorded as they are now.
    pub(crate) fn new(instance: &dt_core::Instance, events: usize) -> Self {
        Self {
            execution: instance.execution_id.clone(),
            generation: instance.history.generation(),
            events,
        }
    }
}

fn task_key(instance: &dt_core::InstanceId, execution: &ExecutionId, id: i32) -> TaskKey {
    TaskKey {
        instance_id: instance.as_str().to_owned(),
        execution_id: execution.as_str().to_owned(),
        task_id: id,
    }
}

impl Dirty {
    /// Recording on; what is already in the state counts as recorded.
    pub(crate) fn on(locks_recorded: u64) -> Self {
        Self {
            on: true,
            locks_recorded,
            ..Self::default()
        }
    }

    /// Recording on for a store several servers share.
    pub(crate) fn shared(locks_recorded: u64) -> Self {
        Self {
            shared: true,
            ..Self::on(locks_recorded)
        }
    }

    /// Nothing changed since now; recording stays as it was.
    pub(crate) fn recorded_now(&self, locks_recorded: u64) -> Self {
        Self {
            on: self.on,
            shared: self.shared,
            locks_recorded,
            ..Self::default()
        }
    }

    /// After a reset: everything goes, recording stays as it was.
    pub(crate) fn after_clear(&self) -> Self {
        Self {
            on: self.on,
            shared: self.shared,
            cleared: self.on,
            ..Self::default()
        }
    }

    /// Whether taking and giving back work must be recorded.
    pub(crate) fn records_claims(&self) -> bool {
        self.on && self.shared
    }

    /// A worker here took the instance's work item.
    pub(crate) fn instance_claimed(&mut self, id: &str) {
        if self.records_claims() {
            self.instance(id);
        }
    }

    /// A worker here took the entity's batch.
    pub(crate) fn entity_claimed(&mut self, id: &str) {
        if self.records_claims() {
            self.entity(id);
        }
    }

    pub(crate) fn activity_claimed(&mut self, task: &ActivityTask) {
        if self.records_claims() {
            let key = task_key(&task.instance, &task.execution, task.task_id);
            self.activities_claimed.push(key);
        }
    }

    /// The activity is queued again here, for any server's worker to take.
    pub(crate) fn activity_released(&mut self, task: &ActivityTask) {
        if self.records_claims() {
            let key = task_key(&task.instance, &task.execution, task.task_id);
            self.activities_released.push(key);
        }
    }

    pub(crate) fn instance(&mut self, id: &str) {
        if self.on && !self.instances.contains(id) {
            self.instances.insert(id.to_owned());
        }
    }

    pub(crate) fn entity(&mut self, id: &str) {
        if self.on && !self.entities.contains(id) {
            self.entities.insert(id.to_owned());
        }
    }

    pub(crate) fn activity_added(&mut self, task: &ActivityTask) {
        if self.on {
            let key = task_key(&task.instance, &task.execution, task.task_id);
            self.activities_added.push((key, encode_activity(task)));
        }
    }

    pub(crate) fn activity_done(&mut self, task: &ActivityTask) {
        if self.on {
            let key = task_key(&task.instance, &task.execution, task.task_id);
            self.activities_done.push(key);
        }
    }

    pub(crate) fn timer_added(&mut self, timer: &TimerTask) {
        if self.on {
            let key = task_key(&timer.instance, &timer.execution, timer.timer_id);
            self.timers_added.push((key, encode_timer(timer)));
        }
    }

    pub(crate) fn timer_done(&mut self, timer: &TimerTask) {
        if self.on {
            let key = task_key(&timer.instance, &timer.execution, timer.timer_id);
            self.timers_done.push(key);
        }
    }

    pub(crate) fn signal_added(
        &mut self,
        id: u64,
        target: &str,
        due: DateTime<Utc>,
        op: &Operation,
    ) {
        if self.on {
            self.signals_added
                .push((id, encode_delayed(target, due, op)));
        }
    }

    pub(crate) fn signal_done(&mut self, id: u64) {
        if self.on {
            self.signals_done.push(id);
        }
    }
}

impl State {
    /// The records of everything the calls since the last take changed; `None` when nothing
    /// was.
    pub(crate) fn take_changes(&mut self) -> Option<Changes> {
        let locks_now = self.locks.changes();
        let next_seq = self.peek_seq();
        if !self.dirty.on {
            return None;
        }
        let dirty = &mut self.dirty;
        let locks = (locks_now != dirty.locks_recorded).then(|| encode_locks(&self.locks));
        dirty.locks_recorded = locks_now;
        let mut changes = Changes {
            cleared: std::mem::take(&mut dirty.cleared),
            locks,
            activities_added: std::mem::take(&mut dirty.activities_added),
            activities_done: std::mem::take(&mut dirty.activities_done),
            timers_added: std::mem::take(&mut dirty.timers_added),
            timers_done: std::mem::take(&mut dirty.timers_done),
            signals_added: std::mem::take(&mut dirty.signals_added),
            signals_done: std::mem::take(&mut dirty.signals_done),
            activities_claimed: std::mem::take(&mut dirty.activities_claimed),
            activities_released: std::mem::take(&mut dirty.activities_released),
            next_seq,
            ..Changes::default()
        };
        let instances = std::mem::take(&mut dirty.instances);
        let entities = std::mem::take(&mut dirty.entities);
        let shared = dirty.shared;
        let leases = &self.leases;
        for id in instances {
            let here = shared && leases.holds(&id, false);
            let row = match self
                .instances
                .get_mut(&id)
                .map(|e| instance_row(e, holder(e.instance.in_flight.is_some(), here)))
            {
                None => None,
                Some(Ok(row)) => Some(row),
                Some(Err(err)) => {
                    // Only a damaged archive fails here; its record is left as it was.
                    tracing::error!(%err, id, "an instance could not be recorded");
                    continue;
                }
            };
            changes.instances.push(InstanceChange { id, row });
        }
        for id in entities {
            let here = shared && leases.holds(&id, true);
            let record = self.entities.get(&id).map(|entity| {
                (
                    encode_entity(entity),
                    holder(entity.in_flight.is_some(), here),
                )
            });
            changes.entities.push((id, record));
        }
        (!changes.is_empty()).then_some(changes)
    }

    /// Replaces everything with what `snapshot` holds (connected workers stay, with nothing
    /// leased), and queues what is ready.
    pub(crate) fn restore(
        &mut self,
        snapshot: Snapshot,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let recording = self.dirty.on;
        self.clear();
        let mut seq = snapshot.next_seq;
        let mut ids = Vec::with_capacity(snapshot.instances.len());
        for (record, history) in &snapshot.instances {
            let (mut instance, creation_seq) = decode_instance(record, history, true)?;
            if !snapshot.held_instances.contains(instance.id.as_str()) {
                instance.abandon();
            }
            let id = instance.id.as_str().to_owned();
            seq = seq.max(creation_seq);
            let recorded = Recorded {
                execution: instance.execution_id.clone(),
                generation: instance.history.generation(),
                events: history.len(),
            };
            self.by_creation.insert(creation_seq, id.clone());
            self.instances.insert(
                id.clone(),
                Box::new(Entry {
                    seq: creation_seq,
                    instance,
                    counted: None,
                    recorded: Some(recorded),
                }),
            );
            ids.push(id);
        }
        let mut entity_ids = Vec::with_capacity(snapshot.entities.len());
        for record in &snapshot.entities {
            let mut entity = decode_entity(record, true)?;
            if !snapshot.held_entities.contains(&entity.id) {
                entity.abandon();
            }
            entity_ids.push(entity.id.clone());
            self.entities.insert(entity.id.clone(), entity);
        }
        if let Some(locks) = &snapshot.locks {
            self.locks = decode_locks(locks)?;
        }
        for record in &snapshot.activities {
            let task = decode_activity(record)?;
            let key = task_key(&task.instance, &task.execution, task.task_id);
            if !snapshot.held_activities.contains(&key) {
                self.queue_activity(task, false);
            }
        }
        for record in &snapshot.timers {
            let timer = decode_timer(record)?;
            self.timeline.schedule(timer.due(), Due::Timer(timer));
        }
        for (id, record) in &snapshot.signals {
            let (target, due, op) = decode_delayed(record)?;
            seq = seq.max(*id);
            self.timeline
                .schedule(due, Due::EntityOperation(target, Box::new(op), *id));
        }
        self.set_seq(seq.saturating_add(SEQ_GAP_AFTER_RESTART));
        for id in &ids {
            self.touch(id, now);
        }
        for id in &entity_ids {
            self.touch_entity(id);
        }
        // What was just read back is what is on disk.
        self.dirty = if recording {
            self.dirty.recorded_now(self.locks.changes())
        } else {
            Dirty::default()
        };
        Ok(())
    }
}

/// Who holds a record's work in flight: nobody, a worker here, or (it is in flight and no
/// lease here names it) another server's.
fn holder(in_flight: bool, held_here: bool) -> Holder {
    match (in_flight, held_here) {
        (false, _) => Holder::Nobody,
        (true, true) => Holder::Here,
        (true, false) => Holder::Elsewhere,
    }
}

/// The record of an instance and the history events not yet recorded.
fn instance_row(entry: &mut Entry, holder: Holder) -> Result<InstanceRow, StoreError> {
    let instance = &entry.instance;
    let generation = instance.history.generation();
    // A new entry under a recorded id replaced an instance: its tasks are another execution's.
    let prune = if instance.is_terminal() {
        Prune::All
    } else if entry
        .recorded
        .as_ref()
        .is_none_or(|r| r.execution != instance.execution_id)
    {
        Prune::OtherExecutions
    } else {
        Prune::Nothing
    };
    let appendable = entry.recorded.as_ref().and_then(|r| {
        (r.execution == instance.execution_id && r.generation == generation).then_some(r.events)
    });
    let (events, new) = history_rows(&instance.history, appendable.unwrap_or(0))?;
    let history = match appendable {
        Some(from) if from <= events => HistoryWrite::Append { from, events: new },
        Some(_) => HistoryWrite::Replace(history_rows(&instance.history, 0)?.1),
        None => HistoryWrite::Replace(new),
    };
    let row = InstanceRow {
        record: encode_instance(instance, entry.seq),
        execution_id: instance.execution_id.as_str().to_owned(),
        prune,
        history,
        holder,
    };
    entry.recorded = Some(Recorded {
        execution: instance.execution_id.clone(),
        generation,
        events,
    });
    Ok(row)
}
