//! A test backend with TLS and bearer tokens, through a tonic client: the knobs of
//! `TestBackendOptions::serve.security` work as `dt-server`'s options do.

use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use dt_proto::*;
use dt_security::test_certs::{CertFiles, TestCa};
use dt_security::{Security, TlsCertificate, TokenSet};
use dt_testing::{TestBackend, TestBackendOptions};
use std::sync::Arc;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test]
async fn tls_and_tokens_guard_every_call() -> TestResult {
    let ca = TestCa::new()?;
    let files = CertFiles::write(&ca.leaf("localhost")?)?;
    let mut options = TestBackendOptions::default();
    options.serve.security = Security {
        tls: Some(TlsCertificate::load(files.tls_files())?),
        tokens: Arc::new(TokenSet::new(["team-token"])?),
    };
    let backend = TestBackend::start(options).await?;
    assert!(backend.address().starts_with("https://127.0.0.1:"));

    let channel = Channel::from_shared(backend.address())?
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.cert_pem()))
                .domain_name("localhost"),
        )?
        .connect()
        .await?;
    let mut client = TaskHubSidecarServiceClient::new(channel);
    let refused = client
        .hello(())
        .await
        .err()
        .ok_or("served without a token")?;
    assert_eq!(refused.code(), Code::Unauthenticated);

    let mut request = tonic::Request::new(CreateInstanceRequest {
        instance_id: "guarded".into(),
        name: "o".into(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("authorization", "Bearer team-token".parse()?);
    let id = client
        .start_instance(request)
        .await?
        .into_inner()
        .instance_id;
    assert_eq!(id, "guarded");

    // Plaintext to the TLS port never gets an answer.
    let plain = format!("http://{}", backend.socket_addr());
    let mut plain = TaskHubSidecarServiceClient::connect(plain).await?;
    assert!(plain.hello(()).await.is_err());
    backend.stop().await;
    Ok(())
}
