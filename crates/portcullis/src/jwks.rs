//! The issuer's signing keys: fetched from its JWKS, cached, and refreshed.
//!
//! - The key set is cached for the `Cache-Control: max-age` the issuer sends, clamped to
//!   [`JwksOptions::min_ttl`]..=[`JwksOptions::max_ttl`] ([`JwksOptions::default_ttl`] without one).
//!   Once that time has passed, the next verification starts a refresh in the background and keeps
//!   using the cached keys meanwhile.
//! - A token whose `kid` is not in the cache triggers a refresh at once, so a freshly rotated key
//!   verifies within seconds. Refreshes are *single-flight* (concurrent misses wait for the one
//!   fetch in progress) and *rate-limited* (at most one per [`JwksOptions::refresh_interval`]), so a
//!   flood of random `kid`s cannot become a flood of fetches (docs/security.md cases 99, 101).
//! - When the issuer is unreachable, cached keys keep working for up to
//!   [`JwksOptions::max_staleness`] past their expiry; after that, verification fails with
//!   [`Reason::KeysUnavailable`] (case 103).
//! - A key that is unusable (weak RSA modulus, small exponent, `use: enc`, unknown `kty` or curve,
//!   an `alg` that does not fit the key) is skipped; one bad key never fails the whole set
//!   (case 10). Symmetric (`oct`) keys from a key set are never used (case 3). At most 100 keys
//!   are read from one key set.
//! - Discovery runs once: the `jwks_uri` it finds (or, when the issuer has no discovery document,
//!   Kinde's default `/.well-known/jwks.json`) is used for the life of the verifier.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::clock::Clock;
use crate::discovery::{self, ProviderMetadata};
use crate::error::{FetchError, Reason, TokenError};
use crate::http::HttpClient;
use crate::jose::{AlgSet, Algorithm};

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (bounds verification cost).
const MAX_RSA_BITS: usize = 8192;
/// Keys read from one key set at most.
const MAX_KEYS: usize = 100;

/// How the key set is cached and refreshed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksOptions {
    /// Lifetime of a key set when the issuer sends no `max-age`. Default 10 minutes.
    pub default_ttl: Duration,
    /// Lower bound on the issuer's `max-age` (a `max-age=0` must not cause a fetch per request).
    /// Default 30 s.
    pub min_ttl: Duration,
    /// Upper bound on the issuer's `max-age`. Default 24 hours.
    pub max_ttl: Duration,
    /// Minimum time between two fetches of the key set (unknown-`kid` refreshes, and retries after
    /// a failure). Default 5 s.
    pub refresh_interval: Duration,
    /// How long past its expiry a cached key set may still be used while the issuer cannot be
    /// reached. Default 6 hours.
    pub max_staleness: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            refresh_interval: Duration::from_secs(5),
            max_staleness: Duration::from_secs(6 * 3600),
        }
    }
}

/// Key material ready to verify with one algorithm: parsed once when the key set is loaded, so
/// no verification re-parses a key.
pub(crate) enum Verifier {
    /// An RSA, EC or Ed25519 public key.
    Public(aws_lc_rs::signature::ParsedPublicKey),
    /// A configured HMAC secret.
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

/// One usable verification key.
pub(crate) struct VerifyKey {
    pub kid: Option<String>,
    /// The algorithms this key may verify (from its `kty`/`crv`, narrowed by its `alg` and the
    /// allow-list).
    pub algs: AlgSet,
    /// One verifier per algorithm in `algs`.
    verifiers: Vec<(Algorithm, Verifier)>,
    /// A configured shared secret: used whatever `kid` the token names.
    pub any_kid: bool,
    /// SHA-256 over the `kid` and the key material: tells whether a refreshed key set still
    /// holds this exact key (a reused `kid` with new material counts as a removal).
    fingerprint: [u8; 32],
}

fn fingerprint(kid: Option<&str>, material: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(kid.unwrap_or("").as_bytes());
    ctx.update(&[0]);
    ctx.update(material);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// A key for a shared HMAC secret (the caller checked its length).
    pub(crate) fn hmac(secret: &[u8], algs: &[Algorithm]) -> Self {
        let verifiers = algs
            .iter()
            .filter_map(|alg| {
                let h = match alg {
                    Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
                    Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
                    Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
                    _ => return None,
                };
                Some((
                    *alg,
                    Verifier::Hmac(Box::new(aws_lc_rs::hmac::Key::new(h, secret))),
                ))
            })
            .collect::<Vec<_>>();
        VerifyKey {
            kid: None,
            algs: AlgSet::of(&verifiers.iter().map(|(a, _)| *a).collect::<Vec<_>>()),
            verifiers,
            any_kid: true,
            fingerprint: fingerprint(None, secret),
        }
    }

    /// Whether `signature` is valid for `message` under `alg`. HMAC tags are compared in
    /// constant time by aws-lc-rs.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers.iter().any(|(a, v)| {
            *a == alg
                && match v {
                    Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
                    Verifier::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
                }
        })
    }
}

/// The aws-lc-rs verification algorithm for a JWS `alg` (asymmetric algorithms only).
fn lc_algorithm(
    alg: Algorithm,
) -> Option<&'static dyn aws_lc_rs::signature::VerificationAlgorithm> {
    use aws_lc_rs::signature as sig;
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
    })
}

/// The usable keys of one key set.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

/// The result of looking a token's key up.
pub(crate) enum Lookup<'a> {
    Found(&'a Arc<VerifyKey>),
    /// No key with this `kid` (or, without `kid`, none for the algorithm).
    NotFound,
    /// The `kid` exists, but for another algorithm.
    WrongAlgorithm,
    /// No `kid` in the token and several keys could apply.
    Ambiguous,
}

impl KeySet {
    pub(crate) fn from_keys(keys: Vec<VerifyKey>) -> Self {
        KeySet {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut kid_seen = false;
                for k in &self.keys {
                    if k.any_kid || k.kid.as_deref() == Some(kid) {
                        if k.algs.contains(alg) {
                            return Lookup::Found(k);
                        }
                        kid_seen = true;
                    }
                }
                if kid_seen {
                    Lookup::WrongAlgorithm
                } else {
                    Lookup::NotFound
                }
            }
            // OIDC Core §10.1: without a `kid`, use the key only if it is the only candidate.
            // With several candidates we reject rather than try each (docs/security.md case 102).
            None => {
                let mut found = None;
                for k in &self.keys {
                    if k.algs.contains(alg) {
                        if found.is_some() {
                            return Lookup::Ambiguous;
                        }
                        found = Some(k);
                    }
                }
                found.map_or(Lookup::NotFound, Lookup::Found)
            }
        }
    }

    fn fingerprints(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys.iter().map(|k| &k.fingerprint)
    }

    /// Parses a JWKS document, keeping the usable keys. `allowed` narrows every key's algorithms.
    pub(crate) fn parse(body: &[u8], url: &str, allowed: AlgSet) -> Result<Self, FetchError> {
        let invalid = |message: String| FetchError::InvalidDocument {
            url: url.to_owned(),
            message,
        };
        let doc: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("no \"keys\" array".to_owned()))?;
        let mut keys = Vec::new();
        // A key set is a handful of keys; a huge one is an attack or a mistake, and every key is
        // parsed and scanned on lookups.
        for entry in entries.iter().take(MAX_KEYS) {
            match parse_jwk(entry, allowed) {
                Ok(key) => keys.push(key),
                Err(why) => {
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
                    tracing::debug!(kid, why, "skipping unusable key in key set");
                }
            }
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKeys {
                url: url.to_owned(),
            });
        }
        Ok(KeySet::from_keys(keys))
    }
}

fn b64_field(jwk: &Value, name: &str) -> Result<Vec<u8>, &'static str> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or("missing key parameter")?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "key parameter is not base64url")
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// One JWK → a verification key, or why it is unusable.
fn parse_jwk(jwk: &Value, allowed: AlgSet) -> Result<VerifyKey, &'static str> {
    if !jwk.is_object() {
        return Err("not a JSON object");
    }
    let get_str = |name: &str| -> Result<Option<&str>, &'static str> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err("a key parameter has the wrong type"),
        }
    };
    // RFC 7517 §4.2, §4.3: only signature keys.
    if let Some(u) = get_str("use")?
        && u != "sig"
    {
        return Err("use is not sig");
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array().ok_or("key_ops is not an array")?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err("key_ops lacks verify");
        }
    }
    let kid = get_str("kid")?.map(str::to_owned);
    let declared_alg = match get_str("alg")? {
        None => None,
        Some(a) => Some(a.parse::<Algorithm>().map_err(|_| "unsupported alg")?),
    };
    let kty = get_str("kty")?.ok_or("missing kty")?;
    let (family, key) = match kty {
        "RSA" => {
            let n = b64_field(jwk, "n")?;
            let e = b64_field(jwk, "e")?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            let Some(first) = n.first() else {
                return Err("RSA modulus is empty");
            };
            let bits = n.len() * 8 - first.leading_zeros() as usize;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err("RSA modulus size out of range (2048..=8192 bits)");
            }
            // e must be odd and at least 65537 (rejects e=1, e=3: RFC 8017 / NIST SP 800-56B).
            if e.is_empty() || e.len() > 8 || e[e.len() - 1] & 1 == 0 {
                return Err("bad RSA exponent");
            }
            let e_val = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if e_val < 65537 {
                return Err("RSA exponent too small");
            }
            use aws_lc_rs::encoding::AsDer as _;
            let spki = aws_lc_rs::rsa::PublicKeyComponents { n, e }
                .as_der()
                .map_err(|_| "RSA key could not be encoded")?;
            (
                AlgSet::of(&[
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ]),
                spki.as_ref().to_vec(),
            )
        }
        "EC" => {
            let (alg, len) = match get_str("crv")? {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Err("unsupported EC curve"),
            };
            let x = b64_field(jwk, "x")?;
            let y = b64_field(jwk, "y")?;
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length for the curve");
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (AlgSet::of(&[alg]), point)
        }
        "OKP" => {
            if get_str("crv")? != Some("Ed25519") {
                return Err("unsupported OKP curve");
            }
            let x = b64_field(jwk, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key has the wrong length");
            }
            (AlgSet::of(&[Algorithm::EdDSA]), x)
        }
        // RFC 8725 §3.1 / case 3: a key set never supplies HMAC secrets.
        "oct" => return Err("symmetric keys are never taken from a key set"),
        _ => return Err("unsupported kty"),
    };
    let mut algs = family.intersect(allowed);
    if let Some(alg) = declared_alg {
        // RFC 7517 §4.4: the key is for this algorithm only; it must fit the key type.
        if !family.contains(alg) {
            return Err("alg does not fit the key type");
        }
        algs = algs.intersect(AlgSet::of(&[alg]));
    }
    if algs.is_empty() {
        return Err("no allowed algorithm fits this key");
    }
    // Parse once per algorithm now (this also rejects EC points off the curve and malformed
    // keys), rather than at every verification.
    let mut verifiers = Vec::new();
    for &alg in Algorithm::ASYMMETRIC {
        if algs.contains(alg) {
            let lc = lc_algorithm(alg).ok_or("not an asymmetric algorithm")?;
            let parsed = aws_lc_rs::signature::ParsedPublicKey::new(lc, &key)
                .map_err(|_| "the key is malformed or not valid for its algorithm")?;
            verifiers.push((alg, Verifier::Public(parsed)));
        }
    }
    Ok(VerifyKey {
        fingerprint: fingerprint(kid.as_deref(), &key),
        kid,
        algs,
        verifiers,
        any_kid: false,
    })
}

/// A cached key set with its timing.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub keys: KeySet,
    /// Incremented on every successful fetch.
    pub generation: u64,
    /// Incremented whenever a fetch drops a `kid` that was present before: tokens verified with
    /// earlier keys must be verified again.
    pub removal_epoch: u64,
    pub expires_at_ms: i64,
}

/// Where keys come from.
#[derive(Debug)]
pub(crate) enum KeySource {
    /// Discover `jwks_uri` from the issuer's metadata.
    Discover { issuer: String },
    /// A fixed JWKS URL.
    Url(String),
    /// Keys given at build time; never refreshed.
    Static,
}

#[derive(Debug, Default)]
struct RefreshState {
    last_attempt_ms: Option<i64>,
    last_error: Option<Arc<FetchError>>,
    jwks_uri: Option<String>,
}

/// The key cache shared by all clones of a verifier.
#[derive(Debug)]
pub(crate) struct JwksCache {
    source: KeySource,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    options: JwksOptions,
    allowed: AlgSet,
    current: ArcSwapOption<Snapshot>,
    metadata: ArcSwapOption<ProviderMetadata>,
    refresh: tokio::sync::Mutex<RefreshState>,
    background: AtomicBool,
    background_attempt_ms: AtomicI64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl JwksCache {
    pub(crate) fn new(
        source: KeySource,
        http: HttpClient,
        clock: Arc<dyn Clock>,
        options: JwksOptions,
        allowed: AlgSet,
        initial: Option<KeySet>,
    ) -> Self {
        let current = initial.map(|keys| {
            Arc::new(Snapshot {
                keys,
                generation: 1,
                removal_epoch: 0,
                expires_at_ms: i64::MAX,
            })
        });
        JwksCache {
            source,
            http,
            clock,
            options,
            allowed,
            current: ArcSwapOption::new(current),
            metadata: ArcSwapOption::empty(),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            background: AtomicBool::new(false),
            background_attempt_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The provider metadata, once discovery has run.
    pub(crate) fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.load_full()
    }

    /// The current removal epoch (see [`Snapshot::removal_epoch`]), if keys are loaded.
    pub(crate) fn removal_epoch(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.removal_epoch)
    }

    /// For a verified-token cache hit: the current removal epoch, or `None` when the key set
    /// is missing or older than [`JwksOptions::max_staleness`] past its expiry (a verification
    /// would then fail, so the hit must not answer either). Once the key set has expired, this
    /// starts a background refresh, as [`JwksCache::key_for`] does: without it, a key the issuer
    /// removed would go unnoticed for as long as every request is a cache hit.
    pub(crate) fn epoch_for_cached_token(self: &Arc<Self>, now: i64) -> Option<u64> {
        // Borrowed, not cloned: this runs on every cache hit.
        let snapshot = self.current.load();
        let snapshot = snapshot.as_ref()?;
        if now > snapshot.expires_at_ms {
            if now
                > snapshot
                    .expires_at_ms
                    .saturating_add(ms(self.options.max_staleness))
            {
                return None;
            }
            self.spawn_background_refresh();
        }
        Some(snapshot.removal_epoch)
    }

    /// Finds the key for a token, refreshing the key set when needed.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(Arc<VerifyKey>, u64), TokenError> {
        let now = self.clock.now_millis();
        let snapshot = match self.current.load_full() {
            Some(s)
                if now
                    <= s.expires_at_ms
                        .saturating_add(ms(self.options.max_staleness)) =>
            {
                if now > s.expires_at_ms {
                    self.spawn_background_refresh();
                }
                s
            }
            // No keys yet, or too stale to trust: fetch now (single-flight, rate-limited).
            stale => {
                let seen = stale.as_ref().map_or(0, |s| s.generation);
                let s = self
                    .refresh(seen)
                    .await
                    .map_err(TokenError::keys_unavailable)?;
                if now
                    > s.expires_at_ms
                        .saturating_add(ms(self.options.max_staleness))
                {
                    return Err(TokenError::keys_unavailable(Arc::new(FetchError::Stale {
                        expired_secs_ago: now.saturating_sub(s.expires_at_ms) / 1000,
                    })));
                }
                s
            }
        };
        match snapshot.keys.lookup(kid, alg) {
            Lookup::Found(k) => return Ok((k.clone(), snapshot.removal_epoch)),
            Lookup::WrongAlgorithm => {
                return Err(TokenError::new(
                    Reason::AlgorithmNotAllowed,
                    "the token's alg does not fit the key its kid names",
                ));
            }
            Lookup::Ambiguous => {
                return Err(TokenError::new(
                    Reason::UnknownKey,
                    "the token has no kid and several keys could apply",
                ));
            }
            Lookup::NotFound => {}
        }
        if matches!(self.source, KeySource::Static) {
            return Err(TokenError::new(
                Reason::UnknownKey,
                "no key matches the token's kid",
            ));
        }
        // Unknown kid: maybe the issuer rotated keys. One refresh, shared and rate-limited.
        let refreshed = match self.refresh(snapshot.generation).await {
            Ok(s) => s,
            // The issuer is down: the kid is unknown either way, and we fail closed.
            Err(_) => snapshot,
        };
        match refreshed.keys.lookup(kid, alg) {
            Lookup::Found(k) => Ok((k.clone(), refreshed.removal_epoch)),
            Lookup::WrongAlgorithm => Err(TokenError::new(
                Reason::AlgorithmNotAllowed,
                "the token's alg does not fit the key its kid names",
            )),
            Lookup::Ambiguous => Err(TokenError::new(
                Reason::UnknownKey,
                "the token has no kid and several keys could apply",
            )),
            Lookup::NotFound => Err(TokenError::new(
                Reason::UnknownKey,
                "no key in the issuer's key set matches the token's kid",
            )),
        }
    }

    fn spawn_background_refresh(self: &Arc<Self>) {
        // At most one background attempt per refresh interval, without touching the mutex: while
        // the issuer is down this runs on every request.
        let now = self.clock.now_millis();
        let last = self.background_attempt_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) < ms(self.options.refresh_interval) && now >= last {
            return;
        }
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        self.background_attempt_ms.store(now, Ordering::Release);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        let seen = self.current.load().as_ref().map_or(0, |s| s.generation);
        handle.spawn(async move {
            // Cleared even if the task panics or its runtime shuts down mid-fetch.
            struct Reset<'a>(&'a AtomicBool);
            impl Drop for Reset<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            let _reset = Reset(&this.background);
            let _ = this.refresh(seen).await;
        });
    }

    /// Fetches the key set unless someone else already did since generation `seen`, or the last
    /// attempt was less than `refresh_interval` ago. Returns the snapshot to use.
    pub(crate) async fn refresh(&self, seen: u64) -> Result<Arc<Snapshot>, Arc<FetchError>> {
        let mut state = self.refresh.lock().await;
        let current = self.current.load_full();
        if let Some(cur) = &current
            && cur.generation != seen
        {
            return Ok(cur.clone());
        }
        let now = self.clock.now_millis();
        if let Some(last) = state.last_attempt_ms {
            let elapsed = now.saturating_sub(last);
            // A clock that went backwards does not block refreshes.
            if (0..ms(self.options.refresh_interval)).contains(&elapsed) {
                let too_stale = |cur: &Snapshot| {
                    now > cur
                        .expires_at_ms
                        .saturating_add(ms(self.options.max_staleness))
                };
                return match (current, &state.last_error) {
                    // Too stale to use: report why the last attempt failed.
                    (Some(cur), Some(e)) if too_stale(&cur) => Err(e.clone()),
                    (Some(cur), _) => Ok(cur),
                    (None, Some(e)) => Err(e.clone()),
                    (None, None) => Err(Arc::new(FetchError::NotLoaded)),
                };
            }
        }
        // The attempt is recorded when it completes: a caller that gives up mid-fetch (a
        // dropped request future) does not use up the interval for everyone else.
        let result = self.fetch(&mut state).await;
        state.last_attempt_ms = Some(self.clock.now_millis());
        match result {
            Ok((keys, max_age)) => {
                let ttl = max_age
                    .map(Duration::from_secs)
                    .unwrap_or(self.options.default_ttl)
                    .clamp(self.options.min_ttl, self.options.max_ttl);
                let (generation, removal_epoch) = match &current {
                    Some(cur) => {
                        let dropped = cur
                            .keys
                            .fingerprints()
                            .any(|old| !keys.fingerprints().any(|new| new == old));
                        (cur.generation + 1, cur.removal_epoch + u64::from(dropped))
                    }
                    None => (1, 0),
                };
                let fetched_at_ms = self.clock.now_millis();
                let snapshot = Arc::new(Snapshot {
                    keys,
                    generation,
                    removal_epoch,
                    expires_at_ms: fetched_at_ms.saturating_add(ms(ttl)),
                });
                self.current.store(Some(snapshot.clone()));
                state.last_error = None;
                Ok(snapshot)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh the issuer's key set");
                let e = Arc::new(e);
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch(&self, state: &mut RefreshState) -> Result<(KeySet, Option<u64>), FetchError> {
        let url = match (&self.source, &state.jwks_uri) {
            (_, Some(uri)) => uri.clone(),
            (KeySource::Url(u), None) => u.clone(),
            (KeySource::Discover { issuer }, None) => {
                let metadata = discovery::discover(&self.http, issuer).await?;
                self.http.check_url(&metadata.jwks_uri)?;
                let uri = metadata.jwks_uri.clone();
                self.metadata.store(Some(Arc::new(metadata)));
                uri
            }
            (KeySource::Static, None) => {
                return Err(FetchError::Transport {
                    url: String::new(),
                    message: "static keys cannot be refreshed".into(),
                });
            }
        };
        let fetched = self.http.get(&url).await?;
        let keys = KeySet::parse(&fetched.body, &url, self.allowed)?;
        state.jwks_uri = Some(url);
        tracing::debug!(keys = keys.len(), "fetched the issuer's key set");
        Ok((keys, fetched.max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all() -> AlgSet {
        AlgSet::of(Algorithm::ASYMMETRIC)
    }

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc1;
        URL_SAFE_NO_PAD.encode(n)
    }

    #[test]
    fn weak_and_unsuitable_keys_are_skipped() {
        let aqab = "AQAB";
        let three = URL_SAFE_NO_PAD.encode([3u8]);
        let one = URL_SAFE_NO_PAD.encode([1u8]);
        let cases = [
            json!({"kty":"RSA","kid":"small","n":rsa_n(1024),"e":aqab}),
            json!({"kty":"RSA","kid":"e3","n":rsa_n(2048),"e":three}),
            json!({"kty":"RSA","kid":"e1","n":rsa_n(2048),"e":one}),
            json!({"kty":"RSA","kid":"enc","use":"enc","n":rsa_n(2048),"e":aqab}),
            json!({"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":rsa_n(2048),"e":aqab}),
            json!({"kty":"AKP","kid":"akp","alg":"ML-DSA-44","pub":"AAAA"}),
            json!({"kty":"oct","kid":"oct","k":"c2VjcmV0"}),
            json!({"kty":"RSA","kid":"alg-mismatch","alg":"ES256","n":rsa_n(2048),"e":aqab}),
            json!({"kty":"EC","kid":"crv","crv":"P-521","x":"AA","y":"AA"}),
            json!({"kty":"OKP","kid":"x448","crv":"Ed448","x":"AA"}),
            json!("not an object"),
        ];
        for case in &cases {
            assert!(parse_jwk(case, all()).is_err(), "{case}");
        }
        let good = json!({"kty":"RSA","kid":"good","n":rsa_n(2048),"e":aqab});
        let doc = json!({"keys": [cases[0], cases[5], good]});
        let set = KeySet::parse(doc.to_string().as_bytes(), "u", all()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.lookup(Some("good"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.lookup(Some("good"), Algorithm::ES256),
            Lookup::WrongAlgorithm
        ));
    }

    #[test]
    fn empty_or_zero_rsa_modulus_is_skipped_without_panicking() {
        for n in ["", "AA", "AAAA"] {
            let k = json!({"kty":"RSA","n":n,"e":"AQAB"});
            assert!(parse_jwk(&k, all()).is_err(), "{n:?}");
        }
    }

    #[test]
    fn declared_alg_narrows_the_key() {
        let k = json!({"kty":"RSA","alg":"RS256","n":rsa_n(2048),"e":"AQAB"});
        let key = parse_jwk(&k, all()).unwrap();
        assert!(key.algs.contains(Algorithm::RS256));
        assert!(!key.algs.contains(Algorithm::PS256));
        let key = parse_jwk(&k, AlgSet::of(&[Algorithm::PS256]));
        assert!(key.is_err());
    }

    #[test]
    fn documents_without_usable_keys_are_errors() {
        for doc in [r#"{"keys":{}}"#, "<html>", r#"{"keys":[]}"#, "{}"] {
            assert!(KeySet::parse(doc.as_bytes(), "u", all()).is_err(), "{doc}");
        }
    }
}
