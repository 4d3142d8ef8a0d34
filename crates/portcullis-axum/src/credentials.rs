//! Reading the bearer token of a request (RFC 6750 §2.1), strictly.

use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::rejection::AuthRejection;

/// Longest `Authorization` header read (security.md case 39: an oversized header is refused
/// before anything else looks at it).
pub(crate) const MAX_AUTHORIZATION_LEN: usize = 16 * 1024;

/// What the request carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No `Authorization` header.
    None,
    /// One well-formed `Bearer` token.
    Bearer(&'a str),
}

/// The request's bearer token.
///
/// - no `Authorization` header: [`Credentials::None`] — a token in the query string is never
///   read (RFC 9700 §4.3.2, security.md case 42);
/// - exactly one header `Bearer <b64token>` (scheme case-insensitive): the token;
/// - anything else — two headers, another scheme, no token, two tokens, characters outside
///   RFC 6750's `b64token`, a header plus `?access_token=` (case 39) — `invalid_request`.
pub(crate) fn bearer<'a>(parts: &'a Parts) -> Result<Credentials<'a>, AuthRejection> {
    let found = bearer_in(&parts.headers)?;
    if matches!(found, Credentials::Bearer(_)) && has_query_token(parts.uri.query()) {
        return Err(AuthRejection::InvalidRequest(
            "access token must only be provided using one mechanism",
        ));
    }
    Ok(found)
}

fn bearer_in(headers: &HeaderMap) -> Result<Credentials<'_>, AuthRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Credentials::None);
    };
    if values.next().is_some() {
        return Err(AuthRejection::InvalidRequest(
            "access token must only be provided using one mechanism",
        ));
    }
    let malformed = AuthRejection::InvalidRequest("invalid authorization header value format");
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthRejection::InvalidRequest(
            "the authorization header is too large",
        ));
    }
    let value = value.to_str().map_err(|_| malformed.clone())?;
    // credentials = auth-scheme 1*SP token68 (RFC 9110 §11.4, RFC 6750 §2.1).
    let (scheme, rest) = value.split_once(' ').ok_or_else(|| malformed.clone())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(malformed);
    }
    Ok(Credentials::Bearer(token))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    // A table lookup per byte: this runs on every request, over ~1 KB tokens.
    !body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)])
}

/// The bytes of `b64token` (ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/").
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// Whether the query string has an `access_token` parameter.
fn has_query_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "access_token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Request};

    fn parts(uri: &str, headers: &[&str]) -> Parts {
        let mut request = Request::builder().uri(uri);
        for h in headers {
            request = request.header(header::AUTHORIZATION, HeaderValue::from_str(h).unwrap());
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for h in [
            "Bearer abc.def-ghi_~+/==",
            "bearer abc",
            "BEARER abc",
            "Bearer  abc",
        ] {
            let p = parts("/", &[h]);
            assert!(matches!(bearer(&p), Ok(Credentials::Bearer(_))), "{h}");
        }
    }

    #[test]
    fn malformed_and_duplicated_credentials_are_invalid_requests() {
        // security.md case 39
        for h in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Basic eHl6",
            "Bearer a\tb",
            "Bearer =",
            "Bearera",
            "Bearer a=b",
        ] {
            let p = parts("/", &[h]);
            assert!(
                matches!(bearer(&p), Err(AuthRejection::InvalidRequest(_))),
                "{h:?}"
            );
        }
        let p = parts("/", &["Bearer a", "Bearer a"]);
        assert!(matches!(bearer(&p), Err(AuthRejection::InvalidRequest(_))));
        let p = parts("/x?access_token=a", &["Bearer a"]);
        assert!(matches!(bearer(&p), Err(AuthRejection::InvalidRequest(_))));
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN));
        let p = parts("/", &[&long]);
        assert!(matches!(bearer(&p), Err(AuthRejection::InvalidRequest(_))));
    }

    #[test]
    fn a_query_token_alone_is_no_credentials() {
        // security.md case 42
        let p = parts("/x?access_token=abc", &[]);
        assert_eq!(bearer(&p).unwrap(), Credentials::None);
    }
}
