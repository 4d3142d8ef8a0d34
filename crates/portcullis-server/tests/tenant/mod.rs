//! The example tenant (`examples/tenant.toml`) on a real server with settings of the test's
//! choosing (lifetimes, timeouts), and the code flow against it. Shared by the hardening tests.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};
use serde_json::Value;

use crate::common::browser::{Base, Browser, http};

pub const API: &str = "https://api.example.com";
pub const WEB: &str = "demo-web";
pub const WEB_SECRET: &str = "demo-web-secret-change-me-0123456789abcdef";
pub const WEB_CALLBACK: &str = "http://localhost:3000/callback";
pub const SPA: &str = "demo-spa";
pub const SPA_CALLBACK: &str = "http://localhost:5173/callback";
pub const ADA: &str = "ada@example.com";
pub const ADA_PASSWORD: &str = "correct-horse-battery-staple";

/// A running server with the example tenant; stops when dropped.
pub struct Tenant {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Base for Tenant {
    fn base(&self) -> &str {
        &self.url
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Tenant {
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Ada's user id.
    pub async fn ada_id(&self) -> String {
        self.store().user_by_email(ADA).await.unwrap().unwrap().id
    }
}

/// The tenant on in-memory SQLite, with `configure` applied to the default settings.
pub async fn start(configure: impl FnOnce(&mut Settings)) -> Tenant {
    start_on("sqlite::memory:", configure).await
}

/// The tenant on the database at `url`.
pub async fn start_on(url: &str, configure: impl FnOnce(&mut Settings)) -> Tenant {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url_base = format!("http://{addr}");
    let mut settings = Settings::new(&url_base);
    configure(&mut settings);
    let state = AppState::new(Store::connect(url).await.unwrap(), settings)
        .await
        .unwrap();
    Seed::from_toml(include_str!("../../examples/tenant.toml"))
        .unwrap()
        .apply(state.store())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_server::run(
        listener,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Tenant {
        url: url_base,
        addr,
        state,
        stop: Some(stop),
    }
}

/// A PKCE pair `(verifier, challenge)` for S256.
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    (verifier, challenge)
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

/// `POST /oauth2/token` with `form`, as `auth` (Basic) when given.
pub async fn exchange(
    tenant: &Tenant,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = http()
        .post(format!("{}/oauth2/token", tenant.url))
        .form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Redeems `code` for the web app.
pub async fn redeem(tenant: &Tenant, code: &str, verifier: &str) -> (u16, Value) {
    exchange(
        tenant,
        Some((WEB, WEB_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Signs Ada in to the web app in `browser` with `scope` (and `extra` parameters), and
/// returns the code and its PKCE verifier.
pub async fn ada_code(
    browser: &mut Browser,
    tenant: &Tenant,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let form = browser
        .authorize(tenant, &web_params(&challenge, scope, extra))
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser.sign_in(tenant, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    (done.param("code").unwrap(), verifier)
}

/// Signs Ada in to the web app and redeems the code: the token response.
pub async fn ada_tokens(tenant: &Tenant, scope: &str, extra: &[(&str, &str)]) -> Value {
    let mut browser = Browser::default();
    let (code, verifier) = ada_code(&mut browser, tenant, scope, extra).await;
    let (status, tokens) = redeem(tenant, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Refreshes as the web app, with `scope` when given.
pub async fn refresh(tenant: &Tenant, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    exchange(tenant, Some((WEB, WEB_SECRET)), &form).await
}

/// Introspects `token` as the web app.
pub async fn introspect(tenant: &Tenant, token: &str) -> Value {
    http()
        .post(format!("{}/oauth2/introspect", tenant.url))
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
