//! Interop: the SDK against node's `oidc-provider` (an OpenID-certified provider no one here
//! wrote) as the issuer — discovery, sign-in with PKCE (ID token: signature, `iss`, `aud`,
//! `nonce`, `at_hash`; callback `iss`), UserInfo, introspection, refresh with rotation and replay
//! detection, revocation, client credentials and sign-in for an RFC 8707 resource (the configured
//! audience), key rotation picked up through the JWKS refresh, RP-initiated logout with `state`. The SDK must work with any standards-compliant
//! provider, not only ours.
//!
//! The provider runs outside the test: `bash interop/oidc-provider/run.sh` starts
//! `interop/oidc-provider/provider.mjs` and runs this file with `PORTCULLIS_INTEROP_OIDC_PROVIDER`
//! set to its issuer. Without that variable every test here prints why and passes (so
//! `cargo test --workspace` runs without node), unless `PORTCULLIS_INTEROP_REQUIRED=1` — which
//! the runner sets — makes a missing provider a failure.
//!
//! The tests share one provider and one of them rotates its keys, so they run one at a time.

use std::time::Duration;

use portcullis::clock::ManualClock;
use portcullis::oauth::{AuthClient, AuthorizeOptions, LogoutOptions, TokenSet, TokenTypeHint};
use portcullis::{Config, Error, JwksOptions, OAuthError, Reason, TokenVerifier};
use reqwest::redirect::Policy;
use url::Url;

// The provider's fixtures: keep in step with interop/oidc-provider/provider.mjs.
const API: &str = "https://api.example.com";
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnop";
const WORKER: &str = "worker";
const WORKER_SECRET: &str = "worker-secret-0123456789abcdefghijklmn";
const CALLBACK: &str = "http://localhost:3000/callback";
const LOGOUT: &str = "http://localhost:3000/";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";

/// One test at a time: they share the provider, and key rotation changes it for everyone.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The running provider, or `None` (with a message) when this suite is not asked to run.
fn provider() -> Option<String> {
    match std::env::var("PORTCULLIS_INTEROP_OIDC_PROVIDER") {
        Ok(issuer) if !issuer.trim().is_empty() => Some(issuer.trim().to_owned()),
        _ => {
            assert!(
                std::env::var("PORTCULLIS_INTEROP_REQUIRED").as_deref() != Ok("1"),
                "PORTCULLIS_INTEROP_REQUIRED=1 but PORTCULLIS_INTEROP_OIDC_PROVIDER is not set: \
                 run bash interop/oidc-provider/run.sh"
            );
            eprintln!(
                "skipped: PORTCULLIS_INTEROP_OIDC_PROVIDER is not set \
                 (bash interop/oidc-provider/run.sh starts oidc-provider and runs this suite)"
            );
            None
        }
    }
}

/// The web app as a plain OpenID Connect client: no API, so its access tokens are for UserInfo.
fn web_config(issuer: &str) -> Config {
    Config::builder(issuer)
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .post_logout_redirect_uri(LOGOUT)
        .build()
        .unwrap()
}

fn web_client(issuer: &str) -> AuthClient {
    AuthClient::new(&web_config(issuer)).unwrap()
}

/// The web app configured with the API as its audience: the SDK names it as an RFC 8707
/// `resource` too.
fn api_web_client(issuer: &str) -> AuthClient {
    let config = Config::builder(issuer)
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .audience(API)
        .build()
        .unwrap();
    AuthClient::new(&config).unwrap()
}

fn worker_client(issuer: &str, secret: &str) -> AuthClient {
    let config = Config::builder(issuer)
        .client_id(WORKER)
        .client_secret(secret)
        .build()
        .unwrap();
    AuthClient::new(&config).unwrap()
}

/// A verifier for the API's access tokens, with the SDK's default key-cache settings.
fn api_verifier(issuer: &str) -> TokenVerifier {
    TokenVerifier::builder(issuer)
        .audience(API)
        .build()
        .unwrap()
}

/// Standard OIDC asks for a refresh token with `offline_access`, which a provider honours only
/// with `prompt=consent` (OIDC Core §11); Kinde's `offline` means nothing here.
fn offline() -> AuthorizeOptions {
    AuthorizeOptions::new()
        .scopes(["openid", "profile", "email", "offline_access"])
        .prompt("consent")
}

fn oauth_error<T: std::fmt::Debug>(result: Result<T, Error>) -> OAuthError {
    match result {
        Err(Error::OAuth(e)) => e,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

// --- a browser: cookies by hand, redirects followed one at a time -------------------------------
// (portcullis-server's tests/common/browser.rs knows our hosted pages; this one fills in any
// provider's HTML forms.)

/// Where a navigation ended.
#[derive(Debug)]
enum Step {
    /// A page of the provider.
    Page { url: Url, status: u16, body: String },
    /// A redirect away from the provider (the app's callback or logout page).
    Left(Url),
}

impl Step {
    fn page(self) -> (Url, u16, String) {
        match self {
            Step::Page { url, status, body } => (url, status, body),
            Step::Left(url) => panic!("expected a page of the provider, was sent to {url}"),
        }
    }

    fn left(self) -> Url {
        match self {
            Step::Left(url) => url,
            Step::Page { url, status, body } => {
                panic!("expected a redirect away from the provider, got {status} at {url}: {body}")
            }
        }
    }
}

struct Browser {
    http: reqwest::Client,
    origin: url::Origin,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(issuer: &str) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            origin: Url::parse(issuer).unwrap().origin(),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, url: &Url, form: Option<&[(String, String)]>) -> reqwest::Response {
        let mut request = match form {
            Some(form) => self.http.post(url.clone()).form(form),
            None => self.http.get(url.clone()),
        };
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", header);
        }
        let response = request.send().await.expect("the provider answers");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.cookies.retain(|(n, _)| n != name);
            let lower = set.to_ascii_lowercase();
            let expired = lower.contains("max-age=0") || lower.contains("expires=thu, 01 jan 1970");
            if !value.is_empty() && !expired {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        response
    }

    /// Requests `url` (a POST with `form`), then follows redirects within the provider.
    async fn go(&mut self, url: Url, form: Option<Vec<(String, String)>>) -> Step {
        let mut url = url;
        let mut form = form;
        for _ in 0..20 {
            if url.origin() != self.origin {
                return Step::Left(url);
            }
            let response = self.send(&url, form.take().as_deref()).await;
            let status = response.status().as_u16();
            if let Some(location) = response.headers().get("location") {
                url = url.join(location.to_str().unwrap()).unwrap();
                continue;
            }
            return Step::Page {
                url,
                status,
                body: response.text().await.unwrap(),
            };
        }
        panic!("more than 20 redirects");
    }

    /// Submits the page's first form: its hidden fields, plus `fields`.
    async fn submit(&mut self, page_url: &Url, body: &str, fields: &[(&str, &str)]) -> Step {
        let start = body.find("<form").expect("the page has a form");
        let form = &body[start..start + body[start..].find("</form>").expect("the form ends")];
        let action = attribute(form, "action").expect("the form has an action");
        let mut values: Vec<(String, String)> = Vec::new();
        for input in form.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            if attribute(tag, "type").as_deref() == Some("hidden")
                && let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value"))
            {
                values.push((name, value));
            }
        }
        for (name, value) in fields {
            values.push(((*name).to_owned(), (*value).to_owned()));
        }
        self.go(page_url.join(&action).unwrap(), Some(values)).await
    }
}

/// The value of `name="…"` in an HTML tag (the few entities these pages use decoded).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&#47;", "/")
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&amp;", "&"),
    )
}

/// Signs Ada in from `request_url` (login form, then consent when asked) and returns the
/// callback URL, with the browser that holds the provider's session.
async fn sign_in(issuer: &str, request_url: &Url) -> (Url, Browser) {
    let mut browser = Browser::new(issuer);
    let mut step = browser.go(request_url.clone(), None).await;
    for _ in 0..4 {
        let (url, status, body) = match step {
            Step::Left(callback) => return (callback, browser),
            Step::Page { url, status, body } => (url, status, body),
        };
        assert_eq!(status, 200, "{url}: {body}");
        step = if body.contains("name=\"password\"") {
            browser
                .submit(&url, &body, &[("login", ADA), ("password", ADA_PASSWORD)])
                .await
        } else if body.contains("value=\"consent\"") {
            browser.submit(&url, &body, &[]).await
        } else {
            panic!("an unexpected page at {url}: {body}");
        };
    }
    panic!("the sign-in did not come back to the app");
}

/// A full sign-in: login URL, the provider's pages, the callback.
async fn signed_in(issuer: &str, client: &AuthClient, options: &AuthorizeOptions) -> TokenSet {
    let request = client.login_url(options).await.unwrap();
    let (callback, _) = sign_in(issuer, &request.url).await;
    client
        .handle_callback(callback.as_str(), &request.pending)
        .await
        .unwrap()
}

async fn rotate(issuer: &str, keep: Option<usize>) -> Vec<String> {
    let token = std::env::var("PORTCULLIS_INTEROP_OIDC_PROVIDER_ADMIN_TOKEN")
        .expect("PORTCULLIS_INTEROP_OIDC_PROVIDER_ADMIN_TOKEN names the provider's admin token");
    let mut url = Url::parse(&format!("{issuer}/__interop/rotate")).unwrap();
    if let Some(keep) = keep {
        url.query_pairs_mut().append_pair("keep", &keep.to_string());
    }
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the provider rotates its keys");
    let body: serde_json::Value = response.json().await.unwrap();
    body["kids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

// --- the tests ---------------------------------------------------------------------------------

#[tokio::test]
async fn sign_in_with_pkce_verifies_the_id_token_then_userinfo_and_introspection() {
    // docs/security.md cases 26, 27 and 30 against a provider no one here wrote.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = web_client(&issuer);

    // Discovery: oidc-provider's own endpoint paths, not Kinde's.
    let metadata = client.metadata().await.unwrap();
    assert_eq!(metadata.issuer, issuer);
    assert_eq!(
        metadata.token_endpoint.as_deref(),
        Some(format!("{issuer}/token").as_str())
    );
    assert!(
        metadata
            .code_challenge_methods_supported
            .contains(&"S256".to_owned())
    );

    let request = client.login_url(&offline()).await.unwrap();
    assert!(request.url.as_str().starts_with(&format!("{issuer}/auth?")));
    let (callback, _) = sign_in(&issuer, &request.url).await;
    assert!(callback.as_str().starts_with(CALLBACK), "{callback}");
    let params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    // RFC 9207: the provider names itself; handle_callback checks it.
    assert!(
        params.contains(&("iss".to_owned(), issuer.clone())),
        "{params:?}"
    );

    let tokens = client
        .handle_callback(callback.as_str(), &request.pending)
        .await
        .unwrap();
    let id = tokens
        .id_token_claims
        .as_ref()
        .expect("a verified ID token");
    assert_eq!(id.sub.as_deref(), Some(ADA));
    // oidc-provider keeps profile claims out of an ID token issued with an access token (OIDC
    // Core §5.4): they come from UserInfo, below.
    assert_eq!(id.email, None);
    assert_eq!(id.iss.as_deref(), Some(issuer.as_str()));
    assert!(id.aud.contains(WEB));
    assert!(id.nonce.is_some(), "the nonce was checked against ours");
    // at_hash is optional in the code flow (OIDC Core §3.1.3.8) and oidc-provider sends none
    // from its token endpoint; the SDK checks it when present (tests/oauth_flows.rs).
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    assert!(tokens.expires_at.is_some());
    assert!(tokens.scopes.iter().any(|s| s == "offline_access"));

    // Without a resource indicator the access token is for UserInfo.
    let me = client.userinfo(&tokens.access_token).await.unwrap();
    assert_eq!(me.sub, ADA);
    assert_eq!(me.email.as_deref(), Some(ADA));
    assert_eq!(me.given_name.as_deref(), Some("Ada"));
    assert_eq!(me.family_name.as_deref(), Some("Lovelace"));
    let e = oauth_error(client.userinfo("not-a-token").await);
    assert_eq!(e.error_code(), Some("invalid_token"), "{e:?}");

    let active = client
        .introspect(&tokens.access_token, Some(TokenTypeHint::AccessToken))
        .await
        .unwrap();
    assert!(active.active);
    assert_eq!(active.client_id.as_deref(), Some(WEB));
    assert_eq!(active.sub.as_deref(), Some(ADA));
    let unknown = client.introspect("no-such-token", None).await.unwrap();
    assert!(!unknown.active);

    // The code is single use; a replay also revokes what it was exchanged for (RFC 6749 §4.1.2).
    let again = oauth_error(
        client
            .handle_callback(callback.as_str(), &request.pending)
            .await,
    );
    assert!(again.is_invalid_grant(), "{again:?}");
    let e = oauth_error(client.userinfo(&tokens.access_token).await);
    assert_eq!(e.error_code(), Some("invalid_token"), "{e:?}");
    let revoked = client.introspect(&tokens.access_token, None).await.unwrap();
    assert!(!revoked.active);
}

#[tokio::test]
async fn a_wrong_password_stays_on_the_form_and_a_cancelled_sign_in_is_a_typed_error() {
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = web_client(&issuer);
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let mut browser = Browser::new(&issuer);
    let (url, status, body) = browser.go(request.url.clone(), None).await.page();
    assert_eq!(status, 200);
    let (url, status, page) = browser
        .submit(
            &url,
            &body,
            &[("login", ADA), ("password", "wrong-password")],
        )
        .await
        .page();
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("Wrong email or password"));

    // The user cancels: the callback carries error=access_denied, a typed error.
    let abort = url.join(&format!("{}/abort", url.path())).unwrap();
    let callback = browser.go(abort, None).await.left();
    assert!(callback.as_str().starts_with(CALLBACK), "{callback}");
    let e = oauth_error(
        client
            .handle_callback(callback.as_str(), &request.pending)
            .await,
    );
    match &e {
        OAuthError::Callback { error, .. } => assert_eq!(error, "access_denied"),
        other => panic!("expected a callback error, got {other:?}"),
    }
    assert_eq!(e.http_status(), 400);
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_refresh_token_ends_the_grant() {
    // docs/security.md cases 32 and 33: the SDK keeps the rotated token; the provider's reuse
    // detection ends the whole family when an old one comes back.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = web_client(&issuer);
    let first = signed_in(&issuer, &client, &offline()).await;
    let rt1 = first.refresh_token.clone().unwrap();

    let second = client.refresh(&rt1).await.unwrap();
    let rt2 = second.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2, "the provider rotates refresh tokens");
    assert_ne!(first.access_token, second.access_token);
    let id = second
        .id_token_claims
        .as_ref()
        .expect("a verified ID token");
    assert_eq!(id.sub.as_deref(), Some(ADA));
    assert_eq!(
        client.userinfo(&second.access_token).await.unwrap().sub,
        ADA
    );

    let third = client.refresh(&rt2).await.unwrap();
    let rt3 = third.refresh_token.clone().unwrap();

    // rt1 again: refused, and the provider revokes the grant: rt3 is dead too.
    let replay = oauth_error(client.refresh(&rt1).await);
    assert!(replay.is_invalid_grant(), "{replay:?}");
    assert_eq!(replay.http_status(), 401);
    let after = oauth_error(client.refresh(&rt3).await);
    assert!(after.is_invalid_grant(), "{after:?}");
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_it() {
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = web_client(&issuer);
    let tokens = signed_in(&issuer, &client, &offline()).await;
    let rt = tokens.refresh_token.clone().unwrap();
    let before = client
        .introspect(&rt, Some(TokenTypeHint::RefreshToken))
        .await
        .unwrap();
    assert!(before.active);

    client
        .revoke(&rt, Some(TokenTypeHint::RefreshToken))
        .await
        .unwrap();
    let after = client.introspect(&rt, None).await.unwrap();
    assert!(!after.active);
    let e = oauth_error(client.refresh(&rt).await);
    assert!(e.is_invalid_grant(), "{e:?}");
    // RFC 7009 §2.2: revoking an unknown token is not an error.
    client.revoke("no-such-token", None).await.unwrap();
}

#[tokio::test]
async fn client_credentials_for_the_api_verify_and_are_cached() {
    // docs/security.md case 34 (client_secret_basic), and RFC 8707: the provider issues a token for
    // the API only when the request names it as a resource.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = worker_client(&issuer, WORKER_SECRET);
    let token = client
        .client_credentials(API, &["read:todos"])
        .await
        .unwrap();
    let verifier = api_verifier(&issuer);
    let claims = verifier
        .verify_access_token(token.access_token())
        .await
        .unwrap();
    assert!(claims.aud.contains(API));
    assert_eq!(claims.client_id.as_deref(), Some(WORKER));
    assert!(claims.has_scope("read:todos"));
    assert!(!claims.has_scope("create:todos"));
    assert!(token.expires_at().is_some());

    // Cached: the same token again, until shortly before it expires.
    let again = client
        .client_credentials(API, &["read:todos"])
        .await
        .unwrap();
    assert_eq!(again.access_token(), token.access_token());

    // Refusals are typed errors with the provider's codes.
    // `profile` is a scope the provider knows but the worker may not have.
    let e = oauth_error(client.client_credentials(API, &["profile"]).await);
    assert_eq!(e.error_code(), Some("invalid_scope"), "{e:?}");
    let e = oauth_error(
        client
            .client_credentials("https://other.example.com", &[])
            .await,
    );
    assert_eq!(e.error_code(), Some("invalid_target"), "{e:?}");
    let e = oauth_error(
        worker_client(&issuer, "wrong-secret")
            .client_credentials(API, &[])
            .await,
    );
    assert_eq!(e.error_code(), Some("invalid_client"), "{e:?}");
}

#[tokio::test]
async fn the_configured_audience_is_sent_as_a_resource_and_gives_an_api_token() {
    // RFC 8707: a standard provider reads `resource`, not Kinde's `audience`. The SDK sends the
    // configured (URI) audience as both, at the authorization request and again at the code
    // exchange — oidc-provider here, as by default, issues an API token only when the token
    // request names the resource too.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = api_web_client(&issuer);
    let options = AuthorizeOptions::new().scopes(["openid", "email", "read:todos"]);
    let request = client.login_url(&options).await.unwrap();
    let resources: Vec<String> = request
        .url
        .query_pairs()
        .filter(|(k, _)| k == "resource")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(resources, [API]);
    let (callback, _) = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(callback.as_str(), &request.pending)
        .await
        .unwrap();
    assert!(tokens.id_token_claims.is_some());
    let claims = client
        .verifier()
        .verify_access_token(&tokens.access_token)
        .await
        .expect("a JWT access token for the API");
    assert!(claims.aud.contains(API));
    assert_eq!(claims.sub.as_deref(), Some(ADA));
    assert!(claims.has_scope("read:todos"));
    // An ID token is never accepted as an access token.
    let e = client
        .verifier()
        .verify_access_token(tokens.id_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.reason(),
            Some(Reason::WrongTokenType | Reason::WrongAudience)
        ),
        "{e:?}"
    );

    // An audience that is not a URI stays Kinde's `audience` only: sent as a resource,
    // oidc-provider would refuse the whole sign-in with invalid_target.
    let tokens = signed_in(
        &issuer,
        &client,
        &options.clone().audience("todos-api").audience(API),
    )
    .await;
    let claims = api_verifier(&issuer)
        .verify_access_token(&tokens.access_token)
        .await
        .unwrap();
    assert!(claims.aud.contains(API));
}

#[tokio::test]
async fn a_resource_named_as_an_extra_parameter_works_too() {
    // An app without a configured audience can name the resource itself; with the audience
    // configured as well, it is sent once.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let options = AuthorizeOptions::new()
        .scopes(["openid", "email", "read:todos"])
        .extra("resource", API);
    for client in [web_client(&issuer), api_web_client(&issuer)] {
        let request = client.login_url(&options).await.unwrap();
        let count = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "resource")
            .count();
        assert_eq!(count, 1, "{}", request.url);
        let (callback, _) = sign_in(&issuer, &request.url).await;
        let tokens = client
            .handle_callback(callback.as_str(), &request.pending)
            .await
            .unwrap();
        let claims = api_verifier(&issuer)
            .verify_access_token(&tokens.access_token)
            .await
            .unwrap();
        assert!(claims.aud.contains(API));
        assert_eq!(claims.sub.as_deref(), Some(ADA));
    }
}

#[tokio::test]
async fn rotated_signing_keys_are_fetched_and_a_removed_key_stops_verifying() {
    // docs/security.md case 101: the provider starts signing with a key the SDK has never seen (the
    // harder order: published and used at once); the SDK refetches its key set once for the
    // unknown kid. Once the old key is gone from the key set, its tokens are refused.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    // The SDK's clock, moved past its key-set refresh limit instead of waiting it out.
    let clock = ManualClock::now();
    let wait_out_refresh_limit = || async {
        clock.advance(JwksOptions::default().refresh_interval + Duration::from_millis(100));
    };
    let verifier = TokenVerifier::builder(&issuer)
        .audience(API)
        .clock(clock.clone())
        .build()
        .unwrap();
    let old = worker_client(&issuer, WORKER_SECRET)
        .client_credentials(API, &[])
        .await
        .unwrap();
    let old_kid = kid(old.access_token());
    verifier
        .verify_access_token(old.access_token())
        .await
        .unwrap();
    // A user signs in before the rotation; the web client's verifier caches today's keys.
    let web = AuthClient::builder(web_config(&issuer))
        .clock(clock.clone())
        .build()
        .unwrap();
    let before = signed_in(&issuer, &web, &offline()).await;
    assert_eq!(kid(before.id_token.as_deref().unwrap()), old_kid);

    let kids = rotate(&issuer, None).await;
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], old_kid);
    let new_kid = kids[0].clone();
    // The SDK refetches at most once per refresh interval; let the one after discovery pass.
    wait_out_refresh_limit().await;

    // A new client (the old one's token is cached) gets a token signed with the new key.
    let fresh = worker_client(&issuer, WORKER_SECRET)
        .client_credentials(API, &[])
        .await
        .unwrap();
    assert_eq!(kid(fresh.access_token()), new_kid);
    verifier
        .verify_access_token(fresh.access_token())
        .await
        .expect("the unknown kid triggers a key-set refresh, and the new key verifies");
    // The old key is still published: its tokens still verify.
    verifier
        .verify_access_token(old.access_token())
        .await
        .unwrap();
    // Rotation between sign-in and refresh: the refreshed ID token has the new kid, and the
    // client's own verifier fetches it.
    let refreshed = web
        .refresh(before.refresh_token.as_deref().unwrap())
        .await
        .expect("the refreshed ID token, signed with the new key, verifies");
    assert_eq!(kid(refreshed.id_token.as_deref().unwrap()), new_kid);

    // Rotate again, keeping two keys: the first one is gone.
    let kids = rotate(&issuer, Some(2)).await;
    assert_eq!(kids[1], new_kid);
    assert!(!kids.contains(&old_kid));
    wait_out_refresh_limit().await;
    let newest = worker_client(&issuer, WORKER_SECRET)
        .client_credentials(API, &[])
        .await
        .unwrap();
    assert_eq!(kid(newest.access_token()), kids[0]);
    verifier
        .verify_access_token(newest.access_token())
        .await
        .unwrap();
    let e = verifier
        .verify_access_token(old.access_token())
        .await
        .expect_err("a token of a removed key is refused once the key set is refetched");
    assert_eq!(e.reason(), Some(Reason::UnknownKey), "{e:?}");
    verifier
        .verify_access_token(fresh.access_token())
        .await
        .unwrap();
}

#[tokio::test]
async fn logout_url_ends_the_providers_session() {
    // docs/security.md case 35: the logout URL comes from the discovered end_session_endpoint, with
    // id_token_hint and the registered post-logout redirect.
    let Some(issuer) = provider() else { return };
    let _serial = SERIAL.lock().await;
    let client = web_client(&issuer);
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let (callback, mut browser) = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(callback.as_str(), &request.pending)
        .await
        .unwrap();

    // Signed in at the provider: a second sign-in needs no form.
    let silent = client
        .login_url(&AuthorizeOptions::new().prompt("none"))
        .await
        .unwrap();
    let back = browser.go(silent.url.clone(), None).await.left();
    client
        .handle_callback(back.as_str(), &silent.pending)
        .await
        .unwrap();

    let logout = client
        .logout_url_with(
            &LogoutOptions::new()
                .id_token_hint(tokens.id_token.as_deref().unwrap())
                .state("bye & back"),
        )
        .await
        .unwrap();
    assert!(
        logout
            .as_str()
            .starts_with(&format!("{issuer}/session/end?"))
    );
    // oidc-provider asks the user to confirm, then returns with our state (RP-Initiated
    // Logout §3).
    let (url, status, body) = browser.go(logout, None).await.page();
    assert_eq!(status, 200, "{body}");
    let done = browser
        .submit(&url, &body, &[("logout", "yes")])
        .await
        .left();
    assert_eq!(done.as_str(), format!("{LOGOUT}?state=bye+%26+back"));

    // The provider's session is over: a silent sign-in now fails with login_required.
    let silent = client
        .login_url(&AuthorizeOptions::new().prompt("none"))
        .await
        .unwrap();
    let back = browser.go(silent.url.clone(), None).await.left();
    let e = oauth_error(client.handle_callback(back.as_str(), &silent.pending).await);
    assert_eq!(e.error_code(), Some("login_required"), "{e:?}");
}
