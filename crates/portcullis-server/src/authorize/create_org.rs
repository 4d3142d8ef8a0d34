//! The hosted "Create your organization" form: `is_create_org=true` without an `org_name`
//! (Kinde's create-organization flow, where the user names the organization).
//!
//! 1. The user signs in or signs up as usual; [`super::finish`] starts the session and, instead
//!    of issuing a code, [`ask`] replaces the interaction with a new one (new id, new CSRF
//!    token, the same browser-binding cookie) that records who signed in, and answers
//!    `303` to `GET /oauth2/auth/create-org?interaction=…`.
//! 2. [`create_org_page`] shows the form (field `org_name`) to that browser only.
//! 3. [`create_org`] (`POST /oauth2/auth/create-org`) checks, in order: the interaction, the
//!    browser cookie, the CSRF token and a same-site post (400 / 403, like the other forms);
//!    that the interaction is one that asks for a name; that this browser's session is still
//!    the one of the user who signed in (signed out meanwhile: 400, start again); then the
//!    name — trimmed, 1–100 characters, no control characters — and re-renders the form with
//!    a message and `400` when it is refused. A valid name ends the interaction, creates the
//!    organization `org_<hex>` exactly as `org_name` at sign-in does (the user its only member,
//!    no roles), and redirects back with a code for that organization, `state` and `iss`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{
    AuthRequest, INTERACTION_TTL, current_session, issue_final_code, or_server_error,
    page_interaction, posted_interaction, redirect,
};
use crate::AppState;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::ids::random_token;
use crate::pages;
use crate::store::{InteractionRecord, SessionRecord};

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

/// After sign-in: a new interaction for the same browser that remembers the signed-in user,
/// and a redirect to its form.
pub(crate) async fn ask(
    state: &AppState,
    interaction: &InteractionRecord,
    mut request: AuthRequest,
    session: &SessionRecord,
    now: i64,
) -> Result<Response, ServerError> {
    request.user_id = session.user_id.clone();
    request.auth_time = session.auth_time;
    let id = random_token();
    state
        .store()
        .create_interaction(
            &hash_secret(&id),
            &InteractionRecord {
                browser_sha256: interaction.browser_sha256.clone(),
                csrf: random_token(),
                request: serde_json::to_string(&request)
                    .map_err(|e| ServerError::Config(e.to_string()))?,
                expires_at: now + INTERACTION_TTL,
            },
        )
        .await?;
    Ok(redirect(&format!(
        "{}/oauth2/auth/create-org?interaction={id}",
        state.issuer()
    )))
}

/// The interaction's request, if it is one waiting for an organization name and this
/// browser's session still belongs to the user who signed in.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &InteractionRecord,
    now: i64,
) -> Result<Option<(AuthRequest, SessionRecord)>, ServerError> {
    let request = AuthRequest::of(interaction)?;
    if !request.ask_org_name || request.user_id.is_empty() {
        return Ok(None);
    }
    Ok(current_session(state, headers, now)
        .await?
        .filter(|s| s.user_id == request.user_id)
        .map(|s| (request, s)))
}

fn signed_out() -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        "You are no longer signed in. Go back to the application and start again.",
    )
}

/// `GET /oauth2/auth/create-org?interaction=…`: the form.
pub(crate) async fn create_org_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let (id, interaction) = match page_interaction(&state, &headers, query.as_deref()).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        Ok(
            match pending(&state, &headers, &interaction, state.now()).await? {
                Some(_) => pages::create_org(StatusCode::OK, &id, &interaction.csrf, "", None),
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
    let (form, interaction) = match posted_interaction(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let now = state.now();
    let interaction_id = form.get("interaction").unwrap_or("");
    let Some((mut request, session)) = pending(state, headers, &interaction, now).await? else {
        return Ok(signed_out());
    };
    let entered = form.get("org_name").unwrap_or("");
    let name = match super::sign_up::org_name(entered) {
        Ok(name) => name,
        Err(_) => {
            let message = if entered.trim().is_empty() {
                "Enter a name for your organization."
            } else {
                "The name can be 100 characters at most, without control characters."
            };
            return Ok(pages::create_org(
                StatusCode::BAD_REQUEST,
                interaction_id,
                &interaction.csrf,
                entered,
                Some(message),
            ));
        }
    };
    state
        .store()
        .delete_interaction(&hash_secret(interaction_id))
        .await?;
    request.org_code = Some(create(state, &name, &session.user_id, now).await?);
    issue_final_code(state, request, &session).await
}
