//! Handing work items to workers under leases, and taking their answers back.

use super::state::{Due, Lease, Leased, State, Worker};
use crate::api::WorkerId;
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use dt_core::{TurnContext, TurnResponse, WorkFilters};
use dt_proto::work_item::Request;
use dt_proto::*;
use std::collections::HashSet;

impl State {
    pub(crate) fn connect_worker(&mut self, id: WorkerId, filters: WorkFilters) {
        self.workers.insert(
            id,
            Worker {
                filters,
                tokens: HashSet::new(),
                prefer_activities: false,
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
        worker.prefer_activities = !worker.prefer_activities;
        let prefer_activities = worker.prefer_activities;
        let filters = worker.filters.clone();
        let (request, work) = if prefer_activities {
            self.take_activity(&filters)
                .or_else(|| self.take_orchestration(&filters, now))?
        } else {
            self.take_orchestration(&filters, now)
                .or_else(|| self.take_activity(&filters))?
        };
        let token = self.next_seq();
        let expires_at = now + self.config.lease_duration;
        self.leases.insert(
            token,
            Lease {
                worker: worker_id,
                expires_at,
                work,
            },
        );
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.tokens.insert(token);
        }
        self.schedule(expires_at, Due::LeaseExpiry(token));
        Some(WorkItem {
            request: Some(request),
            completion_token: token.to_string(),
        })
    }

    fn take_orchestration(
        &mut self,
        filters: &WorkFilters,
        now: DateTime<Utc>,
    ) -> Option<(Request, Leased)> {
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(id) = self.ready.pop_front() {
            let Some(instance) = self.instances.get_mut(&id).map(|e| &mut e.instance) else {
                self.ready_set.remove(&id);
                continue;
            };
            if !instance.is_dispatchable(now) {
                self.ready_set.remove(&id);
                continue;
            }
            if !filters.accepts_orchestration(&instance.name, instance.filter_version()) {
                skipped.push(id);
                continue;
            }
            self.ready_set.remove(&id);
            if let Some(request) = instance.dispatch(now) {
                let work = Leased::Orchestration {
                    instance: id,
                    execution: instance.execution_id.clone(),
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

    fn take_lease(&mut self, token: &str) -> Option<Lease> {
        let token: u64 = token.parse().ok()?;
        let lease = self.leases.remove(&token)?;
        if let Some(worker) = self.workers.get_mut(&lease.worker) {
            worker.tokens.remove(&token);
        }
        Some(lease)
    }

    /// Puts leased work back: an orchestration's events return to its inbox, an activity to the
    /// queue (after `delay`, if any). Work whose instance is gone or has moved on is dropped.
    fn requeue(&mut self, work: Leased, delay: Option<chrono::Duration>, now: DateTime<Utc>) {
        match work {
            Leased::Orchestration {
                instance,
                execution,
            } => {
                let Some(inst) = self.instance_mut(&instance) else {
                    return;
                };
                if inst.execution_id != execution {
                    return;
                }
                inst.abandon();
                match delay {
                    Some(d) => self.schedule(now + d, Due::Instance(instance)),
                    None => self.touch(&instance, now),
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
                    Some(d) => self.schedule(now + d, Due::Activity(task)),
                    None => {
                        self.activities.push_front(task);
                        self.work_added = true;
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

    pub(crate) fn abandon(&mut self, token: &str, now: DateTime<Utc>) {
        if let Some(lease) = self.take_lease(token) {
            let delay = chrono::Duration::from_std(self.config.abandon_delay).unwrap_or_default();
            self.requeue(lease.work, Some(delay), now);
        }
    }

    pub(crate) fn complete_orchestration(
        &mut self,
        response: OrchestratorResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // isPartial is deprecated on the wire but still sent by the .NET worker for big answers.
        #[allow(deprecated)]
        let partial = response.is_partial;
        if partial {
            return Err(StoreError::Unsupported(
                "chunked orchestrator responses (isPartial) are not supported yet".to_owned(),
            ));
        }
        let Some(lease) = self
            .leases
            .get(&response.completion_token.parse().unwrap_or(0))
        else {
            tracing::debug!(token = %response.completion_token, "ignoring completion with an unknown or ended lease");
            return Ok(());
        };
        let Leased::Orchestration {
            instance: id,
            execution,
        } = &lease.work
        else {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} belongs to an activity, not an orchestration",
                crate::error::clip(&response.completion_token)
            )));
        };
        if *id != response.instance_id {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} belongs to instance '{}', not '{}'",
                crate::error::clip(&response.completion_token),
                crate::error::clip(id),
                crate::error::clip(&response.instance_id)
            )));
        }
        let (id, execution) = (id.clone(), execution.clone());
        self.take_lease(&response.completion_token);
        let max_history_size = self.config.max_history_size;
        let Some(instance) = self.instance_mut(&id) else {
            return Ok(());
        };
        if instance.execution_id != execution || instance.in_flight.is_none() {
            return Ok(());
        }
        let ctx = TurnContext {
            now,
            next_execution_id: Self::new_execution_id(),
            max_history_size,
        };
        let outcome =
            TurnResponse::try_from(response).and_then(|turn| instance.complete_turn(turn, &ctx));
        match outcome {
            Ok(effects) => {
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

    pub(crate) fn complete_activity(
        &mut self,
        response: ActivityResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(lease) = self
            .leases
            .get(&response.completion_token.parse().unwrap_or(0))
        else {
            tracing::debug!(token = %response.completion_token, "ignoring activity result with an unknown or ended lease");
            return Ok(());
        };
        if !matches!(lease.work, Leased::Activity(_)) {
            return Err(StoreError::InvalidArgument(format!(
                "completion token {} belongs to an orchestration, not an activity",
                crate::error::clip(&response.completion_token)
            )));
        }
        let Some(Lease {
            work: Leased::Activity(task),
            ..
        }) = self.take_lease(&response.completion_token)
        else {
            return Ok(());
        };
        let event = task.result_event(response.result, response.failure_details, now);
        let id = task.instance.as_str();
        if let Some(instance) = self.instance_mut(id) {
            instance.deliver_result(&task.execution, event, now);
            self.touch(id, now);
        }
        Ok(())
    }
}
