//! The client-credentials token cache: one token per (audience, scopes), reused until shortly
//! before it expires, shared by every clone of the [`super::AuthClient`]; concurrent callers of
//! one key wait for a single request.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::response::TokenResponse;

/// Distinct (audience, scopes) keys kept at most; beyond it, the cache starts over (a program
/// asking for that many distinct audiences is not caching anything useful).
const MAX_KEYS: usize = 256;

/// An access token of the application itself, from the client credentials grant.
#[derive(Clone)]
pub struct ClientToken {
    access_token: String,
    expires_at: Option<i64>,
    scopes: Vec<String>,
    /// Unix seconds after which the cache fetches a new token.
    renew_at: i64,
}

impl ClientToken {
    pub(crate) fn new(response: TokenResponse, now: i64, requested: &[&str]) -> Self {
        // Renew when 10 % of the lifetime (at most 60 s, at least 1 s) is left.
        let (expires_at, renew_at) = match response.expires_in {
            Some(ttl) => {
                let margin = (ttl / 10).clamp(1, 60);
                (Some(now + ttl), now + ttl - margin)
            }
            // No expiry given: reuse it for a minute at most.
            None => (None, now + 60),
        };
        ClientToken {
            access_token: response.access_token,
            expires_at,
            scopes: response
                .scope
                .unwrap_or_else(|| requested.iter().map(|s| (*s).to_owned()).collect()),
            renew_at,
        }
    }

    /// The access token (send it as `Authorization: Bearer …`).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// When it expires (Unix seconds), if the provider said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub(crate) fn is_fresh(&self, now: i64) -> bool {
        now < self.renew_at
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientToken")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<ClientToken>>>>;

#[derive(Debug, Default)]
pub(crate) struct Cache {
    slots: Mutex<HashMap<(String, Vec<String>), Slot>>,
}

impl Cache {
    /// The slot of one (audience, scopes) key; scopes are compared as a set.
    pub(crate) fn slot(&self, audience: &str, scopes: &[&str]) -> Slot {
        let mut scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let mut slots = match self.slots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slots.len() >= MAX_KEYS && !slots.contains_key(&(audience.to_owned(), scopes.clone())) {
            slots.clear();
        }
        slots
            .entry((audience.to_owned(), scopes))
            .or_default()
            .clone()
    }
}
