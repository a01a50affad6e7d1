//! One durable entity: its state, the operations waiting for it, and the batch in flight.
//!
//! Operations run one batch at a time, in the order they were queued. While the entity is
//! locked by a critical section, only operations sent by the orchestration holding the lock
//! run; everybody else's wait, in order, until it is released.

use crate::effect::{Effect, NewInstance};
use crate::error::CoreError;
use crate::events::{self, NO_ACTION_ID};
use crate::ids::{ExecutionId, InstanceId};
use crate::time::{check_timestamp, due_later, to_timestamp};
use chrono::{DateTime, Utc};
use dt_proto::history_event::EventType;
use dt_proto::operation_action::OperationActionType;
use dt_proto::operation_result::ResultType;
use dt_proto::*;
use std::collections::VecDeque;

/// An operation on its way to an entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// `entityOperationSignaled` or `entityOperationCalled`, as the worker receives it.
    pub event: HistoryEvent,
    /// The request id, for the reply.
    pub request_id: String,
    /// The orchestration that sent it, if one did: a locked entity runs only its holder's.
    pub sender: Option<InstanceId>,
    /// Where a call's reply goes: the calling orchestration and its execution.
    pub reply_to: Option<(InstanceId, ExecutionId)>,
}

impl Operation {
    /// A one-way signal.
    pub fn signal(
        target: &str,
        request_id: String,
        operation: String,
        input: Option<String>,
        sender: Option<InstanceId>,
        now: DateTime<Utc>,
    ) -> Self {
        let event = events::event(
            NO_ACTION_ID,
            now,
            EventType::EntityOperationSignaled(EntityOperationSignaledEvent {
                request_id: request_id.clone(),
                operation,
                scheduled_time: None,
                input,
                target_instance_id: Some(target.to_owned()),
            }),
        );
        Self {
            event,
            request_id,
            sender,
            reply_to: None,
        }
    }

    /// A one-way signal from a client or an entity (no sender orchestration) as the effect
    /// that queues it: at once, or at `scheduled` if that is still ahead of `now`, which the
    /// worker then sees as the signal's `scheduledTime`.
    pub fn signal_effect(
        target: String,
        request_id: String,
        operation: String,
        input: Option<String>,
        scheduled: Option<&prost_types::Timestamp>,
        now: DateTime<Utc>,
    ) -> Effect {
        let not_before = due_later(scheduled, now);
        let mut signal = Self::signal(&target, request_id, operation, input, None, now);
        if let (Some(at), Some(EventType::EntityOperationSignaled(s))) =
            (not_before, &mut signal.event.event_type)
        {
            s.scheduled_time = Some(to_timestamp(at));
        }
        Effect::EntityOperation {
            target,
            operation: signal,
            not_before,
        }
    }

    /// The name of the operation.
    pub fn name(&self) -> &str {
        match &self.event.event_type {
            Some(EventType::EntityOperationSignaled(s)) => &s.operation,
            Some(EventType::EntityOperationCalled(c)) => &c.operation,
            _ => "",
        }
    }

    fn to_request(&self) -> OperationRequest {
        let (operation, input) = match &self.event.event_type {
            Some(EventType::EntityOperationSignaled(s)) => (s.operation.clone(), s.input.clone()),
            Some(EventType::EntityOperationCalled(c)) => (c.operation.clone(), c.input.clone()),
            _ => (String::new(), None),
        };
        OperationRequest {
            operation,
            request_id: self.request_id.clone(),
            input,
            trace_context: None,
        }
    }
}

/// Which wire shape entity work items take (protocol.md §4.3); both SDKs accept both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EntityWorkItemFormat {
    /// `entityRequestV2`: the operations as history events (what the Python reference sends).
    #[default]
    V2,
    /// `entityRequest`: the operations as `OperationRequest`s, results by position.
    V1,
}

/// A dispatched entity batch, in the chosen wire shape.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityBatch {
    /// `WorkItem.entityRequestV2`.
    V2(EntityRequest),
    /// `WorkItem.entityRequest`.
    V1(EntityBatchRequest),
}

/// What a worker's answer to a batch did.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityOutcome {
    /// The batch failed as a whole: nothing was committed and it must run again.
    Retry,
    /// Committed; carry out the effects.
    Committed(Vec<Effect>),
}

/// A durable entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// `@name@key`.
    pub id: String,
    /// Serialized state; `None` when it has none (new, or deleted).
    pub state: Option<String>,
    /// Last time its state changed or it was created.
    pub last_modified: DateTime<Utc>,
    /// Operations waiting, in arrival order.
    pub queue: VecDeque<Operation>,
    /// The batch a worker is running.
    pub in_flight: Option<Vec<Operation>>,
}

impl Entity {
    /// A new entity with no state.
    pub fn new(id: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            state: None,
            last_modified: now,
            queue: VecDeque::new(),
            in_flight: None,
        }
    }

    /// Queues an operation.
    pub fn enqueue(&mut self, operation: Operation) {
        self.queue.push_back(operation);
    }

    fn runnable(op: &Operation, holder: Option<&InstanceId>) -> bool {
        holder.is_none_or(|h| op.sender.as_ref() == Some(h))
    }

    /// Whether a batch can be sent: nothing in flight and an operation that may run now.
    pub fn is_dispatchable(&self, holder: Option<&InstanceId>) -> bool {
        self.in_flight.is_none() && self.queue.iter().any(|op| Self::runnable(op, holder))
    }

    /// Takes every operation that may run now into a batch, in order. `holder` is the
    /// orchestration holding the entity's lock, if any.
    pub fn dispatch(
        &mut self,
        holder: Option<&InstanceId>,
        format: EntityWorkItemFormat,
    ) -> Option<EntityBatch> {
        if !self.is_dispatchable(holder) {
            return None;
        }
        let (batch, waiting): (Vec<_>, Vec<_>) = self
            .queue
            .drain(..)
            .partition(|op| Self::runnable(op, holder));
        self.queue = waiting.into();
        let request = match format {
            EntityWorkItemFormat::V2 => EntityBatch::V2(EntityRequest {
                instance_id: self.id.clone(),
                execution_id: String::new(),
                entity_state: self.state.clone(),
                operation_requests: batch.iter().map(|op| op.event.clone()).collect(),
            }),
            EntityWorkItemFormat::V1 => EntityBatch::V1(EntityBatchRequest {
                instance_id: self.id.clone(),
                entity_state: self.state.clone(),
                operations: batch.iter().map(Operation::to_request).collect(),
                properties: Default::default(),
            }),
        };
        self.in_flight = Some(batch);
        Some(request)
    }

    /// Puts the batch in flight back at the front of the queue, in order.
    pub fn abandon(&mut self) {
        if let Some(batch) = self.in_flight.take() {
            for op in batch.into_iter().rev() {
                self.queue.push_front(op);
            }
        }
    }

    /// Commits a worker's answer: the new state, a reply for each call that ran, and the
    /// signals and orchestrations the successful operations asked for. Results shorter than the
    /// batch mean the rest did not run: they go back to the front of the queue. `new_id`
    /// supplies request ids for signals and instance ids for orchestrations that have none.
    pub fn complete(
        &mut self,
        result: EntityBatchResult,
        now: DateTime<Utc>,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<EntityOutcome, CoreError> {
        let Some(batch_len) = self.in_flight.as_ref().map(Vec::len) else {
            return Err(CoreError::NoWorkInFlight(self.id.clone()));
        };
        if result.results.len() > batch_len {
            return Err(CoreError::InvalidArgument(format!(
                "{} results for a batch of {batch_len} operations",
                result.results.len()
            )));
        }
        check_result_timestamps(&result)?;
        if result.failure_details.is_some() {
            self.abandon();
            return Ok(EntityOutcome::Retry);
        }
        let mut batch = self.in_flight.take().unwrap_or_default();
        let not_run = batch.split_off(result.results.len());
        for op in not_run.into_iter().rev() {
            self.queue.push_front(op);
        }
        let mut effects = Vec::new();
        for (op, outcome) in batch.iter().zip(result.results) {
            let Some((instance, execution)) = &op.reply_to else {
                continue;
            };
            let event = match outcome.result_type {
                Some(ResultType::Success(s)) => events::event(
                    NO_ACTION_ID,
                    now,
                    EventType::EntityOperationCompleted(EntityOperationCompletedEvent {
                        request_id: op.request_id.clone(),
                        output: s.result,
                    }),
                ),
                Some(ResultType::Failure(f)) => events::event(
                    NO_ACTION_ID,
                    now,
                    EventType::EntityOperationFailed(EntityOperationFailedEvent {
                        request_id: op.request_id.clone(),
                        failure_details: f.failure_details,
                    }),
                ),
                None => events::event(
                    NO_ACTION_ID,
                    now,
                    EventType::EntityOperationFailed(EntityOperationFailedEvent {
                        request_id: op.request_id.clone(),
                        failure_details: Some(TaskFailureDetails {
                            error_type: "MalformedEntityResult".to_owned(),
                            error_message: "the worker returned an operation result with neither success nor failure".to_owned(),
                            ..Default::default()
                        }),
                    }),
                ),
            };
            effects.push(Effect::EntityReply {
                instance: instance.clone(),
                execution: execution.clone(),
                event,
            });
        }
        for action in result.actions {
            match action.operation_action_type {
                Some(OperationActionType::SendSignal(signal)) => {
                    effects.push(Operation::signal_effect(
                        signal.instance_id,
                        new_id(),
                        signal.name,
                        signal.input,
                        signal.scheduled_time.as_ref(),
                        now,
                    ));
                }
                Some(OperationActionType::StartNewOrchestration(start)) => {
                    let id = if start.instance_id.is_empty() {
                        new_id()
                    } else {
                        start.instance_id
                    };
                    effects.push(Effect::StartOrchestration(NewInstance {
                        id,
                        name: start.name,
                        version: start.version,
                        input: start.input,
                        tags: Default::default(),
                        parent: None,
                        parent_trace_context: start.parent_trace_context,
                        scheduled_start: due_later(start.scheduled_time.as_ref(), now),
                    }));
                }
                None => {}
            }
        }
        self.state = result.entity_state;
        self.last_modified = now;
        Ok(EntityOutcome::Committed(effects))
    }

    /// Nothing to keep: no state, nothing queued, nothing running.
    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.queue.is_empty() && self.in_flight.is_none()
    }

    /// The entity as clients see it.
    pub fn metadata(&self, include_state: bool, locked_by: Option<&InstanceId>) -> EntityMetadata {
        EntityMetadata {
            instance_id: self.id.clone(),
            last_modified_time: Some(to_timestamp(self.last_modified)),
            backlog_queue_size: i32::try_from(self.queue.len()).unwrap_or(i32::MAX),
            locked_by: locked_by.map(|i| i.as_str().to_owned()),
            serialized_state: if include_state {
                self.state.clone()
            } else {
                None
            },
        }
    }
}

/// Every timestamp of a worker's batch result, checked before anything is applied.
fn check_result_timestamps(result: &EntityBatchResult) -> Result<(), CoreError> {
    for outcome in &result.results {
        let (start, end) = match &outcome.result_type {
            Some(ResultType::Success(s)) => (s.start_time_utc.as_ref(), s.end_time_utc.as_ref()),
            Some(ResultType::Failure(f)) => (f.start_time_utc.as_ref(), f.end_time_utc.as_ref()),
            None => (None, None),
        };
        check_timestamp("operation result startTimeUtc", start)?;
        check_timestamp("operation result endTimeUtc", end)?;
    }
    for action in &result.actions {
        let (scheduled, requested) = match &action.operation_action_type {
            Some(OperationActionType::SendSignal(s)) => {
                (s.scheduled_time.as_ref(), s.request_time.as_ref())
            }
            Some(OperationActionType::StartNewOrchestration(o)) => {
                (o.scheduled_time.as_ref(), o.request_time.as_ref())
            }
            None => (None, None),
        };
        check_timestamp("operation action scheduledTime", scheduled)?;
        check_timestamp("operation action requestTime", requested)?;
    }
    Ok(())
}

/// Whether `id` is shaped like an entity id, `@name@key` with a non-empty name.
pub fn is_entity_id(id: &str) -> bool {
    crate::filter::entity_name(id).is_some_and(|name| !name.is_empty())
}
