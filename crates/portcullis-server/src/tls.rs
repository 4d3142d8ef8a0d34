//! HTTPS on the server itself: [`ServerCertificate`], the certificate chain and private key
//! (PEM) served to clients, reloaded without a restart.
//!
//! rustls with the aws-lc-rs provider (the SDK's), TLS 1.2 and 1.3, HTTP/2 or HTTP/1.1 chosen
//! by ALPN. Made from files ([`ServerCertificate::from_files`]), the certificate is re-read
//! when either file changes (polled, see [`ServerCertificate::reload_interval`]) or when
//! [`ServerCertificate::reload`] is called (the binary calls it on SIGHUP). A new pair is used
//! for new connections only; connections already open keep theirs, so nothing is dropped. A
//! new pair that cannot be used (unreadable, malformed, a key that does not match the
//! certificate, half-written) is logged and the pair in use is kept.
//!
//! Behind a proxy that terminates TLS, none of this is needed: the server speaks plain HTTP to
//! the proxy and an `https` issuer works as it is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often certificate files are checked for changes by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// ALPN protocol names, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The server's TLS certificate chain and private key. Cheap to clone (clones share the
/// certificate in use).
///
/// ```no_run
/// # async fn run(state: portcullis_server::AppState) -> Result<(), Box<dyn std::error::Error>> {
/// use portcullis_server::tls::ServerCertificate;
///
/// let certificate = ServerCertificate::from_files("/etc/portcullis/tls.crt", "/etc/portcullis/tls.key")?;
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
/// portcullis_server::run_tls(listener, state, certificate, std::future::pending()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerCertificate {
    inner: Arc<Inner>,
    reload_interval: Duration,
}

struct Inner {
    current: ArcSwap<CertifiedKey>,
    files: Option<Files>,
    provider: Arc<CryptoProvider>,
}

/// Where a reloadable certificate comes from, with digests of the files' bytes: those of the
/// pair in use (unchanged files are not parsed again) and those the polling tried last (so a
/// bad pair is reported once, not at every poll).
struct Files {
    cert: PathBuf,
    key: PathBuf,
    in_use: Mutex<[u8; 32]>,
    polled: Mutex<[u8; 32]>,
}

impl std::fmt::Debug for ServerCertificate {
    // The key never prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServerCertificate");
        if let Some(files) = &self.inner.files {
            d.field("cert", &files.cert).field("key", &files.key);
        }
        d.field("chain_len", &self.inner.current.load().cert.len())
            .finish_non_exhaustive()
    }
}

/// Why a certificate or key could not be loaded. The key's contents are never quoted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The PEM text is malformed.
    #[error("the TLS {what} {origin} is not valid PEM: {message}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file, or "(PEM text)".
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// No `CERTIFICATE` block in the certificate file.
    #[error(
        "the TLS certificate {origin} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks: the server's certificate first, then its intermediates)"
    )]
    NoCertificate {
        /// The file, or "(PEM text)".
        origin: String,
    },
    /// No private key block in the key file.
    #[error(
        "the TLS private key {origin} holds no private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY; an encrypted key must be decrypted first)"
    )]
    NoPrivateKey {
        /// The file, or "(PEM text)".
        origin: String,
    },
    /// The key or certificate cannot be used (unsupported key type, a key that does not match
    /// the certificate, a certificate that does not parse).
    #[error("the TLS certificate {cert} and private key {key} cannot be used together: {message}")]
    Unusable {
        /// The certificate's file, or "(PEM text)".
        cert: String,
        /// The key's file, or "(PEM text)".
        key: String,
        /// Why.
        message: String,
    },
    /// The TLS configuration could not be built.
    #[error("cannot configure TLS: {0}")]
    Config(String),
}

const PEM_TEXT: &str = "(PEM text)";

impl ServerCertificate {
    /// A fixed certificate chain (end-entity certificate first) and private key (PKCS#8,
    /// PKCS#1 or SEC1), from PEM text. It is never reloaded.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<ServerCertificate, TlsError> {
        let provider = provider();
        let current = certified_key(&provider, cert_chain, key, PEM_TEXT, PEM_TEXT)?;
        Ok(Self::with(current, None, provider))
    }

    /// The certificate chain and key of these PEM files, reloaded when they change. A missing
    /// or bad file is an error naming it.
    pub fn from_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerCertificate, TlsError> {
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let provider = provider();
        let (cert_pem, key_pem) = read_pair(&cert, &key)?;
        let current = certified_key(
            &provider,
            &cert_pem,
            &key_pem,
            &cert.display().to_string(),
            &key.display().to_string(),
        )?;
        let files = Files {
            in_use: Mutex::new(digest(&cert_pem, &key_pem)),
            polled: Mutex::new(digest(&cert_pem, &key_pem)),
            cert,
            key,
        };
        Ok(Self::with(current, Some(files), provider))
    }

    fn with(current: CertifiedKey, files: Option<Files>, provider: Arc<CryptoProvider>) -> Self {
        ServerCertificate {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(current),
                files,
                provider,
            }),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    /// How often the files are checked for changes while serving (default 10 s); zero turns
    /// the checks off ([`ServerCertificate::reload`] alone, e.g. on SIGHUP, then re-reads
    /// them). Has no effect on a certificate made with [`ServerCertificate::from_pem`].
    #[must_use]
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Re-reads the files now (the binary calls this on SIGHUP). `Ok(true)` when a new pair is
    /// in use (for new connections), `Ok(false)` when the files hold the pair in use already (or
    /// the certificate was not made from files). An error leaves the pair in use in place.
    pub fn reload(&self) -> Result<bool, TlsError> {
        self.load_if_changed(Trigger::Request)
    }

    /// [`ServerCertificate::reload`], logging the outcome (never the key).
    pub fn reload_and_log(&self) {
        self.log(self.reload());
    }

    fn log(&self, outcome: Result<bool, TlsError>) {
        match outcome {
            Ok(true) => {
                tracing::info!(
                    chain_len = self.inner.current.load().cert.len(),
                    "TLS certificate reloaded: new connections use the new certificate"
                );
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded: keeping the certificate in use");
            }
        }
    }

    fn load_if_changed(&self, trigger: Trigger) -> Result<bool, TlsError> {
        let Some(files) = &self.inner.files else {
            return Ok(false);
        };
        let (cert_pem, key_pem) = read_pair(&files.cert, &files.key)?;
        let digest = digest(&cert_pem, &key_pem);
        let lock = |m: &Mutex<[u8; 32]>| *m.lock().unwrap_or_else(|p| p.into_inner());
        if lock(&files.in_use) == digest {
            return Ok(false);
        }
        if trigger == Trigger::Poll {
            let mut polled = files.polled.lock().unwrap_or_else(|p| p.into_inner());
            if *polled == digest {
                return Ok(false);
            }
            *polled = digest;
        }
        let key = certified_key(
            &self.inner.provider,
            &cert_pem,
            &key_pem,
            &files.cert.display().to_string(),
            &files.key.display().to_string(),
        )?;
        self.inner.current.store(Arc::new(key));
        *files.in_use.lock().unwrap_or_else(|p| p.into_inner()) = digest;
        Ok(true)
    }

    /// Checks the files every [`ServerCertificate::reload_interval`] until dropped (a no-op for
    /// a certificate from PEM text).
    pub(crate) async fn watch(self) {
        if self.inner.files.is_none() || self.reload_interval.is_zero() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(self.reload_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let this = self.clone();
            // File reads and key parsing are blocking work.
            let _ = tokio::task::spawn_blocking(move || {
                this.log(this.load_if_changed(Trigger::Poll));
            })
            .await;
        }
    }

    /// The rustls configuration: this certificate (as it is at each handshake), TLS 1.2 and
    /// 1.3, ALPN `h2` then `http/1.1`.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The periodic check: a bad pair already reported is not reported again.
    Poll,
    /// [`ServerCertificate::reload`] (SIGHUP): always answered.
    Request,
}

/// Hands every handshake the pair in use at that moment.
#[derive(Debug)]
struct Resolver(ServerCertificate);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.inner.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    Ok((read("certificate", cert)?, read("private key", key)?))
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&(cert.len() as u64).to_be_bytes());
    ctx.update(cert);
    ctx.update(key);
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn certified_key(
    provider: &CryptoProvider,
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_origin: &str,
    key_origin: &str,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: "certificate",
            origin: cert_origin.to_owned(),
            message: describe_pem_error(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: cert_origin.to_owned(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoPrivateKey {
                origin: key_origin.to_owned(),
            });
        }
        Err(e) => {
            return Err(TlsError::Pem {
                what: "private key",
                origin: key_origin.to_owned(),
                message: describe_pem_error(&e),
            });
        }
    };
    let unusable = |message: String| TlsError::Unusable {
        cert: cert_origin.to_owned(),
        key: key_origin.to_owned(),
        message,
    };
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        unusable(match e {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not belong to the first certificate of the chain".to_owned()
            }
            other => other.to_string(),
        })
    })?;
    Ok(certified)
}

/// A PEM error without quoting the input (it may be a key).
fn describe_pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a BEGIN line without its END line".to_owned(),
        Error::IllegalSectionStart { .. } => "a malformed BEGIN line".to_owned(),
        Error::Base64Decode(_) => "a block that is not valid base64".to_owned(),
        Error::SectionTooLarge => "a block that is too large".to_owned(),
        _ => "malformed PEM".to_owned(),
    }
}
