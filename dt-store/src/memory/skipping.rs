//! Time skipping in the memory store: the view of targets and blockers, and moving the
//! real-time deadlines (leases, back-offs) along when the clock skips, so they stay real time.

use super::leases::Leased;
use super::state::State;
use super::timeline::Due;
use crate::skipping::{BlockerKind, BlockerList, SkipView};
use chrono::{DateTime, Utc};

impl State {
    /// The next target and the blockers (contract S1). Queued and leased work are the whole
    /// of "runnable or in flight": an instance with a non-empty inbox is queued, leased (its
    /// next item waits for the one in flight) or backing off, unless it is suspended.
    pub(crate) fn skip_view(&self, now: DateTime<Utc>) -> SkipView {
        let mut list = BlockerList::default();
        add_all(
            &mut list,
            BlockerKind::QueuedOrchestration,
            self.queues.instance_ids().map(String::as_str),
        );
        add_all(
            &mut list,
            BlockerKind::QueuedActivity,
            self.queues.activities().map(|a| a.instance.as_str()),
        );
        add_all(
            &mut list,
            BlockerKind::QueuedEntity,
            self.queues.entity_ids().map(String::as_str),
        );
        if list.is_full() {
            list.count_more(self.leases.len());
        } else {
            for lease in self.leases.iter() {
                let (kind, id) = match &lease.work {
                    Leased::Orchestration { instance, .. } => {
                        (BlockerKind::LeasedOrchestration, instance.as_str())
                    }
                    Leased::Activity(task) => (BlockerKind::LeasedActivity, task.instance.as_str()),
                    Leased::Entity(id) => (BlockerKind::LeasedEntity, id.as_str()),
                };
                list.add(kind, id);
            }
        }
        for due in self.timeline.backoffs() {
            list.add(BlockerKind::BackingOff, due_id(due));
        }
        let next = self
            .timeline
            .targets()
            .find(|(_, due)| self.is_target(due, now))
            .map(|(at, _)| at);
        list.finish(next)
    }

    /// Whether firing `due` would change anything an orchestration observes: a timer of the
    /// execution that set it, alive and not suspended; a scheduled start of a live instance;
    /// a delayed entity signal. Dead entries stay on the timeline until they pass, harmlessly.
    fn is_target(&self, due: &Due, now: DateTime<Utc>) -> bool {
        match due {
            Due::Timer(timer) => self.instance(timer.instance.as_str()).is_some_and(|i| {
                i.execution_id == timer.execution
                    && !i.is_terminal()
                    && !i.suspend_requested
                    && i.status != dt_core::RuntimeStatus::Suspended
            }),
            Due::Instance(id) => self
                .instance(id)
                .is_some_and(|i| i.start_delayed_until(now).is_some()),
            Due::EntityOperation(..) => true,
            // Only back-offs put these on the timeline, and back-offs are never targets.
            Due::Activity(_) | Due::Entity(_) => false,
        }
    }

    /// The clock skipped `by` (contract S2): leases and back-offs keep their real-time
    /// deadlines, and the scheduler recomputes its sleep against the new time.
    pub(crate) fn clock_skipped(&mut self, by: chrono::Duration) {
        self.leases.shift(by);
        self.timeline.shift_backoffs(by);
        self.timeline.mark_changed();
    }
}

fn add_all<'a>(
    list: &mut BlockerList,
    kind: BlockerKind,
    ids: impl ExactSizeIterator<Item = &'a str>,
) {
    if list.is_full() {
        list.count_more(ids.len());
        return;
    }
    for id in ids {
        list.add(kind, id);
    }
}

fn due_id(due: &Due) -> &str {
    match due {
        Due::Timer(timer) => timer.instance.as_str(),
        Due::Instance(id) | Due::Entity(id) | Due::EntityOperation(id, ..) => id,
        Due::Activity(task) => task.instance.as_str(),
    }
}
