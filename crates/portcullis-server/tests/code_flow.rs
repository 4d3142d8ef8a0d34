//! The authorization code flow end to end over real HTTP: authorize → hosted sign-in form →
//! code → token endpoint → tokens the SDK verifies, plus single sign-on, prompt handling, PKCE,
//! code replay, login CSRF and the never-redirect rules (docs/security.md cases 50, 51, 54, 56, 64,
//! 66, 67, 86, 88).

use portcullis::IdTokenChecks;
use portcullis::clock::ManualClock;
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

mod common;

use common::browser::{Browser, http, pkce};
use common::demo::{
    self, ADA, ADA_PASSWORD, API, SPA, SPA_CALLBACK, WEB, WEB_CALLBACK, WEB_SECRET, ada_tokens,
    demo_seed, exchange, introspect, redeem, redeem_code, replaced, sdk, start_demo as start,
};

/// What the web app asks for here: Ada's tokens in `org_acme` for the API, with a refresh token.
const SCOPE: &str = "openid profile email offline";
const IN_ACME: [(&str, &str); 2] = [("audience", API), ("org_code", "org_acme")];

/// The web app's authorization request (see [`SCOPE`], [`IN_ACME`]), plus `extra`.
fn web_params<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = demo::web_params(challenge, SCOPE, &IN_ACME);
    p.extend_from_slice(extra);
    p
}

#[tokio::test]
async fn sign_in_code_exchange_and_sdk_verification() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();

    // The hosted form, with its security headers.
    let form = browser
        .authorize(&issuer, &web_params(&challenge, &[]))
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(form.headers["cache-control"], "no-store");
    assert!(form.body.contains("name=\"email\"") && form.body.contains("name=\"password\""));
    let cookie = form.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // No user enumeration: an unknown email and a wrong password read the same.
    let unknown = browser
        .sign_in(&issuer, &form, "nobody@example.com", "whatever-password")
        .await;
    let wrong = browser
        .sign_in(&issuer, &form, ADA, "wrong-password-123")
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(wrong.status, 200);
    assert_eq!(unknown.alert(), wrong.alert());

    // Success: back to the app with code, state and iss.
    let done = browser.sign_in(&issuer, &wrong, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().starts_with(WEB_CALLBACK));
    assert_eq!(done.param("state").as_deref(), Some("state-123"));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    let code = done.param("code").unwrap();

    let (status, tokens) = redeem(&issuer, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    // The SDK verifies both, with every check.
    let sdk = sdk(&issuer, WEB);
    let claims = sdk.verify_access_token(access).await.unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert_eq!(claims.client_id.as_deref(), Some(WEB), "RFC 9068 §2.2");
    assert!(claims.has_role("admin"));
    assert!(claims.has_permission("delete:todos"));
    assert_eq!(claims.string_flag("theme", None).unwrap(), "blue");
    assert!(!claims.bool_flag("analytics", None).unwrap());
    assert_eq!(claims.integer_flag("competitions_limit", None).unwrap(), 5);
    assert!(claims.has_scope("offline"));
    let id = sdk
        .verify_id_token_with(
            id_token,
            &IdTokenChecks::nonce("nonce-456").with_access_token(access),
        )
        .await
        .unwrap();
    assert_eq!(id.email.as_deref(), Some(ADA));
    assert_eq!(id.given_name.as_deref(), Some("Ada"));
    assert_eq!(
        id.user_organizations().org_codes,
        ["org_acme", "org_globex"]
    );
    assert_eq!(id.sub, claims.sub);

    // Case 64: the code is single-use, and its replay revokes what it issued.
    let (status, err) = redeem(&issuer, &code, &verifier).await;
    assert_eq!(
        (status, err["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(introspect(&issuer, access).await, json!({"active": false}));

    // Single sign-on: the session answers at once; prompt=login asks again.
    let (_, challenge2) = pkce();
    let again = browser
        .authorize(&issuer, &web_params(&challenge2, &[]))
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again.param("code").is_some());
    let forced = browser
        .authorize(&issuer, &web_params(&challenge2, &[("prompt", "login")]))
        .await;
    assert_eq!(forced.status, 200);
    let silent = browser
        .authorize(&issuer, &web_params(&challenge2, &[("prompt", "none")]))
        .await;
    assert!(silent.param("code").is_some());
    // prompt=none without a session: login_required, redirected.
    let mut stranger = Browser::default();
    let none = stranger
        .authorize(&issuer, &web_params(&challenge2, &[("prompt", "none")]))
        .await;
    assert_eq!(none.param("error").as_deref(), Some("login_required"));
    assert_eq!(none.param("state").as_deref(), Some("state-123"));
}

#[tokio::test]
async fn case_50_51_unknown_client_or_redirect_is_an_error_page_never_a_redirect() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let long_id = "w".repeat(256);
    for (client, redirect) in [
        ("nobody", WEB_CALLBACK),
        ("report-job", WEB_CALLBACK),
        // Not client ids at all (control characters, empty, too long): the same page as an
        // unknown one.
        ("web\napp", WEB_CALLBACK),
        ("web\u{7f}app", WEB_CALLBACK),
        ("", WEB_CALLBACK),
        (long_id.as_str(), WEB_CALLBACK),
        (WEB, "http://localhost:3000/callback/"),
        (WEB, "http://localhost:3000/callback?x=1"),
        (WEB, "http://LOCALHOST:3000/callback"),
        (WEB, "http://localhost:3000/Callback"),
        (WEB, "https://evil.example/callback"),
        (WEB, SPA_CALLBACK),
        (WEB, ""),
    ] {
        let params = replaced(
            web_params(&challenge, &[]),
            &[("client_id", client), ("redirect_uri", redirect)],
        );
        let page = browser.authorize(&issuer, &params).await;
        assert_eq!(page.status, 400, "{client} {redirect}");
        assert!(
            page.location.is_none(),
            "{client} {redirect}: never redirect"
        );
        assert!(!page.body.contains("<script"));
    }
}

#[tokio::test]
async fn case_54_56_errors_after_a_valid_redirect_go_back_with_state_and_iss() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("audience", "https://billing.example.com/not-granted")],
            "invalid_target",
        ),
        (vec![("prompt", "consent")], "invalid_request"),
        (vec![("request", "eyJ.x.y")], "request_not_supported"),
        (vec![("state", "again")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let mut params = web_params(&challenge, &[]);
        for (k, v) in &extra {
            if *k != "state" {
                params.retain(|(name, _)| name != k);
            }
            params.push((k, v));
        }
        let page = browser.authorize(&issuer, &params).await;
        assert_eq!(page.status, 303, "{extra:?}: {}", page.body);
        assert_eq!(page.param("error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(page.param("iss").as_deref(), Some(issuer.url()));
    }
    // An SPA must use PKCE.
    let page = browser
        .authorize(
            &issuer,
            &[
                ("client_id", SPA),
                ("redirect_uri", SPA_CALLBACK),
                ("response_type", "code"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(page.param("error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn case_66_67_spa_pkce_and_code_binding() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let params = [
        ("client_id", SPA),
        ("redirect_uri", SPA_CALLBACK),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let form = browser.authorize(&issuer, &params).await;
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    let code = done.param("code").unwrap();
    let base = |code: &str, verifier: &str, redirect: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("client_id".to_owned(), SPA.to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ]
    };
    let post = |form: Vec<(String, String)>| {
        let issuer_url = issuer.url().to_owned();
        async move {
            let response = http()
                .post(format!("{issuer_url}/oauth2/token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // A wrong verifier or redirect URI is invalid_grant, and burns the code.
    let (wrong_verifier, _) = pkce();
    let (status, body) = post(base(&code, &wrong_verifier, SPA_CALLBACK)).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let (status, _) = post(base(&code, &verifier, SPA_CALLBACK)).await;
    assert_eq!(status, 400, "the code was consumed by the failed attempt");

    // A fresh code: the public client needs no secret, only the verifier.
    let again = browser.authorize(&issuer, &params).await;
    let code = again.param("code").unwrap();
    let (status, body) = post(base(&code, &verifier, "http://localhost:5173/other")).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let again = browser.authorize(&issuer, &params).await;
    let code = again.param("code").unwrap();
    let (status, body) = post(base(&code, &verifier, SPA_CALLBACK)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
    // Another client cannot redeem a code (case 66).
    let again = browser.authorize(&issuer, &params).await;
    let code = again.param("code").unwrap();
    let (status, body) = redeem_code(
        &issuer,
        (WEB, Some(WEB_SECRET)),
        &code,
        SPA_CALLBACK,
        &verifier,
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
}

#[tokio::test]
async fn case_88_login_csrf_and_expired_forms() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut victim = Browser::default();
    let mut attacker = Browser::default();
    // The attacker opens a form and makes the victim's browser post it: refused.
    let form = attacker
        .authorize(&issuer, &web_params(&challenge, &[]))
        .await;
    let forged = victim.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(forged.status, 403);
    assert!(forged.location.is_none());
    // A wrong CSRF token from the right browser: refused too.
    let fields = [
        ("interaction", form.hidden("interaction")),
        ("csrf", "forged".to_owned()),
        ("email", ADA.to_owned()),
        ("password", ADA_PASSWORD.to_owned()),
    ];
    let page = attacker
        .send(
            http()
                .post(format!("{}/oauth2/auth/sign-in", issuer.url()))
                .form(&fields),
        )
        .await;
    assert_eq!(page.status, 403);
    // An unknown interaction: an error page.
    let fields = [
        ("interaction", "nope".to_owned()),
        ("csrf", "x".to_owned()),
        ("email", ADA.to_owned()),
        ("password", ADA_PASSWORD.to_owned()),
    ];
    let page = attacker
        .send(
            http()
                .post(format!("{}/oauth2/auth/sign-in", issuer.url()))
                .form(&fields),
        )
        .await;
    assert_eq!(page.status, 400);
    // The form is single-use: after a successful sign-in it cannot be replayed.
    let done = attacker.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303);
    let replay = attacker.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(replay.status, 400);
}

/// Signs Ada in to the web app (offline scope) and returns the token response.
async fn signed_in_tokens(issuer: &TestIssuer) -> Value {
    ada_tokens(issuer, SCOPE, &IN_ACME).await
}

async fn refresh(issuer: &TestIssuer, auth: Option<(&str, &str)>, token: &str) -> (u16, Value) {
    exchange(
        issuer,
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_carry_current_claims() {
    let issuer = start().await;
    let first = signed_in_tokens(&issuer).await;
    let r1 = first["refresh_token"]
        .as_str()
        .expect("offline scope gives a refresh token");

    // A role change applies at the next refresh.
    let store = issuer.state().store();
    let ada = store.user_by_email(ADA).await.unwrap().unwrap();
    store
        .set_membership("org_acme", &ada.id, &["member".into()], &[])
        .await
        .unwrap();

    let (status, second) = refresh(&issuer, Some((WEB, WEB_SECRET)), r1).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "refresh tokens rotate");
    let sdk = sdk(&issuer, WEB);
    let claims = sdk
        .verify_access_token(second["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(claims.has_role("member") && !claims.has_role("admin"));
    assert!(!claims.has_permission("delete:todos"));
    // The refreshed ID token keeps the identity, without a nonce (OIDC Core §12.2).
    let id = sdk
        .verify_id_token(second["id_token"].as_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(id.sub, claims.sub);
    assert!(id.nonce.is_none());

    // Within the grace period the previous token still works (a retried request).
    let (status, _) = refresh(&issuer, Some((WEB, WEB_SECRET)), r1).await;
    assert_eq!(status, 200);
    // Another client cannot use it; a narrower scope is fine, a wider one is not.
    let (status, body) = refresh(
        &issuer,
        Some(("report-job", "replace-me-with-32-random-bytes-in-base64")),
        r2,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = exchange(
        &issuer,
        Some((WEB, WEB_SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r2),
            ("scope", "openid admin:everything"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_scope"))
    );
    let (status, body) = refresh(&issuer, None, "garbage").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = refresh(&issuer, Some((WEB, WEB_SECRET)), "garbage").await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );

    // Introspection sees a current refresh token as active.
    let (_, third) = refresh(&issuer, Some((WEB, WEB_SECRET)), r2).await;
    let r3 = third["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&issuer, r3).await["active"], true);
    assert_eq!(introspect(&issuer, r2).await, json!({"active": false}));

    // Revoking a refresh token revokes its family and the access tokens it issued (case 77).
    let a3 = third["access_token"].as_str().unwrap();
    let status = http()
        .post(format!("{}/oauth2/revoke", issuer.url()))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", r3), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let (status, body) = refresh(&issuer, Some((WEB, WEB_SECRET)), r3).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(introspect(&issuer, a3).await, json!({"active": false}));
}

#[tokio::test]
async fn case_71_reusing_a_rotated_refresh_token_revokes_the_family() {
    let clock = ManualClock::now();
    let issuer = TestIssuer::builder()
        .seed(demo_seed())
        .refresh_reuse_grace(0)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let first = signed_in_tokens(&issuer).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (_, second) = refresh(&issuer, Some((WEB, WEB_SECRET)), r1).await;
    let r2 = second["refresh_token"].as_str().unwrap();
    let a2 = second["access_token"].as_str().unwrap();
    // The grace (0 s) passes on the server's clock of whole seconds.
    clock.advance(std::time::Duration::from_secs(1));
    // The stolen copy of r1 is replayed: refused, and the whole family dies with it.
    let (status, body) = refresh(&issuer, Some((WEB, WEB_SECRET)), r1).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let (status, _) = refresh(&issuer, Some((WEB, WEB_SECRET)), r2).await;
    assert_eq!(status, 400, "the legitimate successor is revoked too");
    assert_eq!(introspect(&issuer, a2).await, json!({"active": false}));
}

#[tokio::test]
async fn spa_refresh_needs_no_secret() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let params = [
        ("client_id", SPA),
        ("redirect_uri", SPA_CALLBACK),
        ("response_type", "code"),
        ("scope", "openid offline"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let form = browser.authorize(&issuer, &params).await;
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    let code = done.param("code").unwrap();
    let (status, tokens) = redeem_code(&issuer, (SPA, None), &code, SPA_CALLBACK, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = exchange(
        &issuer,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", SPA),
            ("refresh_token", r1),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
