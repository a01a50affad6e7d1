//! The timeline: what is due at a time (timers, delayed starts, delayed signals, the end of
//! an abandon back-off), in time order, and carrying it out when it is due. Lease expiries are
//! kept by the leases themselves ([`super::leases`]).

use super::state::State;
use chrono::{DateTime, Utc};
use dt_core::{ActivityTask, Operation, TimerTask};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Something to do at a time.
pub(crate) enum Due {
    Timer(TimerTask),
    /// An instance whose scheduled start or abandon back-off has passed.
    Instance(String),
    /// An abandoned activity whose back-off has passed.
    Activity(Box<ActivityTask>),
    /// An entity whose abandon back-off has passed.
    Entity(String),
    /// A delayed signal whose time has come, with the number it is recorded under.
    EntityOperation(String, Box<Operation>, u64),
}

#[derive(Default)]
pub(crate) struct Timeline {
    entries: BTreeMap<(DateTime<Utc>, u64), Due>,
    next_seq: u64,
    /// Set when an entry became the first, so the scheduler recomputes its deadline.
    earliest_changed: bool,
    /// The entries that end a back-off (by sequence number, with their time): real-time
    /// deadlines, which a clock skip moves along ([`Timeline::shift_backoffs`]).
    backoffs: HashMap<u64, DateTime<Utc>>,
}

impl Timeline {
    pub(crate) fn schedule(&mut self, at: DateTime<Utc>, due: Due) {
        self.insert(at, due);
    }

    /// Schedules the end of a back-off: a real-time deadline, never a time-skipping target.
    pub(crate) fn schedule_backoff(&mut self, at: DateTime<Utc>, due: Due) {
        let seq = self.insert(at, due);
        self.backoffs.insert(seq, at);
    }

    fn insert(&mut self, at: DateTime<Utc>, due: Due) -> u64 {
        self.next_seq += 1;
        let key = (at, self.next_seq);
        if self
            .entries
            .first_key_value()
            .is_none_or(|(first, _)| key < *first)
        {
            self.earliest_changed = true;
        }
        self.entries.insert(key, due);
        self.next_seq
    }

    /// Removes and returns the first entry due by `now`.
    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Due> {
        let entry = self.entries.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        self.backoffs.remove(&entry.key().1);
        Some(entry.remove())
    }

    /// Keeps only the entries `keep` accepts (another server fired or replaced some).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Due) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|_, due| keep(due));
        if self.entries.len() != before {
            let entries = &self.entries;
            self.backoffs
                .retain(|seq, at| entries.contains_key(&(*at, *seq)));
        }
    }

    /// Drops the timers of an instance (another server fired or replaced them).
    pub(crate) fn drop_timers_of(&mut self, instance: &str) {
        self.retain(|due| !matches!(due, Due::Timer(t) if t.instance.as_str() == instance));
    }

    /// Entries that are not back-off ends, soonest first.
    pub(crate) fn targets(&self) -> impl Iterator<Item = (DateTime<Utc>, &Due)> {
        self.entries
            .iter()
            .filter(|((_, seq), _)| !self.backoffs.contains_key(seq))
            .map(|((at, _), due)| (*at, due))
    }

    /// Entries that end a back-off, in no order.
    pub(crate) fn backoffs(&self) -> impl Iterator<Item = &Due> {
        self.backoffs
            .iter()
            .filter_map(|(seq, at)| self.entries.get(&(*at, *seq)))
    }

    /// Moves every back-off end `by` later (the clock skipped ahead; back-offs are real time).
    pub(crate) fn shift_backoffs(&mut self, by: chrono::Duration) {
        for (seq, at) in &mut self.backoffs {
            if let Some(due) = self.entries.remove(&(*at, *seq)) {
                *at += by;
                self.entries.insert((*at, *seq), due);
            }
        }
    }

    /// Makes the scheduler recompute its deadline (the clock jumped).
    /// How many entries wait for their time (timers, delayed starts and signals, back-offs).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn mark_changed(&mut self) {
        self.earliest_changed = true;
    }

    fn next_at(&self) -> Option<DateTime<Utc>> {
        self.entries.first_key_value().map(|((at, _), _)| *at)
    }

    /// Whether the first entry moved earlier since the last call.
    pub(crate) fn take_earliest_changed(&mut self) -> bool {
        std::mem::take(&mut self.earliest_changed)
    }
}

impl State {
    /// Runs everything due at or before `now`; returns how long until the next entry or lease
    /// expiry.
    pub(crate) fn run_due(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        while let Some(token) = self.leases.expired(now) {
            tracing::warn!(token, "work item lease expired; dispatching it again");
            self.count_lost_lease(token, super::stats::LostBy::Expiry);
            self.give_back(token, None, now);
        }
        while let Some(due) = self.timeline.pop_due(now) {
            match due {
                Due::Timer(timer) => {
                    self.dirty.timer_done(&timer);
                    let id = timer.instance.as_str().to_owned();
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.deliver_result(&timer.execution, timer.fired_event(now), now);
                        self.touch(&id, now);
                    }
                }
                Due::Instance(id) => self.touch(&id, now),
                Due::Activity(task) => self.queue_activity(*task, false),
                Due::Entity(id) => self.touch_entity(&id),
                Due::EntityOperation(target, operation, recorded_as) => {
                    self.dirty.signal_done(recorded_as);
                    self.queue_entity_operation(&target, *operation, now);
                }
            }
        }
        let next = match (self.timeline.next_at(), self.leases.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
    }
}
