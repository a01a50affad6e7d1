//! An in-process Durable Task sidecar for Rust tests, the counterpart of the Python SDK's
//! `durabletask.testing.create_test_backend(port, max_history_size)`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dt_testing::TestBackendError> {
//! let backend = dt_testing::create_test_backend(0).await?; // 0 = any free port
//! let address = backend.address(); // e.g. "http://127.0.0.1:38211"
//! // ... point a client and workers at it ...
//! backend.reset().await; // forget every instance between tests
//! backend.stop().await; // or just drop it
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};
use dt_grpc::skipping::{TimeSkipping, TimeSkippingError};
use dt_store::{ObservedStore, Store, StoreConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestBackendError {
    /// The port could not be bound.
    #[error(transparent)]
    Bind(#[from] dt_grpc::BindError),
    /// The store (`storage`) could not be opened.
    #[error(transparent)]
    Store(#[from] dt_grpc::OpenStoreError),
}

/// Options for [`TestBackend::start`]; the default is an ephemeral port with default settings.
#[derive(Clone, Debug, Default)]
pub struct TestBackendOptions {
    /// Port on the loopback addresses (127.0.0.1 and ::1); 0 picks a free one.
    pub port: u16,
    /// Store tunables (history limit, lease duration, abandon delay).
    pub store: StoreConfig,
    /// Where state is kept (`dt-server --store`): in memory by default, or a SQLite file or a
    /// PostgreSQL database that a later backend on the same place reads back.
    pub storage: dt_grpc::StoreSpec,
    /// Server tunables: health-ping interval, security (TLS certificate, bearer tokens) and
    /// limits, as `dt-server` takes them.
    pub serve: dt_grpc::ServeOptions,
    /// Time skipping (`dt-server --time-skipping`): off by default, real time.
    pub time_skipping: bool,
    /// Also serve the dashboard and admin HTTP API on the loopback addresses at this port (0
    /// picks a free one); `None`, the default, serves no HTTP.
    pub http_port: Option<u16>,
    /// HTTP options (read-only mode, allowed hosts). Its `security` and `limits` are replaced
    /// by `serve`'s, so both ports take the same certificate, tokens and limits, as in
    /// `dt-server`.
    pub http: dt_http::HttpOptions,
}

/// A running in-memory backend. Dropping it shuts the server down.
pub struct TestBackend {
    server: Server,
    tls: bool,
    /// The store gRPC (and HTTP) serve: with HTTP, the observed wrapper, so a reset reaches
    /// open dashboards too.
    store: Arc<dyn Store>,
    http: Option<HttpServer>,
    time: Arc<TimeSkipping>,
}

/// Starts a backend on `port` (0 = any free port) with default settings.
pub async fn create_test_backend(port: u16) -> Result<TestBackend, TestBackendError> {
    TestBackend::start(TestBackendOptions {
        port,
        ..Default::default()
    })
    .await
}

/// Starts a backend on `port` with a history limit, like the Python SDK's
/// `create_test_backend(port, max_history_size)`.
pub async fn create_test_backend_with_history_limit(
    port: u16,
    max_history_size: usize,
) -> Result<TestBackend, TestBackendError> {
    TestBackend::start(TestBackendOptions {
        port,
        store: StoreConfig {
            max_history_size,
            ..StoreConfig::default()
        },
        ..Default::default()
    })
    .await
}

impl TestBackend {
    /// Binds first, then serves in a background task, so the address is known and reachable
    /// when this returns.
    pub async fn start(options: TestBackendOptions) -> Result<Self, TestBackendError> {
        let (memory, time) =
            TimeSkipping::open_store(&options.storage, options.store, options.time_skipping)?;
        let memory: Arc<dyn Store> = memory;
        let tls = options.serve.security.tls.is_some();
        let serve = dt_grpc::ServeOptions {
            time_skipping: Some(time.clone()),
            ..options.serve
        };
        let Some(http_port) = options.http_port else {
            let server = Server::start(memory.clone(), options.port, serve).await?;
            return Ok(Self {
                server,
                tls,
                store: memory,
                http: None,
                time,
            });
        };
        // gRPC and HTTP share one store wrapper, which feeds the dashboard's live view and
        // metrics.
        let observed = Arc::new(ObservedStore::new(memory));
        let (dashboard, serve) = with_dashboard(observed.clone(), serve, options.http);
        let http = HttpServer::start(dashboard, http_port).await?;
        let server = Server::start(observed.clone(), options.port, serve).await?;
        Ok(Self {
            server,
            tls,
            store: observed,
            http: Some(http),
            time,
        })
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS) of the dashboard and admin API, if
    /// asked for.
    pub fn http_address(&self) -> Option<String> {
        let scheme = if self.tls { "https" } else { "http" };
        self.http.as_ref().map(|h| format!("{scheme}://{}", h.addr))
    }

    /// The backend's current time: virtual with time skipping on, real otherwise.
    pub fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    /// Moves the clock forward by `by`, firing what falls due in order (see README "Time
    /// skipping"); returns the time after. `Off` without time skipping.
    pub async fn skip(&self, by: Duration) -> Result<DateTime<Utc>, TimeSkippingError> {
        Ok(self.time.skip(by).await?.0)
    }

    /// The backend's time skipping: status, lock and unlock.
    pub fn time_skipping(&self) -> &Arc<TimeSkipping> {
        &self.time
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS), ready for a tonic client.
    pub fn address(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.server.socket_addr())
    }

    /// The bound IPv4 socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.server.socket_addr()
    }

    /// The port (useful when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.server.socket_addr().port()
    }

    /// Forgets every instance and queued item; connected workers stay connected.
    pub async fn reset(&self) {
        // The in-memory store's reset cannot fail.
        let _ = self.store.reset().await;
    }

    /// Shuts the server down and waits until it has stopped.
    pub async fn stop(self) {
        if let Some(http) = self.http {
            http.stop().await;
        }
        self.server.stop().await;
    }
}

/// The dashboard over `store`, taking `serve`'s certificate, tokens and limits (both ports
/// alike, as in `dt-server`), and `serve` with the dashboard's RPC metrics attached: how an
/// in-process backend puts HTTP beside gRPC (here and in the Python package).
pub fn with_dashboard(
    store: Arc<ObservedStore>,
    serve: dt_grpc::ServeOptions,
    http: dt_http::HttpOptions,
) -> (dt_http::Dashboard, dt_grpc::ServeOptions) {
    let http_options = dt_http::HttpOptions {
        security: serve.security.clone(),
        limits: serve.limits.clone(),
        ..http
    };
    let dashboard = dt_http::Dashboard::new(store, http_options);
    let metrics = dashboard.metrics().clone();
    let serve = dt_grpc::ServeOptions {
        rpc_observer: Some(dt_grpc::RpcObserver::new(move |method, code, elapsed| {
            metrics.record_rpc(method, code, elapsed)
        })),
        ..serve
    };
    (dashboard, serve)
}

/// The dashboard and admin API of an in-process backend, on the loopback addresses. Dropping
/// it drops the shutdown sender, which stops it.
pub struct HttpServer {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `port` on the loopback addresses (0: a free one) and serves the dashboard there.
    pub async fn start(dashboard: dt_http::Dashboard, port: u16) -> Result<Self, TestBackendError> {
        let listeners = dt_grpc::bind("localhost", port).await?;
        let addr = first_addr(&listeners, port)?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) = dashboard.serve(listeners, shutdown).await {
                tracing::error!(%err, "in-process HTTP server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            shutdown: tx,
            task,
        })
    }

    /// The bound IPv4 socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits until the server has stopped.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

/// The IPv4 address of the first listener (the one whose port the others share).
fn first_addr(
    listeners: &[tokio::net::TcpListener],
    port: u16,
) -> Result<SocketAddr, TestBackendError> {
    Ok(listeners
        .first()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()
        .map_err(|source| dt_grpc::BindError::Listen {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            source,
        })?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port))))
}

/// A server over a store its caller owns, on the loopback addresses: the start-up every
/// in-process backend shares ([`TestBackend`] here, the Python package's backend, which keeps
/// its store across stop and start as the Python SDK's does). Dropping it shuts it down.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 and ::1 on `port` (0 = any free port) like `dt-server`, then serves
    /// `store` in a background task of the current runtime; the port is reachable when this
    /// returns.
    pub async fn start(
        store: Arc<dyn Store>,
        port: u16,
        serve: dt_grpc::ServeOptions,
    ) -> Result<Self, TestBackendError> {
        let listeners = dt_grpc::bind("localhost", port).await?;
        let addr = first_addr(&listeners, port)?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) = dt_grpc::serve(listeners, store, serve, shutdown).await {
                tracing::error!(%err, "in-process server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound IPv4 socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the server down and waits until every connection has closed.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Shuts the server down: the listeners close at once (the port is free when this
    /// returns), work-item streams and long waits end, and connections get up to `grace` to
    /// finish the calls in flight. Returns whether they all did; if not, the server task is
    /// cancelled, and the connections left end with the runtime that runs them.
    pub async fn stop_within(mut self, grace: Duration) -> bool {
        self.signal_stop();
        let Some(mut task) = self.task.take() else {
            return true;
        };
        // Let the server task see the signal (and end streams and waits) before the grace runs.
        tokio::task::yield_now().await;
        if tokio::time::timeout(grace, &mut task).await.is_ok() {
            return true;
        }
        task.abort();
        let _ = task.await;
        false
    }

    fn signal_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
