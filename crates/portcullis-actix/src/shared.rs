//! The framework-free pieces of a web integration: reading a bearer token (RFC 6750 §2.1),
//! checking `return_to` (security.md case 37), and what a sign-in keeps in the session.
//!
//! Shared with portcullis-axum; to move into the SDK (as `portcullis::web`) so both crates
//! use one copy. Nothing here knows actix-web: headers come in as bytes, the query as a string.

use portcullis::Claims;
use portcullis::oauth::{PendingLogin, TokenSet};
use serde::{Deserialize, Serialize};

// shared with portcullis-axum; to move into the SDK
/// Longest `Authorization` header read (security.md case 39: an oversized header is refused
/// before anything else looks at it).
pub(crate) const MAX_AUTHORIZATION_LEN: usize = 16 * 1024;

// shared with portcullis-axum; to move into the SDK
/// The request's bearer token, from its `Authorization` header values and its query string.
///
/// - no `Authorization` header: `Ok(None)` — a token in the query string is never read
///   (RFC 9700 §4.3.2, security.md case 42);
/// - exactly one header `Bearer <b64token>` (scheme case-insensitive): the token;
/// - anything else — two headers, another scheme, no token, two tokens, characters outside
///   RFC 6750's `b64token`, a header plus `?access_token=` (case 39) — `Err` with the
///   `invalid_request` description.
pub(crate) fn bearer_token<'a, I>(
    authorization: I,
    query: Option<&str>,
) -> Result<Option<&'a str>, &'static str>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    const ONE_MECHANISM: &str = "access token must only be provided using one mechanism";
    const MALFORMED: &str = "invalid authorization header value format";
    let mut values = authorization.into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ONE_MECHANISM);
    }
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err("the authorization header is too large");
    }
    let value = std::str::from_utf8(value).map_err(|_| MALFORMED)?;
    // credentials = auth-scheme 1*SP token68 (RFC 9110 §11.4, RFC 6750 §2.1).
    let (scheme, rest) = value.split_once(' ').ok_or(MALFORMED)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(MALFORMED);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(MALFORMED);
    }
    if has_query_token(query) {
        return Err(ONE_MECHANISM);
    }
    Ok(Some(token))
}

// shared with portcullis-axum; to move into the SDK
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

// shared with portcullis-axum; to move into the SDK
/// Whether the query string has an `access_token` parameter.
fn has_query_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "access_token")
    })
}

// shared with portcullis-axum; to move into the SDK
/// Longest `return_to` kept.
const MAX_RETURN_TO: usize = 2048;

// shared with portcullis-axum; to move into the SDK
/// `raw` if it is a same-site relative path, else `/` (security.md case 37, RFC 9700
/// §4.11.1).
///
/// Accepted: a path starting with a single `/`, of visible ASCII without `\`, that still starts
/// with a single `/` once percent-decoded, and that a browser resolves to the same origin.
/// Refused: absolute URLs (`https://evil`), scheme-relative ones (`//evil`), backslash tricks
/// (`/\evil`), `https:evil`, `javascript:…`, encoded slashes (`%2F%2Fevil`, `/%2F/evil`), and
/// control characters (`/\t/evil`).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(path) if is_safe_path(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

// shared with portcullis-axum; to move into the SDK
fn is_safe_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    let plain = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes
            .iter()
            .all(|b| (0x21..=0x7e).contains(b) && *b != b'\\');
    if path.len() > MAX_RETURN_TO || !plain {
        return false;
    }
    let Some(decoded) = percent_decode(path) else {
        return false;
    };
    if decoded.first() != Some(&b'/')
        || decoded.get(1) == Some(&b'/')
        || decoded
            .iter()
            .any(|b| *b == b'\\' || *b < 0x20 || *b == 0x7f)
    {
        return false;
    }
    let Ok(base) = url::Url::parse("https://origin.invalid/") else {
        return false;
    };
    base.join(path)
        .is_ok_and(|u| u.origin() == base.origin() && u.username().is_empty())
}

// shared with portcullis-axum; to move into the SDK
/// `%XX` decoded once; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(headers: &[&str], query: Option<&str>) -> Result<Option<String>, &'static str> {
        bearer_token(headers.iter().map(|h| h.as_bytes()), query).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for h in [
            "Bearer abc.def-ghi_~+/==",
            "bearer abc",
            "BEARER abc",
            "Bearer  abc",
        ] {
            assert!(matches!(bearer(&[h], None), Ok(Some(_))), "{h}");
        }
    }

    #[test]
    fn case_39_malformed_and_duplicated_credentials_are_refused() {
        for h in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Basic eHl6",
            "Bearer a\tb",
            "Bearer =",
            "Bearera",
            "Bearer a=b",
            "Bearer a\0b",
        ] {
            assert!(bearer(&[h], None).is_err(), "{h:?}");
        }
        assert!(bearer(&["Bearer a", "Bearer a"], None).is_err());
        assert!(bearer(&["Bearer a"], Some("access_token=a")).is_err());
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN));
        assert!(bearer(&[&long], None).is_err());
    }

    #[test]
    fn case_42_a_query_token_alone_is_no_credentials() {
        assert_eq!(bearer(&[], Some("access_token=abc")), Ok(None));
    }

    #[test]
    fn case_37_off_site_targets_fall_back_to_the_root() {
        for evil in [
            "https://evil",
            "//evil",
            "/\\evil",
            "https:evil",
            "javascript:alert(1)",
            "%2F%2Fevil",
            "/\t/evil",
            "/\\t/evil",
            "/%2F/evil",
            "/%5Cevil",
            "/%09/evil",
            "/\n/evil",
            "",
            "evil",
            "/%zz",
            "/a b",
            "http://localhost/x",
        ] {
            assert_eq!(safe_return_to(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None), "/");
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(3000)))), "/");
        for good in ["/", "/dashboard", "/a/b?c=d&e=%20f#top"] {
            assert_eq!(safe_return_to(Some(good)), good);
        }
    }
}
