//! Trust for HTTPS to the issuer: [`RootCertificates`], extra certificate authorities (a
//! company's private CA, a test CA) trusted *in addition to* the system's.
//!
//! Every request the SDK makes verifies the server's certificate; there is no switch that turns
//! that off. An issuer whose certificate comes from a private CA is reached by trusting that CA:
//!
//! - `PORTCULLIS_CA_FILE=/etc/ssl/private-ca.pem`, read by [`Config::from_env`] (and so by
//!   everything built from that configuration), or
//! - [`ConfigBuilder::root_certificates`], or
//! - [`HttpOptions::root_certificates`] on a [`TokenVerifier`], an [`AuthClient`] or (through
//!   its builder) a [`ManagementClient`].
//!
//! Roots from these places add up: the system's roots, plus the configuration's, plus the
//! [`HttpOptions`]'. Nothing replaces the system's roots.
//!
//! [`Config::from_env`]: crate::Config::from_env
//! [`ConfigBuilder::root_certificates`]: crate::ConfigBuilder::root_certificates
//! [`HttpOptions`]: crate::HttpOptions
//! [`HttpOptions::root_certificates`]: crate::HttpOptions::root_certificates
//! [`TokenVerifier`]: crate::TokenVerifier
//! [`AuthClient`]: crate::oauth::AuthClient
//! [`ManagementClient`]: crate::management::ManagementClient

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject as _};

/// The environment variable naming a PEM file of extra certificate authorities.
pub const CA_FILE_VAR: &str = "PORTCULLIS_CA_FILE";

/// Certificate authorities trusted for HTTPS to the issuer besides the system's roots.
///
/// Parsed and checked when made, so a bad file fails at start-up, naming the file, rather than
/// at the first request. Cheap to clone.
///
/// ```
/// use portcullis::tls::RootCertificates;
///
/// // A file with no certificate in it is an error naming what was read.
/// let err = RootCertificates::from_pem(b"not a certificate").unwrap_err();
/// assert!(err.to_string().contains("no certificate"));
///
/// // The default trusts nothing beyond the system's roots.
/// assert!(RootCertificates::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RootCertificates {
    /// DER-encoded certificates, each checked to be usable as a trust anchor.
    der: Arc<Vec<Vec<u8>>>,
}

impl fmt::Debug for RootCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCertificates")
            .field("count", &self.der.len())
            .finish()
    }
}

impl RootCertificates {
    /// The `CERTIFICATE` blocks of PEM text (other blocks, such as keys, are ignored). At least
    /// one certificate is required, and each must be usable as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<RootCertificates, CertificateError> {
        Self::parse(pem, "the PEM text")
    }

    /// The certificates of a PEM file (a CA bundle), as [`RootCertificates::from_pem`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), portcullis::Error> {
    /// let roots = portcullis::tls::RootCertificates::from_pem_file("/etc/ssl/private-ca.pem")?;
    /// let options = portcullis::HttpOptions {
    ///     root_certificates: roots,
    ///     ..portcullis::HttpOptions::default()
    /// };
    /// let verifier = portcullis::TokenVerifier::builder("https://id.internal.example")
    ///     .audience("https://api.internal.example")
    ///     .http_options(options)
    ///     .build()?;
    /// # let _ = verifier; Ok(()) }
    /// ```
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<RootCertificates, CertificateError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| CertificateError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// The certificates of the file named by `PORTCULLIS_CA_FILE`; none when it is unset or
    /// empty.
    pub fn from_env() -> Result<RootCertificates, CertificateError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// Like [`RootCertificates::from_env`], reading variables through `lookup`.
    pub(crate) fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RootCertificates, CertificateError> {
        match lookup(CA_FILE_VAR) {
            Some(path) if !path.trim().is_empty() => Self::from_pem_file(path.trim()),
            _ => Ok(RootCertificates::default()),
        }
    }

    fn parse(pem: &[u8], origin: &str) -> Result<RootCertificates, CertificateError> {
        let mut der = Vec::new();
        for (index, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert = item.map_err(|e| CertificateError::Pem {
                origin: origin.to_owned(),
                message: describe_pem_error(&e),
            })?;
            // The check rustls makes when the client is built, made now so that a bad
            // certificate is reported where it was read.
            webpki::anchor_from_trusted_cert(&cert).map_err(|e| {
                CertificateError::InvalidCertificate {
                    origin: origin.to_owned(),
                    index: index + 1,
                    message: format!("{e:?}"),
                }
            })?;
            der.push(cert.as_ref().to_vec());
        }
        if der.is_empty() {
            return Err(CertificateError::NoCertificate {
                origin: origin.to_owned(),
            });
        }
        Ok(RootCertificates { der: Arc::new(der) })
    }

    /// How many certificates are trusted.
    pub fn len(&self) -> usize {
        self.der.len()
    }

    /// Whether none are (only the system's roots are trusted).
    pub fn is_empty(&self) -> bool {
        self.der.is_empty()
    }

    /// These certificates and `other`'s (each once).
    #[must_use]
    pub fn merged(&self, other: &RootCertificates) -> RootCertificates {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let mut der = (*self.der).clone();
        for cert in other.der.iter() {
            if !der.contains(cert) {
                der.push(cert.clone());
            }
        }
        RootCertificates { der: Arc::new(der) }
    }

    /// The certificates for reqwest.
    pub(crate) fn to_reqwest(&self) -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
        self.der
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect()
    }
}

fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a BEGIN line without its END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line".to_owned(),
        pem::Error::Base64Decode(_) => "a block that is not valid base64".to_owned(),
        other => other.to_string(),
    }
}

/// Extra root certificates could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The file could not be read.
    #[error("cannot read the CA certificate file {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (from the operating system).
        message: String,
    },
    /// The text is not well-formed PEM.
    #[error("{origin} is not valid PEM: {message}")]
    Pem {
        /// The file (or "the PEM text").
        origin: String,
        /// What is malformed.
        message: String,
    },
    /// No `-----BEGIN CERTIFICATE-----` block was found.
    #[error(
        "{origin} holds no certificate: expected one or more -----BEGIN CERTIFICATE----- blocks"
    )]
    NoCertificate {
        /// The file (or "the PEM text").
        origin: String,
    },
    /// A certificate cannot be used as a trust anchor (it does not parse as X.509).
    #[error("certificate {index} of {origin} cannot be used as a root certificate: {message}")]
    InvalidCertificate {
        /// The file (or "the PEM text").
        origin: String,
        /// Which certificate, counting from 1.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_input_are_refused_with_reasons() {
        assert!(matches!(
            RootCertificates::from_pem(b""),
            Err(CertificateError::NoCertificate { .. })
        ));
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            RootCertificates::from_pem(key_only),
            Err(CertificateError::NoCertificate { .. })
        ));
        let unterminated = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert!(matches!(
            RootCertificates::from_pem(unterminated),
            Err(CertificateError::Pem { .. })
        ));
        let not_x509 =
            b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        let err = RootCertificates::from_pem(not_x509).unwrap_err();
        assert!(
            matches!(err, CertificateError::InvalidCertificate { index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = RootCertificates::from_pem_file("/nonexistent/ca.pem").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let err =
            RootCertificates::from_env_with(|_| Some("/nonexistent/ca.pem".into())).unwrap_err();
        assert!(matches!(err, CertificateError::Read { .. }));
        assert!(
            RootCertificates::from_env_with(|_| Some("  ".into()))
                .unwrap()
                .is_empty()
        );
    }
}
