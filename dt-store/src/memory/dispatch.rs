//! Handing work items to workers under leases, and taking their answers back.

use super::state::{AbandonKey, Due, Lease, Leased, State, Worker};
use crate::api::{WorkerId, WorkerOptions};
use crate::error::{StoreError, clip};
use chrono::{DateTime, Utc};
use dt_core::{TurnContext, TurnResponse, WorkFilters};
use dt_proto::work_item::Request;
use dt_proto::*;
use prost::Message;
use std::collections::HashSet;
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
                holding: [0; 3],
                tokens: HashSet::new(),
                turn: 0,
            },
        );
    }

    /// Ends a worker: everything it holds goes back to be dispatched at once.
    pub(crate) fn disconnect_worker(&mut self, id: WorkerId, now: DateTime<Utc>) {
        let Some(worker) = self.workers.remove(&id) else {
            return;
        };
        let mut tokens: Vec<u64> = worker.tokens.into_iter().collect();
        tokens.sort_unstable();
        for token in tokens {
            self.release_lease(token, now);
        }
    }

    /// Finds and leases the next work item the worker accepts.
    pub(crate) fn try_fetch(
        &mut self,
        worker_id: WorkerId,
        now: DateTime<Utc>,
    ) -> Option<WorkItem> {
        let worker = self.workers.get_mut(&worker_id)?;
        worker.turn = (worker.turn + 1) % 3;
        let first = worker.turn;
        let streams_history = worker.history_streaming;
        let filters = Arc::clone(&worker.filters);
        let limits = [
            worker.limits.orchestrations,
            worker.limits.activities,
            worker.limits.entities,
        ];
        let holding = worker.holding;
        let mut found = None;
        for offset in 0..3 {
            let kind = (first + offset) % 3;
            if limits[usize::from(kind)].is_some_and(|cap| holding[usize::from(kind)] >= cap) {
                continue;
            }
            found = match kind {
                0 => self.take_orchestration(worker_id, &filters, streams_history, now),
                1 => self.take_activity(&filters),
                _ => self.take_entity(&filters),
            };
            if found.is_some() {
                break;
            }
        }
        let (request, work) = found?;
        let token = self.next_seq();
        let expires_at = now + self.config.lease_duration;
        let kind = work.kind();
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.tokens.insert(token);
            worker.holding[kind] += 1;
        }
        self.leases.insert(
            token,
            Lease {
                worker: worker_id,
                expires_at,
                work,
            },
        );
        // Keyed by the token itself, so the entry can be removed when the lease ends and the
        // timeline holds only live leases.
        self.timeline
            .insert((expires_at, token), Due::LeaseExpiry(token));
        self.schedule_added = true;
        Some(WorkItem {
            request: Some(request),
            completion_token: token.to_string(),
        })
    }

    fn take_orchestration(
        &mut self,
        worker_id: WorkerId,
        filters: &WorkFilters,
        streams_history: bool,
        now: DateTime<Utc>,
    ) -> Option<(Request, Leased)> {
        let threshold = self.config.history_streaming_threshold;
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(id) = self.ready.pop_front() {
            let Some(instance) = self.instance(&id).filter(|i| i.is_dispatchable(now)) else {
                self.ready_set.remove(&id);
                continue;
            };
            let (name, version) = (instance.name.as_str(), instance.filter_version());
            let avoided = self.abandoned_by.get(&id) == Some(&worker_id)
                && self.another_worker_accepts(worker_id, name, version);
            if !filters.accepts_orchestration(name, version) || avoided {
                skipped.push(id);
                continue;
            }
            self.ready_set.remove(&id);
            let Some(entry) = self.instances.get_mut(&id) else {
                continue;
            };
            let instance = &mut entry.instance;
            if let Some(mut request) = instance.dispatch(now) {
                if streams_history && history_bytes(&request.past_events) > threshold {
                    request.past_events.clear();
                    request.requires_history_streaming = true;
                }
                let work = Leased::Orchestration {
                    instance: id,
                    incarnation: entry.seq,
                    execution: instance.execution_id.clone(),
                    partial: Vec::new(),
                    next_chunk: 0,
                };
                found = Some((Request::OrchestratorRequest(request), work));
            }
            break;
        }
        for id in skipped.into_iter().rev() {
            self.ready.push_front(id);
        }
        found
    }

    /// Whether a connected worker other than `this` would take the orchestration.
    fn another_worker_accepts(&self, this: WorkerId, name: &str, version: &str) -> bool {
        self.workers
            .iter()
            .any(|(id, w)| *id != this && w.filters.accepts_orchestration(name, version))
    }

    fn take_activity(&mut self, filters: &WorkFilters) -> Option<(Request, Leased)> {
        let index = self
            .activities
            .iter()
            .position(|a| filters.accepts_activity(&a.name, a.version.as_deref()))?;
        let task = self.activities.remove(index)?;
        Some((
            Request::ActivityRequest(task.to_request()),
            Leased::Activity(task),
        ))
    }

    pub(super) fn lease(&self, token: &str) -> Option<&Lease> {
        self.leases.get(&token.parse().ok()?)
    }

    pub(super) fn take_lease(&mut self, token: &str) -> Option<Lease> {
        let token: u64 = token.parse().ok()?;
        let lease = self.leases.remove(&token)?;
        if let Some(worker) = self.workers.get_mut(&lease.worker) {
            worker.tokens.remove(&token);
            let held = &mut worker.holding[lease.work.kind()];
            *held = held.saturating_sub(1);
        }
        self.timeline.remove(&(lease.expires_at, token));
        self.lease_ended = true;
        Some(lease)
    }

    /// Whether leased orchestration work still belongs to the instance as it is now.
    fn still_current(&self, id: &str, incarnation: u64, execution: &dt_core::ExecutionId) -> bool {
        self.instances
            .get(id)
            .is_some_and(|e| e.seq == incarnation && e.instance.execution_id == *execution)
    }

    /// Puts leased work back: an orchestration's events return to its inbox, an activity to the
    /// queue (after `delay`, if any). Work whose instance is gone or has moved on is dropped.
    fn requeue(&mut self, work: Leased, delay: Option<chrono::Duration>, now: DateTime<Utc>) {
        match work {
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
                    Some(d) => self.schedule(now + d, Due::Instance(instance)),
                    None => self.touch(&instance, now),
                }
            }
            Leased::Entity(id) => {
                if let Some(entity) = self.entities.get_mut(&id) {
                    entity.abandon();
                }
                match delay {
                    Some(d) => self.schedule(now + d, Due::Entity(id)),
                    None => self.touch_entity(&id),
                }
            }
            Leased::Activity(task) => {
                let alive = self
                    .instance(task.instance.as_str())
                    .is_some_and(|i| i.execution_id == task.execution && !i.is_terminal());
                if !alive {
                    return;
                }
                match delay {
                    Some(d) => self.schedule(now + d, Due::Activity(Box::new(task))),
                    None => {
                        self.activities.push_front(task);
                        self.work_added += 1;
                    }
                }
            }
        }
    }

    pub(crate) fn release_lease(&mut self, token: u64, now: DateTime<Utc>) {
        if let Some(lease) = self.take_lease(&token.to_string()) {
            self.requeue(lease.work, None, now);
        }
    }

    pub(crate) fn expire_lease(&mut self, token: u64, now: DateTime<Utc>) {
        let expired = self.leases.get(&token).is_some_and(|l| l.expires_at <= now);
        if expired {
            tracing::warn!(token, "work item lease expired; dispatching it again");
            self.release_lease(token, now);
        }
    }

    /// Gives work back with a delay that doubles with each abandon of the same item in a row,
    /// so a worker that keeps rejecting it (versioning REJECT) does not spin.
    pub(crate) fn abandon(&mut self, token: &str, now: DateTime<Utc>) {
        let Some(lease) = self.take_lease(token) else {
            return;
        };
        let key = match &lease.work {
            Leased::Orchestration { instance, .. } => {
                // Offer it to another worker first: the one that gave it back may keep
                // rejecting it (versioning REJECT).
                self.abandoned_by.insert(instance.clone(), lease.worker);
                AbandonKey::Orchestration(instance.clone())
            }
            Leased::Activity(task) => {
                AbandonKey::Activity(task.instance.as_str().to_owned(), task.task_id)
            }
            Leased::Entity(id) => AbandonKey::Entity(id.clone()),
        };
        let delay = self.backoff(key);
        self.requeue(lease.work, Some(delay), now);
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
                self.abandons.remove(&AbandonKey::Orchestration(id.clone()));
                self.abandoned_by.remove(&id);
                if moved_on {
                    // A new execution (continue-as-new, rewind) starts outside any critical
                    // section; its effects may ask for locks again.
                    self.release_locks_of(&dt_core::InstanceId::new(id.clone()), now);
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
                Err(StoreError::InvalidArgument(err.to_string()))
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
            .and_then(|t: u64| self.leases.get_mut(&t))
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
        self.abandons.remove(&AbandonKey::Activity(
            task.instance.as_str().to_owned(),
            task.task_id,
        ));
        let event = task.result_event(response.result, response.failure_details, now);
        let id = task.instance.as_str();
        if let Some(instance) = self.instance_mut(id) {
            instance.deliver_result(&task.execution, event, now);
            self.touch(id, now);
        }
        Ok(())
    }
}

impl State {
    /// The wait before the next try of an item given back `n` times in a row: the abandon
    /// delay, doubled each time, capped.
    pub(super) fn backoff(&mut self, key: AbandonKey) -> chrono::Duration {
        let count = self.abandons.entry(key).or_insert(0);
        let exponent = (*count).min(16);
        *count = count.saturating_add(1);
        let delay = self
            .config
            .abandon_delay
            .saturating_mul(1 << exponent)
            .min(self.config.max_abandon_delay.max(self.config.abandon_delay));
        chrono::Duration::from_std(delay).unwrap_or_default()
    }
}

/// The encoded size of a list of history events.
fn history_bytes(events: &[HistoryEvent]) -> usize {
    events.iter().map(Message::encoded_len).sum()
}
