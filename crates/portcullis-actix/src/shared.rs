//! What a sign-in keeps in the session. (Bearer parsing and `return_to` live in
//! `portcullis::web`.)
//!
//! Shared with portcullis-axum; to move into the SDK (as `portcullis::web`) so both crates
//! use one copy. Nothing here knows actix-web.

use portcullis::Claims;
use portcullis::oauth::{PendingLogin, TokenSet};
use serde::{Deserialize, Serialize};

// shared with portcullis-axum; to move into the SDK
/// A sign-in under way, kept in the session by its `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingEntry {
    pub login: PendingLogin,
    /// Already checked by [`safe_return_to`].
    pub return_to: String,
}

// shared with portcullis-axum; to move into the SDK
/// Adds `entry` to the sign-ins under way: expired ones (older than `ttl_secs` at `now`) are
/// dropped, then the oldest beyond `max` (security.md case 44).
pub(crate) fn push_pending(
    pending: &mut Vec<PendingEntry>,
    entry: PendingEntry,
    now: i64,
    ttl_secs: i64,
    max: usize,
) {
    pending.retain(|p| now.saturating_sub(p.login.created_at()) <= ttl_secs);
    while pending.len() >= max.max(1) {
        pending.remove(0);
    }
    pending.push(entry);
}

// shared with portcullis-axum; to move into the SDK
/// Takes the sign-in that `state` belongs to out of `pending` (single use, security.md case
/// 27). The comparison is over public values of this browser's own session.
pub(crate) fn take_pending(pending: &mut Vec<PendingEntry>, state: &str) -> Option<PendingEntry> {
    let at = pending.iter().position(|p| p.login.state() == state)?;
    Some(pending.remove(at))
}

// shared with portcullis-axum; to move into the SDK
/// The signed-in user of a session: its tokens and the verified claims of the access token.
/// Never the client secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SignedIn {
    pub tokens: TokenSet,
    /// The verified claims of `tokens.access_token`.
    pub access_claims: Claims,
}
