//! The SDK against an identity server on HTTPS whose certificate comes from a private CA (a
//! test CA made here): trusted through `HttpOptions::root_certificates`,
//! `ConfigBuilder::root_certificates` or `PORTCULLIS_CA_FILE`, every client works; without it,
//! each one fails with an error that says the certificate was not trusted.

use std::collections::HashMap;

use portcullis::error::FetchError;
use portcullis::management::ManagementClient;
use portcullis::oauth::AuthClient;
use portcullis::tls::{CertificateError, RootCertificates};
use portcullis::{Config, HttpOptions, Reason, TokenVerifier};
use portcullis_server::testing::TestIssuer;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const API: &str = "https://api.example.com";
const WORKER: (&str, &str) = ("worker", "worker-secret-0123456789abcdefghijklmnop");
const ADMIN: (&str, &str) = ("admin", "admin-secret-0123456789abcdefghijklmnopq");

/// A certificate authority and a `localhost` server certificate it issued: (CA, cert, key).
fn test_ca(name: &str) -> (String, String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(params, ca_key);
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

struct Setup {
    issuer: TestIssuer,
    ca_pem: String,
}

async fn https_issuer() -> Setup {
    let (ca_pem, cert, key) = test_ca("Portcullis private CA");
    let issuer = TestIssuer::builder()
        .api(API, &["read:todos"])
        .m2m_app(WORKER.0, WORKER.1, API, &["read:todos"])
        .management_app(ADMIN.0, ADMIN.1, &["*"])
        .tls(cert, key, ca_pem.clone())
        .start()
        .await
        .unwrap();
    assert!(issuer.url().starts_with("https://"));
    Setup { issuer, ca_pem }
}

impl Setup {
    async fn token(&self) -> String {
        self.issuer
            .client_credentials_token(WORKER.0, WORKER.1, API, None)
            .await
            .unwrap()
    }

    fn roots(&self) -> RootCertificates {
        RootCertificates::from_pem(self.ca_pem.as_bytes()).unwrap()
    }

    fn config(&self, client: (&str, &str), roots: Option<RootCertificates>) -> Config {
        let mut b = Config::builder(self.issuer.url())
            .client_id(client.0)
            .client_secret(client.1)
            .audience(API);
        if let Some(roots) = roots {
            b = b.root_certificates(roots);
        }
        b.build().unwrap()
    }
}

/// Whether `e` is a transport failure that names the server's certificate.
fn is_untrusted_certificate(e: &str) -> bool {
    let e = e.to_lowercase();
    e.contains("certificate") && (e.contains("unknownissuer") || e.contains("unknown issuer"))
}

#[tokio::test]
async fn token_verifier_trusts_the_private_ca_through_http_options() {
    let s = https_issuer().await;
    let token = s.token().await;
    let verifier = TokenVerifier::builder(s.issuer.url())
        .audience(API)
        .http_options(HttpOptions {
            root_certificates: s.roots(),
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let claims = verifier.verify_access_token(&token).await.unwrap();
    assert_eq!(claims.authorized_party(), Some(WORKER.0));

    // The same through a configuration that carries the CA.
    let verifier = TokenVerifier::from_config(&s.config(WORKER, Some(s.roots()))).unwrap();
    verifier.verify_access_token(&token).await.unwrap();
}

#[tokio::test]
async fn without_the_private_ca_the_verifier_fails_with_a_certificate_error() {
    let s = https_issuer().await;
    let token = s.token().await;
    let verifier = TokenVerifier::from_config(&s.config(WORKER, None)).unwrap();
    let err = verifier.verify_access_token(&token).await.unwrap_err();
    // The token may be fine: the keys could not be fetched (503), because the server's
    // certificate was not trusted.
    assert_eq!(err.reason(), Some(Reason::KeysUnavailable));
    assert_eq!(err.http_status(), 503);
    let source = std::error::Error::source(&err).and_then(|e| e.downcast_ref::<FetchError>());
    match source {
        Some(FetchError::Transport { url, message }) => {
            assert!(url.starts_with(s.issuer.url()), "{url}");
            assert!(is_untrusted_certificate(message), "{message}");
        }
        other => panic!("expected a transport error under {err:?}, got {other:?}"),
    }

    // Trusting another CA does not help.
    let (other_ca, _, _) = test_ca("Someone else's CA");
    let verifier = TokenVerifier::builder(s.issuer.url())
        .audience(API)
        .http_options(HttpOptions {
            root_certificates: RootCertificates::from_pem(other_ca.as_bytes()).unwrap(),
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let err = verifier.verify_access_token(&token).await.unwrap_err();
    assert!(is_untrusted_certificate(&format!("{err:?}")), "{err:?}");
}

#[tokio::test]
async fn auth_and_management_clients_trust_the_ca_file_of_the_environment() {
    let s = https_issuer().await;
    let dir = std::env::temp_dir().join(format!("portcullis-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &s.ca_pem).unwrap();
    let env = |client: (&str, &str), ca: Option<&str>| {
        let mut vars = HashMap::from([
            ("PORTCULLIS_ISSUER", s.issuer.url().to_owned()),
            ("PORTCULLIS_CLIENT_ID", client.0.to_owned()),
            ("PORTCULLIS_CLIENT_SECRET", client.1.to_owned()),
            ("PORTCULLIS_AUDIENCE", API.to_owned()),
        ]);
        if let Some(ca) = ca {
            vars.insert("PORTCULLIS_CA_FILE", ca.to_owned());
        }
        Config::from_env_with(|k| vars.get(k).cloned())
    };
    let ca_path = ca_file.display().to_string();

    // AuthClient: client_credentials over HTTPS, its token verified by its own verifier.
    let config = env(WORKER, Some(&ca_path)).unwrap();
    assert_eq!(config.root_certificates().len(), 1);
    let client = AuthClient::new(&config).unwrap();
    let token = client.client_credentials(API, &[]).await.unwrap();
    client
        .verifier()
        .verify_access_token(token.access_token())
        .await
        .unwrap();
    let untrusted = AuthClient::new(&env(WORKER, None).unwrap()).unwrap();
    let err = untrusted.client_credentials(API, &[]).await.unwrap_err();
    assert!(is_untrusted_certificate(&err.to_string()), "{err}");

    // ManagementClient: its token and its API calls.
    let management = ManagementClient::new(&env(ADMIN, Some(&ca_path)).unwrap()).unwrap();
    management.get_users(10).await.unwrap();
    let untrusted = ManagementClient::new(&env(ADMIN, None).unwrap()).unwrap();
    let err = untrusted.get_users(10).await.unwrap_err();
    assert!(is_untrusted_certificate(&format!("{err} {err:?}")), "{err}");
    // The builder's own option works as well.
    let management = ManagementClient::builder(env(ADMIN, None).unwrap())
        .root_certificates(s.roots())
        .build()
        .unwrap();
    management.get_users(10).await.unwrap();

    // A bad PORTCULLIS_CA_FILE is a configuration error naming the variable and the file.
    let missing = dir.join("missing.pem").display().to_string();
    let err = env(WORKER, Some(&missing)).unwrap_err();
    assert_eq!(err.setting(), "PORTCULLIS_CA_FILE");
    assert!(err.problem().contains(&missing), "{err}");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let err = env(WORKER, Some(&garbage.display().to_string())).unwrap_err();
    assert!(err.problem().contains("holds no certificate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn root_certificates_parse_bundles_and_refuse_what_is_not_a_certificate() {
    let (a, cert, key) = test_ca("A");
    let (b, _, _) = test_ca("B");
    let bundle = format!("{a}\n{b}");
    let roots = RootCertificates::from_pem(bundle.as_bytes()).unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(
        roots
            .merged(&RootCertificates::from_pem(a.as_bytes()).unwrap())
            .len(),
        2
    );
    // A server certificate is a certificate too (trusting it pins that server).
    assert_eq!(
        RootCertificates::from_pem(cert.as_bytes()).unwrap().len(),
        1
    );
    assert!(matches!(
        RootCertificates::from_pem(key.as_bytes()),
        Err(CertificateError::NoCertificate { .. })
    ));
    // Debug shows a count, not the certificates.
    assert_eq!(format!("{roots:?}"), "RootCertificates { count: 2 }");
}
