//! Shared builders for the dt-core integration tests: fixed times, instances, worker
//! responses (the wire `OrchestratorResponse` a worker would send), one-call turns
//! (`dispatch` + `TurnResponse::try_from` + `complete_turn`) and a few canned scenarios.
//!
//! Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use dt_core::proto::history_event::EventType;
use dt_core::proto::orchestrator_action::OrchestratorActionType as Wire;
use dt_core::proto::*;
use dt_core::{
    Dispatch, Effect, ExecutionId, Instance, NewInstance, ParentLink, TurnContext, TurnResponse,
};
use std::collections::HashMap;

/// The result type of fallible test functions.
pub(crate) type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Epoch seconds of `t(0)`, the creation time of every test instance.
pub(crate) const T0: i64 = 1_700_000_000;

/// The orchestrator name of test instances.
pub(crate) const ORCH: &str = "MyOrchestrator";

/// A fixed time `secs` seconds after `T0`.
pub(crate) fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap_or_default()
}

/// `t(secs)` as a protobuf timestamp.
pub(crate) fn ts(secs: i64) -> prost_types::Timestamp {
    dt_core::to_timestamp(t(secs))
}

/// The creation spec of a plain top-level test instance.
pub(crate) fn spec(id: &str) -> NewInstance {
    NewInstance {
        id: id.to_owned(),
        name: ORCH.to_owned(),
        version: Some("1.0".to_owned()),
        input: Some("\"in\"".to_owned()),
        tags: HashMap::from([("team".to_owned(), "core".to_owned())]),
        ..Default::default()
    }
}

/// A link to parent `p` (execution `pe1`) that created the child with action `task_id`.
pub(crate) fn parent_link(task_id: i32) -> ParentLink {
    ParentLink {
        instance: "p".into(),
        execution: ExecutionId::new("pe1"),
        task_id,
        name: "ParentOrch".to_owned(),
        version: Some("2.0".to_owned()),
    }
}

/// A fresh `Pending` instance `id`, execution `e1`, created at `t(0)`.
pub(crate) fn new_instance(id: &str) -> Instance {
    Instance::new(spec(id), ExecutionId::new("e1"), t(0))
}

/// A fresh child instance `id` of [`parent_link`]`(task_id)`.
pub(crate) fn new_child(id: &str, task_id: i32) -> Instance {
    let spec = NewInstance {
        parent: Some(parent_link(task_id)),
        ..spec(id)
    };
    Instance::new(spec, ExecutionId::new("e1"), t(0))
}

/// A turn context at `t(now)`; a continue-as-new gets execution `e2`; a roomy history cap.
pub(crate) fn ctx(now: i64) -> TurnContext {
    TurnContext {
        now: t(now),
        next_execution_id: ExecutionId::new("e2"),
        max_history_size: 10_000,
    }
}

fn action(id: i32, kind: Wire) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(kind),
    }
}

/// `scheduleTask` of activity `name` with `input`.
pub(crate) fn schedule_task(id: i32, name: &str, input: Option<&str>) -> OrchestratorAction {
    action(
        id,
        Wire::ScheduleTask(ScheduleTaskAction {
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        }),
    )
}

/// `createTimer` firing at `t(fire_at)`.
pub(crate) fn create_timer(id: i32, fire_at: i64) -> OrchestratorAction {
    action(
        id,
        Wire::CreateTimer(CreateTimerAction {
            fire_at: Some(ts(fire_at)),
        }),
    )
}

/// `createSubOrchestration` of orchestrator `name`; an empty `instance_id` asks for the default.
pub(crate) fn sub_orchestration(
    id: i32,
    instance_id: &str,
    name: &str,
    input: Option<&str>,
) -> OrchestratorAction {
    action(
        id,
        Wire::CreateSubOrchestration(CreateSubOrchestrationAction {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        }),
    )
}

/// `sendEvent` of `name`/`data` to instance `target`.
pub(crate) fn send_event(
    id: i32,
    target: &str,
    name: &str,
    data: Option<&str>,
) -> OrchestratorAction {
    action(
        id,
        Wire::SendEvent(SendEventAction {
            instance: Some(OrchestrationInstance {
                instance_id: target.to_owned(),
                execution_id: None,
            }),
            name: name.to_owned(),
            data: data.map(str::to_owned),
        }),
    )
}

/// `terminateOrchestration` of `target`.
pub(crate) fn terminate_action(
    id: i32,
    target: &str,
    reason: Option<&str>,
    recurse: bool,
) -> OrchestratorAction {
    action(
        id,
        Wire::TerminateOrchestration(TerminateOrchestrationAction {
            instance_id: target.to_owned(),
            reason: reason.map(str::to_owned),
            recurse,
        }),
    )
}

/// `completeOrchestration` with any wire status and result.
pub(crate) fn complete_with(
    id: i32,
    status: OrchestrationStatus,
    result: Option<&str>,
) -> OrchestratorAction {
    action(
        id,
        Wire::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: status as i32,
            result: result.map(str::to_owned),
            ..Default::default()
        }),
    )
}

/// `completeOrchestration` COMPLETED with `result`.
pub(crate) fn complete(id: i32, result: Option<&str>) -> OrchestratorAction {
    complete_with(id, OrchestrationStatus::Completed, result)
}

/// `completeOrchestration` FAILED with `details` (kept verbatim by the server).
pub(crate) fn fail(id: i32, details: Option<TaskFailureDetails>) -> OrchestratorAction {
    action(
        id,
        Wire::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::Failed as i32,
            failure_details: details,
            ..Default::default()
        }),
    )
}

/// `completeOrchestration` CONTINUED_AS_NEW with the next input, version and carryover events.
pub(crate) fn continue_as_new(
    id: i32,
    input: Option<&str>,
    new_version: Option<&str>,
    carryover: Vec<HistoryEvent>,
) -> OrchestratorAction {
    action(
        id,
        Wire::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::ContinuedAsNew as i32,
            result: input.map(str::to_owned),
            new_version: new_version.map(str::to_owned),
            carryover_events: carryover,
            ..Default::default()
        }),
    )
}

/// Failure details with an inner failure, to check they travel verbatim.
pub(crate) fn failure_details(message: &str) -> TaskFailureDetails {
    TaskFailureDetails {
        error_type: "ValueError".to_owned(),
        error_message: message.to_owned(),
        stack_trace: Some("at line 1".to_owned()),
        inner_failure: Some(Box::new(TaskFailureDetails {
            error_type: "KeyError".to_owned(),
            error_message: "inner".to_owned(),
            ..Default::default()
        })),
        is_non_retriable: true,
        ..Default::default()
    }
}

/// The wire response a worker sends with `actions`.
pub(crate) fn response(actions: Vec<OrchestratorAction>) -> OrchestratorResponse {
    OrchestratorResponse {
        instance_id: String::new(),
        actions,
        ..Default::default()
    }
}

/// The validated turn for `actions`.
pub(crate) fn turn(actions: Vec<OrchestratorAction>) -> TestResult<TurnResponse> {
    Ok(TurnResponse::try_from(response(actions))?)
}

/// Dispatches at `t(now)`, failing when the instance is not dispatchable.
pub(crate) fn dispatch(inst: &mut Instance, now: i64) -> TestResult<OrchestratorRequest> {
    inst.dispatch(t(now))
        .map(Dispatch::into_request)
        .ok_or_else(|| format!("instance {} is not dispatchable: {inst:?}", inst.id).into())
}

/// One whole work item: dispatch at `t(now)`, answer with `actions`, commit at `t(now)`.
pub(crate) fn run_turn(
    inst: &mut Instance,
    now: i64,
    actions: Vec<OrchestratorAction>,
) -> TestResult<(OrchestratorRequest, Vec<Effect>)> {
    run_turn_with(inst, &ctx(now), turn(actions)?)
}

/// One whole work item with an explicit context and validated response.
pub(crate) fn run_turn_with(
    inst: &mut Instance,
    ctx: &TurnContext,
    response: TurnResponse,
) -> TestResult<(OrchestratorRequest, Vec<Effect>)> {
    let work = dispatch(inst, ctx.now.timestamp() - T0)?;
    let effects = inst.complete_turn(response, ctx)?;
    Ok((work, effects))
}

/// A short name for an event's type, for readable layout assertions.
pub(crate) fn kind(e: &HistoryEvent) -> &'static str {
    match &e.event_type {
        Some(EventType::OrchestratorStarted(_)) => "OS",
        Some(EventType::ExecutionStarted(_)) => "ES",
        Some(EventType::OrchestratorCompleted(_)) => "OC",
        Some(EventType::ExecutionCompleted(_)) => "EC",
        Some(EventType::TaskScheduled(_)) => "taskScheduled",
        Some(EventType::TaskCompleted(_)) => "taskCompleted",
        Some(EventType::TaskFailed(_)) => "taskFailed",
        Some(EventType::TimerCreated(_)) => "timerCreated",
        Some(EventType::TimerFired(_)) => "timerFired",
        Some(EventType::SubOrchestrationInstanceCreated(_)) => "subOrchCreated",
        Some(EventType::SubOrchestrationInstanceCompleted(_)) => "subOrchCompleted",
        Some(EventType::SubOrchestrationInstanceFailed(_)) => "subOrchFailed",
        Some(EventType::EventSent(_)) => "eventSent",
        Some(EventType::EventRaised(_)) => "eventRaised",
        Some(EventType::ExecutionSuspended(_)) => "suspended",
        Some(EventType::ExecutionResumed(_)) => "resumed",
        Some(EventType::ExecutionTerminated(_)) => "terminated",
        Some(EventType::ExecutionRewound(_)) => "rewound",
        Some(_) => "other",
        None => "none",
    }
}

/// The short kinds of `events`, in order.
pub(crate) fn kinds<'a>(events: impl IntoIterator<Item = &'a HistoryEvent>) -> Vec<&'static str> {
    events.into_iter().map(kind).collect()
}

/// The `(kind, eventId)` pairs of `events`.
pub(crate) fn kinds_ids<'a>(
    events: impl IntoIterator<Item = &'a HistoryEvent>,
) -> Vec<(&'static str, i32)> {
    events.into_iter().map(|e| (kind(e), e.event_id)).collect()
}

/// The `executionStarted` payload of an event, if it is one.
pub(crate) fn as_started(e: &HistoryEvent) -> Option<&ExecutionStartedEvent> {
    match &e.event_type {
        Some(EventType::ExecutionStarted(es)) => Some(es),
        _ => None,
    }
}

/// The `executionCompleted` payload of an event, if it is one.
pub(crate) fn as_completed(e: &HistoryEvent) -> Option<&ExecutionCompletedEvent> {
    match &e.event_type {
        Some(EventType::ExecutionCompleted(ec)) => Some(ec),
        _ => None,
    }
}

/// The name of an `eventRaised`, if it is one.
pub(crate) fn raised_name(e: &HistoryEvent) -> Option<&str> {
    match &e.event_type {
        Some(EventType::EventRaised(r)) => Some(&r.name),
        _ => None,
    }
}

/// The activity task of the `index`-th `ScheduleActivity` effect.
pub(crate) fn activity(effects: &[Effect], index: usize) -> TestResult<dt_core::ActivityTask> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ScheduleActivity(a) => Some(a.clone()),
            _ => None,
        })
        .nth(index)
        .ok_or_else(|| format!("no ScheduleActivity #{index} in {effects:?}").into())
}

/// The timer task of the `index`-th `CreateTimer` effect.
pub(crate) fn timer(effects: &[Effect], index: usize) -> TestResult<dt_core::TimerTask> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::CreateTimer(t) => Some(t.clone()),
            _ => None,
        })
        .nth(index)
        .ok_or_else(|| format!("no CreateTimer #{index} in {effects:?}").into())
}

/// What a canned scenario leaves behind.
pub(crate) struct Scenario {
    /// The instance after the last step.
    pub(crate) instance: Instance,
    /// Every work item sent, in order.
    pub(crate) dispatches: Vec<OrchestratorRequest>,
    /// The effects of each committed turn, in order.
    pub(crate) effects: Vec<Vec<Effect>>,
}

/// §2.6: start → `scheduleTask#1 "Greet"` at t(1) → the activity answers `"hi"` at t(2) →
/// `completeOrchestration#2 COMPLETED "done"` at t(3).
pub(crate) fn one_activity_then_complete() -> TestResult<Scenario> {
    let mut inst = new_instance("i1");
    let (w1, e1) = run_turn(&mut inst, 1, vec![schedule_task(1, "Greet", Some("\"x\""))])?;
    let task = activity(&e1, 0)?;
    let result = task.result_event(Some("\"hi\"".to_owned()), None, t(2));
    inst.deliver_result(&task.execution, result, t(2));
    let (w2, e2) = run_turn(&mut inst, 3, vec![complete(2, Some("\"done\""))])?;
    Ok(Scenario {
        instance: inst,
        dispatches: vec![w1, w2],
        effects: vec![e1, e2],
    })
}

/// A running instance `i1` whose first turn at t(1) scheduled activity #1 (still pending).
pub(crate) fn running_with_one_activity() -> TestResult<(Instance, dt_core::ActivityTask)> {
    let mut inst = new_instance("i1");
    let (_, effects) = run_turn(&mut inst, 1, vec![schedule_task(1, "Greet", None)])?;
    let task = activity(&effects, 0)?;
    Ok((inst, task))
}

/// A running instance `i1` whose first turn at t(1) created timer #1 due at `t(fire_at)`.
pub(crate) fn running_with_timer(fire_at: i64) -> TestResult<(Instance, dt_core::TimerTask)> {
    let mut inst = new_instance("i1");
    let (_, effects) = run_turn(&mut inst, 1, vec![create_timer(1, fire_at)])?;
    let task = timer(&effects, 0)?;
    Ok((inst, task))
}

/// A running instance `i1` whose first turn at t(1) did nothing but start.
pub(crate) fn running_idle() -> TestResult<Instance> {
    let mut inst = new_instance("i1");
    run_turn(&mut inst, 1, vec![])?;
    Ok(inst)
}
