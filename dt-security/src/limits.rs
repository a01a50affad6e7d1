//! The server's explicit limits, one owner for their defaults: the command line, the test
//! backend and every port read them from here.

use crate::listener::AcceptOptions;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::ServerConfig;

/// Default largest message: 16× the 4 MiB that gRPC clients and servers accept by default,
/// so large histories and payloads pass, while one call still cannot make the server buffer
/// unbounded memory.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Default concurrent streams (calls) per HTTP/2 connection. Clients queue calls beyond it
/// rather than fail.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 1000;
/// Default connections open at once, per port.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Default time a connection may stay without an open call before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default interval of HTTP/2 keepalive pings to each client.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// Default time a keepalive ping may go unanswered before the connection is closed.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default longest time a WaitForInstanceStart/Completion call stays open.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(3600);

/// Limits of one server. Durations of zero are not allowed here: "off" is `None` where a limit
/// can be off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted or sent, in bytes (gRPC messages; HTTP request bodies).
    pub max_message_bytes: usize,
    /// Concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Connections open at once on a port; later ones are closed as they arrive.
    pub max_connections: usize,
    /// Close a connection without an open call for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// HTTP/2 keepalive ping interval (`None`: no pings).
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// Longest a wait for an instance (WaitForInstanceStart/Completion) stays open, whatever
    /// deadline the caller sent; after it the call ends with DEADLINE_EXCEEDED.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            keepalive_interval: Some(DEFAULT_KEEPALIVE_INTERVAL),
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl Limits {
    /// How a port under these limits accepts connections, with `tls` (or plaintext).
    pub fn accept_options(&self, tls: Option<Arc<ServerConfig>>) -> AcceptOptions {
        AcceptOptions {
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            tls,
        }
    }
}
