//! [`TokenVerifier`]: verifies access tokens and ID tokens. Build one per app and share it: it is
//! cheap to clone (an `Arc` inside), `Send + Sync`, and every clone shares one key cache.
//!
//! Every check, in order (each failure has its own [`Reason`]):
//!
//! 1. size: at most [`VerifierBuilder::max_token_size`] bytes (default 16 KiB), before decoding;
//! 2. structure: a compact JWS with three base64url segments (a JWE or nested JWT is refused);
//! 3. header: no `crit` (RFC 7515 §4.1.11); `alg` on the allow-list and never `none`;
//!    `jku`, `x5u`, `x5c` and `jwk` are ignored, never fetched or used (RFC 8725 §3.10);
//! 4. explicit typing (RFC 8725 §3.11): see [`AccessTokenType`]; ID tokens must be `JWT` or untyped;
//! 5. key: by `kid` from the issuer's key set (one rate-limited refresh for an unknown `kid`), and
//!    the key must fit the algorithm — an RSA/EC/OKP key is never used as an HMAC secret;
//! 6. signature;
//! 7. claims: `iss` exactly; `aud`; `exp` (required), `nbf`, `iat` (required, not in the future,
//!    not older than [`VerifierBuilder::max_token_age`]) with [`VerifierBuilder::leeway`];
//!    for ID tokens also `sub`, `azp`, `nonce`, and optionally `at_hash` and `auth_time`.
//!
//! ```no_run
//! use portcullis::TokenVerifier;
//!
//! # async fn run(bearer: &str) -> Result<(), portcullis::Error> {
//! let verifier = TokenVerifier::builder("https://acme.kinde.com")
//!     .audience("https://api.acme.com")
//!     .build()?;
//!
//! let claims = verifier.verify_access_token(bearer).await?;
//! if claims.has_permission("read:todos") {
//!     println!("{} may read todos", claims.subject().unwrap_or("?"));
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::claims::{Claims, INVALID_CLAIM_PREFIX, known_claim_name};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, check_issuer};
use crate::discovery::ProviderMetadata;
use crate::error::{ConfigError, Error, Reason, TokenError};
use crate::http::{HttpClient, HttpOptions};
use crate::jose::{self, AlgSet, Algorithm};
use crate::jwks::{JwksCache, JwksOptions, KeySet, KeySource, VerifyKey};

/// Which `typ` header an access token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AccessTokenType {
    /// Accept `at+jwt` / `application/at+jwt` (RFC 9068), and also `JWT` or no `typ` — what Kinde
    /// and most providers send today. Any other explicit type (`logout+jwt`, …) is refused, and so
    /// is a token that carries ID-token claims (`nonce`, `at_hash`, `c_hash`), so an ID token is
    /// never accepted as an access token. The default.
    #[default]
    AtJwtOrJwt,
    /// RFC 9068 strictly: `typ` must be `at+jwt` or `application/at+jwt` (§4), and `sub` is
    /// required (§2.2).
    AtJwtOnly,
}

/// What an ID token must match beyond the standard checks; see
/// [`TokenVerifier::verify_id_token_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IdTokenChecks<'a> {
    /// The `nonce` sent in the authorization request; the token must carry exactly this one.
    pub nonce: Option<&'a str>,
    /// The access token returned with the ID token; when the ID token has `at_hash`, it must match
    /// (OIDC Core §3.1.3.8).
    pub access_token: Option<&'a str>,
    /// The `max_age` sent in the authorization request; `auth_time` must then be present and
    /// recent enough (OIDC Core §3.1.2.1).
    pub max_age: Option<Duration>,
    /// The authorization code the ID token came with; when the ID token has `c_hash`, it must
    /// match (OIDC Core §3.3.2.11).
    pub code: Option<&'a str>,
}

impl<'a> IdTokenChecks<'a> {
    /// Checks with the given nonce.
    pub fn nonce(nonce: &'a str) -> Self {
        IdTokenChecks {
            nonce: Some(nonce),
            ..Default::default()
        }
    }

    /// Also check `at_hash` against this access token.
    pub fn with_access_token(mut self, access_token: &'a str) -> Self {
        self.access_token = Some(access_token);
        self
    }

    /// Also check `auth_time` against this `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Also check `c_hash` against this authorization code.
    pub fn with_code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Id,
}

/// The outcome of steps 2–7.
struct Verified {
    claims: Claims,
    /// The decoded payload (for callers that deserialize into their own type).
    payload: Vec<u8>,
    /// The key set's removal epoch when the key was looked up.
    removal_epoch: u64,
    alg: Algorithm,
}

#[derive(Debug, Clone)]
struct CachedToken {
    claims: Arc<Claims>,
    exp: i64,
    removal_epoch: u64,
}

/// The verified-token cache, keyed by the token itself.
///
/// The map hashes the token with its own keyed hasher (`S`; by default quick_cache's
/// `ahash::RandomState`, seeded at random for each cache, so nobody can aim tokens at one bucket)
/// and, on every lookup, compares the stored token with the presented one byte for byte: an
/// entry answers only the exact token it was made for, whatever two tokens' hashes are. (The
/// previous key, SHA-256 of the token, was most of a hit's cost: ~1 KB hashed per request.)
///
/// Only the token's length and its last [`HASHED_TAIL`] bytes are hashed: they end with the
/// signature, which differs between any two tokens the issuer signed, and only verified tokens
/// are stored; a token that merely ends like a stored one meets it in the map and is told apart
/// by the byte comparison (then verified in full, as any miss).
///
/// That comparison is an ordinary `==`, not a constant-time one, and need not be: on a hit the
/// presenter already holds every byte compared. On a miss, the presented token is compared only
/// with stored tokens whose keyed hash happens to land next to its own; with the seed secret, the
/// presenter cannot choose which stored token that is, nor learn whether a comparison took place,
/// so the time taken (a vectorized compare, many bytes per step) tells nothing usable about any
/// stored token.
#[derive(Debug)]
struct TokenCache<S = quick_cache::DefaultHashBuilder> {
    map: quick_cache::sync::Cache<TokenKey, CachedToken, quick_cache::UnitWeighter, S>,
}

/// How many bytes at the end of a token its cache hash covers (with its length).
const HASHED_TAIL: usize = 64;

fn hash_token<H: std::hash::Hasher>(token: &str, state: &mut H) {
    let bytes = token.as_bytes();
    state.write_usize(bytes.len());
    state.write(bytes.rchunks(HASHED_TAIL).next().unwrap_or_default());
}

/// A stored token.
#[derive(Debug, PartialEq, Eq)]
struct TokenKey(Box<str>);

impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_token(&self.0, state);
    }
}

/// A presented token, looked up without copying it.
struct Presented<'a>(&'a str);

impl std::hash::Hash for Presented<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_token(self.0, state);
    }
}

impl quick_cache::Equivalent<TokenKey> for Presented<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        // Byte for byte, every byte: see `TokenCache` for why not in constant time.
        *self.0 == *key.0
    }
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        TokenCache::with_hasher(capacity, quick_cache::DefaultHashBuilder::default())
    }
}

impl<S: std::hash::BuildHasher + Clone> TokenCache<S> {
    fn with_hasher(capacity: usize, hasher: S) -> Self {
        TokenCache {
            map: quick_cache::sync::Cache::with(
                capacity,
                u64::try_from(capacity).unwrap_or(u64::MAX),
                quick_cache::UnitWeighter,
                hasher,
                quick_cache::sync::DefaultLifecycle::default(),
            ),
        }
    }

    /// The entry of exactly this token (compared byte for byte), if any.
    fn get(&self, token: &str) -> Option<CachedToken> {
        self.map.get(&Presented(token))
    }

    fn insert(&self, token: &str, entry: CachedToken) {
        self.map.insert(TokenKey(token.into()), entry);
    }

    fn remove(&self, token: &str) {
        self.map.remove(&Presented(token));
    }
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    audiences: Vec<String>,
    any_audience: bool,
    client_id: Option<String>,
    trusted_audiences: Vec<String>,
    allowed: AlgSet,
    leeway: i64,
    max_token_size: usize,
    max_token_age: Option<i64>,
    access_token_type: AccessTokenType,
    keys: Arc<JwksCache>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache>,
}

/// Verifies access tokens and ID tokens from one issuer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

impl TokenVerifier {
    /// Starts building a verifier for tokens from `issuer` (e.g. `https://acme.kinde.com`),
    /// whose keys are discovered from its metadata.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            any_audience: false,
            client_id: None,
            trusted_audiences: Vec::new(),
            algorithms: None,
            leeway: Duration::from_secs(30),
            max_token_size: 16 * 1024,
            max_token_age: Some(Duration::from_secs(24 * 3600)),
            access_token_type: AccessTokenType::default(),
            keys: KeysFrom::Discovery,
            jwks_options: JwksOptions::default(),
            http_options: HttpOptions::default(),
            clock: Arc::new(SystemClock),
            cache_capacity: None,
        }
    }

    /// A verifier for the issuer, audiences and client id of `config`.
    pub fn from_config(config: &Config) -> Result<TokenVerifier, Error> {
        let mut b = TokenVerifier::builder(config.issuer());
        for a in config.audiences() {
            b = b.audience(a.clone());
        }
        if let Some(id) = config.client_id() {
            b = b.client_id(id);
        }
        if config.allows_insecure_http() {
            b.http_options.allow_insecure_http = true;
        }
        b.http_options.root_certificates = config.root_certificates().clone();
        b.build()
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Whether verified access tokens are cached ([`VerifierBuilder::cache_verified_tokens`]):
    /// then verifying a token (of at most 8 KiB) again is a lookup, not a signature check.
    ///
    /// ```
    /// # fn main() -> Result<(), portcullis::Error> {
    /// let verifier = portcullis::TokenVerifier::builder("https://example.kinde.com")
    ///     .audience("https://api.example.com")
    ///     .cache_verified_tokens(10_000)
    ///     .build()?;
    /// assert!(verifier.caches_verified_tokens());
    /// # Ok(()) }
    /// ```
    pub fn caches_verified_tokens(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// The provider metadata, once discovery has run (after [`TokenVerifier::warm_up`] or the
    /// first verification).
    pub fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.inner.keys.metadata()
    }

    /// Fetches the issuer's metadata and keys now, rather than on the first verification, and
    /// reports what went wrong if it could not. Optional: call it at start-up to fail fast.
    pub async fn warm_up(&self) -> Result<(), Error> {
        let seen = 0;
        if self.inner.keys.removal_epoch().is_some() {
            return Ok(());
        }
        self.inner
            .keys
            .refresh(seen)
            .await
            .map(|_| ())
            .map_err(|e| Error::Fetch((*e).clone()))
    }

    /// Verifies an access token (e.g. from an `Authorization: Bearer` header) and returns its
    /// claims.
    ///
    /// With [`VerifierBuilder::cache_verified_tokens`], a token verified before (and not yet
    /// expired) is answered from the cache without decoding it again.
    pub async fn verify_access_token(&self, token: &str) -> Result<Arc<Claims>, Error> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_size {
            return Err(too_large().into());
        }
        // Only tokens up to MAX_CACHED_TOKEN bytes are cached, so the cache's memory is bounded
        // by its capacity times a few KiB (the token and its claims) whatever tokens are sent.
        let cache = inner
            .cache
            .as_ref()
            .filter(|_| token.len() <= MAX_CACHED_TOKEN);
        if let Some(cache) = cache
            && let Some(hit) = cache.get(token)
        {
            // One clock read serves both checks (the key cache shares this clock).
            let now_ms = inner.clock.now_millis();
            let now = now_ms.div_euclid(1000);
            // An entry never outlives its token, nor a key set that dropped its key (or is too
            // stale to be trusted); an expired key set is refreshed in the background, as on a
            // miss, so a removed key is noticed even when every request is a hit.
            if now < hit.exp && inner.keys.epoch_for_cached_token(now_ms) == Some(hit.removal_epoch)
            {
                return Ok(hit.claims);
            }
            cache.remove(token);
        }
        // Boxed: the full verification's future (key lookup, JWKS refresh) is most of this
        // one's size, and every caller's future (an axum handler's, boxed per request by the
        // router) would otherwise carry and copy those bytes on every request, hit or not.
        let verified = Box::pin(self.verify_jws(token, Kind::Access)).await?;
        let removal_epoch = verified.removal_epoch;
        let claims = Arc::new(verified.claims);
        if let Some(cache) = cache
            && let Some(exp) = claims.exp
        {
            // The entry's lifetime: `exp`, and never past the maximum token age either.
            let exp = match (inner.max_token_age, claims.iat) {
                (Some(max_age), Some(iat)) => {
                    exp.min(iat.saturating_add(max_age).saturating_add(inner.leeway))
                }
                _ => exp,
            };
            cache.insert(
                token,
                CachedToken {
                    claims: claims.clone(),
                    exp,
                    removal_epoch,
                },
            );
        }
        Ok(claims)
    }

    /// Verifies an access token like [`TokenVerifier::verify_access_token`], then deserializes
    /// its claims into your own type `T`. (Not cached.)
    pub async fn verify_access_token_as<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, Error> {
        if token.len() > self.inner.max_token_size {
            return Err(too_large().into());
        }
        let verified = self.verify_jws(token, Kind::Access).await?;
        serde_json::from_slice(&verified.payload).map_err(|_| {
            TokenError::new(
                Reason::Malformed,
                "the claims do not deserialize into the requested type",
            )
            .into()
        })
    }

    /// Verifies an ID token (OIDC Core §3.1.3.7). Needs a client id
    /// ([`VerifierBuilder::client_id`]). Pass the `nonce` sent in the authorization request;
    /// `None` only where no nonce was sent (e.g. an ID token returned by a refresh).
    pub async fn verify_id_token(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<Claims, Error> {
        let checks = IdTokenChecks {
            nonce: expected_nonce,
            ..Default::default()
        };
        self.verify_id_token_with(token, &checks).await
    }

    /// Verifies an ID token with extra checks: `nonce`, `at_hash`, `auth_time`/`max_age`.
    pub async fn verify_id_token_with(
        &self,
        token: &str,
        checks: &IdTokenChecks<'_>,
    ) -> Result<Claims, Error> {
        let inner = &*self.inner;
        if inner.client_id.is_none() {
            return Err(ConfigError::new(
                "client_id",
                "verifying ID tokens needs the client id they are issued to",
            )
            .into());
        }
        if token.len() > inner.max_token_size {
            return Err(too_large().into());
        }
        let Verified { claims, alg, .. } = self.verify_jws(token, Kind::Id).await?;
        let now = inner.clock.now_secs();
        if let Some(expected) = checks.nonce {
            match &claims.nonce {
                None => return Err(TokenError::missing("nonce").into()),
                Some(n) => {
                    if !bool::from(n.as_bytes().ct_eq(expected.as_bytes())) {
                        return Err(TokenError::claim(
                            Reason::NonceMismatch,
                            "nonce",
                            "the nonce is not the one sent with the authorization request",
                        )
                        .into());
                    }
                }
            }
        }
        if let (Some(access_token), Some(at_hash)) = (checks.access_token, &claims.at_hash) {
            let expected = half_hash(alg, access_token);
            if !bool::from(expected.as_bytes().ct_eq(at_hash.as_bytes())) {
                return Err(TokenError::claim(
                    Reason::AccessTokenHashMismatch,
                    "at_hash",
                    "at_hash does not match the access token",
                )
                .into());
            }
        }
        if let (Some(code), Some(c_hash)) = (checks.code, &claims.c_hash) {
            let expected = half_hash(alg, code);
            if !bool::from(expected.as_bytes().ct_eq(c_hash.as_bytes())) {
                return Err(TokenError::claim(
                    Reason::CodeHashMismatch,
                    "c_hash",
                    "c_hash does not match the authorization code",
                )
                .into());
            }
        }
        if let Some(max_age) = checks.max_age {
            let auth_time = claims
                .auth_time
                .ok_or_else(|| TokenError::missing("auth_time"))?;
            let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            if now.saturating_sub(auth_time) > max_age.saturating_add(inner.leeway) {
                return Err(TokenError::claim(
                    Reason::AuthenticationTooOld,
                    "auth_time",
                    "the user authenticated longer ago than max_age allows",
                )
                .into());
            }
        }
        Ok(claims)
    }

    /// Steps 2–7 of the module docs.
    async fn verify_jws(&self, token: &str, kind: Kind) -> Result<Verified, TokenError> {
        let inner = &*self.inner;
        let segments = jose::split(token)?;
        let header_json = jose::b64(segments.header, "the header is not base64url")?;
        let (header, alg) = jose::parse_header(&header_json)?;
        if !inner.allowed.contains(alg) {
            return Err(TokenError::new(
                Reason::AlgorithmNotAllowed,
                "the token's alg is not on this verifier's allow-list",
            ));
        }
        check_typ(kind, header.typ.as_deref(), inner.access_token_type)?;
        if segments.signature.is_empty() {
            return Err(TokenError::new(
                Reason::BadSignature,
                "the signature is empty",
            ));
        }
        let (key, removal_epoch) = inner.keys.key_for(header.kid.as_deref(), alg).await?;
        verify_signature(&key, alg, segments.signing_input, segments.signature)?;
        let payload = jose::b64(segments.payload, "the payload is not base64url")?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(claims_error)?;
        self.check_claims(&claims, kind)?;
        Ok(Verified {
            claims,
            payload,
            removal_epoch,
            alg,
        })
    }

    fn check_claims(&self, claims: &Claims, kind: Kind) -> Result<(), TokenError> {
        let inner = &*self.inner;
        let now = inner.clock.now_secs();
        let leeway = inner.leeway;

        // iss: exact string comparison (OIDC Core §3.1.3.7 step 2, RFC 8725 §3.8).
        match &claims.iss {
            None => return Err(TokenError::missing("iss")),
            Some(iss) if *iss != inner.issuer => {
                return Err(TokenError::claim(
                    Reason::WrongIssuer,
                    "iss",
                    "the token was issued by another issuer",
                ));
            }
            Some(_) => {}
        }

        // Time claims (RFC 7519 §4.1.4-6), saturating so extreme values cannot overflow.
        let exp = claims.exp.ok_or_else(|| TokenError::missing("exp"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(TokenError::claim(
                Reason::Expired,
                "exp",
                "the token has expired",
            ));
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(leeway) < nbf
        {
            return Err(TokenError::claim(
                Reason::NotYetValid,
                "nbf",
                "the token is not valid yet",
            ));
        }
        let iat = claims.iat.ok_or_else(|| TokenError::missing("iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(TokenError::claim(
                Reason::IssuedInFuture,
                "iat",
                "the token claims to be issued in the future",
            ));
        }
        if let Some(max_age) = inner.max_token_age
            && now.saturating_sub(iat) > max_age.saturating_add(leeway)
        {
            return Err(TokenError::claim(
                Reason::TooOld,
                "iat",
                "the token was issued longer ago than the maximum token age",
            ));
        }
        if claims.sub.as_deref().is_some_and(str::is_empty) {
            return Err(TokenError::claim(
                Reason::InvalidClaim,
                "sub",
                "sub is empty",
            ));
        }

        match kind {
            Kind::Access => self.check_access_claims(claims),
            Kind::Id => self.check_id_claims(claims),
        }
    }

    fn check_access_claims(&self, claims: &Claims) -> Result<(), TokenError> {
        let inner = &*self.inner;
        if inner.access_token_type == AccessTokenType::AtJwtOrJwt
            && (claims.nonce.is_some() || claims.at_hash.is_some() || claims.c_hash.is_some())
        {
            return Err(TokenError::new(
                Reason::WrongTokenType,
                "an ID token was presented as an access token",
            ));
        }
        // RFC 9068 §2.2 makes `sub` required; Kinde's machine-to-machine tokens carry none, so it
        // is required only in the strict mode.
        if inner.access_token_type == AccessTokenType::AtJwtOnly && claims.sub.is_none() {
            return Err(TokenError::missing("sub"));
        }
        if inner.any_audience {
            // Without an audience check, an ID token issued to this app (its `aud` is our client
            // id) would otherwise pass as an access token when it carries no nonce/at_hash, as
            // after a refresh.
            if let Some(client_id) = &inner.client_id
                && claims.aud.contains(client_id)
            {
                return Err(TokenError::new(
                    Reason::WrongTokenType,
                    "a token issued to this client (an ID token) was presented as an access token",
                ));
            }
            return Ok(());
        }
        if inner.audiences.is_empty() {
            return Err(TokenError::claim(
                Reason::WrongAudience,
                "aud",
                "this verifier has no audience configured for access tokens",
            ));
        }
        if claims.aud.is_empty() {
            return Err(TokenError::missing("aud"));
        }
        if !inner.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(TokenError::claim(
                Reason::WrongAudience,
                "aud",
                "the token is not meant for this API",
            ));
        }
        Ok(())
    }

    fn check_id_claims(&self, claims: &Claims) -> Result<(), TokenError> {
        let inner = &*self.inner;
        let client_id = inner.client_id.as_deref().unwrap_or_default();
        if claims.sub.is_none() {
            return Err(TokenError::missing("sub"));
        }
        // OIDC Core §3.1.3.7 step 3: aud contains the client id, and no untrusted audience.
        if claims.aud.is_empty() {
            return Err(TokenError::missing("aud"));
        }
        if !claims.aud.contains(client_id) {
            return Err(TokenError::claim(
                Reason::WrongAudience,
                "aud",
                "the ID token was issued to another client",
            ));
        }
        if claims
            .aud
            .as_slice()
            .iter()
            .any(|a| a != client_id && !inner.trusted_audiences.contains(a))
        {
            return Err(TokenError::claim(
                Reason::WrongAudience,
                "aud",
                "the ID token lists an untrusted additional audience",
            ));
        }
        // Steps 4-5: azp.
        match claims.azp.as_deref() {
            Some(azp) if azp != client_id => {
                return Err(TokenError::claim(
                    Reason::WrongAuthorizedParty,
                    "azp",
                    "the ID token was issued to another client (azp)",
                ));
            }
            None if claims.aud.as_slice().len() > 1 => {
                return Err(TokenError::claim(
                    Reason::WrongAuthorizedParty,
                    "azp",
                    "an ID token with several audiences must name its client in azp",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Largest token the verified-token cache keeps.
const MAX_CACHED_TOKEN: usize = 8 * 1024;

fn too_large() -> TokenError {
    TokenError::new(
        Reason::TooLarge,
        "the token is larger than the maximum token size",
    )
}

fn claims_error(e: serde_json::Error) -> TokenError {
    let message = e.to_string();
    if let Some(rest) = message.strip_prefix(INVALID_CLAIM_PREFIX) {
        let name = rest.split([' ', '(']).next().unwrap_or_default();
        if let Some(name) = known_claim_name(name) {
            return TokenError::claim(Reason::InvalidClaim, name, "the claim has an invalid value");
        }
    }
    TokenError::new(
        Reason::Malformed,
        "the payload is not a valid JSON object of claims",
    )
}

/// RFC 8725 §3.11 explicit typing.
fn check_typ(kind: Kind, typ: Option<&str>, policy: AccessTokenType) -> Result<(), TokenError> {
    // RFC 7515 §4.1.9: media types compare case-insensitively, `application/` may be omitted.
    let typ = typ.map(|t| {
        let t = t.trim();
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    });
    let is = |expected: &str| typ.is_some_and(|t| t.eq_ignore_ascii_case(expected));
    let ok = match (kind, policy) {
        (Kind::Access, AccessTokenType::AtJwtOnly) => is("at+jwt"),
        (Kind::Access, AccessTokenType::AtJwtOrJwt) => typ.is_none() || is("at+jwt") || is("jwt"),
        (Kind::Id, _) => typ.is_none() || is("jwt"),
    };
    if ok {
        Ok(())
    } else {
        Err(TokenError::new(
            Reason::WrongTokenType,
            match kind {
                Kind::Access => "the typ header is not that of an access token",
                Kind::Id => "the typ header is not that of an ID token",
            },
        ))
    }
}

fn verify_signature(
    key: &VerifyKey,
    alg: Algorithm,
    signing_input: &str,
    signature: &str,
) -> Result<(), TokenError> {
    use base64::Engine as _;
    // Largest signature: RSA-8192 (1,024 bytes). Decoded on the stack: no allocation.
    let mut buf = [0u8; 1024];
    let len =
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(signature, &mut buf) {
            Ok(len) => len,
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                return Err(TokenError::new(
                    Reason::BadSignature,
                    "the signature is too long",
                ));
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => {
                return Err(TokenError::new(
                    Reason::Malformed,
                    "the signature is not base64url",
                ));
            }
        };
    if key.verify(alg, signing_input.as_bytes(), &buf[..len]) {
        Ok(())
    } else {
        Err(TokenError::new(
            Reason::BadSignature,
            "the signature does not verify",
        ))
    }
}

/// `at_hash` / `c_hash`: base64url of the left half of the hash of `value` (OIDC Core §3.1.3.6).
pub(crate) fn half_hash(alg: Algorithm, value: &str) -> String {
    use base64::Engine as _;
    let digest = aws_lc_rs::digest::digest(alg.half_hash_digest(), value.as_bytes());
    let bytes = digest.as_ref();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[derive(Debug, Clone)]
enum KeysFrom {
    Discovery,
    JwksUri(String),
    Jwks(String),
    Secret(Vec<u8>),
}

/// Configures a [`TokenVerifier`]. Every check is on by default; turning one off is a named call.
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    any_audience: bool,
    client_id: Option<String>,
    trusted_audiences: Vec<String>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    max_token_size: usize,
    max_token_age: Option<Duration>,
    access_token_type: AccessTokenType,
    keys: KeysFrom,
    jwks_options: JwksOptions,
    http_options: HttpOptions,
    clock: Arc<dyn Clock>,
    cache_capacity: Option<usize>,
}

impl VerifierBuilder {
    /// An API audience access tokens must carry in `aud` (call again to accept several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accept access tokens whatever their audience. **This turns off a security check**: any
    /// token the issuer signed for any API (or app) of the tenant is then accepted here. Use only
    /// when the issuer serves this API alone.
    pub fn allow_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// The client id ID tokens are issued to (needed by [`TokenVerifier::verify_id_token`]).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// An additional audience an ID token may list besides the client id.
    pub fn trusted_id_token_audience(mut self, audience: impl Into<String>) -> Self {
        self.trusted_audiences.push(audience.into());
        self
    }

    /// The algorithm allow-list. Default: every asymmetric algorithm (RS*, PS*, ES256, ES384,
    /// EdDSA), each usable only with a key of its type; with [`VerifierBuilder::hmac_secret`],
    /// the HS* algorithms the secret is long enough for. Without a secret, HS* algorithms in the
    /// list are ignored (a key set never supplies HMAC keys), and a list of only HS* algorithms
    /// is a configuration error.
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = Some(algorithms.to_vec());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 30 s; at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest token accepted, in bytes, checked before decoding. Default 16 KiB.
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Tokens whose `iat` is older than this are rejected ([`Reason::TooOld`]), whatever their
    /// `exp`. Default 24 hours; `None` turns the check off.
    pub fn max_token_age(mut self, age: Option<Duration>) -> Self {
        self.max_token_age = age;
        self
    }

    /// Which `typ` access tokens may carry. Default [`AccessTokenType::AtJwtOrJwt`].
    pub fn access_token_type(mut self, policy: AccessTokenType) -> Self {
        self.access_token_type = policy;
        self
    }

    /// Fetch keys from this JWKS URL instead of discovering it from the issuer's metadata.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.keys = KeysFrom::JwksUri(uri.into());
        self
    }

    /// Use this fixed JWKS document (JSON) and never fetch keys.
    pub fn jwks_json(mut self, jwks: impl Into<String>) -> Self {
        self.keys = KeysFrom::Jwks(jwks.into());
        self
    }

    /// Verify HS256/384/512 tokens with this shared secret instead of the issuer's public keys.
    /// The secret must be at least as long as the hash (32 bytes for HS256, RFC 7518 §3.2).
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.keys = KeysFrom::Secret(secret.into());
        self
    }

    /// Key-cache timing (TTL bounds, refresh interval, staleness).
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.jwks_options = options;
        self
    }

    /// Timeouts and size limits for requests to the issuer.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http_options = options;
        self
    }

    /// The clock used for every time check (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Cache up to `capacity` verified access tokens (of at most 8 KiB each; an entry holds the
    /// token and its claims), for APIs that see the same token on many requests. An entry answers
    /// only the very token it was made for (compared byte for byte), never outlives its token's `exp` (nor
    /// [`VerifierBuilder::max_token_age`]), and is dropped when the issuer removes the key that
    /// signed it: a hit answers exactly as a full verification would, without the decoding.
    pub fn cache_verified_tokens(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// Checks the configuration and builds the verifier. No network request is made here: keys
    /// are fetched on first use (or by [`TokenVerifier::warm_up`]).
    pub fn build(self) -> Result<TokenVerifier, Error> {
        check_issuer(&self.issuer, self.http_options.allow_insecure_http)
            .map_err(|p| ConfigError::new("issuer", p))?;
        if self.audiences.is_empty() && !self.any_audience && self.client_id.is_none() {
            return Err(ConfigError::new(
                "audience",
                "no audience configured: call .audience(..) with your API's identifier, or \
                 .allow_any_audience() to accept tokens for any API (or .client_id(..) to verify \
                 ID tokens only)",
            )
            .into());
        }
        let o = &self.jwks_options;
        if o.min_ttl < Duration::from_secs(1) || o.min_ttl > o.max_ttl {
            return Err(ConfigError::new(
                "jwks_options",
                "min_ttl must be at least 1 s and at most max_ttl",
            )
            .into());
        }
        if o.refresh_interval < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "jwks_options",
                "refresh_interval must be at least 1 s (it is what stops unknown-kid floods)",
            )
            .into());
        }
        let h = &self.http_options;
        if h.max_body_bytes == 0 || h.request_timeout.is_zero() || h.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "http_options",
                "timeouts and the body limit must be greater than zero",
            )
            .into());
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::new("leeway", "must be at most 5 minutes").into());
        }
        if self.max_token_size < 64 {
            return Err(ConfigError::new("max_token_size", "must be at least 64 bytes").into());
        }
        let mut allowed = match &self.algorithms {
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new("algorithms", "the allow-list is empty").into());
            }
            Some(list) => AlgSet::of(list),
            None => match &self.keys {
                KeysFrom::Secret(_) => {
                    AlgSet::of(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512])
                }
                _ => AlgSet::of(Algorithm::ASYMMETRIC),
            },
        };
        if !matches!(self.keys, KeysFrom::Secret(_)) {
            // RFC 8725 §3.1, docs/security.md case 3: a key set never supplies HMAC secrets, so HS* is
            // never on the allow-list of a verifier that uses one, even when listed.
            allowed = allowed.intersect(AlgSet::of(Algorithm::ASYMMETRIC));
            if allowed.is_empty() {
                return Err(ConfigError::new(
                    "algorithms",
                    "HS256/HS384/HS512 need .hmac_secret(..): a key set never supplies HMAC keys",
                )
                .into());
            }
        }
        let http = HttpClient::new(self.http_options.clone())?;
        let (source, initial) = match self.keys {
            KeysFrom::Discovery => (
                KeySource::Discover {
                    issuer: self.issuer.clone(),
                },
                None,
            ),
            KeysFrom::JwksUri(uri) => {
                http.check_url(&uri)
                    .map_err(|e| ConfigError::new("jwks_uri", e.to_string()))?;
                (KeySource::Url(uri), None)
            }
            KeysFrom::Jwks(json) => {
                let keys = KeySet::parse(
                    json.as_bytes(),
                    "jwks_json",
                    allowed.intersect(AlgSet::of(Algorithm::ASYMMETRIC)),
                )
                .map_err(|e| ConfigError::new("jwks_json", e.to_string()))?;
                (KeySource::Static, Some(keys))
            }
            KeysFrom::Secret(secret) => {
                // RFC 7518 §3.2: a key at least as long as the hash output; shorter ones (and the
                // blank key, docs/security.md case 9) are refused here.
                let mut fits = Vec::new();
                for (alg, min) in [
                    (Algorithm::HS256, 32),
                    (Algorithm::HS384, 48),
                    (Algorithm::HS512, 64),
                ] {
                    if secret.len() >= min && allowed.contains(alg) {
                        fits.push(alg);
                    }
                }
                if secret.len() < 32 {
                    return Err(ConfigError::new(
                        "hmac_secret",
                        "must be at least 32 bytes (256 bits) long",
                    )
                    .into());
                }
                if fits.is_empty() {
                    return Err(ConfigError::new(
                        "hmac_secret",
                        "is too short for every allowed HMAC algorithm (HS384 needs 48 bytes, HS512 64)",
                    )
                    .into());
                }
                allowed = AlgSet::of(&fits);
                let key = VerifyKey::hmac(&secret, &fits);
                (KeySource::Static, Some(KeySet::from_keys(vec![key])))
            }
        };
        let keys = Arc::new(JwksCache::new(
            source,
            http,
            self.clock.clone(),
            self.jwks_options,
            allowed,
            initial,
        ));
        let cache = self.cache_capacity.filter(|c| *c > 0).map(TokenCache::new);
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(TokenVerifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audiences: self.audiences,
                any_audience: self.any_audience,
                client_id: self.client_id,
                trusted_audiences: self.trusted_audiences,
                allowed,
                leeway: secs(self.leeway),
                max_token_size: self.max_token_size,
                max_token_age: self.max_token_age.map(secs),
                access_token_type: self.access_token_type,
                keys,
                clock: self.clock,
                cache,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every token hashes alike: each lookup meets the other tokens' entries and must tell them
    /// apart by their bytes alone.
    #[derive(Default)]
    struct CollidingHasher;

    impl std::hash::Hasher for CollidingHasher {
        fn finish(&self) -> u64 {
            42
        }
        fn write(&mut self, _: &[u8]) {}
    }

    fn entry(sub: &str) -> CachedToken {
        CachedToken {
            claims: Arc::new(Claims {
                sub: Some(sub.to_owned()),
                ..Claims::default()
            }),
            exp: i64::MAX,
            removal_epoch: 0,
        }
    }

    fn sub_of(
        cache: &TokenCache<impl std::hash::BuildHasher + Clone>,
        token: &str,
    ) -> Option<String> {
        cache.get(token).and_then(|e| e.claims.sub.clone())
    }

    #[test]
    fn token_cache_entries_answer_only_their_own_token() {
        let colliding = TokenCache::with_hasher(
            16,
            std::hash::BuildHasherDefault::<CollidingHasher>::default(),
        );
        let (alice, bob) = ("eyJh.eyJw.c2lnA", "eyJh.eyJw.c2lnB");
        colliding.insert(alice, entry("alice"));
        // Same hash, same length, one byte apart: not Alice's entry.
        assert_eq!(sub_of(&colliding, bob), None);
        // Prefixes and extensions of a cached token are other tokens too.
        assert_eq!(sub_of(&colliding, "eyJh.eyJw.c2ln"), None);
        assert_eq!(sub_of(&colliding, "eyJh.eyJw.c2lnAA"), None);
        assert_eq!(sub_of(&colliding, ""), None);
        colliding.insert(bob, entry("bob"));
        assert_eq!(sub_of(&colliding, alice).as_deref(), Some("alice"));
        assert_eq!(sub_of(&colliding, bob).as_deref(), Some("bob"));
        colliding.remove(alice);
        assert_eq!(sub_of(&colliding, alice), None);
        assert_eq!(sub_of(&colliding, bob).as_deref(), Some("bob"));

        // The same with the real (keyed) hasher, and tokens that share the hashed tail (same
        // length, same last HASHED_TAIL bytes) so they hash alike there too.
        let tail = "s".repeat(HASHED_TAIL);
        let (alice, bob) = (&*format!("eyJh.eyJA.{tail}"), &*format!("eyJh.eyJB.{tail}"));
        let seeded = quick_cache::DefaultHashBuilder::default();
        assert_eq!(
            std::hash::BuildHasher::hash_one(&seeded, Presented(alice)),
            std::hash::BuildHasher::hash_one(&seeded, Presented(bob))
        );
        let keyed = TokenCache::new(16);
        keyed.insert(alice, entry("alice"));
        assert_eq!(sub_of(&keyed, bob), None);
        keyed.insert(bob, entry("bob"));
        assert_eq!(sub_of(&keyed, alice).as_deref(), Some("alice"));
        assert_eq!(sub_of(&keyed, bob).as_deref(), Some("bob"));
    }

    #[test]
    fn typ_rules() {
        use AccessTokenType::*;
        let ok = |k, t, p| check_typ(k, t, p).is_ok();
        assert!(ok(Kind::Access, None, AtJwtOrJwt));
        assert!(ok(Kind::Access, Some("JWT"), AtJwtOrJwt));
        assert!(ok(Kind::Access, Some("at+jwt"), AtJwtOrJwt));
        assert!(ok(Kind::Access, Some("application/at+jwt"), AtJwtOnly));
        assert!(ok(Kind::Access, Some("Application/AT+JWT"), AtJwtOnly));
        assert!(!ok(Kind::Access, Some("application/"), AtJwtOnly));
        assert!(!ok(Kind::Access, Some("JWT"), AtJwtOnly));
        assert!(!ok(Kind::Access, None, AtJwtOnly));
        assert!(!ok(Kind::Access, Some("logout+jwt"), AtJwtOrJwt));
        assert!(ok(Kind::Id, Some("JWT"), AtJwtOnly));
        assert!(!ok(Kind::Id, Some("at+jwt"), AtJwtOrJwt));
        assert!(!ok(Kind::Id, Some("logout+jwt"), AtJwtOrJwt));
    }

    #[test]
    fn at_hash_uses_the_left_half() {
        // OIDC Core example-style check: SHA-256, left 16 bytes, base64url.
        let h = half_hash(
            Algorithm::RS256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        );
        assert_eq!(h.len(), 22);
        assert_eq!(half_hash(Algorithm::EdDSA, "x").len(), 43);
        assert_eq!(half_hash(Algorithm::ES384, "x").len(), 32);
    }

    #[test]
    fn build_requires_an_audience_choice() {
        let e = TokenVerifier::builder("https://op.example")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("allow_any_audience"));
        assert!(
            TokenVerifier::builder("https://op.example")
                .allow_any_audience()
                .build()
                .is_ok()
        );
        assert!(
            TokenVerifier::builder("http://op.example")
                .audience("a")
                .build()
                .is_err()
        );
        assert!(
            TokenVerifier::builder("https://op.example")
                .audience("a")
                .hmac_secret(b"short".to_vec())
                .build()
                .is_err()
        );
        assert!(
            TokenVerifier::builder("https://op.example")
                .audience("a")
                .leeway(Duration::from_secs(86400))
                .build()
                .is_err()
        );
    }
}
