//! Helpers shared by the raw-protocol integration tests (`work_items.rs`, `client_rpcs.rs`):
//! a backend with tunables, a worker that reads one `GetWorkItems` stream, builders for
//! orchestrator actions, and client calls that read state and history.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_store::StoreConfig;
use dt_testing::{TestBackend, TestBackendOptions};
use std::time::Duration;
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::Streaming;
use tonic::transport::Channel;

pub(crate) type Client = TaskHubSidecarServiceClient<Channel>;
pub(crate) type BoxError = Box<dyn std::error::Error>;
pub(crate) type TestResult = Result<(), BoxError>;

/// Bound for anything that should happen promptly; only reached when a test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// How long a test watches a stream to conclude that nothing is coming.
pub(crate) const QUIET: Duration = Duration::from_millis(200);

/// A backend with the given store tunables and health-ping interval.
pub(crate) async fn backend_with(
    store: StoreConfig,
    ping_interval: Option<Duration>,
) -> Result<TestBackend, BoxError> {
    let mut serve = dt_grpc::ServeOptions::default();
    if let Some(p) = ping_interval {
        serve.ping_interval = p;
    }
    Ok(TestBackend::start(TestBackendOptions {
        port: 0,
        store,
        serve,
        ..Default::default()
    })
    .await?)
}

/// A backend with default settings.
pub(crate) async fn backend() -> Result<TestBackend, BoxError> {
    backend_with(StoreConfig::default(), None).await
}

pub(crate) async fn connect(backend: &TestBackend) -> Result<Client, BoxError> {
    Ok(TaskHubSidecarServiceClient::connect(backend.address()).await?)
}

/// One worker: its own connection and one open `GetWorkItems` stream.
pub(crate) struct Worker {
    pub(crate) client: Client,
    pub(crate) stream: Streaming<WorkItem>,
}

impl Worker {
    /// Connects and opens a stream; `None` sends no `workItemFilters` (everything).
    pub(crate) async fn connect(
        backend: &TestBackend,
        filters: Option<WorkItemFilters>,
    ) -> Result<Self, BoxError> {
        let mut client = connect(backend).await?;
        let stream = client
            .get_work_items(GetWorkItemsRequest {
                work_item_filters: filters,
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(Self { client, stream })
    }

    /// The next item that is not a health ping, or `None` if none arrives within `within`.
    pub(crate) async fn next_within(
        &mut self,
        within: Duration,
    ) -> Result<Option<WorkItem>, BoxError> {
        let deadline = Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err("the work-item stream ended".into()),
                Ok(Some(item)) => {
                    let item = item?;
                    if !matches!(item.request, Some(Item::HealthPing(_))) {
                        return Ok(Some(item));
                    }
                }
            }
        }
    }

    /// The next item that is not a health ping; an error if none arrives within [`WAIT`].
    pub(crate) async fn next(&mut self) -> Result<WorkItem, BoxError> {
        self.next_within(WAIT)
            .await?
            .ok_or_else(|| "no work item arrived in time".into())
    }

    /// Asserts that no work item (other than pings) arrives within `within`.
    pub(crate) async fn expect_nothing(&mut self, within: Duration) -> TestResult {
        match self.next_within(within).await? {
            None => Ok(()),
            Some(item) => Err(format!("expected no work item, got {item:?}").into()),
        }
    }

    pub(crate) async fn next_orchestration(
        &mut self,
    ) -> Result<(OrchestratorRequest, String), BoxError> {
        let item = self.next().await?;
        match item.request {
            Some(Item::OrchestratorRequest(r)) => Ok((r, item.completion_token)),
            other => Err(format!("expected an orchestrator request, got {other:?}").into()),
        }
    }

    pub(crate) async fn next_activity(&mut self) -> Result<(ActivityRequest, String), BoxError> {
        let item = self.next().await?;
        match item.request {
            Some(Item::ActivityRequest(r)) => Ok((r, item.completion_token)),
            other => Err(format!("expected an activity request, got {other:?}").into()),
        }
    }

    /// Answers an orchestration work item.
    pub(crate) async fn complete(
        &mut self,
        instance_id: &str,
        token: &str,
        actions: Vec<OrchestratorAction>,
    ) -> Result<(), tonic::Status> {
        complete_orchestration(&mut self.client, instance_id, token, actions).await
    }

    /// Answers an activity work item with a result.
    pub(crate) async fn complete_activity(
        &mut self,
        request: &ActivityRequest,
        token: &str,
        result: &str,
    ) -> Result<(), tonic::Status> {
        complete_activity(&mut self.client, request, token, result).await
    }

    /// Closes the stream (as a crashed worker would) but keeps the connection for late calls.
    pub(crate) fn drop_stream(self) -> Client {
        self.client
    }
}

/// Filters that take only the named orchestrations and no activities.
pub(crate) fn orchestrations_only(names: &[&str]) -> Option<WorkItemFilters> {
    Some(WorkItemFilters {
        orchestrations: names
            .iter()
            .map(|n| OrchestrationFilter {
                name: (*n).to_owned(),
                versions: Vec::new(),
            })
            .collect(),
        ..Default::default()
    })
}

/// Filters that take only the named activities and no orchestrations.
pub(crate) fn activities_only(names: &[&str]) -> Option<WorkItemFilters> {
    Some(WorkItemFilters {
        activities: names
            .iter()
            .map(|n| ActivityFilter {
                name: (*n).to_owned(),
                versions: Vec::new(),
            })
            .collect(),
        ..Default::default()
    })
}

pub(crate) async fn complete_orchestration(
    client: &mut Client,
    instance_id: &str,
    token: &str,
    actions: Vec<OrchestratorAction>,
) -> Result<(), tonic::Status> {
    client
        .complete_orchestrator_task(OrchestratorResponse {
            instance_id: instance_id.to_owned(),
            completion_token: token.to_owned(),
            actions,
            ..Default::default()
        })
        .await?;
    Ok(())
}

pub(crate) async fn complete_activity(
    client: &mut Client,
    request: &ActivityRequest,
    token: &str,
    result: &str,
) -> Result<(), tonic::Status> {
    let instance_id = request
        .orchestration_instance
        .as_ref()
        .map(|i| i.instance_id.clone())
        .unwrap_or_default();
    client
        .complete_activity_task(ActivityResponse {
            instance_id,
            task_id: request.task_id,
            result: Some(result.to_owned()),
            completion_token: token.to_owned(),
            ..Default::default()
        })
        .await?;
    Ok(())
}

pub(crate) fn action(id: i32, t: OrchestratorActionType) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(t),
    }
}

/// `completeOrchestration` with a status and result.
pub(crate) fn finish(id: i32, status: OrchestrationStatus, result: &str) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: status as i32,
            result: Some(result.to_owned()),
            ..Default::default()
        }),
    )
}

/// `completeOrchestration` COMPLETED.
pub(crate) fn complete(id: i32, result: &str) -> OrchestratorAction {
    finish(id, OrchestrationStatus::Completed, result)
}

/// `scheduleTask` for an activity.
pub(crate) fn schedule(id: i32, name: &str, input: &str) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
            name: name.to_owned(),
            input: Some(input.to_owned()),
            ..Default::default()
        }),
    )
}

/// `createSubOrchestration` with an explicit child id.
pub(crate) fn sub_orchestration(id: i32, child_id: &str, name: &str) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::CreateSubOrchestration(CreateSubOrchestrationAction {
            instance_id: child_id.to_owned(),
            name: name.to_owned(),
            ..Default::default()
        }),
    )
}

pub(crate) async fn start(client: &mut Client, id: &str, name: &str) -> Result<String, BoxError> {
    let response = client
        .start_instance(CreateInstanceRequest {
            instance_id: id.to_owned(),
            name: name.to_owned(),
            input: Some("\"in\"".to_owned()),
            ..Default::default()
        })
        .await?;
    Ok(response.into_inner().instance_id)
}

pub(crate) async fn raise(client: &mut Client, id: &str, name: &str) -> TestResult {
    client
        .raise_event(RaiseEventRequest {
            instance_id: id.to_owned(),
            name: name.to_owned(),
            input: None,
        })
        .await?;
    Ok(())
}

/// GetInstance with payloads; an error if the instance does not exist.
pub(crate) async fn state(client: &mut Client, id: &str) -> Result<OrchestrationState, BoxError> {
    let got = client
        .get_instance(GetInstanceRequest {
            instance_id: id.to_owned(),
            get_inputs_and_outputs: true,
        })
        .await?
        .into_inner();
    got.orchestration_state
        .filter(|_| got.exists)
        .ok_or_else(|| format!("instance {id} does not exist").into())
}

/// The status of a state as the enum (unknown values read as an error).
pub(crate) fn status(state: &OrchestrationState) -> Result<OrchestrationStatus, BoxError> {
    OrchestrationStatus::try_from(state.orchestration_status)
        .map_err(|_| format!("unknown status {}", state.orchestration_status).into())
}

/// WaitForInstanceCompletion bounded by [`WAIT`].
pub(crate) async fn wait_completed(
    client: &mut Client,
    id: &str,
) -> Result<OrchestrationState, BoxError> {
    let mut request = tonic::Request::new(GetInstanceRequest {
        instance_id: id.to_owned(),
        get_inputs_and_outputs: true,
    });
    request.set_timeout(WAIT);
    let response = client
        .wait_for_instance_completion(request)
        .await?
        .into_inner();
    response
        .orchestration_state
        .ok_or_else(|| "no state in the wait response".into())
}

/// The committed history of the current execution, all chunks concatenated.
pub(crate) async fn history(client: &mut Client, id: &str) -> Result<Vec<HistoryEvent>, BoxError> {
    let mut stream = client
        .stream_instance_history(StreamInstanceHistoryRequest {
            instance_id: id.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut events = Vec::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, stream.next()).await? {
        events.extend(chunk?.events);
    }
    Ok(events)
}

/// The name of an event's type, e.g. `"TaskCompleted"`.
pub(crate) fn kind(event: &HistoryEvent) -> String {
    match &event.event_type {
        None => "None".to_owned(),
        Some(t) => {
            let debug = format!("{t:?}");
            debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

/// The event type names of a list, for readable assertions.
pub(crate) fn kinds(events: &[HistoryEvent]) -> Vec<String> {
    events.iter().map(kind).collect()
}

pub(crate) fn count(events: &[HistoryEvent], wanted: &str) -> usize {
    events.iter().filter(|e| kind(e) == wanted).count()
}

/// The events without their framing `orchestratorStarted` (whose timestamp is renewed on every
/// dispatch).
pub(crate) fn without_started(events: &[HistoryEvent]) -> Vec<HistoryEvent> {
    events
        .iter()
        .filter(|e| {
            !matches!(
                e.event_type,
                Some(history_event::EventType::OrchestratorStarted(_))
            )
        })
        .cloned()
        .collect()
}

pub(crate) fn execution_started(events: &[HistoryEvent]) -> Option<&ExecutionStartedEvent> {
    events.iter().find_map(|e| match &e.event_type {
        Some(history_event::EventType::ExecutionStarted(es)) => Some(es),
        _ => None,
    })
}

pub(crate) fn task_results(events: &[HistoryEvent]) -> Vec<(i32, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(history_event::EventType::TaskCompleted(t)) => {
                Some((t.task_scheduled_id, t.result.clone()))
            }
            _ => None,
        })
        .collect()
}
