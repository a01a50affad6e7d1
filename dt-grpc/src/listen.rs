//! Binding the server's listeners: every address of a host on one port, so callers (the
//! `dt-server` command, the Rust and Python in-process backends) know the port before serving.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::TcpListener;

/// Why no listener could be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The host name did not resolve.
    #[error("cannot resolve host {host}: {source}")]
    Resolve {
        /// The host asked for.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The first address of the host could not be bound (e.g. the port is in use).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address (and port) asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl BindError {
    /// The OS error behind it.
    pub fn io_error(&self) -> &std::io::Error {
        match self {
            Self::Resolve { source, .. } | Self::Listen { source, .. } => source,
        }
    }
}

/// Binds every address of `host` on `port`; `localhost` means 127.0.0.1 and ::1 without asking
/// the resolver. With port 0 the first bind picks the port and the others reuse it, so one port
/// reaches all of them. Only the first address must bind: a missing IPv6 stack (or an IPv6
/// port taken by someone else) is logged, not fatal.
pub async fn bind(host: &str, port: u16) -> Result<Vec<TcpListener>, BindError> {
    let addrs: Vec<IpAddr> = if host == "localhost" {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| BindError::Resolve {
                host: host.to_owned(),
                source,
            })?
            .map(|a| a.ip())
            .collect()
    };
    let mut listeners = Vec::new();
    let mut chosen = port;
    for (i, ip) in addrs.into_iter().enumerate() {
        let addr = SocketAddr::new(ip, chosen);
        match TcpListener::bind(addr).await.and_then(|l| {
            let port = l.local_addr()?.port();
            Ok((l, port))
        }) {
            Ok((l, port)) => {
                chosen = port;
                listeners.push(l);
            }
            Err(err) if i > 0 => tracing::warn!(%addr, %err, "not listening on this address"),
            Err(source) => return Err(BindError::Listen { addr, source }),
        }
    }
    Ok(listeners)
}
