//! Accepting connections under the connection limits: a cap on open connections, TLS with a
//! handshake deadline, and closing connections that stay without an open call.
//!
//! [`accept`] turns bound listeners into a stream of [`Conn`]s for any hyper-based server
//! (tonic's `serve_with_incoming_shutdown`, axum's `serve`). A connection over the cap is
//! accepted and closed at once (clients see the connection refused and retry); a TLS
//! handshake runs in its own task, so a slow client never holds up the next one, and gives up
//! after [`HANDSHAKE_TIMEOUT`]. Dropping the stream stops accepting and closes the listeners.

use crate::activity::{ConnActivity, IdleTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// The longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after an accept error such as running out of file descriptors, so the loop does not
/// spin while nothing can be accepted.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How a port accepts connections.
#[derive(Clone, Debug)]
pub struct AcceptOptions {
    /// Connections open at once on all the listeners; more are closed as they arrive.
    pub max_connections: usize,
    /// Close a connection that has had no open call for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// TLS configuration (`None`: plaintext).
    pub tls: Option<Arc<ServerConfig>>,
}

/// An accepted connection: plaintext or TLS, holding its slot under the connection cap until
/// it is dropped.
pub struct Conn {
    io: Io,
    remote: SocketAddr,
    activity: ConnActivity,
    idle: Option<IdleTimer>,
    _slot: OwnedSemaphorePermit,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// The handle that counts this connection's open calls (see [`ConnActivity`]).
    pub fn activity(&self) -> &ConnActivity {
        &self.activity
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // An idle connection reads as closed: the server then drops it.
        if this
            .idle
            .as_mut()
            .is_some_and(|t| t.poll_expired(cx).is_ready())
        {
            tracing::debug!(remote = %this.remote, "closing a connection without open calls");
            return Poll::Ready(Ok(()));
        }
        match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The accepted connections of a set of listeners; dropping it stops accepting. As a
/// `Stream` of `io::Result<Conn>` (the shape tonic's `serve_with_incoming` takes) it never
/// yields an error: failed accepts and handshakes are logged and skipped.
pub struct Incoming {
    rx: mpsc::Receiver<Conn>,
    // Owns the accept loops (and through them the listeners): dropped with the stream.
    _tasks: JoinSet<()>,
}

impl Incoming {
    /// The next accepted (and, with TLS, handshaken) connection; `None` once no listener is
    /// left.
    pub async fn next(&mut self) -> Option<Conn> {
        self.rx.recv().await
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// Starts accepting on `listeners` under `options`.
pub fn accept(listeners: Vec<TcpListener>, options: AcceptOptions) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let acceptor = options.tls.clone().map(TlsAcceptor::from);
    let mut tasks = JoinSet::new();
    for listener in listeners {
        tasks.spawn(accept_loop(
            listener,
            tx.clone(),
            slots.clone(),
            acceptor.clone(),
            options.clone(),
        ));
    }
    Incoming { rx, _tasks: tasks }
}

async fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<Conn>,
    slots: Arc<Semaphore>,
    acceptor: Option<TlsAcceptor>,
    options: AcceptOptions,
) {
    // Handshakes in flight; dropped (so aborted) with this loop when the server stops.
    let mut handshakes = JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            () = tx.closed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                %remote,
                max_connections = options.max_connections,
                "connection limit reached: closing the new connection (raise --max-connections)"
            );
            drop(tcp);
            continue;
        };
        // Work items and completions are small and latency-bound.
        let _ = tcp.set_nodelay(true);
        let activity = ConnActivity::new();
        let idle = options
            .idle_timeout
            .map(|t| IdleTimer::new(activity.clone(), t));
        match &acceptor {
            None => {
                let conn = Conn {
                    io: Io::Plain(tcp),
                    remote,
                    activity,
                    idle,
                    _slot: slot,
                };
                if tx.send(conn).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(tcp);
                let tx = tx.clone();
                handshakes.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => {
                            let conn = Conn {
                                io: Io::Tls(Box::new(tls)),
                                remote,
                                activity,
                                idle,
                                _slot: slot,
                            };
                            let _ = tx.send(conn).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%remote, %err, "TLS handshake failed (a plaintext client on a TLS port?)");
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                        }
                    }
                });
            }
        }
    }
}
