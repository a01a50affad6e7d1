//! Changes other servers made to a shared store, applied to this server's copy of the state,
//! and work of dead servers handed out again.
//!
//! Rows are replaced whole with what the store holds, and then touched, so queues, schedules
//! and waiters follow from them as after a restore; nothing applied here is written back.

use super::journaling::Recorded;
use super::state::{Entry, State};
use super::timeline::Due;
use crate::error::StoreError;
use crate::journal::records::*;
use crate::journal::{Orphans, Remote, RemoteInstance};
use chrono::{DateTime, Utc};

impl State {
    /// Applies what other servers changed. The lock table comes first: an instance that ended
    /// elsewhere has already let its locks go there, and must not hand them out again here.
    pub(crate) fn apply_remote(
        &mut self,
        remote: Remote,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let locks_changed = remote.locks.is_some();
        if let Some(locks) = &remote.locks {
            self.locks = decode_locks(locks)?;
        }
        for RemoteInstance { id, row } in remote.instances {
            match row {
                None => {
                    self.remove_instance(&id, now);
                    self.queues.remove_activities_of(&id);
                    self.timeline.drop_timers_of(&id);
                }
                Some(row) => {
                    let (instance, seq) = decode_instance(&row.record, &row.history, row.held)?;
                    let recorded = Recorded::new(&instance, row.history.len());
                    self.replace_entry(instance, seq, recorded);
                    self.touch(&id, now);
                }
            }
        }
        for (id, rows) in remote.activities {
            self.queues.remove_activities_of(&id);
            for (record, held) in rows {
                if !held {
                    self.queue_activity(decode_activity(&record)?, false);
                }
            }
        }
        for (id, rows) in remote.timers {
            self.timeline.drop_timers_of(&id);
            for record in rows {
                let timer = decode_timer(&record)?;
                self.timeline.schedule(timer.due(), Due::Timer(timer));
            }
        }
        let mut touched = Vec::with_capacity(remote.entities.len());
        for (id, row) in remote.entities {
            match row {
                None => {
                    self.entities.remove(&id);
                }
                Some((record, held)) => {
                    self.entities
                        .insert(id.clone(), decode_entity(&record, held)?);
                    touched.push(id);
                }
            }
        }
        if locks_changed {
            touched.extend(self.entities.keys().cloned());
        }
        for id in &touched {
            self.touch_entity(id);
        }
        for (id, row) in remote.signals {
            self.timeline
                .retain(|due| !matches!(due, Due::EntityOperation(_, _, n) if *n == id));
            if let Some(record) = row {
                let (target, due, op) = decode_delayed(&record)?;
                self.timeline
                    .schedule(due, Due::EntityOperation(target, Box::new(op), id));
            }
        }
        self.set_seq(remote.next_seq);
        self.dirty = self.dirty.recorded_now(self.locks.changes());
        Ok(())
    }

    /// Puts an instance read from the store in place of this server's copy, keeping its
    /// waiters (they are woken by the touch that follows).
    fn replace_entry(&mut self, instance: dt_core::Instance, seq: u64, recorded: Recorded) {
        let id = instance.id.as_str().to_owned();
        if let Some(old) = self.instances.remove(&id) {
            self.uncount(old.counted);
            self.by_creation.remove(&old.seq);
        }
        self.by_creation.insert(seq, id.clone());
        self.instances.insert(
            id,
            Box::new(Entry {
                seq,
                instance,
                counted: None,
                recorded: Some(recorded),
            }),
        );
    }

    /// Hands out again the work dead servers held: it is written as nobody's, so every server
    /// may dispatch it.
    pub(crate) fn release_orphans(
        &mut self,
        orphans: Orphans,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for id in orphans.instances {
            if let Some(instance) = self.instance_mut(&id) {
                instance.abandon();
                tracing::warn!(
                    id,
                    "a dead server's orchestration work item is dispatched again"
                );
            }
            self.touch(&id, now);
        }
        for id in orphans.entities {
            if let Some(entity) = self.entities.get_mut(&id) {
                entity.abandon();
                tracing::warn!(id, "a dead server's entity batch is dispatched again");
            }
            self.touch_entity(&id);
        }
        for record in orphans.activities {
            let task = decode_activity(&record)?;
            tracing::warn!(
                instance = %task.instance.as_str(),
                task_id = task.task_id,
                "a dead server's activity is dispatched again"
            );
            // Recorded as nobody's even when its execution is over and it is not queued.
            self.dirty.activity_released(&task);
            self.queue_activity(task, true);
        }
        Ok(())
    }
}
