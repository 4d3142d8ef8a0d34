//! Test support: the real identity server (`TestIssuer`) with a small tenant, an actix-web app
//! served on 127.0.0.1:0, and an HTTP client that follows no redirect.
#![allow(dead_code, unused_macros)]

use portcullis_server::testing::{TestFlag, TestIssuer, TestUser, TokenRequest};

pub const API: &str = "https://api.example.com";
pub const OTHER_API: &str = "https://other.example.com";
pub const WEB: &str = "web";
pub const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnop";
pub const CALLBACK: &str = "http://localhost:3000/callback";
pub const LOGOUT: &str = "http://localhost:3000/";
pub const PASSWORD: &str = "correct-horse-battery-staple";
/// Admin of org_acme (read and create todos); `beta` is on in org_acme.
pub const ADA: &str = "ada@example.com";
/// Plain member (read todos only) of org_globex, where `beta` is off.
pub const BOB: &str = "bob@example.com";

/// The tenant every test uses (the same as portcullis-axum's tests).
pub fn tenant() -> portcullis_server::testing::TestIssuerBuilder {
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

/// Serves the app factory on 127.0.0.1:0 (a real actix-web server, two workers) and returns
/// its base URL.
macro_rules! serve {
    ($factory:expr) => {{
        let server = actix_web::HttpServer::new($factory)
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        format!("http://{addr}")
    }};
}
pub(crate) use serve;

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
