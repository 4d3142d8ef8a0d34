//! Sessions for the sign-in routes, on [`actix-session`](actix_session).
//!
//! [`session_middleware`] makes a `SessionMiddleware` with the cookie the sign-in flow needs
//! (docs/security.md case 44), over any `actix_session::storage::SessionStore`:
//!
//! - [`MemoryStore`] (this crate): server-side, in this process, bounded. The default for one
//!   instance and for development.
//! - `actix_session::storage::RedisSessionStore` (feature `redis-session` of this crate):
//!   server-side in Redis, for several instances.
//!
//! Why not actix-session's `CookieSessionStore`: it keeps the whole session — the tokens — in
//! the browser's cookie. Sign-out then cannot revoke anything server-side (an old cookie
//! replayed after sign-out, or from before a session renewal, would still be signed in:
//! docs/security.md cases 45 and 47 fail), and the tokens of a Kinde-style provider (permissions,
//! roles, flags, ID token) easily outgrow a 4 KiB cookie. Server-side stores keep only a
//! random 64-character key in the cookie, encrypted and authenticated (AES-GCM, the
//! middleware's `Key`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key,
};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Key, SameSite};
use portcullis::web::{AuthSession, MemorySessions, SessionError, SessionFuture, expiry_after};
use serde_json::Value;

/// The name of the session cookie set by [`session_middleware`]. The `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain` (RFC 6265bis
/// §4.1.3.2).
pub const SESSION_COOKIE: &str = "__Host-portcullis";

/// How long a session lives without a request.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// An actix-session middleware over `store` with the cookie the sign-in flow needs: named
/// [`SESSION_COOKIE`] (`__Host-` prefix), `Secure`, `HttpOnly`, `SameSite=Lax` (the
/// provider's redirect back to `/callback` is a cross-site top-level navigation: `Strict`
/// would drop the cookie), `Path=/`, no `Domain`, its value encrypted with `key`, and ended
/// after [`SESSION_IDLE_TIMEOUT`] without a request (every request extends it).
///
/// `key` encrypts the cookie (which holds only the session's random key): use
/// `Key::generate()` for one process, or the same 64-byte key on every instance sharing a
/// Redis store (`Key::from(bytes)`, from your secret store). Browsers keep `Secure` cookies of
/// `http://localhost` too, so this works in local development.
///
/// Wrap it around the whole app, outside any guard middleware: `App::new().wrap(…)` is
/// applied last, so it runs first.
///
/// ```
/// use actix_web::cookie::Key;
/// use portcullis_actix::session::{MemoryStore, session_middleware};
///
/// let store = MemoryStore::default();
/// let key = Key::generate();
/// // In the `HttpServer::new` factory:
/// let middleware = session_middleware(store.clone(), key.clone());
/// # let _ = middleware;
/// ```
pub fn session_middleware<S: SessionStore>(store: S, key: Key) -> SessionMiddleware<S> {
    SessionMiddleware::builder(store, key)
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_secure(true)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".to_owned())
        .cookie_domain(None)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(CookieDuration::seconds(
                    SESSION_IDLE_TIMEOUT.as_secs() as i64
                ))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
        .build()
}

/// [`AuthSession`] (what the SDK's sign-in logic needs of a session) over an
/// [`actix_session::Session`]. Its operations are synchronous (the middleware loads the
/// session before the handler and saves it after), so each future is ready at once.
pub(crate) struct ActixSession(pub(crate) actix_session::Session);

fn ready<'a, T: Send + 'a>(result: Result<T, SessionError>) -> SessionFuture<'a, T> {
    Box::pin(std::future::ready(result))
}

impl AuthSession for ActixSession {
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>> {
        // A value that no longer parses is absent (and logged): a change of format never
        // locks a user out.
        ready(Ok(self.0.get::<Value>(key).unwrap_or_else(|_| {
            tracing::warn!(key, "a session value does not deserialize; ignoring it");
            None
        })))
    }

    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()> {
        ready(
            self.0
                .insert(key, value)
                .map_err(|_| SessionError::new(format!("the value of {key} does not serialize"))),
        )
    }

    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, ()> {
        self.0.remove(key);
        ready(Ok(()))
    }

    fn cycle_id(&self) -> SessionFuture<'_, ()> {
        // A new session key; the middleware deletes the old one from the store.
        self.0.renew();
        ready(Ok(()))
    }

    fn flush(&self) -> SessionFuture<'_, ()> {
        // Purged here; the middleware deletes it from the store and the browser on the way
        // out.
        self.0.purge();
        ready(Ok(()))
    }
}

/// A server-side session store in this process's memory, bounded: at most
/// [`MemoryStore::DEFAULT_CAPACITY`] sessions (or [`MemoryStore::with_capacity`]). Expired
/// sessions are never served and are swept out at least every minute of writes; when it is
/// full of live sessions, the one closest to expiring is dropped (that user signs in again).
///
/// Clones share the sessions: create one store, outside the `HttpServer::new` factory, and
/// clone it into each worker's middleware. Sessions end when the process does; use Redis for
/// several instances.
#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<MemorySessions<String, HashMap<String, String>>>,
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

    fn expiry(ttl: &CookieDuration) -> Instant {
        expiry_after(Duration::from_secs(
            u64::try_from(ttl.whole_seconds()).unwrap_or(0),
        ))
    }

    fn put(&self, state: HashMap<String, String>, ttl: &CookieDuration) -> SessionKey {
        let key = generate_session_key();
        self.sessions
            .insert(key.as_ref().to_owned(), state, Self::expiry(ttl));
        key
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

impl SessionStore for MemoryStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        Ok(self.sessions.get(&session_key.as_ref().to_owned()))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        Ok(self.put(session_state, ttl))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let key = session_key.as_ref().to_owned();
        if self
            .sessions
            .update(&key, session_state.clone(), Self::expiry(ttl))
        {
            return Ok(session_key);
        }
        // Gone meanwhile (expired, evicted, signed out elsewhere): a new session, never the
        // old key brought back.
        Ok(self.put(session_state, ttl))
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        self.sessions
            .touch(&session_key.as_ref().to_owned(), Self::expiry(ttl));
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        self.sessions.remove(&session_key.as_ref().to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(v: &str) -> HashMap<String, String> {
        HashMap::from([("k".to_owned(), v.to_owned())])
    }

    #[actix_web::test]
    async fn keeps_deletes_expires_and_stays_bounded() {
        let store = MemoryStore::with_capacity(3);
        let hour = CookieDuration::hours(1);
        let a = store.save(state("a"), &hour).await.unwrap();
        assert_eq!(store.load(&a).await.unwrap(), Some(state("a")));
        // Keys are 64 random alphanumerics (> 128 bits, docs/security.md case 46).
        assert_eq!(a.as_ref().len(), 64);
        let a = store.update(a, state("a2"), &hour).await.unwrap();
        assert_eq!(store.load(&a).await.unwrap(), Some(state("a2")));
        store.delete(&a).await.unwrap();
        assert_eq!(store.load(&a).await.unwrap(), None);
        // An update of a deleted session makes a new one under a new key.
        let a_again: SessionKey = String::from(a).try_into().unwrap();
        let b = store.update(a_again, state("b"), &hour).await.unwrap();
        assert_eq!(store.load(&b).await.unwrap(), Some(state("b")));
        // Expired sessions are not served.
        let gone = store.save(state("x"), &CookieDuration::ZERO).await.unwrap();
        assert_eq!(store.load(&gone).await.unwrap(), None);
        // Bounded: the oldest-expiring goes first.
        let short = store
            .save(state("s"), &CookieDuration::minutes(1))
            .await
            .unwrap();
        for _ in 0..5 {
            store.save(state("n"), &hour).await.unwrap();
        }
        assert!(store.len() <= 3);
        assert_eq!(store.load(&short).await.unwrap(), None);
    }
}
