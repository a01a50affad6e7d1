//! One running server: a thread of its own with its own tokio runtime, so it serves whatever the
//! Python threads do, and stopping it ends every connection with the runtime. Start-up is
//! `dt_testing::Server`'s, shared with the Rust test backend.

use crate::errors::Error;
use dt_store::{ObservedStore, Store};
use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// A server bound to its port and serving until [`RunningServer::stop`] (or drop).
/// The dashboard to serve beside gRPC: over the store wrapper both ports share, on a port.
pub(crate) struct Http {
    pub(crate) store: Arc<ObservedStore>,
    pub(crate) port: u16,
}

/// The ports bound.
struct Ports {
    grpc: u16,
    http: Option<u16>,
}

/// Starts gRPC, then HTTP if asked for; on an HTTP failure gRPC is stopped again.
async fn serve_both(
    store: Arc<dyn Store>,
    port: u16,
    serve: dt_grpc::ServeOptions,
    http: Option<Http>,
) -> Result<((dt_testing::Server, Option<dt_testing::HttpServer>), Ports), Error> {
    let Some(http) = http else {
        let server = dt_testing::Server::start(store, port, serve).await?;
        let grpc = server.socket_addr().port();
        return Ok(((server, None), Ports { grpc, http: None }));
    };
    let (dashboard, serve) =
        dt_testing::with_dashboard(http.store, serve, dt_http::HttpOptions::default());
    let server = dt_testing::Server::start(store, port, serve).await?;
    let dashboard = match dt_testing::HttpServer::start(dashboard, http.port).await {
        Ok(dashboard) => dashboard,
        Err(error) => {
            server.stop_within(Duration::ZERO).await;
            return Err(error.into());
        }
    };
    let ports = Ports {
        grpc: server.socket_addr().port(),
        http: Some(dashboard.socket_addr().port()),
    };
    Ok(((server, Some(dashboard)), ports))
}

pub(crate) struct RunningServer {
    port: u16,
    http_port: Option<u16>,
    handle: Handle,
    stop: Option<oneshot::Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Starts the server thread and returns once `port` is bound (0: a free one), or with the
    /// reason it could not be (a port in use fails here, not later).
    pub(crate) fn start(
        store: Arc<dyn Store>,
        port: u16,
        serve: dt_grpc::ServeOptions,
        http: Option<Http>,
    ) -> Result<Self, Error> {
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(Ports, Handle), Error>>(1);
        let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
        let thread = std::thread::Builder::new()
            .name("durabletask-rs server".to_owned())
            .spawn(move || {
                let runtime = match runtime() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (servers, ports) = match serve_both(store, port, serve, http).await {
                        Ok(started) => started,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((ports, Handle::current())));
                    // A dropped sender (the backend is gone) stops the server too.
                    let grace = stop_rx.await.unwrap_or(Duration::ZERO);
                    let (server, http) = servers;
                    if let Some(http) = http {
                        http.stop().await;
                    }
                    server.stop_within(grace).await;
                });
                // Dropping the runtime here closes the connections still open.
            })
            .map_err(Error::Os)?;
        match ready_rx.recv() {
            Ok(Ok((ports, handle))) => Ok(Self {
                port: ports.grpc,
                http_port: ports.http,
                handle,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(mpsc::RecvError) => {
                let _ = thread.join();
                Err(Error::ServerThreadLost)
            }
        }
    }

    /// The bound port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The dashboard's bound port, when HTTP is served.
    pub(crate) fn http_port(&self) -> Option<u16> {
        self.http_port
    }

    /// Runs a short future (a store call) to completion from the calling thread; the server's
    /// thread keeps driving its I/O meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Stops the server: the port is free at once; calls in flight get up to `grace`, then
    /// every connection is closed. Returns when the server thread has ended.
    pub(crate) fn stop(mut self, grace: Duration) -> Result<(), Error> {
        self.shut_down(grace)
    }

    fn shut_down(&mut self, grace: Duration) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_panic)) => Err(Error::ServerThreadLost),
            Some(Ok(())) | None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shut_down(Duration::ZERO);
    }
}

/// The server's runtime: one thread, the cheapest per request (as `dt-server`'s default).
fn runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Os)
}

/// Runs a short future (a store call) when no server is running.
pub(crate) fn block_on_idle<F: Future>(future: F) -> Result<F::Output, Error> {
    Ok(runtime()?.block_on(future))
}
