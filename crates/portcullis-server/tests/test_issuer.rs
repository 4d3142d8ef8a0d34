//! `TestIssuer` as later SDK tests use it: a tenant built with the builder, a user's tokens
//! through the real code flow (authorize + PKCE, the hosted form, the code exchange), and the
//! SDK reading back what the builder set — roles, permissions (through roles and direct),
//! organizations and feature flags with their overrides. Also: a public client with PKCE and no
//! secret, refresh with rotation (and reuse detection, case 71), ID tokens with the nonce and
//! `at_hash` (case 74), typed errors naming the failed step, mistakes refused at `start()`,
//! and two issuers side by side.

use portcullis::clock::ManualClock;
use portcullis::{IdTokenChecks, TokenVerifier};
use portcullis_server::error::ServerError;
use portcullis_server::testing::{
    FlowStep, TestFlag, TestIssuer, TestIssuerBuilder, TestIssuerError, TestUser, TokenRequest,
};
use serde_json::Value;

const API: &str = "https://api.example.com";
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnop";
const WEB_CALLBACK: &str = "http://localhost:3000/callback";
const SPA: &str = "spa";
const SPA_CALLBACK: &str = "http://localhost:5173/callback";
const WORKER: &str = "worker";
const WORKER_SECRET: &str = "worker-secret-0123456789abcdefghijklmn";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";
const BOB: &str = "bob@example.com";

/// A tenant with everything the builder can add.
fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(API, &["read:todos", "create:todos"])
        // Grants may come before the application they name.
        .grant(WEB, API, &["read:todos"])
        .web_app(
            WEB,
            WEB_SECRET,
            &[WEB_CALLBACK, "http://localhost:3000/other"],
        )
        .grant(WEB, API, &["create:todos"])
        .spa_app(SPA, &[SPA_CALLBACK])
        .grant(SPA, API, &["read:todos"])
        .logout_urls(WEB, &["http://localhost:3000/"])
        .m2m_app(WORKER, WORKER_SECRET, API, &["read:todos"])
        .permission("read:todos")
        .permission("create:todos")
        .permission("delete:todos")
        .role(
            "admin",
            "Admin",
            &["read:todos", "create:todos", "delete:todos"],
        )
        .role("member", "Member", &["read:todos"])
        .organization("org_acme", "Acme")
        .organization("org_globex", "Globex")
        .user(
            TestUser::new(ADA)
                .password(ADA_PASSWORD)
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["admin"])
                .member_of("org_globex", &["member"])
                .permissions_in("org_globex", &["create:todos"]),
        )
        // No password: a strong random one.
        .user(
            TestUser::new(BOB)
                .given_name("Bob")
                .member_of("org_acme", &["member"]),
        )
        .feature_flag(
            TestFlag::new("theme", "light")
                .environment("dark")
                .org("org_acme", "pink")
                .user(ADA, "blue"),
        )
        .feature_flag(TestFlag::new("analytics", false).org("org_globex", true))
        .feature_flag(TestFlag::new("competitions_limit", 5).org("org_acme", 10))
}

fn api_verifier(issuer: &TestIssuer) -> TokenVerifier {
    TokenVerifier::from_config(&issuer.verifier_config(API).unwrap()).unwrap()
}

fn id_verifier(issuer: &TestIssuer, client_id: &str) -> TokenVerifier {
    TokenVerifier::builder(issuer.issuer())
        .client_id(client_id)
        .build()
        .unwrap()
}

/// Whether `err` is the server refusing step `at` with the status `with`.
fn is_refused(err: &TestIssuerError, at: FlowStep, with: u16) -> bool {
    matches!(err, TestIssuerError::Refused { step, status, .. } if *step == at && *status == with)
}

fn in_org(org: &str) -> TokenRequest {
    TokenRequest::new().audience(API).org_code(org)
}

#[tokio::test]
async fn what_the_builder_sets_reaches_the_sdk_through_the_code_flow() {
    let issuer = tenant().start().await.unwrap();
    let sdk = api_verifier(&issuer);

    // Ada in Acme: the admin role and its permissions; her own theme wins over Acme's.
    let tokens = issuer
        .user_tokens_with(WEB, ADA, ADA_PASSWORD, &in_org("org_acme"))
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 3600);
    assert_eq!(tokens.scope, "openid profile email offline");
    assert!(tokens.refresh_token.is_some(), "offline was asked for");
    let debug = format!("{tokens:?}");
    assert!(!debug.contains(&tokens.access_token), "{debug}");

    let claims = sdk.verify_access_token(&tokens.access_token).await.unwrap();
    assert_eq!(claims.iss.as_deref(), Some(issuer.issuer()));
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert_eq!(claims.client_id.as_deref(), Some(WEB));
    let roles: Vec<&str> = claims.roles().iter().map(|r| r.key.as_str()).collect();
    assert_eq!(roles, ["admin"]);
    assert_eq!(claims.roles()[0].name.as_deref(), Some("Admin"));
    let permissions = claims.permissions();
    assert_eq!(permissions.org_code, Some("org_acme"));
    assert_eq!(
        permissions.permissions,
        ["create:todos", "delete:todos", "read:todos"]
    );
    assert_eq!(claims.string_flag("theme", None).unwrap(), "blue");
    assert!(!claims.bool_flag("analytics", None).unwrap());
    assert_eq!(claims.integer_flag("competitions_limit", None).unwrap(), 10);
    assert!(claims.has_scope("offline"));

    // The ID token: the profile, both organizations, the nonce sent and a correct at_hash
    // (case 74), checked by the SDK.
    let nonce = tokens.nonce.clone().unwrap();
    assert!(nonce.len() >= 43, "a random nonce: {nonce}");
    let id = id_verifier(&issuer, WEB)
        .verify_id_token_with(
            tokens.id_token.as_deref().unwrap(),
            &IdTokenChecks::nonce(&nonce).with_access_token(&tokens.access_token),
        )
        .await
        .unwrap();
    assert_eq!(id.sub, claims.sub);
    let details = id.user_details();
    assert_eq!(details.email, Some(ADA));
    assert_eq!(details.given_name, Some("Ada"));
    assert_eq!(details.family_name, Some("Lovelace"));
    let mut orgs = id.user_organizations().org_codes.to_vec();
    orgs.sort();
    assert_eq!(orgs, ["org_acme", "org_globex"]);
    // Another nonce is refused: the check is real.
    assert!(
        id_verifier(&issuer, WEB)
            .verify_id_token_with(
                tokens.id_token.as_deref().unwrap(),
                &IdTokenChecks::nonce("another-nonce"),
            )
            .await
            .is_err()
    );

    // Ada in Globex: member, plus the permission granted directly there; Globex's analytics.
    let tokens = issuer
        .user_tokens_with(WEB, ADA, ADA_PASSWORD, &in_org("org_globex"))
        .await
        .unwrap();
    let claims = sdk.verify_access_token(&tokens.access_token).await.unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_globex"));
    assert!(claims.has_role("member") && !claims.has_role("admin"));
    assert_eq!(
        claims.permissions().permissions,
        ["create:todos", "read:todos"]
    );
    assert!(!claims.has_permission("delete:todos"));
    assert!(claims.bool_flag("analytics", None).unwrap());
    assert_eq!(claims.string_flag("theme", None).unwrap(), "blue");
    assert_eq!(claims.integer_flag("competitions_limit", None).unwrap(), 5);

    // Bob, with his generated password: Acme's theme; outside any organization, the
    // environment's, and no roles.
    let bob_password = issuer.password_of(BOB).unwrap().to_owned();
    assert!(bob_password.len() >= 32, "a strong default password");
    assert_eq!(
        issuer.password_of("BOB@example.com"),
        Some(bob_password.as_str())
    );
    assert_eq!(issuer.password_of(ADA), Some(ADA_PASSWORD));
    assert_eq!(issuer.password_of("nobody@example.com"), None);
    let tokens = issuer
        .user_tokens_with(WEB, BOB, &bob_password, &in_org("org_acme"))
        .await
        .unwrap();
    let claims = sdk.verify_access_token(&tokens.access_token).await.unwrap();
    assert!(claims.has_role("member"));
    assert_eq!(claims.string_flag("theme", None).unwrap(), "pink");
    // Bob belongs to Acme only: without org_code he is signed into it.
    let tokens = issuer
        .user_tokens_with(WEB, BOB, &bob_password, &TokenRequest::new().audience(API))
        .await
        .unwrap();
    let claims = sdk.verify_access_token(&tokens.access_token).await.unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert!(claims.has_role("member"));
    assert_eq!(claims.string_flag("theme", None).unwrap(), "pink");
    // Ada belongs to two: without org_code the server shows its organization chooser, where
    // the helper's browser takes the first one by name (Acme), as a user pressing Continue
    // would: Acme's flags, her own override still first.
    let tokens = issuer
        .user_tokens_with(WEB, ADA, ADA_PASSWORD, &TokenRequest::new().audience(API))
        .await
        .unwrap();
    let claims = sdk.verify_access_token(&tokens.access_token).await.unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert!(claims.has_role("admin"));
    assert_eq!(claims.string_flag("theme", None).unwrap(), "blue");
    assert_eq!(claims.integer_flag("competitions_limit", None).unwrap(), 10);

    // The m2m application of the same tenant still gets client-credentials tokens.
    let m2m = issuer
        .client_credentials_token(WORKER, WORKER_SECRET, API, None)
        .await
        .unwrap();
    let claims = sdk.verify_access_token(&m2m).await.unwrap();
    assert_eq!(claims.sub.as_deref(), Some(WORKER));
}

#[tokio::test]
async fn options_choose_scopes_nonce_and_callback() {
    let issuer = tenant().start().await.unwrap();
    let tokens = issuer
        .user_tokens_with(
            WEB,
            ADA,
            ADA_PASSWORD,
            &TokenRequest::new()
                .audience(API)
                .scopes(&["openid", "email"])
                .nonce("my-nonce")
                .redirect_uri("http://localhost:3000/other"),
        )
        .await
        .unwrap();
    assert_eq!(tokens.scope, "openid email");
    assert!(
        tokens.refresh_token.is_none(),
        "no offline, no refresh token"
    );
    assert_eq!(tokens.nonce.as_deref(), Some("my-nonce"));
    let id = id_verifier(&issuer, WEB)
        .verify_id_token_with(
            tokens.id_token.as_deref().unwrap(),
            &IdTokenChecks::nonce("my-nonce"),
        )
        .await
        .unwrap();
    assert_eq!(id.email.as_deref(), Some(ADA));
    assert_eq!(id.given_name, None, "no profile scope");

    // Without openid: no ID token. The defaults: Kinde's scopes.
    let tokens = issuer
        .user_tokens_with(
            WEB,
            ADA,
            ADA_PASSWORD,
            &TokenRequest::new().audience(API).scopes(&["profile"]),
        )
        .await
        .unwrap();
    assert!(tokens.id_token.is_none());
    let tokens = issuer.user_tokens(WEB, ADA, ADA_PASSWORD).await.unwrap();
    assert!(tokens.id_token.is_some() && tokens.refresh_token.is_some());
    assert_eq!(tokens.scope, "openid profile email offline");
}

#[tokio::test]
async fn a_single_page_app_signs_in_with_pkce_and_no_secret() {
    let issuer = tenant().start().await.unwrap();
    let tokens = issuer
        .user_tokens_with(SPA, ADA, ADA_PASSWORD, &in_org("org_acme"))
        .await
        .unwrap();
    let claims = api_verifier(&issuer)
        .verify_access_token(&tokens.access_token)
        .await
        .unwrap();
    assert_eq!(claims.client_id.as_deref(), Some(SPA));
    assert!(claims.has_role("admin"));
    id_verifier(&issuer, SPA)
        .verify_id_token_with(
            tokens.id_token.as_deref().unwrap(),
            &IdTokenChecks::nonce(tokens.nonce.as_deref().unwrap())
                .with_access_token(&tokens.access_token),
        )
        .await
        .unwrap();

    // A public client refreshes with its id alone.
    let refreshed = issuer
        .refresh(SPA, tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    let again = api_verifier(&issuer)
        .verify_access_token(&refreshed.access_token)
        .await
        .unwrap();
    assert_eq!(again.sub, claims.sub);
    assert_eq!(again.client_id.as_deref(), Some(SPA));

    // The SPA's callback is its own: another application's is refused before any form.
    let err = issuer
        .user_tokens_with(
            SPA,
            ADA,
            ADA_PASSWORD,
            &TokenRequest::new().redirect_uri(WEB_CALLBACK),
        )
        .await
        .unwrap_err();
    match &err {
        TestIssuerError::Refused { step, status, body } => {
            assert_eq!(*step, FlowStep::Authorize);
            assert_eq!(*status, 400);
            assert!(body.contains("redirect URI is not registered"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_rotates_keeps_the_claims_and_detects_reuse() {
    let clock = ManualClock::now();
    let issuer = tenant()
        .refresh_reuse_grace(0)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let sdk = api_verifier(&issuer);
    let first = issuer
        .user_tokens_with(WEB, ADA, ADA_PASSWORD, &in_org("org_acme"))
        .await
        .unwrap();
    let rt1 = first.refresh_token.clone().unwrap();
    let second = issuer.refresh(WEB, &rt1).await.unwrap();
    assert_eq!(second.nonce, None);
    let rt2 = second.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2, "rotated");
    assert_ne!(first.access_token, second.access_token);
    let claims = sdk.verify_access_token(&second.access_token).await.unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert!(claims.has_role("admin"));
    assert_eq!(claims.string_flag("theme", None).unwrap(), "blue");
    // The refreshed ID token verifies without a nonce (OIDC Core §12.2).
    id_verifier(&issuer, WEB)
        .verify_id_token(second.id_token.as_deref().unwrap(), None)
        .await
        .unwrap();

    // Case 71: presenting RT1 again, once the grace (0 s, on the server's clock of whole
    // seconds) has passed, is refused and revokes the family, RT2 included.
    clock.advance(std::time::Duration::from_secs(1));
    let reuse = issuer.refresh(WEB, &rt1).await.unwrap_err();
    assert!(
        matches!(&reuse, TestIssuerError::Refused { step: FlowStep::Refresh, status: 400, body }
            if body.contains("invalid_grant")),
        "{reuse:?}"
    );
    let err = issuer.refresh(WEB, &rt2).await.unwrap_err();
    assert!(is_refused(&err, FlowStep::Refresh, 400), "{err:?}");
    // Another client cannot use a refresh token it was not issued.
    let third = issuer.user_tokens(WEB, ADA, ADA_PASSWORD).await.unwrap();
    let err = issuer
        .refresh(SPA, third.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another client"), "{err}");
    assert!(
        !err.to_string()
            .contains(third.refresh_token.as_deref().unwrap())
    );
}

#[tokio::test]
async fn failures_are_typed_and_name_their_step() {
    let issuer = tenant().start().await.unwrap();

    // A wrong password: the sign-in step, the form's own message, no password in the error.
    let wrong = "not-the-right-password";
    let err = issuer.user_tokens(WEB, ADA, wrong).await.unwrap_err();
    match &err {
        TestIssuerError::Refused { step, status, body } => {
            assert_eq!(*step, FlowStep::SignIn);
            assert_eq!(*status, 200, "the form again");
            assert_eq!(body, "The email or password is incorrect.");
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("sign-in (POST /oauth2/auth/sign-in)"),
        "{message}"
    );
    assert!(!message.contains(wrong) && !format!("{err:?}").contains(wrong));
    // An unknown email reads the same (no enumeration).
    let unknown = issuer
        .user_tokens(WEB, "nobody@example.com", wrong)
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), message);

    // Not a member of the organization: refused on the way back to the application.
    let err = issuer
        .user_tokens_with(
            WEB,
            BOB,
            issuer.password_of(BOB).unwrap(),
            &in_org("org_globex"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TestIssuerError::Refused { step: FlowStep::Callback, status: 303, body }
            if body.starts_with("access_denied")),
        "{err:?}"
    );

    // An audience the application was not granted: refused by the authorization endpoint.
    let err = issuer
        .user_tokens_with(
            WEB,
            ADA,
            ADA_PASSWORD,
            &TokenRequest::new().audience("https://other.example.com"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TestIssuerError::Refused { step: FlowStep::Authorize, status: 303, body }
            if body.starts_with("invalid_target")),
        "{err:?}"
    );

    // Unknown clients, machine clients, bad client secrets.
    let err = issuer
        .user_tokens("nope", ADA, ADA_PASSWORD)
        .await
        .unwrap_err();
    assert!(matches!(&err, TestIssuerError::UnknownClient(id) if id == "nope"));
    let err = issuer.refresh("nope", "whatever").await.unwrap_err();
    assert!(matches!(&err, TestIssuerError::UnknownClient(_)));
    let err = issuer
        .user_tokens(WORKER, ADA, ADA_PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TestIssuerError::Unexpected { step: FlowStep::Authorize, detail }
            if detail.contains("no callback URL")),
        "{err:?}"
    );
    let err = issuer
        .client_credentials_token(WORKER, "wrong-secret-0123456789abcdefghijklm", API, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TestIssuerError::Refused { step: FlowStep::ClientCredentials, status: 401, body }
            if body.contains("invalid_client")),
        "{err:?}"
    );
    let err = issuer
        .refresh(WEB, "not-a-refresh-token")
        .await
        .unwrap_err();
    assert!(is_refused(&err, FlowStep::Refresh, 400), "{err:?}");
}

#[tokio::test]
async fn mistakes_in_the_tenant_are_refused_at_start() {
    let config = |result: Result<TestIssuer, ServerError>| match result {
        Err(ServerError::Config(message)) => message,
        other => panic!("{other:?}"),
    };
    let base = || {
        TestIssuer::builder()
            .api(API, &["read:todos"])
            .web_app(WEB, WEB_SECRET, &[WEB_CALLBACK])
            .permission("read:todos")
            .organization("org_acme", "Acme")
    };
    let cases: Vec<(TestIssuerBuilder, &str)> = vec![
        (base().grant("ghost", API, &[]), "no application \"ghost\""),
        (
            base().logout_urls("ghost", &["https://x.example/"]),
            "logout_urls",
        ),
        (
            base().grant(WEB, "https://unknown.example", &[]),
            "does not define",
        ),
        (
            base().grant(WEB, API, &["write:todos"]),
            "scope \"write:todos\"",
        ),
        (
            base().role("admin", "Admin", &["delete:todos"]),
            "undefined permission",
        ),
        (
            base().user(TestUser::new(ADA).member_of("org_none", &[])),
            "undefined organization",
        ),
        (
            base().user(TestUser::new(ADA).member_of("org_acme", &["ghost-role"])),
            "undefined role",
        ),
        (
            base().user(TestUser::new(ADA).permissions_in("org_acme", &["ghost"])),
            "undefined permission",
        ),
        (
            base().user(TestUser::new(ADA).password("short")),
            "too short",
        ),
        (base().user(TestUser::new("not-an-email")), "not an email"),
        (
            base().user(TestUser::new(ADA)).user(TestUser::new(ADA)),
            "appears twice",
        ),
        (
            base().feature_flag(TestFlag::new("analytics", false).org("org_acme", "yes")),
            "must be a bool",
        ),
        (
            base().feature_flag(TestFlag::new("theme", "light").org("org_none", "pink")),
            "undefined organization",
        ),
        (
            base().feature_flag(TestFlag::new("theme", "light").user("ghost@example.com", "x")),
            "undefined user",
        ),
        (
            base().web_app("short", "too-short", &[WEB_CALLBACK]),
            "32 characters",
        ),
        (base().web_app("nocb", WEB_SECRET, &[]), "redirect_url"),
        (
            base().spa_app("evil", &["http://evil.example/cb"]),
            "must be https",
        ),
    ];
    for (builder, expected) in cases {
        let message = config(builder.start().await);
        assert!(message.contains(expected), "{expected}: {message}");
    }
    // The same builder without the mistake starts.
    base().start().await.unwrap().shutdown().await;
}

#[tokio::test]
async fn two_issuers_run_side_by_side() {
    // The same tenant names, different passwords: two databases, two key sets, two URLs.
    let other_password = "a-different-password-42";
    let (a, b) = tokio::join!(tenant().start(), async {
        TestIssuer::builder()
            .api(API, &["read:todos"])
            .web_app(WEB, WEB_SECRET, &[WEB_CALLBACK])
            .grant(WEB, API, &["read:todos"])
            .user(TestUser::new(ADA).password(other_password))
            .start()
            .await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.url(), b.url());

    let to_api = TokenRequest::new().audience(API);
    let (ta, tb) = tokio::join!(
        a.user_tokens_with(WEB, ADA, ADA_PASSWORD, &to_api),
        b.user_tokens_with(WEB, ADA, other_password, &to_api),
    );
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    // Each password works only on its own issuer.
    let err = b.user_tokens(WEB, ADA, ADA_PASSWORD).await.unwrap_err();
    assert!(matches!(
        &err,
        TestIssuerError::Refused {
            step: FlowStep::SignIn,
            ..
        }
    ));

    // Each token verifies with its own issuer only.
    let (va, vb) = (api_verifier(&a), api_verifier(&b));
    let ca = va.verify_access_token(&ta.access_token).await.unwrap();
    let cb = vb.verify_access_token(&tb.access_token).await.unwrap();
    assert_eq!(ca.iss.as_deref(), Some(a.issuer()));
    assert_eq!(cb.iss.as_deref(), Some(b.issuer()));
    assert_ne!(ca.sub, cb.sub);
    assert!(va.verify_access_token(&tb.access_token).await.is_err());
    assert!(vb.verify_access_token(&ta.access_token).await.is_err());

    // The published keys differ, at the advertised JWKS URL.
    let jwks = |issuer: &TestIssuer| {
        let url = issuer.jwks_url();
        async move {
            let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            body["keys"].as_array().unwrap().clone()
        }
    };
    let (ka, kb) = (jwks(&a).await, jwks(&b).await);
    assert!(!ka.is_empty() && !kb.is_empty());
    assert!(ka.iter().all(|k| !kb.contains(k)));
    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", a.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["jwks_uri"], Value::String(a.jwks_url()));
    assert_eq!(discovery["issuer"], Value::String(a.issuer().to_owned()));

    // Stopping one leaves the other serving.
    a.shutdown().await;
    b.user_tokens_with(WEB, ADA, other_password, &TokenRequest::new().audience(API))
        .await
        .unwrap();
}
