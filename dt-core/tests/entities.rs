//! Example tests of durable entities in the pure core (protocol.md §4): `Entity::dispatch`
//! (every queued operation in one batch, in order, in the V2 and V1 wire shapes; one batch in
//! flight; a locked entity runs only its holder's operations), `Entity::complete` (state,
//! replies for calls only, results shorter than the batch, whole-batch failure, too many
//! results, `sendSignal` / `startNewOrchestration` actions, deleted and falsy states), and the
//! orchestration side of `sendEntityMessage` through `Instance::complete_turn` (call, signal,
//! lock and unlock confirmations and effects; targets that are not entity ids).
//! Table-driven tests name the failing row.

mod support;

use dt_core::proto::history_event::EventType;
use dt_core::proto::operation_action::OperationActionType;
use dt_core::proto::operation_result::ResultType;
use dt_core::proto::orchestrator_action::OrchestratorActionType as Wire;
use dt_core::proto::send_entity_message_action::EntityMessageType as Msg;
use dt_core::proto::*;
use dt_core::{
    CoreError, Effect, Entity, EntityBatch, EntityOutcome, EntityWorkItemFormat, ExecutionId,
    InstanceId, LockRequest, NewInstance, Operation, TurnResponse, events,
};
use support::*;

const ENTITY: &str = "@counter@k1";

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

/// A client signal (no sender).
fn signal(request_id: &str, operation: &str, input: Option<&str>) -> Operation {
    Operation::signal(
        ENTITY,
        request_id.to_owned(),
        operation.to_owned(),
        input.map(str::to_owned),
        None,
        t(0),
    )
}

/// A signal sent by orchestration `sender`.
fn signal_from(sender: &str, request_id: &str, operation: &str) -> Operation {
    Operation::signal(
        ENTITY,
        request_id.to_owned(),
        operation.to_owned(),
        None,
        Some(InstanceId::new(sender)),
        t(0),
    )
}

/// A call from orchestration `caller`, execution `execution`.
fn call(caller: &str, execution: &str, request_id: &str, operation: &str) -> Operation {
    let event = events::event_of(
        t(0),
        EventType::EntityOperationCalled(EntityOperationCalledEvent {
            request_id: request_id.to_owned(),
            operation: operation.to_owned(),
            scheduled_time: None,
            input: Some(format!("\"{operation}-in\"")),
            parent_instance_id: Some(caller.to_owned()),
            parent_execution_id: Some(execution.to_owned()),
            target_instance_id: Some(ENTITY.to_owned()),
        }),
    );
    Operation {
        event,
        request_id: request_id.to_owned(),
        sender: Some(InstanceId::new(caller)),
        reply_to: Some((InstanceId::new(caller), ExecutionId::new(execution))),
    }
}

/// An entity with `state` and `ops` queued, created at `t(0)`.
fn entity_with(state: Option<&str>, ops: Vec<Operation>) -> Entity {
    let mut entity = Entity::new(ENTITY, t(0));
    entity.state = state.map(str::to_owned);
    for op in ops {
        entity.enqueue(op);
    }
    entity
}

fn success(result: Option<&str>) -> OperationResult {
    OperationResult {
        result_type: Some(ResultType::Success(OperationResultSuccess {
            result: result.map(str::to_owned),
            start_time_utc: Some(ts(1)),
            end_time_utc: Some(ts(2)),
        })),
    }
}

fn failure(details: TaskFailureDetails) -> OperationResult {
    OperationResult {
        result_type: Some(ResultType::Failure(OperationResultFailure {
            failure_details: Some(details),
            start_time_utc: None,
            end_time_utc: None,
        })),
    }
}

fn batch_result(results: Vec<OperationResult>, state: Option<&str>) -> EntityBatchResult {
    EntityBatchResult {
        results,
        entity_state: state.map(str::to_owned),
        ..Default::default()
    }
}

/// An id generator yielding `id-1`, `id-2`, …
fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("id-{n}")
    }
}

/// Dispatches in V2 with no lock holder, failing if nothing is dispatched.
fn dispatch(entity: &mut Entity) -> TestResult<EntityRequest> {
    match entity.dispatch(None, EntityWorkItemFormat::V2) {
        Some(EntityBatch::V2(request)) => Ok(request),
        other => Err(format!("expected a V2 batch, got {other:?}").into()),
    }
}

/// Completes the batch in flight at `t(now)` and returns the committed effects.
fn commit(entity: &mut Entity, result: EntityBatchResult, now: i64) -> TestResult<Vec<Effect>> {
    match entity.complete(result, t(now), &mut ids())? {
        EntityOutcome::Committed(effects) => Ok(effects),
        EntityOutcome::Retry => Err("the batch was not committed".into()),
    }
}

fn request_ids<'a>(ops: impl IntoIterator<Item = &'a Operation>) -> Vec<&'a str> {
    ops.into_iter().map(|op| op.request_id.as_str()).collect()
}

/// The request id of an `entityOperationSignaled`/`Called` event.
fn event_request_id(event: &HistoryEvent) -> &str {
    match &event.event_type {
        Some(EventType::EntityOperationSignaled(s)) => &s.request_id,
        Some(EventType::EntityOperationCalled(c)) => &c.request_id,
        _ => "",
    }
}

/// `(caller, execution, request id, completed?)` of every reply effect, in order.
fn replies(effects: &[Effect]) -> Vec<(String, String, String, bool)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::EntityReply {
                instance,
                execution,
                event,
            } => {
                let (request_id, completed) = match &event.event_type {
                    Some(EventType::EntityOperationCompleted(c)) => (c.request_id.clone(), true),
                    Some(EventType::EntityOperationFailed(f)) => (f.request_id.clone(), false),
                    _ => (String::new(), false),
                };
                Some((
                    instance.to_string(),
                    execution.to_string(),
                    request_id,
                    completed,
                ))
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

#[test]
fn dispatch_takes_every_queued_operation_in_order_in_both_wire_shapes() -> TestResult {
    let ops = vec![
        signal("r1", "add", Some("1")),
        call("o1", "e1", "r2", "get"),
        signal("r3", "reset", None),
    ];
    for format in [EntityWorkItemFormat::V2, EntityWorkItemFormat::V1] {
        let mut entity = entity_with(Some("5"), ops.clone());
        let batch = entity.dispatch(None, format);
        match (format, batch) {
            (EntityWorkItemFormat::V2, Some(EntityBatch::V2(request))) => {
                assert_eq!(request.instance_id, ENTITY);
                assert_eq!(request.entity_state.as_deref(), Some("5"));
                let expected: Vec<HistoryEvent> = ops.iter().map(|op| op.event.clone()).collect();
                assert_eq!(request.operation_requests, expected, "V2 operation events");
            }
            (EntityWorkItemFormat::V1, Some(EntityBatch::V1(request))) => {
                assert_eq!(request.instance_id, ENTITY);
                assert_eq!(request.entity_state.as_deref(), Some("5"));
                let got: Vec<(&str, &str, Option<&str>)> = request
                    .operations
                    .iter()
                    .map(|o| {
                        (
                            o.request_id.as_str(),
                            o.operation.as_str(),
                            o.input.as_deref(),
                        )
                    })
                    .collect();
                assert_eq!(
                    got,
                    [
                        ("r1", "add", Some("1")),
                        ("r2", "get", Some("\"get-in\"")),
                        ("r3", "reset", None)
                    ],
                    "V1 operation requests"
                );
            }
            (format, other) => panic!("{format:?}: unexpected batch {other:?}"),
        }
        assert!(entity.queue.is_empty(), "{format:?}: queue drained");
        let in_flight = entity.in_flight.as_ref().ok_or("nothing in flight")?;
        assert_eq!(request_ids(in_flight), ["r1", "r2", "r3"], "{format:?}");
    }
    Ok(())
}

#[test]
fn an_entity_with_nothing_queued_is_not_dispatched() {
    let mut entity = entity_with(Some("1"), vec![]);
    assert!(!entity.is_dispatchable(None));
    assert_eq!(entity.dispatch(None, EntityWorkItemFormat::V2), None);
    assert_eq!(entity.in_flight, None);
}

#[test]
fn only_one_batch_is_in_flight() -> TestResult {
    let mut entity = entity_with(None, vec![signal("r1", "a", None)]);
    let first = dispatch(&mut entity)?;
    assert_eq!(first.operation_requests.len(), 1);
    entity.enqueue(signal("r2", "b", None));
    entity.enqueue(signal("r3", "c", None));
    assert!(!entity.is_dispatchable(None));
    assert_eq!(entity.dispatch(None, EntityWorkItemFormat::V2), None);
    assert_eq!(entity.dispatch(None, EntityWorkItemFormat::V1), None);
    assert_eq!(request_ids(&entity.queue), ["r2", "r3"], "queue untouched");

    commit(&mut entity, batch_result(vec![success(None)], Some("1")), 1)?;
    let second = dispatch(&mut entity)?;
    let ids: Vec<&str> = second
        .operation_requests
        .iter()
        .map(event_request_id)
        .collect();
    assert_eq!(ids, ["r2", "r3"]);
    assert_eq!(
        second.entity_state.as_deref(),
        Some("1"),
        "the committed state"
    );
    Ok(())
}

#[test]
fn a_locked_entity_runs_only_its_holders_operations() -> TestResult {
    let queue = || {
        vec![
            signal("s1", "client", None),
            signal_from("o1", "a1", "mine"),
            signal_from("o2", "b1", "theirs"),
            call("o1", "e1", "a2", "mine-call"),
            call("o2", "e2", "b2", "theirs-call"),
            signal("s2", "client", None),
        ]
    };
    // (holder, batch taken, queue left)
    type Row<'a> = (Option<&'a str>, Option<&'a [&'a str]>, &'a [&'a str]);
    let rows: [Row; 4] = [
        (None, Some(&["s1", "a1", "b1", "a2", "b2", "s2"]), &[]),
        (Some("o1"), Some(&["a1", "a2"]), &["s1", "b1", "b2", "s2"]),
        (Some("o2"), Some(&["b1", "b2"]), &["s1", "a1", "a2", "s2"]),
        (Some("o3"), None, &["s1", "a1", "b1", "a2", "b2", "s2"]),
    ];
    for (holder, taken, left) in rows {
        let holder = holder.map(InstanceId::new);
        let mut entity = entity_with(None, queue());
        assert_eq!(
            entity.is_dispatchable(holder.as_ref()),
            taken.is_some(),
            "holder {holder:?}: dispatchable"
        );
        let batch = entity.dispatch(holder.as_ref(), EntityWorkItemFormat::V2);
        match (taken, batch) {
            (None, None) => {}
            (Some(taken), Some(EntityBatch::V2(request))) => {
                let ids: Vec<&str> = request
                    .operation_requests
                    .iter()
                    .map(event_request_id)
                    .collect();
                assert_eq!(ids, taken, "holder {holder:?}: batch");
            }
            (taken, batch) => panic!("holder {holder:?}: expected {taken:?}, got {batch:?}"),
        }
        assert_eq!(
            request_ids(&entity.queue),
            left,
            "holder {holder:?}: queue left, in order"
        );
    }
    Ok(())
}

#[test]
fn abandon_puts_the_batch_back_in_front_in_order() -> TestResult {
    let mut entity = entity_with(None, vec![signal("r1", "a", None), signal("r2", "b", None)]);
    dispatch(&mut entity)?;
    entity.enqueue(signal("r3", "c", None));
    entity.abandon();
    assert_eq!(entity.in_flight, None);
    assert_eq!(request_ids(&entity.queue), ["r1", "r2", "r3"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Completing a batch
// ---------------------------------------------------------------------------------------------

#[test]
fn complete_commits_the_state_and_replies_to_calls_only() -> TestResult {
    let mut entity = entity_with(
        Some("0"),
        vec![
            signal("s1", "add", Some("1")),
            call("o1", "e1", "c1", "get"),
            call("o2", "e7", "c2", "boom"),
            call("o3", "e3", "c3", "nothing"),
            signal("s2", "fail", None),
        ],
    );
    dispatch(&mut entity)?;
    let details = failure_details("it broke");
    let result = batch_result(
        vec![
            success(Some("ignored")),
            success(Some("\"out\"")),
            failure(details.clone()),
            success(None),
            failure(failure_details("signal failed")),
        ],
        Some("42"),
    );
    let effects = commit(&mut entity, result, 9)?;
    assert_eq!(entity.state.as_deref(), Some("42"));
    assert_eq!(entity.last_modified, t(9));
    assert_eq!(entity.in_flight, None);
    assert!(entity.queue.is_empty());
    assert_eq!(
        effects.len(),
        3,
        "one reply per call, none per signal: {effects:?}"
    );
    let expected = [
        (
            "o1",
            "e1",
            EventType::EntityOperationCompleted(EntityOperationCompletedEvent {
                request_id: "c1".to_owned(),
                output: Some("\"out\"".to_owned()),
            }),
        ),
        (
            "o2",
            "e7",
            EventType::EntityOperationFailed(EntityOperationFailedEvent {
                request_id: "c2".to_owned(),
                failure_details: Some(details),
            }),
        ),
        (
            "o3",
            "e3",
            EventType::EntityOperationCompleted(EntityOperationCompletedEvent {
                request_id: "c3".to_owned(),
                output: None,
            }),
        ),
    ];
    for (effect, (instance, execution, event_type)) in effects.iter().zip(expected) {
        assert_eq!(
            effect,
            &Effect::EntityReply {
                instance: InstanceId::new(instance),
                execution: ExecutionId::new(execution),
                event: HistoryEvent {
                    event_id: -1,
                    timestamp: Some(ts(9)),
                    event_type: Some(event_type),
                },
            }
        );
    }
    Ok(())
}

#[test]
fn results_shorter_than_the_batch_requeue_the_unexecuted_tail_in_front() -> TestResult {
    let batch = || {
        vec![
            call("o1", "e1", "c1", "a"),
            signal("s2", "b", None),
            call("o1", "e1", "c3", "c"),
            signal("s4", "d", None),
        ]
    };
    // (results given, request ids that get replies, queue afterwards)
    let rows: [(usize, &[&str], &[&str]); 5] = [
        (0, &[], &["c1", "s2", "c3", "s4", "late"]),
        (1, &["c1"], &["s2", "c3", "s4", "late"]),
        (2, &["c1"], &["c3", "s4", "late"]),
        (3, &["c1", "c3"], &["s4", "late"]),
        (4, &["c1", "c3"], &["late"]),
    ];
    for (given, replied, left) in rows {
        let mut entity = entity_with(Some("old"), batch());
        dispatch(&mut entity)?;
        entity.enqueue(signal("late", "e", None));
        let results = (0..given).map(|_| success(Some("1"))).collect();
        let effects = commit(&mut entity, batch_result(results, Some("new")), 3)?;
        let got: Vec<String> = replies(&effects).into_iter().map(|r| r.2).collect();
        assert_eq!(got, replied, "{given} results: replies");
        assert_eq!(request_ids(&entity.queue), left, "{given} results: queue");
        assert_eq!(entity.in_flight, None, "{given} results");
        assert_eq!(entity.state.as_deref(), Some("new"), "{given} results");
    }
    Ok(())
}

#[test]
fn a_failed_batch_is_retried_with_nothing_committed() -> TestResult {
    let mut entity = entity_with(
        Some("1"),
        vec![signal("s1", "a", None), call("o1", "e1", "c2", "b")],
    );
    dispatch(&mut entity)?;
    entity.enqueue(signal("s3", "c", None));
    let result = EntityBatchResult {
        results: vec![success(Some("x"))],
        actions: vec![OperationAction {
            id: 0,
            operation_action_type: Some(OperationActionType::SendSignal(SendSignalAction {
                instance_id: "@other@k".to_owned(),
                name: "op".to_owned(),
                ..Default::default()
            })),
        }],
        entity_state: Some("999".to_owned()),
        failure_details: Some(failure_details("framework error")),
        ..Default::default()
    };
    let outcome = entity.complete(result, t(5), &mut ids())?;
    assert_eq!(outcome, EntityOutcome::Retry);
    assert_eq!(entity.state.as_deref(), Some("1"), "state unchanged");
    assert_eq!(entity.last_modified, t(0), "not modified");
    assert_eq!(entity.in_flight, None);
    assert_eq!(
        request_ids(&entity.queue),
        ["s1", "c2", "s3"],
        "batch back in front, in order"
    );
    Ok(())
}

#[test]
fn more_results_than_operations_is_refused_and_changes_nothing() -> TestResult {
    let mut entity = entity_with(
        Some("1"),
        vec![signal("s1", "a", None), signal("s2", "b", None)],
    );
    dispatch(&mut entity)?;
    entity.enqueue(signal("s3", "c", None));
    let before = entity.clone();
    for failed in [false, true] {
        let mut result = batch_result(vec![success(None), success(None), success(None)], Some("2"));
        if failed {
            result.failure_details = Some(failure_details("x"));
        }
        let err = entity.complete(result, t(1), &mut ids());
        assert!(
            matches!(err, Err(CoreError::InvalidArgument(_))),
            "batch failure {failed}: {err:?}"
        );
        assert_eq!(entity, before, "batch failure {failed}: nothing changed");
    }
    Ok(())
}

#[test]
fn complete_without_a_batch_in_flight_is_refused() {
    let mut entity = entity_with(Some("1"), vec![signal("s1", "a", None)]);
    let before = entity.clone();
    let err = entity.complete(batch_result(vec![], Some("2")), t(1), &mut ids());
    assert_eq!(err, Err(CoreError::NoWorkInFlight(ENTITY.to_owned())));
    assert_eq!(entity, before);
}

#[test]
fn absent_state_deletes_it_and_falsy_states_are_kept() -> TestResult {
    let rows: [(&str, Option<&str>); 5] = [
        ("absent deletes", None),
        ("zero", Some("0")),
        ("false", Some("false")),
        ("empty string JSON", Some("\"\"")),
        ("null JSON", Some("null")),
    ];
    for (row, state) in rows {
        let mut entity = entity_with(Some("7"), vec![signal("s1", "a", None)]);
        dispatch(&mut entity)?;
        let effects = commit(&mut entity, batch_result(vec![success(None)], state), 2)?;
        assert!(effects.is_empty(), "{row}: {effects:?}");
        assert_eq!(entity.state.as_deref(), state, "{row}");
        assert_eq!(entity.last_modified, t(2), "{row}");
        assert_eq!(entity.is_empty(), state.is_none(), "{row}: is_empty");
    }
    Ok(())
}

fn send_signal(target: &str, name: &str, input: Option<&str>, at: Option<i64>) -> OperationAction {
    OperationAction {
        id: 0,
        operation_action_type: Some(OperationActionType::SendSignal(SendSignalAction {
            instance_id: target.to_owned(),
            name: name.to_owned(),
            input: input.map(str::to_owned),
            scheduled_time: at.map(ts),
            request_time: Some(ts(0)),
            parent_trace_context: None,
        })),
    }
}

fn start_new(id: &str, at: Option<i64>) -> OperationAction {
    OperationAction {
        id: 0,
        operation_action_type: Some(OperationActionType::StartNewOrchestration(
            StartNewOrchestrationAction {
                instance_id: id.to_owned(),
                name: "Job".to_owned(),
                version: Some("2".to_owned()),
                input: Some("\"job-in\"".to_owned()),
                scheduled_time: at.map(ts),
                request_time: None,
                parent_trace_context: None,
            },
        )),
    }
}

/// The effect a `sendSignal` at `t(now)` should produce.
fn expected_signal(
    target: &str,
    request_id: &str,
    name: &str,
    input: Option<&str>,
    now: i64,
    not_before: Option<i64>,
) -> Effect {
    Effect::EntityOperation {
        target: target.to_owned(),
        operation: Operation {
            event: HistoryEvent {
                event_id: -1,
                timestamp: Some(ts(now)),
                event_type: Some(EventType::EntityOperationSignaled(
                    EntityOperationSignaledEvent {
                        request_id: request_id.to_owned(),
                        operation: name.to_owned(),
                        scheduled_time: not_before.map(ts),
                        input: input.map(str::to_owned),
                        target_instance_id: Some(target.to_owned()),
                    },
                )),
            },
            request_id: request_id.to_owned(),
            sender: None,
            reply_to: None,
        },
        not_before: not_before.map(t),
    }
}

fn expected_start(id: &str, scheduled_start: Option<i64>) -> Effect {
    Effect::StartOrchestration(NewInstance {
        id: id.to_owned(),
        name: "Job".to_owned(),
        version: Some("2".to_owned()),
        input: Some("\"job-in\"".to_owned()),
        scheduled_start: scheduled_start.map(t),
        ..Default::default()
    })
}

#[test]
fn actions_become_signals_and_orchestration_starts() -> TestResult {
    let now = 10;
    let rows: [(&str, Vec<OperationAction>, Vec<Effect>); 6] = [
        (
            "signal now",
            vec![send_signal("@other@k", "ping", Some("\"x\""), None)],
            vec![expected_signal(
                "@other@k",
                "id-1",
                "ping",
                Some("\"x\""),
                now,
                None,
            )],
        ),
        (
            "signal in the future",
            vec![send_signal(ENTITY, "tick", None, Some(now + 30))],
            vec![expected_signal(
                ENTITY,
                "id-1",
                "tick",
                None,
                now,
                Some(now + 30),
            )],
        ),
        (
            "signal in the past is due now",
            vec![send_signal("@other@k", "late", None, Some(now - 5))],
            vec![expected_signal("@other@k", "id-1", "late", None, now, None)],
        ),
        (
            "each signal gets a new request id",
            vec![
                send_signal("@a@1", "x", None, None),
                send_signal("@b@1", "y", None, None),
            ],
            vec![
                expected_signal("@a@1", "id-1", "x", None, now, None),
                expected_signal("@b@1", "id-2", "y", None, now, None),
            ],
        ),
        (
            "start with a generated id",
            vec![start_new("", None)],
            vec![expected_start("id-1", None)],
        ),
        (
            "start with a fixed id, scheduled",
            vec![start_new("job-7", Some(now + 60))],
            vec![expected_start("job-7", Some(now + 60))],
        ),
    ];
    for (row, actions, expected) in rows {
        let mut entity = entity_with(None, vec![signal("s1", "a", None)]);
        dispatch(&mut entity)?;
        let result = EntityBatchResult {
            results: vec![success(None)],
            actions,
            entity_state: Some("1".to_owned()),
            ..Default::default()
        };
        let effects = commit(&mut entity, result, now)?;
        assert_eq!(effects, expected, "{row}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Orchestration → entity messages
// ---------------------------------------------------------------------------------------------

fn entity_message(id: i32, message: Msg) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(Wire::SendEntityMessage(SendEntityMessageAction {
            entity_message_type: Some(message),
        })),
    }
}

fn call_message(target: &str, parent_execution: Option<&str>) -> EntityOperationCalledEvent {
    EntityOperationCalledEvent {
        request_id: "req-1".to_owned(),
        operation: "get".to_owned(),
        scheduled_time: None,
        input: Some("\"in\"".to_owned()),
        parent_instance_id: Some("i1".to_owned()),
        parent_execution_id: parent_execution.map(str::to_owned),
        target_instance_id: Some(target.to_owned()),
    }
}

fn signal_message(target: &str, at: Option<i64>) -> EntityOperationSignaledEvent {
    EntityOperationSignaledEvent {
        request_id: "req-2".to_owned(),
        operation: "add".to_owned(),
        scheduled_time: at.map(ts),
        input: Some("3".to_owned()),
        target_instance_id: Some(target.to_owned()),
    }
}

/// A running instance `i1` (execution `e1`) with an external event waiting, so it can take a
/// turn.
fn woken() -> TestResult<dt_core::Instance> {
    let mut inst = running_idle()?;
    inst.deliver(events::event_raised("go".to_owned(), None, t(1)), t(1));
    Ok(inst)
}

/// The confirmation the turn left in history for action `id`.
fn confirmation(inst: &dt_core::Instance, id: i32) -> TestResult<HistoryEvent> {
    inst.history
        .iter()
        .find(|e| {
            e.event_id == id
                && matches!(
                    e.event_type,
                    Some(
                        EventType::EntityOperationCalled(_)
                            | EventType::EntityOperationSignaled(_)
                            | EventType::EntityLockRequested(_)
                            | EventType::EntityUnlockSent(_)
                    )
                )
        })
        .cloned()
        .ok_or_else(|| format!("no confirmation with eventId {id} in {:?}", inst.history).into())
}

#[test]
fn a_call_is_confirmed_and_queued_with_the_reply_going_to_the_caller() -> TestResult {
    // Python leaves parentExecutionId out; a given one is kept.
    for (given, expected_execution) in [(None, "e1"), (Some("e1"), "e1")] {
        let mut inst = woken()?;
        let (_, effects) = run_turn(
            &mut inst,
            2,
            vec![entity_message(
                4,
                Msg::EntityOperationCalled(call_message(ENTITY, given)),
            )],
        )?;
        let filled = EntityOperationCalledEvent {
            parent_execution_id: Some(expected_execution.to_owned()),
            ..call_message(ENTITY, given)
        };
        let confirmed = confirmation(&inst, 4)?;
        assert_eq!(
            confirmed,
            HistoryEvent {
                event_id: 4,
                timestamp: Some(ts(2)),
                event_type: Some(EventType::EntityOperationCalled(filled.clone())),
            },
            "given {given:?}: the confirmation copies the message"
        );
        assert_eq!(
            effects,
            [Effect::EntityOperation {
                target: ENTITY.to_owned(),
                operation: Operation {
                    event: HistoryEvent {
                        event_id: -1,
                        timestamp: Some(ts(2)),
                        event_type: Some(EventType::EntityOperationCalled(filled)),
                    },
                    request_id: "req-1".to_owned(),
                    sender: Some(InstanceId::new("i1")),
                    reply_to: Some((InstanceId::new("i1"), ExecutionId::new("e1"))),
                },
                not_before: None,
            }],
            "given {given:?}"
        );
    }
    Ok(())
}

#[test]
fn a_signal_is_confirmed_and_queued_now_or_at_its_time() -> TestResult {
    // (scheduled time, not_before)
    let rows: [(Option<i64>, Option<i64>); 3] =
        [(None, None), (Some(1), None), (Some(100), Some(100))];
    for (at, not_before) in rows {
        let mut inst = woken()?;
        let message = signal_message("@counter@k2", at);
        let (_, effects) = run_turn(
            &mut inst,
            2,
            vec![entity_message(
                1,
                Msg::EntityOperationSignaled(message.clone()),
            )],
        )?;
        assert_eq!(
            confirmation(&inst, 1)?.event_type,
            Some(EventType::EntityOperationSignaled(message.clone())),
            "at {at:?}: confirmation"
        );
        let [
            Effect::EntityOperation {
                target,
                operation,
                not_before: got,
            },
        ] = effects.as_slice()
        else {
            panic!("at {at:?}: expected one EntityOperation, got {effects:?}")
        };
        assert_eq!(target, "@counter@k2", "at {at:?}");
        assert_eq!(*got, not_before.map(t), "at {at:?}: not_before");
        assert_eq!(operation.request_id, "req-2", "at {at:?}");
        assert_eq!(operation.sender, Some(InstanceId::new("i1")), "at {at:?}");
        assert_eq!(operation.reply_to, None, "at {at:?}: signals get no reply");
        assert_eq!(
            operation.event.event_type,
            Some(EventType::EntityOperationSignaled(message)),
            "at {at:?}"
        );
    }
    Ok(())
}

#[test]
fn lock_and_unlock_messages_become_lock_effects() -> TestResult {
    let mut inst = woken()?;
    let lock = EntityLockRequestedEvent {
        critical_section_id: "cs-1".to_owned(),
        lock_set: vec!["@a@1".to_owned(), "@b@1".to_owned()],
        position: 0,
        parent_instance_id: Some("i1".to_owned()),
    };
    let (_, effects) = run_turn(
        &mut inst,
        2,
        vec![entity_message(1, Msg::EntityLockRequested(lock.clone()))],
    )?;
    assert_eq!(
        confirmation(&inst, 1)?.event_type,
        Some(EventType::EntityLockRequested(lock))
    );
    assert_eq!(
        effects,
        [Effect::LockRequest(LockRequest {
            critical_section: "cs-1".to_owned(),
            instance: InstanceId::new("i1"),
            execution: ExecutionId::new("e1"),
            entities: vec!["@a@1".to_owned(), "@b@1".to_owned()],
        })]
    );

    let unlock = |target: &str| EntityUnlockSentEvent {
        critical_section_id: "cs-1".to_owned(),
        parent_instance_id: Some("i1".to_owned()),
        target_instance_id: Some(target.to_owned()),
    };
    inst.deliver(
        events::event_of(
            t(3),
            EventType::EntityLockGranted(EntityLockGrantedEvent {
                critical_section_id: "cs-1".to_owned(),
            }),
        ),
        t(3),
    );
    let (_, effects) = run_turn(
        &mut inst,
        4,
        vec![
            entity_message(2, Msg::EntityUnlockSent(unlock("@a@1"))),
            entity_message(3, Msg::EntityUnlockSent(unlock("@b@1"))),
        ],
    )?;
    assert_eq!(
        confirmation(&inst, 3)?.event_type,
        Some(EventType::EntityUnlockSent(unlock("@b@1")))
    );
    assert_eq!(
        effects,
        [
            Effect::Unlock {
                entity: "@a@1".to_owned(),
                critical_section: "cs-1".to_owned(),
            },
            Effect::Unlock {
                entity: "@b@1".to_owned(),
                critical_section: "cs-1".to_owned(),
            },
        ]
    );
    Ok(())
}

#[test]
fn a_message_to_something_that_is_not_an_entity_is_refused() {
    let lock = |set: &[&str], cs: &str| {
        Msg::EntityLockRequested(EntityLockRequestedEvent {
            critical_section_id: cs.to_owned(),
            lock_set: set.iter().map(|s| (*s).to_owned()).collect(),
            position: 0,
            parent_instance_id: Some("i1".to_owned()),
        })
    };
    let unlock = |target: Option<&str>| {
        Msg::EntityUnlockSent(EntityUnlockSentEvent {
            critical_section_id: "cs".to_owned(),
            parent_instance_id: None,
            target_instance_id: target.map(str::to_owned),
        })
    };
    let rows: Vec<(&str, Msg)> = vec![
        (
            "signal to @x",
            Msg::EntityOperationSignaled(signal_message("@x", None)),
        ),
        (
            "signal to plain",
            Msg::EntityOperationSignaled(signal_message("plain", None)),
        ),
        (
            "signal to an empty name",
            Msg::EntityOperationSignaled(signal_message("@@k", None)),
        ),
        (
            "signal without target",
            Msg::EntityOperationSignaled(EntityOperationSignaledEvent {
                target_instance_id: None,
                ..signal_message("@c@1", None)
            }),
        ),
        (
            "call to plain",
            Msg::EntityOperationCalled(call_message("plain", None)),
        ),
        (
            "call to @x",
            Msg::EntityOperationCalled(call_message("@x", None)),
        ),
        ("lock of nothing", lock(&[], "cs")),
        ("lock of plain", lock(&["plain"], "cs")),
        ("lock of @x", lock(&["@x"], "cs")),
        ("lock without a critical section", lock(&["@c@1"], "")),
        ("unlock of plain", unlock(Some("plain"))),
        ("unlock without target", unlock(None)),
    ];
    for (row, message) in rows {
        let result = TurnResponse::try_from(response(vec![entity_message(6, message)]));
        assert!(
            matches!(result, Err(CoreError::MalformedAction { action_id: 6, .. })),
            "{row}: {result:?}"
        );
    }
}

/// Every member of a lock set is a lock target, not only the first: a set like
/// `["@c@1", "plain"]` must be refused like `["plain"]`. Documents a validation gap: only the
/// first member is checked (dt-core/src/action.rs, `EntityMessage::target` returns
/// `lock_set.first()` and `Action::try_from` validates just that one).
#[test]
fn a_lock_set_with_a_later_member_that_is_not_an_entity_is_refused() {
    for set in [vec!["@c@1", "plain"], vec!["@c@1", "@x"]] {
        let message = Msg::EntityLockRequested(EntityLockRequestedEvent {
            critical_section_id: "cs".to_owned(),
            lock_set: set.iter().map(|s| (*s).to_owned()).collect(),
            position: 0,
            parent_instance_id: Some("i1".to_owned()),
        });
        let result = TurnResponse::try_from(response(vec![entity_message(6, message)]));
        assert!(
            matches!(result, Err(CoreError::MalformedAction { action_id: 6, .. })),
            "lock set {set:?}: {result:?}"
        );
    }
}
