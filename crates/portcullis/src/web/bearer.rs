//! Reading a request's bearer token strictly (RFC 6750 §2.1, docs/security.md cases 39 and 42).

/// Longest `Authorization` header read (docs/security.md case 39: an oversized header is refused
/// before anything else looks at it).
pub const MAX_AUTHORIZATION_LEN: usize = 16 * 1024;

/// The request's bearer token, from its `Authorization` header values and its query string.
///
/// - no `Authorization` header: `Ok(None)` — a token in the query string is never read
///   (RFC 9700 §4.3.2, docs/security.md case 42);
/// - one header with another scheme (`Basic …`, `Token …`): `Ok(None)` too. RFC 6750 §3.1
///   treats an unsupported authentication method like no credentials: a 401 with a bare
///   `Bearer` challenge, no error code (docs/security.md case 39);
/// - exactly one header `Bearer <b64token>` (scheme case-insensitive): the token;
/// - a malformed `Bearer` credential — no token, two tokens, characters outside RFC 6750's
///   `b64token` — two headers, or a header plus `?access_token=` (case 39): `Err` with the
///   `invalid_request` description (a 400).
pub fn bearer_token<'a, I>(
    authorization: I,
    query: Option<&str>,
) -> Result<Option<&'a str>, &'static str>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    match bearer_credentials(authorization, query)? {
        Some(token) if !is_b64token(token) => Err(MALFORMED),
        token => Ok(token),
    }
}

/// The description of a malformed `Authorization` header.
pub(crate) const MALFORMED: &str = "invalid authorization header value format";

/// [`bearer_token`] but for its last check, the token's characters: for a caller that verifies
/// the token first and looks at its characters only when verification fails (a verified token
/// is a JWS, base64url and dots, so always a `b64token`).
pub(crate) fn bearer_credentials<'a, I>(
    authorization: I,
    query: Option<&str>,
) -> Result<Option<&'a str>, &'static str>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    const ONE_MECHANISM: &str = "access token must only be provided using one mechanism";
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
    // credentials = auth-scheme [ 1*SP token68 ] (RFC 9110 §11.4, RFC 6750 §2.1).
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Not ours to judge: an unsupported method, answered like no credentials.
        return Ok(None);
    }
    if has_query_token(query) {
        return Err(ONE_MECHANISM);
    }
    match rest.trim_start_matches(' ') {
        "" => Err(MALFORMED),
        token => Ok(Some(token)),
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
///
/// It reads every byte of a ~1 KB token: as a per-byte table lookup with an early exit it was
/// the largest user-space cost of a verified-token cache hit. Now each 32-byte block is folded
/// without branches (the compiler turns it into a few vector compares) and only the verdict per
/// block is tested; and the framework guards run it only when verification fails
/// ([`WebAuth::verify_bearer_header`](super::WebAuth::verify_bearer_header)).
pub(crate) fn is_b64token(token: &str) -> bool {
    const BLOCK: usize = 32;
    let body = token.trim_end_matches('=').as_bytes();
    if body.is_empty() {
        return false;
    }
    let mut blocks = body.chunks_exact(BLOCK);
    for block in &mut blocks {
        let bad = block
            .iter()
            .fold(0u8, |bad, &b| bad | u8::from(!is_b64token_byte(b)));
        if bad != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| is_b64token_byte(b))
}

/// Whether `c` is one of `b64token`'s bytes (ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/"), without branches, in as few compares as the set allows.
#[inline(always)]
fn is_b64token_byte(c: u8) -> bool {
    // `c | 0x20` folds A-Z onto a-z and moves no other byte into a-z; "-", ".", "/" and the
    // digits are the one range 0x2D..=0x39.
    ((c | 0x20).wrapping_sub(b'a') < 26)
        | (c.wrapping_sub(b'-') <= b'9' - b'-')
        | (c == b'+')
        | (c == b'_')
        | (c == b'~')
}

/// Whether the query string has an `access_token` parameter.
fn has_query_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "access_token")
    })
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
            "bearer  ",
            "Bearer a b",
            "Bearer a\tb",
            "Bearer =",
            "Bearer a=b",
            "Bearer a\0b",
        ] {
            assert!(bearer(&[h], None).is_err(), "{h:?}");
        }
        // Another scheme is no bearer credential at all (RFC 6750 §3.1: a bare 401), even
        // with a query token, which is never read.
        for h in [
            "Basic eHl6",
            "Token abc",
            "Bearera",
            "Negotiate",
            "",
            "DPoP abc",
        ] {
            assert_eq!(bearer(&[h], None), Ok(None), "{h:?}");
            assert_eq!(bearer(&[h], Some("access_token=a")), Ok(None), "{h:?}");
        }
        assert!(
            bearer(&["Basic eHl6", "Bearer a"], None).is_err(),
            "two headers"
        );
        assert!(bearer(&["Bearer a", "Bearer a"], None).is_err());
        assert!(bearer(&["Bearer a"], Some("access_token=a")).is_err());
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN));
        assert!(bearer(&[&long], None).is_err());
    }

    #[test]
    fn b64token_bytes_are_exactly_rfc_6750s() {
        for c in 0..=u8::MAX {
            let expected =
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_byte(c), expected, "byte {c:#04x}");
        }
        // Every position of a long token is checked, in a block and in the remainder.
        let good = "aZ09-._~+/".repeat(20);
        assert!(is_b64token(&good));
        assert!(is_b64token(&format!("{good}==")));
        for at in [0, 31, 32, 63, good.len() - 1] {
            for bad in [
                ' ', '=', '\t', '%', '*', ',', ':', '@', '[', '`', '{', '\u{e9}',
            ] {
                let mut token: Vec<char> = good.chars().collect();
                token[at] = bad;
                let token: String = token.into_iter().collect();
                // A trailing '=' is padding, not a bad byte.
                let expected = bad == '=' && at == good.len() - 1;
                assert_eq!(is_b64token(&token), expected, "{bad:?} at {at}");
            }
        }
        assert!(!is_b64token("=="));
        assert!(!is_b64token(""));
    }

    #[test]
    fn case_42_a_query_token_alone_is_no_credentials() {
        assert_eq!(bearer(&[], Some("access_token=abc")), Ok(None));
    }
}
