//! Carrying out what has come due: timers, delayed starts and backoffs, lease expiries.

use super::state::{Due, State};
use chrono::{DateTime, Utc};
use std::time::Duration;

impl State {
    /// Runs everything due at or before `now`; returns how long until the next entry.
    pub(crate) fn run_due(&mut self, now: DateTime<Utc>) -> Option<Duration> {
        while let Some(entry) = self.timeline.first_entry() {
            let (at, _) = *entry.key();
            if at > now {
                break;
            }
            let due = entry.remove();
            match due {
                Due::Timer(timer) => {
                    let id = timer.instance.as_str().to_owned();
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.deliver_result(&timer.execution, timer.fired_event(now), now);
                        self.touch(&id, now);
                    }
                }
                Due::Instance(id) => self.touch(&id, now),
                Due::Activity(task) => {
                    let alive = self
                        .instance(task.instance.as_str())
                        .is_some_and(|i| i.execution_id == task.execution && !i.is_terminal());
                    if alive {
                        self.activities.push_back(*task);
                        self.work_added += 1;
                    }
                }
                Due::LeaseExpiry(token) => self.expire_lease(token, now),
                Due::Entity(id) => self.touch_entity(&id),
                Due::EntityOperation(target, operation) => {
                    self.queue_entity_operation(&target, *operation, now);
                }
            }
        }
        self.timeline
            .first_key_value()
            .map(|((at, _), _)| (*at - now).to_std().unwrap_or(Duration::ZERO))
    }
}
