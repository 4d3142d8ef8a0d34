//! Sessions for the sign-in routes. What they need of a session is a small trait of the SDK
//! ([`AuthSession`], re-exported here), so the crate's own use of sessions does not tie your
//! app to one `tower-sessions` release: it is implemented for [`tower_sessions::Session`], and
//! you can implement it for another session type and tell
//! [`crate::AuthBuilder::session_source`] where to find it.
//!
//! [`session_layer`] makes a `tower-sessions` layer with the cookie settings the sign-in flow
//! needs (docs/security.md case 44).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::request::Parts;
pub use portcullis::web::{AuthSession, SessionError, SessionFuture};
use portcullis::web::{MemorySessions, expiry_after};
use serde_json::Value;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::{Duration as CookieDuration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore, session_store};

/// The name of the session cookie set by [`session_layer`]. The `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2).
pub const SESSION_COOKIE: &str = "__Host-portcullis";

/// A request's session, as a [`SessionSource`] finds it.
pub type SharedSession = Arc<dyn AuthSession + Send + Sync>;

/// [`AuthSession`] over a [`tower_sessions::Session`].
#[derive(Debug, Clone)]
pub struct TowerSession(pub tower_sessions::Session);

impl AuthSession for TowerSession {
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>> {
        Box::pin(async move { self.0.get_value(key).await.map_err(store_error) })
    }

    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            self.0
                .insert_value(key, value)
                .await
                .map(|_| ())
                .map_err(store_error)
        })
    }

    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            self.0
                .remove_value(key)
                .await
                .map(|_| ())
                .map_err(store_error)
        })
    }

    fn cycle_id(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move { self.0.cycle_id().await.map_err(store_error) })
    }

    fn flush(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move { self.0.flush().await.map_err(store_error) })
    }
}

fn store_error(e: tower_sessions::session::Error) -> SessionError {
    SessionError::new(e.to_string())
}

/// Finds the session of a request: see [`crate::AuthBuilder::session_source`].
pub type SessionSource = Arc<dyn Fn(&Parts) -> Option<SharedSession> + Send + Sync>;

/// The default [`SessionSource`]: the [`tower_sessions::Session`] that a
/// [`SessionManagerLayer`] put in the request.
pub(crate) fn tower_sessions_source() -> SessionSource {
    Arc::new(|parts: &Parts| {
        parts
            .extensions
            .get::<tower_sessions::Session>()
            .cloned()
            .map(|s| Arc::new(TowerSession(s)) as SharedSession)
    })
}

/// A `tower-sessions` layer over `store` with the cookie the sign-in flow needs:
/// named [`SESSION_COOKIE`] (`__Host-` prefix), `Secure`, `HttpOnly`, `SameSite=Lax` (the
/// provider's redirect back to `/callback` is a cross-site top-level navigation: `Strict` would
/// drop the cookie), `Path=/`, no `Domain`, and ended after 8 hours without activity.
///
/// Browsers keep `Secure` cookies of `http://localhost` too, so this works in local
/// development; for another plain-http host, build your own `SessionManagerLayer`.
///
/// ```
/// use portcullis_axum::session::session_layer;
/// use portcullis_axum::MemoryStore;
///
/// let layer = session_layer(MemoryStore::default());
/// # let _ = layer;
/// ```
pub fn session_layer<S: SessionStore + Clone>(store: S) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(CookieDuration::hours(8)))
}

/// A `tower-sessions` store in this process's memory, bounded: at most
/// [`MemoryStore::DEFAULT_CAPACITY`] sessions (or [`MemoryStore::with_capacity`]). Expired
/// sessions are never served and are swept out at least every minute of writes; when it is
/// full of live sessions, the one closest to expiring is dropped (that user signs in again).
/// (`tower_sessions::MemoryStore` keeps every session ever made.)
///
/// Clones share the sessions. Sessions end when the process does; use a Redis store (e.g.
/// `tower-sessions-redis-store`) for several instances.
///
/// ```
/// use portcullis_axum::{MemoryStore, session_layer};
///
/// let layer = session_layer(MemoryStore::default());
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<MemorySessions<Id, Record>>,
}

impl MemoryStore {
    /// Most sessions kept by [`MemoryStore::default`].
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store of at most `capacity` sessions (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            sessions: Arc::new(MemorySessions::with_capacity(capacity)),
        }
    }

    /// How many sessions it holds (expired ones included until they are swept out).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether it holds no session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemoryStore").field(&self.sessions).finish()
    }
}

/// When a record expires, as an `Instant` (now when it already has).
fn expiry(record: &Record) -> Instant {
    let left = (record.expiry_date - OffsetDateTime::now_utc()).whole_seconds();
    expiry_after(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

/// The future of a [`SessionStore`] method (the trait is declared with `async_trait`).
type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = session_store::Result<T>> + Send + 'a>>;

impl SessionStore for MemoryStore {
    fn create<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 mut Record,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            // Session id collision mitigation, as tower-sessions' own stores do.
            while self.sessions.contains(&record.id) {
                record.id = Id::default();
            }
            self.sessions
                .insert(record.id, record.clone(), expiry(record));
            Ok(())
        })
    }

    fn save<'life0, 'life1, 'async_trait>(
        &'life0 self,
        record: &'life1 Record,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.sessions
                .insert(record.id, record.clone(), expiry(record));
            Ok(())
        })
    }

    fn load<'life0, 'life1, 'async_trait>(
        &'life0 self,
        session_id: &'life1 Id,
    ) -> StoreFuture<'async_trait, Option<Record>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { Ok(self.sessions.get(session_id)) })
    }

    fn delete<'life0, 'life1, 'async_trait>(
        &'life0 self,
        session_id: &'life1 Id,
    ) -> StoreFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.sessions.remove(session_id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_in: CookieDuration) -> Record {
        let mut data = std::collections::HashMap::new();
        data.insert("k".to_owned(), Value::from("v"));
        Record {
            id: Id::default(),
            data,
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn keeps_deletes_expires_and_stays_bounded() {
        let store = MemoryStore::with_capacity(3);
        let mut a = record(CookieDuration::hours(1));
        store.create(&mut a).await.unwrap();
        assert_eq!(store.load(&a.id).await.unwrap(), Some(a.clone()));
        store.delete(&a.id).await.unwrap();
        assert_eq!(store.load(&a.id).await.unwrap(), None);
        // Expired sessions are not served.
        let mut gone = record(CookieDuration::seconds(-1));
        store.create(&mut gone).await.unwrap();
        assert_eq!(store.load(&gone.id).await.unwrap(), None);
        // Bounded: the soonest to expire goes first.
        let mut short = record(CookieDuration::minutes(1));
        store.create(&mut short).await.unwrap();
        for _ in 0..5 {
            store
                .create(&mut record(CookieDuration::hours(1)))
                .await
                .unwrap();
        }
        assert!(store.len() <= 3);
        assert_eq!(store.load(&short.id).await.unwrap(), None);
    }
}
