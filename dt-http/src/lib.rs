//! The admin HTTP API (`/api/v1`, described by `/api/v1/openapi.json`), the web dashboard
//! (`/`), `/metrics` and `/healthz`, over an [`ObservedStore`], served with the gRPC port's
//! security: dt-security's TLS certificate, bearer tokens, limits and guarded listener.
//!
//! Every route calls the same [`Store`](dt_store::Store) methods as the gRPC service and keeps
//! no rule of its own: store errors become HTTP statuses in one place (`error.rs`), payloads
//! are converted in one place (`json.rs`), and the page's assets are compiled into the binary.

mod assets;
mod auth;
mod conn;
mod error;
mod feed;
mod json;
mod metrics;
mod openapi;
mod routes;

use axum::Router;
use conn::{ConnInfo, SecureListener};
use dt_security::{Limits, Security};
use dt_store::ObservedStore;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use metrics::Metrics;

/// What the HTTP side may do.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Refuse every state-changing call (403) and hide the page's actions.
    pub read_only: bool,
    /// Answer only requests whose `Host` names one of these (any port); empty accepts every
    /// host. A server on loopback lists the loopback names, so a web page whose domain was
    /// rebound to 127.0.0.1 (DNS rebinding) cannot reach the API as its own origin.
    pub allowed_hosts: Vec<String>,
    /// The TLS certificate and bearer tokens, the same the gRPC port uses (default: plaintext,
    /// no authentication).
    pub security: Security,
    /// The connection cap, idle timeout and largest request body (`max_message_bytes`), the
    /// same the gRPC port uses.
    pub limits: Limits,
}

/// Why the HTTP server could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listeners failed.
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] dt_security::TlsError),
}

impl HttpOptions {
    /// The names a loopback server is reached by.
    pub fn loopback_hosts() -> Vec<String> {
        ["localhost", "127.0.0.1", "[::1]"]
            .map(str::to_owned)
            .to_vec()
    }
}

/// The HTTP side of a server: build it over the store gRPC uses, give [`Dashboard::metrics`]
/// to the gRPC server for its RPC timings, then [`Dashboard::serve`].
#[derive(Clone)]
pub struct Dashboard {
    state: AppState,
    shutdown: Arc<watch::Sender<bool>>,
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<ObservedStore>,
    pub(crate) options: HttpOptions,
    pub(crate) metrics: Metrics,
    /// Flips to `true` on shutdown, ending live feeds.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Dashboard {
    /// The HTTP side over `store`.
    pub fn new(store: Arc<ObservedStore>, options: HttpOptions) -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            state: AppState {
                store,
                options,
                metrics: Metrics::default(),
                shutdown: rx,
            },
            shutdown: Arc::new(tx),
        }
    }

    /// The metrics `/metrics` reports; record gRPC timings into it.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Every route: the API, the page, `/metrics` and `/healthz`.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listeners` until `shutdown` resolves, through dt-security's listener (the
    /// connection cap, TLS with ALPN h2 and http/1.1, the idle timeout); live feeds end then,
    /// so open pages do not hold the server up.
    pub async fn serve(
        self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Some(first) = listeners.first() else {
            return Ok(());
        };
        let local = first.local_addr()?;
        let options = &self.state.options;
        let tls = options
            .security
            .tls
            .as_ref()
            .map(|cert| cert.server_config(&[dt_security::ALPN_H2, dt_security::ALPN_HTTP1]))
            .transpose()?;
        let listener = SecureListener {
            incoming: dt_security::accept(listeners, options.limits.accept_options(tls)),
            local,
        };
        let app = self
            .router()
            .into_make_service_with_connect_info::<ConnInfo>();
        let mut stopped = self.shutdown.subscribe();
        let trigger = self.shutdown.clone();
        let graceful = async move {
            tokio::select! {
                () = shutdown => {}
                _ = stopped.wait_for(|d| *d) => {}
            }
            // Ends the live feeds, so their connections can close.
            let _ = trigger.send(true);
        };
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await;
        let _ = self.shutdown.send(true);
        Ok(served?)
    }
}
