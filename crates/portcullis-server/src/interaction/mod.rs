//! The hosted sign-in, as a state machine.
//!
//! An *interaction* is one sign-in in progress. [`crate::authorize`] opens it ([`start`]) for
//! an authorization request that no session could answer. It is bound to the browser that
//! opened it (an `HttpOnly` cookie whose SHA-256 the record keeps) and to its forms (a CSRF
//! token in each page), and it stands at one [`Step`]. Each step is a module holding its page
//! and its advance:
//!
//! | step | page (`GET`, `POST`) | module |
//! |---|---|---|
//! | [`Step::SignIn`] | `/oauth2/auth/sign-in` | [`sign_in`]: email and password |
//! | [`Step::SignUp`] | `/oauth2/auth/sign-up` | [`sign_up`]: a new account (or a sign-in) |
//! | [`Step::CreateOrganization`] | `/oauth2/auth/create-org` | [`create_org`] |
//! | [`Step::ChooseOrganization`] | `/oauth2/auth/choose-org` | [`choose_org`] |
//!
//! The first two identify the user, and the browser may switch between them. Once the user is
//! known, [`signed_in`] starts the session and [`proceed`] asks [`next_step`] what comes next
//! — read it top to bottom to see the whole sign-in — and goes there: to another step's page
//! (a new interaction id and CSRF token, the same browser binding), or back to the
//! application with a code, which ends the interaction. A new sign-in method is a new module
//! here and one line in [`next_step`].
//!
//! Single sign-on goes through [`proceed`] too, without a form: an existing session that
//! needs another step (the chooser) gets an interaction of its own, bound to a new cookie.

mod binding;
mod choose_org;
mod create_org;
mod sign_in;
mod sign_up;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

pub(crate) use choose_org::{choose_org, choose_org_page};
pub(crate) use create_org::{create_org, create_org_page};
pub(crate) use sign_in::{sign_in, sign_in_page};
pub(crate) use sign_up::{sign_up, sign_up_page};

use crate::AppState;
use crate::error::ServerError;
use crate::ids::{hash_secret, random_token};
use crate::oidc::authorization::{self, AuthorizationRequest};
use crate::oidc::grant::AuthRequest;
use crate::pages::{self, redirect};
use crate::session::{SESSION_COOKIE, SESSION_TTL, current_session, set_cookie};
use crate::store::{InteractionRecord, SessionRecord};

/// Cookie binding a pending sign-in to the browser that started it.
const INTERACTION_COOKIE: &str = "pc_interaction";
/// How long a sign-in form stays valid.
const INTERACTION_TTL: i64 = 600;

/// Where a sign-in stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    /// The sign-in form: email and password.
    #[default]
    SignIn,
    /// The sign-up form: a new account.
    SignUp,
    /// Signed in; `is_create_org=true` without a name: the user names the organization.
    CreateOrganization,
    /// Signed in, a member of several organizations, and no `org_code`: the user chooses.
    ChooseOrganization,
}

impl Step {
    /// The page of this step.
    fn path(self) -> &'static str {
        match self {
            Step::SignIn => "/oauth2/auth/sign-in",
            Step::SignUp => "/oauth2/auth/sign-up",
            Step::CreateOrganization => "/oauth2/auth/create-org",
            Step::ChooseOrganization => "/oauth2/auth/choose-org",
        }
    }

    /// Whether this step identifies the user (who is not signed in yet).
    fn identifies(self) -> bool {
        matches!(self, Step::SignIn | Step::SignUp)
    }
}

/// What an interaction keeps: its step, what its forms need, and the grant it signs in for
/// (the same JSON members as the grant itself, beside `step` and the form fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Interaction {
    /// Where the sign-in stands.
    #[serde(default)]
    pub(crate) step: Step,
    /// `login_hint` when it is an email: prefills the forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) login_hint: Option<String>,
    /// `org_name` of `is_create_org=true`: the organization created once the user is signed
    /// in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) create_org: Option<String>,
    /// `is_create_org=true` without `org_name`: the user names the organization once signed
    /// in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) ask_org_name: bool,
    /// What the code will grant; `user_id` and `auth_time` are filled in once the user is
    /// signed in.
    #[serde(flatten)]
    pub(crate) grant: AuthRequest,
}

impl Interaction {
    /// The interaction of a checked authorization request, at its first step.
    pub(crate) fn new(request: AuthorizationRequest) -> Interaction {
        Interaction {
            step: if request.wants_sign_up {
                Step::SignUp
            } else {
                Step::SignIn
            },
            login_hint: request.login_hint,
            create_org: request.create_org,
            ask_org_name: request.ask_org_name,
            grant: request.grant,
        }
    }

    /// The interaction a record holds.
    fn of(record: &InteractionRecord) -> Result<Interaction, ServerError> {
        serde_json::from_str(&record.request).map_err(|e| ServerError::Config(e.to_string()))
    }

    /// A new record for this interaction, bound to the browser whose cookie hashes to
    /// `browser_sha256`; its id and the record.
    async fn save(
        &self,
        state: &AppState,
        browser_sha256: String,
        now: i64,
    ) -> Result<(String, InteractionRecord), ServerError> {
        let id = random_token();
        let record = InteractionRecord {
            browser_sha256,
            csrf: random_token(),
            request: serde_json::to_string(self).map_err(|e| ServerError::Config(e.to_string()))?,
            expires_at: now + INTERACTION_TTL,
        };
        state
            .store()
            .create_interaction(&hash_secret(&id), &record)
            .await?;
        Ok((id, record))
    }

    /// The page of an identifying step (sign-in or sign-up form) for record `id`.
    fn form_page(&self, step: Step, id: &str, csrf: &str) -> Response {
        let hint = self.login_hint.as_deref().unwrap_or("");
        match step {
            Step::SignUp => pages::sign_up(
                id,
                csrf,
                &pages::SignUpFields {
                    email: hint,
                    org_name: self.create_org.as_deref(),
                    org_named_next: self.ask_org_name,
                    ..Default::default()
                },
                None,
            ),
            _ => pages::sign_in(id, csrf, hint, None),
        }
    }
}

/// Opens an interaction for `request` and shows its first page, binding it to this browser.
pub(crate) async fn start(
    state: &AppState,
    request: AuthorizationRequest,
    now: i64,
) -> Result<Response, ServerError> {
    let interaction = Interaction::new(request);
    let browser = random_token();
    let (id, record) = interaction.save(state, hash_secret(&browser), now).await?;
    let mut response = interaction.form_page(interaction.step, &id, &record.csrf);
    bind_browser(state, &mut response, &browser);
    Ok(response)
}

/// What comes next for a signed-in user who is a member of `orgs`, in order; `None` when the
/// code can be issued.
fn next_step(interaction: &Interaction, orgs: &[String]) -> Option<Step> {
    // `is_create_org=true` without a name: the user names the new organization.
    if interaction.ask_org_name {
        return Some(Step::CreateOrganization);
    }
    // No `org_code`, and a member of several organizations: the user chooses one.
    if interaction.grant.org_code.is_none() && orgs.len() > 1 {
        return Some(Step::ChooseOrganization);
    }
    None
}

/// The user `user_id` has just proved who they are at interaction `id`: ends it, starts a
/// session with a fresh id (no fixation, docs/security.md case 45; the caller ended any
/// session this browser had), creates the organization of `is_create_org` + `org_name`, and
/// [`proceed`]s.
async fn signed_in(
    state: &AppState,
    id: &str,
    record: &InteractionRecord,
    mut interaction: Interaction,
    user_id: &str,
    now: i64,
) -> Result<Response, ServerError> {
    let store = state.store();
    store.delete_interaction(&hash_secret(id)).await?;
    let session_id = random_token();
    let session = SessionRecord {
        user_id: user_id.to_owned(),
        auth_time: now,
        expires_at: now + SESSION_TTL,
    };
    store
        .create_session(&hash_secret(&session_id), &session)
        .await?;
    if let Some(name) = interaction.create_org.take() {
        interaction.grant.org_code = Some(create_org::create(state, &name, user_id, now).await?);
    }
    let mut response = proceed(
        state,
        interaction,
        &session,
        Some(&record.browser_sha256),
        now,
    )
    .await?;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &session_id, "/", SESSION_TTL),
    );
    Ok(response)
}

/// A signed-in user's way on: the page of the [`next_step`], or the code. `browser_sha256` is
/// the binding of the interaction the user came through (its cookie is cleared with the
/// code), or `None` on single sign-on, where there was none.
pub(crate) async fn proceed(
    state: &AppState,
    mut interaction: Interaction,
    session: &SessionRecord,
    browser_sha256: Option<&str>,
    now: i64,
) -> Result<Response, ServerError> {
    // The user's organizations decide the next step and, with none, the code's organization.
    let orgs = state.store().user_org_codes(&session.user_id).await?;
    let Some(step) = next_step(&interaction, &orgs) else {
        let mut response =
            authorization::issue_code(state, interaction.grant, session, orgs).await?;
        if browser_sha256.is_some() {
            // The interaction is over.
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(state, INTERACTION_COOKIE, "", "/oauth2/auth", 0),
            );
        }
        return Ok(response);
    };
    // A new interaction at `step`, remembering who signed in, for the same browser (a new
    // binding cookie on single sign-on).
    interaction.step = step;
    interaction.login_hint = None;
    interaction.grant.user_id = session.user_id.clone();
    interaction.grant.auth_time = session.auth_time;
    let (binding, new_cookie) = match browser_sha256 {
        Some(hash) => (hash.to_owned(), None),
        None => {
            let browser = random_token();
            (hash_secret(&browser), Some(browser))
        }
    };
    let (id, _) = interaction.save(state, binding, now).await?;
    let mut response = redirect(&format!(
        "{}{}?interaction={id}",
        state.issuer(),
        step.path()
    ));
    if let Some(browser) = new_cookie {
        bind_browser(state, &mut response, &browser);
    }
    Ok(response)
}

/// Sets the cookie that binds interactions to this browser (`browser` is its secret).
fn bind_browser(state: &AppState, response: &mut Response, browser: &str) {
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            INTERACTION_COOKIE,
            browser,
            "/oauth2/auth",
            INTERACTION_TTL,
        ),
    );
}

/// Ends interaction `id` at a signed-in step (bound by `record`) and [`proceed`]s.
async fn complete(
    state: &AppState,
    id: &str,
    record: &InteractionRecord,
    interaction: Interaction,
    session: &SessionRecord,
    now: i64,
) -> Result<Response, ServerError> {
    state.store().delete_interaction(&hash_secret(id)).await?;
    proceed(
        state,
        interaction,
        session,
        Some(&record.browser_sha256),
        now,
    )
    .await
}

/// The session of the user who signed in at `bound`, if `bound` stands at `step` and this
/// browser's session still belongs to that user (`None` when they signed out meanwhile).
async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
    bound: &binding::Bound,
    step: Step,
    now: i64,
) -> Result<Option<SessionRecord>, ServerError> {
    let user_id = &bound.interaction.grant.user_id;
    if bound.interaction.step != step || user_id.is_empty() {
        return Ok(None);
    }
    Ok(current_session(state, headers, now)
        .await?
        .filter(|s| s.user_id == *user_id))
}

/// The answer to a form of a signed-in step whose user is no longer signed in.
fn signed_out() -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        "You are no longer signed in. Go back to the application and start again.",
    )
}
