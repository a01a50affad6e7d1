//! The floor's canned work items: the three a hello orchestration needs, shaped like the ones a
//! real server sends (same events, ids and timestamps), each built from the one message that
//! causes it, since the floor remembers nothing.

use dt_proto::history_event::EventType;
use dt_proto::work_item::Request;
use dt_proto::{
    ActivityRequest, ActivityResponse, CreateInstanceRequest, ExecutionStartedEvent, HistoryEvent,
    OrchestrationInstance, OrchestratorCompletedEvent, OrchestratorRequest,
    OrchestratorStartedEvent, ScheduleTaskAction, TaskCompletedEvent, TaskScheduledEvent, WorkItem,
};
use prost_types::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// The execution id every canned item carries (as long as a real one).
const EXECUTION_ID: &str = "00000000000000000000000000000000";

/// The hello orchestration's activity, named in the history of its second turn.
const ACTIVITY: &str = "hello";

/// The first turn of a started instance: `executionStarted` as its new event.
pub(crate) fn first_turn(start: &CreateInstanceRequest) -> WorkItem {
    let request = OrchestratorRequest {
        instance_id: start.instance_id.clone(),
        execution_id: Some(EXECUTION_ID.to_owned()),
        new_events: vec![
            orchestrator_started(),
            execution_started(&start.instance_id, &start.name, start.input.clone()),
        ],
        ..Default::default()
    };
    item(Request::OrchestratorRequest(request), &start.instance_id, 0)
}

/// The activity an orchestrator turn scheduled as action `task_id`.
pub(crate) fn activity(instance_id: &str, task_id: i32, task: &ScheduleTaskAction) -> WorkItem {
    let request = ActivityRequest {
        name: task.name.clone(),
        input: task.input.clone(),
        orchestration_instance: Some(instance(instance_id)),
        task_id,
        ..Default::default()
    };
    item(Request::ActivityRequest(request), instance_id, 1)
}

/// The second turn, after the activity answered `result`: the first turn's history as its past
/// and the result as its new event.
pub(crate) fn second_turn(result: &ActivityResponse) -> WorkItem {
    let id = &result.instance_id;
    let request = OrchestratorRequest {
        instance_id: id.clone(),
        execution_id: Some(EXECUTION_ID.to_owned()),
        past_events: vec![
            orchestrator_started(),
            execution_started(id, ACTIVITY, None),
            event(
                result.task_id,
                EventType::TaskScheduled(TaskScheduledEvent {
                    name: ACTIVITY.to_owned(),
                    ..Default::default()
                }),
            ),
            event(
                -1,
                EventType::OrchestratorCompleted(OrchestratorCompletedEvent {}),
            ),
        ],
        new_events: vec![
            orchestrator_started(),
            event(
                -1,
                EventType::TaskCompleted(TaskCompletedEvent {
                    task_scheduled_id: result.task_id,
                    result: result.result.clone(),
                }),
            ),
        ],
        ..Default::default()
    };
    item(Request::OrchestratorRequest(request), id, 2)
}

fn item(request: Request, instance_id: &str, step: u8) -> WorkItem {
    WorkItem {
        request: Some(request),
        completion_token: format!("{instance_id}/{step}"),
    }
}

fn instance(id: &str) -> OrchestrationInstance {
    OrchestrationInstance {
        instance_id: id.to_owned(),
        execution_id: Some(EXECUTION_ID.to_owned()),
    }
}

fn execution_started(id: &str, name: &str, input: Option<String>) -> HistoryEvent {
    event(
        -1,
        EventType::ExecutionStarted(ExecutionStartedEvent {
            name: name.to_owned(),
            input,
            orchestration_instance: Some(instance(id)),
            ..Default::default()
        }),
    )
}

fn orchestrator_started() -> HistoryEvent {
    event(
        -1,
        EventType::OrchestratorStarted(OrchestratorStartedEvent::default()),
    )
}

fn event(event_id: i32, event_type: EventType) -> HistoryEvent {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    HistoryEvent {
        event_id,
        timestamp: Some(Timestamp {
            seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
        }),
        event_type: Some(event_type),
    }
}
