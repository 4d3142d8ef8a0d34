//! What a browser sign-in keeps in the session, and how the session's tokens are renewed.
//!
//! The session holds, under [`PENDING_KEY`], the sign-ins under way (each `PendingLogin` —
//! `state`, `nonce`, PKCE verifier — with its `return_to`, keyed by `state`, at most
//! [`MAX_PENDING`]); and under [`USER_KEY`], once signed in, the `TokenSet` with the verified
//! claims of its access token. Never the client secret: that stays in the `AuthClient`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_session::Session;
use portcullis::oauth::AuthClient;
use portcullis::{Error, TokenVerifier};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::auth::Auth;
use crate::rejection::AuthRejection;
use crate::shared::SignedIn;

/// Session key of the sign-ins under way.
pub(crate) const PENDING_KEY: &str = "portcullis.pending";
/// Session key of the signed-in user.
pub(crate) const USER_KEY: &str = "portcullis.user";
/// Most sign-ins kept under way in one session (several tabs); the oldest is dropped first
/// (security.md case 44: the number of pending transactions is capped).
pub const MAX_PENDING: usize = 5;
/// How long a sign-in may stay under way (the SDK refuses older callbacks too).
pub(crate) const PENDING_TTL: Duration = portcullis::oauth::DEFAULT_PENDING_LOGIN_TTL;
/// How long a finished refresh is remembered, so that requests which read the session before
/// it was updated get the same new tokens instead of spending the rotated refresh token again.
const REFRESH_MEMORY: Duration = Duration::from_secs(60);

type SharedRefresh = Arc<OnceCell<Result<SignedIn, Error>>>;

// shared with portcullis-axum; to move into the SDK
/// Refreshes under way or just done, by SHA-256 of the refresh token: concurrent requests of
/// one session share one refresh (security.md case 33), across actix-web's worker threads.
#[derive(Default)]
pub(crate) struct Refreshes(Mutex<HashMap<[u8; 32], (Instant, SharedRefresh)>>);

impl Refreshes {
    fn cell(&self, key: [u8; 32]) -> SharedRefresh {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (at, _)| at.elapsed() < REFRESH_MEMORY);
        map.entry(key)
            .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
            .1
            .clone()
    }

    /// Forgets a failed refresh so the next request tries again.
    fn forget(&self, key: [u8; 32], cell: &SharedRefresh) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|(_, c)| Arc::ptr_eq(c, cell)) {
            map.remove(&key);
        }
    }
}

// shared with portcullis-axum; to move into the SDK
fn sha256(value: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

// shared with portcullis-axum; to move into the SDK
/// Whether a refresh failure means the sign-in is over (sign in again), rather than a passing
/// problem of the provider.
fn sign_in_ended(e: &Error) -> bool {
    match e {
        Error::OAuth(o) => o.is_invalid_grant(),
        Error::Token(t) => t.http_status() == 401,
        _ => false,
    }
}

/// The value under `key`; one that no longer deserializes is treated as absent (and logged),
/// so a change of format never locks a user out.
pub(crate) fn session_get<T: DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    match session.get::<T>(key) {
        Ok(value) => value,
        Err(_) => {
            tracing::warn!(key, "a session value does not deserialize; ignoring it");
            None
        }
    }
}

/// Stores `value` under `key`.
pub(crate) fn session_insert<T: Serialize>(
    session: &Session,
    key: &str,
    value: &T,
) -> Result<(), AuthRejection> {
    session.insert(key, value).map_err(|_| {
        tracing::error!(key, "a session value does not serialize");
        AuthRejection::Internal("the session could not be updated")
    })
}

impl Auth {
    /// The client and the verifier of the sign-in routes, when configured.
    pub(crate) fn sign_in(&self) -> Option<(&AuthClient, &TokenVerifier)> {
        let inner = self.inner();
        Some((inner.client.as_ref()?, inner.session_verifier.as_ref()?))
    }

    /// The session's signed-in user, its tokens refreshed first when they expire within the
    /// refresh margin. A sign-in that has ended (refresh refused, or expired without a refresh
    /// token) is removed from the session: `None`.
    pub(crate) async fn session_user(
        &self,
        session: &Session,
    ) -> Result<Option<SignedIn>, AuthRejection> {
        let Some(user) = session_get::<SignedIn>(session, USER_KEY) else {
            return Ok(None);
        };
        let inner = self.inner();
        let now = inner.clock.now_secs();
        let margin = i64::try_from(inner.refresh_margin.as_secs()).unwrap_or(i64::MAX);
        if !user.tokens.expires_within(now, margin) {
            return Ok(Some(user));
        }
        let expired = user.tokens.expires_within(now, 0);
        let (Some((client, verifier)), Some(refresh_token)) =
            (self.sign_in(), user.tokens.refresh_token.clone())
        else {
            if expired {
                session.remove(USER_KEY);
                return Ok(None);
            }
            return Ok(Some(user));
        };
        let key = sha256(&refresh_token);
        let cell = inner.refreshes.cell(key);
        let result = cell
            .get_or_init(|| refresh(client, verifier, refresh_token, &user))
            .await
            .clone();
        match result {
            Ok(fresh) => {
                session_insert(session, USER_KEY, &fresh)?;
                Ok(Some(fresh))
            }
            Err(e) if sign_in_ended(&e) => {
                tracing::info!(error = %e, "the session's sign-in has ended");
                session.remove(USER_KEY);
                Ok(None)
            }
            Err(e) => {
                inner.refreshes.forget(key, &cell);
                tracing::warn!(error = %e, "could not refresh the session's access token");
                if expired {
                    Err(AuthRejection::Unavailable)
                } else {
                    Ok(Some(user))
                }
            }
        }
    }
}

// shared with portcullis-axum; to move into the SDK
/// New tokens for a refresh token; the previous ID token is kept when the provider sends none.
async fn refresh(
    client: &AuthClient,
    verifier: &TokenVerifier,
    refresh_token: String,
    previous: &SignedIn,
) -> Result<SignedIn, Error> {
    let mut tokens = client.refresh(&refresh_token).await?;
    if tokens.id_token.is_none() {
        tokens.id_token = previous.tokens.id_token.clone();
        tokens.id_token_claims = previous.tokens.id_token_claims.clone();
    }
    let claims = verifier.verify_access_token(&tokens.access_token).await?;
    Ok(SignedIn {
        tokens,
        access_claims: (*claims).clone(),
    })
}
