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

use dt_store::{MemoryStore, Store, StoreConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestBackendError {
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Options for [`TestBackend::start`]; the default is an ephemeral port with default settings.
#[derive(Clone, Debug, Default)]
pub struct TestBackendOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Store tunables (history limit, lease duration, abandon delay).
    pub store: StoreConfig,
    /// Server tunables (health-ping interval).
    pub serve: dt_grpc::ServeOptions,
}

/// A running in-memory backend. Dropping it shuts the server down.
pub struct TestBackend {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
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
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|source| TestBackendError::Bind {
                port: options.port,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| TestBackendError::Bind {
                port: options.port,
                source,
            })?;
        let store = Arc::new(MemoryStore::new(options.store));
        let (tx, rx) = oneshot::channel::<()>();
        let dyn_store: Arc<dyn Store> = store.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(err) =
                dt_grpc::serve(vec![listener], dyn_store, options.serve, shutdown).await
            {
                tracing::error!(%err, "test backend stopped with an error");
            }
        });
        Ok(Self {
            addr,
            store,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`, ready for a tonic client.
    pub fn address(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port (useful when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Forgets every instance and queued item; connected workers stay connected.
    pub async fn reset(&self) {
        // The in-memory store's reset cannot fail.
        let _ = self.store.reset().await;
    }

    /// Shuts the server down and waits until it has stopped.
    pub async fn stop(mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn signal_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
