//! Constructors for the history events the server writes, each stamped with a real time.

use crate::time::to_timestamp;
use chrono::{DateTime, Utc};
use dt_proto::history_event::EventType;
use dt_proto::*;

/// The id of events that confirm no action (results, external events, framing events).
pub(crate) const NO_ACTION_ID: i32 = -1;

pub(crate) fn event(event_id: i32, now: DateTime<Utc>, event_type: EventType) -> HistoryEvent {
    HistoryEvent {
        event_id,
        timestamp: Some(to_timestamp(now)),
        event_type: Some(event_type),
    }
}

/// An event that confirms no action (eventId -1), stamped `now`.
pub fn event_of(now: DateTime<Utc>, event_type: EventType) -> HistoryEvent {
    event(NO_ACTION_ID, now, event_type)
}

pub(crate) fn orchestrator_started(now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::OrchestratorStarted(OrchestratorStartedEvent::default()),
    )
}

pub(crate) fn orchestrator_completed(now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::OrchestratorCompleted(OrchestratorCompletedEvent {}),
    )
}

/// An external event as a client or another orchestration raises it.
pub fn event_raised(name: String, input: Option<String>, now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::EventRaised(EventRaisedEvent { name, input }),
    )
}

/// The result of an activity that succeeded.
pub fn task_completed(task_id: i32, result: Option<String>, now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::TaskCompleted(TaskCompletedEvent {
            task_scheduled_id: task_id,
            result,
        }),
    )
}

/// The result of an activity that failed.
pub fn task_failed(task_id: i32, details: TaskFailureDetails, now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::TaskFailed(TaskFailedEvent {
            task_scheduled_id: task_id,
            failure_details: Some(details),
        }),
    )
}

/// A timer reaching its time; `fire_at` is the time the timer was created with.
pub fn timer_fired(
    timer_id: i32,
    fire_at: prost_types::Timestamp,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::TimerFired(TimerFiredEvent {
            fire_at: Some(fire_at),
            timer_id,
        }),
    )
}

/// A child orchestration that completed, for its parent.
pub fn sub_orchestration_completed(
    task_id: i32,
    result: Option<String>,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::SubOrchestrationInstanceCompleted(SubOrchestrationInstanceCompletedEvent {
            task_scheduled_id: task_id,
            result,
        }),
    )
}

/// A child orchestration that failed or was terminated (or could not start), for its parent.
pub fn sub_orchestration_failed(
    task_id: i32,
    details: TaskFailureDetails,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::SubOrchestrationInstanceFailed(SubOrchestrationInstanceFailedEvent {
            task_scheduled_id: task_id,
            failure_details: Some(details),
        }),
    )
}

pub(crate) fn execution_terminated(
    reason: Option<String>,
    recurse: bool,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::ExecutionTerminated(ExecutionTerminatedEvent {
            input: reason,
            recurse,
        }),
    )
}

pub(crate) fn execution_rewound(
    reason: Option<String>,
    parent_execution_id: Option<String>,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::ExecutionRewound(ExecutionRewoundEvent {
            reason,
            parent_execution_id,
            ..Default::default()
        }),
    )
}

pub(crate) fn execution_suspended(reason: Option<String>, now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::ExecutionSuspended(ExecutionSuspendedEvent { input: reason }),
    )
}

pub(crate) fn execution_resumed(reason: Option<String>, now: DateTime<Utc>) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::ExecutionResumed(ExecutionResumedEvent { input: reason }),
    )
}

pub(crate) fn execution_completed(
    status: OrchestrationStatus,
    result: Option<String>,
    failure_details: Option<TaskFailureDetails>,
    now: DateTime<Utc>,
) -> HistoryEvent {
    event(
        NO_ACTION_ID,
        now,
        EventType::ExecutionCompleted(ExecutionCompletedEvent {
            orchestration_status: status as i32,
            result,
            failure_details,
        }),
    )
}

/// Which kind of history event this is, for the decisions the core makes about events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `executionStarted`.
    ExecutionStarted,
    /// A result of work an execution scheduled: activity, timer, child, entity reply.
    Result,
    /// An event raised by a client or another orchestration.
    EventRaised,
    /// `executionSuspended`.
    Suspended,
    /// `executionResumed`.
    Resumed,
    /// `executionTerminated`.
    Terminated,
    /// `executionRewound`.
    Rewound,
    /// Anything else.
    Other,
}

impl EventKind {
    /// Classifies an event; an event with no type is `Other`.
    pub fn of(event: &HistoryEvent) -> Self {
        match &event.event_type {
            Some(EventType::ExecutionStarted(_)) => Self::ExecutionStarted,
            Some(
                EventType::TaskCompleted(_)
                | EventType::TaskFailed(_)
                | EventType::TimerFired(_)
                | EventType::SubOrchestrationInstanceCompleted(_)
                | EventType::SubOrchestrationInstanceFailed(_)
                | EventType::EntityOperationCompleted(_)
                | EventType::EntityOperationFailed(_)
                | EventType::EntityLockGranted(_),
            ) => Self::Result,
            Some(EventType::EventRaised(_)) => Self::EventRaised,
            Some(EventType::ExecutionSuspended(_)) => Self::Suspended,
            Some(EventType::ExecutionResumed(_)) => Self::Resumed,
            Some(EventType::ExecutionTerminated(_)) => Self::Terminated,
            Some(EventType::ExecutionRewound(_)) => Self::Rewound,
            _ => Self::Other,
        }
    }
}
