//! The SDK's client flows against the real identity server (`TestIssuer`, in-process): sign-in
//! with PKCE, the callback's checks, refresh, client credentials, revocation, introspection,
//! UserInfo, logout URLs. docs/security.md section C.

use std::sync::Arc;
use std::time::Duration;

use portcullis::Config;
use portcullis::clock::ManualClock;
use portcullis::oauth::{
    AuthClient, AuthorizeOptions, ClientAuthMethod, LogoutOptions, TokenTypeHint,
};
use portcullis::{Error, OAuthError};
use portcullis_server::testing::{TestIssuer, TestUser};

const API: &str = "https://api.example.com";
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnop";
const CALLBACK: &str = "http://localhost:3000/callback";
const LOGOUT: &str = "http://localhost:3000/";
const PW: &str = "first-party";
const PW_SECRET: &str = "first-party-secret-0123456789abcdefghij";
const SPA: &str = "spa";
const SPA_CALLBACK: &str = "http://localhost:5173/callback";
const M2M: &str = "worker";
const M2M_SECRET: &str = "worker-secret-0123456789abcdefghijklmn";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .api(API, &["read:todos", "create:todos"])
        .web_app(WEB, WEB_SECRET, &[CALLBACK])
        .logout_urls(WEB, &[LOGOUT])
        .web_app(PW, PW_SECRET, &[CALLBACK])
        .allow_password_grant(PW)
        .grant(PW, API, &["read:todos"])
        .grant(WEB, API, &["read:todos"])
        .spa_app(SPA, &[SPA_CALLBACK])
        .grant(SPA, API, &["read:todos"])
        .m2m_app(M2M, M2M_SECRET, API, &["read:todos", "create:todos"])
        .permission("read:todos")
        .role("admin", "Admin", &["read:todos"])
        .organization("org_acme", "Acme")
        .user(
            TestUser::new(ADA)
                .password(ADA_PASSWORD)
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["admin"]),
        )
        .start()
        .await
        .expect("the test issuer starts")
}

fn web_config(issuer: &TestIssuer) -> Config {
    Config::builder(issuer.issuer())
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .post_logout_redirect_uri(LOGOUT)
        .audience(API)
        .build()
        .unwrap()
}

fn oauth_error(result: Result<impl std::fmt::Debug, Error>) -> OAuthError {
    match result {
        Err(Error::OAuth(e)) => e,
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

/// Signs Ada in at the hosted page for `client`'s URL and returns the callback URL.
async fn sign_in(issuer: &TestIssuer, url: &url::Url) -> String {
    issuer
        .browser_sign_in(url.as_str(), ADA, ADA_PASSWORD)
        .await
        .expect("the hosted sign-in succeeds")
}

#[tokio::test]
async fn sign_in_with_pkce_verifies_the_id_token_and_the_access_token() {
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let request = client
        .login_url(&AuthorizeOptions::new().org_code("org_acme"))
        .await
        .unwrap();
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let get = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("state"), Some(request.pending.state()));
    assert_eq!(get("audience"), Some(API));
    // RFC 8707: the API is also named as a resource (standard providers read that instead).
    assert_eq!(get("resource"), Some(API));
    assert_eq!(get("scope"), Some("openid profile email offline"));

    let callback = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    let id = tokens.id_token_claims.as_ref().expect("verified ID token");
    assert_eq!(id.email.as_deref(), Some(ADA));
    assert!(
        tokens.refresh_token.is_some(),
        "offline gives a refresh token"
    );
    assert!(tokens.expires_at.is_some());
    // The access token is for the API, with the org's roles.
    let claims = client
        .verifier()
        .verify_access_token(&tokens.access_token)
        .await
        .unwrap();
    assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
    assert!(claims.has_role("admin"));
    assert!(format!("{tokens:?}").find(&tokens.access_token).is_none());

    // The code is single use: handling the same callback again is refused by the server.
    let again = oauth_error(client.handle_callback(&callback, &request.pending).await);
    assert!(again.is_invalid_grant(), "{again:?}");
}

#[tokio::test]
async fn callback_state_is_checked_before_any_token_request() {
    // docs/security.md case 27
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let first = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let second = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &first.url).await;

    // Another sign-in's pending login (another tab, another user): refused.
    let e = oauth_error(client.handle_callback(&callback, &second.pending).await);
    assert!(matches!(e, OAuthError::StateMismatch(_)), "{e:?}");
    // No state, an empty state, two states.
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    for bad in [
        format!("{CALLBACK}?code={code}"),
        format!("{CALLBACK}?code={code}&state="),
    ] {
        let e = oauth_error(client.handle_callback(&bad, &first.pending).await);
        assert!(matches!(e, OAuthError::StateMismatch(_)), "{bad}: {e:?}");
    }
    let twice = format!("{callback}&state=x");
    let e = oauth_error(client.handle_callback(&twice, &first.pending).await);
    assert!(matches!(e, OAuthError::MalformedCallback(_)), "{e:?}");
    // The code was never sent: the right pending login still works.
    client
        .handle_callback(&callback, &first.pending)
        .await
        .unwrap();
}

#[tokio::test]
async fn callback_errors_issuer_mix_up_and_expired_logins() {
    let issuer = issuer().await;
    let clock = ManualClock::now();
    let client = AuthClient::builder(web_config(&issuer))
        .clock(clock.clone())
        .build()
        .unwrap();
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let state = request.pending.state().to_owned();

    // The server says it always sends `iss` (RFC 9207), in error responses too.
    let iss = url::form_urlencoded::byte_serialize(issuer.issuer().as_bytes()).collect::<String>();
    let denied =
        format!("{CALLBACK}?error=access_denied&error_description=no&state={state}&iss={iss}");
    let e = oauth_error(client.handle_callback(&denied, &request.pending).await);
    assert_eq!(e.error_code(), Some("access_denied"));
    assert_eq!(e.http_status(), 400);

    let mixed = format!("{CALLBACK}?code=abc&state={state}&iss=https%3A%2F%2Fevil.example");
    let e = oauth_error(client.handle_callback(&mixed, &request.pending).await);
    assert_eq!(e, OAuthError::IssuerMismatch);

    let no_code = format!("{CALLBACK}?state={state}&iss={iss}");
    let e = oauth_error(client.handle_callback(&no_code, &request.pending).await);
    assert!(matches!(e, OAuthError::MalformedCallback(_)));

    clock.advance(Duration::from_secs(11 * 60));
    let late = format!("{CALLBACK}?code=abc&state={state}&iss={iss}");
    let e = oauth_error(client.handle_callback(&late, &request.pending).await);
    assert_eq!(e, OAuthError::LoginExpired);
}

/// `callback` with its `iss` parameter removed (`None`) or set to `value`.
fn with_iss(callback: &str, value: Option<&str>) -> String {
    let mut url = url::Url::parse(callback).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(value) = value {
            q.append_pair("iss", value);
        }
    }
    url.to_string()
}

/// RFC 9207 §2.4: the server's metadata says `authorization_response_iss_parameter_supported`,
/// so a callback without `iss`, or with an empty or foreign one, is refused before the code is
/// exchanged; the code stays unspent.
#[tokio::test]
async fn a_callback_without_the_issuer_is_refused_when_the_provider_always_sends_it() {
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    assert!(
        client
            .metadata()
            .await
            .unwrap()
            .authorization_response_iss_parameter_supported
    );
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    assert!(callback.contains("iss="), "{callback}");

    let e = oauth_error(
        client
            .handle_callback(&with_iss(&callback, None), &request.pending)
            .await,
    );
    assert_eq!(e, OAuthError::MissingIssuer);
    assert_eq!(e.http_status(), 400);
    for bad in ["", "https://evil.example", &format!("{}/", issuer.issuer())] {
        let e = oauth_error(
            client
                .handle_callback(&with_iss(&callback, Some(bad)), &request.pending)
                .await,
        );
        assert_eq!(e, OAuthError::IssuerMismatch, "iss={bad:?}");
    }
    // Nothing was sent to the token endpoint: the genuine callback still works.
    let tokens = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    assert!(tokens.id_token_claims.is_some());

    // A provider that does not say so may leave `iss` out.
    let mut metadata = (*client.metadata().await.unwrap()).clone();
    metadata.authorization_response_iss_parameter_supported = false;
    let lenient = AuthClient::builder(web_config(&issuer))
        .metadata(metadata)
        .build()
        .unwrap();
    let request = lenient.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    lenient
        .handle_callback(&with_iss(&callback, None), &request.pending)
        .await
        .unwrap();
}

#[tokio::test]
async fn public_spa_client_signs_in_with_pkce_only() {
    let issuer = issuer().await;
    let config = Config::builder(issuer.issuer())
        .client_id(SPA)
        .redirect_uri(SPA_CALLBACK)
        .audience(API)
        .build()
        .unwrap();
    let client = AuthClient::new(&config).unwrap();
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    assert!(tokens.id_token_claims.is_some());
    // A public client cannot use a secret-based method.
    let err = AuthClient::builder(config)
        .client_auth_method(ClientAuthMethod::ClientSecretPost)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
}

#[tokio::test]
async fn refresh_rotates_and_revocation_ends_the_family() {
    let issuer = issuer().await;
    let client = AuthClient::builder(web_config(&issuer))
        .client_auth_method(ClientAuthMethod::ClientSecretPost)
        .build()
        .unwrap();
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    let first = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    let rt1 = first.refresh_token.clone().unwrap();
    let second = client.refresh(&rt1).await.unwrap();
    let rt2 = second.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    assert_eq!(second.subject(), first.subject());

    let active = client
        .introspect(&second.access_token, Some(TokenTypeHint::AccessToken))
        .await
        .unwrap();
    assert!(active.active);
    assert_eq!(active.client_id.as_deref(), Some(WEB));

    client
        .revoke(&rt2, Some(TokenTypeHint::RefreshToken))
        .await
        .unwrap();
    let e = oauth_error(client.refresh(&rt2).await);
    assert!(e.is_invalid_grant(), "{e:?}");
    assert_eq!(e.http_status(), 401);
    let after = client.introspect(&rt2, None).await.unwrap();
    assert!(!after.active);
}

#[tokio::test]
async fn userinfo_and_logout_url() {
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    let me = client.userinfo(&tokens.access_token).await.unwrap();
    assert_eq!(Some(me.sub.as_str()), tokens.subject());
    assert_eq!(me.email.as_deref(), Some(ADA));
    let e = oauth_error(client.userinfo("not-a-token").await);
    assert_eq!(e.error_code(), Some("invalid_token"));

    let url = client
        .logout_url(None, tokens.id_token.as_deref())
        .await
        .unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/logout?", issuer.url()))
    );
    // The server accepts it: it redirects to the registered logout URL.
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some(LOGOUT)
    );
}

#[tokio::test]
async fn client_credentials_are_cached_and_shared_by_concurrent_callers() {
    let issuer = issuer().await;
    let config = Config::builder(issuer.issuer())
        .client_id(M2M)
        .client_secret(M2M_SECRET)
        .audience(API)
        .build()
        .unwrap();
    let clock = ManualClock::now();
    let client = AuthClient::builder(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.client_credentials(API, &["read:todos"]).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap());
    }
    // One request: every caller got the same token (each issued token has its own jti).
    assert!(tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])));
    assert_eq!(tokens[0].scopes(), ["read:todos"]);
    let claims = client
        .verifier()
        .verify_access_token(tokens[0].access_token())
        .await
        .unwrap();
    assert!(claims.has_scope("read:todos"));

    // Other scopes are another token; the same scopes in another order are not.
    let both = client
        .client_credentials(API, &["read:todos", "create:todos"])
        .await
        .unwrap();
    assert_ne!(both.access_token(), tokens[0].access_token());
    let same = client
        .client_credentials(API, &["create:todos", "read:todos"])
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&both, &same));

    // Shortly before expiry (default lifetime one hour) a new token is fetched.
    clock.advance(Duration::from_secs(3600 - 30));
    let renewed = client
        .client_credentials(API, &["read:todos"])
        .await
        .unwrap();
    assert_ne!(renewed.access_token(), tokens[0].access_token());

    // A scope the application was not granted: the provider's error, typed.
    let e = oauth_error(client.client_credentials(API, &["delete:everything"]).await);
    assert_eq!(e.error_code(), Some("invalid_scope"));
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    // docs/security.md case 32
    let issuer = issuer().await;
    let config = Config::builder(issuer.issuer())
        .client_id(M2M)
        .client_secret("not-the-secret-0123456789abcdefghijkl")
        .build()
        .unwrap();
    let client = AuthClient::new(&config).unwrap();
    let e = oauth_error(client.client_credentials(API, &[]).await);
    match e {
        OAuthError::Provider { status, error, .. } => {
            assert_eq!(status, 401);
            assert_eq!(error, "invalid_client");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn register_and_create_org_urls_and_reserved_parameters() {
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let pairs =
        |url: &url::Url| -> Vec<(String, String)> { url.query_pairs().into_owned().collect() };
    let register = client.register_url(&AuthorizeOptions::new()).await.unwrap();
    assert!(pairs(&register.url).contains(&("prompt".into(), "create".into())));
    let org = client
        .create_org_url(Some("Initech"), &AuthorizeOptions::new().lang("en"))
        .await
        .unwrap();
    let org = pairs(&org.url);
    assert!(org.contains(&("is_create_org".into(), "true".into())));
    assert!(org.contains(&("org_name".into(), "Initech".into())));
    assert!(org.contains(&("lang".into(), "en".into())));
    let extra = client
        .login_url(&AuthorizeOptions::new().extra("invitation_code", "inv_1"))
        .await
        .unwrap();
    assert!(pairs(&extra.url).contains(&("invitation_code".into(), "inv_1".into())));
    let e = oauth_error(
        client
            .login_url(&AuthorizeOptions::new().extra("state", "mine"))
            .await,
    );
    assert!(matches!(e, OAuthError::ReservedParameter(_)));
}

#[tokio::test]
async fn password_login_only_where_the_application_allows_it() {
    let issuer = issuer().await;
    let config = |id: &str, secret: &str| {
        Config::builder(issuer.issuer())
            .client_id(id)
            .client_secret(secret)
            .audience(API)
            .build()
            .unwrap()
    };
    let client = AuthClient::new(&config(PW, PW_SECRET)).unwrap();
    let tokens = client.password_login(ADA, ADA_PASSWORD).await.unwrap();
    let id = tokens.id_token_claims.as_ref().expect("verified ID token");
    assert_eq!(id.email.as_deref(), Some(ADA));
    let claims = client
        .verifier()
        .verify_access_token(&tokens.access_token)
        .await
        .unwrap();
    assert_eq!(claims.aud.as_slice(), [API]);
    // offline (the default scopes) gives a refresh token that works.
    let refreshed = client
        .refresh(tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(refreshed.subject(), tokens.subject());

    // Wrong password and unknown user: the same answer.
    let wrong = oauth_error(client.password_login(ADA, "not-her-password").await);
    let unknown = oauth_error(
        client
            .password_login("nobody@example.com", ADA_PASSWORD)
            .await,
    );
    assert!(wrong.is_invalid_grant() && unknown.is_invalid_grant());
    assert_eq!(wrong.to_string(), unknown.to_string());

    // An application that did not enable it (the default).
    let web = AuthClient::new(&config(WEB, WEB_SECRET)).unwrap();
    let e = oauth_error(web.password_login(ADA, ADA_PASSWORD).await);
    assert_eq!(e.error_code(), Some("unauthorized_client"));

    // The hosted form's limits apply: after 10 failures for the account, even the right
    // password is refused for a while.
    for _ in 0..9 {
        let _ = client.password_login(ADA, "still-wrong-password").await;
    }
    let e = oauth_error(client.password_login(ADA, ADA_PASSWORD).await);
    match e {
        OAuthError::Provider { status, .. } => assert_eq!(status, 429),
        other => panic!("{other:?}"),
    }
}

/// The values of `name` in a URL's query, in order.
fn all(url: &url::Url, name: &str) -> Vec<String> {
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[tokio::test]
async fn every_sign_in_url_names_uri_audiences_as_resources() {
    // RFC 8707 next to Kinde's `audience`, as client_credentials already does: only absolute
    // URIs (a standard provider refuses anything else with invalid_target), each once.
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let login = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let register = client.register_url(&AuthorizeOptions::new()).await.unwrap();
    let org = client
        .create_org_url(Some("Initech"), &AuthorizeOptions::new())
        .await
        .unwrap();
    for request in [&login, &register, &org] {
        assert_eq!(all(&request.url, "audience"), [API], "{}", request.url);
        assert_eq!(all(&request.url, "resource"), [API], "{}", request.url);
    }

    let several = client
        .login_url(
            &AuthorizeOptions::new()
                .audience("todos-api")
                .audience(API)
                .audience("https://billing.example.com/v1"),
        )
        .await
        .unwrap();
    assert_eq!(
        all(&several.url, "audience"),
        [format!("todos-api {API} https://billing.example.com/v1")]
    );
    assert_eq!(
        all(&several.url, "resource"),
        [API, "https://billing.example.com/v1"]
    );
    // Named by the app as well: sent once.
    let extra = client
        .login_url(&AuthorizeOptions::new().extra("resource", API))
        .await
        .unwrap();
    assert_eq!(all(&extra.url, "resource"), [API]);
    // No URI audience, no resource.
    let bare = client
        .login_url(&AuthorizeOptions::new().audience("todos-api"))
        .await
        .unwrap();
    assert!(all(&bare.url, "resource").is_empty(), "{}", bare.url);
    let no_audience = Config::builder(issuer.issuer())
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .build()
        .unwrap();
    let plain = AuthClient::new(&no_audience)
        .unwrap()
        .login_url(&AuthorizeOptions::new())
        .await
        .unwrap();
    assert!(all(&plain.url, "audience").is_empty());
    assert!(all(&plain.url, "resource").is_empty());
    // (The sign-in test above goes through the server with the resource: it reads `audience`
    // and ignores `resource`, also when the code exchange repeats it.)
}

#[tokio::test]
async fn logout_state_comes_back_on_the_post_logout_redirect() {
    // OIDC RP-Initiated Logout §2/§3: the server appends `state`, unchanged, to the redirect.
    let issuer = issuer().await;
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let request = client.login_url(&AuthorizeOptions::new()).await.unwrap();
    let callback = sign_in(&issuer, &request.url).await;
    let tokens = client
        .handle_callback(&callback, &request.pending)
        .await
        .unwrap();
    let id_token = tokens.id_token.as_deref().unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let follow = |url: url::Url| {
        let browser = browser.clone();
        async move {
            let answer = browser.get(url).send().await.unwrap();
            assert_eq!(answer.status(), 303, "{answer:?}");
            answer
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
    };

    let options = LogoutOptions::new()
        .id_token_hint(id_token)
        .state("st 1&ü=/?");
    assert!(!format!("{options:?}").contains(id_token));
    let url = client.logout_url_with(&options).await.unwrap();
    assert_eq!(all(&url, "state"), ["st 1&ü=/?"]);
    assert_eq!(all(&url, "id_token_hint"), [id_token]);
    let location = follow(url).await.expect("a redirect");
    let back = url::Url::parse(&location).unwrap();
    assert_eq!(
        format!("{}://{}{}", back.scheme(), back.authority(), back.path()),
        LOGOUT
    );
    assert_eq!(all(&back, "state"), ["st 1&ü=/?"]);

    // The redirect can be named, and state goes with it; without a state, none comes back.
    let url = client
        .logout_url_with(&LogoutOptions::new().redirect(LOGOUT).state("s2"))
        .await
        .unwrap();
    assert_eq!(all(&url, "post_logout_redirect_uri"), [LOGOUT]);
    assert_eq!(
        follow(url).await.as_deref(),
        Some(format!("{LOGOUT}?state=s2").as_str())
    );
    let url = client.logout_url_with(&LogoutOptions::new()).await.unwrap();
    assert!(all(&url, "state").is_empty());
    assert_eq!(follow(url).await.as_deref(), Some(LOGOUT));
}
