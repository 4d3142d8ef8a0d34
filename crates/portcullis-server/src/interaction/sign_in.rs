//! [`Step::SignIn`]: the hosted sign-in form, email and password.
//!
//! `GET /oauth2/auth/sign-in?interaction=…` shows it (the link on the sign-up form: the
//! browser may switch between the two identifying forms); `POST /oauth2/auth/sign-in` checks
//! the password within the brute-force limits (docs/security.md case 96), with one answer and
//! one cost for an unknown email, a suspended account or a wrong password (case 86). A user
//! who proves who they are is [`super::signed_in`].

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Step, binding};
use crate::AppState;
use crate::error::ServerError;
use crate::pages::{self, or_server_error, redirect};
use crate::proxies::Peer;

/// `GET /oauth2/auth/sign-in?interaction=…`.
pub(crate) async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    identify_page(&state, &headers, query.as_deref(), Step::SignIn).await
}

/// The page of identifying step `step` (sign-in or sign-up form) of the interaction in
/// `query`. An interaction past identification (the user has signed in) sends the browser
/// on to its own step's page.
pub(super) async fn identify_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    step: Step,
) -> Response {
    let result = async {
        let bound = match binding::page(state, headers, query).await? {
            Ok(bound) => bound,
            Err(refusal) => return Ok(refusal),
        };
        let at = bound.interaction.step;
        if !at.identifies() {
            return Ok(redirect(&format!(
                "{}{}?interaction={}",
                state.issuer(),
                at.path(),
                bound.id
            )));
        }
        Ok(bound
            .interaction
            .form_page(step, &bound.id, &bound.record.csrf))
    }
    .await;
    or_server_error(
        result,
        "sign-in page",
        "The server could not complete the sign-in.",
    )
}

/// `POST /oauth2/auth/sign-in`: the form's submission.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Peer(ip): Peer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    or_server_error(
        advance(&state, ip, &headers, &body).await,
        "sign-in",
        "The server could not complete the sign-in.",
    )
}

async fn advance(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ServerError> {
    let (form, bound) = match binding::posted(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    if !bound.interaction.step.identifies() {
        return Ok(binding::Refusal::Expired.page());
    }
    let store = state.store();
    let now = state.now();
    let email = form.get("email").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("");
    let retry =
        |message: &str| pages::sign_in(&bound.id, &bound.record.csrf, &email, Some(message));

    // Brute force (case 96): limits per address and per (account, address).
    if let Err(limited) = crate::limits::check_sign_in(store, ip, &email, now).await {
        return Ok(limited);
    }
    let user = store.user_by_email(&email).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.is_suspended)
        .and_then(|u| u.password_hash.as_deref());
    // Unknown email, suspended account, wrong password: one answer, one cost (case 86).
    let ok = crate::passwords::verify(password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        crate::limits::record_sign_in_failure(store, ip, &email, now).await?;
        tracing::info!("failed sign-in");
        return Ok(retry("The email or password is incorrect."));
    };
    // A sign-in replaces any session this browser had (case 45).
    crate::session::end_session(state, headers).await?;
    super::signed_in(
        state,
        &bound.id,
        &bound.record,
        bound.interaction,
        &user.id,
        now,
    )
    .await
}
