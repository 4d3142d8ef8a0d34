//! Reading the bearer token of a request (RFC 6750 §2.1), strictly.

use axum::http::header;
use axum::http::request::Parts;

use crate::rejection::AuthRejection;

/// What the request carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No `Authorization` header.
    None,
    /// One well-formed `Bearer` token.
    Bearer(&'a str),
}

/// The request's bearer token, by [`portcullis::web::bearer_token`]'s rules: no header is
/// [`Credentials::None`] (a query-string token is never read, security.md case 42); one
/// well-formed `Bearer` header is the token; anything else (case 39) is `invalid_request`.
pub(crate) fn bearer<'a>(parts: &'a Parts) -> Result<Credentials<'a>, AuthRejection> {
    let values = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    match portcullis::web::bearer_token(values, parts.uri.query()) {
        Ok(Some(token)) => Ok(Credentials::Bearer(token)),
        Ok(None) => Ok(Credentials::None),
        Err(description) => Err(AuthRejection::InvalidRequest(description)),
    }
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
        let long = format!(
            "Bearer {}",
            "a".repeat(portcullis::web::MAX_AUTHORIZATION_LEN)
        );
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
