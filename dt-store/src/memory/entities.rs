//! Durable entities in the in-memory store: queuing operations, locks for critical sections,
//! leasing entity batches to workers and committing their results, and the client requests
//! that read and clean entity storage.

use super::abandons::AbandonKey;
use super::leases::Leased;
use super::queues::Pick;
use super::state::State;
use super::timeline::Due;
use crate::api::Page;
use crate::error::{StoreError, clip};
use chrono::{DateTime, Utc};

use dt_core::{
    Entity, InstanceId, LockRequest, NewInstance, Operation, WorkFilters, from_timestamp,
};
use dt_proto::history_event::EventType;
use dt_proto::work_item::Request;
use dt_proto::*;

impl State {
    pub(crate) fn entity_mut_or_create(&mut self, id: &str, now: DateTime<Utc>) -> &mut Entity {
        self.dirty.entity(id);
        self.entities
            .entry(id.to_owned())
            .or_insert_with(|| Entity::new(id, now))
    }

    /// Queues the entity for dispatch if it has a batch it may run now.
    pub(crate) fn touch_entity(&mut self, id: &str) {
        self.dirty.entity(id);
        let holder = self.locks.holder(id).map(|h| &h.instance);
        let dispatchable = self
            .entities
            .get(id)
            .is_some_and(|e| e.is_dispatchable(holder));
        if dispatchable {
            self.queues.ready_entity(id);
        }
    }

    pub(crate) fn queue_entity_operation(
        &mut self,
        target: &str,
        operation: Operation,
        now: DateTime<Utc>,
    ) {
        self.entity_mut_or_create(target, now).enqueue(operation);
        self.touch_entity(target);
    }

    /// Records a lock request (creating the entities it names) and delivers what is granted.
    pub(crate) fn request_locks(&mut self, request: LockRequest, now: DateTime<Utc>) {
        for entity in &request.entities {
            self.entity_mut_or_create(entity, now);
        }
        let granted = self.locks.request(request);
        self.deliver_grants(granted, now);
    }

    /// Tells each granted critical section's orchestration that it holds its locks.
    pub(crate) fn deliver_grants(&mut self, granted: Vec<LockRequest>, now: DateTime<Utc>) {
        for grant in granted {
            let event = dt_core::events::event_of(
                now,
                EventType::EntityLockGranted(EntityLockGrantedEvent {
                    critical_section_id: grant.critical_section.clone(),
                }),
            );
            if let Some(holder) = self.instance_mut(grant.instance.as_str()) {
                holder.deliver_result(&grant.execution, event, now);
                self.touch(grant.instance.as_str(), now);
            }
            for entity in &grant.entities {
                self.touch_entity(entity);
            }
        }
    }

    /// Drops every lock the orchestration holds or waits for, and lets the entities and the
    /// waiting critical sections go on.
    pub(crate) fn release_locks_of(&mut self, instance: &InstanceId, now: DateTime<Utc>) {
        let (released, granted) = self.locks.release_instance(instance);
        for entity in &released {
            self.touch_entity(entity);
        }
        self.deliver_grants(granted, now);
    }

    /// An entity's startNewOrchestration: replaces a finished instance with the same id,
    /// leaves a live one alone.
    pub(crate) fn start_for_entity(&mut self, spec: NewInstance, now: DateTime<Utc>) {
        if let Some(existing) = self.instance(&spec.id).filter(|i| !i.is_terminal()) {
            tracing::info!(id = %existing.id, "an entity asked to start an orchestration that is already running; left alone");
            return;
        }
        self.insert_instance(spec, Self::new_execution_id(), now);
    }

    /// A client's signal, carried out as the same effect an entity's or orchestration's
    /// signal is.
    pub(crate) fn signal_entity(
        &mut self,
        request: SignalEntityRequest,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !dt_core::is_entity_id(&request.instance_id) {
            return Err(StoreError::InvalidArgument(format!(
                "'{}' is not an entity id; entity ids look like '@name@key'",
                clip(&request.instance_id)
            )));
        }
        let request_id = if request.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request.request_id
        };
        let signal = Operation::signal_effect(
            request.instance_id,
            request_id,
            request.name,
            request.input,
            request.scheduled_time.as_ref(),
            now,
        );
        self.apply_effects(vec![signal], now);
        Ok(())
    }

    /// An entity exists for clients while it has state; one that is only tracked (locked,
    /// queued, or deleted) is transient and reported as absent.
    pub(crate) fn get_entity(&self, id: &str, include_state: bool) -> Option<EntityMetadata> {
        let entity = self.entities.get(id).filter(|e| e.state.is_some())?;
        let holder = self.locks.holder(id).map(|h| &h.instance);
        Some(entity.metadata(include_state, holder))
    }

    /// Entities in id order; the token is the last id returned.
    pub(crate) fn query_entities(
        &self,
        query: EntityQuery,
    ) -> Result<Page<EntityMetadata>, StoreError> {
        let prefix = query.instance_id_starts_with.as_deref().unwrap_or("");
        let after = query.continuation_token.as_deref().unwrap_or("");
        let limit = match query.page_size {
            Some(n) if n > 0 => n as usize,
            _ => usize::MAX,
        };
        let from = query.last_modified_from.as_ref().map(from_timestamp);
        let to = query.last_modified_to.as_ref().map(from_timestamp);
        let mut ids: Vec<&String> = self
            .entities
            .iter()
            .filter(|(id, e)| {
                id.starts_with(prefix)
                    && id.as_str() > after
                    && (query.include_transient || e.state.is_some())
                    && from.is_none_or(|f| e.last_modified >= f)
                    && to.is_none_or(|t| e.last_modified < t)
            })
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        let more = ids.len() > limit;
        ids.truncate(limit);
        let items: Vec<EntityMetadata> = ids
            .iter()
            .filter_map(|id| {
                let holder = self.locks.holder(id).map(|h| &h.instance);
                self.entities
                    .get(*id)
                    .map(|e| e.metadata(query.include_state, holder))
            })
            .collect();
        let continuation_token = more
            .then(|| items.last().map(|e| e.instance_id.clone()))
            .flatten();
        Ok(Page {
            items,
            continuation_token,
        })
    }

    /// Releases locks whose holder is gone or finished, then removes entities with nothing to
    /// keep. Returns (entities removed, locks released).
    pub(crate) fn clean_entity_storage(
        &mut self,
        remove_empty: bool,
        release_orphaned: bool,
        now: DateTime<Utc>,
    ) -> (usize, usize) {
        let mut released = 0;
        if release_orphaned {
            let orphaned: Vec<String> = self
                .locks
                .held()
                .filter(|(_, h)| {
                    self.instance(h.instance.as_str())
                        .is_none_or(|i| i.is_terminal())
                })
                .map(|(e, _)| e.clone())
                .collect();
            for entity in orphaned {
                let granted = self.locks.force_release(&entity);
                released += 1;
                self.touch_entity(&entity);
                self.deliver_grants(granted, now);
            }
        }
        let mut removed = 0;
        if remove_empty {
            let empty: Vec<String> = self
                .entities
                .iter()
                .filter(|(id, e)| e.is_empty() && self.locks.holder(id).is_none())
                .map(|(id, _)| id.clone())
                .collect();
            for id in empty {
                self.remove_entity(&id);
                removed += 1;
            }
        }
        (removed, released)
    }

    /// Purges an entity's state (PurgeInstances with an entity id); only an idle, unlocked
    /// entity is removed.
    pub(crate) fn purge_entity(&mut self, id: &str) -> usize {
        let idle = self
            .entities
            .get(id)
            .is_some_and(|e| e.in_flight.is_none() && e.queue.is_empty())
            && self.locks.holder(id).is_none();
        if idle && self.remove_entity(id) {
            return 1;
        }
        0
    }

    /// Forgets an entity; returns whether there was one.
    fn remove_entity(&mut self, id: &str) -> bool {
        self.dirty.entity(id);
        self.entities.remove(id).is_some()
    }

    pub(super) fn take_entity(&mut self, filters: &WorkFilters) -> Option<(Request, Leased)> {
        let Self {
            queues,
            entities,
            locks,
            ..
        } = self;
        let id = queues.take_entity(|id| {
            let holder = locks.holder(id).map(|h| &h.instance);
            match entities.get(id) {
                Some(e) if !e.is_dispatchable(holder) => Pick::Drop,
                None => Pick::Drop,
                Some(_) if !filters.accepts_entity(id) => Pick::Skip,
                Some(_) => Pick::Take,
            }
        })?;
        let holder = self.locks.holder(&id).map(|h| h.instance.clone());
        let format = self.config.entity_work_item_format;
        self.dirty.entity_claimed(&id);
        let batch = self
            .entities
            .get_mut(&id)?
            .dispatch(holder.as_ref(), format)?;
        let request = match batch {
            dt_core::EntityBatch::V2(r) => Request::EntityRequestV2(r),
            dt_core::EntityBatch::V1(r) => Request::EntityRequest(r),
        };
        Some((request, Leased::Entity(id)))
    }

    /// Commits a worker's answer to an entity batch. A batch that failed as a whole is run
    /// again later with nothing committed; a malformed answer is refused and the batch stays
    /// leased (it is redelivered when the lease ends).
    pub(crate) fn complete_entity(
        &mut self,
        result: EntityBatchResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let token = result.completion_token.clone();
        let Some(lease) = self.lease(&token) else {
            tracing::debug!(%token, "ignoring entity result with an unknown or ended lease");
            return Ok(());
        };
        let Leased::Entity(id) = &lease.work else {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} does not belong to an entity work item",
                clip(&token)
            )));
        };
        let id = id.clone();
        let Some(entity) = self.entities.get_mut(&id) else {
            self.take_lease(&token);
            return Ok(());
        };
        let outcome = entity
            .complete(result, now, &mut || uuid::Uuid::new_v4().to_string())
            .map_err(StoreError::from)?;
        self.take_lease(&token);
        match outcome {
            dt_core::EntityOutcome::Retry => {
                let delay = self
                    .abandons
                    .delay(AbandonKey::Entity(id.clone()), &self.config);
                self.timeline.schedule_backoff(now + delay, Due::Entity(id));
            }
            dt_core::EntityOutcome::Committed(effects) => {
                self.abandons.succeeded(&AbandonKey::Entity(id.clone()));
                self.touch_entity(&id);
                self.apply_effects(effects, now);
            }
        }
        Ok(())
    }
}
