//! The `dt-server` binary as a user runs it: the port line on stdout, IPv4 and IPv6 loopback,
//! the defaults in `--help`, `--max-history-size`, and a clean exit on SIGTERM.

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
mod common;

use common::{BIN, TestResult, WAIT, spawn, terminate};
use tokio::process::Command;

#[tokio::test]
async fn port_zero_serves_ipv4_and_ipv6_loopback_and_stops_on_sigterm() -> TestResult {
    let (child, port) = spawn(&["--port", "0"]).await?;
    assert_ne!(port, 0);
    let mut v4 = TaskHubSidecarServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    v4.hello(()).await?;
    // Machines without an IPv6 stack only get IPv4; where ::1 exists it must be served too.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let mut v6 = TaskHubSidecarServiceClient::connect(format!("http://[::1]:{port}")).await?;
        v6.hello(()).await?;
    }
    // A worker stream is open while the signal arrives: shutdown must still be prompt.
    let mut stream = v4
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    terminate(child).await?;
    let end = tokio::time::timeout(WAIT, stream.message()).await?;
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "stream still delivering after shutdown: {end:?}"
    );
    Ok(())
}

#[tokio::test]
async fn help_shows_the_sdk_default_address() -> TestResult {
    let out = Command::new(BIN).arg("--help").output().await?;
    let help = String::from_utf8(out.stdout)?;
    for expected in [
        "[default: localhost]",
        "[default: 4001]",
        "--max-history-size",
        "[default: 10000]",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn max_history_size_flag_limits_histories() -> TestResult {
    let (child, port) = spawn(&["--port", "0", "--max-history-size", "3"]).await?;
    let mut c = TaskHubSidecarServiceClient::connect(format!("http://127.0.0.1:{port}")).await?;
    let id = c
        .start_instance(CreateInstanceRequest {
            name: "o".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .instance_id;
    let mut stream = c
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    let item = tokio::time::timeout(WAIT, stream.message())
        .await??
        .ok_or("stream ended")?;
    let Some(Item::OrchestratorRequest(request)) = item.request else {
        return Err(format!("unexpected item {item:?}").into());
    };
    c.complete_orchestrator_task(OrchestratorResponse {
        instance_id: request.instance_id,
        completion_token: item.completion_token,
        actions: vec![OrchestratorAction {
            id: 1,
            orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(
                CompleteOrchestrationAction {
                    orchestration_status: OrchestrationStatus::Completed as i32,
                    ..Default::default()
                },
            )),
        }],
        ..Default::default()
    })
    .await?;
    let mut wait = tonic::Request::new(GetInstanceRequest {
        instance_id: id,
        get_inputs_and_outputs: false,
    });
    wait.set_timeout(WAIT);
    let state = c
        .wait_for_instance_completion(wait)
        .await?
        .into_inner()
        .orchestration_state
        .ok_or("no state")?;
    assert_eq!(
        state.orchestration_status,
        OrchestrationStatus::Failed as i32
    );
    terminate(child).await
}
