//! Serving axum on dt-security's guarded listener, the one the gRPC port uses:
//! [`SecureListener`] hands axum the connections `dt_security::accept` lets through (under
//! the connection cap, TLS-handshaken within its deadline, read as closed once idle), and
//! [`count_calls`] keeps each connection's open-call count, so a connection with a request in
//! flight (an open live feed included) is never idle.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use dt_security::{CallGuard, Conn, ConnActivity, Incoming};
use http_body::{Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The accepted connections of the HTTP port, as axum's listener.
pub(crate) struct SecureListener {
    pub(crate) incoming: Incoming,
    /// The first listener's address (the one whose port the others share).
    pub(crate) local: SocketAddr,
}

impl axum::serve::Listener for SecureListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.incoming.next().await {
            Some(conn) => {
                let remote = conn.remote_addr();
                (conn, remote)
            }
            // Every accept loop has ended: no connection will come any more, and the server
            // stops through its shutdown signal, not through its listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// What each request knows of its connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    activity: ConnActivity,
}

impl Connected<IncomingStream<'_, SecureListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, SecureListener>) -> Self {
        Self {
            activity: stream.io().activity().clone(),
        }
    }
}

/// Counts the request as an open call of its connection until its response body has been
/// sent or dropped.
pub(crate) async fn count_calls(request: Request, next: Next) -> Response {
    let guard = request
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|info| info.0.activity.call_started());
    let response = next.run(request).await;
    match guard {
        Some(guard) => response.map(|inner| {
            Body::new(CallBody {
                inner,
                _guard: guard,
            })
        }),
        None => response,
    }
}

/// A response body holding its call open.
struct CallBody {
    inner: Body,
    _guard: CallGuard,
}

impl HttpBody for CallBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
