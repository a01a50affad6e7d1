//! TLS from a PEM certificate chain and private key, reloadable while the server runs.
//!
//! [`TlsCertificate`] holds the current certificate behind a lock and is the rustls
//! certificate resolver, so [`TlsCertificate::reload`] swaps what the *next* handshake
//! presents while every established connection keeps its session. One `TlsCertificate` can
//! back several ports ([`TlsCertificate::server_config`] per port, each with its own ALPN), so
//! one reload (SIGHUP) reaches them all. Every problem with the files is an error naming the
//! file, found when loading, never at the first handshake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// ALPN protocol id of HTTP/2, which gRPC clients require over TLS.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where the certificate chain and key are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file with the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both paths or neither: one without the other is a configuration error.
    pub fn from_options(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<Self>, TlsError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Incomplete("--tls-cert", "--tls-key")),
            (None, Some(_)) => Err(TlsError::Incomplete("--tls-key", "--tls-cert")),
        }
    }
}

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of the two options was given without the other.
    #[error("{0} was given without {1}: TLS needs both a certificate and its private key")]
    Incomplete(&'static str, &'static str),
    /// A file could not be read.
    #[error("cannot read {what} file {path}: {source}")]
    Read {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not usable PEM of the expected kind.
    #[error("{path} holds no usable PEM {what}: {reason}")]
    Pem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The key cannot be used, or does not belong to the certificate.
    #[error("the private key {key} cannot be used with the certificate {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// rustls refused the configuration (should not happen with the built-in provider).
    #[error("TLS configuration error: {0}")]
    Config(String),
}

/// The server certificate and key, swappable at run time; the rustls resolver of every
/// configuration built from it.
pub struct TlsCertificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for TlsCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCertificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsCertificate {
    /// Reads and checks the files (the key must match the certificate).
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = read_certified_key(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// The files this certificate is read from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Reads the files again and, if they are valid, presents the new certificate to every
    /// later handshake; on error the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = Arc::new(read_certified_key(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// The DER of the certificate currently presented (the end-entity one).
    pub fn current_certificate(&self) -> Option<CertificateDer<'static>> {
        self.current_key().cert.first().cloned()
    }

    fn current_key(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A rustls server configuration presenting this certificate, offering `alpn` (e.g.
    /// `[ALPN_H2]` for gRPC).
    pub fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for TlsCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current_key())
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    const CERT: &str = "certificate";
    const KEY: &str = "private key";
    let pem_error = |what, path: &Path, reason: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        reason,
    };
    let cert_pem = read(CERT, &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(CERT, &files.cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            CERT,
            &files.cert,
            "no CERTIFICATE section found".into(),
        ));
    }
    let key_pem = read(KEY, &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error(KEY, &files.key, e.to_string()))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_certs::{CertFiles, TestCa};

    type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    #[test]
    fn both_or_neither() {
        assert!(matches!(TlsFiles::from_options(None, None), Ok(None)));
        assert!(matches!(
            TlsFiles::from_options(Some("c".into()), Some("k".into())),
            Ok(Some(_))
        ));
        let only_cert = TlsFiles::from_options(Some("c".into()), None).err();
        assert!(
            only_cert
                .map(|e| e.to_string())
                .is_some_and(|m| m.contains("--tls-cert was given without --tls-key")),
        );
        assert!(TlsFiles::from_options(None, Some("k".into())).is_err());
    }

    #[test]
    fn loads_a_matching_pair() -> TestResult {
        let ca = TestCa::new()?;
        let files = CertFiles::write(&ca.leaf("localhost")?)?;
        let cert = TlsCertificate::load(files.tls_files())?;
        assert!(cert.current_certificate().is_some());
        Ok(())
    }

    #[test]
    fn missing_files_name_the_path() -> TestResult {
        let ca = TestCa::new()?;
        let files = CertFiles::write(&ca.leaf("localhost")?)?;
        let mut broken = files.tls_files();
        broken.cert = files.dir().join("nope.pem");
        let err = TlsCertificate::load(broken).err().ok_or("loaded")?;
        assert!(matches!(
            err,
            TlsError::Read {
                what: "certificate",
                ..
            }
        ));
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let mut broken = files.tls_files();
        broken.key = files.dir().join("nokey.pem");
        let err = TlsCertificate::load(broken).err().ok_or("loaded")?;
        assert!(matches!(
            err,
            TlsError::Read {
                what: "private key",
                ..
            }
        ));
        Ok(())
    }

    #[test]
    fn garbage_and_swapped_files_are_pem_errors() -> TestResult {
        let ca = TestCa::new()?;
        let files = CertFiles::write(&ca.leaf("localhost")?)?;
        std::fs::write(files.dir().join("junk.pem"), "not pem at all\n")?;
        let junk = files.dir().join("junk.pem");
        let cases = [
            (junk.clone(), files.key.clone(), "certificate"),
            (files.cert.clone(), junk, "private key"),
            // The key file given as the certificate and the other way round.
            (files.key.clone(), files.cert.clone(), "certificate"),
        ];
        for (cert, key, what) in cases {
            let err = TlsCertificate::load(TlsFiles { cert, key })
                .err()
                .ok_or("loaded")?;
            assert!(
                matches!(&err, TlsError::Pem { what: w, .. } if *w == what),
                "{what}: {err}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() -> TestResult {
        let ca = TestCa::new()?;
        let a = CertFiles::write(&ca.leaf("localhost")?)?;
        let b = CertFiles::write(&ca.leaf("localhost")?)?;
        let err = TlsCertificate::load(TlsFiles {
            cert: a.cert.clone(),
            key: b.key.clone(),
        })
        .err()
        .ok_or("loaded a mismatched pair")?;
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        Ok(())
    }

    #[test]
    fn reload_swaps_and_a_failed_reload_keeps_the_old_certificate() -> TestResult {
        let ca = TestCa::new()?;
        let first = ca.leaf("localhost")?;
        let files = CertFiles::write(&first)?;
        let cert = TlsCertificate::load(files.tls_files())?;
        let second = ca.leaf("localhost")?;
        files.overwrite(&second)?;
        cert.reload()?;
        assert_eq!(cert.current_certificate(), Some(second.der.clone()));
        std::fs::write(&files.key, "broken")?;
        assert!(cert.reload().is_err());
        assert_eq!(cert.current_certificate(), Some(second.der));
        Ok(())
    }
}
