//! The hosted sign-up form over real HTTP: `prompt=create` / `start_page=registration` → sign-up
//! → code → tokens the SDK verifies; signing in later with the new password; no enumeration of
//! taken emails (case 86); the password policy (case 87); login CSRF and browser binding
//! (cases 49, 88); `is_create_org` + `org_name`; `login_hint`.

use portcullis::IdTokenChecks;
use portcullis_server::testing::TestIssuer;
use std::sync::Arc;

mod common;

use common::browser::{Browser, Page, http, pkce};
use common::demo::{
    self, ADA, ADA_PASSWORD, API, WEB, WEB_CALLBACK, redeem, sdk, start_demo as start,
};

const GRACE: &str = "grace@example.com";
const GRACE_PASSWORD: &str = "cobol-is-a-fine-language";

/// The web app's authorization request for the API, with a refresh token, plus `extra`.
fn params<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = demo::web_params(
        challenge,
        "openid profile email offline",
        &[("audience", API)],
    );
    p.extend_from_slice(extra);
    p
}

fn grace<'a>(email: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("email", email),
        ("password", password),
        ("given_name", "Grace"),
        ("family_name", "Hopper"),
    ]
}

/// Exchanges a code for tokens and verifies both with the SDK.
async fn tokens(
    issuer: &TestIssuer,
    done: &Page,
    verifier: &str,
) -> (Arc<portcullis::Claims>, portcullis::Claims) {
    let code = done
        .param("code")
        .unwrap_or_else(|| panic!("no code: {:?}", done.location));
    let (_, response) = redeem(issuer, &code, verifier).await;
    let access = response["access_token"].as_str().expect("access token");
    let id_token = response["id_token"].as_str().expect("id token");
    let sdk = sdk(issuer, WEB);
    let claims = sdk.verify_access_token(access).await.unwrap();
    let id = sdk
        .verify_id_token_with(
            id_token,
            &IdTokenChecks::nonce("nonce-456").with_access_token(access),
        )
        .await
        .unwrap();
    (claims, id)
}

fn field_value(p: &Page, name: &str) -> String {
    let start = p
        .body
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &p.body[start..];
    let tag = &rest[..rest.find('>').unwrap()];
    tag.split("value=\"")
        .nth(1)
        .map(|v| v.split('"').next().unwrap().to_owned())
        .unwrap_or_default()
}

fn cookie_names(p: &Page) -> Vec<String> {
    let mut names: Vec<String> = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn sign_up_then_tokens_then_sign_in_with_the_new_password() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();

    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(form.headers["cache-control"], "no-store");
    assert_eq!(form.headers["x-frame-options"], "DENY");
    assert!(!form.body.contains("<script"));
    for (field, autocomplete) in [
        ("email", "email"),
        ("password", "new-password"),
        ("given_name", "given-name"),
        ("family_name", "family-name"),
    ] {
        assert!(
            form.body.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
        let start = form.body.find(&format!("name=\"{field}\"")).unwrap();
        let tag = &form.body[start..start + form.body[start..].find('>').unwrap()];
        assert!(
            tag.contains(&format!("autocomplete=\"{autocomplete}\"")),
            "{tag}"
        );
    }
    assert!(form.body.contains("action=\"/oauth2/auth/sign-up\""));
    // The link back to sign-in carries the interaction id only.
    let interaction = form.hidden("interaction");
    assert!(form.body.contains(&format!(
        "href=\"/oauth2/auth/sign-in?interaction={interaction}\""
    )));

    let done = browser
        .sign_up(&issuer, &form, &grace(GRACE, GRACE_PASSWORD))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().starts_with(WEB_CALLBACK));
    assert_eq!(done.param("state").as_deref(), Some("state-123"));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    assert!(cookie_names(&done).contains(&"pc_session".to_owned()));

    let (claims, id) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(id.email.as_deref(), Some(GRACE));
    assert_eq!(id.given_name.as_deref(), Some("Grace"));
    assert_eq!(id.family_name.as_deref(), Some("Hopper"));
    let sub = id.sub.clone().unwrap();
    assert!(sub.starts_with("kp_"), "{sub}");
    assert_eq!(claims.sub, id.sub);
    assert_eq!(claims.org_code, None);

    // The new session gives single sign-on in this browser.
    let (_, challenge2) = pkce();
    let again = browser.authorize(&issuer, &params(&challenge2, &[])).await;
    assert_eq!(again.status, 303);
    assert!(again.param("code").is_some());

    // A fresh browser signs in with the new password (the email compared without case).
    let (verifier3, challenge3) = pkce();
    let mut fresh = Browser::default();
    let form = fresh.authorize(&issuer, &params(&challenge3, &[])).await;
    assert_eq!(form.status, 200);
    let wrong = fresh
        .sign_in(&issuer, &form, GRACE, "not-the-password")
        .await;
    assert_eq!(wrong.status, 200);
    let done = fresh
        .sign_in(&issuer, &form, "Grace@Example.com", GRACE_PASSWORD)
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, id2) = tokens(&issuer, &done, &verifier3).await;
    assert_eq!(id2.sub, id.sub);
}

#[tokio::test]
async fn start_page_registration_and_the_links_between_the_forms() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(
            &issuer,
            &params(&challenge, &[("start_page", "registration")]),
        )
        .await;
    assert!(form.body.contains("action=\"/oauth2/auth/sign-up\""));

    // Plain authorize: the sign-in form, linking to sign-up with the interaction id only.
    let mut browser = Browser::default();
    let sign_in = browser.authorize(&issuer, &params(&challenge, &[])).await;
    assert!(sign_in.body.contains("action=\"/oauth2/auth/sign-in\""));
    let interaction = sign_in.hidden("interaction");
    let link = format!("/oauth2/auth/sign-up?interaction={interaction}");
    assert!(sign_in.body.contains(&format!("href=\"{link}\"")));
    // The CSRF token is in the hidden field only, never in a link.
    assert_eq!(sign_in.body.matches(&sign_in.hidden("csrf")).count(), 1);

    let switched = browser
        .send(http().get(format!("{}{link}", issuer.url())))
        .await;
    assert_eq!(switched.status, 200);
    assert!(switched.body.contains("action=\"/oauth2/auth/sign-up\""));
    assert_eq!(switched.hidden("interaction"), interaction);
    assert_eq!(switched.hidden("csrf"), sign_in.hidden("csrf"));
    assert_eq!(switched.headers["cache-control"], "no-store");

    // The switched form works.
    let done = browser
        .sign_up(&issuer, &switched, &grace(GRACE, GRACE_PASSWORD))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);

    // Another browser cannot open someone's interaction (it would learn the CSRF token).
    let mut browser = Browser::default();
    let sign_in = browser.authorize(&issuer, &params(&challenge, &[])).await;
    let link = format!(
        "{}/oauth2/auth/sign-up?interaction={}",
        issuer.url(),
        sign_in.hidden("interaction")
    );
    let mut other = Browser::default();
    let refused = other.send(http().get(&link)).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains(&sign_in.hidden("csrf")));
    let unknown = browser
        .send(http().get(format!(
            "{}/oauth2/auth/sign-in?interaction=nope",
            issuer.url()
        )))
        .await;
    assert_eq!(unknown.status, 400);
    // And back from sign-up to sign-in.
    let back = browser
        .send(http().get(link.replace("sign-up", "sign-in")))
        .await;
    assert_eq!(back.status, 200);
    assert!(back.body.contains("action=\"/oauth2/auth/sign-in\""));
}

#[tokio::test]
async fn case_86_a_taken_email_reveals_nothing_more_than_documented() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;

    // Refusals of the fields are decided before the email is looked up: the same page for a
    // new and a taken email.
    for bad in [
        vec![("password", "short")],
        vec![("password", "x".repeat(300).leak() as &str)],
        vec![("given_name", "x".repeat(101).leak() as &str)],
    ] {
        let mut pages = Vec::new();
        for email in ["nobody@example.com", ADA] {
            let mut fields = grace(email, "a-long-enough-password");
            for (k, v) in &bad {
                fields.retain(|(name, _)| name != k);
                fields.push((k, v));
            }
            let page = browser.sign_up(&issuer, &form, &fields).await;
            assert_eq!(page.status, 200);
            pages.push(page.body.replace(email, "EMAIL"));
        }
        assert_eq!(pages[0], pages[1], "{bad:?}");
    }
    // The password may not be the email, for either.
    for email in ["nobody@example.com", ADA] {
        let page = browser.sign_up(&issuer, &form, &grace(email, email)).await;
        assert!(
            page.alert().contains("cannot be your email"),
            "{}",
            page.body
        );
    }

    // A taken email with the wrong password: the generic message, the form again, nothing
    // changed; it counts as a failed sign-in.
    let refused = browser
        .sign_up(&issuer, &form, &grace(ADA, "an-attackers-guess-123"))
        .await;
    assert_eq!(refused.status, 200);
    assert!(
        refused
            .alert()
            .contains("sign in if you already have an account")
    );
    assert!(!refused.body.contains("already exists") && !refused.body.contains("taken"));
    assert_eq!(field_value(&refused, "email"), ADA);
    assert_eq!(field_value(&refused, "password"), "");

    // A taken email with its password answers exactly like a new sign-up: the same redirect
    // shape and cookies — and the stored profile is not overwritten. (The request names Acme:
    // Ada belongs to two organizations, and the chooser would come first; Grace's new account
    // belongs to none, so she is signed in without one.)
    let (verifier_new, challenge_new) = pkce();
    let mut new_browser = Browser::default();
    let new_form = new_browser
        .authorize(&issuer, &params(&challenge_new, &[("prompt", "create")]))
        .await;
    let new_done = new_browser
        .sign_up(&issuer, &new_form, &grace(GRACE, GRACE_PASSWORD))
        .await;
    let (verifier_old, challenge_old) = pkce();
    let mut old_browser = Browser::default();
    let old_form = old_browser
        .authorize(
            &issuer,
            &params(
                &challenge_old,
                &[("prompt", "create"), ("org_code", "org_acme")],
            ),
        )
        .await;
    let old_done = old_browser
        .sign_up(&issuer, &old_form, &grace(ADA, ADA_PASSWORD))
        .await;
    assert_eq!(new_done.status, 303);
    assert_eq!(old_done.status, new_done.status);
    let keys = |p: &Page| {
        p.redirect_params()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&new_done), keys(&old_done));
    assert_eq!(cookie_names(&new_done), cookie_names(&old_done));
    assert_eq!(new_done.body, old_done.body);
    let (_, new_id) = tokens(&issuer, &new_done, &verifier_new).await;
    let (_, old_id) = tokens(&issuer, &old_done, &verifier_old).await;
    assert_eq!(new_id.given_name.as_deref(), Some("Grace"));
    assert_eq!(old_id.given_name.as_deref(), Some("Ada"), "not overwritten");
    assert_eq!(old_id.family_name.as_deref(), Some("Lovelace"));

    // Ada's password still works at the sign-in form.
    let mut b = Browser::default();
    let (_, c) = pkce();
    let f = b.authorize(&issuer, &params(&c, &[])).await;
    assert_eq!(b.sign_in(&issuer, &f, ADA, ADA_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn case_87_policy_failures_keep_the_fields_escaped() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;
    let evil = "<script>alert(1)</script>";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("password", "1234567")], "too short"),
        (vec![("password", &*"p".repeat(257).leak())], "too long"),
        (vec![("password", " New@Example.com ")], "email"),
        (vec![("email", "not-an-email")], "valid email"),
        (vec![("email", "two@at@example.com")], "valid email"),
        (vec![("email", "sp ace@example.com")], "valid email"),
        (vec![("family_name", &*"é".repeat(101).leak())], "100"),
        (vec![("family_name", "bell\u{7}")], "control"),
    ];
    for (change, expected) in cases {
        let mut fields = vec![
            ("email", "new@example.com"),
            ("password", "a-fine-password-1"),
            ("given_name", evil),
            ("family_name", "O'Brien \"Jr\""),
        ];
        for (k, v) in &change {
            fields.retain(|(name, _)| name != k);
            fields.push((k, v));
        }
        let page = browser.sign_up(&issuer, &form, &fields).await;
        assert_eq!(page.status, 200, "{change:?}");
        assert!(
            page.alert().contains(expected),
            "{change:?}: {}",
            page.alert()
        );
        assert!(!page.body.contains("<script"), "{change:?}");
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        if !change.iter().any(|(k, _)| *k == "email") {
            assert_eq!(field_value(&page, "email"), "new@example.com");
        }
        if !change.iter().any(|(k, _)| *k == "family_name") {
            assert_eq!(
                field_value(&page, "family_name"),
                "O&#39;Brien &quot;Jr&quot;"
            );
        }
        assert_eq!(field_value(&page, "password"), "", "never echoed");
        assert_eq!(page.headers["cache-control"], "no-store");
    }
    // The same form still works, and keeps the name as typed.
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;
    let done = browser
        .sign_up(
            &issuer,
            &form,
            &[
                ("email", "new@example.com"),
                ("password", "a-fine-password-1"),
                ("given_name", evil),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, id) = tokens(&issuer, &done, &verifier).await;
    assert_eq!(id.given_name.as_deref(), Some(evil));
}

#[tokio::test]
async fn case_49_88_sign_up_csrf_and_browser_binding() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;
    let interaction = form.hidden("interaction");
    let csrf = form.hidden("csrf");
    let url = format!("{}/oauth2/auth/sign-up", issuer.url());
    let fields = |interaction: &str, csrf: Option<&str>| {
        let mut f = vec![
            ("interaction".to_owned(), interaction.to_owned()),
            ("email".to_owned(), GRACE.to_owned()),
            ("password".to_owned(), GRACE_PASSWORD.to_owned()),
        ];
        if let Some(c) = csrf {
            f.push(("csrf".to_owned(), c.to_owned()));
        }
        f
    };

    // No CSRF token, a wrong one, another browser (no cookie), a cross-site post.
    let no_token = browser
        .send(http().post(&url).form(&fields(&interaction, None)))
        .await;
    assert_eq!(no_token.status, 403);
    let wrong = browser
        .send(
            http()
                .post(&url)
                .form(&fields(&interaction, Some("wrong-token"))),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let mut attacker = Browser::default();
    let other = attacker
        .send(http().post(&url).form(&fields(&interaction, Some(&csrf))))
        .await;
    assert_eq!(other.status, 403);
    let cross = browser
        .send(
            http()
                .post(&url)
                .header("origin", "https://evil.example")
                .form(&fields(&interaction, Some(&csrf))),
        )
        .await;
    assert_eq!(cross.status, 403);
    let fetch_site = browser
        .send(
            http()
                .post(&url)
                .header("sec-fetch-site", "cross-site")
                .form(&fields(&interaction, Some(&csrf))),
        )
        .await;
    assert_eq!(fetch_site.status, 403);
    let unknown = browser
        .send(http().post(&url).form(&fields("unknown", Some(&csrf))))
        .await;
    assert_eq!(unknown.status, 400);
    for refused in [&no_token, &wrong, &other, &cross, &fetch_site, &unknown] {
        assert!(refused.location.is_none());
        assert!(refused.headers.get("set-cookie").is_none(), "no session");
    }

    // Nothing was created: the email is still new, and the real form goes through (with the
    // issuer's own Origin, as a browser sends it).
    let done = browser
        .send(
            http()
                .post(&url)
                .header("origin", issuer.url())
                .form(&fields(&interaction, Some(&csrf))),
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // The interaction is spent.
    let replay = browser
        .send(http().post(&url).form(&fields(&interaction, Some(&csrf))))
        .await;
    assert_eq!(replay.status, 400);
}

#[tokio::test]
async fn create_org_at_sign_up() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(
            &issuer,
            &params(
                &challenge,
                &[("is_create_org", "true"), ("org_name", "Grace <Labs>")],
            ),
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("action=\"/oauth2/auth/sign-up\""));
    assert!(form.body.contains("Grace &lt;Labs&gt;"));
    let done = browser
        .sign_up(&issuer, &form, &grace(GRACE, GRACE_PASSWORD))
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (claims, id) = tokens(&issuer, &done, &verifier).await;
    let org = claims.org_code.clone().expect("org_code");
    assert!(org.starts_with("org_") && org.len() > 10, "{org}");
    assert!(org["org_".len()..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(org, "org_acme");
    assert_eq!(id.user_organizations().org_codes, [org.as_str()]);
    assert!(claims.roles.is_empty(), "a member without roles");

    // With a bad org_name: invalid_request, redirected with state and iss. (Without org_name,
    // the hosted "Create your organization" form asks for it: tests/authorize_hardening.rs.)
    for extra in [
        vec![("is_create_org", "true"), ("org_name", "   ")],
        vec![
            ("is_create_org", "true"),
            ("org_name", &*"x".repeat(101).leak()),
        ],
        vec![("prompt", "none create")],
    ] {
        let mut b = Browser::default();
        let page = b.authorize(&issuer, &params(&challenge, &extra)).await;
        assert_eq!(page.status, 303, "{extra:?}: {}", page.body);
        assert_eq!(page.param("error").as_deref(), Some("invalid_request"));
        assert_eq!(page.param("state").as_deref(), Some("state-123"));
        assert_eq!(page.param("iss").as_deref(), Some(issuer.url()));
    }
}

#[tokio::test]
async fn login_hint_prefills_the_email() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    for (hint, prompt, expected) in [
        ("joe@x.com", None, "joe@x.com"),
        ("joe@x.com", Some("create"), "joe@x.com"),
        ("\"><script>@x.com", None, "&quot;&gt;&lt;script&gt;@x.com"),
        ("username:joe", None, ""),
        ("phone:+447700900000:gb", Some("create"), ""),
        ("not an email", None, ""),
    ] {
        let mut extra = vec![("login_hint", hint)];
        if let Some(p) = prompt {
            extra.push(("prompt", p));
        }
        let mut browser = Browser::default();
        let page = browser
            .authorize(&issuer, &params(&challenge, &extra))
            .await;
        assert_eq!(page.status, 200, "{hint}");
        assert_eq!(field_value(&page, "email"), expected, "{hint}");
        assert!(!page.body.contains("<script"));
        // Switching forms keeps the hint.
        let other = if prompt.is_some() {
            "sign-in"
        } else {
            "sign-up"
        };
        let switched = browser
            .send(http().get(format!(
                "{}/oauth2/auth/{other}?interaction={}",
                issuer.url(),
                page.hidden("interaction")
            )))
            .await;
        assert_eq!(field_value(&switched, "email"), expected, "{hint}");
    }
}

#[tokio::test]
async fn sign_ups_are_limited_per_address() {
    // The server's clock stays at the start of a rate-limit window, however long the 21
    // sign-ups take.
    let issuer = TestIssuer::builder()
        .seed(demo::demo_seed())
        .clock(common::clock_at_window_start())
        .start()
        .await
        .unwrap();
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    for i in 0..portcullis_server::limits::SIGN_UPS_PER_ADDRESS {
        let form = browser
            .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
            .await;
        let email = format!("user{i}@example.com");
        let done = browser
            .sign_up(&issuer, &form, &grace(&email, GRACE_PASSWORD))
            .await;
        assert_eq!(done.status, 303, "{i}: {}", done.body);
    }
    let form = browser
        .authorize(&issuer, &params(&challenge, &[("prompt", "create")]))
        .await;
    for email in ["one-more@example.com", ADA] {
        let limited = browser
            .sign_up(&issuer, &form, &grace(email, GRACE_PASSWORD))
            .await;
        assert_eq!(limited.status, 429, "{email}");
        assert!(limited.headers.contains_key("retry-after"));
    }
}
