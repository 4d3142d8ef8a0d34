//! The UserInfo endpoint (OIDC Core §5.3) and Kinde's profile endpoints, protected resources
//! in the sense of RFC 6750:
//!
//! - `GET|POST /oauth2/userinfo`: standard claims, limited to the token's `profile` / `email`
//!   scopes (OIDC Core §5.4); claims without a value are omitted (§5.3.2).
//! - `GET /oauth2/v2/user_profile`: Kinde's `{sub, id, provided_id, name, given_name,
//!   family_name, updated_at, email, picture}` (`id` = `sub`).
//! - `GET /oauth2/user_profile`: Kinde's legacy `{id, preferred_email, provided_id, last_name,
//!   first_name, picture}`.
//!
//! The Kinde shapes keep every member (clients deserialize them as fixed records): a value the
//! token's scopes do not grant, or that the user does not have, is `null`.
//!
//! The access token comes from `Authorization: Bearer` (scheme case-insensitive) or, for POST,
//! the form field `access_token` (RFC 6750 §2.2) — exactly one of them; a token in the query
//! string is refused (RFC 9700 §4.3.2, docs/security.md case 42). It must be one of this server's
//! own access tokens (signature, `iss`, `exp`, `typ: at+jwt`), not revoked, issued to an
//! application that still exists, for a user who exists and is not suspended (an M2M token's
//! `sub` is a client id: `invalid_token`), with the `openid` scope (else 403
//! `insufficient_scope`). Errors follow RFC 6750 §3 (docs/security.md cases 38-41, 75); every answer
//! is `Cache-Control: no-store`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::domain::ClientId;
use crate::oidc::Form;
use crate::store::UserRecord;

/// The realm of every Bearer challenge.
const REALM: &str = "portcullis";

/// Why a request was refused (RFC 6750 §3.1).
#[derive(Debug)]
enum BearerError {
    /// No credentials at all: 401 with a bare challenge (§3.1, last paragraph).
    NoCredentials,
    /// 400 `invalid_request`.
    InvalidRequest(&'static str),
    /// 401 `invalid_token`.
    InvalidToken(&'static str),
    /// 403 `insufficient_scope`, naming the scope needed.
    InsufficientScope(&'static str),
    /// 500; the cause is logged, never sent.
    Server,
    /// 503 `temporarily_unavailable` with `Retry-After`: the database is unavailable for now.
    Unavailable,
}

impl From<crate::error::ServerError> for BearerError {
    fn from(e: crate::error::ServerError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "userinfo failed: database unavailable");
            BearerError::Unavailable
        } else {
            tracing::error!(error = %e, "userinfo failed");
            BearerError::Server
        }
    }
}

impl From<crate::error::StoreError> for BearerError {
    fn from(e: crate::error::StoreError) -> Self {
        crate::error::ServerError::from(e).into()
    }
}

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        // Descriptions are fixed strings without `"` or `\`, so they quote as they are.
        let (status, code, description, extra) = match self {
            BearerError::NoCredentials => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"portcullis\""),
                );
                return no_store(response);
            }
            BearerError::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, "invalid_request", d, String::new())
            }
            BearerError::InvalidToken(d) => {
                (StatusCode::UNAUTHORIZED, "invalid_token", d, String::new())
            }
            BearerError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the access token lacks a scope this endpoint needs",
                format!(", scope=\"{scope}\""),
            ),
            BearerError::Unavailable => {
                let body = json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the server cannot complete the request just now: retry later",
                });
                let mut response =
                    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
                );
                return no_store(response);
            }
            BearerError::Server => {
                let body = json!({
                    "error": "server_error",
                    "error_description": "the server could not complete the request",
                });
                return no_store(
                    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response(),
                );
            }
        };
        let challenge = format!(
            "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{description}\"{extra}"
        );
        let body = json!({"error": code, "error_description": description});
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        no_store(response)
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The token of the `Authorization` header, if there is one, read by the SDK's parser (the
/// one the framework guards use): another scheme is no credentials, a malformed `Bearer`
/// credential or several headers are `invalid_request`.
fn header_token(headers: &HeaderMap) -> Result<Option<String>, BearerError> {
    let values = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes);
    match portcullis::web::bearer_token(values, None) {
        Ok(token) => Ok(token.map(str::to_owned)),
        Err(reason) => Err(BearerError::InvalidRequest(reason)),
    }
}

/// Whether the query string carries an access token (refused, never used).
fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .take(64)
            .any(|(k, _)| k == "access_token")
    })
}

/// The token of a POST body (RFC 6750 §2.2: a form body only; other bodies carry none).
fn body_token(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<String>, BearerError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Ok(None);
    }
    let body = body.map_err(|_| BearerError::InvalidRequest("the body could not be read"))?;
    let form = Form::parse(headers, &body)
        .map_err(|_| BearerError::InvalidRequest("the form body is malformed"))?;
    match form.get("access_token") {
        Some(token) if is_b64token(token) => Ok(Some(token.to_owned())),
        Some(_) => Err(BearerError::InvalidRequest(
            "the access_token parameter is malformed",
        )),
        None => Ok(None),
    }
}

/// The one access token of the request (RFC 6750 §2: exactly one method).
fn extract(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Option<Result<Bytes, BytesRejection>>,
) -> Result<String, BearerError> {
    if query_has_token(query) {
        return Err(BearerError::InvalidRequest(
            "access tokens are not accepted in the query string",
        ));
    }
    let from_header = header_token(headers)?;
    let from_body = match body {
        Some(body) => body_token(headers, body)?,
        None => None,
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest(
            "access token must only be provided using one mechanism",
        )),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(BearerError::NoCredentials),
    }
}

/// Verifies the token and loads its user.
async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<(UserRecord, Arc<portcullis::Claims>), BearerError> {
    let invalid = || BearerError::InvalidToken("the access token is invalid, expired or revoked");
    let claims = crate::oidc::own_access_token(state, token)
        .await?
        .ok_or_else(invalid)?;
    let store = state.store();
    // The application it was issued to must still exist, and must sign users in.
    let app = match claims.authorized_party().map(ClientId::parse) {
        Some(Ok(client_id)) => store.application_by_client_id(&client_id).await?,
        _ => None,
    };
    let not_user = BearerError::InvalidToken("the access token was not issued to a user");
    match app {
        Some(app) if app.app_type.signs_users_in() => {}
        _ => return Err(not_user),
    }
    let user = match claims.sub.as_deref() {
        Some(sub) => store.user_by_id(sub).await?,
        None => None,
    };
    let user = user.filter(|u| !u.is_suspended).ok_or(not_user)?;
    if !claims.has_scope("openid") {
        return Err(BearerError::InsufficientScope("openid"));
    }
    Ok((user, claims))
}

/// What a profile endpoint answers.
enum Shape {
    /// OIDC Core §5.3.2.
    Standard,
    /// `/oauth2/v2/user_profile`.
    KindeV2,
    /// `/oauth2/user_profile`.
    KindeLegacy,
}

fn render(shape: Shape, user: &UserRecord, claims: &portcullis::Claims) -> Value {
    let profile = claims.has_scope("profile");
    let email = claims.has_scope("email");
    let granted = |yes: bool, v: Option<&String>| -> Value {
        match v {
            Some(v) if yes => json!(v),
            _ => Value::Null,
        }
    };
    let name = user.full_name();
    match shape {
        Shape::Standard => {
            let mut out = Map::new();
            out.insert("sub".into(), json!(user.id));
            let mut put = |k: &str, v: Value| {
                if !v.is_null() {
                    out.insert(k.into(), v);
                }
            };
            put("name", granted(profile, name.as_ref()));
            put("given_name", granted(profile, user.given_name.as_ref()));
            put("family_name", granted(profile, user.family_name.as_ref()));
            put("picture", granted(profile, user.picture.as_ref()));
            if profile {
                put("updated_at", json!(user.updated_at));
            }
            put("email", granted(email, Some(&user.email)));
            Value::Object(out)
        }
        Shape::KindeV2 => json!({
            "sub": user.id,
            "id": user.id,
            "provided_id": granted(profile, user.provided_id.as_ref()),
            "name": granted(profile, name.as_ref()),
            "given_name": granted(profile, user.given_name.as_ref()),
            "family_name": granted(profile, user.family_name.as_ref()),
            "updated_at": if profile { json!(user.updated_at) } else { Value::Null },
            "email": granted(email, Some(&user.email)),
            "picture": granted(profile, user.picture.as_ref()),
        }),
        Shape::KindeLegacy => json!({
            "id": user.id,
            "preferred_email": granted(email, Some(&user.email)),
            "provided_id": granted(profile, user.provided_id.as_ref()),
            "last_name": granted(profile, user.family_name.as_ref()),
            "first_name": granted(profile, user.given_name.as_ref()),
            "picture": granted(profile, user.picture.as_ref()),
        }),
    }
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Option<Result<Bytes, BytesRejection>>,
    shape: Shape,
) -> Response {
    let result = async {
        let token = extract(headers, query, body)?;
        let (user, claims) = authenticate(state, &token).await?;
        Ok::<_, BearerError>(render(shape, &user, &claims))
    }
    .await;
    match result {
        Ok(body) => no_store(axum::Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

/// `GET /oauth2/userinfo`.
pub(crate) async fn userinfo_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&state, &headers, query.as_deref(), None, Shape::Standard).await
}

/// `POST /oauth2/userinfo` (the token in the header or in a form body).
pub(crate) async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(
        &state,
        &headers,
        query.as_deref(),
        Some(body),
        Shape::Standard,
    )
    .await
}

/// `GET /oauth2/v2/user_profile` (Kinde).
pub(crate) async fn user_profile_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&state, &headers, query.as_deref(), None, Shape::KindeV2).await
}

/// `GET /oauth2/user_profile` (Kinde, legacy).
pub(crate) async fn user_profile_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&state, &headers, query.as_deref(), None, Shape::KindeLegacy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_header_parsing() {
        for ok in [
            "Bearer abc.def-ghi",
            "bearer abc",
            "BEARER abc==",
            "Bearer  a/b+c~",
        ] {
            assert!(matches!(header_token(&headers(&[ok])), Ok(Some(_))), "{ok}");
        }
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer =abc",
            "Bearer a\"b",
        ] {
            assert!(
                matches!(
                    header_token(&headers(&[bad])),
                    Err(BearerError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            header_token(&headers(&["Bearer a", "Bearer b"])),
            Err(BearerError::InvalidRequest(_))
        ));
        assert!(matches!(header_token(&HeaderMap::new()), Ok(None)));
        for other in ["Basic xyz", "Token abc", "Bearerabc", ""] {
            assert!(
                matches!(header_token(&headers(&[other])), Ok(None)),
                "{other:?}"
            );
        }
    }

    #[test]
    fn query_tokens_are_noticed() {
        assert!(query_has_token(Some("x=1&access_token=abc")));
        assert!(!query_has_token(Some("x=1")));
        assert!(!query_has_token(None));
    }
}
