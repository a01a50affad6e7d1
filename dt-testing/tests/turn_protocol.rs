//! Protocol features no Python SDK path reaches: history streaming for workers that advertise
//! it, chunked (`isPartial`) answers, `numEventsProcessed`, abandon backoff, and rewind as the
//! raw exchange of `executionRewound` and `rewindOrchestration`.

mod common;

use common::*;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::*;
use dt_store::StoreConfig;
use std::time::Duration;
use tokio::time::Instant;

fn schedule_action(id: i32) -> OrchestratorAction {
    schedule(id, "act", "null")
}

async fn answer(worker: &mut Worker, response: OrchestratorResponse) -> Result<(), tonic::Status> {
    worker
        .client
        .complete_orchestrator_task(response)
        .await
        .map(drop)
}

fn response(id: &str, token: &str, actions: Vec<OrchestratorAction>) -> OrchestratorResponse {
    OrchestratorResponse {
        instance_id: id.to_owned(),
        completion_token: token.to_owned(),
        actions,
        ..Default::default()
    }
}

#[tokio::test]
async fn streaming_worker_fetches_past_events_with_stream_instance_history() -> TestResult {
    let backend = backend_with(
        StoreConfig {
            history_streaming_threshold: 0,
            ..Default::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut worker_client = connect(&backend).await?;
    let stream = worker_client
        .get_work_items(GetWorkItemsRequest {
            capabilities: vec![WorkerCapability::HistoryStreaming as i32],
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut worker = Worker {
        client: worker_client,
        stream,
    };
    start(&mut c, "streamed", "o").await?;
    let (first, token) = worker.next_orchestration().await?;
    assert!(
        !first.requires_history_streaming,
        "nothing to stream before the first turn"
    );
    worker
        .complete("streamed", &token, vec![schedule_action(1)])
        .await?;
    let (activity, token) = worker.next_activity().await?;
    worker.complete_activity(&activity, &token, "1").await?;

    let (second, token) = worker.next_orchestration().await?;
    assert!(second.requires_history_streaming);
    assert!(
        second.past_events.is_empty(),
        "past events sent inline: {:?}",
        kinds(&second.past_events)
    );
    assert_eq!(
        kinds(&second.new_events),
        ["OrchestratorStarted", "TaskCompleted"]
    );
    let mut chunks = c
        .stream_instance_history(StreamInstanceHistoryRequest {
            instance_id: "streamed".into(),
            execution_id: second.execution_id.clone(),
            for_work_item_processing: true,
        })
        .await?
        .into_inner();
    let mut past = Vec::new();
    while let Some(chunk) = chunks.message().await? {
        past.extend(chunk.events);
    }
    assert_eq!(
        kinds(&past),
        [
            "OrchestratorStarted",
            "ExecutionStarted",
            "TaskScheduled",
            "OrchestratorCompleted"
        ]
    );
    worker
        .complete("streamed", &token, vec![complete(2, "\"ok\"")])
        .await?;
    assert_eq!(
        status(&wait_completed(&mut c, "streamed").await?)?,
        OrchestrationStatus::Completed
    );
    Ok(())
}

#[tokio::test]
async fn worker_without_the_capability_always_gets_inline_history() -> TestResult {
    let backend = backend_with(
        StoreConfig {
            history_streaming_threshold: 0,
            ..Default::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "inline", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    worker
        .complete("inline", &token, vec![schedule_action(1)])
        .await?;
    let (activity, token) = worker.next_activity().await?;
    worker.complete_activity(&activity, &token, "1").await?;
    let (second, _) = worker.next_orchestration().await?;
    assert!(!second.requires_history_streaming);
    assert_eq!(
        second.past_events.len(),
        4,
        "{:?}",
        kinds(&second.past_events)
    );
    Ok(())
}

#[tokio::test]
#[allow(deprecated)] // isPartial / chunkIndex: deprecated on the wire, still sent by .NET workers
async fn chunked_answer_is_applied_once_after_the_last_chunk() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "chunked", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    let chunk =
        |index: i32, partial: bool, actions: Vec<OrchestratorAction>| OrchestratorResponse {
            is_partial: partial,
            chunk_index: Some(index),
            ..response("chunked", &token, actions)
        };
    answer(&mut worker, chunk(0, true, vec![schedule_action(1)])).await?;
    // A retried chunk (same index) must not schedule the activity twice.
    answer(&mut worker, chunk(0, true, vec![schedule_action(1)])).await?;
    answer(&mut worker, chunk(1, true, vec![schedule_action(2)])).await?;
    worker.expect_nothing(QUIET).await?;
    assert!(
        history(&mut c, "chunked").await?.is_empty(),
        "partial chunks were committed"
    );
    answer(&mut worker, chunk(2, false, vec![])).await?;

    let mut task_ids = Vec::new();
    for _ in 0..2 {
        let (activity, _) = worker.next_activity().await?;
        task_ids.push(activity.task_id);
    }
    task_ids.sort_unstable();
    assert_eq!(task_ids, [1, 2]);
    worker.expect_nothing(QUIET).await?;
    let committed = history(&mut c, "chunked").await?;
    assert_eq!(
        count(&committed, "TaskScheduled"),
        2,
        "{:?}",
        kinds(&committed)
    );
    assert_eq!(count(&committed, "OrchestratorCompleted"), 1);
    Ok(())
}

#[tokio::test]
async fn unprocessed_events_are_sent_again() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "partial", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    // Raised while the first work item is in flight, so both ride in the next one.
    raise(&mut c, "partial", "first").await?;
    raise(&mut c, "partial", "second").await?;
    worker.complete("partial", &token, vec![]).await?;
    let (item, token) = worker.next_orchestration().await?;
    assert_eq!(
        kinds(&item.new_events),
        ["OrchestratorStarted", "EventRaised", "EventRaised"]
    );
    // The worker processed the framing event and the first event only.
    answer(
        &mut worker,
        OrchestratorResponse {
            num_events_processed: Some(2),
            ..response("partial", &token, vec![])
        },
    )
    .await?;
    let (again, _) = worker.next_orchestration().await?;
    assert_eq!(
        kinds(&again.new_events),
        ["OrchestratorStarted", "EventRaised"]
    );
    let names: Vec<_> = again
        .new_events
        .iter()
        .chain(&again.past_events)
        .filter_map(|e| match &e.event_type {
            Some(history_event::EventType::EventRaised(r)) => Some(r.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        ["second", "first"],
        "new then past; each event exactly once"
    );
    Ok(())
}

#[tokio::test]
async fn repeated_abandons_back_off() -> TestResult {
    let delay = Duration::from_millis(100);
    let backend = backend_with(
        StoreConfig {
            abandon_delay: delay,
            ..Default::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "rejected", "o").await?;
    let mut token = worker.next_orchestration().await?.1;
    // Each further abandon in a row waits twice as long: 100, 200, 400 ms.
    for attempt in 0..3u32 {
        let abandoned_at = Instant::now();
        worker
            .client
            .abandon_task_orchestrator_work_item(AbandonOrchestrationTaskRequest {
                completion_token: token.clone(),
            })
            .await?;
        let item = worker
            .next_within(Duration::from_secs(5))
            .await?
            .ok_or("not redelivered")?;
        let waited = abandoned_at.elapsed();
        assert!(
            waited >= delay * 2u32.pow(attempt),
            "attempt {attempt}: redelivered after {waited:?}"
        );
        token = item.completion_token;
    }
    Ok(())
}

#[tokio::test]
async fn rewind_exchanges_executionrewound_for_the_rewritten_history() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "rw", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    worker
        .complete(
            "rw",
            &token,
            vec![finish(1, OrchestrationStatus::Failed, "\"boom\"")],
        )
        .await?;
    let failed = wait_completed(&mut c, "rw").await?;
    let old_execution = failed.execution_id.clone();

    c.rewind_instance(RewindInstanceRequest {
        instance_id: "rw".into(),
        reason: Some("try again".into()),
    })
    .await?;
    assert_eq!(
        status(&state(&mut c, "rw").await?)?,
        OrchestrationStatus::Running
    );
    let (item, token) = worker.next_orchestration().await?;
    assert_eq!(
        kinds(&item.new_events),
        ["OrchestratorStarted", "ExecutionRewound"]
    );
    assert_eq!(count(&item.past_events, "ExecutionCompleted"), 1);

    // What the SDK sends back: the history without its end, a fresh execution id in the ES.
    let mut new_history: Vec<HistoryEvent> = item
        .past_events
        .iter()
        .chain(&item.new_events)
        .filter(|e| kind(e) != "ExecutionCompleted")
        .cloned()
        .collect();
    for e in &mut new_history {
        if let Some(history_event::EventType::ExecutionStarted(es)) = &mut e.event_type {
            es.orchestration_instance = Some(OrchestrationInstance {
                instance_id: "rw".into(),
                execution_id: Some("rewound-exec".into()),
            });
        }
    }
    let rewind = OrchestratorAction {
        id: -1,
        orchestrator_action_type: Some(OrchestratorActionType::RewindOrchestration(
            RewindOrchestrationAction {
                new_history: new_history.clone(),
            },
        )),
    };
    worker.complete("rw", &token, vec![rewind]).await?;

    let (replay, token) = worker.next_orchestration().await?;
    assert_eq!(
        replay.past_events, new_history,
        "the rewritten history is the new past"
    );
    assert_eq!(kinds(&replay.new_events), ["OrchestratorStarted"]);
    assert_eq!(replay.execution_id.as_deref(), Some("rewound-exec"));
    worker
        .complete("rw", &token, vec![complete(2, "\"fixed\"")])
        .await?;
    let done = wait_completed(&mut c, "rw").await?;
    assert_eq!(status(&done)?, OrchestrationStatus::Completed);
    assert_eq!(done.output.as_deref(), Some("\"fixed\""));
    assert_ne!(done.execution_id, old_execution);
    assert_eq!(done.failure_details, None);
    Ok(())
}

#[tokio::test]
async fn rewind_answer_without_a_rewind_request_is_rejected() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "no-rewind", "o").await?;
    let (item, token) = worker.next_orchestration().await?;
    let rewind = OrchestratorAction {
        id: -1,
        orchestrator_action_type: Some(OrchestratorActionType::RewindOrchestration(
            RewindOrchestrationAction {
                new_history: item.new_events.clone(),
            },
        )),
    };
    let err = worker
        .complete("no-rewind", &token, vec![rewind])
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status(&state(&mut c, "no-rewind").await?)?,
        OrchestrationStatus::Failed
    );
    Ok(())
}

#[tokio::test]
async fn trace_context_flows_from_start_and_actions_and_round_trips() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    let client_trace = TraceContext {
        trace_parent: "00-11111111111111111111111111111111-2222222222222222-01".into(),
        trace_state: Some("k=v".into()),
        ..Default::default()
    };
    c.start_instance(CreateInstanceRequest {
        instance_id: "traced".into(),
        name: "o".into(),
        parent_trace_context: Some(client_trace.clone()),
        ..Default::default()
    })
    .await?;
    let (first, token) = worker.next_orchestration().await?;
    let es = execution_started(&first.new_events).ok_or("no executionStarted")?;
    assert_eq!(es.parent_trace_context.as_ref(), Some(&client_trace));

    let task_trace = TraceContext {
        trace_parent: "00-11111111111111111111111111111111-3333333333333333-01".into(),
        trace_state: None,
        ..Default::default()
    };
    let orchestration_trace = OrchestrationTraceContext {
        span_id: Some("4444444444444444".into()),
        span_start_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
    };
    answer(
        &mut worker,
        OrchestratorResponse {
            orchestration_trace_context: Some(orchestration_trace.clone()),
            ..response(
                "traced",
                &token,
                vec![action(
                    1,
                    OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
                        name: "act".into(),
                        parent_trace_context: Some(task_trace.clone()),
                        ..Default::default()
                    }),
                )],
            )
        },
    )
    .await?;
    let (activity, token) = worker.next_activity().await?;
    assert_eq!(activity.parent_trace_context.as_ref(), Some(&task_trace));
    worker.complete_activity(&activity, &token, "1").await?;
    let (second, _) = worker.next_orchestration().await?;
    assert_eq!(
        second.orchestration_trace_context.as_ref(),
        Some(&orchestration_trace)
    );
    let scheduled = second
        .past_events
        .iter()
        .find_map(|e| match &e.event_type {
            Some(history_event::EventType::TaskScheduled(t)) => Some(t),
            _ => None,
        })
        .ok_or("no taskScheduled")?;
    assert_eq!(scheduled.parent_trace_context.as_ref(), Some(&task_trace));
    Ok(())
}

#[tokio::test]
async fn an_abandoned_orchestration_goes_to_another_worker_first() -> TestResult {
    let backend = backend_with(
        StoreConfig {
            abandon_delay: Duration::from_millis(20),
            ..Default::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut rejecting = Worker::connect(&backend, None).await?;
    start(&mut c, "picky", "o").await?;
    let (_, token) = rejecting.next_orchestration().await?;
    let mut other = Worker::connect(&backend, None).await?;
    rejecting
        .client
        .abandon_task_orchestrator_work_item(AbandonOrchestrationTaskRequest {
            completion_token: token,
        })
        .await?;
    let (again, _) = other.next_orchestration().await?;
    assert_eq!(again.instance_id, "picky");
    rejecting.expect_nothing(QUIET).await?;
    Ok(())
}
