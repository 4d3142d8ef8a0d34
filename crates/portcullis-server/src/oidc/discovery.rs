//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0, RFC 8414) and the key set at
//! `GET /.well-known/jwks.json` (and Kinde's `/.well-known/jwks`).
//!
//! The document is the SDK's own [`ProviderMetadata`] type, so what the server says and what
//! the SDK reads are one wire type. It advertises exactly what is implemented.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis::discovery::ProviderMetadata;

use crate::AppState;
use crate::oidc::token::GrantType;

/// The scopes this server knows.
const SCOPES: [&str; 4] = ["openid", "profile", "email", "offline"];
/// The claims of ID tokens and UserInfo answers.
const CLAIMS: [&str; 16] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "email",
    "given_name",
    "family_name",
    "name",
    "picture",
    "updated_at",
    "org_codes",
];

/// The discovery document of this server.
pub(crate) fn metadata(state: &AppState) -> ProviderMetadata {
    let issuer = state.issuer();
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    let mut doc = ProviderMetadata::kinde_defaults(issuer);
    doc.userinfo_endpoint = Some(format!("{issuer}/oauth2/userinfo"));
    doc.grant_types_supported = strings(&GrantType::ADVERTISED.map(GrantType::as_str));
    doc.code_challenge_methods_supported = strings(&["S256"]);
    doc.prompt_values_supported = strings(&["none", "login", "create"]);
    doc.claims_supported = strings(&CLAIMS);
    doc.authorization_response_iss_parameter_supported = true;
    // Request objects are refused (docs/security.md case 60); OIDC Discovery defaults
    // request_uri_parameter_supported to true, so say so explicitly.
    doc.request_parameter_supported = Some(false);
    doc.request_uri_parameter_supported = Some(false);
    doc.token_endpoint_auth_methods_supported =
        strings(&["client_secret_basic", "client_secret_post", "none"]);
    // RFC 8414 §2: client authentication methods or access token types (RFC 7662 §2.1).
    doc.introspection_endpoint_auth_methods_supported =
        strings(&["client_secret_basic", "client_secret_post", "Bearer"]);
    doc.revocation_endpoint_auth_methods_supported =
        strings(&["client_secret_basic", "client_secret_post"]);
    doc.response_types_supported = strings(&["code"]);
    doc.subject_types_supported = strings(&["public"]);
    doc.id_token_signing_alg_values_supported = strings(&[state.inner.keys_algorithm.as_str()]);
    doc.scopes_supported = strings(&SCOPES);
    doc
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(metadata(&state)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/jwks.json` and `/.well-known/jwks`.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    match state.inner.keys.ring(state.now()).await {
        Ok(ring) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            ring.jwks_json.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot load the key set");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
