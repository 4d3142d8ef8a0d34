//! The hosted organization chooser over real HTTP (the demo tenant: Ada belongs to Acme and
//! Globex, Bob to Acme only): a member of several organizations whose request names none
//! chooses one after signing in, and on single sign-on; the code's tokens carry the choice.
//! The choice is checked against the store (a forged code gets no token), the form against its
//! browser and CSRF token; one organization, or an `org_code` in the request, skips the page.

use portcullis::IdTokenChecks;
use portcullis_server::testing::TestIssuer;

mod common;

use common::browser::{Browser, Page, http, pkce};
use common::demo::{self, ADA, ADA_PASSWORD, API, WEB_CALLBACK, redeem, sdk, start_demo as start};

const BOB: &str = "bob@example.com";
const BOB_PASSWORD: &str = "can-we-fix-it-yes-we-can";
const SCOPE: &str = "openid profile email offline";
const CHOOSER: &str = "/oauth2/auth/choose-org";

/// The web app's request for the API, plus `extra` (no `org_code` unless given there).
fn params<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = demo::web_params(challenge, SCOPE, &[("audience", API)]);
    p.extend_from_slice(extra);
    p
}

/// Opens the sign-in form in `browser` and signs `email` in; the answer to the form's post.
async fn sign_in(
    issuer: &TestIssuer,
    browser: &mut Browser,
    challenge: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> Page {
    let form = browser.authorize(issuer, &params(challenge, extra)).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // Not `browser.sign_in`: the test browser would go through the chooser by itself.
    let post = http()
        .post(format!("{}/oauth2/auth/sign-in", issuer.url()))
        .form(&[
            ("interaction", form.hidden("interaction").as_str()),
            ("csrf", &form.hidden("csrf")),
            ("email", email),
            ("password", password),
        ]);
    browser.send_raw(post.build().unwrap()).await
}

/// A single sign-on authorization request in `browser`, stopping at the chooser.
async fn authorize_raw(
    issuer: &TestIssuer,
    browser: &mut Browser,
    params: &[(&str, &str)],
) -> Page {
    let url =
        url::Url::parse_with_params(&format!("{}/oauth2/auth", issuer.url()), params).unwrap();
    browser.send_raw(http().get(url).build().unwrap()).await
}

/// `answer` sends the browser to the chooser: follows it and returns the page.
async fn chooser(issuer: &TestIssuer, browser: &mut Browser, answer: &Page) -> Page {
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.location.as_deref().unwrap();
    assert!(
        location.starts_with(&format!("{}{CHOOSER}?interaction=", issuer.url())),
        "{location}"
    );
    assert_eq!(answer.param("code"), None);
    let page = browser.send(http().get(location)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// `done` is a redirect to the web app with a code: redeems it and returns the verified access
/// token's claims and the ID token's.
async fn tokens(
    issuer: &TestIssuer,
    done: &Page,
    verifier: &str,
) -> (std::sync::Arc<portcullis::Claims>, portcullis::Claims) {
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location.as_deref().unwrap().starts_with(WEB_CALLBACK),
        "{:?}",
        done.location
    );
    assert_eq!(done.param("state").as_deref(), Some("state-123"));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    let code = done.param("code").expect("a code");
    let (status, response) = redeem(issuer, &code, verifier).await;
    assert_eq!(status, 200, "{response}");
    let access = response["access_token"].as_str().unwrap();
    let verifier = sdk(issuer, demo::WEB);
    let claims = verifier.verify_access_token(access).await.unwrap();
    let id = verifier
        .verify_id_token_with(
            response["id_token"].as_str().unwrap(),
            &IdTokenChecks::nonce("nonce-456").with_access_token(access),
        )
        .await
        .unwrap();
    (claims, id)
}

#[tokio::test]
async fn a_member_of_several_organizations_chooses_one_and_its_tokens_carry_it() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let answer = sign_in(&issuer, &mut browser, &challenge, &[], ADA, ADA_PASSWORD).await;
    // Signed in (the session starts now), but no code yet.
    assert!(browser.session().is_some());
    let page = chooser(&issuer, &mut browser, &answer).await;

    // The hosted page's conventions: no scripts, never framed, never stored.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(!page.body.contains("<script"));
    // Both organizations, by name, each a labelled radio button in a fieldset with a legend.
    assert!(
        page.body.contains("<legend>Organization</legend>"),
        "{}",
        page.body
    );
    for (i, (code, name)) in [("org_acme", "Acme Corporation"), ("org_globex", "Globex")]
        .iter()
        .enumerate()
    {
        assert!(
            page.body.contains(&format!(
                "id=\"org-{i}\" name=\"org_code\" value=\"{code}\""
            )),
            "{}",
            page.body
        );
        assert!(
            page.body.contains(&format!(
                "<label for=\"org-{i}\">{name} <span class=\"code\">({code})"
            )),
            "{}",
            page.body
        );
    }

    // Nothing chosen: the page again, 400, and no code.
    let none = browser.submit(&issuer, CHOOSER, &page, &[]).await;
    assert_eq!(none.status, 400, "{}", none.body);
    assert_eq!(none.location, None);
    assert_eq!(none.alert(), "Choose an organization.");

    let done = browser
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    // The interaction is over: its cookie is cleared.
    let cleared = done
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("pc_interaction=;"));
    assert!(cleared, "{:?}", done.headers);
    let (claims, id) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_globex"));
    assert!(claims.has_role("member"));
    assert!(!claims.has_role("admin"));
    assert!(claims.has_permission("delete:todos"));
    // The ID token lists every organization of hers, as before.
    assert_eq!(id.org_codes, ["org_acme", "org_globex"]);

    // The chooser's form is single use.
    let again = browser
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_acme")])
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(again.location, None);
}

#[tokio::test]
async fn a_forged_organization_gets_an_error_page_and_never_a_token() {
    let issuer = start().await;
    // An organization Ada does not belong to, and one that does not exist.
    issuer
        .state()
        .store()
        .upsert_organization("org_initech", "Initech", 0)
        .await
        .unwrap();
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let answer = sign_in(&issuer, &mut browser, &challenge, &[], ADA, ADA_PASSWORD).await;
    let page = chooser(&issuer, &mut browser, &answer).await;
    assert!(!page.body.contains("org_initech"));
    for forged in [
        "org_initech",
        "org_nowhere",
        "ORG_ACME",
        "org_acme ",
        "org_%",
    ] {
        let refused = browser
            .submit(&issuer, CHOOSER, &page, &[("org_code", forged)])
            .await;
        assert_eq!(refused.status, 403, "{forged}: {}", refused.body);
        assert_eq!(refused.location, None, "{forged}");
        assert_eq!(
            refused.alert(),
            "You are not a member of that organization. Choose one of yours."
        );
        // The page shows her own organizations again, never the forged one.
        assert!(refused.body.contains("value=\"org_globex\""));
        assert!(!refused.body.contains("Initech"));
    }
    // The refusals did not end the interaction: a real choice still goes through.
    let done = browser
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_acme")])
        .await;
    let (claims, _) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert!(claims.has_role("admin"));
}

#[tokio::test]
async fn the_chooser_refuses_a_missing_csrf_token_another_browser_and_another_site() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let answer = sign_in(&issuer, &mut browser, &challenge, &[], ADA, ADA_PASSWORD).await;
    let page = chooser(&issuer, &mut browser, &answer).await;
    let interaction = page.hidden("interaction");
    let csrf = page.hidden("csrf");
    let post = |form: Vec<(&'static str, String)>| {
        http()
            .post(format!("{}{CHOOSER}", issuer.url()))
            .form(&form)
    };

    // No CSRF token, or a wrong one: refused.
    let missing = browser
        .send(post(vec![
            ("interaction", interaction.clone()),
            ("org_code", "org_globex".into()),
        ]))
        .await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert_eq!(missing.location, None);
    let wrong = browser
        .send(post(vec![
            ("interaction", interaction.clone()),
            ("csrf", format!("{csrf}x")),
            ("org_code", "org_globex".into()),
        ]))
        .await;
    assert_eq!(wrong.status, 403);
    // The right token from another site: refused.
    let cross_site = browser
        .send(
            post(vec![
                ("interaction", interaction.clone()),
                ("csrf", csrf.clone()),
                ("org_code", "org_globex".into()),
            ])
            .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    // Another browser with the page's values (no binding cookie, no session): refused, and it
    // cannot open the page either.
    let mut other = Browser::default();
    let stolen = other
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    assert_eq!(stolen.status, 403);
    let peek = other
        .get(&issuer, CHOOSER, &[("interaction", &interaction)])
        .await;
    assert_eq!(peek.status, 403);
    // The session cookie alone is not enough either: the binding cookie is.
    let mut half = Browser {
        cookies: vec![("pc_session".into(), browser.session().unwrap())],
    };
    let half_post = half
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    assert_eq!(half_post.status, 403);

    // Signed out meanwhile (the binding cookie kept): start again, no code.
    let mut signed_out = Browser {
        cookies: browser
            .cookies
            .iter()
            .filter(|(k, _)| k != "pc_session")
            .cloned()
            .collect(),
    };
    let gone = signed_out
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    assert_eq!(gone.status, 400, "{}", gone.body);
    assert_eq!(gone.location, None);

    // The rightful browser still can.
    let done = browser
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    assert_eq!(done.status, 303);
    assert!(done.param("code").is_some());
}

#[tokio::test]
async fn one_organization_or_an_org_code_in_the_request_skips_the_chooser() {
    let issuer = start().await;

    // Bob belongs to Acme only: signed into it at once.
    let (verifier, challenge) = pkce();
    let done = sign_in(
        &issuer,
        &mut Browser::default(),
        &challenge,
        &[],
        BOB,
        BOB_PASSWORD,
    )
    .await;
    let (claims, _) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));

    // Ada, naming Globex: no chooser.
    let (verifier, challenge) = pkce();
    let done = sign_in(
        &issuer,
        &mut Browser::default(),
        &challenge,
        &[("org_code", "org_globex")],
        ADA,
        ADA_PASSWORD,
    )
    .await;
    let (claims, _) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_globex"));

    // A chooser interaction cannot be used on the create-organization form.
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let answer = sign_in(&issuer, &mut browser, &challenge, &[], ADA, ADA_PASSWORD).await;
    let page = chooser(&issuer, &mut browser, &answer).await;
    let misuse = browser
        .submit(
            &issuer,
            "/oauth2/auth/create-org",
            &page,
            &[("org_name", "Sneaky")],
        )
        .await;
    assert_eq!(misuse.status, 400, "{}", misuse.body);
    assert_eq!(misuse.location, None);
}

#[tokio::test]
async fn single_sign_on_shows_the_chooser_too_but_prompt_none_does_not() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let answer = sign_in(
        &issuer,
        &mut browser,
        &challenge,
        &[("org_code", "org_acme")],
        ADA,
        ADA_PASSWORD,
    )
    .await;
    tokens(&issuer, &answer, &verifier).await;
    // The sign-in's interaction cookie is gone: single sign-on binds the chooser to a new one.
    assert!(browser.cookies.iter().all(|(k, _)| k != "pc_interaction"));

    // Signed in; a new request without org_code: no form, straight to the chooser.
    let (verifier, challenge) = pkce();
    let answer = authorize_raw(&issuer, &mut browser, &params(&challenge, &[])).await;
    let page = chooser(&issuer, &mut browser, &answer).await;
    assert!(browser.cookies.iter().any(|(k, _)| k == "pc_interaction"));
    let done = browser
        .submit(&issuer, CHOOSER, &page, &[("org_code", "org_globex")])
        .await;
    let (claims, id) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_globex"));
    assert_eq!(id.email.as_deref(), Some(ADA));

    // With org_code, single sign-on answers at once.
    let (verifier, challenge) = pkce();
    let done = authorize_raw(
        &issuer,
        &mut browser,
        &params(&challenge, &[("org_code", "org_acme")]),
    )
    .await;
    let (claims, _) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));

    // prompt=none shows no page: a code at once, for no organization.
    let (verifier, challenge) = pkce();
    let done = authorize_raw(
        &issuer,
        &mut browser,
        &params(&challenge, &[("prompt", "none")]),
    )
    .await;
    let (claims, _) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(claims.org_code, None);
}
