//! The behaviour suite of the framework crates: every behaviour of `portcullis-axum` and
//! `portcullis-actix` that an HTTP client can see — status codes, `WWW-Authenticate` and other
//! headers, bodies, cookies — described once, as a request and the answer expected, and run
//! against each framework's app.
//!
//! A framework crate's `tests/behaviour.rs` builds its two apps (a bearer-token API and a
//! browser app with the sign-in routes; see [`Framework`]) and calls [`behaviour_suite!`],
//! which makes one `#[tokio::test]` of each behaviour of [`bearer`] and [`sessions`] for it.
//! The apps run on 127.0.0.1:0 against the real identity server
//! (`portcullis_server::testing::TestIssuer`), and the suite talks to them over HTTP.
//!
//! Not published: test support only (it panics on any failure, as tests do).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use portcullis::clock::ManualClock;
use portcullis::oauth::AuthClient;
use portcullis::{Config, TokenVerifier};
use portcullis_server::testing::{TestFlag, TestIssuer, TestIssuerBuilder, TestUser, TokenRequest};
use serde_json::Value;

pub mod bearer;
pub mod sessions;

/// The API audience of the test tenant.
pub const API: &str = "https://api.example.com";
/// Another API of the tenant (its tokens are refused by the apps: wrong audience).
pub const OTHER_API: &str = "https://other.example.com";
/// The web app's client id.
pub const WEB: &str = "web";
/// The web app's client secret.
pub const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnop";
/// The web app's redirect URI.
pub const CALLBACK: &str = "http://localhost:3000/callback";
/// The web app's post-logout redirect URI.
pub const LOGOUT: &str = "http://localhost:3000/";
/// Every test user's password.
pub const PASSWORD: &str = "correct-horse-battery-staple";
/// Admin of org_acme (read and create todos); `beta` is on in org_acme.
pub const ADA: &str = "ada@example.com";
/// Plain member (read todos only) of org_globex, where `beta` is off.
pub const BOB: &str = "bob@example.com";

/// The tenant every behaviour uses.
pub fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(API, &["read:todos", "create:todos"])
        .api(OTHER_API, &["read:other"])
        .web_app(WEB, WEB_SECRET, &[CALLBACK])
        .logout_urls(WEB, &[LOGOUT])
        .grant(WEB, API, &["read:todos", "create:todos"])
        .grant(WEB, OTHER_API, &["read:other"])
        .permission("read:todos")
        .permission("create:todos")
        .role("admin", "Admin", &["read:todos", "create:todos"])
        .role("member", "Member", &["read:todos"])
        .organization("org_acme", "Acme")
        .organization("org_globex", "Globex")
        .user(
            TestUser::new(ADA)
                .password(PASSWORD)
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["admin"]),
        )
        .user(
            TestUser::new(BOB)
                .password(PASSWORD)
                .name("Bob", "Builder")
                .member_of("org_globex", &["member"]),
        )
        .feature_flag(TestFlag::new("beta", false).org("org_acme", true))
}

/// The identity server with [`tenant`].
pub async fn issuer() -> TestIssuer {
    tenant().start().await.expect("the test issuer starts")
}

/// An access token for `email` signed into `org`, for `audience`.
pub async fn token(issuer: &TestIssuer, email: &str, org: &str, audience: &str) -> String {
    issuer
        .user_tokens_with(
            WEB,
            email,
            PASSWORD,
            &TokenRequest::new().audience(audience).org_code(org),
        )
        .await
        .expect("the user signs in")
        .access_token
}

/// The web app's configuration (sign-in routes, API audience).
pub fn web_config(issuer: &TestIssuer) -> Config {
    Config::builder(issuer.issuer())
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .post_logout_redirect_uri(LOGOUT)
        .audience(API)
        .build()
        .unwrap()
}

/// An HTTP client that follows no redirect.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `WWW-Authenticate` header of a response.
pub fn www_authenticate(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `Location` header of a response (empty when there is none).
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Status, `WWW-Authenticate` and JSON body (`Null` when there is none).
pub async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let www = www_authenticate(&response);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, www, body)
}

/// `GET base/path` with these `Authorization` headers (each sent as given).
pub async fn get_with(base: &str, path: &str, authorization: &[&str]) -> reqwest::Response {
    let mut request = http().get(format!("{base}{path}"));
    for value in authorization {
        request = request.header("authorization", *value);
    }
    request.send().await.unwrap()
}

/// Runs the futures concurrently and collects their outputs in order.
pub async fn futures_join<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The Redis URL of the tests (`PORTCULLIS_TEST_REDIS_URL`); `None` (the test is skipped, with
/// a message) when unset, except in CI, where it must be set.
pub fn redis_url() -> Option<String> {
    let url = std::env::var("PORTCULLIS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PORTCULLIS_TEST_REDIS_URL must be set in CI"
        );
        eprintln!("skipped: set PORTCULLIS_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
    }
    url
}

/// How a behaviour wants the app's `Auth` built; each framework turns it into its own `Auth`
/// ([`build_auth!`]), whose constructors and builder are the same in both crates.
#[derive(Debug, Default)]
pub struct AuthSpec {
    /// `None`: `Auth::from_verifier(verifier)`.
    pub config: Option<Config>,
    /// The bearer verifier (`AuthBuilder::verifier`, or `Auth::from_verifier`).
    pub verifier: Option<TokenVerifier>,
    /// `AuthBuilder::client`.
    pub client: Option<AuthClient>,
    /// `AuthBuilder::realm`.
    pub realm: Option<String>,
    /// `AuthBuilder::clock`.
    pub clock: Option<ManualClock>,
    /// `AuthBuilder::refresh_margin`.
    pub refresh_margin: Option<Duration>,
}

impl AuthSpec {
    /// `Auth::from_config(&config)`.
    pub fn config(config: Config) -> Self {
        AuthSpec {
            config: Some(config),
            ..AuthSpec::default()
        }
    }

    /// `Auth::from_verifier(verifier)`.
    pub fn verifier(verifier: TokenVerifier) -> Self {
        AuthSpec {
            verifier: Some(verifier),
            ..AuthSpec::default()
        }
    }

    /// Whether `Auth::from_config` builds it (no builder setting).
    pub fn is_plain_config(&self) -> bool {
        self.verifier.is_none()
            && self.client.is_none()
            && self.realm.is_none()
            && self.clock.is_none()
            && self.refresh_margin.is_none()
    }
}

/// Builds a framework crate's `Auth` (`$auth`: `portcullis_axum::Auth` or
/// `portcullis_actix::Auth`) from an [`AuthSpec`].
#[macro_export]
macro_rules! build_auth {
    ($auth:ty, $spec:expr) => {{
        let spec: $crate::AuthSpec = $spec;
        match spec.config {
            None => <$auth>::from_verifier(spec.verifier.expect("a verifier or a configuration")),
            Some(config) if spec.is_plain_config() => <$auth>::from_config(&config).unwrap(),
            Some(config) => {
                let mut builder = <$auth>::builder(config);
                if let Some(verifier) = spec.verifier {
                    builder = builder.verifier(verifier);
                }
                if let Some(client) = spec.client {
                    builder = builder.client(client);
                }
                if let Some(realm) = spec.realm {
                    builder = builder.realm(realm);
                }
                if let Some(clock) = spec.clock {
                    builder = builder.clock(clock);
                }
                if let Some(margin) = spec.refresh_margin {
                    builder = builder.refresh_margin(margin);
                }
                builder.build().unwrap()
            }
        }
    }};
}

/// Where the browser app keeps its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The framework crate's bounded `MemoryStore`, the default.
    Memory,
    /// The session library's Redis store on the real Redis at `PORTCULLIS_TEST_REDIS_URL`.
    Redis,
    /// The whole session in its (sealed) cookie: actix-session's `CookieSessionStore` only.
    Cookie,
}

/// What the suite needs of a framework: its two apps, served on 127.0.0.1:0, and the few
/// answers that differ between frameworks by design.
pub trait Framework {
    /// The framework's name (`AuthClient::framework`).
    const NAME: &'static str;

    /// The name of the session cookie of the crate's session layer or middleware.
    const SESSION_COOKIE: &'static str;

    /// Whether `Option<Authenticated>` refuses an invalid token (axum: 401) rather than seeing
    /// no user (actix-web's blanket `Option<T>` extractor turns any refusal into `None`).
    const OPTIONAL_REFUSES_INVALID_TOKENS: bool;

    /// The statuses a 64 KiB `Authorization` header may get: the extractor's 400, or the HTTP
    /// parser's 431 before any handler.
    const HUGE_HEADER_STATUSES: &'static [u16];

    /// Whether the session middleware sends the session cookie again on an answer that did
    /// not change the session (actix-session extends its lifetime on every request).
    const RESENDS_SESSION_COOKIE: bool;

    /// Serves the bearer-token API for the `Auth` `spec` describes; returns its base URL.
    ///
    /// Routes: extractors at `/protected` (`Authenticated`, `{"sub"}`), `/maybe`
    /// (`MaybeAuthenticated`, `{"sub"}` or `{"sub": null}`), `/optional`
    /// (`Option<Authenticated>`, `{"signed_in"}`); typed guards at `/x/permission`
    /// (`create:todos`), `/x/read` (`read:todos`), `/x/role` (`admin`), `/x/org` (`org_acme`),
    /// `/x/flag` (`beta`), `/x/two` (`Authenticated` and `RequirePermission` of `read:todos`
    /// together); guard middleware at `/layer/any`, `/layer/permission` (`create:todos`),
    /// `/layer/role`, `/layer/org`, `/layer/flag`. Each answers `{"sub"}` or `ok`.
    fn serve_bearer(spec: AuthSpec) -> impl Future<Output = String>;

    /// Serves the browser app for the `Auth` `spec` describes, its sessions on `store`;
    /// returns its base URL.
    ///
    /// Routes: the sign-in routes (`/login`, `/register`, `/create-org`, `/callback`,
    /// `/logout`, `/user`); `/me` (`Authenticated`: `{"sub", "via", "email"}`, the email from
    /// the session's ID token); `/admin` (`RequireRole` of `admin`); `/guarded` (guard
    /// middleware, role `admin`); `/test/refresh-token` (the refresh token the session holds,
    /// or nothing) and `/test/visit` (puts a value in the session). A request with
    /// `x-test-slow` is held 100 ms before the session is saved.
    fn serve_sessions(spec: AuthSpec, store: Store) -> impl Future<Output = String>;
}

/// One `#[tokio::test]` of each behaviour of [`bearer`] and [`sessions`] for the framework
/// `$framework` (a [`Framework`], named by a path that works from a child module, such as
/// `crate::Axum`), in modules `bearer` and `sessions` of the calling test crate. Tests on Redis skip when `PORTCULLIS_TEST_REDIS_URL` is unset (not in CI).
#[macro_export]
macro_rules! behaviour_suite {
    ($framework:ty) => {
        mod bearer {
            use $crate::bearer as b;

            $crate::behaviour_suite!(@tests $framework, b;
                valid_tokens_pass_and_reach_the_handler,
                case_38_no_credentials_is_401_without_an_error_attribute,
                case_39_malformed_or_duplicated_credentials_are_400_invalid_request,
                case_39_control_characters_in_the_header_are_400,
                case_40_invalid_tokens_are_401_invalid_token_without_the_token,
                b64token_that_is_no_jws_is_401_invalid_token_not_400,
                case_40_expired_tokens_are_401,
                case_41_valid_token_without_the_right_is_403_insufficient_scope,
                case_42_a_token_in_the_query_string_is_no_credentials,
                unreachable_keys_are_503_with_retry_after,
            );
        }

        mod sessions {
            use $crate::sessions as s;
            use $crate::Store;

            $crate::behaviour_suite!(@tests $framework, s;
                register_and_create_org_open_the_hosted_pages,
                start_errors_are_pages_for_browsers_and_json_for_clients,
                a_callback_without_the_providers_issuer_is_refused,
                callback_errors_are_pages_for_browsers_and_logout_answers_post,
                callback_errors_are_clear_and_end_that_sign_in,
                an_expired_session_without_a_refresh_token_is_signed_out,
                case_35_logout_ends_the_local_session_when_the_provider_is_unreachable,
                sessions_work_on_real_redis,
            );
            $crate::behaviour_suite!(@stores $framework, s;
                sign_in_stores_the_session_and_serves_the_user: sign_in_memory, sign_in_redis;
                case_27_forged_replayed_and_foreign_states_are_refused: case_27_memory, case_27_redis;
                concurrent_sign_ins_in_one_browser_keep_their_own_state: case_44_pending_memory, case_44_pending_redis;
                case_46_tampered_or_absent_session_cookies_are_no_session: case_46_memory, case_46_redis;
                case_37_return_to_only_accepts_same_site_paths: case_37_memory, case_37_redis;
                case_35_47_logout_ends_the_session_then_the_providers: case_35_47_memory, case_35_47_redis;
                tokens_are_refreshed_before_they_expire_once_for_concurrent_requests: case_33_refresh_memory, case_33_refresh_redis;
                issue_4_simultaneous_sign_ins_in_one_session: issue_4_simultaneous_sign_ins_in_one_session_memory, issue_4_simultaneous_sign_ins_in_one_session_redis;
            );
        }
    };
    (@tests $framework:ty, $module:ident; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            $module::$name::<$framework>().await
        }
    )*};
    (@stores $framework:ty, $module:ident; $($scenario:ident: $memory:ident, $redis:ident;)*) => {$(
        #[tokio::test]
        async fn $memory() {
            $module::$scenario::<$framework>(Store::Memory).await
        }

        #[tokio::test]
        async fn $redis() {
            if $crate::redis_url().is_some() {
                $module::$scenario::<$framework>(Store::Redis).await
            }
        }
    )*};
}
