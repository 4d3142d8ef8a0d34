//! The hosted organization chooser: a user who belongs to several organizations signs in (or
//! comes back with a single sign-on session) for a request that names no `org_code`.
//!
//! 1. Instead of issuing a code, [`or_issue_code`] replaces the interaction with a new one (new
//!    id, new CSRF token) that records who signed in, bound to the browser that signed in —
//!    the sign-in's binding cookie, or, on single sign-on where there was no form, a fresh
//!    one — and answers `303` to `GET /oauth2/auth/choose-org?interaction=…`.
//! 2. [`choose_org_page`] shows that browser the user's organizations (names escaped, codes
//!    shown next to them so that two of the same name differ) as radio buttons in a fieldset.
//! 3. [`choose_org`] (`POST /oauth2/auth/choose-org`) checks, in order: the interaction, the
//!    browser cookie, the CSRF token and a same-site post (400 / 403, like the other forms);
//!    that the interaction is one that asks for an organization; that this browser's session
//!    is still the one of the user who signed in (signed out meanwhile: 400, start again);
//!    then that the posted `org_code` is one of the user's organizations *now*, read from the
//!    store — nothing in the form is trusted. None chosen: the chooser again, `400`; not a
//!    member (a forged code, or a membership removed meanwhile): the chooser again with the
//!    current list, `403`, and no code. A member's choice ends the interaction and redirects
//!    back with a code for that organization, `state` and `iss` (and the code is only issued
//!    after [`super::issue_code`] checks the membership once more).
//!
//! `prompt=none` never shows the chooser (it shows no page): such a request without `org_code`
//! is answered with no organization, as before. Re-choosing (`prompt=select_account`) is not
//! supported: an app that wants another organization names it with `org_code`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{
    AuthRequest, INTERACTION_COOKIE, INTERACTION_TTL, current_session, issue_code,
    issue_final_code, or_server_error, page_interaction, posted_interaction, redirect, set_cookie,
};
use crate::AppState;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::ids::random_token;
use crate::pages;
use crate::store::{InteractionRecord, SessionRecord};

/// What a chooser interaction keeps: the request, marked as waiting for an organization (the
/// other forms read the same record as a plain [`AuthRequest`] and ignore the mark).
#[derive(Serialize, Deserialize)]
struct Waiting {
    choose_org: bool,
    #[serde(flatten)]
    request: AuthRequest,
}

/// A signed-in user's way on to the application: the chooser when `request` names no
/// organization and the user belongs to several, else the code. `browser_sha256` is the
/// binding of the interaction the user signed in through (its cookie is cleared with the
/// code), or `None` on single sign-on, where there was none.
pub(crate) async fn or_issue_code(
    state: &AppState,
    request: AuthRequest,
    session: &SessionRecord,
    browser_sha256: Option<&str>,
    now: i64,
) -> Result<Response, ServerError> {
    if request.org_code.is_none() && state.store().user_org_codes(&session.user_id).await?.len() > 1
    {
        return ask(state, request, session, browser_sha256, now).await;
    }
    match browser_sha256 {
        Some(_) => issue_final_code(state, request, session).await,
        None => issue_code(state, request, session).await,
    }
}

/// A new interaction for the browser that remembers the signed-in user, and a redirect to the
/// chooser.
async fn ask(
    state: &AppState,
    mut request: AuthRequest,
    session: &SessionRecord,
    browser_sha256: Option<&str>,
    now: i64,
) -> Result<Response, ServerError> {
    request.user_id = session.user_id.clone();
    request.auth_time = session.auth_time;
    request.login_hint = None;
    let waiting = Waiting {
        choose_org: true,
        request,
    };
    let (binding, new_cookie) = match browser_sha256 {
        Some(hash) => (hash.to_owned(), None),
        None => {
            let browser = random_token();
            (hash_secret(&browser), Some(browser))
        }
    };
    let id = random_token();
    state
        .store()
        .create_interaction(
            &hash_secret(&id),
            &InteractionRecord {
                browser_sha256: binding,
                csrf: random_token(),
                request: serde_json::to_string(&waiting)
                    .map_err(|e| ServerError::Config(e.to_string()))?,
                expires_at: now + INTERACTION_TTL,
            },
        )
        .await?;
    let mut response = redirect(&format!(
        "{}/oauth2/auth/choose-org?interaction={id}",
        state.issuer()
    ));
    if let Some(browser) = new_cookie {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(
                state,
                INTERACTION_COOKIE,
                &browser,
                "/oauth2/auth",
                INTERACTION_TTL,
            ),
        );
    }
    Ok(response)
}

/// The interaction's request, if it is one waiting for an organization and this browser's
/// session still belongs to the user who signed in.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &InteractionRecord,
    now: i64,
) -> Result<Option<(AuthRequest, SessionRecord)>, ServerError> {
    // Any other interaction (a sign-in form, a create-organization form) has no mark.
    let Ok(Waiting {
        choose_org: true,
        request,
    }) = serde_json::from_str::<Waiting>(&interaction.request)
    else {
        return Ok(None);
    };
    if request.user_id.is_empty() {
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

/// The chooser for `user_id`'s organizations as they are now; an error page when none is
/// left.
async fn chooser(
    state: &AppState,
    status: StatusCode,
    interaction_id: &str,
    interaction: &InteractionRecord,
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
        interaction_id,
        &interaction.csrf,
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
        let (id, interaction) = match page_interaction(&state, &headers, query.as_deref()).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        match pending(&state, &headers, &interaction, state.now()).await? {
            Some((request, _)) => {
                chooser(
                    &state,
                    StatusCode::OK,
                    &id,
                    &interaction,
                    &request.user_id,
                    None,
                )
                .await
            }
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
    let (form, interaction) = match posted_interaction(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let now = state.now();
    let interaction_id = form.get("interaction").unwrap_or("");
    let Some((mut request, session)) = pending(state, headers, &interaction, now).await? else {
        return Ok(signed_out());
    };
    let Some(chosen) = form.get("org_code") else {
        return chooser(
            state,
            StatusCode::BAD_REQUEST,
            interaction_id,
            &interaction,
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
            interaction_id,
            &interaction,
            &session.user_id,
            Some("You are not a member of that organization. Choose one of yours."),
        )
        .await;
    }
    state
        .store()
        .delete_interaction(&hash_secret(interaction_id))
        .await?;
    request.org_code = Some(chosen.to_owned());
    issue_final_code(state, request, &session).await
}
