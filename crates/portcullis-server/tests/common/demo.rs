//! The example tenant (`examples/tenant.toml`) as the tests use it: its names and secrets, an
//! in-process [`TestIssuer`] serving it, and the web application's authorization request and
//! token-endpoint calls against any server ([`Base`]: a `TestIssuer` or the `tenant` module's
//! server with settings of the test's choosing).
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::TokenVerifier;
use portcullis_server::seed::Seed;
use portcullis_server::testing::TestIssuer;
use serde_json::Value;

use super::browser::{Base, Browser, http, pkce};

pub const API: &str = "https://api.example.com";
pub const WEB: &str = "demo-web";
pub const WEB_SECRET: &str = "demo-web-secret-change-me-0123456789abcdef";
pub const WEB_CALLBACK: &str = "http://localhost:3000/callback";
pub const SPA: &str = "demo-spa";
pub const SPA_CALLBACK: &str = "http://localhost:5173/callback";
pub const ADA: &str = "ada@example.com";
pub const ADA_PASSWORD: &str = "correct-horse-battery-staple";

/// The example tenant's seed.
pub fn demo_seed() -> Seed {
    Seed::from_toml(include_str!("../../examples/tenant.toml")).unwrap()
}

/// An in-process issuer serving the example tenant.
pub async fn start_demo() -> TestIssuer {
    TestIssuer::builder()
        .seed(demo_seed())
        .start()
        .await
        .unwrap()
}

/// The web app's authorization request with `scope`, PKCE, state and nonce, plus `extra`.
pub fn web_params<'a>(
    challenge: &'a str,
    scope: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("client_id", WEB),
        ("redirect_uri", WEB_CALLBACK),
        ("response_type", "code"),
        ("scope", scope),
        ("state", "state-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    p.extend_from_slice(extra);
    p
}

/// The SDK's verifier for the API's access tokens and `client_id`'s ID tokens.
pub fn sdk(issuer: &(impl Base + ?Sized), client_id: &str) -> TokenVerifier {
    TokenVerifier::builder(issuer.base())
        .audience(API)
        .client_id(client_id)
        .build()
        .unwrap()
}

/// `params` with `replacing` in place of the parameters of the same name.
pub fn replaced<'a>(
    mut params: Vec<(&'a str, &'a str)>,
    replacing: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    params.retain(|(k, _)| !replacing.iter().any(|(r, _)| r == k));
    params.extend_from_slice(replacing);
    params
}

/// `GET url`, answered with JSON.
pub async fn get_json(url: &str) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// `POST /oauth2/token` with `form`, as `auth` (Basic) when given.
pub async fn exchange(
    issuer: &(impl Base + ?Sized),
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = http()
        .post(format!("{}/oauth2/token", issuer.base()))
        .form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A token-endpoint answer's status and `error` (`<none>` when it has none).
pub fn error_of(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("<none>"))
}

/// Redeems `code` that `client` asked for with `redirect_uri`: a confidential client (with its
/// secret) authenticates with Basic, a public one (`None`) sends its `client_id`.
pub async fn redeem_code(
    issuer: &(impl Base + ?Sized),
    client: (&str, Option<&str>),
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    match client {
        (id, Some(secret)) => exchange(issuer, Some((id, secret)), &form).await,
        (id, None) => {
            form.push(("client_id", id));
            exchange(issuer, None, &form).await
        }
    }
}

/// Redeems `code` for the web app.
pub async fn redeem(issuer: &(impl Base + ?Sized), code: &str, verifier: &str) -> (u16, Value) {
    redeem_code(
        issuer,
        (WEB, Some(WEB_SECRET)),
        code,
        WEB_CALLBACK,
        verifier,
    )
    .await
}

/// Signs Ada in to the web app in `browser` with `scope` (and `extra` parameters), and
/// returns the code and its PKCE verifier.
pub async fn ada_code(
    browser: &mut Browser,
    issuer: &(impl Base + ?Sized),
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let form = browser
        .authorize(issuer, &web_params(&challenge, scope, extra))
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser.sign_in(issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    (done.param("code").unwrap(), verifier)
}

/// Signs Ada in to the web app and redeems the code: the token response.
pub async fn ada_tokens(
    issuer: &(impl Base + ?Sized),
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut browser = Browser::default();
    let (code, verifier) = ada_code(&mut browser, issuer, scope, extra).await;
    let (status, tokens) = redeem(issuer, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Introspects `token` as the web app.
pub async fn introspect(issuer: &(impl Base + ?Sized), token: &str) -> Value {
    http()
        .post(format!("{}/oauth2/introspect", issuer.base()))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A JWT's header and payload, decoded without any check.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().expect("a JWT segment");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let header = decode();
    let payload = decode();
    (header, payload)
}
