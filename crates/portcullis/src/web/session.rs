//! What the sign-in flow needs from a server-side session, behind a small trait
//! ([`AuthSession`]), so that the framework crates' use of sessions does not tie an app to one
//! release of `tower-sessions` or `actix-session`: each crate implements it for its session
//! library, and an app can implement it for another.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A boxed future, as [`AuthSession`]'s methods return (the trait is object-safe). It is
/// `Send`, so a handler holding one stays `Send`.
pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionError>> + Send + 'a>>;

/// The session store failed (or a stored value no longer deserializes).
#[derive(Debug, Clone, thiserror::Error)]
#[error("session error: {0}")]
pub struct SessionError(String);

impl SessionError {
    /// An error with this message (never put a token or secret in it).
    pub fn new(message: impl Into<String>) -> Self {
        SessionError(message.into())
    }
}

/// A server-side session, as the sign-in routes and the session fallback of the framework
/// crates' `Authenticated` use it: JSON values by key, a new id after sign-in, and an end.
///
/// No `Send`/`Sync` bound: actix-web's sessions live on one worker thread (an implementation
/// for them does its work before returning a ready future). Where handlers must be `Send`
/// (axum), use `dyn AuthSession + Send + Sync`.
pub trait AuthSession {
    /// The value under `key`, if any.
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>>;
    /// Stores `value` under `key`.
    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()>;
    /// Removes the value under `key`.
    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, ()>;
    /// Gives the session a new id, keeping its data, and invalidates the old id (session
    /// fixation, docs/security.md case 45).
    fn cycle_id(&self) -> SessionFuture<'_, ()>;
    /// Deletes the session, server-side and in the browser.
    fn flush(&self) -> SessionFuture<'_, ()>;
}

/// The value under `key`, deserialized. A value that no longer fits `T` is treated as absent
/// (and logged), so a change of format never locks a user out.
pub(crate) async fn get<T: DeserializeOwned, S: AuthSession + ?Sized>(
    session: &S,
    key: &str,
) -> Result<Option<T>, SessionError> {
    match session.get_value(key).await? {
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
pub(crate) async fn insert<T: Serialize, S: AuthSession + ?Sized>(
    session: &S,
    key: &str,
    value: &T,
) -> Result<(), SessionError> {
    let value = serde_json::to_value(value)
        .map_err(|_| SessionError::new(format!("the value of {key} does not serialize")))?;
    session.insert_value(key, value).await
}
