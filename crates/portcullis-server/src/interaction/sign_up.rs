//! The hosted sign-up form: `GET /oauth2/auth/sign-up?interaction=…` (the link on the sign-in
//! form) and `POST /oauth2/auth/sign-up` (its submission). The form belongs to the same
//! browser-bound interaction as the sign-in form (cookie + CSRF token, docs/security.md cases 49
//! and 88).
//!
//! Order of checks on a submission: interaction, browser and CSRF token (400 / 403); the
//! per-address sign-up limit (429); the fields — email syntax (one `@`, no spaces, at most 254
//! bytes), the password policy ([`crate::passwords::check_policy`], and never the email itself,
//! case 87), names of at most 100 characters without control characters. A refused field
//! re-renders the form with one message and the entered names and email (escaped; never the
//! password). All of that happens before the database is asked about the email, so those
//! answers cannot depend on whether an account exists.
//!
//! # An email that already has an account (docs/security.md case 86)
//!
//! Every valid submission is counted against the per-address sign-up limit and the sign-in
//! limits, and costs one Argon2id run, whether or not the email is taken. Then:
//!
//! - **New email**: the account is created (Argon2id hash), a session with a fresh id starts,
//!   and the authorization continues: `303` back to the application with `code`, `state` and
//!   `iss`, the session cookie set and the interaction cookie cleared.
//! - **Existing email**: the submission is treated as a *sign-in attempt*. With the account's
//!   password (and an account that is not suspended) the answer is exactly the one above — the
//!   same redirect, the same cookies — and the stored profile is left untouched (names from the
//!   form are ignored, so sign-up can never overwrite an account). (Like after the sign-in
//!   form, an account in several organizations whose request names none goes on to the
//!   organization chooser first, [`super::choose_org`]: a difference only the account's
//!   password holder can see.) With any other password the
//!   sign-up form comes back with one generic message, "We could not create an account with
//!   these details. Check them, or sign in if you already have an account.", and the attempt
//!   counts as a failed sign-in for that account (the per-account brute-force limit of
//!   case 96 applies to this form too, so it is no second password oracle).
//!
//! What this still tells someone who does not know the password: that an email is taken (new
//! emails succeed, taken ones get the generic message). Without a verification email that
//! cannot be hidden while sign-up signs the user in at once; the limits above bound how fast it
//! can be probed. Once email verification exists, both cases should answer "check your inbox".
//!
//! Two sign-ups racing for one new email (or a repeated submission): the account is created by
//! an insert-only [`crate::store::Store::create_user`], with its password, in one statement.
//! Whoever loses the race is answered exactly like an existing email with the wrong password
//! (the generic message above), and the existing account is never updated.
//!
//! A new account signing up with `org_code` of an organization that allows registrations
//! (`is_allow_registrations`, set through the management API) becomes its member with the
//! default roles (`is_default_role`), as in Kinde; any other `org_code` is refused after
//! sign-up like for any non-member.
//!
//! With `is_create_org=true`, once the user is signed in an organization `org_<hex>` named
//! `org_name` is created, the user becomes a member (no roles) and the code is for that org;
//! without `org_name`, the hosted "Create your organization" form asks for the name first
//! (see [`super::create_org`]).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Step, binding};
use crate::AppState;
use crate::domain::MAX_NAME_CHARS;
use crate::error::ServerError;
use crate::pages::or_server_error;
use crate::pages::{self, SignUpFields};
use crate::proxies::Peer;

/// The one answer for a taken email with the wrong password.
const GENERIC_REFUSAL: &str = "We could not create an account with these details. Check them, or sign in if you already have an account.";

/// Whether `s` is an email address by [`crate::domain::Email`]'s rule (the management API's
/// and the seed file's too).
pub(crate) fn is_valid_email(s: &str) -> bool {
    crate::domain::Email::parse(s).is_ok()
}

/// A name field: trimmed, at most 100 characters, no control characters. Empty is `None`.
fn name(s: &str) -> Result<Option<String>, &'static str> {
    let s = s.trim();
    if s.chars().count() > MAX_NAME_CHARS {
        return Err("Names can be 100 characters at most.");
    }
    if s.chars().any(char::is_control) {
        return Err("Names cannot contain control characters.");
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// The password policy for a new password: [`crate::passwords::check_policy`], and not the
/// email address (compared without case, and ignoring surrounding spaces).
fn password_policy(password: &str, email: &str) -> Result<(), String> {
    crate::passwords::check_policy(password).map_err(|why| {
        let mut why = why.to_owned();
        if let Some(first) = why.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        format!("{why}.")
    })?;
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err("The password cannot be your email address.".to_owned());
    }
    Ok(())
}

/// `GET /oauth2/auth/sign-up?interaction=…`: the sign-up form of an interaction (the link on
/// the sign-in form).
pub(crate) async fn sign_up_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    super::sign_in::identify_page(&state, &headers, query.as_deref(), Step::SignUp).await
}

/// `POST /oauth2/auth/sign-up`: the sign-up form's submission.
pub(crate) async fn sign_up(
    State(state): State<AppState>,
    Peer(ip): Peer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    or_server_error(
        sign_up_inner(&state, ip, &headers, &body).await,
        "sign-up",
        "The server could not complete the sign-up.",
    )
}

async fn sign_up_inner(
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
    if let Err(limited) = crate::limits::check_sign_up(store, ip, now).await {
        return Ok(limited);
    }
    let interaction = &bound.interaction;

    let email = form.get("email").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("");
    let given_raw = form.get("given_name").unwrap_or("");
    let family_raw = form.get("family_name").unwrap_or("");
    let retry = |message: &str| {
        pages::sign_up(
            &bound.id,
            &bound.record.csrf,
            &SignUpFields {
                email: &email,
                given_name: given_raw,
                family_name: family_raw,
                org_name: interaction.create_org.as_deref(),
                org_named_next: interaction.ask_org_name,
            },
            Some(message),
        )
    };

    // 1. The fields, before the database hears of the email.
    if !is_valid_email(&email) {
        return Ok(retry("Enter a valid email address."));
    }
    let (given, family) = match (name(given_raw), name(family_raw)) {
        (Ok(g), Ok(f)) => (g, f),
        (Err(why), _) | (_, Err(why)) => return Ok(retry(why)),
    };
    if let Err(why) = password_policy(password, &email) {
        return Ok(retry(&why));
    }

    // 2. Limits, counted alike for new and taken emails.
    crate::limits::record_sign_up(store, ip, now).await?;
    if let Err(limited) = crate::limits::check_sign_in(store, ip, &email, now).await {
        return Ok(limited);
    }

    // 3. New account, or a sign-in attempt on the existing one (see the module docs).
    let user_id = match store.user_by_email(&email).await? {
        None => {
            let hash = crate::passwords::hash(password).await?;
            let new_id = crate::ids::new_id("kp");
            // Insert-only: if another sign-up won the race for this email, its account stays
            // exactly as it is and this one is answered like any taken email.
            let created = store
                .create_user(
                    &new_id,
                    &email,
                    given.as_deref(),
                    family.as_deref(),
                    Some(&hash),
                    now,
                )
                .await?;
            if !created {
                crate::limits::record_sign_in_failure(store, ip, &email, now).await?;
                tracing::info!("sign-up refused");
                return Ok(retry(GENERIC_REFUSAL));
            }
            tracing::info!(user_id = %new_id, "account created at sign-up");
            // Signing up into an organization (`org_code`) that allows registrations makes the
            // new account a member with the default roles, as Kinde does; otherwise the code
            // is refused later like any organization the user is not a member of.
            if let Some(org) = interaction.grant.org_code.as_deref()
                && store.join_open_organization(org, &new_id).await?
            {
                tracing::info!(user_id = %new_id, org_code = %org, "joined at sign-up");
            }
            new_id
        }
        Some(user) => {
            let hash = Some(&user)
                .filter(|u| !u.is_suspended)
                .and_then(|u| u.password_hash.as_deref());
            if !crate::passwords::verify(password, hash).await? {
                crate::limits::record_sign_in_failure(store, ip, &email, now).await?;
                tracing::info!("sign-up refused");
                return Ok(retry(GENERIC_REFUSAL));
            }
            user.id
        }
    };
    // A sign-in replaces any session this browser had (case 45).
    crate::session::end_session(state, headers).await?;
    super::signed_in(
        state,
        &bound.id,
        &bound.record,
        bound.interaction,
        &user_id,
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_valid_email("joe@x.com"));
        assert!(is_valid_email(" joe@x.com "));
        for bad in [
            "",
            "joe",
            "@x.com",
            "joe@",
            "a@b@c",
            // The management API never took these; sign-up now refuses them too.
            "joe@localhost",
            "joe@x..com",
            "jo e@x.com",
            "joe@x.com\u{0}",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
        assert!(!is_valid_email(&format!("{}@x.com", "a".repeat(250))));
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(name("  Ada "), Ok(Some("Ada".into())));
        assert_eq!(name(""), Ok(None));
        assert!(name(&"é".repeat(101)).is_err());
        assert!(name("a\u{7}b").is_err());
        assert!(crate::domain::org_name(" ").is_err());
        assert!(crate::domain::org_name(&"x".repeat(101)).is_err());
        assert_eq!(crate::domain::org_name(" Acme ").unwrap(), "Acme");
        assert!(password_policy("1234567", "a@b.c").is_err());
        assert!(password_policy("Joe@Example.com", "joe@example.com").is_err());
        assert!(password_policy("long enough password", "joe@example.com").is_ok());
    }
}
