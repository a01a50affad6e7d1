//! The Durable Task sidecar gRPC service over any [`dt_store::Store`], and [`serve`], which
//! runs it on listeners the caller bound (so tests can bind port 0 first and know the port);
//! [`serve_service`] runs any implementation of the service with the same transport settings;
//! [`bind`] binds listeners, and [`cli`] is the `dt-server` command line. [`skipping`] is time
//! skipping and its own gRPC service (`durabletask_rs.testing.v1.TimeControl`), served beside.

pub mod cli;
mod convert;
mod deadline;
mod listen;
mod observe;
mod service;
pub mod skipping;
mod status;
mod store_spec;
mod transport;

pub use dt_security::{Limits, Security};
pub use listen::{BindError, bind};
pub use observe::RpcObserver;
pub use service::SidecarService;
pub use store_spec::{OpenStoreError, StoreSpec, StoreSpecError, Synchronous};

use dt_proto::task_hub_sidecar_service_server::TaskHubSidecarService;
use dt_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Server tunables that are not the store's.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How often an idle work-item stream gets a health ping (the Python worker gives up on a
    /// silent stream after 120 s).
    pub ping_interval: Duration,
    /// TLS and bearer tokens (default: plaintext, no authentication).
    pub security: Security,
    /// Message size, streams, connections, timeouts and the longest wait.
    pub limits: Limits,
    /// Time skipping for the store served (`None`: off, and the time-control service answers
    /// with real time). Built with the store, whose clock it moves:
    /// [`skipping::TimeSkipping::memory_store`].
    pub time_skipping: Option<Arc<skipping::TimeSkipping>>,
    /// Told of every RPC (method, code, latency), for metrics.
    pub rpc_observer: Option<RpcObserver>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            security: Security::default(),
            limits: Limits::default(),
            time_skipping: None,
            rpc_observer: None,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] dt_security::TlsError),
    /// The protocol descriptor could not be served for reflection.
    #[error("server reflection: {0}")]
    Reflection(String),
}

/// Serves the sidecar protocol on `listeners` until `shutdown` resolves, driving the store's
/// timers meanwhile. On shutdown, work-item streams and long waits end with UNAVAILABLE so
/// that connections close promptly. Beside it: the standard `grpc.health.v1` service (so
/// probes and `grpc-health-probe` work, without a token) and server reflection (so `grpcurl`
/// needs no .proto; behind the token like every other call).
pub async fn serve(
    listeners: Vec<TcpListener>,
    store: Arc<dyn Store>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(dt_store::run_scheduler(store.clone(), {
        let mut rx = down_rx.clone();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }));
    let time = options
        .time_skipping
        .clone()
        .unwrap_or_else(|| skipping::TimeSkipping::off(store.clone()));
    let skipper = tokio::spawn(time.clone().run({
        let mut rx = down_rx.clone();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }));
    let service = SidecarService::new(store, options.ping_interval, down_rx.clone())
        .with_max_wait(options.limits.max_wait)
        .with_time_skipping(time.clone());
    let time_control = skipping::TimeControlService::new(time, down_rx.clone());
    let result = transport::serve(
        listeners,
        service.clone(),
        Some(service),
        Some(time_control),
        &options,
        async move {
            shutdown.await;
            let _ = down_tx.send(true);
        },
    )
    .await;
    scheduler.abort();
    skipper.abort();
    result
}

/// Serves any implementation of the sidecar service on `listeners` with `dt-server`'s
/// transport, security and limits until `shutdown` resolves. The bench's RPC floor (a
/// stateless server with canned replies) runs through here too, so that it differs from our
/// server only in what answers the calls.
pub async fn serve_service<S: TaskHubSidecarService>(
    listeners: Vec<TcpListener>,
    service: S,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    transport::serve(listeners, service, None, None, options, shutdown).await
}
