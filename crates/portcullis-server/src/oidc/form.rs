//! `application/x-www-form-urlencoded` request bodies (RFC 6749 Appendix B), as the token,
//! introspection, revocation and UserInfo endpoints and the hosted forms read them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use crate::error::OAuthError;

/// The parameters of a form body. RFC 6749 §3.2: a parameter sent twice is an error — except
/// [`MAY_REPEAT`].
pub(crate) struct Form(Vec<(String, String)>);

/// The one parameter a request may repeat: RFC 8707's `resource` ("may be used multiple
/// times"), which the SDK sends once per absolute audience. This server reads `audience`, never
/// `resource`, so a repeated `resource` changes nothing.
pub(crate) const MAY_REPEAT: &str = "resource";

impl Form {
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_pairs(body) {
            if k != MAY_REPEAT && params.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {k:?} is repeated"
                )));
            }
            if params.len() >= 64 {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            params.push((k, v));
        }
        Ok(Form(params))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The name/value pairs of an `application/x-www-form-urlencoded` body, decoded exactly as
/// `url::form_urlencoded::parse` decodes them (the unit tests compare the two), in one pass
/// per component: pairs split on `&` (empty ones skipped), name and value on the first `=`;
/// `+` is a space and `%XX` a byte (a `%` without two hex digits stays as it is); invalid UTF-8
/// becomes U+FFFD.
fn form_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            (form_decode(name), form_decode(value))
        })
}

/// One component of a form body: see [`form_pairs`].
fn form_decode(input: &[u8]) -> String {
    if !input.iter().any(|b| matches!(b, b'+' | b'%')) {
        return String::from_utf8_lossy(input).into_owned();
    }
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i).copied().and_then(hex),
                input.get(i + 1).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high << 4) | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Reads a form body. A body over the limit (or one that cannot be read) is answered like every
/// other error of these endpoints: JSON, never cached.
pub(crate) fn read_form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Form, OAuthError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::body_too_large()
        } else {
            OAuthError::invalid_request("the request body could not be read")
        }
    })?;
    Form::parse(headers, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn reference(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn form_bodies_decode_like_form_urlencoded() {
        let cases: &[&[u8]] = &[
            b"",
            b"&",
            b"&&a=1&&",
            b"grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&scope=read%3Atodos+create%3Atodos",
            b"a",
            b"a=",
            b"=b",
            b"a=b=c",
            b"a+b=c+d",
            b"%2B=%2b+%20",
            b"%=%%&%4=%4g&%g4=%%41&x=%",
            b"e=%C3%A9&bad=%FF%FE&cut=%C3",
            "u=\u{e9}\u{1f600}".as_bytes(),
            b"raw=\xff\xfe&nul=%00",
            b"a=1&a=2",
        ];
        for case in cases {
            assert_eq!(
                form_pairs(case).collect::<Vec<_>>(),
                reference(case),
                "{case:?}"
            );
        }
        // Every short body over a small alphabet of the interesting bytes.
        let alphabet = b"a=&+%2Fg\xc3\xa9";
        let mut body = Vec::new();
        for n in 0..=4u32 {
            for mut code in 0..alphabet.len().pow(n) {
                body.clear();
                for _ in 0..n {
                    body.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                assert_eq!(
                    form_pairs(&body).collect::<Vec<_>>(),
                    reference(&body),
                    "{body:?}"
                );
            }
        }
    }
}
