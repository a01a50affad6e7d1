//! What GetInstance reports beyond the Python reference: version, execution id, tags, parent
//! instance, and created / last-updated / completed timestamps, for a parent and its child.

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_testing::create_test_backend;
use std::collections::HashMap;
use std::time::Duration;
use tonic::Streaming;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn next_orchestration(
    stream: &mut Streaming<WorkItem>,
) -> Result<(OrchestratorRequest, String), Box<dyn std::error::Error>> {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await??
            .ok_or("stream ended")?;
        if let Some(Item::OrchestratorRequest(r)) = item.request {
            return Ok((r, item.completion_token));
        }
    }
}

fn action(id: i32, t: OrchestratorActionType) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(t),
    }
}

fn complete(id: i32, result: &str) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::Completed as i32,
            result: Some(result.to_owned()),
            ..Default::default()
        }),
    )
}

#[tokio::test]
async fn instance_state_carries_version_execution_tags_parent_and_times() -> TestResult {
    let backend = create_test_backend(0).await?;
    let mut c = TaskHubSidecarServiceClient::connect(backend.address()).await?;
    let tags = HashMap::from([("team".to_owned(), "core".to_owned())]);
    c.start_instance(CreateInstanceRequest {
        instance_id: "parent".into(),
        name: "p".into(),
        version: Some("1.5".into()),
        input: Some("1".into()),
        tags: tags.clone(),
        execution_id: Some("exec-p".into()),
        ..Default::default()
    })
    .await?;
    let mut stream = c
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();

    let (first, token) = next_orchestration(&mut stream).await?;
    let Some(history_event::EventType::ExecutionStarted(es)) =
        first.new_events.get(1).and_then(|e| e.event_type.clone())
    else {
        return Err(format!(
            "second new event is not executionStarted: {:?}",
            first.new_events
        )
        .into());
    };
    assert_eq!((es.version.as_deref(), &es.tags), (Some("1.5"), &tags));
    assert_eq!(first.execution_id.as_deref(), Some("exec-p"));
    assert!(
        first
            .new_events
            .iter()
            .all(|e| e.timestamp.is_some_and(|t| t.seconds > 0)),
        "events without real timestamps"
    );
    c.complete_orchestrator_task(OrchestratorResponse {
        instance_id: "parent".into(),
        completion_token: token,
        actions: vec![action(
            1,
            OrchestratorActionType::CreateSubOrchestration(CreateSubOrchestrationAction {
                instance_id: "child".into(),
                name: "c".into(),
                version: Some("2".into()),
                tags: tags.clone(),
                ..Default::default()
            }),
        )],
        ..Default::default()
    })
    .await?;

    let (child, token) = next_orchestration(&mut stream).await?;
    assert_eq!(child.instance_id, "child");
    c.complete_orchestrator_task(OrchestratorResponse {
        instance_id: "child".into(),
        completion_token: token,
        actions: vec![complete(1, "\"done\"")],
        ..Default::default()
    })
    .await?;
    let child_state = c
        .get_instance(GetInstanceRequest {
            instance_id: "child".into(),
            get_inputs_and_outputs: true,
        })
        .await?
        .into_inner()
        .orchestration_state
        .ok_or("child missing")?;
    assert_eq!(child_state.parent_instance_id.as_deref(), Some("parent"));
    assert_eq!(child_state.version.as_deref(), Some("2"));
    assert_eq!(child_state.tags, tags);
    assert_eq!(child_state.output.as_deref(), Some("\"done\""));
    assert!(child_state.execution_id.is_some_and(|e| !e.is_empty()));

    let (parent_again, token) = next_orchestration(&mut stream).await?;
    let delivered = parent_again.new_events.iter().any(|e| {
        matches!(&e.event_type, Some(history_event::EventType::SubOrchestrationInstanceCompleted(s))
            if s.task_scheduled_id == 1 && s.result.as_deref() == Some("\"done\""))
    });
    assert!(
        delivered,
        "child result not delivered: {:?}",
        parent_again.new_events
    );
    c.complete_orchestrator_task(OrchestratorResponse {
        instance_id: "parent".into(),
        completion_token: token,
        actions: vec![complete(2, "\"ok\"")],
        ..Default::default()
    })
    .await?;

    let parent = c
        .get_instance(GetInstanceRequest {
            instance_id: "parent".into(),
            get_inputs_and_outputs: false,
        })
        .await?
        .into_inner()
        .orchestration_state
        .ok_or("parent missing")?;
    assert_eq!(
        parent.orchestration_status,
        OrchestrationStatus::Completed as i32
    );
    assert_eq!(parent.version.as_deref(), Some("1.5"));
    assert_eq!(parent.execution_id.as_deref(), Some("exec-p"));
    assert_eq!(parent.tags, tags);
    assert_eq!(parent.parent_instance_id, None);
    assert_eq!(
        (parent.input, parent.output),
        (None, None),
        "payloads without getInputsAndOutputs"
    );
    let created = parent.created_timestamp.ok_or("no created time")?;
    let updated = parent
        .last_updated_timestamp
        .ok_or("no last-updated time")?;
    let completed = parent.completed_timestamp.ok_or("no completed time")?;
    let key = |t: prost_types::Timestamp| (t.seconds, t.nanos);
    // The last update of a finished instance is its completion.
    assert!(key(created) <= key(completed), "created after completed");
    assert_eq!(key(updated), key(completed));
    Ok(())
}
