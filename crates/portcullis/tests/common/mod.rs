//! Test support: real keys generated in the test, tokens signed with them, and a real HTTP issuer
//! (discovery + JWKS) on 127.0.0.1 that counts its hits.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::{TokenVerifier, VerifierBuilder};
use serde_json::{Value, json};

/// The API audience every test verifier expects.
pub const AUD: &str = "https://api.example.com";
/// The client id ID tokens are issued to.
pub const CLIENT_ID: &str = "test-client";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Clone)]
enum Signer {
    Rsa(Arc<RsaKeyPair>),
    Ec(Arc<EcdsaKeyPair>, &'static signature::EcdsaSigningAlgorithm),
    Ed(Arc<Ed25519KeyPair>),
    Hmac(Vec<u8>),
}

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    /// The default algorithm for this key.
    pub alg: &'static str,
    signer: Signer,
    /// The public JWK (with `kid`, without `alg`).
    pub jwk: Value,
}

fn rsa_keypair() -> Arc<RsaKeyPair> {
    Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
}

impl TestKey {
    pub fn rsa(kid: &str) -> Self {
        let kp = rsa_keypair();
        let pk = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        TestKey {
            kid: kid.into(),
            alg: "RS256",
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&pk.n), "e": b64(&pk.e)}),
            signer: Signer::Rsa(kp),
        }
    }

    pub fn ec256(kid: &str) -> Self {
        Self::ec(
            kid,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
            "ES256",
            32,
        )
    }

    pub fn ec384(kid: &str) -> Self {
        Self::ec(
            kid,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
            "ES384",
            48,
        )
    }

    fn ec(
        kid: &str,
        alg: &'static signature::EcdsaSigningAlgorithm,
        crv: &str,
        name: &'static str,
        len: usize,
    ) -> Self {
        let kp = Arc::new(EcdsaKeyPair::generate(alg).expect("EC key generation"));
        let point = kp.public_key().as_ref().to_vec();
        TestKey {
            kid: kid.into(),
            alg: name,
            jwk: json!({"kty": "EC", "kid": kid, "crv": crv,
                        "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])}),
            signer: Signer::Ec(kp, alg),
        }
    }

    pub fn ed25519(kid: &str) -> Self {
        let kp = Arc::new(Ed25519KeyPair::generate().expect("Ed25519 key generation"));
        TestKey {
            kid: kid.into(),
            alg: "EdDSA",
            jwk: json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(kp.public_key().as_ref())}),
            signer: Signer::Ed(kp),
        }
    }

    pub fn hmac(secret: &[u8]) -> Self {
        TestKey {
            kid: "hmac".into(),
            alg: "HS256",
            jwk: json!({"kty": "oct", "kid": "hmac", "k": b64(secret)}),
            signer: Signer::Hmac(secret.to_vec()),
        }
    }

    /// The public JWK with extra members merged in (e.g. `{"alg": "RS256"}`).
    pub fn jwk_with(&self, extra: Value) -> Value {
        let mut jwk = self.jwk.clone();
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    /// Signs `signing_input` with `alg` (which may differ from the key's default: PS256 with an
    /// RSA key, HS256 with any bytes as the secret, …).
    pub fn sign_bytes(&self, alg: &str, signing_input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA key cannot sign {other}"),
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(padding, &rng, signing_input, &mut sig).unwrap();
                sig
            }
            Signer::Ec(kp, _) => kp.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
            Signer::Ed(kp) => kp.sign(signing_input).as_ref().to_vec(),
            Signer::Hmac(secret) => hmac(alg, secret, signing_input),
        }
    }

    /// A token with an arbitrary header and claims, signed with `alg`.
    pub fn sign(&self, alg: &str, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(serde_json::to_vec(header).unwrap()),
            b64(serde_json::to_vec(claims).unwrap())
        );
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", b64(sig))
    }

    /// The standard header for this key: `{"alg", "kid", "typ": "JWT"}`.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"})
    }

    /// A token with this key's standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(self.alg, &self.header(), claims)
    }
}

/// HMAC over `input` with `secret`.
pub fn hmac(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        "HS512" => aws_lc_rs::hmac::HMAC_SHA512,
        other => panic!("not an HMAC algorithm: {other}"),
    };
    let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
    aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
}

/// Access-token claims as Kinde issues them (about 800 bytes once signed with RS256), valid now.
pub fn kinde_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "aud": [AUD],
        "azp": CLIENT_ID,
        "exp": now + 3600,
        "iat": now - 10,
        "iss": issuer,
        "jti": "0d7e3f0a-8f7c-4a52-9a0b-6f9e5c3b2a11",
        "sub": "kp_7f3b2c1d9e8a4b5c6d7e8f9a0b1c2d3e",
        "org_code": "org_1a2b3c4d5e6f",
        "org_name": "Acme Corporation",
        "permissions": ["create:todos", "read:todos", "update:todos", "delete:todos", "read:reports"],
        "roles": [{"id": "role_01", "key": "admin", "name": "Admin"}],
        "scp": ["openid", "profile", "email", "offline"],
        "feature_flags": {
            "analytics": {"t": "b", "v": true},
            "theme": {"t": "s", "v": "pink"},
            "competitions_limit": {"t": "i", "v": 5}
        }
    })
}

/// ID-token claims for [`CLIENT_ID`].
pub fn id_claims(issuer: &str, nonce: Option<&str>) -> Value {
    let now = now();
    let mut c = json!({
        "aud": [CLIENT_ID], "azp": CLIENT_ID, "exp": now + 3600, "iat": now - 5,
        "auth_time": now - 5, "iss": issuer, "jti": "id-1", "sub": "kp_123",
        "email": "ada@example.com", "given_name": "Ada", "family_name": "Lovelace",
        "name": "Ada Lovelace", "org_codes": ["org_1", "org_2"], "updated_at": now - 100
    });
    if let Some(n) = nonce {
        c["nonce"] = json!(n);
    }
    c
}

/// How the test issuer answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Discovery and JWKS as configured.
    Normal,
    /// The JWKS endpoint answers this status.
    JwksStatus(u16),
    /// The JWKS endpoint answers 200 with this body.
    JwksBody(String),
    /// The JWKS endpoint never answers.
    JwksHang,
}

#[derive(Clone)]
struct ServerState {
    issuer: Arc<Mutex<String>>,
    metadata_issuer: Arc<Mutex<Option<String>>>,
    keys: Arc<Mutex<Vec<Value>>>,
    mode: Arc<Mutex<Mode>>,
    max_age: Arc<Mutex<Option<u64>>>,
    jwks_hits: Arc<AtomicUsize>,
    discovery_hits: Arc<AtomicUsize>,
    other_hits: Arc<AtomicUsize>,
}

/// A real issuer on 127.0.0.1: `/.well-known/openid-configuration` and `/.well-known/jwks.json`.
pub struct TestIssuerServer {
    pub issuer: String,
    state: ServerState,
    task: tokio::task::JoinHandle<()>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

async fn discovery(State(s): State<ServerState>) -> Response {
    s.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = s.issuer.lock().unwrap().clone();
    let named = s
        .metadata_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or(issuer.clone());
    axum::Json(json!({
        "issuer": named,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{issuer}/oauth2/auth"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]
    }))
    .into_response()
}

async fn jwks(State(s): State<ServerState>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let mode = s.mode.lock().unwrap().clone();
    match mode {
        Mode::Normal => {
            let keys = s.keys.lock().unwrap().clone();
            let mut headers = HeaderMap::new();
            if let Some(age) = *s.max_age.lock().unwrap() {
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_str(&format!("public, max-age={age}")).unwrap(),
                );
            }
            (headers, axum::Json(json!({ "keys": keys }))).into_response()
        }
        Mode::JwksStatus(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::JwksBody(body) => body.into_response(),
        Mode::JwksHang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn other(State(s): State<ServerState>) -> StatusCode {
    s.other_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

impl TestIssuerServer {
    /// Starts the issuer publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = ServerState {
            issuer: Arc::new(Mutex::new(issuer.clone())),
            metadata_issuer: Arc::new(Mutex::new(None)),
            keys: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect())),
            mode: Arc::new(Mutex::new(Mode::Normal)),
            max_age: Arc::new(Mutex::new(None)),
            jwks_hits: Arc::new(AtomicUsize::new(0)),
            discovery_hits: Arc::new(AtomicUsize::new(0)),
            other_hits: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks.json", get(jwks))
            .fallback(other)
            .with_state(state.clone());
        let (shutdown, mut rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            // Graceful shutdown also closes idle keep-alive connections, so a stopped issuer
            // really is unreachable (no pooled connection keeps answering).
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await
                .unwrap();
        });
        TestIssuerServer {
            issuer,
            state,
            task,
            shutdown,
        }
    }

    /// Replaces the published keys with these JWKs.
    pub fn set_jwks(&self, jwks: Vec<Value>) {
        *self.state.keys.lock().unwrap() = jwks;
    }

    /// Replaces the published keys.
    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.set_jwks(keys.iter().map(|k| k.jwk.clone()).collect());
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn set_max_age(&self, age: Option<u64>) {
        *self.state.max_age.lock().unwrap() = age;
    }

    /// Makes the discovery document name another issuer.
    pub fn set_metadata_issuer(&self, issuer: &str) {
        *self.state.metadata_issuer.lock().unwrap() = Some(issuer.into());
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// Requests to any other path.
    pub fn other_hits(&self) -> usize {
        self.state.other_hits.load(Ordering::SeqCst)
    }

    /// Stops the server: further connections are refused.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        for _ in 0..200 {
            if self.task.is_finished() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("test issuer did not stop");
    }

    /// A verifier builder for this issuer with [`AUD`] and [`CLIENT_ID`].
    pub fn verifier(&self) -> VerifierBuilder {
        TokenVerifier::builder(&self.issuer)
            .audience(AUD)
            .client_id(CLIENT_ID)
    }
}

impl Drop for TestIssuerServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
