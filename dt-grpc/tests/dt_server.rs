//! The `dt-server` binary as a user runs it: the port line on stdout, IPv4 and IPv6 loopback,
//! the defaults in `--help`, `--max-history-size`, and a clean exit on SIGTERM.

use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
mod common;

use common::{BIN, Error, TestResult, WAIT, spawn, terminate};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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

/// Starts the binary and reads both stdout lines: the gRPC port and the dashboard's port.
async fn spawn_with_http(args: &[&str]) -> Result<(Child, u16, u16), Error> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next = async || -> Result<String, Error> {
        Ok(tokio::time::timeout(WAIT, lines.next_line())
            .await??
            .ok_or("dt-server exited early")?)
    };
    let first = next().await?;
    let grpc = first
        .strip_prefix("dt-server listening on localhost:")
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    let second = next().await?;
    let http = second
        .strip_prefix("dt-server dashboard on http://localhost:")
        .and_then(|rest| rest.strip_suffix('/'))
        .ok_or_else(|| format!("unexpected second line {second:?}"))?
        .parse()?;
    Ok((child, grpc, http))
}

/// One HTTP/1.1 GET on a fresh connection, addressed to `host`: the whole answer.
async fn http_get(port: u16, host: &str, path: &str) -> Result<String, Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut answer = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut answer)).await??;
    Ok(answer)
}

#[tokio::test]
async fn port_zero_serves_the_dashboard_health_and_reflection_and_stops_with_a_feed_open()
-> TestResult {
    let (child, grpc, http) = spawn_with_http(&["--port", "0"]).await?;
    assert_ne!(http, 0);
    assert_ne!(http, grpc);
    let health = http_get(http, "localhost", "/healthz").await?;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // On loopback, a page whose domain was rebound to 127.0.0.1 is refused.
    let rebound = http_get(http, "attacker.example", "/api/v1/instances").await?;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    let page = http_get(http, &format!("127.0.0.1:{http}"), "/").await?;
    assert!(
        page.contains("<title>dt-server dashboard</title>"),
        "{page}"
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}"))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "TaskHubSidecarService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await?
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers.message().await?.ok_or("no reflection answer")?;
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        return Err("not a service list".into());
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"TaskHubSidecarService".to_owned()),
        "{names:?}"
    );

    // An open live feed must not hold up the shutdown.
    use tokio::io::AsyncWriteExt;
    let mut feed = tokio::net::TcpStream::connect(("127.0.0.1", http)).await?;
    feed.write_all(b"GET /api/v1/events HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    terminate(child).await
}

#[tokio::test]
async fn no_http_prints_no_dashboard_line() -> TestResult {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-http"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line()).await??;
    assert!(first.is_some_and(|l| l.starts_with("dt-server listening on")));
    terminate(child).await?;
    assert_eq!(
        lines.next_line().await?,
        None,
        "nothing after the listening line"
    );
    Ok(())
}

#[tokio::test]
async fn an_explicit_http_port_that_is_taken_is_an_error() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let out = tokio::time::timeout(
        WAIT,
        Command::new(BIN)
            .args(["--port", "0", "--http-port", &port])
            .output(),
    )
    .await??;
    assert!(!out.status.success(), "dt-server started on a taken port");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--http-port"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}

#[tokio::test]
async fn a_postgres_store_that_cannot_be_used_is_an_error_that_hides_the_password() -> TestResult {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    for (store, says) in [
        (
            format!("postgres://dt:hunter2@127.0.0.1:{closed}/dt"),
            "cannot connect to PostgreSQL",
        ),
        (
            "postgres://dt:hunter2@127.0.0.1:port/dt".to_owned(),
            "not a PostgreSQL URL",
        ),
        ("postgre://dt:hunter2@db/dt".to_owned(), "unknown store"),
    ] {
        let out = tokio::time::timeout(
            WAIT,
            Command::new(BIN)
                .args(["--port", "0", "--no-http", "--store", &store])
                .env("RUST_BACKTRACE", "0")
                .output(),
        )
        .await??;
        assert!(!out.status.success(), "dt-server started on {store}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stderr.contains(says), "{store}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stdout.contains("hunter2"),
            "{store}: the password was shown: {stderr}{stdout}"
        );
    }
    Ok(())
}
