//! The command-line options of security and limits (clap), to flatten into a server's
//! arguments with `#[command(flatten)]`. Every limit's default comes from [`Limits`].

use crate::limits::{self, Limits};
use crate::security::{Security, SecurityError};
use crate::tls::TlsFiles;
use crate::tokens::TOKEN_ENV;
use clap::builder::TypedValueParser;
use std::path::PathBuf;
use std::time::Duration;

/// TLS and bearer tokens.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SecurityArgs {
    /// PEM certificate chain (server certificate first): serve TLS. Needs --tls-key.
    /// Reloaded on SIGHUP without dropping open connections.
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// File of bearer tokens, one per line: every call must send
    /// `authorization: Bearer <token>` with one of them. The DT_AUTH_TOKEN environment
    /// variable adds one more.
    #[arg(long, value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,
}

impl SecurityArgs {
    /// Loads the files named and `DT_AUTH_TOKEN`.
    pub fn load(&self) -> Result<Security, SecurityError> {
        let tls = TlsFiles::from_options(self.tls_cert.clone(), self.tls_key.clone())?;
        Security::load(
            tls,
            self.auth_token_file.as_deref(),
            std::env::var(TOKEN_ENV).ok(),
        )
    }
}

/// The limits; each option's default is the [`Limits`] default.
#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Largest message accepted or sent, in bytes; a larger one fails with RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..).map(|v| v as usize))]
    pub max_message_bytes: usize,
    /// Concurrent calls (HTTP/2 streams) per connection; clients queue calls beyond it.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONCURRENT_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// Connections open at once on a port; a connection over the limit is closed at once.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
    pub max_connections: usize,
    /// Close a connection that has had no open call for this long; 0 = never.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub idle_timeout_seconds: u64,
    /// Interval of HTTP/2 keepalive pings to each client; 0 = no pings.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::DEFAULT_KEEPALIVE_INTERVAL.as_secs())]
    pub keepalive_seconds: u64,
    /// Close a connection whose keepalive ping goes unanswered this long.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::DEFAULT_KEEPALIVE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_timeout_seconds: u64,
    /// Longest a WaitForInstanceStart/Completion call stays open, whatever deadline the caller
    /// sent (the JavaScript SDK sends none); then it ends with DEADLINE_EXCEEDED.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::DEFAULT_MAX_WAIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_wait_seconds: u64,
}

impl LimitArgs {
    /// The limits these options describe.
    pub fn limits(&self) -> Limits {
        let nonzero = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Limits {
            max_message_bytes: self.max_message_bytes,
            max_concurrent_streams: self.max_concurrent_streams,
            max_connections: self.max_connections,
            idle_timeout: nonzero(self.idle_timeout_seconds),
            keepalive_interval: nonzero(self.keepalive_seconds),
            keepalive_timeout: Duration::from_secs(self.keepalive_timeout_seconds),
            max_wait: Duration::from_secs(self.max_wait_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        security: SecurityArgs,
        #[command(flatten)]
        limits: LimitArgs,
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn defaults_are_the_limits_defaults() -> TestResult {
        let cli = Cli::try_parse_from(["x"])?;
        assert_eq!(cli.limits.limits(), Limits::default());
        assert!(cli.security.tls_cert.is_none() && cli.security.auth_token_file.is_none());
        Ok(())
    }

    #[test]
    fn zero_turns_idle_and_keepalive_off_and_other_zeros_are_refused() -> TestResult {
        let cli = Cli::try_parse_from([
            "x",
            "--idle-timeout-seconds",
            "0",
            "--keepalive-seconds",
            "0",
            "--max-wait-seconds",
            "5",
            "--max-message-bytes",
            "1048576",
        ])?;
        let limits = cli.limits.limits();
        assert_eq!(limits.idle_timeout, None);
        assert_eq!(limits.keepalive_interval, None);
        assert_eq!(limits.max_wait, Duration::from_secs(5));
        assert_eq!(limits.max_message_bytes, 1 << 20);
        for flag in [
            "--max-connections",
            "--max-concurrent-streams",
            "--max-wait-seconds",
            "--keepalive-timeout-seconds",
            "--max-message-bytes",
        ] {
            assert!(Cli::try_parse_from(["x", flag, "0"]).is_err(), "{flag} 0");
        }
        Ok(())
    }

    #[test]
    fn a_certificate_without_its_key_is_an_error() -> TestResult {
        let cli = Cli::try_parse_from(["x", "--tls-cert", "c.pem"])?;
        let err = cli.security.load().err().ok_or("loaded")?;
        assert!(err.to_string().contains("--tls-key"), "{err}");
        Ok(())
    }
}
