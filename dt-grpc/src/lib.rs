//! The Durable Task sidecar gRPC service over any [`dt_store::Store`], and [`serve`], which
//! runs it on listeners the caller bound (so tests can bind port 0 first and know the port);
//! [`serve_service`] runs any implementation of the service with the same transport settings;
//! [`bind`] binds listeners, and [`cli`] is the `dt-server` command line.

pub mod cli;
mod convert;
mod deadline;
mod listen;
mod service;
mod status;

pub use listen::{BindError, bind};
pub use service::SidecarService;

use dt_proto::task_hub_sidecar_service_server::{
    TaskHubSidecarService, TaskHubSidecarServiceServer,
};
use dt_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

/// HTTP/2 connection-level flow-control window.
const CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;

/// Largest message the server accepts: big histories and payloads come back in completions.
const MAX_DECODING_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// Server tunables that are not the store's.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How often an idle work-item stream gets a health ping (the Python worker gives up on a
    /// silent stream after 120 s).
    pub ping_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the sidecar protocol on `listeners` until `shutdown` resolves, driving the store's
/// timers meanwhile. On shutdown, work-item streams and long waits end with UNAVAILABLE so
/// that connections close promptly.
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
    let service = SidecarService::new(store, options.ping_interval, down_rx);
    let result = serve_service(listeners, service, async move {
        shutdown.await;
        let _ = down_tx.send(true);
    })
    .await;
    scheduler.abort();
    result
}

/// Serves any implementation of the sidecar service on `listeners` with `dt-server`'s
/// transport settings until `shutdown` resolves. The bench's RPC floor (a stateless server
/// with canned replies) runs through here too, so that it differs from our server only in
/// what answers the calls.
pub async fn serve_service<S: TaskHubSidecarService>(
    listeners: Vec<TcpListener>,
    service: S,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let incoming = listeners
        .into_iter()
        .map(TcpListenerStream::new)
        .fold(
            None,
            |acc: Option<Box<dyn tokio_stream::Stream<Item = _> + Send + Unpin>>, s| {
                Some(match acc {
                    None => Box::new(s),
                    Some(acc) => Box::new(acc.merge(s)),
                })
            },
        )
        .map(|s| {
            s.map(|conn| {
                conn.inspect(|tcp| {
                    // Work items and completions are small and latency-bound.
                    let _ = tcp.set_nodelay(true);
                })
            })
        });
    let Some(incoming) = incoming else {
        return Ok(());
    };
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        // h2 closes a connection that has too many small DATA frames buffered at once; its
        // budget is half the connection window, so a wide window lets a client keep thousands
        // of small calls in flight on one connection.
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .add_service(
            TaskHubSidecarServiceServer::new(service)
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_DECODING_MESSAGE_SIZE),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(ServeError::from)
}
