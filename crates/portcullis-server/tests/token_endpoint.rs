//! The token endpoint, discovery and the JWKS, over real HTTP against the real server
//! (`TestIssuer`, or an `AppState` served with `portcullis_server::run`), with tokens verified by
//! the `portcullis` SDK.
//!
//! Security catalogue (docs/security.md): cases 68 (client authentication), 70 (grant
//! types), 73 (token-endpoint HTTP hygiene), 79 (discovery and JWKS), 100 (key rotation).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis::clock::{Clock as _, ManualClock};
use portcullis::{AccessTokenType, JwksOptions, TokenVerifier};
use portcullis_server::ids::hash_secret;
use portcullis_server::keys::{KeyManager, MasterKey, SigningAlgorithm};
use portcullis_server::seed::Seed;
use portcullis_server::store::{ApplicationRecord, Store};
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder};
use portcullis_server::{AppState, Settings};
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

const AUD: &str = "https://api.example.com";
const OTHER_AUD: &str = "https://reports.example.com";
const UNKNOWN_AUD: &str = "https://nobody.example.com";
const WORKER: &str = "worker";
const WORKER_SECRET: &str = "worker-secret-0123456789abcdefghijklmnop";
const GRANTED: [&str; 2] = ["read:todos", "create:todos"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A tenant: two APIs; `worker` may use the first with two of its three scopes, `reporter` the
/// second (so `OTHER_AUD` exists but is not granted to `worker`).
fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(AUD, &["read:todos", "create:todos", "delete:todos"])
        .api(OTHER_AUD, &["read:reports"])
        .m2m_app(WORKER, WORKER_SECRET, AUD, &GRANTED)
        .m2m_app(
            "reporter",
            "reporter-secret-0123456789abcdefghijklmn",
            OTHER_AUD,
            &["read:reports"],
        )
}

async fn start() -> TestIssuer {
    tenant().start().await.expect("the test issuer starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn token_url(issuer: &str) -> String {
    format!("{issuer}/oauth2/token")
}

/// A response read in full.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request
        .send()
        .await
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body is readable");
    assert_ne!(status, 500, "the server must never answer 500 here: {text}");
    Answer {
        status,
        headers,
        text,
    }
}

/// RFC 6749 §5.2: a JSON error body with the code and a description, never cached.
#[track_caller]
fn assert_oauth_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "status of {:?}", answer.text);
    let content_type = answer.header(header::CONTENT_TYPE).unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "error content type {content_type:?}"
    );
    let body = answer.json();
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description in {body}"
    );
    assert_no_store(answer);
    if code == "invalid_client" {
        let challenge = answer
            .header(header::WWW_AUTHENTICATE)
            .expect("invalid_client carries WWW-Authenticate");
        assert!(challenge.starts_with("Basic "), "challenge {challenge:?}");
    }
}

#[track_caller]
fn assert_no_store(answer: &Answer) {
    let cache = answer.header(header::CACHE_CONTROL).unwrap_or("");
    assert!(
        cache.contains("no-store"),
        "Cache-Control {cache:?} on {}",
        answer.status
    );
    assert_eq!(answer.header(header::PRAGMA), Some("no-cache"));
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 wants it: id and secret form-urlencoded first.
fn basic(id: &str, secret: &str) -> String {
    basic_raw(&form_encode(id), &form_encode(secret))
}

/// `Authorization: Basic` over the credentials as they are (no form-encoding).
fn basic_raw(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn cc_form<'a>(audience: Option<&'a str>, scope: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(a) = audience {
        form.push(("audience", a));
    }
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    form
}

/// `POST /oauth2/token` with client_secret_basic.
async fn post_basic(url: &str, authorization: &str, form: &[(&str, &str)]) -> Answer {
    send(
        http()
            .post(token_url(url))
            .header(header::AUTHORIZATION, authorization)
            .form(form),
    )
    .await
}

/// `POST /oauth2/token` with client_secret_post.
async fn post_body(url: &str, id: &str, secret: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut form = form.to_vec();
    form.push(("client_id", id));
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    send(http().post(token_url(url)).form(&form)).await
}

/// A `client_credentials` token for `worker` (all granted scopes).
async fn worker_token(url: &str) -> String {
    let answer = post_basic(
        url,
        &basic(WORKER, WORKER_SECRET),
        &cc_form(Some(AUD), None),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

fn jwt_header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

fn kid_of(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_owned()
}

fn verifier(issuer: &str) -> TokenVerifier {
    TokenVerifier::builder(issuer)
        .audience(AUD)
        .build()
        .expect("the verifier builds")
}

async fn get(url: String) -> Answer {
    send(http().get(url)).await
}

async fn jwks(issuer: &str) -> Value {
    let answer = get(format!("{issuer}/.well-known/jwks.json")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

async fn jwks_kids(issuer: &str) -> BTreeSet<String> {
    jwks(issuer).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// RFC 7638 thumbprint of a public JWK.
fn thumbprint(jwk: &Value) -> String {
    let s = |name: &str| jwk[name].as_str().unwrap().to_owned();
    let canonical = match jwk["kty"].as_str().unwrap() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        other => panic!("unexpected kty {other}"),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn unix_now() -> i64 {
    use portcullis::clock::Clock as _;
    portcullis::clock::SystemClock.now_secs()
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Case 79: discovery and JWKS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_79_discovery_document_advertises_exactly_what_is_implemented() {
    let issuer = start().await;
    let answer = get(format!("{}/.well-known/openid-configuration", issuer.url())).await;
    assert_eq!(answer.status, 200);
    let doc = answer.json();
    assert_eq!(doc["issuer"], issuer.url());
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", issuer.url())
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/oauth2/token", issuer.url())
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/oauth2/auth", issuer.url())
    );
    let methods: BTreeSet<&str> = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        BTreeSet::from(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/oauth2/introspect", issuer.url())
    );
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{}/oauth2/revoke", issuer.url())
    );
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{}/oauth2/userinfo", issuer.url())
    );
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{}/logout", issuer.url())
    );
    // And every advertised endpoint answers (405 for GET on the POST-only ones, never 404).
    for endpoint in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "jwks_uri",
    ] {
        let url = doc[endpoint].as_str().unwrap();
        let status = reqwest::get(url).await.unwrap().status().as_u16();
        assert!(status == 200 || status == 405, "{endpoint}: {status}");
    }

    // The SDK discovers the same document.
    let v = verifier(issuer.url());
    v.warm_up().await.expect("the SDK discovers the issuer");
    let metadata = v.metadata().expect("metadata after warm-up");
    assert_eq!(metadata.issuer, issuer.url());
    assert_eq!(
        metadata.jwks_uri,
        format!("{}/.well-known/jwks.json", issuer.url())
    );
}

async fn check_jwks(alg: SigningAlgorithm) {
    let issuer = tenant()
        .signing_algorithm(alg)
        .start()
        .await
        .expect("the test issuer starts");
    let a = get(format!("{}/.well-known/jwks.json", issuer.url())).await;
    let b = get(format!("{}/.well-known/jwks", issuer.url())).await;
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 200);
    assert!(
        a.header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(a.json(), b.json(), "both JWKS paths serve the same set");
    let keys = a.json()["keys"].as_array().unwrap().clone();
    assert!(!keys.is_empty());
    let mut kids = BTreeSet::new();
    for key in &keys {
        let kid = key["kid"].as_str().expect("every key has a kid");
        assert!(kids.insert(kid.to_owned()), "kid {kid} is not unique");
        assert_eq!(key["alg"], alg.as_str());
        assert_eq!(key["use"], "sig");
        assert_eq!(kid, thumbprint(key), "kid is the RFC 7638 thumbprint");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "JWKS leaks {private}");
        }
        match alg {
            SigningAlgorithm::RS256 => {
                assert_eq!(key["kty"], "RSA");
                let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
                assert!(n.len() * 8 >= 2048, "RSA key of {} bits", n.len() * 8);
            }
            SigningAlgorithm::ES256 => {
                assert_eq!(key["kty"], "EC");
                assert_eq!(key["crv"], "P-256");
            }
            SigningAlgorithm::EdDSA => {
                assert_eq!(key["kty"], "OKP");
                assert_eq!(key["crv"], "Ed25519");
            }
        }
    }
}

#[tokio::test]
async fn case_79_jwks_on_both_paths_rs256() {
    check_jwks(SigningAlgorithm::RS256).await;
}

#[tokio::test]
async fn case_79_jwks_on_both_paths_es256() {
    check_jwks(SigningAlgorithm::ES256).await;
}

#[tokio::test]
async fn case_79_jwks_on_both_paths_eddsa() {
    check_jwks(SigningAlgorithm::EdDSA).await;
}

// ---------------------------------------------------------------------------------------------
// Happy path
// ---------------------------------------------------------------------------------------------

/// Checks a successful token response and verifies the token with the SDK (both typ policies).
async fn check_token_response(issuer: &TestIssuer, alg: SigningAlgorithm, answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_no_store(answer);
    let body = answer.json();
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], GRANTED.join(" "));

    let head = jwt_header(token);
    assert_eq!(head["typ"], "at+jwt");
    assert_eq!(head["alg"], alg.as_str());
    assert!(jwks_kids(issuer.url()).await.contains(&kid_of(token)));

    let claims = verifier(issuer.url())
        .verify_access_token(token)
        .await
        .expect("the SDK verifies the token");
    assert_eq!(claims.iss.as_deref(), Some(issuer.url()));
    assert_eq!(claims.aud.as_slice(), [AUD.to_owned()]);
    assert_eq!(claims.azp.as_deref(), Some(WORKER));
    assert_eq!(claims.client_id.as_deref(), Some(WORKER));
    assert_eq!(claims.sub.as_deref(), Some(WORKER));
    assert_eq!(claims.scp.as_deref(), Some(&GRANTED.map(str::to_owned)[..]));
    assert_eq!(
        claims.extra.get("gty"),
        Some(&json!(["client_credentials"]))
    );
    let (iat, exp) = (claims.iat.unwrap(), claims.exp.unwrap());
    assert_eq!(exp - iat, 3600);
    assert!((iat - unix_now()).abs() <= 5);
    assert!(claims.jti.as_deref().is_some_and(|j| !j.is_empty()));

    let strict = TokenVerifier::builder(issuer.url())
        .audience(AUD)
        .access_token_type(AccessTokenType::AtJwtOnly)
        .build()
        .unwrap();
    strict
        .verify_access_token(token)
        .await
        .expect("the token passes strict RFC 9068 typing");

    // Not for another API.
    let elsewhere = TokenVerifier::builder(issuer.url())
        .audience(OTHER_AUD)
        .build()
        .unwrap();
    assert!(elsewhere.verify_access_token(token).await.is_err());
}

async fn happy_path(alg: SigningAlgorithm) {
    let issuer = tenant()
        .signing_algorithm(alg)
        .start()
        .await
        .expect("the test issuer starts");
    let basic_answer = post_basic(
        issuer.url(),
        &basic(WORKER, WORKER_SECRET),
        &cc_form(Some(AUD), None),
    )
    .await;
    check_token_response(&issuer, alg, &basic_answer).await;

    let post_answer = post_body(
        issuer.url(),
        WORKER,
        Some(WORKER_SECRET),
        &cc_form(Some(AUD), None),
    )
    .await;
    check_token_response(&issuer, alg, &post_answer).await;

    // The test helper goes through the same endpoint.
    let token = issuer
        .client_credentials_token(WORKER, WORKER_SECRET, AUD, Some("read:todos"))
        .await
        .unwrap();
    verifier(issuer.url())
        .verify_access_token(&token)
        .await
        .unwrap();
}

#[tokio::test]
async fn client_credentials_happy_path_rs256() {
    happy_path(SigningAlgorithm::RS256).await;
}

#[tokio::test]
async fn client_credentials_happy_path_es256() {
    happy_path(SigningAlgorithm::ES256).await;
}

#[tokio::test]
async fn client_credentials_happy_path_eddsa() {
    happy_path(SigningAlgorithm::EdDSA).await;
}

#[tokio::test]
async fn a_body_client_id_equal_to_the_basic_one_is_accepted() {
    let issuer = start().await;
    let mut form = cc_form(Some(AUD), None);
    form.push(("client_id", WORKER));
    let answer = post_basic(issuer.url(), &basic(WORKER, WORKER_SECRET), &form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

// ---------------------------------------------------------------------------------------------
// Scopes and audiences
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scope_requests_are_limited_to_the_grant() {
    let issuer = start().await;
    let auth = basic(WORKER, WORKER_SECRET);
    let v = verifier(issuer.url());

    // A subset: only those.
    let answer = post_basic(issuer.url(), &auth, &cc_form(Some(AUD), Some("read:todos"))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["scope"], "read:todos");
    let claims = v
        .verify_access_token(answer.json()["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.scp.as_deref(), Some(&["read:todos".to_owned()][..]));
    assert!(claims.has_scope("read:todos"));
    assert!(!claims.has_scope("create:todos"));

    // No scope parameter: everything granted.
    let answer = post_basic(issuer.url(), &auth, &cc_form(Some(AUD), None)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["scope"], "read:todos create:todos");

    // A scope the API defines but the application was not granted, an unknown scope, a mix, and
    // a scope of another API: refused, never silently dropped.
    for scope in [
        "delete:todos",
        "admin",
        "read:todos delete:todos",
        "read:reports",
    ] {
        let answer = post_basic(issuer.url(), &auth, &cc_form(Some(AUD), Some(scope))).await;
        assert_oauth_error(&answer, 400, "invalid_scope");
    }
}

#[tokio::test]
async fn audience_must_be_one_granted_api() {
    let issuer = start().await;
    let auth = basic(WORKER, WORKER_SECRET);

    let answer = post_basic(issuer.url(), &auth, &cc_form(None, None)).await;
    assert_oauth_error(&answer, 400, "invalid_request");

    let two = format!("{AUD} {OTHER_AUD}");
    for audience in [OTHER_AUD, UNKNOWN_AUD, two.as_str()] {
        let answer = post_basic(issuer.url(), &auth, &cc_form(Some(audience), None)).await;
        assert_oauth_error(&answer, 400, "invalid_target");
    }
    // The same through client_secret_post.
    let answer = post_body(
        issuer.url(),
        WORKER,
        Some(WORKER_SECRET),
        &cc_form(Some(OTHER_AUD), None),
    )
    .await;
    assert_oauth_error(&answer, 400, "invalid_target");
}

// ---------------------------------------------------------------------------------------------
// Case 68: client authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_68_wrong_or_missing_credentials_are_invalid_client() {
    let issuer = start().await;
    let url = issuer.url();
    let form = cc_form(Some(AUD), None);

    let wrong_secret = post_basic(url, &basic(WORKER, "not-the-secret"), &form).await;
    assert_oauth_error(&wrong_secret, 401, "invalid_client");
    let unknown = post_basic(url, &basic("nobody", WORKER_SECRET), &form).await;
    assert_oauth_error(&unknown, 401, "invalid_client");
    // An unknown client and a wrong secret cannot be told apart.
    assert_eq!(wrong_secret.status, unknown.status);
    assert_eq!(wrong_secret.text, unknown.text);
    assert_eq!(
        wrong_secret.header(header::WWW_AUTHENTICATE),
        unknown.header(header::WWW_AUTHENTICATE)
    );

    // Another client's secret.
    let crossed = post_basic(
        url,
        &basic(WORKER, "reporter-secret-0123456789abcdefghijklmn"),
        &form,
    )
    .await;
    assert_oauth_error(&crossed, 401, "invalid_client");
    assert_eq!(crossed.text, unknown.text);

    // The same through client_secret_post.
    let wrong_body = post_body(url, WORKER, Some("not-the-secret"), &form).await;
    assert_oauth_error(&wrong_body, 401, "invalid_client");
    let unknown_body = post_body(url, "nobody", Some(WORKER_SECRET), &form).await;
    assert_oauth_error(&unknown_body, 401, "invalid_client");
    assert_eq!(wrong_body.text, unknown_body.text);
    // Strings that are not client ids at all read as unknown clients, by either method.
    for not_an_id in ["a\tb", "a\u{85}b", &"w".repeat(256)] {
        let answer = post_body(url, not_an_id, Some(WORKER_SECRET), &form).await;
        assert_oauth_error(&answer, 401, "invalid_client");
        assert_eq!(answer.text, unknown_body.text, "{not_an_id:?}");
        let answer = post_basic(url, &basic(not_an_id, WORKER_SECRET), &form).await;
        assert_oauth_error(&answer, 401, "invalid_client");
        assert_eq!(answer.text, unknown.text, "{not_an_id:?}");
    }

    // A confidential client that sends no secret, or no authentication at all.
    let no_secret_basic = post_basic(url, &basic_raw(WORKER, ""), &form).await;
    assert_oauth_error(&no_secret_basic, 401, "invalid_client");
    let no_secret_body = post_body(url, WORKER, None, &form).await;
    assert_oauth_error(&no_secret_body, 401, "invalid_client");
    let nothing = send(http().post(token_url(url)).form(&form)).await;
    assert_oauth_error(&nothing, 401, "invalid_client");
    // Secrets are stored hashed, never as given.
    let app = issuer
        .state()
        .store()
        .application_by_client_id(&WORKER.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.client_secret_sha256, Some(hash_secret(WORKER_SECRET)));
    assert_ne!(app.client_secret_sha256.as_deref(), Some(WORKER_SECRET));
    // A secret differing only in case, or a prefix of the real one.
    let upper = WORKER_SECRET.to_uppercase();
    for secret in [upper.as_str(), &WORKER_SECRET[..WORKER_SECRET.len() - 1]] {
        let answer = post_basic(url, &basic(WORKER, secret), &form).await;
        assert_oauth_error(&answer, 401, "invalid_client");
    }
}

#[tokio::test]
async fn case_68_malformed_basic_headers_are_invalid_request() {
    let issuer = start().await;
    let url = issuer.url();
    let form = cc_form(Some(AUD), None);
    let no_colon = format!(
        "Basic {}",
        STANDARD.encode(format!("{WORKER}{WORKER_SECRET}"))
    );
    let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0xfd]));
    let bad_escape = basic_raw(WORKER, "%zz-not-an-escape");
    for authorization in [
        "Basic !!!not base64!!!",
        "Basic",
        "Basic ",
        no_colon.as_str(),
        not_utf8.as_str(),
        bad_escape.as_str(),
        "Bearer some-token",
        "Digest username=\"worker\"",
    ] {
        let answer = post_basic(url, authorization, &form).await;
        assert_oauth_error(&answer, 400, "invalid_request");
    }
    // A header value that is not even visible ASCII.
    let answer = send(
        http()
            .post(token_url(url))
            .header(
                header::AUTHORIZATION,
                header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
            )
            .form(&form),
    )
    .await;
    assert_oauth_error(&answer, 400, "invalid_request");
}

#[tokio::test]
async fn case_68_two_methods_or_mismatched_ids_are_invalid_request() {
    let issuer = start().await;
    let url = issuer.url();

    // Basic and client_secret in the body: one method only.
    let mut form = cc_form(Some(AUD), None);
    form.push(("client_secret", WORKER_SECRET));
    let answer = post_basic(url, &basic(WORKER, WORKER_SECRET), &form).await;
    assert_oauth_error(&answer, 400, "invalid_request");

    // A body client_id that is not the Basic one.
    let mut form = cc_form(Some(AUD), None);
    form.push(("client_id", "reporter"));
    let answer = post_basic(url, &basic(WORKER, WORKER_SECRET), &form).await;
    assert_oauth_error(&answer, 400, "invalid_request");
}

/// RFC 6749 §2.3.1 / Appendix B: the id and secret are form-urlencoded before base64.
#[tokio::test]
async fn case_68_basic_credentials_are_form_urlencoded() {
    // Every special character at once.
    const ODD_ID: &str = "ops:team+batch 100% é✓";
    const ODD_SECRET: &str = "p@ss:w+rd %41 spaced ünïcödé-0123456789abcdef";
    // One tricky character each, so the raw form is wrong for exactly one reason.
    const COLON_ID: &str = "svc:colon";
    const PLUS_SECRET: &str = "plus+secret-0123456789abcdefghijklmnop";
    const PERCENT_SECRET: &str = "percent%41secret-0123456789abcdefghijkl";
    const BAD_PERCENT_SECRET: &str = "percent%zzsecret-0123456789abcdefghijkl";
    const PLAIN_SECRET: &str = "plain-secret-0123456789abcdefghijklmnop";
    let issuer = TestIssuer::builder()
        .api(AUD, &["read:todos"])
        .m2m_app(ODD_ID, ODD_SECRET, AUD, &["read:todos"])
        .m2m_app(COLON_ID, PLAIN_SECRET, AUD, &["read:todos"])
        .m2m_app("plus", PLUS_SECRET, AUD, &["read:todos"])
        .m2m_app("percent", PERCENT_SECRET, AUD, &["read:todos"])
        .m2m_app("bad-percent", BAD_PERCENT_SECRET, AUD, &["read:todos"])
        .start()
        .await
        .unwrap();
    let url = issuer.url();
    let form = cc_form(Some(AUD), None);
    let v = verifier(url);

    for (id, secret) in [
        (ODD_ID, ODD_SECRET),
        (COLON_ID, PLAIN_SECRET),
        ("plus", PLUS_SECRET),
        ("percent", PERCENT_SECRET),
        ("bad-percent", BAD_PERCENT_SECRET),
    ] {
        // Encoded, as the RFC says: accepted, and the token names the decoded id.
        let answer = post_basic(url, &basic(id, secret), &form).await;
        assert_eq!(answer.status, 200, "{id:?}: {}", answer.text);
        let claims = v
            .verify_access_token(answer.json()["access_token"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(claims.azp.as_deref(), Some(id));
        // client_secret_post carries the same credentials through the form.
        let answer = post_body(url, id, Some(secret), &form).await;
        assert_eq!(answer.status, 200, "{id:?} (post): {}", answer.text);

        // Sent raw, these credentials mean something else (`:` splits early, `+` is a space,
        // `%41` is `A`, `%zz` is malformed): refused.
        // A raw `%` not followed by two hex digits cannot be decoded at all: a malformed header
        // (400 invalid_request); anything else decodes to other credentials (401 invalid_client).
        let raw = post_basic(url, &basic_raw(id, secret), &form).await;
        let undecodable = |s: &str| {
            s.match_indices('%').any(|(i, _)| {
                !s.as_bytes()
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            })
        };
        if undecodable(id) || undecodable(secret) {
            assert_oauth_error(&raw, 400, "invalid_request");
        } else {
            assert_oauth_error(&raw, 401, "invalid_client");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Case 70: grant types
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_70_grant_types() {
    let issuer = start().await;
    let url = issuer.url();
    let auth = basic(WORKER, WORKER_SECRET);

    // An m2m client may not redeem codes.
    let answer = post_basic(
        url,
        &auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", "https://a.example/cb"),
        ],
    )
    .await;
    assert_oauth_error(&answer, 400, "unauthorized_client");

    // The password grant exists but is off unless an application enables it (this m2m one
    // cannot): the client may not use it.
    let answer = post_basic(
        url,
        &auth,
        &[
            ("grant_type", "password"),
            ("username", "a@b.c"),
            ("password", "x"),
        ],
    )
    .await;
    assert_oauth_error(&answer, 400, "unauthorized_client");

    for grant in [
        "foo",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ] {
        let answer = post_basic(
            url,
            &auth,
            &[("grant_type", grant), ("audience", AUD), ("code", "x")],
        )
        .await;
        assert_oauth_error(&answer, 400, "unsupported_grant_type");
    }

    // Missing (or empty, which RFC 6749 §3.1 treats as missing).
    let answer = post_basic(url, &auth, &[("audience", AUD)]).await;
    assert_oauth_error(&answer, 400, "invalid_request");
    let answer = post_basic(url, &auth, &[("grant_type", ""), ("audience", AUD)]).await;
    assert_oauth_error(&answer, 400, "invalid_request");

    // A confidential client that is not machine-to-machine may not use client_credentials.
    let store = issuer.state().store();
    let secret = "web-app-secret-0123456789abcdefghijklmno";
    let app_id = store
        .upsert_application(&ApplicationRecord {
            id: "app_web".into(),
            name: "Web app".into(),
            app_type: portcullis_server::domain::AppType::Reg,
            client_id: "web-app".parse().unwrap(),
            client_secret_sha256: Some(hash_secret(secret)),
            access_token_ttl: None,
            password_grant: false,
        })
        .await
        .unwrap();
    let api = store.api_by_audience(AUD).await.unwrap().unwrap();
    store
        .grant_api(&app_id, &api.id, &["read:todos".to_owned()])
        .await
        .unwrap();
    let answer = post_basic(url, &basic("web-app", secret), &cc_form(Some(AUD), None)).await;
    assert_oauth_error(&answer, 400, "unauthorized_client");
}

// ---------------------------------------------------------------------------------------------
// Case 73: HTTP hygiene
// ---------------------------------------------------------------------------------------------

const FORM_BODY: &str = "grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com";

async fn post_raw(url: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
    let mut request = http()
        .post(token_url(url))
        .header(header::AUTHORIZATION, basic(WORKER, WORKER_SECRET))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    send(request).await
}

#[tokio::test]
async fn case_73_content_type_must_be_form_urlencoded() {
    let issuer = start().await;
    let url = issuer.url();
    let json_body = json!({"grant_type": "client_credentials", "audience": AUD}).to_string();
    let answer = post_raw(url, Some("application/json"), json_body).await;
    assert_oauth_error(&answer, 400, "invalid_request");
    let answer = post_raw(url, None, FORM_BODY).await;
    assert_oauth_error(&answer, 400, "invalid_request");
    let answer = post_raw(url, Some("text/plain"), FORM_BODY).await;
    assert_oauth_error(&answer, 400, "invalid_request");
    let multipart = "--xyz\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\n\
                     client_credentials\r\n--xyz--\r\n";
    let answer = post_raw(url, Some("multipart/form-data; boundary=xyz"), multipart).await;
    assert_oauth_error(&answer, 400, "invalid_request");
    let answer = post_raw(url, Some("application/x-www-form-urlencodedX"), FORM_BODY).await;
    assert_oauth_error(&answer, 400, "invalid_request");

    // The right type, with a charset or in another case, is fine.
    for ct in [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-URLEncoded",
    ] {
        let answer = post_raw(url, Some(ct), FORM_BODY).await;
        assert_eq!(answer.status, 200, "{ct}: {}", answer.text);
    }
}

#[tokio::test]
async fn case_73_repeated_parameters_are_invalid_request() {
    let issuer = start().await;
    let url = issuer.url();
    let ct = Some("application/x-www-form-urlencoded");
    for body in [
        format!("{FORM_BODY}&grant_type=client_credentials"),
        format!("{FORM_BODY}&audience=https%3A%2F%2Fapi.example.com"),
        format!("{FORM_BODY}&scope=read%3Atodos&scope=create%3Atodos"),
        // Repeated even when one is empty.
        format!("grant_type=&{FORM_BODY}"),
    ] {
        let answer = post_raw(url, ct, body.clone()).await;
        assert_oauth_error(&answer, 400, "invalid_request");
    }
    // Except RFC 8707's `resource`, which may repeat.
    let resources = "&resource=https%3A%2F%2Fapi.example.com&resource=https%3A%2F%2Fb.example";
    let answer = post_raw(url, ct, format!("{FORM_BODY}{resources}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // Too many parameters.
    let many: String = (0..100).map(|i| format!("&p{i}=x")).collect();
    let answer = post_raw(url, ct, format!("{FORM_BODY}{many}")).await;
    assert_oauth_error(&answer, 400, "invalid_request");
}

#[tokio::test]
async fn case_73_oversized_bodies_are_refused() {
    let issuer = start().await;
    let url = issuer.url();
    let ct = Some("application/x-www-form-urlencoded");

    // Just under the limit: parsed normally (an unknown parameter is ignored).
    let under = format!("{FORM_BODY}&pad={}", "a".repeat(60 * 1024));
    let answer = post_raw(url, ct, under).await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    let over = format!("{FORM_BODY}&pad={}", "a".repeat(64 * 1024 + 1));
    let answer = post_raw(url, ct, over).await;
    assert_oauth_error(&answer, 413, "invalid_request");
}

#[tokio::test]
async fn case_73_only_post_is_allowed() {
    let issuer = start().await;
    let url = format!("{}?{FORM_BODY}", token_url(issuer.url()));
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let answer = send(
            http()
                .request(method.clone(), &url)
                .header(header::AUTHORIZATION, basic(WORKER, WORKER_SECRET)),
        )
        .await;
        assert_oauth_error(&answer, 405, "invalid_request");
        let allow = answer.header(header::ALLOW).unwrap_or("");
        assert!(allow.contains("POST"), "{method}: Allow {allow:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Case 100: key rotation
// ---------------------------------------------------------------------------------------------

fn short_refresh() -> JwksOptions {
    let mut options = JwksOptions::default();
    // The SDK's floor: it is what stops unknown-kid floods.
    options.refresh_interval = Duration::from_secs(1);
    options
}

#[tokio::test]
async fn case_100_rotation_publishes_the_new_key_and_old_tokens_keep_verifying() {
    // The issuer and the verifier on one clock, which the test moves.
    let clock = ManualClock::now();
    let issuer = tenant().clock(clock.clone()).start().await.unwrap();
    let url = issuer.url();
    let old_token = worker_token(url).await;
    let kid1 = kid_of(&old_token);
    assert_eq!(jwks_kids(url).await, BTreeSet::from([kid1.clone()]));

    // A verifier that has cached the key set holding only the old key.
    let cached = TokenVerifier::builder(url)
        .audience(AUD)
        .jwks_options(short_refresh())
        .clock(clock.clone())
        .build()
        .unwrap();
    cached.verify_access_token(&old_token).await.unwrap();

    let now = clock.now_secs();
    let kid2 = issuer
        .state()
        .keys()
        .rotate(now, Duration::ZERO, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_ne!(kid1, kid2);
    // Both published at once (rotate drops the cached key ring).
    assert_eq!(
        jwks_kids(url).await,
        BTreeSet::from([kid1.clone(), kid2.clone()])
    );

    // New tokens carry the new kid, even within the same second as the first key's creation.
    for _ in 0..3 {
        let token = worker_token(url).await;
        assert_eq!(kid_of(&token), kid2);
    }
    let new_token = worker_token(url).await;

    // Past the verifier's refresh interval, so the unknown kid may trigger a fetch.
    clock.advance(Duration::from_millis(1100));
    cached
        .verify_access_token(&old_token)
        .await
        .expect("a token signed before the rotation still verifies (cached key set)");
    cached
        .verify_access_token(&new_token)
        .await
        .expect("an unknown kid makes the SDK refresh the key set");
    let fresh = verifier(url);
    fresh
        .verify_access_token(&old_token)
        .await
        .expect("a token signed before the rotation still verifies (fresh verifier)");
    fresh.verify_access_token(&new_token).await.unwrap();

    // The old key is retired and published for the overlap.
    let keys = issuer.state().store().keys().await.unwrap();
    let old = keys.iter().find(|k| k.kid == kid1).unwrap();
    assert_eq!(old.retired_at, Some(now));
    assert_eq!(old.publish_until, Some(now + 3600));
    let new = keys.iter().find(|k| k.kid == kid2).unwrap();
    assert_eq!(new.retired_at, None);
    assert_eq!(new.active_from, now);
}

#[tokio::test]
async fn case_100_kids_are_thumbprints_and_never_reused() {
    let issuer = start().await;
    let keys = issuer.state().keys();
    let mut kids = BTreeSet::from([kid_of(&worker_token(issuer.url()).await)]);
    for _ in 0..4 {
        let kid = keys
            .rotate(unix_now(), Duration::ZERO, Duration::from_secs(3600))
            .await
            .unwrap();
        assert!(kids.insert(kid.clone()), "kid {kid} was reused");
        assert_eq!(kid_of(&worker_token(issuer.url()).await), kid);
    }
    let published = jwks(issuer.url()).await;
    let published = published["keys"].as_array().unwrap();
    assert_eq!(published.len(), kids.len());
    for key in published {
        assert_eq!(key["kid"].as_str().unwrap(), thumbprint(key));
    }
    let stored = issuer.state().store().keys().await.unwrap();
    let stored_kids: BTreeSet<String> = stored.iter().map(|k| k.kid.clone()).collect();
    assert_eq!(stored_kids, kids);
    for key in &stored {
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        assert_eq!(key.kid, thumbprint(&jwk));
    }
}

#[tokio::test]
async fn case_100_a_delayed_key_is_published_before_it_signs() {
    let issuer = start().await;
    let url = issuer.url();
    let kid1 = kid_of(&worker_token(url).await);
    let now = unix_now();
    let kid2 = issuer
        .state()
        .keys()
        .rotate(now, Duration::from_secs(3600), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        jwks_kids(url).await,
        BTreeSet::from([kid1.clone(), kid2.clone()])
    );
    let token = worker_token(url).await;
    assert_eq!(
        kid_of(&token),
        kid1,
        "the old key signs until the new one activates"
    );
    verifier(url).verify_access_token(&token).await.unwrap();

    // Looking ahead (a fresh key manager on the same store, so no cached ring):
    let store = issuer.state().store().clone();
    let at = |t: i64| {
        let store = store.clone();
        async move {
            KeyManager::new(store, None, SigningAlgorithm::RS256)
                .ring(t)
                .await
                .unwrap()
        }
    };
    // the new key signs once active, the old one is still published for the overlap,
    let ring = at(now + 3600).await;
    assert_eq!(ring.active.kid(), kid2);
    assert!(ring.jwks_json.contains(&kid1));
    // and is gone after it.
    let ring = at(now + 7201).await;
    assert_eq!(ring.active.kid(), kid2);
    assert!(!ring.jwks_json.contains(&kid1));
    assert!(ring.jwks_json.contains(&kid2));
}

#[tokio::test]
async fn case_100_tokens_of_a_removed_key_no_longer_verify() {
    let issuer = start().await;
    let url = issuer.url();
    let old_token = worker_token(url).await;
    let now = unix_now();
    let kid2 = issuer
        .state()
        .keys()
        .rotate(now, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    // The overlap is over: the sweep removes the old key.
    let removed = issuer
        .state()
        .store()
        .delete_expired_keys(now + 1)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(jwks_kids(url).await, BTreeSet::from([kid2.clone()]));
    let fresh = verifier(url);
    assert!(
        fresh.verify_access_token(&old_token).await.is_err(),
        "a token of a removed key must not verify"
    );
    let new_token = worker_token(url).await;
    assert_eq!(kid_of(&new_token), kid2);
    fresh.verify_access_token(&new_token).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Sealed keys (a file database shared by several server instances)
// ---------------------------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path =
            std::env::temp_dir().join(format!("portcullis-token-endpoint-{}", random_hex(8)));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `AppState` served with `portcullis_server::run`.
struct Served {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Binds a port, builds the state for the matching issuer URL, and serves it.
async fn serve(
    database: &str,
    master_key: Option<MasterKey>,
) -> Result<(Served, AppState), portcullis_server::error::ServerError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings {
        master_key,
        ..Settings::new(&url)
    };
    let state = AppState::new(Store::connect(database).await?, settings).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(portcullis_server::run(
        listener,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok((Served { url, stop, task }, state))
}

const SEALED_SEED: &str = r#"
[[apis]]
name = "Todos"
audience = "https://api.example.com"
scopes = ["read:todos", "create:todos"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "worker-secret-0123456789abcdefghijklmnop"
apis = [{ audience = "https://api.example.com", scopes = ["read:todos", "create:todos"] }]
"#;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn sealed_keys_at_rest_and_the_wrong_master_key() {
    let dir = TempDir::new();
    let database = format!("sqlite://{}", dir.0.join("portcullis.db").display());
    let master_key = MasterKey::generate();

    // First instance: creates and seals the key.
    let (one, state1) = serve(&database, Some(master_key.clone())).await.unwrap();
    Seed::from_toml(SEALED_SEED)
        .unwrap()
        .apply(state1.store())
        .await
        .unwrap();
    let records = state1.store().keys().await.unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert!(record.sealed);
    let stored = STANDARD
        .decode(&record.private_key)
        .expect("the sealed key is base64");
    assert!(
        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&stored).is_err(),
        "the stored private key must not be plain PKCS#8"
    );
    assert!(aws_lc_rs::signature::RsaKeyPair::from_pkcs8(record.private_key.as_bytes()).is_err());
    // PKCS#8 of an RSA key holds its modulus; the sealed form must not.
    let jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
    let modulus = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    assert!(!contains(&stored, &modulus));

    let token1 = worker_token(&one.url).await;
    let kid1 = kid_of(&token1);
    assert_eq!(kid1, record.kid);
    verifier(&one.url)
        .verify_access_token(&token1)
        .await
        .unwrap();

    // Second instance, same file, same master key: unseals the same key, creates none.
    let (two, state2) = serve(&database, Some(master_key.clone())).await.unwrap();
    let ring = state2.keys().ring(unix_now()).await.unwrap();
    assert_eq!(ring.active.kid(), kid1);
    let token2 = worker_token(&two.url).await;
    assert_eq!(kid_of(&token2), kid1);
    verifier(&two.url)
        .verify_access_token(&token2)
        .await
        .unwrap();
    assert_eq!(state2.store().keys().await.unwrap().len(), 1);

    // Third instance with another master key: starts, but cannot unseal — an error, no panic,
    // and a generic 500 from the token endpoint.
    let (three, state3) = serve(&database, Some(MasterKey::generate())).await.unwrap();
    let err = state3
        .keys()
        .ring(unix_now())
        .await
        .expect_err("a wrong master key cannot unseal the signing key");
    assert!(err.to_string().contains("unsealed"), "{err}");
    let response = http()
        .post(token_url(&three.url))
        .header(header::AUTHORIZATION, basic(WORKER, WORKER_SECRET))
        .form(&cc_form(Some(AUD), None))
        .send()
        .await
        .unwrap();
    let answer = Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    };
    assert_eq!(answer.status, 500);
    assert_no_store(&answer);
    assert_eq!(
        answer.json(),
        json!({"error": "server_error", "error_description": "the server could not complete the request"})
    );
    for secret in [kid1.as_str(), "seal", "master", "sqlite", "PORTCULLIS"] {
        assert!(!answer.text.contains(secret), "the 500 leaks {secret:?}");
    }
    // The JWKS endpoint fails without detail too.
    let jwks_answer = http()
        .get(format!("{}/.well-known/jwks.json", three.url))
        .send()
        .await
        .unwrap();
    assert!(jwks_answer.status().is_server_error());
    let text = jwks_answer.text().await.unwrap();
    assert!(!text.contains("seal") && !text.contains("master"), "{text}");
    // No key was added (nor replaced) by the instance that could not unseal.
    assert_eq!(state3.store().keys().await.unwrap().len(), 1);

    // Without any master key, sealed keys are refused as well.
    let state4 = AppState::new(
        Store::connect(&database).await.unwrap(),
        Settings::new("http://127.0.0.1:1"),
    )
    .await
    .unwrap();
    assert!(state4.keys().ring(unix_now()).await.is_err());

    for served in [one, two, three] {
        served.stop().await;
    }
    for state in [state1, state2, state3, state4] {
        state.store().close().await;
    }
    drop(dir);
}

#[tokio::test]
async fn unsealed_keys_are_plain_pkcs8_without_a_master_key() {
    // The control for the sealed test: without a master key the column holds PKCS#8.
    let issuer = start().await;
    let records = issuer.state().store().keys().await.unwrap();
    assert!(!records[0].sealed);
    let der = STANDARD.decode(&records[0].private_key).unwrap();
    assert!(aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_and_readiness() {
    let issuer = start().await;
    let answer = get(format!("{}/healthz", issuer.url())).await;
    assert_eq!(answer.status, 200);
    let answer = get(format!("{}/readyz", issuer.url())).await;
    assert_eq!(answer.status, 200);
    issuer.shutdown().await;
}
