//! The HTTP port under dt-server's security, through the in-process backend: bearer tokens on
//! the API, the live feed and /metrics (401 with a Bearer challenge), /healthz and the page
//! open; TLS with the gRPC port's certificate, plaintext refused; the body limit (413).

mod support;

use dt_security::rustls::pki_types::ServerName;
use dt_security::rustls::{self, ClientConfig, RootCertStore};
use dt_security::test_certs::{CertFiles, TestCa};
use dt_security::{Limits, Security, TlsCertificate, TokenSet};
use dt_testing::{TestBackend, TestBackendOptions};
use serde_json::json;
use std::sync::Arc;
use support::{Api, BoxError, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type TestResult = Result<(), BoxError>;

const TOKEN: &str = "7c1e-http-token";

fn with_token() -> Result<TestBackendOptions, BoxError> {
    Ok(TestBackendOptions {
        serve: dt_grpc::ServeOptions {
            security: Security {
                tokens: Arc::new(TokenSet::new([TOKEN])?),
                tls: None,
            },
            ..Default::default()
        },
        ..Default::default()
    })
}

#[tokio::test]
async fn tokens_guard_the_api_the_feed_and_metrics_but_not_healthz_or_the_page() -> TestResult {
    let api = Api::with_options(with_token()?).await?;
    for path in [
        "/api/v1/instances",
        "/api/v1/stats",
        "/api/v1/events",
        "/api/v1/openapi.json",
        "/api/v1/no-such-route",
        "/metrics",
    ] {
        let missing = api.http.get(api.url(path)).send().await?;
        assert_eq!(missing.status(), 401, "{path} without a token");
        assert_eq!(
            missing.headers()["www-authenticate"],
            "Bearer",
            "{path} without a token"
        );
        let wrong = api
            .http
            .get(api.url(path))
            .bearer_auth("nope")
            .send()
            .await?;
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        assert_eq!(
            wrong.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{path} with a wrong token"
        );
        let body: serde_json::Value = wrong.json().await?;
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{path}");
        let basic = api
            .http
            .get(api.url(path))
            .header("authorization", format!("Basic {TOKEN}"))
            .send()
            .await?;
        assert_eq!(basic.status(), 401, "{path} with another scheme");
    }
    // A state-changing call without the token changes nothing.
    let refused = api
        .http
        .post(api.url("/api/v1/instances"))
        .json(&json!({"name": "o", "instanceId": "refused"}))
        .send()
        .await?;
    assert_eq!(refused.status(), 401);

    for path in ["/api/v1/instances", "/api/v1/stats", "/metrics"] {
        let ok = api
            .http
            .get(api.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        assert_eq!(ok.status(), 200, "{path} with the token");
    }
    let started = api
        .http
        .post(api.url("/api/v1/instances"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "o", "instanceId": "allowed"}))
        .send()
        .await?;
    assert_eq!(started.status(), 201);
    let list: serde_json::Value = api
        .http
        .get(api.url("/api/v1/instances"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<&str> = list["instances"]
        .as_array()
        .ok_or("no instances")?
        .iter()
        .filter_map(|i| i["instanceId"].as_str())
        .collect();
    assert_eq!(ids, ["allowed"]);
    let feed = api
        .http
        .get(api.url("/api/v1/events"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    assert_eq!(feed.status(), 200);
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    drop(feed);

    for path in ["/healthz", "/", "/assets/app.js"] {
        let open = api.http.get(api.url(path)).send().await?;
        assert_eq!(open.status(), 200, "{path} needs no token");
    }
    Ok(())
}

fn tls_client(ca: &TestCa, alpn: &[u8]) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// Sends one request on `stream` and reads the answer until the server closes.
async fn exchange<S>(stream: &mut S, request: &str) -> Result<String, BoxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn tls_uses_the_grpc_certificate_with_http1_and_h2_and_refuses_plaintext() -> TestResult {
    let ca = TestCa::new()?;
    let files = CertFiles::write(&ca.leaf("localhost")?)?;
    let mut options = with_token()?;
    options.serve.security.tls = Some(TlsCertificate::load(files.tls_files())?);
    options.http_port = Some(0);
    let backend = TestBackend::start(options).await?;
    let address = backend.http_address().ok_or("no HTTP address")?;
    let port: u16 = address
        .strip_prefix("https://127.0.0.1:")
        .ok_or_else(|| format!("not an https address: {address}"))?
        .parse()?;
    let request = |path: &str, token: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
             connection: close\r\n\r\n"
        )
    };

    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls = tokio_rustls::TlsConnector::from(tls_client(&ca, b"http/1.1")?)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let answer = exchange(&mut tls, &request("/api/v1/stats", TOKEN)).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The token is still checked over TLS.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls = tokio_rustls::TlsConnector::from(tls_client(&ca, b"http/1.1")?)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let answer = exchange(&mut tls, &request("/api/v1/stats", "wrong")).await?;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // A client that offers only HTTP/2 gets it.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = tokio_rustls::TlsConnector::from(tls_client(&ca, b"h2")?)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    // Plaintext on the TLS port gets no HTTP answer: the handshake fails and the server closes.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let answer = exchange(&mut tcp, &request("/healthz", TOKEN))
        .await
        .unwrap_or_default();
    assert!(
        !answer.contains("HTTP/1.1"),
        "plaintext was answered: {answer}"
    );
    backend.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_message_limit_is_refused_with_413_and_the_server_carries_on() -> TestResult
{
    let api = Api::with_options(TestBackendOptions {
        serve: dt_grpc::ServeOptions {
            limits: Limits {
                max_message_bytes: 2048,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let big = "x".repeat(4096);
    let (status, body) = api
        .post(
            "/api/v1/instances",
            json!({"name": "o", "instanceId": "big", "input": big}),
        )
        .await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    let (status, _) = api.get("/api/v1/instances/big").await?;
    assert_eq!(status, 404, "nothing was started");
    api.start_instance("o", "small").await?;
    Ok(())
}
