//! Bearer-token protection against the real identity server: extractors, typed guards and
//! guard middleware, and every refusal of docs/security.md section D (cases 38–42). Each behaviour
//! runs against [`Framework::serve_bearer`]'s app.

use std::time::Duration;

use portcullis::TokenVerifier;
use portcullis::clock::ManualClock;
use serde_json::{Value, json};

use crate::{ADA, API, AuthSpec, BOB, Framework, OTHER_API, answer, get_with, http, issuer, token};

/// The apps of a behaviour: one verifying every token in full, one with the verified-token
/// cache on, and the tokens of Ada and Bob.
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

async fn setup<F: Framework>() -> Setup {
    let issuer = issuer().await;
    let base = F::serve_bearer(AuthSpec::config(issuer.verifier_config(API).unwrap())).await;
    let verifier = TokenVerifier::builder(issuer.issuer())
        .audience(API)
        .cache_verified_tokens(100)
        .build()
        .unwrap();
    let cached = F::serve_bearer(AuthSpec::verifier(verifier)).await;
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

/// Valid tokens pass every extractor and guard, with the cache on or off, any case of the
/// scheme.
pub async fn valid_tokens_pass_and_reach_the_handler<F: Framework>() {
    let s = setup::<F>().await;
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

/// Case 38: no credentials is a 401 with a bare challenge; optional extractors see no user.
pub async fn case_38_no_credentials_is_401_without_an_error_attribute<F: Framework>() {
    let s = setup::<F>().await;
    for path in ["/protected", "/layer/any", "/x/role", "/layer/flag"] {
        let (status, www, body) = answer(get_with(&s.base, path, &[]).await).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(www.as_deref(), Some("Bearer realm=\"api\""), "{path}");
        assert_eq!(body["error"], "unauthenticated");
    }
    let (status, _, body) = answer(get_with(&s.base, "/maybe", &[]).await).await;
    assert_eq!((status, body["sub"].clone()), (200, Value::Null));
    let (_, _, body) = answer(get_with(&s.base, "/optional", &[]).await).await;
    assert_eq!(body["signed_in"], false);
}

/// Case 39: malformed or duplicated credentials are 400 `invalid_request` (never a cache
/// hit); another scheme is no credentials; a header plus a query token is one mechanism too
/// many.
pub async fn case_39_malformed_or_duplicated_credentials_are_400_invalid_request<F: Framework>() {
    let s = setup::<F>().await;
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
        // Longer than the SDK reads, shorter than any HTTP parser's limit.
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
    // A 64 KiB header: refused by the extractor (400) or by the HTTP parser before any
    // handler (431), as the framework does.
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    let status = get_with(&s.base, "/protected", &[&huge])
        .await
        .status()
        .as_u16();
    assert!(F::HUGE_HEADER_STATUSES.contains(&status), "{status}");
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

/// Case 39: control characters in the header are refused (by the HTTP parser) with a 400.
pub async fn case_39_control_characters_in_the_header_are_400<F: Framework>() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup::<F>().await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Sent raw: an HTTP client refuses to build such headers. The server's HTTP parser refuses
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

/// Case 40: a forged, foreign or malformed token is 401 `invalid_token` with its reason, and
/// the answer never shows the token.
pub async fn case_40_invalid_tokens_are_401_invalid_token_without_the_token<F: Framework>() {
    let s = setup::<F>().await;
    // A bad signature: a character in the middle of the signature changed (not the last one,
    // whose low bits base64url does not use).
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
    // Not a JWT at all.
    let garbage = "not-a-jwt".to_owned();
    let mut refusing = vec!["/protected", "/layer/permission", "/x/role", "/maybe"];
    if F::OPTIONAL_REFUSES_INVALID_TOKENS {
        refusing.push("/optional");
    }
    for (bad, reason) in [
        (&forged, "bad_signature"),
        (&other, "wrong_audience"),
        (&garbage, "malformed"),
    ] {
        for path in &refusing {
            let r = get_with(&s.base, path, &[&format!("Bearer {bad}")]).await;
            let (status, www, body) = answer(r).await;
            assert_eq!(status, 401, "{path} {reason}");
            let www = www.unwrap();
            assert_eq!(
                www,
                format!(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{reason}\""
                )
            );
            assert_eq!(body["error"], "invalid_token");
            let text = body.to_string();
            for segment in bad.split('.') {
                assert!(
                    !www.contains(segment) && !text.contains(segment),
                    "{path}: leaks the token"
                );
            }
        }
        if !F::OPTIONAL_REFUSES_INVALID_TOKENS {
            // actix-web's `Option<T>` extractor turns any refusal into `None` (documented).
            let r = get_with(&s.base, "/optional", &[&format!("Bearer {bad}")]).await;
            let (status, _, body) = answer(r).await;
            assert_eq!((status, body["signed_in"].clone()), (200, json!(false)));
        }
    }
}

/// A `b64token` that is no JWS (`~`, `+`, `/`, trailing `=`) is a well-formed header with a
/// malformed token: 401, cached or not.
pub async fn b64token_that_is_no_jws_is_401_invalid_token_not_400<F: Framework>() {
    let s = setup::<F>().await;
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

/// Case 40: an expired token is 401 `expired`, in the configured realm.
pub async fn case_40_expired_tokens_are_401<F: Framework>() {
    let issuer = issuer().await;
    let clock = ManualClock::now();
    let verifier = TokenVerifier::builder(issuer.issuer())
        .audience(API)
        .clock(clock.clone())
        .build()
        .unwrap();
    let base = F::serve_bearer(AuthSpec {
        verifier: Some(verifier),
        realm: Some("todos".into()),
        ..AuthSpec::config(issuer.verifier_config(API).unwrap())
    })
    .await;
    let ada = token(&issuer, ADA, "org_acme", API).await;
    let bearer = format!("Bearer {ada}");
    assert_eq!(
        get_with(&base, "/protected", &[&bearer]).await.status(),
        200
    );
    clock.advance(Duration::from_secs(2 * 3600));
    for path in ["/protected", "/layer/any"] {
        let (status, www, body) = answer(get_with(&base, path, &[&bearer]).await).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            www.as_deref(),
            Some("Bearer realm=\"todos\", error=\"invalid_token\", error_description=\"expired\"")
        );
        assert_eq!(body["error"], "invalid_token");
    }
}

/// Case 41: a valid token without the permission, role, organization or flag is 403
/// `insufficient_scope` (with `scope=` for a permission), from extractors and middleware alike.
pub async fn case_41_valid_token_without_the_right_is_403_insufficient_scope<F: Framework>() {
    let s = setup::<F>().await;
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

/// Case 42: a token in the query string is never read: no credentials.
pub async fn case_42_a_token_in_the_query_string_is_no_credentials<F: Framework>() {
    let s = setup::<F>().await;
    for path in ["/protected", "/layer/any"] {
        let r = http()
            .get(format!("{}{path}?access_token={}", s.base, s.ada))
            .send()
            .await
            .unwrap();
        let (status, www, _) = answer(r).await;
        assert_eq!(status, 401, "{path}");
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

/// Keys that cannot be fetched are 503 with `Retry-After`, no challenge.
pub async fn unreachable_keys_are_503_with_retry_after<F: Framework>() {
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
    let base = F::serve_bearer(AuthSpec::verifier(verifier)).await;
    for path in ["/protected", "/layer/role"] {
        let r = get_with(&base, path, &[&format!("Bearer {ada}")]).await;
        assert_eq!(r.headers().get("retry-after").unwrap(), "5", "{path}");
        let (status, www, body) = answer(r).await;
        assert_eq!(status, 503);
        assert_eq!(www, None);
        assert_eq!(body["error"], "temporarily_unavailable");
    }
}
