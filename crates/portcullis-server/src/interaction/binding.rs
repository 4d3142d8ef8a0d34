//! Which interaction a request belongs to: the one this browser opened (its binding cookie),
//! and — for a form submission — with the form's CSRF token, posted from this site (login
//! CSRF, docs/security.md cases 49 and 88).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::{INTERACTION_COOKIE, Interaction};
use crate::AppState;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::oidc::Form;
use crate::pages;
use crate::session::cookie;
use crate::store::InteractionRecord;

/// An interaction this browser opened: its id (as the browser sent it), its record, and what
/// it keeps.
pub(super) struct Bound {
    pub(super) id: String,
    pub(super) record: InteractionRecord,
    pub(super) interaction: Interaction,
}

impl Bound {
    fn new(id: String, record: InteractionRecord) -> Result<Bound, ServerError> {
        let interaction = Interaction::of(&record)?;
        Ok(Bound {
            id,
            record,
            interaction,
        })
    }
}

/// Why a form submission or page switch is refused before anything else happens.
pub(super) enum Refusal {
    /// Unknown or expired interaction: 400.
    Expired,
    /// Another browser, a missing or wrong CSRF token, or a cross-site post: 403.
    Forbidden,
}

impl Refusal {
    pub(super) fn page(&self) -> Response {
        match self {
            Refusal::Expired => pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in form has expired. Go back to the application and start again.",
            ),
            Refusal::Forbidden => pages::error(
                StatusCode::FORBIDDEN,
                "This sign-in form was not opened in this browser.",
            ),
        }
    }
}

/// Whether a form post comes from another site (docs/security.md case 49): `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is not the issuer's. Browsers that send neither are
/// still held to the cookie and CSRF token.
fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // A browser that withholds the origin (`Origin: null`) but vouches for a same-origin request.
    if origin.as_bytes() == b"null"
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
    {
        return false;
    }
    let ours = url::Url::parse(state.issuer())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().map_or(true, |o| o != ours)
}

/// The interaction `interaction_id`, if it was opened by this browser and (when `csrf` is
/// given) the token matches (login CSRF, docs/security.md cases 49 and 88).
async fn bound_interaction(
    state: &AppState,
    headers: &HeaderMap,
    interaction_id: &str,
    csrf: Option<Option<&str>>,
) -> Result<Result<InteractionRecord, Refusal>, ServerError> {
    let Some(interaction) = state
        .store()
        .interaction(&hash_secret(interaction_id), state.now())
        .await?
    else {
        return Ok(Err(Refusal::Expired));
    };
    let browser_ok = cookie(headers, INTERACTION_COOKIE).is_some_and(|b| {
        bool::from(
            hash_secret(&b)
                .as_bytes()
                .ct_eq(interaction.browser_sha256.as_bytes()),
        )
    });
    let csrf_ok = match csrf {
        None => true,
        Some(c) => {
            !cross_site(state, headers)
                && c.is_some_and(|c| bool::from(c.as_bytes().ct_eq(interaction.csrf.as_bytes())))
        }
    };
    if !browser_ok || !csrf_ok {
        return Ok(Err(Refusal::Forbidden));
    }
    Ok(Ok(interaction))
}

/// A hosted page's interaction: the `interaction` parameter of `query` and its record, if this
/// browser opened it; otherwise the refusal page to answer with.
pub(super) async fn page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Result<Bound, Response>, ServerError> {
    let id = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "interaction")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    Ok(match bound_interaction(state, headers, &id, None).await? {
        Ok(record) => Ok(Bound::new(id, record)?),
        Err(refusal) => Err(refusal.page()),
    })
}

/// A hosted form's submission and its interaction, if the body is a form, this browser opened
/// the interaction and the form carries its CSRF token from this site; otherwise the page to
/// answer with (400 for an unreadable form, else the refusal).
pub(super) async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Result<(Form, Bound), Response>, ServerError> {
    let Ok(form) = Form::parse(headers, body) else {
        return Ok(Err(pages::error(
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        )));
    };
    let id = form.get("interaction").unwrap_or("");
    Ok(
        match bound_interaction(state, headers, id, Some(form.get("csrf"))).await? {
            Ok(record) => {
                let bound = Bound::new(id.to_owned(), record)?;
                Ok((form, bound))
            }
            Err(refusal) => Err(refusal.page()),
        },
    )
}
