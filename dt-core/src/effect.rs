//! Effects: what applying an input to one instance asks of the rest of the system.
//!
//! The core never performs them; a store carries them out in the same atomic commit as the
//! instance's new state.

use crate::ids::{ExecutionId, InstanceId};
use crate::time::{from_timestamp, to_timestamp};
use chrono::{DateTime, Utc};
use dt_proto::*;
use std::collections::HashMap;

/// Something the rest of the system must do because of a committed change.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Queue an activity for a worker.
    ScheduleActivity(ActivityTask),
    /// Fire a timer later.
    CreateTimer(TimerTask),
    /// Create a child orchestration. If its id is taken by a live instance, the parent must
    /// receive `subOrchestrationInstanceFailed` instead (see [`NewInstance::parent`]).
    StartChild(NewInstance),
    /// Deliver an event to another instance's current execution, if it is alive.
    SendEvent {
        /// Receiver.
        target: InstanceId,
        /// The `eventRaised` to deliver.
        event: HistoryEvent,
    },
    /// Deliver a child's result to its parent, if the parent is still on that execution.
    NotifyParent {
        /// The parent and the task id the result answers.
        parent: ParentLink,
        /// `subOrchestrationInstanceCompleted` or `...Failed`.
        event: HistoryEvent,
    },
    /// A child of a rewound parent that never reported success: re-create it if it was purged,
    /// rewind it if it failed, and in any case link it to the parent's new execution.
    RewindChild {
        /// The child as its parent created it, linked to the parent's new execution.
        child: NewInstance,
        /// The parent's rewind reason.
        reason: Option<String>,
    },
    /// Queue an operation on an entity (creating the entity if needed), now or at
    /// `not_before`.
    EntityOperation {
        /// The entity id.
        target: String,
        /// The operation.
        operation: crate::entity::Operation,
        /// Deliver no earlier than this (a delayed signal).
        not_before: Option<DateTime<Utc>>,
    },
    /// Deliver an entity's reply to the calling orchestration's execution.
    EntityReply {
        /// The caller.
        instance: InstanceId,
        /// The caller's execution when it called.
        execution: ExecutionId,
        /// `entityOperationCompleted` or `entityOperationFailed`.
        event: HistoryEvent,
    },
    /// A critical section asks for its locks.
    LockRequest(crate::locks::LockRequest),
    /// A critical section releases one entity.
    Unlock {
        /// The entity.
        entity: String,
        /// The critical section releasing it.
        critical_section: String,
    },
    /// Start an orchestration on behalf of an entity: a terminal instance with the same id is
    /// replaced, a live one is left alone.
    StartOrchestration(NewInstance),
    /// Ask another instance to terminate.
    Terminate {
        /// The instance to terminate.
        target: InstanceId,
        /// Its output once terminated.
        reason: Option<String>,
        /// Whether its children go too.
        recurse: bool,
    },
}

/// An activity to run, tied to the execution that scheduled it.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityTask {
    /// The orchestration instance waiting for the result.
    pub instance: InstanceId,
    /// The execution that scheduled it; a result for another execution is dropped.
    pub execution: ExecutionId,
    /// The scheduleTask action id.
    pub task_id: i32,
    /// Activity name.
    pub name: String,
    /// Activity version, if the orchestrator gave one.
    pub version: Option<String>,
    /// Input payload.
    pub input: Option<String>,
    /// Trace context from the action.
    pub parent_trace_context: Option<TraceContext>,
    /// Tags from the action.
    pub tags: HashMap<String, String>,
}

impl ActivityTask {
    /// The work item body a worker receives.
    pub fn to_request(&self) -> ActivityRequest {
        ActivityRequest {
            name: self.name.clone(),
            version: self.version.clone(),
            input: self.input.clone(),
            orchestration_instance: Some(OrchestrationInstance {
                instance_id: self.instance.as_str().to_owned(),
                execution_id: Some(self.execution.as_str().to_owned()),
            }),
            task_id: self.task_id,
            parent_trace_context: self.parent_trace_context.clone(),
            tags: self.tags.clone(),
        }
    }

    /// The history event a worker's answer becomes. Failure is decided by the presence of
    /// failure details, not by a non-empty message: an exception with an empty message is
    /// still a failure.
    pub fn result_event(
        &self,
        result: Option<String>,
        failure: Option<TaskFailureDetails>,
        now: DateTime<Utc>,
    ) -> HistoryEvent {
        match failure {
            Some(details) => crate::events::task_failed(self.task_id, details, now),
            None => crate::events::task_completed(self.task_id, result, now),
        }
    }
}

/// A durable timer of one execution.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerTask {
    /// The instance to wake.
    pub instance: InstanceId,
    /// The execution that created it; a firing for another execution is dropped.
    pub execution: ExecutionId,
    /// The createTimer action id.
    pub timer_id: i32,
    /// The time exactly as the worker sent it, echoed in `timerFired.fireAt`.
    pub fire_at: prost_types::Timestamp,
}

impl TimerTask {
    /// When the timer is due.
    pub fn due(&self) -> DateTime<Utc> {
        from_timestamp(&self.fire_at)
    }

    /// The `timerFired` event, carrying the same `fireAt` the timer was created with.
    pub fn fired_event(&self, now: DateTime<Utc>) -> HistoryEvent {
        crate::events::timer_fired(self.timer_id, self.fire_at, now)
    }
}

/// The link from a child orchestration to the parent execution that created it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentLink {
    /// Parent instance.
    pub instance: InstanceId,
    /// Parent execution; results for an execution the parent has left are dropped.
    pub execution: ExecutionId,
    /// The createSubOrchestration action id in the parent.
    pub task_id: i32,
    /// Parent orchestrator name.
    pub name: String,
    /// Parent version.
    pub version: Option<String>,
}

impl ParentLink {
    /// The `parentInstance` of the child's `executionStarted`.
    pub fn to_wire(&self) -> ParentInstanceInfo {
        ParentInstanceInfo {
            task_scheduled_id: self.task_id,
            name: Some(self.name.clone()),
            version: self.version.clone(),
            orchestration_instance: Some(OrchestrationInstance {
                instance_id: self.instance.as_str().to_owned(),
                execution_id: Some(self.execution.as_str().to_owned()),
            }),
        }
    }
}

/// Everything needed to create an orchestration instance.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NewInstance {
    /// Instance id (never empty here; callers generate one first).
    pub id: String,
    /// Orchestrator name.
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// Input payload, verbatim.
    pub input: Option<String>,
    /// Tags.
    pub tags: HashMap<String, String>,
    /// The parent, for sub-orchestrations.
    pub parent: Option<ParentLink>,
    /// Trace context of the creator.
    pub parent_trace_context: Option<TraceContext>,
    /// Do not dispatch before this time.
    pub scheduled_start: Option<DateTime<Utc>>,
}

impl NewInstance {
    /// The `executionStarted` event that opens an execution of this instance.
    pub(crate) fn execution_started(
        &self,
        execution: &ExecutionId,
        now: DateTime<Utc>,
    ) -> HistoryEvent {
        crate::events::event(
            crate::events::NO_ACTION_ID,
            now,
            history_event::EventType::ExecutionStarted(ExecutionStartedEvent {
                name: self.name.clone(),
                version: self.version.clone(),
                input: self.input.clone(),
                orchestration_instance: Some(OrchestrationInstance {
                    instance_id: self.id.clone(),
                    execution_id: Some(execution.as_str().to_owned()),
                }),
                parent_instance: self.parent.as_ref().map(ParentLink::to_wire),
                scheduled_start_timestamp: self.scheduled_start.map(to_timestamp),
                parent_trace_context: self.parent_trace_context.clone(),
                orchestration_span_id: None,
                tags: self.tags.clone(),
            }),
        )
    }
}
