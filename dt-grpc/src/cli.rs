//! The `dt-server` command line: its options, the runtime they ask for, and serving until a
//! shutdown future resolves. The Rust binary and the Python package's `dt-server` console script
//! both run this, so their options cannot drift; each brings only its own shutdown trigger
//! (OS signals in the binary, Python's signal handling in the console script).

use crate::listen::{BindError, bind};
use clap::Parser;
use dt_store::{MemoryStore, StoreConfig};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A Durable Task sidecar (gRPC) server: in memory, or durable on one SQLite file (--store).
#[derive(Parser, Debug)]
#[command(name = "dt-server", version, about)]
pub struct Args {
    /// Host to listen on; `localhost` means both 127.0.0.1 and ::1.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Port to listen on; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 4001)]
    pub port: u16,
    /// Most history events one orchestration execution may hold.
    #[arg(long, default_value_t = 10_000)]
    pub max_history_size: usize,
    /// Seconds a worker may hold a work item without completing it before it is redelivered.
    /// With `--store postgres://...` (several servers may share the database): seconds after
    /// which a server that stopped renewing its registration (it died) has its workers' work
    /// handed out by the others; a live server keeps its work however long it takes.
    #[arg(long, default_value_t = 300)]
    pub lease_seconds: u64,
    /// Wire shape of entity work items: `v2` (entityRequestV2, as the Python reference
    /// sends) or `v1` (entityRequest). The Python and JavaScript workers accept both.
    #[arg(long, default_value = "v2", value_parser = ["v1", "v2"])]
    pub entity_work_items: String,
    /// Runtime threads serving requests; 1 (the default) is the cheapest per request.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Time skipping for tests: the clock jumps to the next timer while a client waits for an
    /// instance and nothing runs, and the TimeControl service can skip and lock. Off by
    /// default: real time.
    #[arg(long)]
    pub time_skipping: bool,
    /// Port of the dashboard, admin API and /metrics; 0 picks a free port. Default 8082 (a
    /// free port when --port is 0); if 8082 is taken the server runs without HTTP.
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Serve no HTTP: no dashboard, admin API or /metrics.
    #[arg(long, conflicts_with = "http_port")]
    pub no_http: bool,
    /// Refuse state-changing HTTP calls (the dashboard only shows).
    #[arg(long)]
    pub read_only: bool,
    /// TLS and bearer tokens.
    #[command(flatten)]
    pub security: dt_security::SecurityArgs,
    /// Limits on messages, streams, connections and waits.
    #[command(flatten)]
    pub limits: dt_security::LimitArgs,
    /// Where state is kept: `memory` (lost when the server stops), `sqlite://PATH` (one
    /// file, created if missing) or `postgres://USER@HOST:PORT/DB` (which several servers
    /// may share as one task hub); on disk, every change is kept before it is acknowledged.
    #[arg(long, env = "DT_STORE", default_value = "memory", value_parser = StoreArg)]
    pub store: crate::StoreSpec,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The tokio runtime could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// No listener could be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The HTTP port asked for (`--http-port`) could not be bound.
    #[error("cannot serve HTTP (--http-port): {0}")]
    BindHttp(BindError),
    /// The TLS certificate or the token file could not be loaded.
    #[error(transparent)]
    Security(#[from] dt_security::SecurityError),
    /// The SIGHUP handler (certificate reload) could not be installed.
    #[error("cannot install the SIGHUP handler: {0}")]
    Signal(std::io::Error),
    /// The listening line could not be written.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    /// The server failed while serving.
    #[error(transparent)]
    Serve(#[from] crate::ServeError),
    /// The HTTP server failed while serving.
    #[error(transparent)]
    Http(#[from] dt_http::ServeError),
    /// The store (`--store`) could not be opened.
    #[error(transparent)]
    Store(#[from] crate::OpenStoreError),
}

/// The default HTTP port, the Durable Task Scheduler emulator's dashboard port.
const DEFAULT_HTTP_PORT: u16 = 8082;

impl Args {
    /// The runtime the options ask for. One thread by default: the store is one mutex, and one
    /// thread serves thousands of orchestrations a second at the lowest CPU per orchestration
    /// (no cross-thread wake-ups).
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime, CliError> {
        if self.threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.threads)
                .enable_all()
                .build()
        }
        .map_err(CliError::Runtime)
    }

    /// The store settings the options ask for.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            max_history_size: self.max_history_size,
            lease_duration: Duration::from_secs(self.lease_seconds),
            entity_work_item_format: if self.entity_work_items == "v1" {
                dt_core::EntityWorkItemFormat::V1
            } else {
                dt_core::EntityWorkItemFormat::V2
            },
            ..StoreConfig::default()
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Does nothing if the process already
/// has a subscriber (a second console-script run in one Python process).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Binds, prints `dt-server listening on <host>:<port>` and, with HTTP, `dt-server dashboard on
/// http://<host>:<port>/` (in one write: scripts and test fixtures read the ports from them),
/// and serves an in-memory store until `shutdown` resolves.
pub async fn run(args: Args, shutdown: impl Future<Output = ()> + Send) -> Result<(), CliError> {
    let security = args.security.load()?;
    // The store first: a file in use or unreadable is said before anything listens.
    let (memory, time_skipping) = crate::skipping::TimeSkipping::open_store(
        &args.store,
        args.store_config(),
        args.time_skipping,
    )?;
    tracing::info!(store = %args.store, "store open");
    let listeners = bind(&args.host, args.port).await?;
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(args.port, |a| a.port());
    let addrs: Vec<_> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    for addr in &addrs {
        tracing::info!(
            %addr,
            tls = security.tls.is_some(),
            auth = security.tokens.is_enabled(),
            "listening"
        );
    }
    dt_security::warn_if_open("gRPC", &addrs, &security.tokens);
    let http = bind_http(&args).await?;
    if let Some((http_listeners, _)) = &http {
        let http_addrs: Vec<_> = http_listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        dt_security::warn_if_open("HTTP", &http_addrs, &security.tokens);
    }
    security.reload_on_sighup().map_err(CliError::Signal)?;
    if args.time_skipping {
        tracing::info!("time skipping is on: the clock jumps ahead while clients wait");
    }
    let mut lines = format!("dt-server listening on {}:{}\n", args.host, port);
    if let Some((_, http_port)) = &http {
        lines += &format!(
            "dt-server dashboard on http://{}:{}/\n",
            args.host, http_port
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(lines.as_bytes()).map_err(CliError::Stdout)?;
    out.flush().map_err(CliError::Stdout)?;
    drop(out);
    // One certificate, one token set and one set of limits for both ports.
    let http_security = security.clone();
    let limits = args.limits.limits();
    let options = crate::ServeOptions {
        security,
        limits: limits.clone(),
        time_skipping: Some(time_skipping),
        ..crate::ServeOptions::default()
    };
    let shutdown = async {
        shutdown.await;
        tracing::info!("shutting down");
    };
    let Some((http_listeners, _)) = http else {
        crate::serve(listeners, memory, options, shutdown).await?;
        return Ok(());
    };
    let http_options = dt_http::HttpOptions {
        read_only: args.read_only,
        allowed_hosts: if is_loopback(&args.host) {
            dt_http::HttpOptions::loopback_hosts()
        } else {
            Vec::new()
        },
        security: http_security,
        limits,
    };
    serve_with_dashboard(
        listeners,
        http_listeners,
        memory,
        options,
        http_options,
        shutdown,
    )
    .await
}

/// Whether `host` names only this machine, so the HTTP side may refuse other Host names.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Binds the HTTP port as the options say: `None` without HTTP. An explicit port that cannot
/// be bound is an error; a taken default port only a warning, so a second server still starts.
async fn bind_http(args: &Args) -> Result<Option<(Vec<TcpListener>, u16)>, CliError> {
    if args.no_http {
        return Ok(None);
    }
    let listeners = match args.http_port {
        Some(port) => bind(&args.host, port).await.map_err(CliError::BindHttp)?,
        None => {
            let port = if args.port == 0 { 0 } else { DEFAULT_HTTP_PORT };
            match bind(&args.host, port).await {
                Ok(listeners) => listeners,
                Err(err) => {
                    tracing::warn!("serving gRPC without HTTP: {err}");
                    return Ok(None);
                }
            }
        }
    };
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(0, |a| a.port());
    Ok(Some((listeners, port)))
}

/// Serves gRPC and the dashboard over one store wrapper, which feeds the dashboard's live view
/// and metrics, until `shutdown` resolves.
async fn serve_with_dashboard(
    grpc_listeners: Vec<TcpListener>,
    http_listeners: Vec<TcpListener>,
    store: Arc<MemoryStore>,
    options: crate::ServeOptions,
    http_options: dt_http::HttpOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let store = Arc::new(dt_store::ObservedStore::new(store));
    let dashboard = dt_http::Dashboard::new(store.clone(), http_options);
    let metrics = dashboard.metrics().clone();
    let options = crate::ServeOptions {
        rpc_observer: Some(crate::RpcObserver::new(move |method, code, elapsed| {
            metrics.record_rpc(method, code, elapsed)
        })),
        ..options
    };
    let (down_tx, down_rx) = tokio::sync::watch::channel(false);
    let down = move || {
        let mut rx = down_rx.clone();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    };
    let serving = async {
        tokio::join!(
            crate::serve(grpc_listeners, store, options, down()),
            dashboard.serve(http_listeners, down()),
        )
    };
    tokio::pin!(serving);
    let (grpc, http) = tokio::select! {
        both = &mut serving => both,
        () = shutdown => {
            let _ = down_tx.send(true);
            serving.await
        }
    };
    grpc?;
    http?;
    Ok(())
}

/// Parses `--store` with an error of our own: clap's would repeat the value, and a
/// PostgreSQL URL may carry a password.
#[derive(Clone)]
struct StoreArg;

impl clap::builder::TypedValueParser for StoreArg {
    type Value = crate::StoreSpec;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("invalid --store: {message}\n"),
            )
            .with_cmd(cmd)
        };
        let value = value
            .to_str()
            .ok_or_else(|| invalid("it is not UTF-8".to_owned()))?;
        value
            .parse()
            .map_err(|err: crate::StoreSpecError| invalid(err.to_string()))
    }
}
