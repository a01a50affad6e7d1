//! The guarded listener over real sockets: the connection cap, TLS (plaintext refused, a
//! reloaded certificate seen by new connections while old ones keep working) and the idle
//! timeout.

use dt_security::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};
use dt_security::test_certs::{CertFiles, TestCa};
use dt_security::{AcceptOptions, Conn, Incoming, TlsCertificate, accept};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const WAIT: Duration = Duration::from_secs(10);

async fn listen(options: AcceptOptions) -> std::io::Result<(Incoming, std::net::SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((accept(vec![listener], options), addr))
}

fn plain(max_connections: usize, idle_timeout: Option<Duration>) -> AcceptOptions {
    AcceptOptions {
        max_connections,
        idle_timeout,
        tls: None,
    }
}

async fn next(incoming: &mut Incoming) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tokio::time::timeout(WAIT, incoming.next())
        .await?
        .ok_or("incoming ended")?)
}

/// Reads until the peer closes (Ok(0) or a reset); fails after WAIT.
async fn closed_by_peer(stream: &mut (impl AsyncReadExt + Unpin)) -> TestResult {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await? {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_a_freed_slot_is_reused() -> TestResult {
    let (mut incoming, addr) = listen(plain(1, None)).await?;
    let _first = TcpStream::connect(addr).await?;
    let held = next(&mut incoming).await?;
    let mut second = TcpStream::connect(addr).await?;
    closed_by_peer(&mut second).await?;
    drop(held);
    let mut third = TcpStream::connect(addr).await?;
    let mut conn = next(&mut incoming).await?;
    third.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ping");
    Ok(())
}

fn client_config(ca: &TestCa) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[tokio::test]
async fn tls_refuses_plaintext_and_new_connections_see_a_reloaded_certificate() -> TestResult {
    let ca = TestCa::new()?;
    let first = ca.leaf("localhost")?;
    let files = CertFiles::write(&first)?;
    let cert = TlsCertificate::load(files.tls_files())?;
    let (mut incoming, addr) = listen(AcceptOptions {
        max_connections: 10,
        idle_timeout: None,
        tls: Some(cert.server_config(&[dt_security::ALPN_H2])?),
    })
    .await?;

    // A plaintext HTTP/2 client: the handshake fails and the connection is closed.
    let mut plaintext = TcpStream::connect(addr).await?;
    plaintext
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await?;
    closed_by_peer(&mut plaintext).await?;

    let connector = TlsConnector::from(client_config(&ca)?);
    let name = ServerName::try_from("localhost")?;
    let mut old = connector
        .connect(name.clone(), TcpStream::connect(addr).await?)
        .await?;
    let mut old_server = next(&mut incoming).await?;
    assert!(old_server.is_tls());
    let seen = old.get_ref().1.peer_certificates().ok_or("no peer cert")?;
    assert_eq!(seen.first(), Some(&first.der));

    let second = ca.leaf("localhost")?;
    files.overwrite(&second)?;
    cert.reload()?;
    let fresh = connector
        .connect(name, TcpStream::connect(addr).await?)
        .await?;
    let _fresh_server = next(&mut incoming).await?;
    let seen = fresh
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no peer cert")?;
    assert_eq!(seen.first(), Some(&second.der));

    // The connection made before the reload still carries data both ways.
    old.write_all(b"still here").await?;
    let mut buf = [0u8; 10];
    old_server.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"still here");
    old_server.write_all(b"ok").await?;
    old_server.flush().await?;
    let mut reply = [0u8; 2];
    old.read_exact(&mut reply).await?;
    assert_eq!(&reply, b"ok");
    Ok(())
}

#[tokio::test]
async fn a_connection_without_open_calls_reads_as_closed_after_the_idle_timeout() -> TestResult {
    let idle = Duration::from_millis(200);
    let (mut incoming, addr) = listen(plain(10, Some(idle))).await?;
    let _client = TcpStream::connect(addr).await?;
    let mut conn = next(&mut incoming).await?;

    // While a call is open the connection stays, well past the timeout.
    let call = conn.activity().call_started();
    let mut buf = [0u8; 8];
    let still_open = tokio::time::timeout(idle * 3, conn.read(&mut buf)).await;
    assert!(
        still_open.is_err(),
        "closed with a call open: {still_open:?}"
    );

    let ended = tokio::time::Instant::now();
    drop(call);
    let n = tokio::time::timeout(WAIT, conn.read(&mut buf)).await??;
    assert_eq!(n, 0, "expected end of stream");
    assert!(ended.elapsed() >= idle);
    Ok(())
}
