//! What a browser sign-in keeps in the session, and how the session's tokens are renewed.
//!
//! A sign-in under way ([`PendingEntry`]: its [`PendingLogin`] — `state`, `nonce`, PKCE
//! verifier — with its `return_to`) is kept in a sealed cookie of its own, not in the session
//! (see [`crate::web::CookieKey`]): at most [`MAX_PENDING`] per browser, none older than
//! [`DEFAULT_PENDING_LOGIN_TTL`](crate::oauth::DEFAULT_PENDING_LOGIN_TTL). The session holds,
//! under [`SignedIn::SESSION_KEY`], once signed in, the [`TokenSet`] with the verified claims
//! of its access token. Never the client secret: that stays in the [`AuthClient`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::claims::Claims;
use crate::error::Error;
use crate::oauth::{AuthClient, PendingLogin, TokenSet};
use crate::verify::TokenVerifier;

/// Most sign-ins kept under way in one browser (several tabs), each in its own login cookie;
/// a new one drops the oldest first (docs/security.md case 44: the number of pending transactions
/// is capped).
pub const MAX_PENDING: usize = 5;

/// A sign-in under way: what the callback needs to finish it, sealed in its login cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingEntry {
    /// The `state`, `nonce` and PKCE verifier of the authorization request.
    pub login: PendingLogin,
    /// Where to go once signed in; already checked by [`crate::web::safe_return_to`].
    pub return_to: String,
}

/// The signed-in user of a session: its tokens and the verified claims of the access token.
/// Never the client secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    /// The tokens of the sign-in (refreshed in place).
    pub tokens: TokenSet,
    /// The verified claims of `tokens.access_token`.
    pub access_claims: Claims,
}

impl SignedIn {
    /// The session key it is kept under.
    pub const SESSION_KEY: &'static str = "portcullis.user";
}

/// How long a finished refresh is remembered, so that requests which read the session before
/// it was updated get the same new tokens instead of spending the rotated refresh token again.
const REFRESH_MEMORY: Duration = Duration::from_secs(60);

type SharedRefresh = Arc<OnceCell<Result<SignedIn, Error>>>;

/// Refreshes under way or just done, by SHA-256 of the refresh token: concurrent requests of
/// one session share one refresh (docs/security.md case 33), whatever thread they run on. Entries
/// are forgotten after a minute.
#[derive(Default)]
pub struct Refreshes(Mutex<HashMap<[u8; 32], (Instant, SharedRefresh)>>);

impl std::fmt::Debug for Refreshes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshes").finish_non_exhaustive()
    }
}

impl Refreshes {
    /// `previous` with new tokens for `refresh_token` (its own): one request to the provider for all
    /// callers with the same refresh token; the previous ID token is kept when the provider
    /// sends none. A failure that is not the end of the sign-in (a provider that cannot be reached) is
    /// forgotten, so the next caller tries again.
    pub async fn refresh(
        &self,
        client: &AuthClient,
        verifier: &TokenVerifier,
        refresh_token: &str,
        previous: &SignedIn,
    ) -> Result<SignedIn, Error> {
        let key = sha256(refresh_token);
        let cell = self.cell(key);
        let result = cell
            .get_or_init(|| renew(client, verifier, refresh_token, previous))
            .await
            .clone();
        if let Err(e) = &result
            && !ends_sign_in(e)
        {
            self.forget(key, &cell);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Instant, SharedRefresh)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cell(&self, key: [u8; 32]) -> SharedRefresh {
        let mut map = self.lock();
        map.retain(|_, (at, _)| at.elapsed() < REFRESH_MEMORY);
        map.entry(key)
            .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
            .1
            .clone()
    }

    fn forget(&self, key: [u8; 32], cell: &SharedRefresh) {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|(_, c)| Arc::ptr_eq(c, cell)) {
            map.remove(&key);
        }
    }
}

fn sha256(value: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether a refresh failure means the sign-in is over (sign in again), rather than a passing
/// problem of the provider.
pub(crate) fn ends_sign_in(e: &Error) -> bool {
    match e {
        Error::OAuth(o) => o.is_invalid_grant(),
        Error::Token(t) => t.http_status() == 401,
        _ => false,
    }
}

/// New tokens for a refresh token; the previous ID token is kept when the provider sends none.
async fn renew(
    client: &AuthClient,
    verifier: &TokenVerifier,
    refresh_token: &str,
    previous: &SignedIn,
) -> Result<SignedIn, Error> {
    let mut tokens = client.refresh(refresh_token).await?;
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
