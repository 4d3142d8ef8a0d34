//! Bearer-token protection against the real identity server: extractors, typed guards and
//! `wrap` guard middleware, and every refusal of security.md section D (cases 38–42).

mod common;

use std::time::Duration;

use actix_web::{App, HttpResponse, web};
use common::*;
use portcullis::TokenVerifier;
use portcullis::clock::ManualClock;
use portcullis_actix::{
    Auth, Authenticated, MaybeAuthenticated, RequireFeatureFlag, RequireOrganization,
    RequirePermission, RequireRole,
};
use serde_json::{Value, json};

portcullis_actix::permission!(ReadTodos = "read:todos");
portcullis_actix::permission!(CreateTodos = "create:todos");
portcullis_actix::role!(Admin = "admin");
portcullis_actix::organization!(Acme = "org_acme");
portcullis_actix::feature_flag!(Beta = "beta");

fn sub(claims: &portcullis::Claims) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": claims.subject() }))
}

/// The app: extractors at `/…` and `/x/…`, middleware guards at `/layer/…` (a scope with a
/// guard, resources with guards). `Auth` is registered as plain app data, except with
/// `as_data`, as `web::Data<Auth>`.
fn app(
    auth: Auth,
    as_data: bool,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let app = if as_data {
        App::new().app_data(web::Data::new(auth.clone()))
    } else {
        App::new().app_data(auth.clone())
    };
    app.route(
        "/protected",
        web::get().to(|u: Authenticated| async move { sub(&u) }),
    )
    .route(
        "/maybe",
        web::get().to(|MaybeAuthenticated(u): MaybeAuthenticated| async move {
            HttpResponse::Ok()
                .json(json!({ "sub": u.as_ref().and_then(|u| u.subject().map(str::to_owned)) }))
        }),
    )
    .route(
        "/optional",
        web::get().to(|u: Option<Authenticated>| async move {
            HttpResponse::Ok().json(json!({ "signed_in": u.is_some() }))
        }),
    )
    .route(
        "/x/permission",
        web::get().to(|u: RequirePermission<CreateTodos>| async move { sub(&u) }),
    )
    .route(
        "/x/read",
        web::get().to(|u: RequirePermission<ReadTodos>| async move { sub(&u) }),
    )
    .route(
        "/x/role",
        web::get().to(|u: RequireRole<Admin>| async move { sub(&u) }),
    )
    .route(
        "/x/two",
        web::get().to(
            |u: Authenticated, r: RequirePermission<ReadTodos>| async move {
                assert_eq!(u.subject(), r.subject());
                sub(&u)
            },
        ),
    )
    .route(
        "/x/org",
        web::get().to(|u: RequireOrganization<Acme>| async move { sub(&u) }),
    )
    .route(
        "/x/flag",
        web::get().to(|u: RequireFeatureFlag<Beta>| async move { sub(&u) }),
    )
    .service(
        web::scope("/layer/any")
            .wrap(auth.require_authenticated())
            .route("", web::get().to(|u: Authenticated| async move { sub(&u) })),
    )
    .service(
        web::resource("/layer/permission")
            .wrap(auth.require_permission("create:todos"))
            .route(web::get().to(|u: Authenticated| async move { sub(&u) })),
    )
    .service(
        web::resource("/layer/role")
            .wrap(auth.require_role("admin"))
            .route(web::get().to(|| async { "ok" })),
    )
    .service(
        web::resource("/layer/org")
            .wrap(auth.require_organization("org_acme"))
            .route(web::get().to(|| async { "ok" })),
    )
    .service(
        web::resource("/layer/flag")
            .wrap(auth.require_feature_flag("beta"))
            .route(web::get().to(|| async { "ok" })),
    )
}

struct Setup {
    issuer: portcullis_server::testing::TestIssuer,
    /// The app with a verifier that checks every token in full.
    base: String,
    /// The same app with the verified-token cache on.
    cached: String,
    ada: String,
    bob: String,
}

impl Setup {
    /// Both apps: every answer must be the same with the cache on or off.
    fn bases(&self) -> [&str; 2] {
        [&self.base, &self.cached]
    }
}

async fn setup() -> Setup {
    let issuer = issuer().await;
    let auth = Auth::from_config(&issuer.verifier_config(API).unwrap()).unwrap();
    let base = serve!(move || app(auth.clone(), false));
    let verifier = TokenVerifier::builder(issuer.issuer())
        .audience(API)
        .cache_verified_tokens(100)
        .build()
        .unwrap();
    let auth = Auth::from_verifier(verifier);
    let cached = serve!(move || app(auth.clone(), false));
    let ada = token(&issuer, ADA, "org_acme", API).await;
    let bob = token(&issuer, BOB, "org_globex", API).await;
    Setup {
        issuer,
        base,
        cached,
        ada,
        bob,
    }
}

async fn get_with(base: &str, path: &str, authorization: &[&str]) -> reqwest::Response {
    let mut request = http().get(format!("{base}{path}"));
    for value in authorization {
        request = request.header("authorization", *value);
    }
    request.send().await.unwrap()
}

/// Status, `WWW-Authenticate` and JSON body.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let www = www_authenticate(&response);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, www, body)
}

#[tokio::test]
async fn valid_tokens_pass_and_reach_the_handler() {
    let s = setup().await;
    let bearer = format!("Bearer {}", s.ada);
    // Twice each: the second request of the cached app is answered from its cache.
    for base in s.bases().into_iter().chain(s.bases()) {
        for path in [
            "/protected",
            "/layer/any",
            "/x/read",
            "/x/permission",
            "/layer/permission",
            "/x/two",
        ] {
            let (status, _, body) = answer(get_with(base, path, &[&bearer]).await).await;
            assert_eq!(status, 200, "{base}{path}");
            assert!(body["sub"].as_str().is_some(), "{base}{path}: {body}");
        }
        // The scheme is case-insensitive (case 39).
        for scheme in ["bearer", "BEARER"] {
            let r = get_with(base, "/protected", &[&format!("{scheme} {}", s.ada)]).await;
            assert_eq!(r.status(), 200, "{base} {scheme}");
        }
        let (_, _, body) = answer(get_with(base, "/maybe", &[&bearer]).await).await;
        assert!(body["sub"].is_string());
        let (_, _, body) = answer(get_with(base, "/optional", &[&bearer]).await).await;
        assert_eq!(body["signed_in"], true);
    }
    drop(s.issuer);
}

#[tokio::test]
async fn auth_may_be_registered_as_web_data() {
    let issuer = issuer().await;
    let auth = Auth::from_config(&issuer.verifier_config(API).unwrap()).unwrap();
    let base = serve!(move || app(auth.clone(), true));
    let ada = token(&issuer, ADA, "org_acme", API).await;
    let bearer = format!("Bearer {ada}");
    for path in ["/protected", "/x/role", "/layer/role"] {
        assert_eq!(
            get_with(&base, path, &[&bearer]).await.status(),
            200,
            "{path}"
        );
    }
    assert_eq!(get_with(&base, "/protected", &[]).await.status(), 401);
}

#[tokio::test]
async fn without_auth_in_the_app_data_extractors_answer_500() {
    let base = serve!(|| App::new().route(
        "/protected",
        web::get().to(|u: Authenticated| async move { sub(&u) })
    ));
    let (status, _, body) = answer(get_with(&base, "/protected", &[]).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("server_error"))
    );
}

#[tokio::test]
async fn case_38_no_credentials_is_401_without_an_error_attribute() {
    let s = setup().await;
    for path in ["/protected", "/layer/any", "/x/role", "/layer/flag"] {
        let (status, www, body) = answer(get_with(&s.base, path, &[]).await).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(www.as_deref(), Some("Bearer realm=\"api\""), "{path}");
        assert_eq!(body["error"], "unauthenticated");
    }
    // Optional extractors see no user.
    let (status, _, body) = answer(get_with(&s.base, "/maybe", &[]).await).await;
    assert_eq!((status, body["sub"].clone()), (200, Value::Null));
    let (_, _, body) = answer(get_with(&s.base, "/optional", &[]).await).await;
    assert_eq!(body["signed_in"], false);
}

#[tokio::test]
async fn case_39_malformed_or_duplicated_credentials_are_400_invalid_request() {
    let s = setup().await;
    let token = s.ada.as_str();
    let two_tokens = format!("Bearer {token} {token}");
    let cases: Vec<Vec<String>> = vec![
        vec!["Bearer".into()],
        vec!["Bearer ".into()],
        vec!["Bearer a b".into()],
        // The real token with bytes RFC 6750's b64token does not allow.
        vec![format!("Bearer {token}%")],
        vec![format!("Bearer {token}=x")],
        vec![format!("Bearer =={token}")],
        vec![format!("Bearer {token},")],
        vec![two_tokens],
        vec![format!("Bearer {token}"), format!("Bearer {token}")],
        vec![format!("Bearer {}", "a".repeat(20 * 1024))],
    ];
    // The cached app has seen the token: a header that holds it among other bytes is still
    // malformed, not a cache hit.
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get_with(&s.cached, "/protected", &[&bearer]).await.status(),
        200
    );
    for (headers, base) in cases.iter().flat_map(|h| s.bases().map(|b| (h, b))) {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        for path in ["/protected", "/layer/any", "/maybe"] {
            let (status, www, body) = answer(get_with(base, path, &refs).await).await;
            let shown: Vec<&str> = refs.iter().map(|h| &h[..h.len().min(20)]).collect();
            assert_eq!(status, 400, "{path} {shown:?}");
            let www = www.unwrap();
            assert!(
                www.starts_with("Bearer realm=\"api\", error=\"invalid_request\""),
                "{www}"
            );
            assert_eq!(body["error"], "invalid_request");
            assert!(!www.contains(token) && !body.to_string().contains(token));
        }
    }
    // A 64 KiB header: actix-web's HTTP parser refuses it before any handler (431), or the
    // extractor does (400).
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    let status = get_with(&s.base, "/protected", &[&huge]).await.status();
    assert!(status == 431 || status == 400, "{status}");
    // Another scheme is an unsupported authentication method, not a malformed bearer
    // credential: 401 with a bare challenge, like no credentials (RFC 6750 §3.1).
    for other in [
        "Basic eHl6".to_owned(),
        format!("Token {token}"),
        "Bearera".into(),
    ] {
        for base in s.bases() {
            for path in ["/protected", "/layer/any"] {
                let (status, www, body) = answer(get_with(base, path, &[&other]).await).await;
                assert_eq!(status, 401, "{path} {}", &other[..other.len().min(12)]);
                assert_eq!(www.as_deref(), Some("Bearer realm=\"api\""), "{path}");
                assert!(!body.to_string().contains(token));
            }
            // An optional extractor sees no user.
            let (status, _, body) = answer(get_with(base, "/maybe", &[&other]).await).await;
            assert_eq!((status, body["sub"].clone()), (200, Value::Null));
        }
    }
    // A header plus a query token: one mechanism only.
    let r = http()
        .get(format!("{}/protected?access_token={token}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, body) = answer(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "access token must only be provided using one mechanism"
    );
}

#[tokio::test]
async fn case_39_control_characters_in_the_header_are_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup().await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Sent raw: an HTTP client refuses to build such headers. actix-web's HTTP parser refuses
    // them before any handler runs.
    for bad in ["Bearer a\0b", "Bearer a\rb", "Bearer a\nX-Injected: 1\rb"] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET /protected HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {bad}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad:?}: {answer}");
    }
}

#[tokio::test]
async fn case_40_invalid_tokens_are_401_invalid_token_without_the_token() {
    let s = setup().await;
    // A bad signature: a character in the middle of the signature changed.
    let at = s.ada.len() - 20;
    let was = s.ada.as_bytes()[at];
    let forged = format!(
        "{}{}{}",
        &s.ada[..at],
        if was == b'A' { 'B' } else { 'A' },
        &s.ada[at + 1..]
    );
    // Another audience: a real token of this issuer, for another API.
    let other = token(&s.issuer, ADA, "org_acme", OTHER_API).await;
    let garbage = "not-a-jwt".to_owned();
    for (bad, reason) in [
        (&forged, "bad_signature"),
        (&other, "wrong_audience"),
        (&garbage, "malformed"),
    ] {
        for path in ["/protected", "/layer/permission", "/x/role", "/maybe"] {
            let r = get_with(&s.base, path, &[&format!("Bearer {bad}")]).await;
            let (status, www, body) = answer(r).await;
            assert_eq!(status, 401, "{path} {reason}");
            assert_eq!(
                www.unwrap(),
                format!(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{reason}\""
                )
            );
            assert_eq!(body["error"], "invalid_token");
            let text = body.to_string();
            for segment in bad.split('.') {
                assert!(!text.contains(segment), "{path}: leaks the token");
            }
        }
        // actix-web's `Option<T>` extractor turns any refusal into `None` (documented).
        let r = get_with(&s.base, "/optional", &[&format!("Bearer {bad}")]).await;
        let (status, _, body) = answer(r).await;
        assert_eq!((status, body["signed_in"].clone()), (200, json!(false)));
    }
}

#[tokio::test]
async fn b64token_that_is_no_jws_is_401_invalid_token_not_400() {
    // "~", "+", "/" and trailing "=" are b64token bytes (so the header is well formed) but not
    // base64url: the token is refused as malformed, 401, whether or not the real token it
    // extends is in the verifier's cache.
    let s = setup().await;
    let token = s.ada.as_str();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get_with(&s.cached, "/protected", &[&bearer]).await.status(),
        200
    );
    for bad in [
        format!("{token}~"),
        format!("{token}=="),
        format!("+{token}"),
        format!("{token}/"),
    ] {
        for base in s.bases() {
            let r = get_with(base, "/protected", &[&format!("Bearer {bad}")]).await;
            let (status, www, body) = answer(r).await;
            assert_eq!(status, 401, "{base} {}", &bad[bad.len() - 2..]);
            assert_eq!(
                www.as_deref(),
                Some(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"malformed\""
                )
            );
            assert_eq!(body["error"], "invalid_token");
        }
    }
}

#[tokio::test]
async fn case_40_expired_tokens_are_401() {
    let issuer = issuer().await;
    let clock = ManualClock::now();
    let verifier = TokenVerifier::builder(issuer.issuer())
        .audience(API)
        .clock(clock.clone())
        .build()
        .unwrap();
    let auth = Auth::builder(issuer.verifier_config(API).unwrap())
        .verifier(verifier)
        .realm("todos")
        .build()
        .unwrap();
    let base = serve!(move || app(auth.clone(), false));
    let ada = token(&issuer, ADA, "org_acme", API).await;
    let bearer = format!("Bearer {ada}");
    assert_eq!(
        get_with(&base, "/protected", &[&bearer]).await.status(),
        200
    );
    clock.advance(Duration::from_secs(2 * 3600));
    for path in ["/protected", "/layer/any"] {
        let (status, www, body) = answer(get_with(&base, path, &[&bearer]).await).await;
        assert_eq!(status, 401);
        assert_eq!(
            www.as_deref(),
            Some("Bearer realm=\"todos\", error=\"invalid_token\", error_description=\"expired\"")
        );
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn case_41_valid_token_without_the_right_is_403_insufficient_scope() {
    let s = setup().await;
    let bob = format!("Bearer {}", s.bob);
    // Bob reads todos but may not create them, is no admin, is in org_globex, beta is off.
    assert_eq!(get_with(&s.base, "/x/read", &[&bob]).await.status(), 200);
    for path in ["/x/permission", "/layer/permission"] {
        let (status, www, body) = answer(get_with(&s.base, path, &[&bob]).await).await;
        assert_eq!(status, 403, "{path}");
        let cached = answer(get_with(&s.cached, path, &[&bob]).await).await;
        assert_eq!(cached, (status, www.clone(), body.clone()), "cached {path}");
        assert_eq!(
            www.as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"the \
                 permission create:todos is required\", scope=\"create:todos\""
            )
        );
        assert_eq!(body["error"], "insufficient_scope");
    }
    let guarded = [
        "/x/role",
        "/layer/role",
        "/x/org",
        "/layer/org",
        "/x/flag",
        "/layer/flag",
    ];
    for path in guarded {
        let (status, www, body) = answer(get_with(&s.base, path, &[&bob]).await).await;
        assert_eq!(status, 403, "{path}");
        let www = www.unwrap();
        assert!(
            www.starts_with("Bearer realm=\"api\", error=\"insufficient_scope\""),
            "{www}"
        );
        assert!(!www.contains(", scope="), "{www}");
        assert_eq!(body["error"], "insufficient_scope");
    }
    // Ada has all of it.
    let ada = format!("Bearer {}", s.ada);
    for path in guarded {
        assert_eq!(
            get_with(&s.base, path, &[&ada]).await.status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn case_42_a_token_in_the_query_string_is_no_credentials() {
    let s = setup().await;
    for path in ["/protected", "/layer/any"] {
        let r = http()
            .get(format!("{}{path}?access_token={}", s.base, s.ada))
            .send()
            .await
            .unwrap();
        let (status, www, _) = answer(r).await;
        assert_eq!(status, 401);
        assert_eq!(www.as_deref(), Some("Bearer realm=\"api\""));
    }
    let r = http()
        .get(format!("{}/maybe?access_token={}", s.base, s.ada))
        .send()
        .await
        .unwrap();
    let (_, _, body) = answer(r).await;
    assert_eq!(body["sub"], Value::Null);
}

#[tokio::test]
async fn unreachable_keys_are_503_with_retry_after() {
    let issuer = issuer().await;
    let ada = token(&issuer, ADA, "org_acme", API).await;
    // An issuer nobody listens on: its keys cannot be fetched.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_url = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let verifier = TokenVerifier::builder(gone_url)
        .audience(API)
        .build()
        .unwrap();
    let auth = Auth::from_verifier(verifier);
    let base = serve!(move || app(auth.clone(), false));
    for path in ["/protected", "/layer/role"] {
        let r = get_with(&base, path, &[&format!("Bearer {ada}")]).await;
        assert_eq!(r.headers().get("retry-after").unwrap(), "5");
        let (status, www, body) = answer(r).await;
        assert_eq!(status, 503);
        assert_eq!(www, None);
        assert_eq!(body["error"], "temporarily_unavailable");
    }
}
