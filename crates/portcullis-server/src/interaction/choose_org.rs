//! [`Step::ChooseOrganization`]: the hosted organization chooser. A user who belongs to
//! several organizations signs in (or comes back with a single sign-on session) for a request
//! that names no `org_code`.
//!
//! 1. Instead of issuing a code, [`super::proceed`] moves to a new interaction (new id, new
//!    CSRF token) at this step that records who signed in, bound to the browser that signed in
//!    — the sign-in's binding cookie, or, on single sign-on where there was no form, a fresh
//!    one — and answers `303` to `GET /oauth2/auth/choose-org?interaction=…`.
//! 2. [`choose_org_page`] shows that browser the user's organizations (names escaped, codes
//!    shown next to them so that two of the same name differ) as radio buttons in a fieldset.
//! 3. [`choose_org`] (`POST /oauth2/auth/choose-org`) checks, in order: the interaction, the
//!    browser cookie, the CSRF token and a same-site post (400 / 403, like the other forms);
//!    that the interaction stands at this step; that this browser's session is still the one
//!    of the user who signed in (signed out meanwhile: 400, start again); then that the posted
//!    `org_code` is one of the user's organizations *now*, read from the store — nothing in
//!    the form is trusted. None chosen: the chooser again, `400`; not a member (a forged code,
//!    or a membership removed meanwhile): the chooser again with the current list, `403`, and
//!    no code. A member's choice ends the interaction and redirects back with a code for that
//!    organization, `state` and `iss` (and the code is only issued after
//!    [`crate::oidc::authorization::issue_code`] checks the membership once more).
//!
//! `prompt=none` never shows the chooser (it shows no page): such a request without `org_code`
//! is answered with no organization, as before. Re-choosing (`prompt=select_account`) is not
//! supported: an app that wants another organization names it with `org_code`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Step, binding, complete, session_of, signed_out};
use crate::AppState;
use crate::error::ServerError;
use crate::pages::{self, or_server_error};

/// The chooser for `user_id`'s organizations as they are now; an error page when none is
/// left.
async fn chooser(
    state: &AppState,
    status: StatusCode,
    bound: &binding::Bound,
    user_id: &str,
    error: Option<&str>,
) -> Result<Response, ServerError> {
    let orgs = state.store().user_organizations(user_id).await?;
    if orgs.is_empty() {
        return Ok(pages::error(
            StatusCode::BAD_REQUEST,
            "You no longer belong to any organization. Go back to the application and start again.",
        ));
    }
    Ok(pages::choose_org(
        status,
        &bound.id,
        &bound.record.csrf,
        &orgs,
        error,
    ))
}

/// `GET /oauth2/auth/choose-org?interaction=…`: the chooser.
pub(crate) async fn choose_org_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let bound = match binding::page(&state, &headers, query.as_deref()).await? {
            Ok(bound) => bound,
            Err(refusal) => return Ok(refusal),
        };
        let step = Step::ChooseOrganization;
        match session_of(&state, &headers, &bound, step, state.now()).await? {
            Some(session) => chooser(&state, StatusCode::OK, &bound, &session.user_id, None).await,
            None => Ok(signed_out()),
        }
    }
    .await;
    or_server_error(
        result,
        "organization chooser",
        "The server could not complete the sign-in.",
    )
}

/// `POST /oauth2/auth/choose-org`: the chooser's submission.
pub(crate) async fn choose_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    or_server_error(
        choose_org_inner(&state, &headers, &body).await,
        "organization choice",
        "The server could not complete the sign-in.",
    )
}

async fn choose_org_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ServerError> {
    let (form, bound) = match binding::posted(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let now = state.now();
    let step = Step::ChooseOrganization;
    let Some(session) = session_of(state, headers, &bound, step, now).await? else {
        return Ok(signed_out());
    };
    let Some(chosen) = form.get("org_code") else {
        return chooser(
            state,
            StatusCode::BAD_REQUEST,
            &bound,
            &session.user_id,
            Some("Choose an organization."),
        )
        .await;
    };
    // Membership as the store has it now: the form's list is only what the page showed.
    let member = state
        .store()
        .user_org_codes(&session.user_id)
        .await?
        .iter()
        .any(|code| code == chosen);
    if !member {
        tracing::warn!("organization chooser: a posted organization the user is not a member of");
        return chooser(
            state,
            StatusCode::FORBIDDEN,
            &bound,
            &session.user_id,
            Some("You are not a member of that organization. Choose one of yours."),
        )
        .await;
    }
    let mut interaction = bound.interaction;
    interaction.grant.org_code = Some(chosen.to_owned());
    complete(state, &bound.id, &bound.record, interaction, &session, now).await
}
