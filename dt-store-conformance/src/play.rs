//! Playing the worker and the client: connecting, taking work items (only when they are
//! ready: [`Store::try_next_work_item`]), answering them, and building requests.

use crate::events::*;
use crate::harness::Outcome;
use dt_core::{NewInstance, RuntimeStatus, WorkFilters};
use dt_proto::history_event::EventType;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::work_item::Request;
use dt_proto::*;
use dt_store::{CreateInstance, Store, WireWorkItem, WorkerId};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// An orchestration work item and its completion token.
pub(crate) struct Orch {
    pub(crate) req: OrchestratorRequest,
    pub(crate) token: String,
}

/// An activity work item and its completion token.
pub(crate) struct Act {
    pub(crate) req: ActivityRequest,
    pub(crate) token: String,
}

impl Act {
    fn instance_id(&self) -> &str {
        self.req
            .orchestration_instance
            .as_ref()
            .map_or("", |i| i.instance_id.as_str())
    }
}

pub(crate) fn describe(item: &WorkItem) -> String {
    match &item.request {
        Some(Request::OrchestratorRequest(r)) => format!(
            "orchestration work item for '{}' with newEvents {:?}",
            r.instance_id,
            kinds(&r.new_events)
        ),
        Some(Request::ActivityRequest(a)) => format!(
            "activity work item '{}' (taskId {}) for {:?}",
            a.name,
            a.task_id,
            a.orchestration_instance.as_ref().map(|i| &i.instance_id)
        ),
        Some(Request::EntityRequestV2(e)) => format!(
            "entityRequestV2 work item for '{}' with operations {:?}",
            e.instance_id,
            op_ids(e)
        ),
        Some(Request::EntityRequest(e)) => format!(
            "entityRequest (V1) work item for '{}' with {} operations",
            e.instance_id,
            e.operations.len()
        ),
        Some(_) => "a work item that is neither orchestration, activity nor entity".to_owned(),
        None => "a work item without a request".to_owned(),
    }
}

pub(crate) async fn worker(store: &dyn Store) -> Outcome<WorkerId> {
    Ok(call!(store.connect_worker(WorkFilters::all().into()).await))
}

/// A worker that accepts only the named orchestrator and the named activity.
pub(crate) fn only(orchestration: &str, activity: &str) -> WorkFilters {
    WorkFilters::from(Some(WorkItemFilters {
        orchestrations: vec![OrchestrationFilter {
            name: orchestration.to_owned(),
            versions: Vec::new(),
        }],
        activities: vec![ActivityFilter {
            name: activity.to_owned(),
            versions: Vec::new(),
        }],
        entities: Vec::new(),
    }))
}

pub(crate) fn checked_token(item: &WorkItem, what: &str) -> Outcome {
    ensure!(
        !item.completion_token.is_empty(),
        "{what}: {} has an empty completion token",
        describe(item)
    );
    Ok(())
}

/// The work item ready for the worker now; fails if none is (C1: a call's effects are
/// visible when it returns).
pub(crate) async fn next_item(
    store: &dyn Store,
    worker: WorkerId,
    what: &str,
) -> Outcome<WorkItem> {
    match store.try_next_work_item(worker).await {
        Ok(Some(item)) => {
            let item = as_sent(item)?;
            checked_token(&item, what)?;
            Ok(item)
        }
        Ok(None) => Err(failure!("{what}: no work item is ready")),
        Err(err) => Err(failure!("{what}: try_next_work_item failed: {err:?}")),
    }
}

pub(crate) fn into_orchestration(item: WorkItem, instance: &str) -> Outcome<Orch> {
    let description = describe(&item);
    let Some(Request::OrchestratorRequest(req)) = item.request else {
        return Err(failure!(
            "expected an orchestration work item for '{instance}', got {description}"
        ));
    };
    ensure_eq!(
        req.instance_id,
        instance,
        "instanceId of the orchestration work item"
    );
    ensure!(
        !req.new_events.is_empty(),
        "an orchestration work item for '{instance}' has no newEvents"
    );
    Ok(Orch {
        req,
        token: item.completion_token,
    })
}

pub(crate) fn into_activity(item: WorkItem, instance: &str) -> Outcome<Act> {
    let description = describe(&item);
    let Some(Request::ActivityRequest(req)) = item.request else {
        return Err(failure!(
            "expected an activity work item for '{instance}', got {description}"
        ));
    };
    let act = Act {
        req,
        token: item.completion_token,
    };
    ensure_eq!(
        act.instance_id(),
        instance,
        "orchestrationInstance.instanceId of the activity work item"
    );
    Ok(act)
}

pub(crate) async fn next_orchestration(
    store: &dyn Store,
    worker: WorkerId,
    instance: &str,
) -> Outcome<Orch> {
    let what = format!("orchestration work item for '{instance}'");
    into_orchestration(next_item(store, worker, &what).await?, instance)
}

pub(crate) async fn next_activity(
    store: &dyn Store,
    worker: WorkerId,
    instance: &str,
) -> Outcome<Act> {
    let what = format!("activity work item for '{instance}'");
    into_activity(next_item(store, worker, &what).await?, instance)
}

/// Sorts a work item into the activity or orchestration slot, failing on anything else.
pub(crate) fn sort_item(
    item: WorkItem,
    activity_for: &str,
    orchestration_for: &str,
    act: &mut Option<Act>,
    orch: &mut Option<Orch>,
) -> Outcome {
    let description = describe(&item);
    match item.request {
        Some(Request::ActivityRequest(_)) if act.is_none() => {
            *act = Some(into_activity(item, activity_for)?);
        }
        Some(Request::OrchestratorRequest(_)) if orch.is_none() => {
            *orch = Some(into_orchestration(item, orchestration_for)?);
        }
        _ => {
            return Err(failure!(
                "expected one activity work item for '{activity_for}' and one orchestration \
                 work item for '{orchestration_for}', got {description} in addition"
            ));
        }
    }
    Ok(())
}

/// Takes two work items which must be an activity of `activity_for` and an orchestration
/// work item of `orchestration_for`, in either order.
pub(crate) async fn next_pair(
    store: &dyn Store,
    worker: WorkerId,
    activity_for: &str,
    orchestration_for: &str,
) -> Outcome<(Act, Orch)> {
    let (mut act, mut orch) = (None, None);
    for _ in 0..2 {
        let item = next_item(store, worker, "an activity and an orchestration work item").await?;
        sort_item(item, activity_for, orchestration_for, &mut act, &mut orch)?;
    }
    match (act, orch) {
        (Some(act), Some(orch)) => Ok((act, orch)),
        _ => Err(failure!(
            "expected an activity and an orchestration work item"
        )),
    }
}

/// The `WorkItem` a worker receives: the store's item encoded as it goes on the wire, then
/// decoded; it must be the message the item stands for.
pub(crate) fn as_sent(item: WireWorkItem) -> Outcome<WorkItem> {
    let bytes = prost::Message::encode_to_vec(&item);
    let sent = <WorkItem as prost::Message>::decode(&bytes[..])
        .map_err(|err| failure!("a work item does not decode: {err}"))?;
    let plain = item.into_proto();
    ensure!(
        sent == plain,
        "a work item encodes as {sent:?} but stands for {plain:?}"
    );
    Ok(sent)
}

/// Fails if any work item is ready for the worker.
pub(crate) async fn expect_no_item(store: &dyn Store, worker: WorkerId, why: &str) -> Outcome {
    match store.try_next_work_item(worker).await {
        Ok(None) => Ok(()),
        Ok(Some(item)) => Err(failure!(
            "{why}: expected no work item, got {}",
            describe(&item.into_proto())
        )),
        Err(err) => Err(failure!("{why}: try_next_work_item failed: {err:?}")),
    }
}

/// Polls a future once: its answer if it has one at once, else it is left pending (and can be
/// polled again or dropped).
pub(crate) async fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Option<F::Output> {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let Some(f) = future.as_mut() else {
            return Poll::Ready(None);
        };
        Poll::Ready(match f.as_mut().poll(cx) {
            Poll::Ready(value) => Some(value),
            Poll::Pending => None,
        })
    })
    .await
}

/// An entity work item (`entityRequestV2`) and its completion token.
pub(crate) struct Ent {
    pub(crate) req: EntityRequest,
    pub(crate) token: String,
}

/// The request ids of an entity batch's operations, in order.
pub(crate) fn op_ids(req: &EntityRequest) -> Vec<String> {
    req.operation_requests
        .iter()
        .map(|e| match &e.event_type {
            Some(EventType::EntityOperationSignaled(s)) => s.request_id.clone(),
            Some(EventType::EntityOperationCalled(c)) => c.request_id.clone(),
            _ => format!("<not an operation: {}>", kind(e)),
        })
        .collect()
}

/// The critical sections granted in a list of events.
pub(crate) fn grants(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EntityLockGranted(g)) => Some(g.critical_section_id.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn into_entity(item: WorkItem, entity: &str) -> Outcome<Ent> {
    let description = describe(&item);
    let Some(Request::EntityRequestV2(req)) = item.request else {
        return Err(failure!(
            "expected an entityRequestV2 work item for '{entity}', got {description}"
        ));
    };
    ensure_eq!(
        req.instance_id,
        entity,
        "instanceId of the entity work item"
    );
    ensure!(
        !req.operation_requests.is_empty(),
        "an entity work item for '{entity}' has no operationRequests"
    );
    Ok(Ent {
        req,
        token: item.completion_token,
    })
}

pub(crate) async fn next_entity(store: &dyn Store, worker: WorkerId, entity: &str) -> Outcome<Ent> {
    let what = format!("entity work item for '{entity}'");
    into_entity(next_item(store, worker, &what).await?, entity)
}

/// A successful operation result without output.
pub(crate) fn op_ok() -> OperationResult {
    OperationResult {
        result_type: Some(operation_result::ResultType::Success(
            OperationResultSuccess {
                result: None,
                start_time_utc: None,
                end_time_utc: None,
            },
        )),
    }
}

/// Answers an entity batch: every operation succeeded and the state becomes `state`.
pub(crate) async fn entity_done(store: &dyn Store, item: &Ent, state: Option<&str>) -> Outcome {
    let result = EntityBatchResult {
        results: item
            .req
            .operation_requests
            .iter()
            .map(|_| op_ok())
            .collect(),
        entity_state: state.map(str::to_owned),
        completion_token: item.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(result).await);
    Ok(())
}

pub(crate) fn signal_request(
    entity: &str,
    operation: &str,
    request_id: &str,
) -> SignalEntityRequest {
    SignalEntityRequest {
        instance_id: entity.to_owned(),
        name: operation.to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

/// An entity's state as `get_entity` shows it: `None` if absent, else its serialized state.
pub(crate) async fn entity_state(
    store: &dyn Store,
    entity: &str,
) -> Outcome<Option<Option<String>>> {
    let meta = call!(store.get_entity(entity, true).await);
    Ok(meta.map(|m| m.serialized_state))
}

pub(crate) fn entity_message(
    id: i32,
    message: send_entity_message_action::EntityMessageType,
) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::SendEntityMessage(
            SendEntityMessageAction {
                entity_message_type: Some(message),
            },
        )),
    }
}

pub(crate) fn schedule_task(id: i32, name: &str, input: Option<&str>) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        })),
    }
}

pub(crate) fn create_timer(id: i32, fire_at: prost_types::Timestamp) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::CreateTimer(CreateTimerAction {
            fire_at: Some(fire_at),
        })),
    }
}

pub(crate) fn finish(
    id: i32,
    status: OrchestrationStatus,
    result: Option<&str>,
) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(
            CompleteOrchestrationAction {
                orchestration_status: status as i32,
                result: result.map(str::to_owned),
                ..Default::default()
            },
        )),
    }
}

/// Answers an orchestration work item; the store must accept the answer.
pub(crate) async fn answer(
    store: &dyn Store,
    item: &Orch,
    actions: Vec<OrchestratorAction>,
) -> Outcome {
    let response = OrchestratorResponse {
        instance_id: item.req.instance_id.clone(),
        completion_token: item.token.clone(),
        actions,
        ..Default::default()
    };
    call!(store.complete_orchestration(response).await);
    Ok(())
}

/// Reports an activity's result; the store must accept it.
pub(crate) async fn activity_done(store: &dyn Store, item: &Act, result: &str) -> Outcome {
    let response = ActivityResponse {
        instance_id: item.instance_id().to_owned(),
        task_id: item.req.task_id,
        result: Some(result.to_owned()),
        failure_details: None,
        completion_token: item.token.clone(),
    };
    call!(store.complete_activity(response).await);
    Ok(())
}

pub(crate) fn new_instance(id: &str, name: &str, input: Option<&str>) -> CreateInstance {
    CreateInstance {
        spec: NewInstance {
            id: id.to_owned(),
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub(crate) async fn create(store: &dyn Store, id: &str) -> Outcome {
    let created = call!(
        store
            .create_instance(new_instance(id, "Conformance", Some("\"input\"")))
            .await
    );
    ensure_eq!(created, id, "create_instance returns the requested id");
    Ok(())
}

pub(crate) fn status_of(state: &OrchestrationState) -> Option<RuntimeStatus> {
    RuntimeStatus::from_wire_i32(state.orchestration_status)
}

pub(crate) async fn get(store: &dyn Store, id: &str) -> Outcome<OrchestrationState> {
    match call!(store.get_instance(id, true).await) {
        Some(state) => Ok(state),
        None => Err(failure!("get_instance('{id}') found nothing")),
    }
}

pub(crate) async fn expect_status(
    store: &dyn Store,
    id: &str,
    expected: RuntimeStatus,
    when: &str,
) -> Outcome<OrchestrationState> {
    let state = get(store, id).await?;
    ensure_eq!(status_of(&state), Some(expected), "status of '{id}' {when}");
    Ok(state)
}

/// Creates an instance and takes its first work item.
pub(crate) async fn start(store: &dyn Store, worker: WorkerId, id: &str) -> Outcome<Orch> {
    create(store, id).await?;
    next_orchestration(store, worker, id).await
}

/// Creates an instance and commits an empty first turn, leaving it `Running`.
pub(crate) async fn start_running(store: &dyn Store, worker: WorkerId, id: &str) -> Outcome {
    let first = start(store, worker, id).await?;
    answer(store, &first, Vec::new()).await?;
    expect_status(store, id, RuntimeStatus::Running, "after its first turn").await?;
    Ok(())
}

/// A worker with filters accepting everything and the given limits.
pub(crate) async fn limited_worker(
    store: &dyn Store,
    limits: dt_store::WorkLimits,
) -> Outcome<WorkerId> {
    let options = dt_store::WorkerOptions {
        limits,
        ..WorkFilters::all().into()
    };
    Ok(call!(store.connect_worker(options).await))
}

/// A critical section `cs` of instance `id` asking for `entities`.
pub(crate) fn lock(action_id: i32, id: &str, cs: &str, entities: &[&str]) -> OrchestratorAction {
    use send_entity_message_action::EntityMessageType as Msg;
    entity_message(
        action_id,
        Msg::EntityLockRequested(EntityLockRequestedEvent {
            critical_section_id: cs.to_owned(),
            lock_set: entities.iter().map(|e| (*e).to_owned()).collect(),
            position: 0,
            parent_instance_id: Some(id.to_owned()),
        }),
    )
}

/// A sub-orchestration named `name` with the given instance id.
pub(crate) fn child(action_id: i32, instance_id: &str, name: &str) -> OrchestratorAction {
    OrchestratorAction {
        id: action_id,
        orchestrator_action_type: Some(OrchestratorActionType::CreateSubOrchestration(
            CreateSubOrchestrationAction {
                instance_id: instance_id.to_owned(),
                name: name.to_owned(),
                ..Default::default()
            },
        )),
    }
}

/// Takes the orchestration work item that grants `cs` to `id`.
pub(crate) async fn granted(
    store: &dyn Store,
    worker: WorkerId,
    id: &str,
    cs: &str,
) -> Outcome<Orch> {
    let item = next_orchestration(store, worker, id).await?;
    ensure_eq!(
        grants(&item.req.new_events),
        [cs],
        "critical sections granted to '{id}'"
    );
    Ok(item)
}

/// Takes every work item ready for the worker (at most 100).
pub(crate) async fn drain(store: &dyn Store, worker: WorkerId) -> Outcome<Vec<WorkItem>> {
    let mut items = Vec::new();
    while let Some(item) = call!(store.try_next_work_item(worker).await) {
        items.push(as_sent(item)?);
        ensure!(
            items.len() <= 100,
            "more than 100 work items for one worker"
        );
    }
    Ok(items)
}

/// Parks `worker` in `next_work_item` (it must not return yet), runs `act`, and returns what
/// the parked call then gets, within [`crate::harness::ITEM_WAIT`].
pub(crate) async fn woken_by(
    store: &dyn Store,
    worker: WorkerId,
    what: &str,
    act: impl Future<Output = Outcome>,
) -> Outcome<WorkItem> {
    let mut parked = std::pin::pin!(store.next_work_item(worker));
    if let Some(early) = poll_once(parked.as_mut()).await {
        return Err(failure!("{what}: the worker was handed {early:?} before"));
    }
    act.await?;
    match tokio::time::timeout(crate::harness::ITEM_WAIT, parked).await {
        Ok(Ok(item)) => as_sent(item),
        other => Err(failure!("{what}: the waiting worker gave {other:?}")),
    }
}

/// Sends event `name` to instance `target`.
pub(crate) fn send_event(id: i32, target: &str, name: &str) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::SendEvent(SendEventAction {
            instance: Some(OrchestrationInstance {
                instance_id: target.to_owned(),
                execution_id: None,
            }),
            name: name.to_owned(),
            data: None,
        })),
    }
}

/// What a worker answering a rewind work item starts from: the history it was sent and the
/// rewind's new events, without the failed end.
pub(crate) fn rewound_history(rewind: &Orch) -> Vec<HistoryEvent> {
    rewind
        .req
        .past_events
        .iter()
        .chain(&rewind.req.new_events)
        .filter(|e| kind(e) != EC)
        .cloned()
        .collect()
}

/// The rewindOrchestration action that rewrites the history to `new_history`.
pub(crate) fn rewind_to(new_history: Vec<HistoryEvent>) -> OrchestratorAction {
    OrchestratorAction {
        id: -1,
        orchestrator_action_type: Some(OrchestratorActionType::RewindOrchestration(
            RewindOrchestrationAction { new_history },
        )),
    }
}
