//! The admin HTTP API (`/api/v1`, described by `/api/v1/openapi.json`), the web dashboard
//! (`/`), `/metrics` and `/healthz`, over an [`ObservedStore`].
//!
//! Every route calls the same [`Store`](dt_store::Store) methods as the gRPC service and keeps
//! no rule of its own: store errors become HTTP statuses in one place (`error.rs`), payloads
//! are converted in one place (`json.rs`), and the page's assets are compiled into the binary.

mod assets;
mod error;
mod feed;
mod json;
mod metrics;
mod openapi;
mod routes;

use axum::Router;
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

    /// Serves on `listeners` until `shutdown` resolves; live feeds end then, so open pages do
    /// not hold the server up.
    pub async fn serve(
        self,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let mut tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            let mut down = self.shutdown.subscribe();
            let app = router.clone();
            tasks.spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = down.wait_for(|d| *d).await;
                    })
                    .await
            });
        }
        let serving = async {
            let mut result = Ok(());
            while let Some(done) = tasks.join_next().await {
                match done {
                    Ok(Err(err)) => result = Err(err),
                    Err(join) if join.is_panic() => {
                        result = Err(std::io::Error::other("an HTTP server task panicked"));
                    }
                    _ => {}
                }
                // Once one listener stops (shutdown, or an error), stop them all.
                let _ = self.shutdown.send(true);
            }
            result
        };
        let mut stopped = self.shutdown.subscribe();
        let watch_shutdown = async {
            tokio::select! {
                () = shutdown => {}
                _ = stopped.wait_for(|d| *d) => {}
            }
            let _ = self.shutdown.send(true);
        };
        let (result, ()) = tokio::join!(serving, watch_shutdown);
        result
    }
}
