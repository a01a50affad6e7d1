//! What a port needs to be secured: the certificate (if TLS is on) and the accepted tokens,
//! loaded once and shared by every port, and the SIGHUP reload of the certificate.

use crate::tls::{TlsCertificate, TlsError, TlsFiles};
use crate::tokens::{TokenError, TokenSet};
use std::path::Path;
use std::sync::Arc;

/// Why the security configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The certificate or key.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The tokens.
    #[error(transparent)]
    Tokens(#[from] TokenError),
}

/// TLS and bearer tokens of a server; the default is plaintext without authentication.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The certificate presented by every TLS port (`None`: plaintext).
    pub tls: Option<Arc<TlsCertificate>>,
    /// The tokens every call must carry one of (empty: no authentication).
    pub tokens: Arc<TokenSet>,
}

impl Security {
    /// Loads the certificate files (if any) and the tokens of `token_file` and, when `env` is
    /// set, the `DT_AUTH_TOKEN` value.
    pub fn load(
        tls: Option<TlsFiles>,
        token_file: Option<&Path>,
        env: Option<String>,
    ) -> Result<Self, SecurityError> {
        Ok(Self {
            tls: tls.map(TlsCertificate::load).transpose()?,
            tokens: Arc::new(TokenSet::load(token_file, env)?),
        })
    }

    /// Reloads the certificate on every SIGHUP for as long as the runtime runs (nothing to do
    /// without TLS). A failed reload is logged and the current certificate stays.
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        let Some(cert) = self.tls.clone() else {
            return Ok(());
        };
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangups = signal(SignalKind::hangup())?;
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    match cert.reload() {
                        Ok(()) => tracing::info!(
                            cert = %cert.files().cert.display(),
                            "TLS certificate reloaded: new connections use it"
                        ),
                        Err(err) => tracing::error!(
                            %err,
                            "TLS certificate reload failed: keeping the current certificate"
                        ),
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = cert;
        Ok(())
    }
}
