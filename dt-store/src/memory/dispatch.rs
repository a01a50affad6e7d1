//! Handing work items to workers under leases, and taking their answers back.

use super::abandons::AbandonKey;
use super::kind::WorkKind;
use super::leases::{Lease, Leased};
use super::queues::Pick;
use super::state::{State, Worker};
use super::stats::LostBy;
use super::timeline::Due;
use crate::api::{WorkerId, WorkerOptions};
use crate::error::{StoreError, clip};
use crate::work_item::WireWorkItem;
use chrono::{DateTime, Utc};
use dt_core::{Dispatch, TurnContext, TurnResponse, WorkFilters};
use dt_proto::work_item::Request;
use dt_proto::*;
use std::sync::Arc;

impl State {
    pub(crate) fn connect_worker(&mut self, id: WorkerId, options: WorkerOptions) {
        self.workers.insert(
            id,
            Worker {
                picky: options.filters != WorkFilters::all() || options.limits.any(),
                filters: Arc::new(options.filters),
                history_streaming: options.history_streaming,
                limits: options.limits,
                turn: WorkKind::default(),
            },
        );
    }

    /// Ends a worker: everything it holds goes back to be dispatched at once.
    pub(crate) fn disconnect_worker(&mut self, id: WorkerId, now: DateTime<Utc>) {
        if self.workers.remove(&id).is_none() {
            return;
        }
        for token in self.leases.held_by(id) {
            self.count_lost_lease(token, LostBy::Disconnect);
            self.give_back(token, None, now);
        }
    }

    /// Finds and leases the next work item the worker accepts.
    pub(crate) fn try_fetch(
        &mut self,
        worker_id: WorkerId,
        now: DateTime<Utc>,
    ) -> Option<WireWorkItem> {
        let worker = self.workers.get_mut(&worker_id)?;
        worker.turn = worker.turn.next();
        let first = worker.turn;
        let streams_history = worker.history_streaming;
        let filters = Arc::clone(&worker.filters);
        let limits = worker.limits;
        let mut found = None;
        for kind in first.rotation() {
            if kind
                .cap(&limits)
                .is_some_and(|cap| self.leases.holding(worker_id, kind) >= cap)
            {
                continue;
            }
            found = match kind {
                WorkKind::Orchestration => self
                    .take_orchestration(worker_id, &filters, now)
                    .map(|(d, work)| (Found::Turn(d), work)),
                WorkKind::Activity => self
                    .take_activity(&filters)
                    .map(|(r, work)| (Found::Request(r), work)),
                WorkKind::Entity => self
                    .take_entity(&filters)
                    .map(|(r, work)| (Found::Request(r), work)),
            };
            if found.is_some() {
                break;
            }
        }
        let (found, work) = found?;
        let token = self.next_seq();
        let expires_at = now + self.config.lease_duration;
        self.leases.grant(
            token,
            Lease {
                worker: worker_id,
                expires_at,
                work,
            },
        );
        Some(match found {
            Found::Turn(dispatch) => WireWorkItem::orchestration(
                dispatch,
                token.to_string(),
                streams_history,
                self.config.history_streaming_threshold,
            ),
            Found::Request(request) => WireWorkItem::new(request, token.to_string()),
        })
    }

    fn take_orchestration(
        &mut self,
        worker_id: WorkerId,
        filters: &WorkFilters,
        now: DateTime<Utc>,
    ) -> Option<(Dispatch, Leased)> {
        let Self {
            instances,
            queues,
            abandons,
            workers,
            ..
        } = self;
        let id = queues.take_instance(|id| {
            let Some(instance) = instances
                .get(id)
                .map(|e| &e.instance)
                .filter(|i| i.is_dispatchable(now))
            else {
                return Pick::Drop;
            };
            let (name, version) = (instance.name.as_str(), instance.filter_version());
            // Offered to another worker first: the one that gave it back may keep rejecting it
            // (versioning REJECT).
            let avoided = abandons.gave_back(id, worker_id)
                && workers.iter().any(|(w, o)| {
                    *w != worker_id && o.filters.accepts_orchestration(name, version)
                });
            if filters.accepts_orchestration(name, version) && !avoided {
                Pick::Take
            } else {
                Pick::Skip
            }
        })?;
        self.dirty.instance_claimed(&id);
        let entry = self.instances.get_mut(&id)?;
        let instance = &mut entry.instance;
        let dispatch = instance.dispatch(now)?;
        let work = Leased::Orchestration {
            instance: id,
            incarnation: entry.seq,
            execution: instance.execution_id.clone(),
            partial: Vec::new(),
            next_chunk: 0,
        };
        Some((dispatch, work))
    }

    fn take_activity(&mut self, filters: &WorkFilters) -> Option<(Request, Leased)> {
        let task = self
            .queues
            .take_activity(|a| filters.accepts_activity(&a.name, a.version.as_deref()))?;
        self.dirty.activity_claimed(&task);
        Some((
            Request::ActivityRequest(task.to_request()),
            Leased::Activity(task),
        ))
    }

    pub(super) fn lease(&self, token: &str) -> Option<&Lease> {
        self.leases.get(token.parse().ok()?)
    }

    pub(super) fn take_lease(&mut self, token: &str) -> Option<Lease> {
        self.leases.end(token.parse().ok()?)
    }

    /// Whether leased orchestration work still belongs to the instance as it is now.
    fn still_current(&self, id: &str, incarnation: u64, execution: &dt_core::ExecutionId) -> bool {
        self.instances
            .get(id)
            .is_some_and(|e| e.seq == incarnation && e.instance.execution_id == *execution)
    }

    /// Ends a lease without a completion and puts its work back: an orchestration's events
    /// return to its inbox, an entity batch to its queue, an activity to the queue; after
    /// `delay` if given (an abandon), else first in line at once. Work whose instance is gone,
    /// ended, or has moved on is dropped.
    pub(crate) fn give_back(
        &mut self,
        token: u64,
        delay: Option<chrono::Duration>,
        now: DateTime<Utc>,
    ) {
        let Some(lease) = self.leases.end(token) else {
            return;
        };
        match lease.work {
            Leased::Orchestration {
                instance,
                incarnation,
                execution,
                ..
            } => {
                if !self.still_current(&instance, incarnation, &execution) {
                    return;
                }
                if let Some(inst) = self.instance_mut(&instance) {
                    inst.abandon();
                }
                match delay {
                    Some(d) => self
                        .timeline
                        .schedule_backoff(now + d, Due::Instance(instance)),
                    None => self.touch(&instance, now),
                }
            }
            Leased::Entity(id) => {
                if let Some(entity) = self.entities.get_mut(&id) {
                    entity.abandon();
                }
                match delay {
                    Some(d) => self.timeline.schedule_backoff(now + d, Due::Entity(id)),
                    None => self.touch_entity(&id),
                }
            }
            Leased::Activity(task) => match delay {
                Some(d) => self
                    .timeline
                    .schedule_backoff(now + d, Due::Activity(Box::new(task))),
                None => self.queue_activity(task, true),
            },
        }
    }

    /// Gives work back with a delay that doubles with each abandon of the same item in a row,
    /// so a worker that keeps rejecting it (versioning REJECT) does not spin.
    pub(crate) fn abandon(&mut self, token: &str, now: DateTime<Utc>) {
        let Some(lease) = self.lease(token) else {
            return;
        };
        let key = match &lease.work {
            Leased::Orchestration { instance, .. } => {
                let (instance, worker) = (instance.clone(), lease.worker);
                self.abandons.given_back_by(&instance, worker);
                AbandonKey::Orchestration(instance)
            }
            Leased::Activity(task) => AbandonKey::Activity(
                task.instance.as_str().to_owned(),
                task.execution.clone(),
                task.task_id,
            ),
            Leased::Entity(id) => AbandonKey::Entity(id.clone()),
        };
        let delay = self.abandons.delay(key, &self.config);
        if let Ok(token) = token.parse() {
            self.give_back(token, Some(delay), now);
        }
    }

    pub(crate) fn complete_orchestration(
        &mut self,
        mut response: OrchestratorResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let token = response.completion_token.clone();
        let Some(lease) = self.lease(&token) else {
            tracing::debug!(%token, "ignoring completion with an unknown or ended lease");
            return Ok(());
        };
        let Leased::Orchestration { instance: id, .. } = &lease.work else {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} does not belong to an orchestration work item",
                clip(&token)
            )));
        };
        if *id != response.instance_id {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} belongs to instance '{}', not '{}'",
                clip(&token),
                clip(id),
                clip(&response.instance_id)
            )));
        }
        if self.hold_partial_chunk(&mut response) {
            return Ok(());
        }
        let Some(Lease {
            work:
                Leased::Orchestration {
                    instance: id,
                    incarnation,
                    execution,
                    ..
                },
            ..
        }) = self.take_lease(&token)
        else {
            return Ok(());
        };
        if !self.still_current(&id, incarnation, &execution) {
            return Ok(());
        }
        let max_history_size = self.config.max_history_size;
        let Some(instance) = self.instance_mut(&id).filter(|i| i.in_flight.is_some()) else {
            return Ok(());
        };
        let ctx = TurnContext {
            now,
            next_execution_id: Self::new_execution_id(),
            max_history_size,
        };
        let outcome =
            TurnResponse::try_from(response).and_then(|turn| instance.complete_turn(turn, &ctx));
        let moved_on = instance.execution_id != execution;
        match outcome {
            Ok(effects) => {
                if moved_on {
                    // A new execution (continue-as-new, rewind) starts outside any critical
                    // section; its effects may ask for locks again.
                    self.end_execution(&id, now);
                } else {
                    self.abandons.forget_instance(&id);
                }
                self.touch(&id, now);
                self.apply_effects(effects, now);
                Ok(())
            }
            Err(err) => {
                // An answer that cannot be applied ends the orchestration visibly instead of
                // leaving it in flight forever.
                let effects = instance.fail_with(
                    TaskFailureDetails {
                        error_type: "MalformedOrchestratorResponse".to_owned(),
                        error_message: format!("the worker's response could not be applied: {err}"),
                        is_non_retriable: true,
                        ..Default::default()
                    },
                    now,
                );
                self.touch(&id, now);
                self.apply_effects(effects, now);
                Err(StoreError::from(err))
            }
        }
    }

    /// A chunked answer (the .NET worker splits big ones): keeps the actions of every chunk
    /// but the last under the lease and returns true; on the last chunk, puts all actions in
    /// front of the last chunk's and returns false so the whole answer is applied once. A
    /// repeated chunk index is a retry of a chunk already held and is ignored.
    fn hold_partial_chunk(&mut self, response: &mut OrchestratorResponse) -> bool {
        // isPartial and chunkIndex are deprecated on the wire but still sent by the .NET worker.
        #[allow(deprecated)]
        let (is_partial, chunk_index) = (response.is_partial, response.chunk_index);
        let Some(Leased::Orchestration {
            partial,
            next_chunk,
            ..
        }) = response
            .completion_token
            .parse()
            .ok()
            .and_then(|t: u64| self.leases.get_mut(t))
            .map(|l| &mut l.work)
        else {
            return false;
        };
        if let Some(index) = chunk_index
            && index < *next_chunk
        {
            return true;
        }
        *next_chunk = chunk_index.map_or(*next_chunk + 1, |i| i + 1);
        if is_partial {
            partial.append(&mut response.actions);
            return true;
        }
        if !partial.is_empty() {
            let mut all = std::mem::take(partial);
            all.append(&mut response.actions);
            response.actions = all;
        }
        false
    }

    pub(crate) fn complete_activity(
        &mut self,
        response: ActivityResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(lease) = self.lease(&response.completion_token) else {
            tracing::debug!(token = %response.completion_token, "ignoring activity result with an unknown or ended lease");
            return Ok(());
        };
        if !matches!(lease.work, Leased::Activity(_)) {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} does not belong to an activity work item",
                clip(&response.completion_token)
            )));
        }
        let Some(Lease {
            work: Leased::Activity(task),
            ..
        }) = self.take_lease(&response.completion_token)
        else {
            return Ok(());
        };
        self.abandons.succeeded(&AbandonKey::Activity(
            task.instance.as_str().to_owned(),
            task.execution.clone(),
            task.task_id,
        ));
        self.dirty.activity_done(&task);
        let event = task.result_event(response.result, response.failure_details, now);
        let id = task.instance.as_str();
        if let Some(instance) = self.instance_mut(id) {
            instance.deliver_result(&task.execution, event, now);
            self.touch(id, now);
        }
        Ok(())
    }
}

/// What a fetch found, before it has a completion token.
enum Found {
    Turn(Dispatch),
    Request(Request),
}
