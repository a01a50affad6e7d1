//! Durable entities over the raw protocol (protocol.md §4), against dt-testing's `TestBackend`
//! with the tonic client, the worker side answered by hand: SignalEntity (bad ids, creation,
//! the `entityRequestV2` work item), CompleteEntityTask and GetEntity (state, backlog), one
//! batch in flight per entity, whole-batch failures and short results redelivered, abandon,
//! worker disconnect, stale and duplicate completions, exactly one reply to an orchestration's
//! call, delayed signals, QueryEntities paging and filters, CleanEntityStorage, and entity
//! locks of critical sections (grant, exclusivity, release on unlock and on termination).

mod common;

use common::*;
use dt_proto::history_event::EventType;
use dt_proto::operation_result::ResultType;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::send_entity_message_action::EntityMessageType as Msg;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_store::StoreConfig;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Short abandon / retry delays, so redeliveries come well within [`WAIT`].
fn fast() -> StoreConfig {
    StoreConfig {
        abandon_delay: Duration::from_millis(50),
        max_abandon_delay: Duration::from_millis(200),
        ..StoreConfig::default()
    }
}

/// Filters that take only entities with these names.
fn entities_only(names: &[&str]) -> Option<WorkItemFilters> {
    Some(WorkItemFilters {
        entities: names
            .iter()
            .map(|n| EntityFilter {
                name: (*n).to_owned(),
            })
            .collect(),
        ..Default::default()
    })
}

/// The next work item, which must be an `entityRequestV2`.
async fn next_entity(worker: &mut Worker) -> Result<(EntityRequest, String), BoxError> {
    let item = worker.next().await?;
    match item.request {
        Some(Item::EntityRequestV2(r)) => Ok((r, item.completion_token)),
        other => Err(format!("expected an entityRequestV2, got {other:?}").into()),
    }
}

async fn signal_with(
    client: &mut Client,
    request: SignalEntityRequest,
) -> Result<(), tonic::Status> {
    client.signal_entity(request).await?;
    Ok(())
}

/// SignalEntity `operation` with request id `request_id` and no input.
async fn signal(client: &mut Client, id: &str, operation: &str, request_id: &str) -> TestResult {
    signal_with(
        client,
        SignalEntityRequest {
            instance_id: id.to_owned(),
            name: operation.to_owned(),
            request_id: request_id.to_owned(),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// The request ids of a batch's operations, in order.
fn op_ids(request: &EntityRequest) -> Vec<String> {
    request
        .operation_requests
        .iter()
        .map(|e| match &e.event_type {
            Some(EventType::EntityOperationSignaled(s)) => s.request_id.clone(),
            Some(EventType::EntityOperationCalled(c)) => c.request_id.clone(),
            other => format!("<not an operation: {other:?}>"),
        })
        .collect()
}

fn ok(result: Option<&str>) -> OperationResult {
    OperationResult {
        result_type: Some(ResultType::Success(OperationResultSuccess {
            result: result.map(str::to_owned),
            start_time_utc: None,
            end_time_utc: None,
        })),
    }
}

/// `n` successful results with no output.
fn oks(n: usize) -> Vec<OperationResult> {
    (0..n).map(|_| ok(None)).collect()
}

fn batch_failure() -> TaskFailureDetails {
    TaskFailureDetails {
        error_type: "WorkerError".to_owned(),
        error_message: "the batch could not run".to_owned(),
        ..Default::default()
    }
}

async fn complete_entity(
    client: &mut Client,
    token: &str,
    results: Vec<OperationResult>,
    state: Option<&str>,
) -> Result<(), tonic::Status> {
    client
        .complete_entity_task(EntityBatchResult {
            results,
            entity_state: state.map(str::to_owned),
            completion_token: token.to_owned(),
            ..Default::default()
        })
        .await?;
    Ok(())
}

async fn get_entity(
    client: &mut Client,
    id: &str,
    include_state: bool,
) -> Result<GetEntityResponse, BoxError> {
    Ok(client
        .get_entity(GetEntityRequest {
            instance_id: id.to_owned(),
            include_state,
        })
        .await?
        .into_inner())
}

/// GetEntity with state; an error if the entity does not exist.
async fn entity(client: &mut Client, id: &str) -> Result<EntityMetadata, BoxError> {
    let got = get_entity(client, id, true).await?;
    got.entity
        .filter(|_| got.exists)
        .ok_or_else(|| format!("entity {id} does not exist").into())
}

async fn query(client: &mut Client, query: EntityQuery) -> Result<QueryEntitiesResponse, BoxError> {
    Ok(client
        .query_entities(QueryEntitiesRequest { query: Some(query) })
        .await?
        .into_inner())
}

/// QueryEntities of one id, transient ones included; `None` if it is not listed.
async fn listed(client: &mut Client, id: &str) -> Result<Option<EntityMetadata>, BoxError> {
    let page = query(
        client,
        EntityQuery {
            instance_id_starts_with: Some(id.to_owned()),
            include_transient: true,
            include_state: true,
            ..Default::default()
        },
    )
    .await?;
    Ok(page.entities.into_iter().find(|e| e.instance_id == id))
}

fn entity_action(id: i32, message: Msg) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::SendEntityMessage(SendEntityMessageAction {
            entity_message_type: Some(message),
        }),
    )
}

/// `sendEntityMessage` entityOperationCalled, as Python sends it (no parentExecutionId).
fn call_action(
    id: i32,
    caller: &str,
    target: &str,
    operation: &str,
    request_id: &str,
) -> OrchestratorAction {
    entity_action(
        id,
        Msg::EntityOperationCalled(EntityOperationCalledEvent {
            request_id: request_id.to_owned(),
            operation: operation.to_owned(),
            scheduled_time: None,
            input: Some("\"q\"".to_owned()),
            parent_instance_id: Some(caller.to_owned()),
            parent_execution_id: None,
            target_instance_id: Some(target.to_owned()),
        }),
    )
}

fn lock_action(id: i32, caller: &str, critical_section: &str, set: &[&str]) -> OrchestratorAction {
    entity_action(
        id,
        Msg::EntityLockRequested(EntityLockRequestedEvent {
            critical_section_id: critical_section.to_owned(),
            lock_set: set.iter().map(|s| (*s).to_owned()).collect(),
            position: 0,
            parent_instance_id: Some(caller.to_owned()),
        }),
    )
}

fn unlock_action(
    id: i32,
    caller: &str,
    critical_section: &str,
    target: &str,
) -> OrchestratorAction {
    entity_action(
        id,
        Msg::EntityUnlockSent(EntityUnlockSentEvent {
            critical_section_id: critical_section.to_owned(),
            parent_instance_id: Some(caller.to_owned()),
            target_instance_id: Some(target.to_owned()),
        }),
    )
}

/// The critical sections granted in a list of events.
fn grants(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EntityLockGranted(g)) => Some(g.critical_section_id.clone()),
            _ => None,
        })
        .collect()
}

/// `(requestId, output)` of every entityOperationCompleted in a list of events.
fn completions(events: &[HistoryEvent]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EntityOperationCompleted(c)) => {
                Some((c.request_id.clone(), c.output.clone()))
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Signals, batches and state
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_signal_to_something_that_is_not_an_entity_id_is_invalid_argument() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    for id in ["plain", "@x", "", "@@key"] {
        let request = SignalEntityRequest {
            instance_id: id.to_owned(),
            name: "op".to_owned(),
            ..Default::default()
        };
        let err = signal_with(&mut c, request).await.err();
        let code = err.as_ref().map(tonic::Status::code);
        assert_eq!(code, Some(Code::InvalidArgument), "id {id:?}: {err:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_signal_creates_the_entity_and_arrives_as_an_entity_request_v2() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    signal_with(
        &mut c,
        SignalEntityRequest {
            instance_id: "@counter@k1".to_owned(),
            name: "add".to_owned(),
            input: Some("5".to_owned()),
            request_id: "r-1".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    let (request, token) = next_entity(&mut w).await?;
    assert!(!token.is_empty());
    assert_eq!(request.instance_id, "@counter@k1");
    assert_eq!(request.entity_state, None, "a new entity has no state");
    assert_eq!(request.operation_requests.len(), 1);
    assert_eq!(
        request.operation_requests[0].event_type,
        Some(EventType::EntityOperationSignaled(
            EntityOperationSignaledEvent {
                request_id: "r-1".to_owned(),
                operation: "add".to_owned(),
                scheduled_time: None,
                input: Some("5".to_owned()),
                target_instance_id: Some("@counter@k1".to_owned()),
            }
        ))
    );
    // Tracked (transient: no state yet) while its first batch runs.
    let tracked = listed(&mut c, "@counter@k1").await?;
    assert!(tracked.is_some(), "the entity record exists");
    complete_entity(&mut w.client, &token, oks(1), Some("5")).await?;
    assert_eq!(
        entity(&mut c, "@counter@k1")
            .await?
            .serialized_state
            .as_deref(),
        Some("5")
    );
    Ok(())
}

#[tokio::test]
async fn a_signal_without_a_request_id_gets_a_uuid() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    signal(&mut c, "@counter@uuid", "op", "").await?;
    let (request, _) = next_entity(&mut w).await?;
    let ids = op_ids(&request);
    let [id] = ids.as_slice() else {
        return Err(format!("expected one operation: {ids:?}").into());
    };
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(
        groups,
        [8, 4, 4, 4, 12],
        "GUID-shaped (the .NET worker parses it): {id}"
    );
    assert!(
        id.chars().all(|ch| ch == '-' || ch.is_ascii_hexdigit()),
        "{id}"
    );
    Ok(())
}

#[tokio::test]
async fn get_entity_shows_the_committed_state_and_the_backlog() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let unknown = get_entity(&mut c, "@counter@never", true).await?;
    assert!(!unknown.exists, "never seen: {unknown:?}");

    signal(&mut c, "@counter@g", "set", "r1").await?;
    let (_, token) = next_entity(&mut w).await?;
    complete_entity(&mut w.client, &token, oks(1), Some("{\"n\":1}")).await?;

    // A second batch in flight, two more operations queued behind it.
    signal(&mut c, "@counter@g", "add", "r2").await?;
    let (second, token2) = next_entity(&mut w).await?;
    assert_eq!(second.entity_state.as_deref(), Some("{\"n\":1}"));
    signal(&mut c, "@counter@g", "add", "r3").await?;
    signal(&mut c, "@counter@g", "add", "r4").await?;

    let with_state = get_entity(&mut c, "@counter@g", true).await?;
    assert!(with_state.exists);
    let meta = with_state.entity.ok_or("no metadata")?;
    assert_eq!(meta.instance_id, "@counter@g");
    assert_eq!(meta.serialized_state.as_deref(), Some("{\"n\":1}"));
    assert_eq!(meta.backlog_queue_size, 2, "queued, not dispatched");
    assert!(meta.last_modified_time.is_some());
    assert_eq!(meta.locked_by, None);

    let without_state = get_entity(&mut c, "@counter@g", false).await?;
    assert!(without_state.exists);
    let meta = without_state.entity.ok_or("no metadata")?;
    assert_eq!(meta.serialized_state, None, "includeState false");
    assert_eq!(meta.backlog_queue_size, 2);

    complete_entity(&mut w.client, &token2, oks(1), Some("2")).await?;
    let (third, _) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&third), ["r3", "r4"]);
    Ok(())
}

#[tokio::test]
async fn one_batch_is_in_flight_per_entity_and_the_next_keeps_the_order() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    signal(&mut c, "@counter@one", "a", "r1").await?;
    let (first, token) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&first), ["r1"]);
    signal(&mut c, "@counter@one", "b", "r2").await?;
    signal(&mut c, "@counter@one", "c", "r3").await?;
    w.expect_nothing(QUIET).await?;
    complete_entity(&mut w.client, &token, oks(1), Some("1")).await?;
    let (second, _) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&second), ["r2", "r3"]);
    assert_eq!(second.entity_state.as_deref(), Some("1"));
    Ok(())
}

#[tokio::test]
async fn a_failed_batch_is_redelivered_with_nothing_committed() -> TestResult {
    let backend = backend_with(fast(), None).await?;
    let mut c = connect(&backend).await?;
    // Queued before any worker connects, so they travel as one batch.
    signal(&mut c, "@counter@f", "a", "r1").await?;
    signal(&mut c, "@counter@f", "b", "r2").await?;
    let mut w = Worker::connect(&backend, None).await?;
    let (first, token) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&first), ["r1", "r2"]);
    w.client
        .complete_entity_task(EntityBatchResult {
            results: oks(1),
            entity_state: Some("\"bad\"".to_owned()),
            failure_details: Some(batch_failure()),
            completion_token: token.clone(),
            ..Default::default()
        })
        .await?;
    let (again, token2) = next_entity(&mut w).await?;
    assert_ne!(token, token2, "a new token for the new attempt");
    assert_eq!(
        again.operation_requests, first.operation_requests,
        "same operations"
    );
    assert_eq!(
        again.entity_state, None,
        "the failed batch's state was not committed"
    );
    assert!(
        !get_entity(&mut c, "@counter@f", true).await?.exists,
        "nothing committed"
    );
    complete_entity(&mut w.client, &token2, oks(2), Some("2")).await?;
    assert_eq!(
        entity(&mut c, "@counter@f")
            .await?
            .serialized_state
            .as_deref(),
        Some("2")
    );
    Ok(())
}

#[tokio::test]
async fn results_shorter_than_the_batch_redeliver_the_rest() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    for (op, rid) in [("a", "r1"), ("b", "r2"), ("c", "r3")] {
        signal(&mut c, "@counter@s", op, rid).await?;
    }
    let mut w = Worker::connect(&backend, None).await?;
    let (first, token) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&first), ["r1", "r2", "r3"]);
    complete_entity(&mut w.client, &token, oks(1), Some("\"a\"")).await?;
    let (rest, token2) = next_entity(&mut w).await?;
    assert_ne!(token, token2);
    assert_eq!(op_ids(&rest), ["r2", "r3"], "the unexecuted tail, in order");
    assert_eq!(rest.operation_requests[..], first.operation_requests[1..]);
    assert_eq!(rest.entity_state.as_deref(), Some("\"a\""));
    complete_entity(&mut w.client, &token2, oks(2), Some("\"c\"")).await?;
    assert_eq!(
        entity(&mut c, "@counter@s")
            .await?
            .serialized_state
            .as_deref(),
        Some("\"c\"")
    );
    Ok(())
}

#[tokio::test]
async fn an_abandoned_batch_is_redelivered_in_the_same_order() -> TestResult {
    let backend = backend_with(fast(), None).await?;
    let mut c = connect(&backend).await?;
    signal(&mut c, "@counter@ab", "a", "r1").await?;
    signal(&mut c, "@counter@ab", "b", "r2").await?;
    let mut w = Worker::connect(&backend, None).await?;
    let (first, token) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&first), ["r1", "r2"]);
    signal(&mut c, "@counter@ab", "c", "r3").await?;
    w.client
        .abandon_task_entity_work_item(AbandonEntityTaskRequest {
            completion_token: token.clone(),
        })
        .await?;
    let (again, token2) = next_entity(&mut w).await?;
    assert_ne!(token, token2);
    assert_eq!(op_ids(&again), ["r1", "r2", "r3"], "abandoned batch first");
    assert_eq!(again.operation_requests[..2], first.operation_requests[..]);
    // The abandoned token is dead.
    complete_entity(&mut w.client, &token, oks(2), Some("\"stale\"")).await?;
    assert!(!get_entity(&mut c, "@counter@ab", true).await?.exists);
    complete_entity(&mut w.client, &token2, oks(3), Some("3")).await?;
    assert_eq!(
        entity(&mut c, "@counter@ab")
            .await?
            .serialized_state
            .as_deref(),
        Some("3")
    );
    Ok(())
}

#[tokio::test]
async fn a_disconnected_workers_batch_goes_to_another_worker() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w1 = Worker::connect(&backend, None).await?;
    signal(&mut c, "@counter@d", "a", "r1").await?;
    let (first, token1) = next_entity(&mut w1).await?;
    assert_eq!(op_ids(&first), ["r1"]);
    signal(&mut c, "@counter@d", "b", "r2").await?;
    let mut late = w1.drop_stream();
    let mut w2 = Worker::connect(&backend, None).await?;
    let (again, token2) = next_entity(&mut w2).await?;
    assert_ne!(token1, token2);
    assert_eq!(
        op_ids(&again),
        ["r1", "r2"],
        "the lost batch first, then the queue"
    );
    // The crashed worker's late answer is ignored.
    complete_entity(&mut late, &token1, oks(1), Some("\"late\"")).await?;
    assert!(!get_entity(&mut c, "@counter@d", true).await?.exists);
    complete_entity(&mut w2.client, &token2, oks(2), Some("2")).await?;
    assert_eq!(
        entity(&mut c, "@counter@d")
            .await?
            .serialized_state
            .as_deref(),
        Some("2")
    );
    Ok(())
}

#[tokio::test]
async fn stale_and_duplicate_completions_are_ignored() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    signal(&mut c, "@counter@dup", "a", "r1").await?;
    let (_, token1) = next_entity(&mut w).await?;
    complete_entity(&mut w.client, &token1, oks(1), Some("1")).await?;
    // Duplicate of a committed answer.
    complete_entity(&mut w.client, &token1, oks(1), Some("99")).await?;
    assert_eq!(
        entity(&mut c, "@counter@dup")
            .await?
            .serialized_state
            .as_deref(),
        Some("1")
    );
    // An old token does not complete the next batch.
    signal(&mut c, "@counter@dup", "b", "r2").await?;
    let (second, token2) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&second), ["r2"]);
    complete_entity(&mut w.client, &token1, oks(1), Some("98")).await?;
    complete_entity(&mut w.client, "no-such-token", oks(1), Some("97")).await?;
    signal(&mut c, "@counter@dup", "c", "r3").await?;
    w.expect_nothing(QUIET).await?;
    assert_eq!(
        entity(&mut c, "@counter@dup")
            .await?
            .serialized_state
            .as_deref(),
        Some("1"),
        "stale answers changed the state"
    );
    complete_entity(&mut w.client, &token2, oks(1), Some("2")).await?;
    let (third, _) = next_entity(&mut w).await?;
    assert_eq!(op_ids(&third), ["r3"]);
    assert_eq!(third.entity_state.as_deref(), Some("2"));
    Ok(())
}

#[tokio::test]
async fn a_delayed_signal_is_not_dispatched_before_its_time() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let delay = Duration::from_millis(400);
    let sent = Instant::now();
    let at = prost_types::Timestamp::from(SystemTime::now() + delay);
    signal_with(
        &mut c,
        SignalEntityRequest {
            instance_id: "@counter@later".to_owned(),
            name: "tick".to_owned(),
            request_id: "r-late".to_owned(),
            scheduled_time: Some(at),
            ..Default::default()
        },
    )
    .await?;
    w.expect_nothing(Duration::from_millis(300)).await?;
    let (request, _) = next_entity(&mut w).await?;
    let waited = sent.elapsed();
    assert!(
        waited >= delay - Duration::from_millis(10),
        "dispatched after {waited:?}, before the scheduled time"
    );
    assert_eq!(op_ids(&request), ["r-late"]);
    let Some(EventType::EntityOperationSignaled(s)) = &request.operation_requests[0].event_type
    else {
        return Err(format!("not a signal: {request:?}").into());
    };
    assert_eq!(
        s.scheduled_time,
        Some(at),
        "scheduledTime travels to the worker"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calls from orchestrations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_call_gets_exactly_one_reply_even_after_a_failed_batch() -> TestResult {
    let backend = backend_with(fast(), None).await?;
    let mut c = connect(&backend).await?;
    let mut ow = Worker::connect(&backend, orchestrations_only(&["Caller"])).await?;
    let mut ew = Worker::connect(&backend, entities_only(&["counter"])).await?;
    start(&mut c, "caller", "Caller").await?;
    let (first, token) = ow.next_orchestration().await?;
    let execution = first.execution_id.clone().ok_or("no execution id")?;
    ow.complete(
        "caller",
        &token,
        vec![call_action(1, "caller", "@counter@j", "get", "req-1")],
    )
    .await?;

    let (batch, etoken) = next_entity(&mut ew).await?;
    let [event] = batch.operation_requests.as_slice() else {
        return Err(format!("expected one operation: {batch:?}").into());
    };
    let Some(EventType::EntityOperationCalled(called)) = &event.event_type else {
        return Err(format!("expected entityOperationCalled: {event:?}").into());
    };
    assert_eq!(called.request_id, "req-1");
    assert_eq!(called.parent_instance_id.as_deref(), Some("caller"));
    assert_eq!(
        called.parent_execution_id.as_deref(),
        Some(execution.as_str()),
        "the caller's execution is filled in"
    );
    assert_eq!(called.target_instance_id.as_deref(), Some("@counter@j"));

    // The whole batch fails: no reply, the call runs again.
    ew.client
        .complete_entity_task(EntityBatchResult {
            results: vec![ok(Some("\"wrong\""))],
            failure_details: Some(batch_failure()),
            completion_token: etoken.clone(),
            ..Default::default()
        })
        .await?;
    let (again, etoken2) = next_entity(&mut ew).await?;
    assert_eq!(again.operation_requests, batch.operation_requests);
    ow.expect_nothing(QUIET).await?;

    complete_entity(
        &mut ew.client,
        &etoken2,
        vec![ok(Some("\"42\""))],
        Some("1"),
    )
    .await?;
    // A duplicate of the answer, and a late one for the failed attempt.
    complete_entity(
        &mut ew.client,
        &etoken2,
        vec![ok(Some("\"43\""))],
        Some("2"),
    )
    .await?;
    complete_entity(&mut ew.client, &etoken, vec![ok(Some("\"44\""))], Some("3")).await?;

    let (second, token2) = ow.next_orchestration().await?;
    assert_eq!(
        completions(&second.new_events),
        [("req-1".to_owned(), Some("\"42\"".to_owned()))],
        "{:?}",
        kinds(&second.new_events)
    );
    let confirmations: Vec<i32> = second
        .past_events
        .iter()
        .filter(|e| matches!(e.event_type, Some(EventType::EntityOperationCalled(_))))
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        confirmations,
        [1],
        "the call's confirmation carries the action id"
    );
    ow.complete("caller", &token2, vec![complete(2, "\"42\"")])
        .await?;
    let done = wait_completed(&mut c, "caller").await?;
    assert_eq!(status(&done)?, OrchestrationStatus::Completed);
    let events = history(&mut c, "caller").await?;
    assert_eq!(
        count(&events, "EntityOperationCompleted"),
        1,
        "{:?}",
        kinds(&events)
    );
    assert_eq!(
        entity(&mut c, "@counter@j")
            .await?
            .serialized_state
            .as_deref(),
        Some("1")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries and cleaning
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn query_entities_pages_filters_by_prefix_and_hides_transient_ones() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let with_state = [
        "@counter@1",
        "@counter@2",
        "@counter@3",
        "@counter@4",
        "@counter@5",
        "@other@1",
    ];
    for id in with_state {
        signal(&mut c, id, "set", &format!("r-{id}")).await?;
        let (request, token) = next_entity(&mut w).await?;
        assert_eq!(request.instance_id, id);
        complete_entity(&mut w.client, &token, oks(1), Some(&format!("\"{id}\""))).await?;
    }
    // A transient entity: its state was deleted.
    signal(&mut c, "@counter@9", "delete", "r-9").await?;
    let (_, token) = next_entity(&mut w).await?;
    complete_entity(&mut w.client, &token, oks(1), None).await?;
    assert!(
        !get_entity(&mut c, "@counter@9", true).await?.exists,
        "transient"
    );

    let mut pages = Vec::new();
    let mut continuation_token = None;
    for _ in 0..10 {
        let page = query(
            &mut c,
            EntityQuery {
                instance_id_starts_with: Some("@counter@".to_owned()),
                include_state: true,
                page_size: Some(2),
                continuation_token: continuation_token.clone(),
                ..Default::default()
            },
        )
        .await?;
        let ids: Vec<String> = page
            .entities
            .iter()
            .map(|e| e.instance_id.clone())
            .collect();
        for e in &page.entities {
            assert_eq!(
                e.serialized_state,
                Some(format!("\"{}\"", e.instance_id)),
                "includeState"
            );
        }
        pages.push(ids);
        continuation_token = page.continuation_token;
        if continuation_token.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["@counter@1", "@counter@2"],
            vec!["@counter@3", "@counter@4"],
            vec!["@counter@5"],
        ],
        "pages of 2, no token on the last"
    );

    let other = query(
        &mut c,
        EntityQuery {
            instance_id_starts_with: Some("@other@".to_owned()),
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<&str> = other
        .entities
        .iter()
        .map(|e| e.instance_id.as_str())
        .collect();
    assert_eq!(ids, ["@other@1"]);
    assert_eq!(
        other.entities[0].serialized_state, None,
        "includeState false"
    );
    assert_eq!(other.continuation_token, None);

    let all = query(
        &mut c,
        EntityQuery {
            instance_id_starts_with: Some("@counter@".to_owned()),
            include_transient: true,
            include_state: true,
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<&str> = all
        .entities
        .iter()
        .map(|e| e.instance_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "@counter@1",
            "@counter@2",
            "@counter@3",
            "@counter@4",
            "@counter@5",
            "@counter@9"
        ],
        "includeTransient lists the stateless one"
    );
    assert_eq!(all.entities[5].serialized_state, None);
    Ok(())
}

#[tokio::test]
async fn clean_entity_storage_removes_an_entity_whose_state_was_deleted() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    for (id, state) in [("@counter@gone", None), ("@counter@kept", Some("1"))] {
        signal(&mut c, id, "op", "r").await?;
        let (_, token) = next_entity(&mut w).await?;
        complete_entity(&mut w.client, &token, oks(1), state).await?;
    }
    assert!(
        listed(&mut c, "@counter@gone").await?.is_some(),
        "tracked before cleaning"
    );
    let cleaned = c
        .clean_entity_storage(CleanEntityStorageRequest {
            continuation_token: None,
            remove_empty_entities: true,
            release_orphaned_locks: true,
        })
        .await?
        .into_inner();
    assert_eq!(cleaned.empty_entities_removed, 1, "{cleaned:?}");
    assert_eq!(cleaned.orphaned_locks_released, 0, "{cleaned:?}");
    assert_eq!(cleaned.continuation_token, None);
    assert_eq!(listed(&mut c, "@counter@gone").await?, None, "removed");
    assert!(
        get_entity(&mut c, "@counter@kept", false).await?.exists,
        "kept"
    );
    Ok(())
}

/// How a test ends a lock-holding orchestration.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// SkipGracefulOrchestrationTerminations first (refused for a lock holder), then as below.
    SkipGraceful,
    /// TerminateInstance, and the worker acknowledges the executionTerminated.
    TerminateAndAnswer,
}

/// The store releases every lock of an orchestration the moment it becomes terminal, so
/// CleanEntityStorage finds no orphaned lock left to release (it reports 0) and only removes
/// the now unlocked, stateless entity.
#[tokio::test]
async fn locks_of_a_terminated_orchestration_are_released_and_cleaned() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut ow = Worker::connect(&backend, orchestrations_only(&["Locker"])).await?;
    for ending in [Ending::SkipGraceful, Ending::TerminateAndAnswer] {
        let id = format!("locker-{ending:?}");
        let target = format!("@c@lock-{ending:?}");
        start(&mut c, &id, "Locker").await?;
        let (_, token) = ow.next_orchestration().await?;
        ow.complete(&id, &token, vec![lock_action(1, &id, "cs-1", &[&target])])
            .await?;
        let (granted, token) = ow.next_orchestration().await?;
        assert_eq!(grants(&granted.new_events), ["cs-1"], "{ending:?}");
        ow.complete(&id, &token, vec![]).await?;
        let locked = listed(&mut c, &target)
            .await?
            .ok_or("locked entity not listed")?;
        assert_eq!(locked.locked_by.as_deref(), Some(id.as_str()), "{ending:?}");

        if let Ending::SkipGraceful = ending {
            // protocol.md §3.12: an orchestration holding entity locks is not terminated in
            // storage; it is reported back and keeps its locks.
            let response = c
                .skip_graceful_orchestration_terminations(
                    SkipGracefulOrchestrationTerminationsRequest {
                        instance_batch: Some(InstanceBatch {
                            instance_ids: vec![id.clone()],
                        }),
                        reason: Some("stop".to_owned()),
                    },
                )
                .await?
                .into_inner();
            assert_eq!(response.unterminated_instance_ids, vec![id.clone()]);
            let still = listed(&mut c, &target)
                .await?
                .ok_or("locked entity not listed")?;
            assert_eq!(still.locked_by.as_deref(), Some(id.as_str()));
        }
        c.terminate_instance(TerminateRequest {
            instance_id: id.clone(),
            output: Some("stop".to_owned()),
            recursive: false,
        })
        .await?;
        let (terminated, token) = ow.next_orchestration().await?;
        assert_eq!(
            count(&terminated.new_events, "ExecutionTerminated"),
            1,
            "{:?}",
            kinds(&terminated.new_events)
        );
        ow.complete(
            &id,
            &token,
            vec![finish(2, OrchestrationStatus::Terminated, "stop")],
        )
        .await?;
        let done = wait_completed(&mut c, &id).await?;
        assert_eq!(
            status(&done)?,
            OrchestrationStatus::Terminated,
            "{ending:?}"
        );
        let unlocked = listed(&mut c, &target).await?.ok_or("entity not listed")?;
        assert_eq!(
            unlocked.locked_by, None,
            "{ending:?}: the lock is released when its holder ends"
        );
    }
    let cleaned = c
        .clean_entity_storage(CleanEntityStorageRequest {
            continuation_token: None,
            remove_empty_entities: true,
            release_orphaned_locks: true,
        })
        .await?
        .into_inner();
    assert_eq!(
        cleaned.orphaned_locks_released, 0,
        "already released at termination: {cleaned:?}"
    );
    assert_eq!(cleaned.empty_entities_removed, 2, "{cleaned:?}");
    for ending in [Ending::SkipGraceful, Ending::TerminateAndAnswer] {
        let target = format!("@c@lock-{ending:?}");
        assert_eq!(listed(&mut c, &target).await?, None, "{ending:?}: removed");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Critical sections
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_locked_entity_runs_only_its_holders_operations_until_unlocked() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut ow = Worker::connect(&backend, orchestrations_only(&["Locker"])).await?;
    let mut ew = Worker::connect(&backend, entities_only(&["c"])).await?;
    // Give the entity state, so GetEntity reports it.
    signal(&mut c, "@c@1", "init", "init-1").await?;
    let (_, token) = next_entity(&mut ew).await?;
    complete_entity(&mut ew.client, &token, oks(1), Some("0")).await?;

    start(&mut c, "A", "Locker").await?;
    let (_, token) = ow.next_orchestration().await?;
    ow.complete("A", &token, vec![lock_action(1, "A", "cs-A", &["@c@1"])])
        .await?;
    let (granted, token_a) = ow.next_orchestration().await?;
    assert_eq!(grants(&granted.new_events), ["cs-A"]);
    assert_eq!(
        entity(&mut c, "@c@1").await?.locked_by.as_deref(),
        Some("A")
    );
    let listed_meta = listed(&mut c, "@c@1").await?.ok_or("not listed")?;
    assert_eq!(listed_meta.locked_by.as_deref(), Some("A"));

    // A client's signal waits while A holds the lock.
    signal(&mut c, "@c@1", "client-op", "client-1").await?;
    ew.expect_nothing(QUIET).await?;
    assert_eq!(entity(&mut c, "@c@1").await?.backlog_queue_size, 1);

    // A's own call runs, alone.
    ow.complete(
        "A",
        &token_a,
        vec![call_action(2, "A", "@c@1", "a-op", "a-1")],
    )
    .await?;
    let (batch, etoken) = next_entity(&mut ew).await?;
    assert_eq!(op_ids(&batch), ["a-1"], "only the holder's operation");
    complete_entity(&mut ew.client, &etoken, vec![ok(Some("\"a\""))], Some("1")).await?;
    ew.expect_nothing(QUIET).await?;

    let (replied, token_a) = ow.next_orchestration().await?;
    assert_eq!(
        completions(&replied.new_events),
        [("a-1".to_owned(), Some("\"a\"".to_owned()))]
    );
    ow.complete("A", &token_a, vec![unlock_action(3, "A", "cs-A", "@c@1")])
        .await?;

    // Unlocked: the client's signal runs now.
    let (batch, etoken) = next_entity(&mut ew).await?;
    assert_eq!(op_ids(&batch), ["client-1"]);
    assert_eq!(batch.entity_state.as_deref(), Some("1"));
    assert_eq!(entity(&mut c, "@c@1").await?.locked_by, None);
    complete_entity(&mut ew.client, &etoken, oks(1), Some("2")).await?;
    let state = entity(&mut c, "@c@1").await?;
    assert_eq!(state.serialized_state.as_deref(), Some("2"));
    assert_eq!(state.backlog_queue_size, 0);
    Ok(())
}

#[tokio::test]
async fn a_second_critical_section_waits_until_the_first_unlocks() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut ow = Worker::connect(&backend, orchestrations_only(&["Locker"])).await?;
    start(&mut c, "A", "Locker").await?;
    let (_, token) = ow.next_orchestration().await?;
    ow.complete("A", &token, vec![lock_action(1, "A", "cs-A", &["@c@2"])])
        .await?;
    let (granted, token_a) = ow.next_orchestration().await?;
    assert_eq!(grants(&granted.new_events), ["cs-A"]);

    start(&mut c, "B", "Locker").await?;
    let (first_b, token) = ow.next_orchestration().await?;
    assert_eq!(first_b.instance_id, "B");
    ow.complete("B", &token, vec![lock_action(1, "B", "cs-B", &["@c@2"])])
        .await?;
    ow.expect_nothing(QUIET).await?;
    let meta = listed(&mut c, "@c@2").await?.ok_or("not listed")?;
    assert_eq!(meta.locked_by.as_deref(), Some("A"));

    ow.complete("A", &token_a, vec![unlock_action(2, "A", "cs-A", "@c@2")])
        .await?;
    let (granted_b, token_b) = ow.next_orchestration().await?;
    assert_eq!(granted_b.instance_id, "B");
    assert_eq!(grants(&granted_b.new_events), ["cs-B"]);
    let meta = listed(&mut c, "@c@2").await?.ok_or("not listed")?;
    assert_eq!(meta.locked_by.as_deref(), Some("B"));

    // B completes without unlocking: its lock goes with it.
    ow.complete("B", &token_b, vec![complete(2, "\"done\"")])
        .await?;
    assert_eq!(
        status(&wait_completed(&mut c, "B").await?)?,
        OrchestrationStatus::Completed
    );
    let meta = listed(&mut c, "@c@2").await?.ok_or("not listed")?;
    assert_eq!(meta.locked_by, None);
    Ok(())
}

/// A holder that continues as new without unlocking leaves its critical section behind: the
/// new execution holds nothing and a waiting orchestration gets the lock.
#[tokio::test]
async fn continue_as_new_releases_the_locks_of_the_old_execution() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut ow = Worker::connect(&backend, orchestrations_only(&["Locker"])).await?;
    let target = "@c@can";
    start(&mut c, "holder", "Locker").await?;
    let (_, token) = ow.next_orchestration().await?;
    ow.complete(
        "holder",
        &token,
        vec![lock_action(1, "holder", "cs-h", &[target])],
    )
    .await?;
    let (granted, token) = ow.next_orchestration().await?;
    assert_eq!(grants(&granted.new_events), ["cs-h"]);
    ow.complete("holder", &token, vec![]).await?;

    start(&mut c, "waiter", "Locker").await?;
    let (_, token) = ow.next_orchestration().await?;
    ow.complete(
        "waiter",
        &token,
        vec![lock_action(1, "waiter", "cs-w", &[target])],
    )
    .await?;
    ow.expect_nothing(QUIET).await?;

    raise(&mut c, "holder", "go").await?;
    let (_, token) = ow.next_orchestration().await?;
    let continue_as_new = action(
        2,
        OrchestratorActionType::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::ContinuedAsNew as i32,
            result: Some("1".into()),
            ..Default::default()
        }),
    );
    ow.complete("holder", &token, vec![continue_as_new]).await?;

    // The waiter is granted; the holder's new execution starts (its first work item).
    let mut granted_to = Vec::new();
    for _ in 0..2 {
        let (item, _) = ow.next_orchestration().await?;
        if !grants(&item.new_events).is_empty() {
            granted_to.push((item.instance_id.clone(), grants(&item.new_events)));
        }
    }
    assert_eq!(granted_to, [("waiter".to_owned(), vec!["cs-w".to_owned()])]);
    let entity = listed(&mut c, target).await?.ok_or("entity not listed")?;
    assert_eq!(entity.locked_by.as_deref(), Some("waiter"));
    Ok(())
}
