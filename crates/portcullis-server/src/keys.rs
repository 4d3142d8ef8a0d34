//! Signing keys: generated on first start, stored in the database (sealed with AES-256-GCM when a
//! master key is configured), published in the JWKS, and rotated with overlap.
//!
//! Rotation (docs/security.md case 100): the new key is stored with an activation time; from then on
//! it signs, and every older key is retired but stays published until the tokens it signed have
//! expired (`publish_until`). Key ids are RFC 7638 thumbprints, so a `kid` never names two
//! different keys. Instances re-read the key set every few seconds, in the background (requests
//! are answered from the keys already read, even while the database is down), so a rotation made
//! by one instance (or by `portcullis keys rotate`) reaches all of them; a token signed by a key
//! an instance has not read yet makes it read the key set at once (see
//! [`KeyManager::verify_access_token`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis::clock::Clock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::error::ServerError;
use crate::store::{KeyRecord, Store};

/// The algorithm new signing keys use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 on RSA-2048 (what Kinde uses; the default).
    #[default]
    RS256,
    /// ECDSA P-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "RS256" => Ok(SigningAlgorithm::RS256),
            "ES256" => Ok(SigningAlgorithm::ES256),
            "EdDSA" => Ok(SigningAlgorithm::EdDSA),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (RS256, ES256, EdDSA)"
            )),
        }
    }
}

/// A 256-bit key that seals private signing keys at rest.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Parses a base64 (standard or URL-safe) encoding of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<MasterKey, ServerError> {
        let bytes = STANDARD
            .decode(s.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim()))
            .map_err(|_| ServerError::Config("the master key is not base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            ServerError::Config(
                "the master key must be 32 bytes (base64 of 32 random bytes)".into(),
            )
        })?;
        Ok(MasterKey(key))
    }

    /// A fresh random master key.
    pub fn generate() -> MasterKey {
        let mut key = [0u8; 32];
        // SystemRandom only fails when the OS has no randomness; nothing can work then.
        SystemRandom::new()
            .fill(&mut key)
            .expect("the OS random source failed");
        MasterKey(key)
    }

    /// Its base64 form (what `PORTCULLIS_MASTER_KEY` holds).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32-byte AES key"))
    }

    /// `base64(nonce || ciphertext || tag)`, bound to `kid` as associated data.
    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, ServerError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ServerError::Keys("no randomness for a nonce".into()))?;
        let mut data = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut data,
            )
            .map_err(|_| ServerError::Keys("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(STANDARD.encode(out))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, ServerError> {
        let wrong = || {
            ServerError::Keys(format!(
                "signing key {kid} cannot be unsealed: wrong master key, or the data is damaged"
            ))
        };
        let mut data = STANDARD.decode(sealed).map_err(|_| wrong())?;
        if data.len() < NONCE_LEN {
            return Err(wrong());
        }
        let rest = data.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = data.try_into().map_err(|_| wrong())?;
        let mut rest = rest;
        let plain = self
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut rest,
            )
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A key that can sign tokens now.
pub struct ActiveKey {
    kid: String,
    alg: SigningAlgorithm,
    signer: Signer,
    /// The base64url JOSE headers of the two token types this server issues, encoded once:
    /// `at+jwt` (access tokens) and `JWT` (ID tokens).
    at_jwt_header: String,
    jwt_header: String,
}

/// The JOSE header, members in lexicographic order (as a `serde_json` map would write them).
#[derive(serde::Serialize)]
struct JoseHeader<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'a str,
}

/// The base64url form of the JOSE header for `typ`.
fn encoded_header(alg: SigningAlgorithm, kid: &str, typ: &str) -> Result<String, ServerError> {
    let json = serde_json::to_vec(&JoseHeader {
        alg: alg.as_str(),
        kid,
        typ,
    })
    .map_err(|e| ServerError::Keys(format!("cannot serialize a JOSE header: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Length of the unpadded base64 encoding of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

impl fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl ActiveKey {
    fn new(kid: String, alg: SigningAlgorithm, signer: Signer) -> Result<ActiveKey, ServerError> {
        Ok(ActiveKey {
            at_jwt_header: encoded_header(alg, &kid, "at+jwt")?,
            jwt_header: encoded_header(alg, &kid, "JWT")?,
            kid,
            alg,
            signer,
        })
    }

    /// Its key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its algorithm.
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// Signs `header.claims` (the header holding `alg`, `kid` and `typ`) into a compact JWS.
    ///
    /// The claims are serialized once, straight into the token: any `Serialize` works (a
    /// borrowing struct on hot paths, a `serde_json::Value` elsewhere).
    pub fn sign_jwt<T: serde::Serialize + ?Sized>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, ServerError> {
        let other_header;
        let header = match typ {
            "at+jwt" => self.at_jwt_header.as_str(),
            "JWT" => self.jwt_header.as_str(),
            _ => {
                other_header = encoded_header(self.alg, &self.kid, typ)?;
                other_header.as_str()
            }
        };
        let claims = serde_json::to_vec(claims)
            .map_err(|e| ServerError::Keys(format!("cannot serialize the claims: {e}")))?;
        // The token is written into one buffer of its final size: header, claims, signature.
        let expected_sig_len = match &self.signer {
            Signer::Rsa(kp) => kp.public_modulus_len(),
            Signer::Ec(_) | Signer::Ed(_) => 64,
        };
        let input_len = header.len() + 1 + base64_len(claims.len());
        let mut token = Vec::with_capacity(input_len + 1 + base64_len(expected_sig_len));
        token.extend_from_slice(header.as_bytes());
        token.push(b'.');
        token.resize(input_len, 0);
        let encode_failed = |_| ServerError::Keys("cannot encode the token".into());
        URL_SAFE_NO_PAD
            .encode_slice(&claims, &mut token[header.len() + 1..])
            .map_err(encode_failed)?;
        let failed = |_| ServerError::Keys("signing failed".into());
        // RSA up to 4096 bits signs into the stack; larger keys into the heap.
        let mut small = [0u8; 512];
        let mut large = Vec::new();
        let ec_sig;
        let ed_sig;
        let sig: &[u8] = match &self.signer {
            Signer::Rsa(kp) => {
                let sig: &mut [u8] = if expected_sig_len <= small.len() {
                    &mut small[..expected_sig_len]
                } else {
                    large.resize(expected_sig_len, 0);
                    &mut large
                };
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    &token,
                    sig,
                )
                .map_err(failed)?;
                sig
            }
            Signer::Ec(kp) => {
                ec_sig = kp.sign(&SystemRandom::new(), &token).map_err(failed)?;
                ec_sig.as_ref()
            }
            Signer::Ed(kp) => {
                ed_sig = kp.sign(&token);
                ed_sig.as_ref()
            }
        };
        token.push(b'.');
        let sig_start = token.len();
        token.resize(sig_start + base64_len(sig.len()), 0);
        URL_SAFE_NO_PAD
            .encode_slice(sig, &mut token[sig_start..])
            .map_err(encode_failed)?;
        // base64url and dots: always UTF-8.
        let token = String::from_utf8(token)
            .map_err(|_| ServerError::Keys("cannot encode the token".into()))?;
        Ok(token)
    }
}

/// The keys as chosen for one moment: the one that signs, and every public key to publish.
pub struct KeyRing {
    /// The key that signs new tokens.
    pub active: Arc<ActiveKey>,
    /// The JWKS document (`{"keys": [...]}`), serialized once.
    pub jwks_json: Arc<str>,
    /// The key set it was chosen from, as read from the database. Rings chosen for later
    /// moments from the same read share it.
    keys: Arc<KeySet>,
    /// The Unix times this choice of keys holds for: from the last change at or before the
    /// time it was built for (a key activating, or stopping being published), up to the next.
    valid_from: i64,
    changes_at: i64,
    /// A verifier over exactly the published keys, built on first use (introspection and
    /// revocation check tokens with the SDK's own verifier).
    verifier: std::sync::OnceLock<portcullis::TokenVerifier>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("keys", &self.keys)
            .field("valid_from", &self.valid_from)
            .field("changes_at", &self.changes_at)
            .finish_non_exhaustive()
    }
}

/// The stored keys, as one read of the database returned them.
struct KeySet(Vec<KeyRecord>);

impl fmt::Debug for KeySet {
    // Kids only: the records hold the private keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|k| &k.kid))
            .finish()
    }
}

impl KeyRing {
    /// A verifier for this server's own access tokens: any audience, RFC 9068 typing, no
    /// leeway, only the keys published in this ring.
    pub fn verifier(&self, issuer: &str) -> Result<&portcullis::TokenVerifier, ServerError> {
        if let Some(v) = self.verifier.get() {
            return Ok(v);
        }
        let built = portcullis::TokenVerifier::builder(issuer)
            .allow_any_audience()
            .access_token_type(portcullis::AccessTokenType::AtJwtOnly)
            .leeway(Duration::ZERO)
            .max_token_age(None)
            .jwks_json(self.jwks_json.to_string())
            .build()
            .map_err(|e| ServerError::Keys(format!("cannot build the token verifier: {e}")))?;
        Ok(self.verifier.get_or_init(|| built))
    }

    /// Whether its choice of keys is the one for `now`.
    fn holds_at(&self, now: i64) -> bool {
        (self.valid_from..self.changes_at).contains(&now)
    }
}

/// Generates a key pair: (PKCS#8 DER, public JWK without `kid`).
fn generate(alg: SigningAlgorithm) -> Result<(Vec<u8>, Value), ServerError> {
    let failed = |_| ServerError::Keys("key generation failed".into());
    Ok(match alg {
        SigningAlgorithm::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).map_err(failed)?;
            let public = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
            (
                der.as_ref().to_vec(),
                json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)}),
            )
        }
        SigningAlgorithm::ES256 => {
            let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(failed)?;
            let der = kp.to_pkcs8v1().map_err(failed)?;
            let point = kp.public_key().as_ref();
            (
                der.as_ref().to_vec(),
                json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}),
            )
        }
        SigningAlgorithm::EdDSA => {
            let kp = Ed25519KeyPair::generate().map_err(failed)?;
            let der = kp.to_pkcs8().map_err(failed)?;
            (
                der.as_ref().to_vec(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(kp.public_key().as_ref())}),
            )
        }
    })
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => json!({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}),
        Some("EC") => json!({"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}),
        _ => json!({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}),
    };
    // serde_json's map is ordered by key, so `to_string` is the canonical form.
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn load_signer(alg: &str, pkcs8: &[u8]) -> Result<(SigningAlgorithm, Signer), ServerError> {
    let bad = |_| ServerError::Keys("a stored signing key is not valid PKCS#8".into());
    let alg: SigningAlgorithm = alg.parse().map_err(ServerError::Keys)?;
    let signer = match alg {
        SigningAlgorithm::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?),
        SigningAlgorithm::ES256 => Signer::Ec(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(bad)?,
        ),
        SigningAlgorithm::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(bad)?),
    };
    Ok((alg, signer))
}

/// How long an instance uses the key set it read before reading it again (in the background):
/// the longest a rotation made elsewhere takes to reach this instance's JWKS and signing.
/// [`crate::Settings::key_reload_interval`] sets it for a server.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// After a read of the key set failed, the next is tried no sooner than this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A token whose `kid` the ring in use does not know makes the key set be read again before
/// the token is refused, unless such a read found nothing less than this ago: like the SDK's
/// unknown-`kid` refresh, tokens with made-up kids cost at most one read per interval.
pub const UNKNOWN_KID_REREAD_INTERVAL: Duration = Duration::from_secs(1);

/// Loads, creates and rotates signing keys; hands out the current [`KeyRing`].
///
/// Once a ring is cached, no request waits for the database to get one: a ring older than the
/// reload interval is served while one background task reads the key set again (a failed read
/// keeps the ring in use, and is retried after a second); a moment at which the choice of keys
/// changes with time (a key activates, or stops being published) is handled from the keys
/// already read. The database is read before answering only for the first ring, for the first
/// ring after a key change made through this manager, and for a token of an unknown kid
/// ([`KeyManager::verify_access_token`]), one read at a time.
#[derive(Debug)]
pub struct KeyManager {
    shared: Arc<Shared>,
}

/// What the background reads share with the manager.
#[derive(Debug)]
struct Shared {
    store: Store,
    master_key: Option<MasterKey>,
    algorithm: SigningAlgorithm,
    reload_every: Duration,
    /// The server's clock, which schedules the reads (in milliseconds).
    clock: Arc<dyn Clock>,
    /// The ring in use and when to read it again. A plain mutex, held for a few instructions
    /// and never across an await: every token request reads it.
    state: std::sync::Mutex<CachedRing>,
    /// Held while the key set is read from the database: at most one read is in flight. Only
    /// requests that cannot be answered from the cached ring wait for it.
    reading: Mutex<()>,
    /// Reads of the key set from the database.
    reads: AtomicU64,
}

#[derive(Debug)]
struct CachedRing {
    ring: Option<Arc<KeyRing>>,
    /// A key change was made through this manager: the next [`KeyManager::ring`] reads the
    /// database before answering.
    stale: bool,
    /// Bumped by every such change, so a read that started before one is not installed.
    epoch: u64,
    /// When the ring in use is next read again, in the background (clock milliseconds).
    next_read: i64,
    /// Whether a background read is running.
    background: bool,
    /// When a read for an unknown kid last ended without the kid (clock milliseconds).
    fruitless_reread: Option<i64>,
}

impl KeyManager {
    /// A manager creating `algorithm` keys, sealing them with `master_key` when given, reading
    /// the key set again every [`KEY_RELOAD_INTERVAL`].
    pub fn new(store: Store, master_key: Option<MasterKey>, algorithm: SigningAlgorithm) -> Self {
        Self::with_reload_interval(
            store,
            master_key,
            algorithm,
            KEY_RELOAD_INTERVAL,
            Arc::new(portcullis::clock::SystemClock),
        )
    }

    /// A manager as [`KeyManager::new`], reading the key set again every `reload_every` of
    /// `clock`'s time.
    pub fn with_reload_interval(
        store: Store,
        master_key: Option<MasterKey>,
        algorithm: SigningAlgorithm,
        reload_every: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now_ms = clock.now_millis();
        KeyManager {
            shared: Arc::new(Shared {
                store,
                master_key,
                algorithm,
                reload_every,
                clock,
                state: std::sync::Mutex::new(CachedRing {
                    ring: None,
                    stale: false,
                    epoch: 0,
                    next_read: now_ms,
                    background: false,
                    fruitless_reread: None,
                }),
                reading: Mutex::new(()),
                reads: AtomicU64::new(0),
            }),
        }
    }

    /// How many times this manager has read the key set from the database (for diagnostics
    /// and tests: requests answered from the cached ring read nothing).
    pub fn key_set_reads(&self) -> u64 {
        self.shared.reads.load(Ordering::Relaxed)
    }

    /// Makes the next [`KeyManager::ring`] read the database, and keeps a read already under
    /// way from installing what it read before the change.
    fn invalidate(&self) {
        let mut state = self.shared.state();
        state.stale = true;
        state.epoch = state.epoch.wrapping_add(1);
    }

    /// A new key that signs from `active_from` (Unix seconds), sealed when a master key is set.
    fn new_key(&self, now: i64, active_from: i64) -> Result<KeyRecord, ServerError> {
        let algorithm = self.shared.algorithm;
        let (pkcs8, mut jwk) = generate(algorithm)?;
        let kid = thumbprint(&jwk);
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(algorithm.as_str());
        jwk["use"] = json!("sig");
        let (private_key, sealed) = match &self.shared.master_key {
            Some(mk) => (mk.seal(&kid, &pkcs8)?, true),
            None => (STANDARD.encode(&pkcs8), false),
        };
        Ok(KeyRecord {
            kid,
            alg: algorithm.as_str().to_owned(),
            private_key,
            sealed,
            public_jwk: jwk.to_string(),
            created_at: now,
            active_from,
            retired_at: None,
            publish_until: None,
        })
    }

    /// Creates a key that signs from `active_from` (Unix seconds). Returns its kid.
    pub async fn create_key(&self, now: i64, active_from: i64) -> Result<String, ServerError> {
        let key = self.new_key(now, active_from)?;
        self.shared.store.insert_key(&key).await?;
        self.invalidate();
        Ok(key.kid)
    }

    /// Makes sure a signing key exists (first start): one not retired by a rotation (it signs,
    /// or will once a delayed rotation activates it). Safe for instances starting at once on one
    /// database: exactly one of them creates the key.
    pub async fn ensure_key(&self, now: i64) -> Result<(), ServerError> {
        let keys = self.shared.store.keys().await?;
        if keys.iter().any(|k| k.publish_until.is_none()) {
            return Ok(());
        }
        let key = self.new_key(now, now)?;
        if self.shared.store.insert_first_key(&key).await? {
            self.invalidate();
            tracing::info!(
                kid = key.kid,
                alg = self.shared.algorithm.as_str(),
                "created a signing key"
            );
        } else {
            tracing::info!("another instance created the first signing key");
        }
        Ok(())
    }

    /// Rotates: a new key is published now and signs from `now + activation_delay`; older keys
    /// stay published for `overlap` after that (the longest lifetime of a token they signed).
    pub async fn rotate(
        &self,
        now: i64,
        activation_delay: Duration,
        overlap: Duration,
    ) -> Result<String, ServerError> {
        let active_from = now.saturating_add(secs(activation_delay));
        let kid = self.create_key(now, active_from).await?;
        let store = &self.shared.store;
        store
            .retire_keys_except(&kid, active_from, active_from.saturating_add(secs(overlap)))
            .await?;
        let removed = store.delete_expired_keys(now).await?;
        tracing::info!(kid, removed, "rotated signing keys");
        self.invalidate();
        Ok(kid)
    }

    /// The key ring for `now`. Answered from the cached ring whenever there is one (see the
    /// type's docs); it is read again in the background every reload interval.
    pub async fn ring(&self, now: i64) -> Result<Arc<KeyRing>, ServerError> {
        let (cached, read_in_background) = {
            let mut state = self.shared.state();
            match state.ring.clone() {
                Some(ring) if !state.stale => {
                    let at = self.shared.clock.now_millis();
                    let due = !state.background && self.shared.is_due(state.next_read, at);
                    if due {
                        state.background = true;
                        // Whatever the read's fate, the next one waits at least this long.
                        state.next_read = at.saturating_add(millis(RETRY_AFTER));
                    }
                    (Some(ring), due)
                }
                _ => (None, false),
            }
        };
        let ring = match cached {
            Some(ring) => {
                if read_in_background {
                    self.read_in_background(now);
                }
                ring
            }
            None => self.read_now(now).await?,
        };
        self.shared.at(ring, now)
    }

    /// Reads the key set before answering: there is no ring yet, or a key change was made here.
    async fn read_now(&self, now: i64) -> Result<Arc<KeyRing>, ServerError> {
        let _reading = self.shared.reading.lock().await;
        // Another request may have read it while this one waited.
        {
            let state = self.shared.state();
            if let Some(ring) = &state.ring
                && !state.stale
            {
                return Ok(ring.clone());
            }
        }
        match self.shared.read(now).await {
            Ok(ring) => Ok(ring),
            Err(e) => {
                let mut state = self.shared.state();
                let Some(ring) = state.ring.clone() else {
                    return Err(e);
                };
                // The change made here cannot be read back now. The ring in use holds keys that
                // are still valid: serve it, and read again in the background.
                state.stale = false;
                state.next_read = self
                    .shared
                    .clock
                    .now_millis()
                    .saturating_add(millis(RETRY_AFTER));
                tracing::warn!(error = %e, "cannot read the signing keys; the keys in use stay in use");
                Ok(ring)
            }
        }
    }

    /// Reads the key set again in a task of its own, the ring in use being due for it; the
    /// caller has set `background`, which the task clears when it ends.
    fn read_in_background(&self, now: i64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.state().background = false;
            return;
        };
        let shared = self.shared.clone();
        runtime.spawn(async move {
            /// Clears the flag however the task ends (even if its runtime shuts down mid-read).
            struct Done(Arc<Shared>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.state().background = false;
                }
            }
            let done = Done(shared);
            let shared = &done.0;
            let _reading = shared.reading.lock().await;
            if let Err(e) = shared.read(now).await {
                tracing::warn!(error = %e, "cannot read the signing keys again; the keys in use stay in use");
            }
        });
    }

    /// Verifies one of this server's own access tokens with the ring for `now` (see
    /// [`KeyRing::verifier`]). `Err` when the server cannot verify anything; `Ok(Err(_))` when
    /// the token is refused.
    ///
    /// A token whose `kid` the ring does not know — signed by a key another instance created
    /// since this one read the key set — makes the manager read the key set again before
    /// refusing it, once: reads that find nothing new are made at most once per
    /// [`UNKNOWN_KID_REREAD_INTERVAL`].
    pub async fn verify_access_token(
        &self,
        issuer: &str,
        token: &str,
        now: i64,
    ) -> Result<Result<Arc<portcullis::Claims>, portcullis::Error>, ServerError> {
        self.verify(now, |ring| async move {
            Ok(ring.verifier(issuer)?.verify_access_token(token).await)
        })
        .await
    }

    /// Checks a token with `check` against the ring for `now`, as
    /// [`KeyManager::verify_access_token`] does: when the ring does not know the token's `kid`,
    /// the key set is read again (rate-limited) and the token checked once more.
    pub async fn verify<T, F, Checked>(
        &self,
        now: i64,
        check: F,
    ) -> Result<Result<T, portcullis::Error>, ServerError>
    where
        F: Fn(Arc<KeyRing>) -> Checked,
        Checked: Future<Output = Result<Result<T, portcullis::Error>, ServerError>>,
    {
        let ring = self.ring(now).await?;
        let verified = check(ring.clone()).await?;
        if !unknown_kid(&verified) {
            return Ok(verified);
        }
        let Some(again) = self.reread_for_unknown_kid(&ring, now).await else {
            return Ok(verified);
        };
        let verified = check(again).await?;
        if unknown_kid(&verified) {
            self.shared.state().fruitless_reread = Some(self.shared.clock.now_millis());
        }
        Ok(verified)
    }

    /// A ring read from the database after `seen` (by this call, or by another while this one
    /// waited), or `None` when reads for unknown kids are rate-limited now or the read failed.
    async fn reread_for_unknown_kid(&self, seen: &Arc<KeyRing>, now: i64) -> Option<Arc<KeyRing>> {
        let _reading = self.shared.reading.lock().await;
        let (newer, limited) = {
            let state = self.shared.state();
            (
                state
                    .ring
                    .clone()
                    .filter(|r| !Arc::ptr_eq(&r.keys, &seen.keys)),
                state
                    .fruitless_reread
                    // A clock that went backwards does not block reads.
                    .is_some_and(|at| {
                        let elapsed = self.shared.clock.now_millis().saturating_sub(at);
                        (0..millis(UNKNOWN_KID_REREAD_INTERVAL)).contains(&elapsed)
                    }),
            )
        };
        // Another request read the key set while this one waited: no need to read it again.
        if let Some(newer) = newer {
            return self.shared.at(newer, now).ok();
        }
        if limited {
            return None;
        }
        match self.shared.read(now).await {
            Ok(ring) => Some(ring),
            Err(e) => {
                self.shared.state().fruitless_reread = Some(self.shared.clock.now_millis());
                tracing::warn!(error = %e, "cannot read the signing keys for an unknown kid");
                None
            }
        }
    }
}

/// Whether a verification failed because no key in the ring has the token's `kid`.
fn unknown_kid<T>(verified: &Result<T, portcullis::Error>) -> bool {
    matches!(verified, Err(e) if e.reason() == Some(portcullis::Reason::UnknownKey))
}

/// `d` in whole milliseconds.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Shared {
    /// Whether a read scheduled for `next_read` is due at `now` (both clock milliseconds). A
    /// deadline further away than any this manager sets means the clock went backwards: due.
    fn is_due(&self, next_read: i64, now: i64) -> bool {
        let furthest = millis(self.reload_every.max(RETRY_AFTER));
        now >= next_read || next_read.saturating_sub(now) > furthest
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CachedRing> {
        // Nothing panics while holding the lock; a poisoned lock still holds a valid ring.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the key set and chooses the ring for `now`; installs it unless a key change was
    /// made through the manager meanwhile. The caller holds `reading`.
    async fn read(&self, now: i64) -> Result<Arc<KeyRing>, ServerError> {
        let (epoch, previous) = {
            let state = self.state();
            (state.epoch, state.ring.as_ref().map(|r| r.active.clone()))
        };
        self.reads.fetch_add(1, Ordering::Relaxed);
        let keys = Arc::new(KeySet(self.store.keys().await?));
        let ring = Arc::new(self.choose(&keys, now, previous)?);
        let mut state = self.state();
        if state.epoch == epoch {
            state.ring = Some(ring.clone());
            state.stale = false;
            state.next_read = self
                .clock
                .now_millis()
                .saturating_add(millis(self.reload_every));
        }
        Ok(ring)
    }

    /// `ring`, or when the choice of keys has changed with time since it was made (a key
    /// activated, or stopped being published), the ring chosen for `now` from the same keys,
    /// without reading the database. A later choice replaces the cached ring.
    fn at(&self, ring: Arc<KeyRing>, now: i64) -> Result<Arc<KeyRing>, ServerError> {
        if ring.holds_at(now) {
            return Ok(ring);
        }
        let chosen = Arc::new(self.choose(&ring.keys, now, Some(ring.active.clone()))?);
        if now >= ring.changes_at {
            let mut state = self.state();
            if state.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ring)) {
                state.ring = Some(chosen.clone());
            }
        }
        Ok(chosen)
    }

    /// The ring for `now` from `keys`. `previous`, the key that signed until now, is kept when
    /// it still signs (same kid: kids are thumbprints, so the same key pair), instead of
    /// parsing and checking the private key again.
    fn choose(
        &self,
        keys: &Arc<KeySet>,
        now: i64,
        previous: Option<Arc<ActiveKey>>,
    ) -> Result<KeyRing, ServerError> {
        let records = &keys.0;
        let published: Vec<Value> = records
            .iter()
            .filter(|k| k.publish_until.is_none_or(|until| until >= now))
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        let signing = records
            .iter()
            .filter(|k| k.active_from <= now && k.publish_until.is_none_or(|u| u >= now))
            // A key not retired by a rotation wins; then the latest activated; the kid breaks
            // ties, so every instance picks the same key.
            .max_by_key(|k| {
                (
                    k.retired_at.is_none(),
                    k.active_from,
                    k.created_at,
                    k.kid.clone(),
                )
            })
            .ok_or_else(|| ServerError::Keys("no signing key is active".into()))?;
        let active = match previous {
            Some(key) if key.kid == signing.kid && key.alg.as_str() == signing.alg => key,
            _ => Arc::new(self.active_key(signing)?),
        };
        // The moments the choice changes: a key activates, or stops being published.
        let changes = records.iter().flat_map(|k| {
            [
                Some(k.active_from),
                k.publish_until.map(|u| u.saturating_add(1)),
            ]
            .into_iter()
            .flatten()
        });
        let (mut valid_from, mut changes_at) = (i64::MIN, i64::MAX);
        for t in changes {
            if t <= now {
                valid_from = valid_from.max(t);
            } else {
                changes_at = changes_at.min(t);
            }
        }
        Ok(KeyRing {
            active,
            jwks_json: json!({ "keys": published }).to_string().into(),
            keys: keys.clone(),
            valid_from,
            changes_at,
            verifier: std::sync::OnceLock::new(),
        })
    }

    /// Opens a stored private key.
    fn active_key(&self, signing: &KeyRecord) -> Result<ActiveKey, ServerError> {
        let pkcs8 = match (signing.sealed, &self.master_key) {
            (false, _) => STANDARD
                .decode(&signing.private_key)
                .map_err(|_| ServerError::Keys("a stored signing key is not base64".into()))?,
            (true, Some(mk)) => mk.open(&signing.kid, &signing.private_key)?,
            (true, None) => {
                return Err(ServerError::Keys(
                    "signing keys are sealed: set the master key (PORTCULLIS_MASTER_KEY)".into(),
                ));
            }
        };
        let (alg, signer) = load_signer(&signing.alg, &pkcs8)?;
        ActiveKey::new(signing.kid.clone(), alg, signer)
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_binds_the_kid() {
        let mk = MasterKey::generate();
        let sealed = mk.seal("kid-1", b"secret key bytes").unwrap();
        assert_eq!(mk.open("kid-1", &sealed).unwrap(), b"secret key bytes");
        assert!(mk.open("kid-2", &sealed).is_err());
        assert!(MasterKey::generate().open("kid-1", &sealed).is_err());
        let again = MasterKey::from_base64(&mk.to_base64()).unwrap();
        assert_eq!(again.open("kid-1", &sealed).unwrap(), b"secret key bytes");
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(!format!("{mk:?}").contains(&mk.to_base64()));
    }

    #[test]
    fn thumbprints_are_stable_and_distinct() {
        let (_, a) = generate(SigningAlgorithm::EdDSA).unwrap();
        let (_, b) = generate(SigningAlgorithm::EdDSA).unwrap();
        assert_eq!(thumbprint(&a), thumbprint(&a.clone()));
        assert_ne!(thumbprint(&a), thumbprint(&b));
        // RFC 7638 §3.1 example.
        let example = json!({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&example),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
