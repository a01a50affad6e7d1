//! Shared by the API tests: a backend with HTTP, a JSON client, and a tiny raw-protocol worker
//! whose orchestrations behave by name, so instances reach every status.

#![allow(dead_code, unreachable_pub)]

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request;
use dt_proto::*;
use dt_testing::{TestBackend, TestBackendOptions};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a test waits for something that must happen.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A backend serving HTTP on a free port, and a client for it.
pub struct Api {
    pub backend: TestBackend,
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start() -> Result<Self, BoxError> {
        Self::with(dt_http::HttpOptions::default()).await
    }

    pub async fn with(http: dt_http::HttpOptions) -> Result<Self, BoxError> {
        Self::with_options(TestBackendOptions {
            http,
            ..Default::default()
        })
        .await
    }

    /// A backend with `options`, serving HTTP on a free port.
    pub async fn with_options(options: TestBackendOptions) -> Result<Self, BoxError> {
        let backend = TestBackend::start(TestBackendOptions {
            http_port: Some(0),
            ..options
        })
        .await?;
        let base = backend.http_address().ok_or("no HTTP address")?;
        Ok(Self {
            backend,
            base,
            http: reqwest::Client::new(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET; the status and the JSON body (Null if none).
    pub async fn get(&self, path: &str) -> Result<(u16, Value), BoxError> {
        answer(self.http.get(self.url(path)).send().await?).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), BoxError> {
        answer(self.http.post(self.url(path)).json(&body).send().await?).await
    }

    pub async fn delete(&self, path: &str) -> Result<(u16, Value), BoxError> {
        answer(self.http.delete(self.url(path)).send().await?).await
    }

    /// Starts an orchestration through the API; its id.
    pub async fn start_instance(&self, name: &str, id: &str) -> Result<String, BoxError> {
        let (status, body) = self
            .post("/api/v1/instances", json!({"name": name, "instanceId": id}))
            .await?;
        assert_eq!(status, 201, "{body}");
        Ok(body["instanceId"]
            .as_str()
            .ok_or("no instanceId")?
            .to_owned())
    }

    /// Waits until the instance has `status`.
    pub async fn wait_status(&self, id: &str, status: &str) -> Result<Value, BoxError> {
        let path = format!("/api/v1/instances/{}", encode(id));
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (code, body) = self.get(&path).await?;
            if code == 200 && body["status"] == status {
                return Ok(body);
            }
            if tokio::time::Instant::now() > end {
                return Err(format!("{id} did not become {status}: {code} {body}").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(response: reqwest::Response) -> Result<(u16, Value), BoxError> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, body))
}

/// Percent-encodes an id for a URL path.
pub fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn complete(status: OrchestrationStatus, result: Option<String>) -> OrchestratorAction {
    let failure_details = (status == OrchestrationStatus::Failed).then(|| TaskFailureDetails {
        error_type: "TestError".into(),
        error_message: "failed on purpose".into(),
        stack_trace: Some("at test_worker (line 1)\nat tokio (line 2)".into()),
        ..Default::default()
    });
    OrchestratorAction {
        id: 1,
        orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(
            CompleteOrchestrationAction {
                orchestration_status: status as i32,
                result,
                failure_details,
                ..Default::default()
            },
        )),
    }
}

/// What an orchestration named `name` does on a turn with `events` new: `complete` completes
/// with "done", `fail` fails, anything else waits until an event named `finish` arrives and
/// completes with its data; a termination ends any of them.
fn actions(name: &str, events: &[HistoryEvent]) -> Vec<OrchestratorAction> {
    use history_event::EventType;
    let terminated = events.iter().find_map(|e| match &e.event_type {
        Some(EventType::ExecutionTerminated(t)) => Some(t.input.clone()),
        _ => None,
    });
    if let Some(output) = terminated {
        return vec![complete(OrchestrationStatus::Terminated, output)];
    }
    match name {
        "complete" => vec![complete(
            OrchestrationStatus::Completed,
            Some("\"done\"".into()),
        )],
        "fail" => vec![complete(OrchestrationStatus::Failed, None)],
        _ => events
            .iter()
            .find_map(|e| match &e.event_type {
                Some(EventType::EventRaised(r)) if r.name == "finish" => Some(r.input.clone()),
                _ => None,
            })
            .map(|data| vec![complete(OrchestrationStatus::Completed, data)])
            .unwrap_or_default(),
    }
}

fn orchestrator_name(request: &OrchestratorRequest) -> String {
    request
        .past_events
        .iter()
        .chain(&request.new_events)
        .find_map(|e| match &e.event_type {
            Some(history_event::EventType::ExecutionStarted(s)) => Some(s.name.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn ok_result() -> OperationResult {
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

/// A worker on the gRPC port: orchestrations behave by name (see [`actions`]); an entity's
/// state is a number that each operation adds its input to.
pub async fn spawn_worker(address: String) -> Result<JoinHandle<()>, BoxError> {
    let mut client = TaskHubSidecarServiceClient::connect(address).await?;
    let mut stream = client
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    Ok(tokio::spawn(async move {
        while let Some(Ok(item)) = stream.next().await {
            let token = item.completion_token.clone();
            match item.request {
                Some(Request::OrchestratorRequest(r)) => {
                    let actions = actions(&orchestrator_name(&r), &r.new_events);
                    let _ = client
                        .complete_orchestrator_task(OrchestratorResponse {
                            instance_id: r.instance_id,
                            completion_token: token,
                            actions,
                            ..Default::default()
                        })
                        .await;
                }
                Some(Request::EntityRequestV2(r)) => {
                    let mut state: i64 = r
                        .entity_state
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let mut results = Vec::new();
                    for op in &r.operation_requests {
                        if let Some(history_event::EventType::EntityOperationSignaled(s)) =
                            &op.event_type
                        {
                            state += s
                                .input
                                .as_deref()
                                .and_then(|i| i.parse::<i64>().ok())
                                .unwrap_or(0);
                        }
                        results.push(ok_result());
                    }
                    let _ = client
                        .complete_entity_task(EntityBatchResult {
                            results,
                            entity_state: Some(state.to_string()),
                            completion_token: token,
                            ..Default::default()
                        })
                        .await;
                }
                _ => {}
            }
        }
    }))
}
