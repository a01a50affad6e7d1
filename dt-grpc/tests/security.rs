//! `dt-server`'s security and limits as an operator meets them: clear errors at start for bad
//! TLS or token files, the warning for an open unauthenticated port, tokens that never reach
//! the log, the certificate reloaded on SIGHUP under open connections, and the connection cap
//! and idle timeout.

mod common;

use common::{Error, Server, TestResult, WAIT, run_to_exit, signal, start, terminate};
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::*;
use dt_security::rustls::pki_types::{CertificateDer, ServerName};
use dt_security::rustls::{self, ClientConfig, RootCertStore};
use dt_security::test_certs::{CertFiles, TestCa};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

type Client = TaskHubSidecarServiceClient<Channel>;

fn path(p: &std::path::Path) -> Result<&str, Error> {
    p.to_str().ok_or_else(|| "non-UTF-8 temp path".into())
}

/// Fails unless the binary exits with an error whose message contains `expected`.
async fn refused_at_start(args: &[&str], env: &[(&str, &str)], expected: &str) -> TestResult {
    let (status, stderr) = run_to_exit(args, env).await?;
    assert!(!status.success(), "{args:?} started; stderr:\n{stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: {expected:?} not in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    Ok(())
}

#[tokio::test]
async fn bad_tls_or_token_files_are_clear_errors_at_start() -> TestResult {
    let ca = TestCa::new()?;
    let a = CertFiles::write(&ca.leaf("localhost")?)?;
    let b = CertFiles::write(&ca.leaf("localhost")?)?;
    let (cert, key, other_key) = (path(&a.cert)?, path(&a.key)?, path(&b.key)?);
    let missing = a.dir().join("missing.pem");
    let missing = path(&missing)?;
    let empty = a.dir().join("empty-tokens");
    std::fs::write(&empty, "\n  \n")?;
    let empty = path(&empty)?;

    let port = ["--port", "0"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tls-cert", cert],
            "--tls-cert was given without --tls-key",
        ),
        (
            vec!["--tls-key", key],
            "--tls-key was given without --tls-cert",
        ),
        (vec!["--tls-cert", missing, "--tls-key", key], "missing.pem"),
        (
            vec!["--tls-cert", cert, "--tls-key", missing],
            "cannot read private key file",
        ),
        (
            vec!["--tls-cert", key, "--tls-key", key],
            "no usable PEM certificate",
        ),
        (
            vec!["--tls-cert", cert, "--tls-key", other_key],
            "cannot be used with the certificate",
        ),
        (vec!["--auth-token-file", empty], "holds no token"),
        (
            vec!["--auth-token-file", missing],
            "cannot read the token file",
        ),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> = port.iter().copied().chain(extra).collect();
        refused_at_start(&args, &[], expected).await?;
    }
    refused_at_start(
        &port,
        &[("DT_AUTH_TOKEN", "  ")],
        "DT_AUTH_TOKEN is set but empty",
    )
    .await
}

const OPEN_WARNING: &str = "UNAUTHENTICATED gRPC PORT ON A NON-LOOPBACK ADDRESS";

/// Starts on `host`, stops, and returns what the server wrote to stderr.
async fn stderr_of_a_run(host: &str, env: &[(&str, &str)]) -> Result<String, Error> {
    let server = start(&["--host", host, "--port", "0"], env).await?;
    let text = server.stderr_text()?;
    terminate(server.child).await?;
    Ok(text)
}

#[tokio::test]
async fn an_open_address_without_a_token_gets_a_loud_warning() -> TestResult {
    let open = stderr_of_a_run("0.0.0.0", &[]).await?;
    let line = open
        .lines()
        .find(|l| l.contains(OPEN_WARNING))
        .ok_or_else(|| format!("no warning in:\n{open}"))?;
    assert!(line.contains("WARN"), "not at warn level: {line}");
    assert!(line.contains("anyone who can reach it"), "{line}");
    // The HTTP port (a free one beside `--port 0`) gets its own warning.
    assert!(
        open.contains("UNAUTHENTICATED HTTP PORT"),
        "no HTTP warning in:\n{open}"
    );

    let with_token = stderr_of_a_run("0.0.0.0", &[("DT_AUTH_TOKEN", "t0ken")]).await?;
    assert!(!with_token.contains(OPEN_WARNING), "{with_token}");
    let loopback = stderr_of_a_run("localhost", &[]).await?;
    assert!(!loopback.contains(OPEN_WARNING), "{loopback}");
    Ok(())
}

fn with_token<T>(message: T, token: &str) -> Result<tonic::Request<T>, Error> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

#[tokio::test]
async fn tokens_are_checked_and_never_logged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "\n  file-token-1f2e3d  \n\nfile-token-4c5b6a\n")?;
    let server = start(
        &["--port", "0", "--auth-token-file", path(&tokens)?],
        &[("DT_AUTH_TOKEN", "env-token-9a8b7c"), ("RUST_LOG", "trace")],
    )
    .await?;
    let mut client = Client::connect(format!("http://127.0.0.1:{}", server.port)).await?;

    let missing = client
        .hello(())
        .await
        .err()
        .ok_or("served without a token")?;
    assert_eq!(missing.code(), Code::Unauthenticated);
    let wrong = client
        .hello(with_token((), "wrong-token-0d0e0f")?)
        .await
        .err()
        .ok_or("served with a wrong token")?;
    assert_eq!(wrong.code(), Code::Unauthenticated);
    for token in ["file-token-1f2e3d", "file-token-4c5b6a", "env-token-9a8b7c"] {
        client.hello(with_token((), token)?).await?;
    }
    let started = client
        .start_instance(with_token(
            CreateInstanceRequest {
                name: "o".into(),
                ..Default::default()
            },
            "env-token-9a8b7c",
        )?)
        .await?;
    assert!(!started.into_inner().instance_id.is_empty());

    // Probes need no token; reflection (which lists the API) needs one like any other call.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", server.port))?
            .connect()
            .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await?
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let list = || tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let refused = reflection
        .server_reflection_info(tokio_stream::iter([list()]))
        .await
        .err()
        .ok_or("reflection served without a token")?;
    assert_eq!(refused.code(), Code::Unauthenticated);
    reflection
        .server_reflection_info(with_token(
            tokio_stream::iter([list()]),
            "file-token-1f2e3d",
        )?)
        .await?;

    let log = server.stderr_text()?;
    assert!(
        log.contains("call refused"),
        "refusals not logged at debug:\n{log}"
    );
    for secret in ["1f2e3d", "4c5b6a", "9a8b7c", "0d0e0f"] {
        assert!(!log.contains(secret), "a token reached the log ({secret})");
    }
    terminate(server.child).await
}

fn tls_client_config(ca: &TestCa) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate a new TLS connection to `port` is shown.
async fn presented_certificate(
    config: &Arc<ClientConfig>,
    port: u16,
) -> Result<CertificateDer<'static>, Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.alpn_protocol(),
        Some(&b"h2"[..]),
        "gRPC needs ALPN h2"
    );
    session
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or_else(|| "no certificate".into())
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections_and_keeps_open_ones() -> TestResult {
    let ca = TestCa::new()?;
    let first = ca.leaf("localhost")?;
    let files = CertFiles::write(&first)?;
    let server: Server = start(
        &[
            "--port",
            "0",
            "--tls-cert",
            path(&files.cert)?,
            "--tls-key",
            path(&files.key)?,
        ],
        &[("DT_AUTH_TOKEN", "tls-token")],
    )
    .await?;
    let config = tls_client_config(&ca)?;
    assert_eq!(
        presented_certificate(&config, server.port).await?,
        first.der
    );

    // A channel (one connection) opened before the reload, with a worker stream on it.
    let channel = Channel::from_shared(format!("https://127.0.0.1:{}", server.port))?
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.cert_pem()))
                .domain_name("localhost"),
        )?
        .connect()
        .await?;
    let mut client = Client::new(channel);
    client.hello(with_token((), "tls-token")?).await?;
    let mut stream = client
        .get_work_items(with_token(GetWorkItemsRequest::default(), "tls-token")?)
        .await?
        .into_inner();

    let second = ca.leaf("localhost")?;
    files.overwrite(&second)?;
    signal(&server.child, "HUP")?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while presented_certificate(&config, server.port).await? != second.der {
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The old connection still carries calls and its stream still delivers work.
    client
        .start_instance(with_token(
            CreateInstanceRequest {
                instance_id: "after-reload".into(),
                name: "o".into(),
                ..Default::default()
            },
            "tls-token",
        )?)
        .await?;
    let item = tokio::time::timeout(WAIT, stream.message())
        .await??
        .ok_or("stream ended")?;
    let Some(work_item::Request::OrchestratorRequest(request)) = item.request else {
        return Err(format!("unexpected item {item:?}").into());
    };
    assert_eq!(request.instance_id, "after-reload");

    // A broken file on the next SIGHUP keeps the current certificate.
    std::fs::write(&files.key, "not a key")?;
    signal(&server.child, "HUP")?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !server.stderr_text()?.contains("reload failed") {
        assert!(tokio::time::Instant::now() < deadline, "failure not logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        presented_certificate(&config, server.port).await?,
        second.der
    );
    terminate(server.child).await
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_the_server_carries_on() -> TestResult {
    let server = start(&["--port", "0", "--max-connections", "1"], &[]).await?;
    let address = format!("http://127.0.0.1:{}", server.port);
    let mut first = Client::connect(address.clone()).await?;
    first.hello(()).await?;
    let refused = async {
        let mut second = Client::connect(address.clone()).await?;
        second.hello(()).await.map_err(Error::from)
    };
    assert!(refused.await.is_err(), "a second connection was served");
    drop(first);
    // The slot frees once the server sees the first connection close.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let attempt = async {
            let mut c = Client::connect(address.clone()).await?;
            c.hello(()).await.map_err(Error::from)
        };
        if attempt.await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminate(server.child).await
}

#[tokio::test]
async fn idle_connections_close_and_open_streams_keep_theirs() -> TestResult {
    let server = start(&["--port", "0", "--idle-timeout-seconds", "1"], &[]).await?;
    let address = format!("http://127.0.0.1:{}", server.port);

    // A connection that never makes a call is closed after the timeout.
    let started = tokio::time::Instant::now();
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).await?;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(WAIT, idle.read(&mut buf)).await? {
            Ok(0) | Err(_) => break,
            Ok(_) => continue, // the server's SETTINGS frame
        }
    }
    assert!(started.elapsed() >= Duration::from_secs(1));

    // A worker stream open for three times the timeout keeps its connection.
    let mut client = Client::connect(address).await?;
    let mut stream = client
        .get_work_items(GetWorkItemsRequest::default())
        .await?
        .into_inner();
    let quiet = tokio::time::timeout(Duration::from_secs(3), stream.message()).await;
    assert!(quiet.is_err(), "the stream ended or delivered: {quiet:?}");
    client
        .start_instance(CreateInstanceRequest {
            instance_id: "still-connected".into(),
            name: "o".into(),
            ..Default::default()
        })
        .await?;
    let item = tokio::time::timeout(WAIT, stream.message())
        .await??
        .ok_or("stream ended")?;
    assert!(matches!(
        item.request,
        Some(work_item::Request::OrchestratorRequest(ref r)) if r.instance_id == "still-connected"
    ));
    terminate(server.child).await
}
