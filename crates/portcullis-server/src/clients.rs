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
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use crate::error::StoreError;
use crate::store::{ApiGrant, ApplicationRecord, Store};

/// How long a cached application is trusted before it is read again.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Applications kept at most.
const CAPACITY: usize = 10_000;

/// An application with its API grants, by audience.
#[derive(Debug)]
pub(crate) struct CachedClient {
    pub(crate) app: ApplicationRecord,
    grants: HashMap<String, ApiGrant>,
    loaded: Instant,
}

impl CachedClient {
    /// The grant of the API with this audience, if the application has one.
    pub(crate) fn grant(&self, audience: &str) -> Option<&ApiGrant> {
        self.grants.get(audience)
    }
}

/// See the module documentation.
pub(crate) struct ClientCache {
    entries: Cache<String, Arc<CachedClient>>,
    ttl: Duration,
}

impl ClientCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ClientCache {
            entries: Cache::new(CAPACITY),
            ttl,
        }
    }

    /// The application with this client id and its grants: from memory when read less than the
    /// TTL ago, otherwise from the store.
    pub(crate) async fn get(
        &self,
        store: &Store,
        client_id: &str,
    ) -> Result<Option<Arc<CachedClient>>, StoreError> {
        if let Some(hit) = self.entries.get(client_id)
            && hit.loaded.elapsed() < self.ttl
        {
            return Ok(Some(hit));
        }
        let Some(app) = store.application_by_client_id(client_id).await? else {
            self.entries.remove(client_id);
            return Ok(None);
        };
        let grants = store
            .application_grants(&app.id)
            .await?
            .into_iter()
            .map(|g| (g.api.audience.clone(), g))
            .collect();
        let entry = Arc::new(CachedClient {
            app,
            grants,
            loaded: Instant::now(),
        });
        if !self.ttl.is_zero() {
            self.entries.insert(client_id.to_owned(), entry.clone());
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
