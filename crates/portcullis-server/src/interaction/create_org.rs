//! [`Step::CreateOrganization`]: the hosted "Create your organization" form,
//! `is_create_org=true` without an `org_name` (Kinde's create-organization flow, where the
//! user names the organization).
//!
//! 1. The user signs in or signs up as usual; [`super::signed_in`] starts the session and,
//!    instead of issuing a code, [`super::proceed`] moves to a new interaction (new id, new
//!    CSRF token, the same browser-binding cookie) at this step that records who signed in,
//!    and answers `303` to `GET /oauth2/auth/create-org?interaction=…`.
//! 2. [`create_org_page`] shows the form (field `org_name`) to that browser only.
//! 3. [`create_org`] (`POST /oauth2/auth/create-org`) checks, in order: the interaction, the
//!    browser cookie, the CSRF token and a same-site post (400 / 403, like the other forms);
//!    that the interaction stands at this step; that this browser's session is still
//!    the one of the user who signed in (signed out meanwhile: 400, start again); then the
//!    name — trimmed, 1–100 characters, no control characters — and re-renders the form with
//!    a message and `400` when it is refused. A valid name ends the interaction, creates the
//!    organization `org_<hex>` exactly as `org_name` at sign-in does (the user its only member,
//!    no roles), and redirects back with a code for that organization, `state` and `iss`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{Step, binding, proceed, session_of, signed_out};
use crate::AppState;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::pages::{self, or_server_error};

/// Creates the organization `name` with `user_id` as its only member (with the default
/// roles, as any new member); its code.
pub(crate) async fn create(
    state: &AppState,
    name: &str,
    user_id: &str,
    now: i64,
) -> Result<String, ServerError> {
    let code = crate::ids::new_id("org");
    state
        .store()
        .create_organization_for(&code, name, user_id, now)
        .await?;
    tracing::info!(org_code = %code, "organization created at sign-in");
    Ok(code)
}

/// `GET /oauth2/auth/create-org?interaction=…`: the form.
pub(crate) async fn create_org_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let bound = match binding::page(&state, &headers, query.as_deref()).await? {
            Ok(bound) => bound,
            Err(refusal) => return Ok(refusal),
        };
        let step = Step::CreateOrganization;
        Ok(
            match session_of(&state, &headers, &bound, step, state.now()).await? {
                Some(_) => {
                    pages::create_org(StatusCode::OK, &bound.id, &bound.record.csrf, "", None)
                }
                None => signed_out(),
            },
        )
    }
    .await;
    or_server_error(
        result,
        "create-organization page",
        "The server could not complete the sign-in.",
    )
}

/// `POST /oauth2/auth/create-org`: the form's submission.
pub(crate) async fn create_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    or_server_error(
        create_org_inner(&state, &headers, &body).await,
        "organization creation",
        "The server could not create the organization.",
    )
}

async fn create_org_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ServerError> {
    let (form, bound) = match binding::posted(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let now = state.now();
    let step = Step::CreateOrganization;
    let Some(session) = session_of(state, headers, &bound, step, now).await? else {
        return Ok(signed_out());
    };
    let entered = form.get("org_name").unwrap_or("");
    let name = match crate::domain::org_name(entered) {
        Ok(name) => name,
        Err(_) => {
            let message = if entered.trim().is_empty() {
                "Enter a name for your organization."
            } else {
                "The name can be 100 characters at most, without control characters."
            };
            return Ok(pages::create_org(
                StatusCode::BAD_REQUEST,
                &bound.id,
                &bound.record.csrf,
                entered,
                Some(message),
            ));
        }
    };
    // The interaction ends before the organization exists: a retry after a failure here can
    // never create a second one.
    state
        .store()
        .delete_interaction(&hash_secret(&bound.id))
        .await?;
    let mut interaction = bound.interaction;
    interaction.ask_org_name = false;
    interaction.grant.org_code = Some(create(state, &name, &session.user_id, now).await?);
    let browser = Some(bound.record.browser_sha256.as_str());
    proceed(state, interaction, &session, browser, now).await
}
