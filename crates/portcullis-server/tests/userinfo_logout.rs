//! UserInfo (OIDC Core §5.3), Kinde's profile endpoints and logout (Kinde `?redirect=` and OIDC
//! RP-Initiated Logout) over real HTTP, after a real sign-in through the hosted form
//! (docs/security.md cases 38-42, 47, 75, 78, 89).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_server::seed::Seed;
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

const API: &str = "https://api.example.com";
const WEB: &str = "demo-web";
const WEB_SECRET: &str = "demo-web-secret-change-me-0123456789abcdef";
const WEB_CALLBACK: &str = "http://localhost:3000/callback";
const WEB_LOGOUT: &str = "http://localhost:3000/";
const SPA: &str = "demo-spa";
const SPA_LOGOUT: &str = "http://localhost:5173/";
const M2M: &str = "report-job";
const M2M_SECRET: &str = "replace-me-with-32-random-bytes-in-base64";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";

async fn start() -> TestIssuer {
    start_with(TestIssuer::builder()).await
}

async fn start_with(builder: portcullis_server::testing::TestIssuerBuilder) -> TestIssuer {
    builder
        .seed(Seed::from_toml(include_str!("../examples/tenant.toml")).unwrap())
        .start()
        .await
        .unwrap()
}

mod common;

use common::browser::{Browser, http, pkce};

// The flows these tests repeat, on the shared test browser.
impl Browser {
    /// Signs in to `demo-web` with `scope` (through the form, or silently with a session) and
    /// exchanges the code: the token response.
    async fn tokens(&mut self, issuer: &TestIssuer, scope: &str) -> Value {
        let (verifier, challenge) = pkce();
        let params = [
            ("client_id", WEB),
            ("redirect_uri", WEB_CALLBACK),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("audience", API),
        ];
        let mut page = self.get(issuer, "/oauth2/auth", &params).await;
        if page.status == 200 {
            let fields = [
                ("interaction", page.hidden("interaction")),
                ("csrf", page.hidden("csrf")),
                ("email", ADA.to_owned()),
                ("password", ADA_PASSWORD.to_owned()),
            ];
            page = self
                .send(
                    http()
                        .post(format!("{}/oauth2/auth/sign-in", issuer.url()))
                        .form(&fields),
                )
                .await;
        }
        assert_eq!(page.status, 303, "{}", page.body);
        let code = page.param("code").unwrap();
        let response = http()
            .post(format!("{}/oauth2/token", issuer.url()))
            .basic_auth(WEB, Some(WEB_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", WEB_CALLBACK),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `prompt=none`: the `error` of the answer, `None` when a code came back.
    async fn silent(&mut self, issuer: &TestIssuer) -> Option<String> {
        let (_, challenge) = pkce();
        let page = self
            .get(
                issuer,
                "/oauth2/auth",
                &[
                    ("client_id", WEB),
                    ("redirect_uri", WEB_CALLBACK),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                    ("prompt", "none"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        page.param("error")
    }
}

/// A protected-resource answer.
struct Answer {
    status: u16,
    challenge: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn call(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let challenge = header("www-authenticate");
    let cache_control = header("cache-control");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    Answer {
        status,
        challenge,
        cache_control,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn get_with(issuer: &TestIssuer, path: &str, authorization: &str) -> Answer {
    call(
        http()
            .get(format!("{}{path}", issuer.url()))
            .header("authorization", authorization),
    )
    .await
}

/// The token with one character in the middle of its signature changed.
fn tamper(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 20;
    let mut out = token.to_owned();
    let c = if &token[at..=at] == "A" { "B" } else { "A" };
    out.replace_range(at..=at, c);
    out
}

const PROFILE_PATHS: [&str; 3] = [
    "/oauth2/userinfo",
    "/oauth2/v2/user_profile",
    "/oauth2/user_profile",
];

#[tokio::test]
async fn case_75_profile_endpoints_answer_for_a_signed_in_user() {
    let issuer = start().await;
    let mut browser = Browser::default();
    let tokens = browser
        .tokens(&issuer, "openid profile email offline")
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {access}");
    let ada = issuer
        .state()
        .store()
        .user_by_email(ADA)
        .await
        .unwrap()
        .unwrap();

    // OIDC UserInfo, GET and POST with the header, POST with the form body.
    let get = get_with(&issuer, "/oauth2/userinfo", &bearer).await;
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(get.cache_control.as_deref(), Some("no-store"));
    assert_eq!(
        get.body,
        json!({
            "sub": ada.id,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": ADA,
            "updated_at": ada.updated_at,
        }),
        "no picture and no email_verified: unknown values are omitted"
    );
    let post = call(
        http()
            .post(format!("{}/oauth2/userinfo", issuer.url()))
            .header("authorization", &bearer),
    )
    .await;
    assert_eq!((post.status, &post.body), (200, &get.body));
    let body = call(
        http()
            .post(format!("{}/oauth2/userinfo", issuer.url()))
            .form(&[("access_token", access)]),
    )
    .await;
    assert_eq!((body.status, &body.body), (200, &get.body));
    // The scheme is case-insensitive (case 39).
    for scheme in ["bearer", "BEARER"] {
        let a = get_with(&issuer, "/oauth2/userinfo", &format!("{scheme} {access}")).await;
        assert_eq!(a.status, 200, "{scheme}");
    }

    // Kinde v2: every member, `id` = `sub`, null where there is no value.
    let v2 = get_with(&issuer, "/oauth2/v2/user_profile", &bearer).await;
    assert_eq!(v2.status, 200);
    assert_eq!(v2.cache_control.as_deref(), Some("no-store"));
    assert_eq!(
        v2.body,
        json!({
            "sub": ada.id,
            "id": ada.id,
            "provided_id": null,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "updated_at": ada.updated_at,
            "email": ADA,
            "picture": null,
        })
    );
    // Kinde legacy.
    let legacy = get_with(&issuer, "/oauth2/user_profile", &bearer).await;
    assert_eq!(legacy.status, 200);
    assert_eq!(
        legacy.body,
        json!({
            "id": ada.id,
            "preferred_email": ADA,
            "provided_id": null,
            "last_name": "Lovelace",
            "first_name": "Ada",
            "picture": null,
        })
    );
    // The same subject as the ID token.
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["sub"], json!(ada.id));

    // Claims are limited to the granted scopes (case 75).
    let narrow = browser.tokens(&issuer, "openid").await;
    let bearer = format!("Bearer {}", narrow["access_token"].as_str().unwrap());
    let a = get_with(&issuer, "/oauth2/userinfo", &bearer).await;
    assert_eq!(a.body, json!({"sub": ada.id}));
    let a = get_with(&issuer, "/oauth2/v2/user_profile", &bearer).await;
    assert_eq!(a.body["id"], json!(ada.id));
    assert_eq!(a.body["email"], Value::Null);
    assert_eq!(a.body["given_name"], Value::Null);
    let a = get_with(&issuer, "/oauth2/user_profile", &bearer).await;
    assert_eq!(a.body["preferred_email"], Value::Null);
    let email_only = browser.tokens(&issuer, "openid email").await;
    let bearer = format!("Bearer {}", email_only["access_token"].as_str().unwrap());
    let a = get_with(&issuer, "/oauth2/userinfo", &bearer).await;
    assert_eq!(a.body, json!({"sub": ada.id, "email": ADA}));

    // Case 41: no openid scope → 403 insufficient_scope, on every endpoint.
    let no_openid = browser.tokens(&issuer, "profile email").await;
    let bearer = format!("Bearer {}", no_openid["access_token"].as_str().unwrap());
    for path in PROFILE_PATHS {
        let a = get_with(&issuer, path, &bearer).await;
        assert_eq!(a.status, 403, "{path}");
        assert_eq!(a.body["error"], json!("insufficient_scope"));
        let challenge = a.challenge.unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"portcullis\"")
                && challenge.contains("error=\"insufficient_scope\"")
                && challenge.contains("scope=\"openid\""),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn case_38_39_42_missing_malformed_and_misplaced_credentials() {
    let issuer = start().await;
    let mut browser = Browser::default();
    let tokens = browser.tokens(&issuer, "openid profile email").await;
    let access = tokens["access_token"].as_str().unwrap();

    // Case 38: nothing at all → 401, a bare challenge, no error code.
    for path in PROFILE_PATHS {
        let a = call(http().get(format!("{}{path}", issuer.url()))).await;
        assert_eq!(a.status, 401, "{path}");
        assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"portcullis\""));
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
        assert!(a.body.get("error").is_none());
    }
    let a = call(http().post(format!("{}/oauth2/userinfo", issuer.url()))).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"portcullis\""));

    let invalid_request = |a: &Answer, what: &str| {
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.body["error"], json!("invalid_request"), "{what}");
        assert!(
            a.challenge
                .as_deref()
                .is_some_and(|c| c.contains("error=\"invalid_request\"")),
            "{what}"
        );
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    };
    // Case 39: malformed headers.
    for bad in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer a b".to_owned(),
    ] {
        for path in PROFILE_PATHS {
            invalid_request(&get_with(&issuer, path, &bad).await, &bad);
        }
    }
    // Another scheme is an unsupported authentication method: 401 with a bare challenge and
    // no error code, like no credentials (RFC 6750 §3.1).
    for other in [
        "Basic xyz".to_owned(),
        format!("Token {access}"),
        "Bearerabc".to_owned(),
    ] {
        for path in PROFILE_PATHS {
            let a = get_with(&issuer, path, &other).await;
            assert_eq!(a.status, 401, "{path} {}", &other[..other.len().min(12)]);
            assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"portcullis\""));
            assert!(a.body.get("error").is_none(), "{}", a.body);
        }
    }
    // Two Authorization headers.
    let two = call(
        http()
            .get(format!("{}/oauth2/userinfo", issuer.url()))
            .header("authorization", format!("Bearer {access}"))
            .header("authorization", format!("Bearer {access}")),
    )
    .await;
    invalid_request(&two, "two headers");
    // Header and body together.
    let both = call(
        http()
            .post(format!("{}/oauth2/userinfo", issuer.url()))
            .header("authorization", format!("Bearer {access}"))
            .form(&[("access_token", access)]),
    )
    .await;
    invalid_request(&both, "header and body");
    // Case 42: never from the query string, alone or with a header.
    for path in PROFILE_PATHS {
        let url = url::Url::parse_with_params(
            &format!("{}{path}", issuer.url()),
            &[("access_token", access)],
        )
        .unwrap();
        invalid_request(&call(http().get(url.clone())).await, "query");
        invalid_request(
            &call(
                http()
                    .get(url)
                    .header("authorization", format!("Bearer {access}")),
            )
            .await,
            "query and header",
        );
    }
    let url = url::Url::parse_with_params(
        &format!("{}/oauth2/userinfo", issuer.url()),
        &[("access_token", access)],
    )
    .unwrap();
    invalid_request(&call(http().post(url)).await, "POST query");
}

#[tokio::test]
async fn case_40_75_invalid_revoked_id_and_machine_tokens_are_invalid_token() {
    let issuer = start().await;
    let mut browser = Browser::default();
    let tokens = browser.tokens(&issuer, "openid profile email").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();

    let invalid_token = |a: &Answer, what: &str| {
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(a.body["error"], json!("invalid_token"), "{what}");
        let c = a.challenge.as_deref().unwrap();
        assert!(
            c.starts_with("Bearer realm=\"portcullis\"") && c.contains("error=\"invalid_token\""),
            "{what}: {c}"
        );
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    };

    // Garbage, a tampered signature, an ID token.
    let tampered = tamper(&access);
    for (what, token) in [
        ("garbage", "not.a.jwt".to_owned()),
        ("tampered", tampered),
        ("id token", id_token),
    ] {
        for path in PROFILE_PATHS {
            invalid_token(
                &get_with(&issuer, path, &format!("Bearer {token}")).await,
                what,
            );
        }
    }

    // A machine-to-machine token: its `sub` is a client id, not a user.
    let m2m = issuer
        .client_credentials_token(M2M, M2M_SECRET, API, None)
        .await
        .unwrap();
    for path in PROFILE_PATHS {
        invalid_token(
            &get_with(&issuer, path, &format!("Bearer {m2m}")).await,
            "m2m",
        );
    }

    // A revoked token.
    assert_eq!(
        get_with(&issuer, "/oauth2/userinfo", &format!("Bearer {access}"))
            .await
            .status,
        200
    );
    let revoked = http()
        .post(format!("{}/oauth2/revoke", issuer.url()))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    for path in PROFILE_PATHS {
        invalid_token(
            &get_with(&issuer, path, &format!("Bearer {access}")).await,
            "revoked",
        );
    }
    let body = call(
        http()
            .post(format!("{}/oauth2/userinfo", issuer.url()))
            .form(&[("access_token", access.as_str())]),
    )
    .await;
    invalid_token(&body, "revoked, in the body");
}

#[tokio::test]
async fn case_47_78_logout_to_a_registered_url_ends_the_session() {
    let issuer = start().await;
    let mut browser = Browser::default();
    browser.tokens(&issuer, "openid").await;
    assert_eq!(browser.silent(&issuer).await, None, "signed in");
    let old_session = browser.session().unwrap();

    // Kinde's form: ?redirect=, with state echoed.
    let page = browser
        .get(
            &issuer,
            "/logout",
            &[("redirect", WEB_LOGOUT), ("state", "bye 1")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some("http://localhost:3000/?state=bye+1")
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    let cleared = page.headers["set-cookie"].to_str().unwrap();
    assert_eq!(
        cleared, "pc_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
        "cleared with the attributes it was set with"
    );
    assert!(browser.session().is_none());
    assert_eq!(
        browser.silent(&issuer).await.as_deref(),
        Some("login_required")
    );
    // Case 47: replaying the old cookie does not bring the session back.
    let mut replay = Browser {
        cookies: vec![("pc_session".into(), old_session)],
    };
    assert_eq!(
        replay.silent(&issuer).await.as_deref(),
        Some("login_required")
    );

    // OIDC form with client_id.
    browser.tokens(&issuer, "openid").await;
    let page = browser
        .get(
            &issuer,
            "/logout",
            &[
                ("client_id", WEB),
                ("post_logout_redirect_uri", WEB_LOGOUT),
                ("state", "s2"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.param("state").as_deref(), Some("s2"));
    assert!(page.location.unwrap().starts_with(WEB_LOGOUT));
    assert_eq!(
        browser.silent(&issuer).await.as_deref(),
        Some("login_required")
    );

    // OIDC form with id_token_hint alone: the hint names the client.
    let tokens = browser.tokens(&issuer, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    let page = browser
        .get(
            &issuer,
            "/logout",
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", WEB_LOGOUT),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(WEB_LOGOUT));
    assert_eq!(
        browser.silent(&issuer).await.as_deref(),
        Some("login_required")
    );

    // Kinde's 2.x SDKs: redirect_uri with client_id and id_token_hint (and the same URL under
    // another name too).
    let tokens = browser.tokens(&issuer, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    for extra in [
        None,
        Some(("redirect", WEB_LOGOUT)),
        Some(("post_logout_redirect_uri", WEB_LOGOUT)),
    ] {
        browser.tokens(&issuer, "openid").await;
        let mut params = vec![
            ("redirect_uri", WEB_LOGOUT),
            ("client_id", WEB),
            ("id_token_hint", hint),
        ];
        params.extend(extra);
        let page = browser.get(&issuer, "/logout", &params).await;
        assert_eq!(page.status, 303, "{params:?}: {}", page.body);
        assert_eq!(page.location.as_deref(), Some(WEB_LOGOUT));
        assert_eq!(
            browser.silent(&issuer).await.as_deref(),
            Some("login_required")
        );
    }
    // And without a client, like `redirect`.
    browser.tokens(&issuer, "openid").await;
    let page = browser
        .get(&issuer, "/logout", &[("redirect_uri", SPA_LOGOUT)])
        .await;
    assert_eq!(page.location.as_deref(), Some(SPA_LOGOUT));

    // Kinde's form without a client: a logout URL some application registered is accepted.
    browser.tokens(&issuer, "openid").await;
    let page = browser
        .get(&issuer, "/logout", &[("redirect", SPA_LOGOUT)])
        .await;
    assert_eq!(page.location.as_deref(), Some(SPA_LOGOUT));

    // No target: a signed-out page, 200.
    browser.tokens(&issuer, "openid").await;
    let page = browser.get(&issuer, "/logout", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.location.is_none());
    assert!(page.body.contains("You have been signed out."));
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(
        browser.silent(&issuer).await.as_deref(),
        Some("login_required")
    );
    // Again, with no session: still a page.
    let page = browser.get(&issuer, "/logout", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You are not signed in."));
}

#[tokio::test]
async fn case_78_89_bad_targets_and_hints_never_redirect_but_still_sign_out() {
    let issuer = start().await;
    let mut browser = Browser::default();
    let tokens = browser.tokens(&issuer, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let tampered_hint = tamper(&hint);

    let cases: Vec<Vec<(&str, &str)>> = vec![
        // Unregistered, or registered but not an exact match.
        vec![("redirect", "https://evil.example")],
        vec![("redirect", "https://evil.example/")],
        vec![("redirect", "//evil.example/")],
        vec![("redirect", "http://localhost:3000")],
        vec![("redirect", "http://localhost:3000/?x=1")],
        vec![("redirect", "http://LOCALHOST:3000/")],
        vec![("redirect", "http://localhost:3000/other")],
        vec![("redirect", WEB_CALLBACK)],
        vec![("post_logout_redirect_uri", "https://evil.example")],
        // Registered, but for another client than the one named.
        vec![("client_id", WEB), ("redirect", SPA_LOGOUT)],
        vec![("client_id", WEB), ("post_logout_redirect_uri", SPA_LOGOUT)],
        // The OIDC form needs the client named.
        vec![("post_logout_redirect_uri", WEB_LOGOUT)],
        // Unknown or machine clients.
        vec![("client_id", "nobody"), ("redirect", WEB_LOGOUT)],
        vec![("client_id", M2M), ("redirect", WEB_LOGOUT)],
        // client_id ≠ the hint's client; a bad hint; an access token as the hint.
        vec![
            ("client_id", SPA),
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", SPA_LOGOUT),
        ],
        vec![
            ("id_token_hint", &tampered_hint),
            ("post_logout_redirect_uri", WEB_LOGOUT),
        ],
        vec![
            ("id_token_hint", &access),
            ("post_logout_redirect_uri", WEB_LOGOUT),
        ],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.e30."),
            ("post_logout_redirect_uri", WEB_LOGOUT),
        ],
        // Two different targets; a repeated parameter.
        vec![
            ("redirect", WEB_LOGOUT),
            ("post_logout_redirect_uri", SPA_LOGOUT),
        ],
        vec![("redirect", WEB_LOGOUT), ("redirect", WEB_LOGOUT)],
        vec![("redirect_uri", WEB_LOGOUT), ("redirect", SPA_LOGOUT)],
        vec![
            ("client_id", WEB),
            ("redirect_uri", WEB_LOGOUT),
            ("post_logout_redirect_uri", SPA_LOGOUT),
        ],
        vec![
            ("redirect", WEB_LOGOUT),
            ("post_logout_redirect_uri", WEB_LOGOUT),
            ("redirect_uri", SPA_LOGOUT),
        ],
        // redirect_uri is held to the same exact match.
        vec![("redirect_uri", "https://evil.example")],
        vec![("client_id", WEB), ("redirect_uri", SPA_LOGOUT)],
        vec![("client_id", WEB), ("redirect_uri", WEB_CALLBACK)],
    ];
    for params in cases {
        browser.tokens(&issuer, "openid").await;
        let page = browser.get(&issuer, "/logout", &params).await;
        assert!(page.location.is_none(), "{params:?}: never redirect");
        assert_eq!(page.status, 400, "{params:?}");
        assert!(
            page.body.contains("You have been signed out."),
            "{params:?}"
        );
        assert!(page.body.contains("invalid_request"), "{params:?}");
        assert!(!page.body.contains("evil.example"), "{params:?}");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(
            page.headers["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        assert_eq!(
            browser.silent(&issuer).await.as_deref(),
            Some("login_required"),
            "{params:?}: the session ended anyway"
        );
    }
}

#[tokio::test]
async fn case_78_an_expired_id_token_hint_still_names_its_client() {
    let clock = portcullis::clock::ManualClock::now();
    let issuer = start_with(
        TestIssuer::builder()
            .access_token_ttl(1)
            .clock(clock.clone()),
    )
    .await;
    let mut browser = Browser::default();
    let tokens = browser.tokens(&issuer, "openid").await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    // The hint expires.
    clock.advance(std::time::Duration::from_secs(3));
    let page = browser
        .get(
            &issuer,
            "/logout",
            &[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", WEB_LOGOUT),
                ("state", "late"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.param("state").as_deref(), Some("late"));
    assert_eq!(
        browser.silent(&issuer).await.as_deref(),
        Some("login_required")
    );
}
