//! A short-lived, in-memory copy of the applications the token endpoint authenticates.
//!
//! Every `client_credentials` request needs the application (to check its secret) and its API
//! grants (to decide the audience and scopes). Reading both from the database on each request
//! cost two queries per token — at load, more CPU than the RSA signature itself. This cache
//! keeps what the token endpoint needs for [`CLIENT_CACHE_TTL`] after a database read.
//!
//! Consistency between instances: an instance sees a change made elsewhere (a rotated secret,
//! a deleted application, a changed grant) at most [`CLIENT_CACHE_TTL`] later — the same bound as
//! the signing-key ring. [`crate::Settings::client_cache_ttl`] sets the bound (zero turns the
//! cache off).
//!
//! Only applications that exist are cached, so unknown client ids (attacker-chosen strings)
//! never take memory; the cache also has a fixed capacity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::Clock;

use quick_cache::sync::Cache;

use crate::domain::ClientId;
use crate::error::StoreError;
use crate::store::{ApiGrant, ApplicationRecord, Store};

/// How long a cached application is trusted before it is read again.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a cached application still answers when the database is unavailable.
const STALE_IF_UNAVAILABLE: Duration = Duration::from_secs(3600);

/// Applications kept at most.
const CAPACITY: usize = 10_000;

/// An application with its API grants, by audience, in the form the token endpoint uses.
#[derive(Debug)]
pub(crate) struct CachedClient {
    pub(crate) app: ApplicationRecord,
    /// The SHA-256 of its secret, as bytes (`None` for public clients, or when the stored hash
    /// is not 64 hex digits: no secret matches then).
    secret_sha256: Option<[u8; 32]>,
    grants: HashMap<String, CachedGrant>,
    /// When it was read, in milliseconds on the server's clock.
    loaded_ms: i64,
}

/// An API grant, with its scopes also joined by spaces (the `scope` of a token that asks for
/// none in particular).
#[derive(Debug)]
pub(crate) struct CachedGrant {
    pub(crate) grant: ApiGrant,
    pub(crate) scope: String,
}

impl CachedClient {
    /// The grant of the API with this audience, if the application has one.
    pub(crate) fn grant(&self, audience: &str) -> Option<&CachedGrant> {
        self.grants.get(audience)
    }

    /// The SHA-256 of the application's secret, if it has one.
    pub(crate) fn secret_sha256(&self) -> Option<&[u8; 32]> {
        self.secret_sha256.as_ref()
    }
}

/// 64 lower-case hex digits (what [`crate::ids::hash_secret`] writes) as 32 bytes.
fn digest_from_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// See the module documentation.
pub(crate) struct ClientCache {
    entries: Cache<ClientId, Arc<CachedClient>>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl ClientCache {
    pub(crate) fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        ClientCache {
            entries: Cache::new(CAPACITY),
            ttl,
            clock,
        }
    }

    /// Whether `hit` was read less than `max` ago. A clock that went back past its reading
    /// makes it stale, not fresh for longer.
    fn younger_than(&self, hit: &CachedClient, max: Duration) -> bool {
        let age = self.clock.now_millis().saturating_sub(hit.loaded_ms);
        (0..i64::try_from(max.as_millis()).unwrap_or(i64::MAX)).contains(&age)
    }

    /// The application with this client id and its grants: from memory when read less than the
    /// TTL ago, otherwise from the store.
    pub(crate) async fn get(
        &self,
        store: &Store,
        client_id: &ClientId,
    ) -> Result<Option<Arc<CachedClient>>, StoreError> {
        let cached = self.entries.get(client_id);
        if let Some(hit) = &cached
            && self.younger_than(hit, self.ttl)
        {
            return Ok(cached);
        }
        match self.load(store, client_id).await {
            // The database is down: what was read before it went is still the best answer (no
            // one could change the application meanwhile), for a bounded time.
            Err(e) if e.is_unavailable() => match cached {
                Some(hit) if self.younger_than(&hit, STALE_IF_UNAVAILABLE) => {
                    tracing::debug!(error = %e, "database unavailable: using a cached application");
                    Ok(Some(hit))
                }
                _ => Err(e),
            },
            other => other,
        }
    }

    /// Reads the application and its grants from the store, and caches them.
    async fn load(
        &self,
        store: &Store,
        client_id: &ClientId,
    ) -> Result<Option<Arc<CachedClient>>, StoreError> {
        let Some(app) = store.application_by_client_id(client_id).await? else {
            self.entries.remove(client_id);
            return Ok(None);
        };
        let grants = store
            .application_grants(&app.id)
            .await?
            .into_iter()
            .map(|grant| {
                let scope = grant.scopes.join(" ");
                (grant.api.audience.clone(), CachedGrant { grant, scope })
            })
            .collect();
        let entry = Arc::new(CachedClient {
            secret_sha256: app
                .client_secret_sha256
                .as_deref()
                .and_then(digest_from_hex),
            app,
            grants,
            loaded_ms: self.clock.now_millis(),
        });
        if !self.ttl.is_zero() {
            self.entries.insert(client_id.clone(), entry.clone());
        }
        Ok(Some(entry))
    }
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("entries", &self.entries.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_secret_hashes_are_read_as_bytes() {
        let hex = crate::ids::hash_secret("s3cret");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"s3cret");
        assert_eq!(
            super::digest_from_hex(&hex).as_ref().map(|d| &d[..]),
            Some(digest.as_ref())
        );
        // The stored form is lower case; anything else never matched a secret and still does not.
        assert_eq!(super::digest_from_hex(&hex.to_uppercase()), None);
        assert_eq!(super::digest_from_hex(&hex[..62]), None);
        assert_eq!(super::digest_from_hex(&format!("{}zz", &hex[..62])), None);
        assert_eq!(super::digest_from_hex(&format!("{}+1", &hex[..62])), None);
    }
}
