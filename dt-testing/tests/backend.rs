//! The test backend's life cycle through the generated tonic client: start on an ephemeral or
//! fixed port, run an orchestration with a raw worker, reset, stop, drop.

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_store::{MemoryStore, Store};
use dt_testing::{
    Server, TestBackend, create_test_backend, create_test_backend_with_history_limit,
};
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

type Client = TaskHubSidecarServiceClient<Channel>;
type TestResult = Result<(), Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(10);

async fn client(backend: &TestBackend) -> Result<Client, tonic::transport::Error> {
    TaskHubSidecarServiceClient::connect(backend.address()).await
}

async fn start(client: &mut Client, id: &str) -> Result<String, tonic::Status> {
    let response = client
        .start_instance(CreateInstanceRequest {
            instance_id: id.to_owned(),
            name: "echo".to_owned(),
            input: Some("\"hi\"".to_owned()),
            ..Default::default()
        })
        .await?;
    Ok(response.into_inner().instance_id)
}

/// Answers one orchestration work item by completing it with its input as output.
async fn run_one_echo(client: &mut Client) -> TestResult {
    let mut stream = client
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    let item = tokio::time::timeout(WAIT, stream.next())
        .await?
        .ok_or("stream ended")??;
    let Some(Item::OrchestratorRequest(request)) = item.request else {
        return Err(format!("expected an orchestrator request, got {item:?}").into());
    };
    let input = request.new_events.iter().find_map(|e| match &e.event_type {
        Some(history_event::EventType::ExecutionStarted(es)) => es.input.clone(),
        _ => None,
    });
    client
        .complete_orchestrator_task(OrchestratorResponse {
            instance_id: request.instance_id,
            completion_token: item.completion_token,
            actions: vec![OrchestratorAction {
                id: 1,
                orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(
                    CompleteOrchestrationAction {
                        orchestration_status: OrchestrationStatus::Completed as i32,
                        result: input,
                        ..Default::default()
                    },
                )),
            }],
            ..Default::default()
        })
        .await?;
    Ok(())
}

async fn wait_completed(
    client: &mut Client,
    id: &str,
) -> Result<OrchestrationState, Box<dyn std::error::Error>> {
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
        .ok_or_else(|| "no state".into())
}

#[tokio::test]
async fn ephemeral_port_runs_an_orchestration_end_to_end() -> TestResult {
    let backend = create_test_backend(0).await?;
    assert_ne!(backend.port(), 0);
    let mut c = client(&backend).await?;
    c.hello(()).await?;
    let id = start(&mut c, "echo-1").await?;
    run_one_echo(&mut c).await?;
    let state = wait_completed(&mut c, &id).await?;
    assert_eq!(
        state.orchestration_status,
        OrchestrationStatus::Completed as i32
    );
    assert_eq!(state.output.as_deref(), Some("\"hi\""));
    backend.stop().await;
    Ok(())
}

#[tokio::test]
async fn fixed_port_is_honoured() -> TestResult {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let backend = create_test_backend(port).await?;
    assert_eq!(backend.port(), port);
    assert_eq!(backend.address(), format!("http://127.0.0.1:{port}"));
    client(&backend).await?.hello(()).await?;
    Ok(())
}

#[tokio::test]
async fn reset_forgets_every_instance() -> TestResult {
    let backend = create_test_backend(0).await?;
    let mut c = client(&backend).await?;
    let id = start(&mut c, "to-forget").await?;
    backend.reset().await;
    let got = c
        .get_instance(GetInstanceRequest {
            instance_id: id.clone(),
            get_inputs_and_outputs: false,
        })
        .await?
        .into_inner();
    assert!(!got.exists, "instance survived reset: {got:?}");
    // The id is free again.
    assert_eq!(start(&mut c, &id).await?, id);
    Ok(())
}

#[tokio::test]
async fn stop_and_drop_close_the_port() -> TestResult {
    let backend = create_test_backend(0).await?;
    let addr = backend.address();
    backend.stop().await;
    assert!(TaskHubSidecarServiceClient::connect(addr).await.is_err());

    let dropped = create_test_backend(0).await?;
    let addr = dropped.socket_addr();
    drop(dropped);
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "port still open after drop"
        );
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[tokio::test]
async fn history_limit_fails_the_orchestration_instead_of_wedging_it() -> TestResult {
    // OS, ES, OC, EC already make 4 events; a limit of 3 cannot fit even one turn.
    let backend = create_test_backend_with_history_limit(0, 3).await?;
    let mut c = client(&backend).await?;
    let id = start(&mut c, "too-long").await?;
    run_one_echo(&mut c).await?;
    let state = wait_completed(&mut c, &id).await?;
    assert_eq!(
        state.orchestration_status,
        OrchestrationStatus::Failed as i32
    );
    let details = state.failure_details.ok_or("no failure details")?;
    assert_eq!(details.error_type, "HistorySizeLimitExceeded");
    assert!(
        details.error_message.contains("max_history_size of 3"),
        "{}",
        details.error_message
    );
    Ok(())
}

#[tokio::test]
async fn server_stops_promptly_with_a_worker_connected_and_restarts_on_the_same_store() -> TestResult
{
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Default::default()));
    let server = Server::start(store.clone(), 0, Default::default()).await?;
    let port = server.socket_addr().port();
    let mut c = TaskHubSidecarServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    let id = start(&mut c, "kept").await?;
    // A worker's stream stays open across the stop: the server ends it rather than waiting.
    let mut stream = c
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    assert!(
        server.stop_within(WAIT).await,
        "connections did not drain within the grace"
    );
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the work-item stream outlived the server");

    // The port is free at once, and a new server on the same store still knows the instance.
    let again = Server::start(store, port, Default::default()).await?;
    assert_eq!(again.socket_addr().port(), port);
    let mut c = TaskHubSidecarServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    let got = c
        .get_instance(GetInstanceRequest {
            instance_id: id,
            get_inputs_and_outputs: false,
        })
        .await?
        .into_inner();
    assert!(got.exists);
    // With no grace the client's connection is cut, and the port is free all the same.
    let _ = again.stop_within(Duration::ZERO).await;
    std::net::TcpListener::bind(("127.0.0.1", port))?;
    Ok(())
}
