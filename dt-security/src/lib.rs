//! Transport security and limits for dt-server's ports, independent of the protocol served:
//! bearer tokens ([`TokenSet`], compared in constant time), TLS from PEM files that can be
//! reloaded while serving ([`TlsCertificate`]), a listener that enforces the connection cap,
//! TLS handshakes and the idle timeout ([`accept`]), the [`Limits`] with their defaults, and
//! the warning for an unauthenticated port open beyond loopback ([`warn_if_open`]), and
//! their command-line options ([`SecurityArgs`], [`LimitArgs`]).
//!
//! The gRPC port (dt-grpc) and the HTTP port use the same pieces, so one token file, one
//! certificate (one reload) and one set of limits cover both.

mod activity;
mod args;
mod exposure;
mod limits;
mod listener;
mod security;
mod tls;
mod tokens;

#[cfg(feature = "testing")]
pub mod test_certs;

pub use activity::{CallGuard, ConnActivity, IdleTimer};
pub use args::{LimitArgs, SecurityArgs};
pub use exposure::{exposed, warn_if_open};
pub use limits::*;
pub use listener::{AcceptOptions, Conn, HANDSHAKE_TIMEOUT, Incoming, accept};
pub use security::{Security, SecurityError};
pub use tls::{ALPN_H2, ALPN_HTTP1, TlsCertificate, TlsError, TlsFiles};
pub use tokens::{TOKEN_ENV, TokenError, TokenSet, Unauthenticated};
/// The rustls version in use, for callers that build their own configuration.
pub use tokio_rustls::rustls;
