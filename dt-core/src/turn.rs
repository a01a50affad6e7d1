//! Committing a worker's answer to an orchestration work item: the history it adds, the
//! status it moves to, and the effects it asks for.
//!
//! History layout of one committed work item:
//! `…past…, orchestratorStarted, <processed new events>, <one confirmation per action, eventId =
//! action id>, orchestratorCompleted [, executionCompleted]`.

use crate::action::{Action, CompletionAction, EntityMessage, TurnResponse};
use crate::effect::{ActivityTask, Effect, NewInstance, ParentLink, TimerTask};
use crate::entity::Operation;
use crate::error::CoreError;
use crate::events::{self, EventKind};
use crate::ids::ExecutionId;
use crate::instance::Instance;
use crate::locks::LockRequest;
use crate::status::RuntimeStatus;
use crate::time::due_later;
use chrono::{DateTime, Utc};
use dt_proto::history_event::EventType;
use dt_proto::*;

/// What the core needs from outside to commit a turn.
#[derive(Clone, Debug)]
pub struct TurnContext {
    /// The commit time.
    pub now: DateTime<Utc>,
    /// The id the next execution gets if this turn continues as new.
    pub next_execution_id: ExecutionId,
    /// The most history events one execution may hold.
    pub max_history_size: usize,
}

impl Instance {
    /// Commits the worker's answer to the work item in flight and returns the effects.
    ///
    /// On error nothing has changed. A turn that would grow the history past
    /// `max_history_size` is not applied: the orchestration fails with details saying so.
    pub fn complete_turn(
        &mut self,
        response: TurnResponse,
        ctx: &TurnContext,
    ) -> Result<Vec<Effect>, CoreError> {
        let Some(in_flight) = &self.in_flight else {
            return Err(CoreError::NoWorkInFlight(self.id.to_string()));
        };
        let rewinding = in_flight
            .iter()
            .any(|e| EventKind::of(e) == EventKind::Rewound);
        let rewind = response.actions.iter().find_map(|a| match a {
            Action::Rewind { new_history } => Some(new_history),
            _ => None,
        });
        if let Some(new_history) = rewind {
            if !rewinding {
                return Err(CoreError::MalformedAction {
                    action_id: -1,
                    reason: "rewindOrchestration is only valid in answer to executionRewound"
                        .to_owned(),
                });
            }
            let new_history = new_history.clone();
            self.in_flight = None;
            return Ok(self.apply_rewind(new_history, ctx));
        }
        let Some(mut new_events) = self.in_flight.take() else {
            return Err(CoreError::NoWorkInFlight(self.id.to_string()));
        };
        let now = ctx.now;
        // The framing orchestratorStarted is always committed, whatever the count says: the
        // worker replays its clock from it, and requeued events get a fresh one.
        let processed = response
            .num_events_processed
            .map_or(new_events.len(), |n| n.clamp(1, new_events.len().max(1)));
        let unprocessed = new_events.split_off(processed.min(new_events.len()));

        let completion_index = response
            .actions
            .iter()
            .position(|a| matches!(a, Action::Complete { .. }));
        let completion = completion_index.map(|i| &response.actions[i]);
        let continues_as_new = matches!(
            completion,
            Some(Action::Complete {
                completion: CompletionAction::ContinueAsNew { .. },
                ..
            })
        );
        let applied = completion_index.unwrap_or(response.actions.len());
        let confirmations = response.actions[..applied]
            .iter()
            .filter(|a| confirms(a))
            .count();
        // orchestratorCompleted, plus executionCompleted when the turn ends the execution.
        let closing = 1 + usize::from(completion.is_some());
        let grown = self.history.len() + new_events.len() + confirmations + closing;
        if !continues_as_new && grown > ctx.max_history_size {
            return Ok(self.fail_history_limit(grown, ctx));
        }

        for event in &new_events {
            match EventKind::of(event) {
                EventKind::Suspended => self.status = RuntimeStatus::Suspended,
                EventKind::Resumed => self.status = RuntimeStatus::Running,
                _ => {}
            }
        }
        if self.status == RuntimeStatus::Pending {
            self.status = RuntimeStatus::Running;
        }
        self.history.extend(new_events);
        self.custom_status = response.custom_status;
        if response.trace_context.is_some() {
            self.trace_context = response.trace_context.map(Box::new);
        }
        self.last_updated_at = now;

        let mut effects = Vec::new();
        let mut to_self = Vec::new();
        let mut completion = None;
        for action in response.actions {
            match action {
                Action::Complete { completion: c, .. } => {
                    completion = Some(c);
                    break;
                }
                other => self.apply_action(other, now, &mut effects, &mut to_self),
            }
        }
        self.history.push(events::orchestrator_completed(now));

        let waiting: Vec<_> = self.inbox.drain(..).collect();
        self.requeue_front(unprocessed);
        self.inbox.extend(waiting);

        match completion {
            None => self.inbox.extend(to_self),
            Some(CompletionAction::ContinueAsNew {
                input,
                new_version,
                carryover,
            }) => self.continue_as_new(input, new_version, carryover, to_self, ctx),
            Some(CompletionAction::Completed { result }) => {
                effects.extend(self.end_execution(RuntimeStatus::Completed, result, None, now));
            }
            Some(CompletionAction::Failed { result, details }) => {
                effects.extend(self.end_execution(RuntimeStatus::Failed, result, details, now));
            }
            Some(CompletionAction::Terminated { result }) => {
                effects.extend(self.end_execution(RuntimeStatus::Terminated, result, None, now));
            }
        }
        Ok(effects)
    }

    /// Appends `executionCompleted` and enters the terminal status.
    fn end_execution(
        &mut self,
        status: RuntimeStatus,
        output: Option<String>,
        failure: Option<TaskFailureDetails>,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        self.history.push(events::execution_completed(
            status.to_wire(),
            output.clone(),
            failure.clone(),
            now,
        ));
        self.finish(status, output, failure, now)
    }

    fn apply_action(
        &mut self,
        action: Action,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
        to_self: &mut Vec<HistoryEvent>,
    ) {
        match action {
            Action::ScheduleTask { id, task } => {
                self.history.push(events::event(
                    id,
                    now,
                    EventType::TaskScheduled(TaskScheduledEvent {
                        name: task.name.clone(),
                        version: task.version.clone(),
                        input: task.input.clone(),
                        parent_trace_context: task.parent_trace_context.clone(),
                        tags: task.tags.clone(),
                    }),
                ));
                effects.push(Effect::ScheduleActivity(ActivityTask {
                    instance: self.id.clone(),
                    execution: self.execution_id.clone(),
                    task_id: id,
                    name: task.name,
                    version: task.version,
                    input: task.input,
                    parent_trace_context: task.parent_trace_context,
                    tags: task.tags,
                }));
            }
            Action::CreateTimer { id, fire_at } => {
                self.history.push(events::event(
                    id,
                    now,
                    EventType::TimerCreated(TimerCreatedEvent {
                        fire_at: Some(fire_at),
                    }),
                ));
                effects.push(Effect::CreateTimer(TimerTask {
                    instance: self.id.clone(),
                    execution: self.execution_id.clone(),
                    timer_id: id,
                    fire_at,
                }));
            }
            Action::CreateSubOrchestration { id, child } => {
                let child_id = if child.instance_id.is_empty() {
                    format!("{}:{:04x}", self.id, id)
                } else {
                    child.instance_id
                };
                self.history.push(events::event(
                    id,
                    now,
                    EventType::SubOrchestrationInstanceCreated(
                        SubOrchestrationInstanceCreatedEvent {
                            instance_id: child_id.clone(),
                            name: child.name.clone(),
                            version: child.version.clone(),
                            input: child.input.clone(),
                            parent_trace_context: child.parent_trace_context.clone(),
                            tags: child.tags.clone(),
                        },
                    ),
                ));
                effects.push(Effect::StartChild(NewInstance {
                    id: child_id,
                    name: child.name,
                    version: child.version,
                    input: child.input,
                    tags: child.tags,
                    parent: Some(ParentLink {
                        instance: self.id.clone(),
                        execution: self.execution_id.clone(),
                        task_id: id,
                        name: self.name.clone(),
                        version: self.version.clone(),
                    }),
                    parent_trace_context: child.parent_trace_context,
                    scheduled_start: None,
                }));
            }
            Action::SendEvent {
                id,
                target,
                name,
                data,
            } => {
                self.history.push(events::event(
                    id,
                    now,
                    EventType::EventSent(EventSentEvent {
                        instance_id: target.as_str().to_owned(),
                        name: name.clone(),
                        input: data.clone(),
                    }),
                ));
                let event = events::event_raised(name, data, now);
                if target == self.id {
                    to_self.push(event);
                } else {
                    effects.push(Effect::SendEvent { target, event });
                }
            }
            Action::Terminate {
                target,
                reason,
                recurse,
                ..
            } => effects.push(Effect::Terminate {
                target,
                reason,
                recurse,
            }),
            Action::EntityMessage { id, message } => {
                let effect = self.entity_message(id, message, now);
                effects.extend(effect);
            }
            Action::Complete { .. } | Action::Rewind { .. } => {}
        }
    }

    /// Records the confirmation of a `sendEntityMessage` (a copy of the message with the
    /// action id) and returns what it asks of the entity side.
    fn entity_message(
        &mut self,
        id: i32,
        message: EntityMessage,
        now: DateTime<Utc>,
    ) -> Option<Effect> {
        let (confirmation, effect) = match message {
            EntityMessage::Signal(signal) => {
                let target = signal.target_instance_id.clone().unwrap_or_default();
                let not_before = due_later(signal.scheduled_time.as_ref(), now);
                let operation = Operation {
                    event: events::event(
                        events::NO_ACTION_ID,
                        now,
                        EventType::EntityOperationSignaled(signal.clone()),
                    ),
                    request_id: signal.request_id.clone(),
                    sender: Some(self.id.clone()),
                    reply_to: None,
                };
                (
                    EventType::EntityOperationSignaled(signal),
                    Effect::EntityOperation {
                        target,
                        operation,
                        not_before,
                    },
                )
            }
            EntityMessage::Call(mut call) => {
                let target = call.target_instance_id.clone().unwrap_or_default();
                // Python leaves the caller's execution out; the reply is scoped to it.
                call.parent_instance_id
                    .get_or_insert_with(|| self.id.as_str().to_owned());
                call.parent_execution_id
                    .get_or_insert_with(|| self.execution_id.as_str().to_owned());
                let operation = Operation {
                    event: events::event(
                        events::NO_ACTION_ID,
                        now,
                        EventType::EntityOperationCalled(call.clone()),
                    ),
                    request_id: call.request_id.clone(),
                    sender: Some(self.id.clone()),
                    reply_to: Some((self.id.clone(), self.execution_id.clone())),
                };
                (
                    EventType::EntityOperationCalled(call),
                    Effect::EntityOperation {
                        target,
                        operation,
                        not_before: None,
                    },
                )
            }
            EntityMessage::Lock(lock) => {
                let request = LockRequest {
                    critical_section: lock.critical_section_id.clone(),
                    instance: self.id.clone(),
                    execution: self.execution_id.clone(),
                    entities: lock.lock_set.clone(),
                };
                (
                    EventType::EntityLockRequested(lock),
                    Effect::LockRequest(request),
                )
            }
            EntityMessage::Unlock(unlock) => {
                let entity = unlock.target_instance_id.clone().unwrap_or_default();
                let critical_section = unlock.critical_section_id.clone();
                (
                    EventType::EntityUnlockSent(unlock),
                    Effect::Unlock {
                        entity,
                        critical_section,
                    },
                )
            }
        };
        self.history.push(events::event(id, now, confirmation));
        Some(effect)
    }

    /// Takes the worker's rewritten history: the failed results are gone, so replaying it
    /// schedules the failed work again. The new execution id is the one the worker stamped
    /// into the `executionStarted`. Children that never reported success are rewound (or
    /// re-created, if purged) and linked to the new execution.
    fn apply_rewind(&mut self, new_history: Vec<HistoryEvent>, ctx: &TurnContext) -> Vec<Effect> {
        let stamped = new_history.iter().find_map(|e| match &e.event_type {
            Some(EventType::ExecutionStarted(es)) => es
                .orchestration_instance
                .as_ref()
                .and_then(|i| i.execution_id.clone())
                .filter(|id| !id.is_empty()),
            _ => None,
        });
        self.execution_id = stamped.map_or_else(|| ctx.next_execution_id.clone(), ExecutionId::new);
        self.history.replace(new_history);
        self.status = RuntimeStatus::Running;
        self.output = None;
        self.failure = None;
        self.completed_at = None;
        self.last_updated_at = ctx.now;
        self.replay_requested = true;
        let reason = self.history.iter().rev().find_map(|e| match &e.event_type {
            Some(EventType::ExecutionRewound(r)) => Some(r.reason.clone()),
            _ => None,
        });
        let succeeded: std::collections::HashSet<i32> = self
            .history
            .iter()
            .filter_map(|e| match &e.event_type {
                Some(EventType::SubOrchestrationInstanceCompleted(c)) => Some(c.task_scheduled_id),
                _ => None,
            })
            .collect();
        self.history
            .iter()
            .filter_map(|e| match &e.event_type {
                Some(EventType::SubOrchestrationInstanceCreated(c))
                    if !succeeded.contains(&e.event_id) =>
                {
                    Some(Effect::RewindChild {
                        child: NewInstance {
                            id: c.instance_id.clone(),
                            name: c.name.clone(),
                            version: c.version.clone(),
                            input: c.input.clone(),
                            tags: c.tags.clone(),
                            parent: Some(ParentLink {
                                instance: self.id.clone(),
                                execution: self.execution_id.clone(),
                                task_id: e.event_id,
                                name: self.name.clone(),
                                version: self.version.clone(),
                            }),
                            parent_trace_context: c.parent_trace_context.clone(),
                            scheduled_start: None,
                        },
                        reason: reason.clone().flatten(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Starts the next execution: fresh history and id, the new input, and an inbox holding its
    /// `executionStarted`, the carried-over events, then the external events that arrived while
    /// the old execution's last work item was in flight. Results for the old execution are
    /// dropped: nothing in the new one is waiting for them.
    fn continue_as_new(
        &mut self,
        input: Option<String>,
        new_version: Option<String>,
        carryover: Vec<HistoryEvent>,
        to_self: Vec<HistoryEvent>,
        ctx: &TurnContext,
    ) {
        self.execution_id = ctx.next_execution_id.clone();
        if new_version.is_some() {
            self.version = new_version;
        }
        self.input = input;
        self.output = None;
        self.failure = None;
        self.status = RuntimeStatus::Running;
        self.history.clear();
        let spec = NewInstance {
            id: self.id.as_str().to_owned(),
            name: self.name.clone(),
            version: self.version.clone(),
            input: self.input.clone(),
            tags: self.tags.clone(),
            parent: self.parent.as_deref().cloned(),
            parent_trace_context: self.parent_trace_context.as_deref().cloned(),
            scheduled_start: None,
        };
        let keep = |e: &HistoryEvent| {
            matches!(
                EventKind::of(e),
                EventKind::EventRaised
                    | EventKind::Suspended
                    | EventKind::Resumed
                    | EventKind::Terminated
            )
        };
        let arrived: Vec<_> = self.inbox.drain(..).filter(keep).collect();
        self.inbox
            .push_back(spec.execution_started(&self.execution_id, ctx.now));
        self.inbox.extend(carryover);
        // The new execution starts unsuspended: replay the kept suspend/resume requests so the
        // flag matches what the worker will see, and drop the ones that would not pair up (a
        // resume for a running orchestration makes the Python worker fail it).
        self.suspend_requested = false;
        for event in to_self.into_iter().filter(keep).chain(arrived) {
            match EventKind::of(&event) {
                EventKind::Suspended if self.suspend_requested => continue,
                EventKind::Resumed if !self.suspend_requested => continue,
                EventKind::Suspended => self.suspend_requested = true,
                EventKind::Resumed => self.suspend_requested = false,
                _ => {}
            }
            self.inbox.push_back(event);
        }
    }

    fn fail_history_limit(&mut self, grown: usize, ctx: &TurnContext) -> Vec<Effect> {
        let details = TaskFailureDetails {
            error_type: "HistorySizeLimitExceeded".to_owned(),
            error_message: format!(
                "orchestration '{}' would grow its history to {grown} events, more than the \
                 server's max_history_size of {}; the last turn was not applied",
                self.id, ctx.max_history_size
            ),
            is_non_retriable: true,
            ..Default::default()
        };
        self.fail_with(details, ctx.now)
    }
}

/// Whether an action leaves a confirmation event in history.
fn confirms(action: &Action) -> bool {
    matches!(
        action,
        Action::ScheduleTask { .. }
            | Action::CreateTimer { .. }
            | Action::CreateSubOrchestration { .. }
            | Action::SendEvent { .. }
            | Action::EntityMessage { .. }
    )
}
