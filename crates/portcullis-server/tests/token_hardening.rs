//! Token-endpoint hardening over real HTTP (docs/security.md section G): code lifetime and token
//! randomness (case 65), refresh misuse (case 72), what ID tokens carry (case 74), and the
//! default audience of user tokens.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::clock::ManualClock;
use portcullis::{IdTokenChecks, Reason, TokenVerifier};
use portcullis_server::ids::hash_secret;
use portcullis_server::keys::SigningAlgorithm;
use portcullis_server::store::{ApplicationRecord, Store};
use portcullis_server::{AppState, Settings};
use serde_json::json;

mod common;
mod tenant;

use common::browser::{Browser, pkce};
use common::demo::{
    ADA, ADA_PASSWORD, API, SPA, WEB, WEB_CALLBACK, ada_code, ada_tokens, error_of, exchange,
    get_json, introspect, jwt_parts, redeem, redeem_code, replaced, sdk, web_params,
};
use common::{TestDb, unix_now};
use tenant::{refresh, start, start_on};

#[tokio::test]
async fn case_65_expired_code_is_invalid_grant() {
    let clock = ManualClock::now();
    let tenant = start(|s| {
        s.code_ttl = 60;
        s.clock = Arc::new(clock.clone());
    })
    .await;
    let mut browser = Browser::default();
    let (code, verifier) = ada_code(&mut browser, &tenant, "openid", &[]).await;
    // The server's clock moves past the code's 60 s lifetime; nothing sleeps.
    clock.advance(Duration::from_secs(61));
    let answer = redeem(&tenant, &code, &verifier).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);

    // A code redeemed in the last second of its lifetime still works.
    let (code, verifier) = ada_code(&mut Browser::default(), &tenant, "openid", &[]).await;
    clock.advance(Duration::from_secs(59));
    let (status, body) = redeem(&tenant, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn case_65_code_ttl_is_bounded_and_defaults_to_60_seconds() {
    assert_eq!(Settings::new("http://localhost").code_ttl, 60);
    for bad in [0, -1, 601] {
        let mut settings = Settings::new("http://localhost");
        settings.code_ttl = bad;
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let refused = AppState::new(store, settings).await;
        assert!(refused.is_err(), "code_ttl {bad} must be refused");
    }
}

/// Base64url of exactly `bytes` random bytes (no padding).
fn is_base64url_of(value: &str, bytes: usize) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|decoded| decoded.len() == bytes)
}

/// Codes, refresh tokens and access-token jtis from `count` code flows of one browser (one
/// sign-in, then single sign-on).
async fn samples(tenant: &tenant::Tenant, count: usize) -> Vec<(String, String, String)> {
    let mut browser = Browser::default();
    let mut next = Some(ada_code(&mut browser, tenant, "offline", &[]).await);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let (code, verifier) = match next.take() {
            Some(pair) => pair,
            None => {
                let (verifier, challenge) = pkce();
                let page = browser
                    .authorize(tenant, &web_params(&challenge, "offline", &[]))
                    .await;
                (page.param("code").expect("single sign-on"), verifier)
            }
        };
        let (status, tokens) = redeem(tenant, &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
        out.push((
            code,
            refresh_token,
            claims["jti"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_65_codes_refresh_tokens_and_jtis_are_at_least_128_bit_random() {
    const SAMPLES: usize = 1000;
    let tenant = start(|_| {}).await;
    let (a, b) = tokio::join!(samples(&tenant, SAMPLES / 2), samples(&tenant, SAMPLES / 2));
    let (mut codes, mut refresh_tokens, mut jtis) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for (code, refresh_token, jti) in a.into_iter().chain(b) {
        // Codes and refresh tokens: 256 bits, base64url; jti: 128 bits, hex.
        assert!(is_base64url_of(&code, 32), "{code}");
        assert!(is_base64url_of(&refresh_token, 32), "{refresh_token}");
        assert!(
            jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()),
            "{jti}"
        );
        assert!(codes.insert(code), "a code repeated");
        assert!(
            refresh_tokens.insert(refresh_token),
            "a refresh token repeated"
        );
        assert!(jtis.insert(jti), "a jti repeated");
    }
    assert_eq!(
        (codes.len(), refresh_tokens.len(), jtis.len()),
        (SAMPLES, SAMPLES, SAMPLES)
    );

    // client_credentials tokens get the same 128-bit ids.
    let (status, body) = exchange(
        &tenant,
        Some(("report-job", "replace-me-with-32-random-bytes-in-base64")),
        &[("grant_type", "client_credentials"), ("audience", API)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test]
async fn case_72_wider_scope_is_invalid_scope_and_spends_nothing() {
    let tenant = start(|_| {}).await;
    let tokens = ada_tokens(&tenant, "openid profile email offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    for wider in ["openid profile email offline admin", "read:todos"] {
        let answer = refresh(&tenant, r1, Some(wider)).await;
        assert_eq!(error_of(&answer), (400, "invalid_scope"), "{wider:?}");
    }
    // The refused requests did not rotate the token: it is still the live one.
    assert_eq!(introspect(&tenant, r1).await["active"], true);
}

#[tokio::test]
async fn case_72_narrower_scope_narrows_the_access_token_but_not_the_grant() {
    let tenant = start(|_| {}).await;
    let tokens = ada_tokens(&tenant, "openid profile email offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();

    let (status, narrowed) = refresh(&tenant, r1, Some("openid")).await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    let (_, access) = jwt_parts(narrowed["access_token"].as_str().unwrap());
    assert_eq!(access["scp"], json!(["openid"]));
    assert_eq!(access["scope"], "openid");
    // The ID token follows the narrower scope: no profile or email claims.
    let (_, id) = jwt_parts(narrowed["id_token"].as_str().unwrap());
    assert!(
        id.get("email").is_none() && id.get("given_name").is_none(),
        "{id}"
    );

    // RFC 6749 §6: the new refresh token keeps the grant's scope, so the full scope is
    // still available from it.
    let r2 = narrowed["refresh_token"]
        .as_str()
        .expect("the grant has offline: a new refresh token");
    let (status, full) = refresh(&tenant, r2, Some("openid profile email offline")).await;
    assert_eq!(status, 200, "{full}");
    let (_, access) = jwt_parts(full["access_token"].as_str().unwrap());
    assert_eq!(
        access["scp"],
        json!(["openid", "profile", "email", "offline"])
    );
}

#[tokio::test]
async fn case_72_another_clients_refresh_token_is_invalid_grant() {
    let tenant = start(|_| {}).await;
    let tokens = ada_tokens(&tenant, "openid offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    // The single-page app (a public client) presents the web app's refresh token.
    let answer = exchange(
        &tenant,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", SPA),
            ("refresh_token", r1),
        ],
    )
    .await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
    // And it stays the web app's.
    let (status, _) = refresh(&tenant, r1, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn case_72_refresh_tokens_expire_at_the_family_lifetime_despite_rotation() {
    assert_eq!(
        Settings::new("http://localhost").refresh_token_ttl,
        30 * 86_400
    );
    let clock = ManualClock::now();
    let tenant = start(|s| {
        s.refresh_token_ttl = 3600;
        s.clock = Arc::new(clock.clone());
    })
    .await;
    let tokens = ada_tokens(&tenant, "openid offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let born = introspect(&tenant, r1).await["exp"].as_i64().unwrap();

    // Rotation hands out a new token with the family's expiry, not a fresh one.
    let (status, second) = refresh(&tenant, r1, None).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&tenant, r2).await["exp"].as_i64(), Some(born));

    // Past the family's lifetime (an hour, on the server's clock) the newest token is refused
    // too.
    clock.advance(Duration::from_secs(3601));
    let answer = refresh(&tenant, r2, None).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
    assert_eq!(introspect(&tenant, r2).await, json!({"active": false}));
}

async fn deleted_user_scenario(db_url: &str) {
    let tenant = start_on(db_url, |_| {}).await;
    let tokens = ada_tokens(&tenant, "openid offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&tenant, access).await["active"], true);

    let ada = tenant.ada_id().await;
    assert!(tenant.store().delete_user(&ada, unix_now()).await.unwrap());
    assert!(tenant.store().user_by_id(&ada).await.unwrap().is_none());
    assert!(
        !tenant.store().delete_user(&ada, unix_now()).await.unwrap(),
        "deleting twice finds nobody"
    );

    let answer = refresh(&tenant, r1, None).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
    // Its family and the access tokens it issued are revoked.
    assert_eq!(introspect(&tenant, r1).await, json!({"active": false}));
    assert_eq!(introspect(&tenant, access).await, json!({"active": false}));
}

#[tokio::test]
async fn case_72_a_deleted_users_refresh_token_is_invalid_grant() {
    deleted_user_scenario("sqlite::memory:").await;
}

#[tokio::test]
async fn case_72_a_deleted_users_refresh_token_is_invalid_grant_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    deleted_user_scenario(&db.url).await;
    db.cleanup().await;
}

#[tokio::test]
async fn case_72_a_code_of_a_deleted_user_is_invalid_grant() {
    let tenant = start(|_| {}).await;
    let mut browser = Browser::default();
    let (code, verifier) = ada_code(&mut browser, &tenant, "openid", &[]).await;
    let ada = tenant.ada_id().await;
    tenant.store().delete_user(&ada, unix_now()).await.unwrap();
    let answer = redeem(&tenant, &code, &verifier).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
}

async fn check_id_token(alg: SigningAlgorithm) {
    let tenant = start(|s| s.signing_algorithm = alg).await;
    let mut browser = Browser::default();
    let (code, verifier) = ada_code(&mut browser, &tenant, "openid email", &[]).await;
    let (status, tokens) = redeem(&tenant, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(id_token);

    let discovery = get_json(&format!("{}/.well-known/openid-configuration", tenant.url)).await;
    let jwks = get_json(discovery["jwks_uri"].as_str().unwrap()).await;

    // Claims (OIDC Core §2, §3.1.3.6).
    assert_eq!(claims["iss"], discovery["issuer"]);
    assert_eq!(claims["iss"].as_str(), Some(tenant.url.as_str()));
    let aud_is_client = claims["aud"] == json!([WEB]) || claims["aud"] == json!(WEB);
    assert!(aud_is_client, "aud: {}", claims["aud"]);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat, "{claims}");
    assert_eq!(claims["sub"].as_str(), Some(tenant.ada_id().await.as_str()));
    assert_eq!(claims["nonce"], "nonce-456");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(auth_time <= iat && auth_time > iat - 600, "{claims}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    let expected_at_hash = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    assert_eq!(claims["at_hash"].as_str(), Some(expected_at_hash.as_str()));

    // Header: a kid the JWKS publishes, with that key's algorithm; never `none`.
    let alg_name = header["alg"].as_str().unwrap();
    assert_ne!(alg_name.to_ascii_lowercase(), "none");
    assert_eq!(alg_name, alg.as_str());
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not in the JWKS {jwks}", header["kid"]));
    if let Some(key_alg) = key.get("alg") {
        assert_eq!(key_alg.as_str(), Some(alg_name));
    }
    let expected_kty = match alg {
        SigningAlgorithm::RS256 => "RSA",
        SigningAlgorithm::ES256 => "EC",
        _ => "OKP",
    };
    assert_eq!(key["kty"], expected_kty);
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!([alg_name])
    );

    // And the SDK accepts it with every check on.
    let sdk = TokenVerifier::builder(&tenant.url)
        .client_id(WEB)
        .build()
        .unwrap();
    sdk.verify_id_token_with(
        id_token,
        &IdTokenChecks::nonce("nonce-456").with_access_token(access_token),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn case_74_id_token_claims_and_header_rs256() {
    check_id_token(SigningAlgorithm::RS256).await;
}

#[tokio::test]
async fn case_74_id_token_claims_and_header_es256() {
    check_id_token(SigningAlgorithm::ES256).await;
}

#[tokio::test]
async fn access_tokens_without_an_audience_are_for_every_granted_api() {
    let tenant = start(|_| {}).await;
    // No `audience` parameter: the web app is granted the Todos API, so its tokens are for it.
    let tokens = ada_tokens(&tenant, "openid offline", &[]).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(access).1["aud"], json!([API]));
    let sdk = sdk(&tenant, WEB);
    sdk.verify_access_token(access).await.unwrap();
    // Refreshed tokens too.
    let (status, refreshed) =
        refresh(&tenant, tokens["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{refreshed}");
    sdk.verify_access_token(refreshed["access_token"].as_str().unwrap())
        .await
        .unwrap();
    // Another API's verifier refuses it.
    let billing = TokenVerifier::builder(&tenant.url)
        .audience("https://billing.example.com")
        .build()
        .unwrap();
    let refused = billing.verify_access_token(access).await.unwrap_err();
    assert_eq!(refused.reason(), Some(Reason::WrongAudience));

    // An application granted no API gets `aud: []`, which an API's verifier refuses.
    let secret = "no-api-web-secret-0123456789abcdefghijkl";
    let id = tenant
        .store()
        .upsert_application(&ApplicationRecord {
            id: "app_noapi".into(),
            name: "No API".into(),
            app_type: portcullis_server::domain::AppType::Reg,
            client_id: "no-api-web".parse().unwrap(),
            client_secret_sha256: Some(hash_secret(secret)),
            access_token_ttl: None,
            password_grant: false,
        })
        .await
        .unwrap();
    tenant
        .store()
        .set_application_urls(&id, "login", &[WEB_CALLBACK.to_owned()])
        .await
        .unwrap();
    let (verifier, challenge) = pkce();
    let params = replaced(
        web_params(&challenge, "openid", &[]),
        &[("client_id", "no-api-web")],
    );
    let mut browser = Browser::default();
    let form = browser.authorize(&tenant, &params).await;
    let done = browser.sign_in(&tenant, &form, ADA, ADA_PASSWORD).await;
    let code = done.param("code").unwrap();
    let (status, tokens) = redeem_code(
        &tenant,
        ("no-api-web", Some(secret)),
        &code,
        WEB_CALLBACK,
        &verifier,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(access).1["aud"], json!([]));
    let refused = sdk.verify_access_token(access).await.unwrap_err();
    assert!(
        matches!(
            refused.reason(),
            Some(Reason::WrongAudience | Reason::MissingClaim)
        ),
        "{refused}"
    );
}

/// Scope values that RFC 6749 §3.3 does not allow: control characters, DEL, a tab instead of
/// a space, NEL (U+0085), and the two printable characters it leaves out.
const BAD_SCOPES: &[&str] = &[
    "openid\0profile",
    "openid\rprofile",
    "openid\nprofile",
    "openid\x1bprofile",
    "openid\x7fprofile",
    "openid\tprofile",
    "openid\u{85}profile",
    "openid \"profile\"",
    "openid pro\\file",
    "openid prófile",
];

/// RFC 6749 §5.2: `error_description` holds only `%x20-21 / %x23-5B / %x5D-7E`.
#[track_caller]
fn assert_plain_description(description: &str) {
    assert!(
        description
            .chars()
            .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')),
        "error_description {description:?}"
    );
}

#[tokio::test]
async fn scopes_outside_rfc_6749_syntax_are_invalid_scope_on_every_grant() {
    let tenant = start(|_| {}).await;

    // The password grant, once the web app may use it (changed before the web app's first
    // request, so no cached copy of it is older).
    let store = tenant.store();
    let mut web = store
        .application_by_client_id(&WEB.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    web.password_grant = true;
    store.upsert_application(&web).await.unwrap();
    for bad in BAD_SCOPES {
        let answer = exchange(
            &tenant,
            Some((WEB, common::demo::WEB_SECRET)),
            &[
                ("grant_type", "password"),
                ("username", ADA),
                ("password", ADA_PASSWORD),
                ("scope", bad),
            ],
        )
        .await;
        assert_eq!(error_of(&answer), (400, "invalid_scope"), "{bad:?}");
    }
    // The same requests with well-formed scopes succeed, so the refusals above were the
    // scopes'.
    let answer = exchange(
        &tenant,
        Some((WEB, common::demo::WEB_SECRET)),
        &[
            ("grant_type", "password"),
            ("username", ADA),
            ("password", ADA_PASSWORD),
            ("scope", "openid  profile"),
        ],
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["scope"], "openid profile");
    // Authorization requests: an error redirect to the (valid) redirect URI.
    for bad in BAD_SCOPES {
        let (_, challenge) = pkce();
        let page = Browser::default()
            .authorize(&tenant, &web_params(&challenge, bad, &[]))
            .await;
        assert_eq!(page.status, 303, "{bad:?}: {}", page.body);
        assert!(
            page.location
                .as_deref()
                .is_some_and(|l| l.starts_with(WEB_CALLBACK)),
            "{bad:?}: {:?}",
            page.location
        );
        assert_eq!(
            page.param("error").as_deref(),
            Some("invalid_scope"),
            "{bad:?}"
        );
        assert_plain_description(&page.param("error_description").unwrap());
    }

    // Refresh: even a narrowing request is refused, and the token is not spent.
    let tokens = ada_tokens(&tenant, "openid profile offline", &[]).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    for bad in BAD_SCOPES {
        let answer = refresh(&tenant, r1, Some(bad)).await;
        assert_eq!(error_of(&answer), (400, "invalid_scope"), "{bad:?}");
        assert_plain_description(answer.1["error_description"].as_str().unwrap());
    }
    assert_eq!(introspect(&tenant, r1).await["active"], true);

    // Client credentials.
    for bad in BAD_SCOPES.iter().chain(&["read:todos\0"]) {
        let answer = exchange(
            &tenant,
            Some(("report-job", "replace-me-with-32-random-bytes-in-base64")),
            &[
                ("grant_type", "client_credentials"),
                ("audience", API),
                ("scope", bad),
            ],
        )
        .await;
        assert_eq!(error_of(&answer), (400, "invalid_scope"), "{bad:?}");
        assert_plain_description(answer.1["error_description"].as_str().unwrap());
    }

    // A narrowing refresh with a well-formed scope still works.
    assert_eq!(refresh(&tenant, r1, Some("openid")).await.0, 200);
}
