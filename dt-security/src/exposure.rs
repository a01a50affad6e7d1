//! The warning for a port that listens beyond loopback with no bearer token configured.

use crate::tokens::TokenSet;
use std::net::SocketAddr;

/// Whether any of `addrs` is reachable from other machines (anything but loopback).
pub fn exposed(addrs: &[SocketAddr]) -> bool {
    addrs.iter().any(|a| !a.ip().is_loopback())
}

/// Logs a loud warning (tracing, warn level) when `port` listens beyond loopback and no token
/// is configured: anyone who can reach it can then control every orchestration. Returns
/// whether it warned.
pub fn warn_if_open(port: &str, addrs: &[SocketAddr], tokens: &TokenSet) -> bool {
    if tokens.is_enabled() || !exposed(addrs) {
        return false;
    }
    let addrs = addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    tracing::warn!(
        "UNAUTHENTICATED {port} PORT ON A NON-LOOPBACK ADDRESS ({addrs}): anyone who can reach \
         it can start, terminate, purge and read every orchestration. Set DT_AUTH_TOKEN or \
         --auth-token-file (and --tls-cert/--tls-key), or listen on localhost only."
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn loopback_is_not_exposed_anything_else_is() -> TestResult {
        let loopback: Vec<SocketAddr> = vec!["127.0.0.1:1".parse()?, "[::1]:1".parse()?];
        assert!(!exposed(&loopback));
        for open in ["0.0.0.0:1", "[::]:1", "10.1.2.3:1", "127.0.0.1:1"] {
            let mut addrs = vec![open.parse::<SocketAddr>()?];
            addrs.push("192.0.2.1:1".parse()?);
            assert!(exposed(&addrs), "{open}");
        }
        let none = TokenSet::default();
        assert!(warn_if_open("gRPC", &["0.0.0.0:1".parse()?], &none));
        assert!(!warn_if_open("gRPC", &loopback, &none));
        let some = TokenSet::new(["t"])?;
        assert!(!warn_if_open("gRPC", &["0.0.0.0:1".parse()?], &some));
        Ok(())
    }
}
