//! How the gRPC port is served: dt-security's listener (connection cap, TLS, idle timeout)
//! feeding tonic, with the HTTP/2 limits and, around every call, the call counting, the
//! bearer-token check and the RESOURCE_EXHAUSTED status for oversized messages; beside the
//! sidecar service, `grpc.health.v1` and server reflection. Our own service's GetWorkItems
//! is routed to `work_items.rs`, which writes the store's work items as they are.

mod auth;
mod calls;
mod conn;
mod size_status;
mod work_items;

use crate::{ServeError, ServeOptions};
use dt_proto::task_hub_sidecar_service_server::{
    TaskHubSidecarService, TaskHubSidecarServiceServer,
};
use dt_proto::testing::v1::time_control_server::TimeControlServer;
use std::future::Future;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;

/// HTTP/2 connection-level flow-control window.
const CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;

/// Serves `service` (and our time-control service, if given) on `listeners` under `options`'
/// security and limits until `shutdown`; GetWorkItems from `work_items` when given.
pub(crate) async fn serve<S: TaskHubSidecarService>(
    listeners: Vec<TcpListener>,
    service: S,
    work_items: Option<crate::SidecarService>,
    time_control: Option<crate::skipping::TimeControlService>,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    if listeners.is_empty() {
        return Ok(());
    }
    let limits = &options.limits;
    let tls = options
        .security
        .tls
        .as_ref()
        .map(|cert| cert.server_config(&[dt_security::ALPN_H2]))
        .transpose()?;
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<TaskHubSidecarServiceServer<S>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(dt_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let incoming = dt_security::accept(listeners, limits.accept_options(tls))
        .map(|accepted| accepted.map(conn::GrpcConn));
    tonic::transport::Server::builder()
        .http2_keepalive_interval(limits.keepalive_interval)
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        // h2 closes a connection that has too many small DATA frames buffered at once; its
        // budget is half the connection window, so a wide window lets a client keep thousands
        // of small calls in flight on one connection.
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        // Outermost first: every call is timed for metrics (refusals too) and counted, then
        // authenticated before its message is read (health exempt), and a size refusal gets
        // its standard code.
        .layer(crate::observe::ObserveLayer(options.rpc_observer.clone()))
        .layer(calls::CallsLayer)
        .layer(auth::AuthLayer::new(options.security.tokens.clone()))
        .layer(size_status::SizeStatusLayer)
        .add_service(health)
        .add_service(reflection)
        .add_service(work_items::SidecarRoutes::new(
            service,
            work_items,
            limits.max_message_bytes,
        ))
        .add_optional_service(time_control.map(|svc| {
            TimeControlServer::new(svc)
                .max_decoding_message_size(limits.max_message_bytes)
                .max_encoding_message_size(limits.max_message_bytes)
        }))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(ServeError::from)
}
