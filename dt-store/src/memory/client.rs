//! Client requests against instances: create, raise, terminate, suspend, resume, restart.

use super::state::State;
use crate::api::CreateInstance;
use crate::error::{StoreError, clip};
use chrono::{DateTime, Utc};
use dt_core::{Effect, ExecutionId, InstanceId, events};

impl State {
    pub(crate) fn create_instance(
        &mut self,
        request: CreateInstance,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let mut spec = request.spec;
        if spec.id.is_empty() {
            spec.id = uuid::Uuid::new_v4().simple().to_string();
        }
        if let Some(existing) = self.instance(&spec.id)
            && !request.replaceable.contains(&existing.status)
        {
            return Err(StoreError::AlreadyExists(format!(
                "an orchestration instance with id '{}' already exists ({:?})",
                clip(&spec.id),
                existing.status
            )));
        }
        let execution = request
            .execution_id
            .filter(|e| !e.is_empty())
            .map_or_else(Self::new_execution_id, ExecutionId::new);
        Ok(self.insert_instance(spec, execution, now))
    }

    fn existing(&mut self, id: &str) -> Result<&mut dt_core::Instance, StoreError> {
        self.instance_mut(id).ok_or_else(|| {
            StoreError::NotFound(format!("no orchestration instance with id '{}'", clip(id)))
        })
    }

    pub(crate) fn raise_event(
        &mut self,
        id: &str,
        name: String,
        input: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let target = self.existing(id)?.id.clone();
        let event = events::event_raised(name, input, now);
        self.apply_effects(vec![Effect::SendEvent { target, event }], now);
        Ok(())
    }

    pub(crate) fn terminate_instance(
        &mut self,
        id: &str,
        reason: Option<String>,
        recursive: bool,
        now: DateTime<Utc>,
    ) {
        let terminate = Effect::Terminate {
            target: InstanceId::new(id),
            reason,
            recurse: recursive,
        };
        self.apply_effects(vec![terminate], now);
    }

    pub(crate) fn suspend(
        &mut self,
        id: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.existing(id)?.suspend(reason, now);
        self.touch(id, now);
        Ok(())
    }

    pub(crate) fn resume(
        &mut self,
        id: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.existing(id)?.resume(reason, now);
        self.touch(id, now);
        Ok(())
    }

    pub(crate) fn restart(
        &mut self,
        id: &str,
        new_instance_id: bool,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let instance = self.existing(id)?;
        if !instance.is_terminal() {
            return Err(StoreError::FailedPrecondition(format!(
                "orchestration instance '{}' is {:?}; only a completed, failed or terminated instance can be restarted",
                clip(id),
                instance.status
            )));
        }
        let new_id = if new_instance_id {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            id.to_owned()
        };
        let spec = instance.restart_spec(new_id);
        Ok(self.insert_instance(spec, Self::new_execution_id(), now))
    }

    pub(crate) fn rewind(
        &mut self,
        id: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let instance = self.existing(id)?;
        instance
            .rewind(reason, None, now)
            .map_err(StoreError::from)?;
        self.touch(id, now);
        Ok(())
    }

    /// Terminates each instance on the spot; returns the ids that were unknown or already
    /// terminal.
    pub(crate) fn terminate_now(
        &mut self,
        ids: Vec<String>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut untouched = Vec::new();
        for id in ids {
            // An orchestration inside a critical section is left to end gracefully, so its
            // entities see their unlocks in order (protocol.md §3.12).
            let holds_locks = self.locks.held().any(|(_, h)| h.instance.as_str() == id);
            let Some(instance) = self
                .instance_mut(&id)
                .filter(|i| !i.is_terminal() && !holds_locks)
            else {
                untouched.push(id);
                continue;
            };
            let effects = instance.terminate_now(reason.clone(), now);
            self.touch(&id, now);
            self.apply_effects(effects, now);
        }
        untouched
    }
}
