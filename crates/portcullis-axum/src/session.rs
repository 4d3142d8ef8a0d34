//! What the sign-in routes need from a session, behind a small trait ([`AuthSession`]), so the
//! crate's own use of sessions does not tie your app to one `tower-sessions` release: it is
//! implemented for [`tower_sessions::Session`], and you can implement it for another session
//! type and tell [`crate::AuthBuilder::session_source`] where to find it.
//!
//! [`session_layer`] makes a `tower-sessions` layer with the cookie settings the sign-in flow
//! needs (security.md case 44).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

/// The name of the session cookie set by [`session_layer`]. The `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2).
pub const SESSION_COOKIE: &str = "__Host-portcullis";

/// A boxed future, as [`AuthSession`]'s methods return (the trait is object-safe).
pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionError>> + Send + 'a>>;

/// The session store failed (or a stored value no longer deserializes).
#[derive(Debug, Clone)]
pub struct SessionError(String);

impl SessionError {
    /// An error with this message (never put a token or secret in it).
    pub fn new(message: impl Into<String>) -> Self {
        SessionError(message.into())
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session error: {}", self.0)
    }
}

impl std::error::Error for SessionError {}

/// A server-side session, as the sign-in routes and the session fallback of
/// [`crate::Authenticated`] use it: JSON values by key, a new id after sign-in, and an end.
pub trait AuthSession: Send + Sync {
    /// The value under `key`, if any.
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>>;
    /// Stores `value` under `key`.
    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()>;
    /// Removes the value under `key`.
    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, ()>;
    /// Gives the session a new id, keeping its data, and invalidates the old id (session
    /// fixation, security.md case 45).
    fn cycle_id(&self) -> SessionFuture<'_, ()>;
    /// Deletes the session, server-side and in the browser.
    fn flush(&self) -> SessionFuture<'_, ()>;
}

impl dyn AuthSession + '_ {
    /// The value under `key`, deserialized. A value that no longer fits `T` is treated as
    /// absent (and logged), so a change of format never locks a user out.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        match self.get_value(key).await? {
            None => Ok(None),
            Some(value) => match serde_json::from_value(value) {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    tracing::warn!(key, "a session value does not deserialize; ignoring it");
                    Ok(None)
                }
            },
        }
    }

    /// Stores `value` under `key`, serialized.
    pub async fn insert<T: Serialize>(&self, key: &str, value: &T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value)
            .map_err(|_| SessionError::new(format!("the value of {key} does not serialize")))?;
        self.insert_value(key, value).await
    }

    /// Removes the value under `key`.
    pub async fn remove(&self, key: &str) -> Result<(), SessionError> {
        self.remove_value(key).await
    }
}

impl AuthSession for tower_sessions::Session {
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>> {
        Box::pin(async move {
            tower_sessions::Session::get_value(self, key)
                .await
                .map_err(store_error)
        })
    }

    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            tower_sessions::Session::insert_value(self, key, value)
                .await
                .map(|_| ())
                .map_err(store_error)
        })
    }

    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            tower_sessions::Session::remove_value(self, key)
                .await
                .map(|_| ())
                .map_err(store_error)
        })
    }

    fn cycle_id(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move {
            tower_sessions::Session::cycle_id(self)
                .await
                .map_err(store_error)
        })
    }

    fn flush(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move {
            tower_sessions::Session::flush(self)
                .await
                .map_err(store_error)
        })
    }
}

fn store_error(e: tower_sessions::session::Error) -> SessionError {
    SessionError::new(e.to_string())
}

/// Finds the session of a request: see [`crate::AuthBuilder::session_source`].
pub type SessionSource = Arc<dyn Fn(&Parts) -> Option<Arc<dyn AuthSession>> + Send + Sync>;

/// The default [`SessionSource`]: the [`tower_sessions::Session`] that a
/// [`SessionManagerLayer`] put in the request.
pub(crate) fn tower_sessions_source() -> SessionSource {
    Arc::new(|parts: &Parts| {
        parts
            .extensions
            .get::<tower_sessions::Session>()
            .cloned()
            .map(|s| Arc::new(s) as Arc<dyn AuthSession>)
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
/// use tower_sessions::MemoryStore;
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
