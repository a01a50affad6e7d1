//! Certificates for tests (feature `testing`): a throw-away CA and certificates it signs,
//! written to a temporary directory as the PEM files `--tls-cert` / `--tls-key` take.

use crate::tls::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use tokio_rustls::rustls::pki_types::CertificateDer;

/// What the helpers fail with.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A self-signed certificate authority.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate signed by a [`TestCa`], with its key.
#[derive(Clone)]
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER (what a client sees in the handshake).
    pub der: CertificateDer<'static>,
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> Result<Self, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "dt-security test CA");
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// The CA certificate, PEM (what clients trust).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A server certificate for `dns_name`, 127.0.0.1 and ::1.
    pub fn leaf(&self, dns_name: &str) -> Result<Leaf, Error> {
        let mut params = CertificateParams::new(vec![dns_name.to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, dns_name);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        })
    }
}

/// A certificate and key written as `cert.pem` and `key.pem` in a temporary directory
/// (removed on drop).
pub struct CertFiles {
    dir: tempfile::TempDir,
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
}

impl CertFiles {
    /// Writes `leaf` to a new temporary directory.
    pub fn write(leaf: &Leaf) -> Result<Self, Error> {
        let dir = tempfile::tempdir()?;
        let files = Self {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            dir,
        };
        files.overwrite(leaf)?;
        Ok(files)
    }

    /// Replaces the files' contents with `leaf` (as a certificate renewal would).
    pub fn overwrite(&self, leaf: &Leaf) -> Result<(), Error> {
        std::fs::write(&self.cert, &leaf.cert_pem)?;
        std::fs::write(&self.key, &leaf.key_pem)?;
        Ok(())
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The paths as [`TlsFiles`].
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}
