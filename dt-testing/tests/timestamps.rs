//! Every timestamp a client or worker sends is checked against protobuf Timestamp's range
//! (0001-01-01 to 9999-12-31, nanos in 0..1e9): out of range is INVALID_ARGUMENT and changes
//! nothing, like any other malformed field; the extremes themselves are accepted.

mod common;

use common::*;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use prost_types::Timestamp;
use tonic::Code;

/// The latest instant protobuf allows: 9999-12-31T23:59:59.999999999Z.
const LATEST: Timestamp = Timestamp {
    seconds: 253_402_300_799,
    nanos: 999_999_999,
};
/// The earliest: 0001-01-01T00:00:00Z.
const EARLIEST: Timestamp = Timestamp {
    seconds: -62_135_596_800,
    nanos: 0,
};

fn out_of_range() -> Vec<(&'static str, Timestamp)> {
    vec![
        (
            "a second after year 9999",
            Timestamp {
                seconds: LATEST.seconds + 1,
                nanos: 0,
            },
        ),
        (
            "a second before year 1",
            Timestamp {
                seconds: EARLIEST.seconds - 1,
                nanos: 0,
            },
        ),
        (
            "negative nanos",
            Timestamp {
                seconds: 0,
                nanos: -1,
            },
        ),
        (
            "nanos of a whole second",
            Timestamp {
                seconds: 4_000_000_000,
                nanos: 1_000_000_000,
            },
        ),
    ]
}

fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn start_request(id: &str) -> CreateInstanceRequest {
    CreateInstanceRequest {
        instance_id: id.to_owned(),
        name: "o".to_owned(),
        ..Default::default()
    }
}

/// The code of each client RPC carrying `ts` in each of its timestamp fields.
async fn client_codes(c: &mut Client, ts: Timestamp) -> Vec<(&'static str, Code)> {
    let t = Some(ts);
    let mut codes = Vec::new();
    let start = CreateInstanceRequest {
        scheduled_start_timestamp: t,
        ..start_request("ts-scheduled")
    };
    codes.push((
        "scheduledStartTimestamp",
        code(c.start_instance(start).await),
    ));
    let start = CreateInstanceRequest {
        request_time: t,
        ..start_request("ts-request-time")
    };
    codes.push((
        "StartInstance requestTime",
        code(c.start_instance(start).await),
    ));
    let signal = |scheduled, requested| SignalEntityRequest {
        instance_id: "@e@ts".to_owned(),
        name: "op".to_owned(),
        scheduled_time: scheduled,
        request_time: requested,
        ..Default::default()
    };
    codes.push((
        "signal scheduledTime",
        code(c.signal_entity(signal(t, None)).await),
    ));
    codes.push((
        "signal requestTime",
        code(c.signal_entity(signal(None, t)).await),
    ));
    for (field, query) in [
        (
            "query createdTimeFrom",
            InstanceQuery {
                created_time_from: t,
                ..Default::default()
            },
        ),
        (
            "query createdTimeTo",
            InstanceQuery {
                created_time_to: t,
                ..Default::default()
            },
        ),
    ] {
        let request = QueryInstancesRequest { query: Some(query) };
        codes.push((field, code(c.query_instances(request).await)));
    }
    for (field, request) in [
        (
            "list completedTimeFrom",
            ListInstanceIdsRequest {
                completed_time_from: t,
                ..Default::default()
            },
        ),
        (
            "list completedTimeTo",
            ListInstanceIdsRequest {
                completed_time_to: t,
                ..Default::default()
            },
        ),
    ] {
        codes.push((field, code(c.list_instance_ids(request).await)));
    }
    for (field, filter) in [
        (
            "purge createdTimeFrom",
            PurgeInstanceFilter {
                created_time_from: t,
                ..Default::default()
            },
        ),
        (
            "purge createdTimeTo",
            PurgeInstanceFilter {
                created_time_to: t,
                ..Default::default()
            },
        ),
    ] {
        let request = PurgeInstancesRequest {
            request: Some(purge_instances_request::Request::PurgeInstanceFilter(
                filter,
            )),
            ..Default::default()
        };
        codes.push((field, code(c.purge_instances(request).await)));
    }
    for (field, query) in [
        (
            "entities lastModifiedFrom",
            EntityQuery {
                last_modified_from: t,
                ..Default::default()
            },
        ),
        (
            "entities lastModifiedTo",
            EntityQuery {
                last_modified_to: t,
                ..Default::default()
            },
        ),
    ] {
        let request = QueryEntitiesRequest { query: Some(query) };
        codes.push((field, code(c.query_entities(request).await)));
    }
    codes
}

#[tokio::test]
async fn client_timestamps_out_of_range_are_invalid_argument() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    for (why, ts) in out_of_range() {
        for (field, got) in client_codes(&mut c, ts).await {
            assert_eq!(got, Code::InvalidArgument, "{field} {why}");
        }
        for id in ["ts-scheduled", "ts-request-time"] {
            let got = c
                .get_instance(GetInstanceRequest {
                    instance_id: id.to_owned(),
                    get_inputs_and_outputs: false,
                })
                .await?
                .into_inner();
            assert!(
                !got.exists,
                "a refused StartInstance ({why}) created '{id}'"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn client_timestamps_at_the_ends_of_the_range_are_accepted() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    for (end, ts) in [("latest", LATEST), ("earliest", EARLIEST)] {
        for (field, got) in client_codes(&mut c, ts).await {
            assert_eq!(got, Code::Ok, "{field} at the {end} instant");
        }
        backend.reset().await;
    }
    Ok(())
}

#[tokio::test]
async fn worker_actions_with_timestamps_out_of_range_are_invalid_argument() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    for (i, (why, ts)) in out_of_range().into_iter().enumerate() {
        let signal = EntityOperationSignaledEvent {
            request_id: "r".to_owned(),
            operation: "op".to_owned(),
            scheduled_time: Some(ts),
            target_instance_id: Some("@e@ts".to_owned()),
            ..Default::default()
        };
        let actions = [
            (
                "createTimer fireAt",
                OrchestratorActionType::CreateTimer(CreateTimerAction { fire_at: Some(ts) }),
            ),
            (
                "signal scheduledTime",
                OrchestratorActionType::SendEntityMessage(SendEntityMessageAction {
                    entity_message_type: Some(
                        send_entity_message_action::EntityMessageType::EntityOperationSignaled(
                            signal,
                        ),
                    ),
                }),
            ),
        ];
        for (j, (field, action)) in actions.into_iter().enumerate() {
            let id = format!("ts-worker-{i}-{j}");
            start(&mut c, &id, "o").await?;
            let (_, token) = w.next_orchestration().await?;
            let got =
                complete_orchestration(&mut c, &id, &token, vec![self::action(1, action)]).await;
            assert_eq!(code(got), Code::InvalidArgument, "{field} {why}");
            let failed = state(&mut c, &id).await?;
            assert_eq!(
                status(&failed)?,
                OrchestrationStatus::Failed,
                "{field} {why}"
            );
        }
    }
    Ok(())
}

/// An event at `ts`, or carrying `ts` inside it (`nested`).
fn event_at(ts: Timestamp, nested: bool) -> HistoryEvent {
    use history_event::EventType;
    let (timestamp, inner) = if nested {
        (None, Some(ts))
    } else {
        (Some(ts), None)
    };
    HistoryEvent {
        event_id: -1,
        timestamp,
        event_type: Some(EventType::ExecutionStarted(ExecutionStartedEvent {
            name: "o".to_owned(),
            scheduled_start_timestamp: inner,
            ..Default::default()
        })),
    }
}

/// The rest of a worker's answer: the trace context's span start, carry-over events and a
/// rewind's new history (each event's own timestamp and the one inside it), a call's
/// scheduledTime.
fn answers_carrying(ts: Timestamp) -> Vec<(&'static str, OrchestratorResponse)> {
    let answer = |action| OrchestratorResponse {
        actions: vec![self::action(1, action)],
        ..Default::default()
    };
    let carry = |nested| {
        answer(OrchestratorActionType::CompleteOrchestration(
            CompleteOrchestrationAction {
                orchestration_status: OrchestrationStatus::ContinuedAsNew as i32,
                carryover_events: vec![event_at(ts, nested)],
                ..Default::default()
            },
        ))
    };
    let rewind = |nested| {
        answer(OrchestratorActionType::RewindOrchestration(
            RewindOrchestrationAction {
                new_history: vec![event_at(ts, nested)],
            },
        ))
    };
    let call = EntityOperationCalledEvent {
        request_id: "r".to_owned(),
        operation: "op".to_owned(),
        scheduled_time: Some(ts),
        target_instance_id: Some("@e@ts".to_owned()),
        ..Default::default()
    };
    vec![
        (
            "orchestrationTraceContext spanStartTime",
            OrchestratorResponse {
                orchestration_trace_context: Some(OrchestrationTraceContext {
                    span_id: Some("s".to_owned()),
                    span_start_time: Some(ts),
                }),
                ..Default::default()
            },
        ),
        ("carryoverEvents timestamp", carry(false)),
        (
            "carryoverEvents executionStarted.scheduledStartTimestamp",
            carry(true),
        ),
        ("newHistory timestamp", rewind(false)),
        (
            "newHistory executionStarted.scheduledStartTimestamp",
            rewind(true),
        ),
        (
            "call scheduledTime",
            answer(OrchestratorActionType::SendEntityMessage(
                SendEntityMessageAction {
                    entity_message_type: Some(
                        send_entity_message_action::EntityMessageType::EntityOperationCalled(call),
                    ),
                },
            )),
        ),
    ]
}

#[tokio::test]
async fn worker_answers_with_timestamps_out_of_range_are_invalid_argument() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    for (i, (why, ts)) in out_of_range().into_iter().enumerate() {
        for (j, (field, response)) in answers_carrying(ts).into_iter().enumerate() {
            let id = format!("ts-answer-{i}-{j}");
            start(&mut c, &id, "o").await?;
            let (_, token) = w.next_orchestration().await?;
            let got = c
                .complete_orchestrator_task(OrchestratorResponse {
                    instance_id: id.clone(),
                    completion_token: token,
                    ..response
                })
                .await;
            assert_eq!(code(got), Code::InvalidArgument, "{field} {why}");
            let failed = state(&mut c, &id).await?;
            assert_eq!(
                status(&failed)?,
                OrchestrationStatus::Failed,
                "{field} {why}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn entity_results_with_timestamps_out_of_range_are_invalid_argument() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    c.signal_entity(SignalEntityRequest {
        instance_id: "@e@results".to_owned(),
        name: "op".to_owned(),
        ..Default::default()
    })
    .await?;
    let item = w.next().await?;
    let Some(Item::EntityRequestV2(_)) = item.request else {
        return Err(format!("expected an entity batch, got {item:?}").into());
    };
    let token = item.completion_token;
    let ok = |start_time_utc| OperationResult {
        result_type: Some(operation_result::ResultType::Success(
            OperationResultSuccess {
                result: None,
                start_time_utc,
                end_time_utc: None,
            },
        )),
    };
    let signal = |scheduled_time| OperationAction {
        id: 0,
        operation_action_type: Some(operation_action::OperationActionType::SendSignal(
            SendSignalAction {
                instance_id: "@e@other".to_owned(),
                name: "op".to_owned(),
                scheduled_time,
                ..Default::default()
            },
        )),
    };
    let failed = |start_time_utc, end_time_utc| OperationResult {
        result_type: Some(operation_result::ResultType::Failure(
            OperationResultFailure {
                failure_details: None,
                start_time_utc,
                end_time_utc,
            },
        )),
    };
    let signal_at = |request_time| OperationAction {
        id: 0,
        operation_action_type: Some(operation_action::OperationActionType::SendSignal(
            SendSignalAction {
                instance_id: "@e@other".to_owned(),
                name: "op".to_owned(),
                request_time,
                ..Default::default()
            },
        )),
    };
    let start_new = |scheduled_time, request_time| OperationAction {
        id: 0,
        operation_action_type: Some(
            operation_action::OperationActionType::StartNewOrchestration(
                StartNewOrchestrationAction {
                    instance_id: "ts-from-entity".to_owned(),
                    name: "o".to_owned(),
                    scheduled_time,
                    request_time,
                    ..Default::default()
                },
            ),
        ),
    };
    let batch = |result, actions| EntityBatchResult {
        results: vec![result],
        actions,
        completion_token: token.clone(),
        ..Default::default()
    };
    for (why, ts) in out_of_range() {
        let success_end = OperationResult {
            result_type: Some(operation_result::ResultType::Success(
                OperationResultSuccess {
                    result: None,
                    start_time_utc: None,
                    end_time_utc: Some(ts),
                },
            )),
        };
        for (field, result) in [
            ("success startTimeUtc", batch(ok(Some(ts)), vec![])),
            ("success endTimeUtc", batch(success_end, vec![])),
            (
                "failure startTimeUtc",
                batch(failed(Some(ts), None), vec![]),
            ),
            ("failure endTimeUtc", batch(failed(None, Some(ts)), vec![])),
            (
                "sendSignal scheduledTime",
                batch(ok(None), vec![signal(Some(ts))]),
            ),
            (
                "sendSignal requestTime",
                batch(ok(None), vec![signal_at(Some(ts))]),
            ),
            (
                "startNewOrchestration scheduledTime",
                batch(ok(None), vec![start_new(Some(ts), None)]),
            ),
            (
                "startNewOrchestration requestTime",
                batch(ok(None), vec![start_new(None, Some(ts))]),
            ),
        ] {
            let got = c.complete_entity_task(result).await;
            assert_eq!(code(got), Code::InvalidArgument, "{field} {why}");
        }
    }
    let fine = EntityBatchResult {
        results: vec![ok(None)],
        entity_state: Some("1".to_owned()),
        completion_token: token,
        ..Default::default()
    };
    c.complete_entity_task(fine).await?;
    let entity = c
        .get_entity(GetEntityRequest {
            instance_id: "@e@results".to_owned(),
            include_state: true,
        })
        .await?
        .into_inner();
    assert_eq!(
        entity.entity.and_then(|e| e.serialized_state).as_deref(),
        Some("1"),
        "the batch stayed leased after the refused answers and committed the valid one"
    );
    Ok(())
}
