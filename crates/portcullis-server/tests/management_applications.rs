//! The management API's Applications and APIs groups, against the real server on SQLite and
//! PostgreSQL (issue 5; docs/security.md cases 82 and 83): applications and their secrets, their
//! URLs, APIs and their scopes, authorizing applications for APIs, and what a deleted
//! application can still do.

mod admin;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use admin::{Admin, Answer, on_both};
use portcullis::clock::ManualClock;
use portcullis_server::store::MANAGEMENT_API_ID;
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

const READER_ID: &str = "app-reader";
const READER_SECRET: &str = "reader-secret-reader-secret-reader-secret";

fn builder() -> portcullis_server::testing::TestIssuerBuilder {
    TestIssuer::builder()
        .api("https://seeded.example.com", &["read:things"])
        .management_app(
            READER_ID,
            READER_SECRET,
            &["read:applications", "read:apis"],
        )
}

async fn create_app(admin: &Admin, name: &str, kind: &str) -> Value {
    let a = admin
        .post("/applications", json!({"name": name, "type": kind}))
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["code"], "OK");
    a.body["application"].clone()
}

async fn create_api(admin: &Admin, name: &str, audience: &str) -> String {
    let a = admin
        .post("/apis", json!({"name": name, "audience": audience}))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["api"]["id"].as_str().unwrap().to_owned()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.error_code(), code, "{:?}", a.body);
}

/// An OAuth request with client_secret_basic; the status.
async fn client_post(
    admin: &Admin,
    path: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let r = admin
        .http
        .post(format!("{}{path}", admin.issuer.url()))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn applications_lifecycle_and_secrets_shown_once() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let reg = create_app(&admin, "Web shop", "reg").await;
        let m2m = create_app(&admin, "Nightly job", "m2m").await;
        let spa = create_app(&admin, "Single page", "spa").await;
        for app in [&reg, &m2m] {
            assert_eq!(str_of(app, "client_secret").len(), 64, "{app}");
            assert!(str_of(app, "id").starts_with("app_"));
            assert_eq!(str_of(app, "client_id").len(), 32);
        }
        assert!(spa.get("client_secret").is_none(), "{spa}");
        assert_ne!(reg["client_secret"], m2m["client_secret"]);
        let reg_id = str_of(&reg, "id");
        let secret = str_of(&reg, "client_secret");

        // Read back: never the secret, anywhere.
        let a = admin.get(&format!("/applications/{reg_id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["application"]["name"], "Web shop");
        assert_eq!(a.body["application"]["type"], "reg");
        assert_eq!(a.body["application"]["client_id"], reg["client_id"]);
        assert!(a.body["application"].get("client_secret").is_none());
        assert!(!a.body.to_string().contains(secret));
        let list = admin.get("/applications?page_size=500").await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        assert!(!list.body.to_string().contains(secret));
        let types: Vec<(&str, &str)> = list.body["applications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (str_of(a, "name"), str_of(a, "type")))
            .collect();
        for expected in [
            ("Web shop", "reg"),
            ("Nightly job", "m2m"),
            ("Single page", "spa"),
        ] {
            assert!(types.contains(&expected), "{types:?}");
        }

        // Rename; secrets and grant types are not changeable (mass assignment is a 400).
        let a = admin
            .patch(
                &format!("/applications/{reg_id}"),
                json!({"name": "  Shop  "}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let a = admin.get(&format!("/applications/{reg_id}")).await;
        assert_eq!(a.body["application"]["name"], "Shop");
        for body in [
            json!({"client_secret": "x"}),
            json!({"grant_types": ["password", "implicit"]}),
            json!({"name": "Shop", "type": "m2m"}),
            json!({"name": ""}),
            json!({"name": "a".repeat(201)}),
        ] {
            let a = admin
                .patch(&format!("/applications/{reg_id}"), body.clone())
                .await;
            assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        }
        let a = admin.get(&format!("/applications/{reg_id}")).await;
        assert_eq!(a.body["application"]["name"], "Shop");

        // Bad creations.
        for body in [
            json!({"name": "x", "type": "native"}),
            json!({"name": "", "type": "reg"}),
            json!({"name": "x"}),
            json!({"name": "x", "type": "reg", "client_secret": "chosen"}),
        ] {
            let a = admin.post("/applications", body.clone()).await;
            assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        }

        // Unknown and implausible ids.
        assert_error(
            &admin
                .get("/applications/app_000000000000000000000000")
                .await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        assert_error(
            &admin.get("/applications/..%2Fetc").await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        assert_error(
            &admin
                .patch("/applications/app_nope", json!({"name": "x"}))
                .await,
            404,
            "APPLICATION_NOT_FOUND",
        );

        // Delete.
        let a = admin.delete(&format!("/applications/{reg_id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_error(
            &admin.get(&format!("/applications/{reg_id}")).await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        assert_error(
            &admin.delete(&format!("/applications/{reg_id}")).await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn redirect_and_logout_urls_are_checked_and_used_at_sign_in() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let reg = create_app(&admin, "Web", "reg").await;
        let id = str_of(&reg, "id");
        let client_id = str_of(&reg, "client_id");
        let redirect = format!("/applications/{id}/auth_redirect_urls");
        let logout = format!("/applications/{id}/auth_logout_urls");

        let a = admin.get(&redirect).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["redirect_urls"], json!([]));

        let cb = "https://shop.example.com/callback";
        let local = "http://127.0.0.1:4000/cb";
        let a = admin.post(&redirect, json!({"urls": [cb, local]})).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        // Adding again is harmless.
        let a = admin.post(&redirect, json!({"urls": [cb]})).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let a = admin.get(&redirect).await;
        assert_eq!(a.body["redirect_urls"], json!([local, cb]));

        // The authorization endpoint takes a registered callback and refuses another.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = |uri: String| {
            let http = http.clone();
            let url = format!("{}/oauth2/auth", admin.issuer.url());
            let client_id = client_id.to_owned();
            async move {
                let url = url::Url::parse_with_params(
                    &url,
                    [
                        ("client_id", client_id.as_str()),
                        ("redirect_uri", uri.as_str()),
                        ("response_type", "code"),
                        ("scope", "openid"),
                        ("state", "state-0123456789"),
                        (
                            "code_challenge",
                            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                        ),
                        ("code_challenge_method", "S256"),
                    ],
                )
                .unwrap();
                http.get(url).send().await.unwrap().status().as_u16()
            }
        };
        assert_ne!(authorize(cb.to_owned()).await, 400);
        assert_eq!(
            authorize("https://evil.example.com/cb".to_owned()).await,
            400
        );

        // Bad URLs (docs/security.md case 83): all refused, none written (all or nothing).
        for bad in [
            "https://shop.example.com/cb#frag",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://*.example.com/cb",
            "/relative/cb",
            "http://shop.example.com/cb",
            "file:///etc/passwd",
        ] {
            let a = admin
                .post(
                    &redirect,
                    json!({"urls": ["https://fine.example.com/cb", bad]}),
                )
                .await;
            assert_error(&a, 400, "INVALID_REDIRECT_URI");
            let a = admin.put(&logout, json!({"urls": [bad]})).await;
            assert_error(&a, 400, "INVALID_LOGOUT_URI");
        }
        let a = admin.get(&redirect).await;
        assert_eq!(a.body["redirect_urls"], json!([local, cb]));

        // Replace, then delete some.
        let a = admin
            .put(
                &redirect,
                json!({"urls": ["https://a.example.com/cb", "https://b.example.com/cb", local]}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(authorize(cb.to_owned()).await, 400);
        let a = admin
            .delete(&format!(
                "{redirect}?urls=https://a.example.com/cb,{local},https://never.example.com/x"
            ))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let a = admin.get(&redirect).await;
        assert_eq!(a.body["redirect_urls"], json!(["https://b.example.com/cb"]));
        assert_error(&admin.delete(&redirect).await, 400, "INVALID_QUERY");

        // Logout URLs are their own list.
        let a = admin
            .post(&logout, json!({"urls": ["https://shop.example.com/bye"]}))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let a = admin.get(&logout).await;
        assert_eq!(
            a.body["logout_urls"],
            json!(["https://shop.example.com/bye"])
        );
        let a = admin.get(&redirect).await;
        assert_eq!(a.body["redirect_urls"], json!(["https://b.example.com/cb"]));

        // PATCH replaces both lists, with the same checks.
        let a = admin
            .patch(
                &format!("/applications/{id}"),
                json!({"redirect_uris": [cb], "logout_uris": []}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(
            admin.get(&redirect).await.body["redirect_urls"],
            json!([cb])
        );
        assert_eq!(admin.get(&logout).await.body["logout_urls"], json!([]));
        let a = admin
            .patch(
                &format!("/applications/{id}"),
                json!({"redirect_uris": ["javascript:alert(1)"]}),
            )
            .await;
        assert_error(&a, 400, "INVALID_REDIRECT_URI");

        // Limits: 100 a request, 100 an application.
        let many: Vec<String> = (0..101)
            .map(|i| format!("https://m.example.com/{i}"))
            .collect();
        assert_error(
            &admin.put(&redirect, json!({"urls": many})).await,
            400,
            "TOO_MANY_ITEMS",
        );
        let a = admin.put(&redirect, json!({"urls": &many[..100]})).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_error(
            &admin.post(&redirect, json!({"urls": [cb]})).await,
            400,
            "TOO_MANY_ITEMS",
        );
        let a = admin.get(&redirect).await;
        assert_eq!(a.body["redirect_urls"].as_array().unwrap().len(), 100);

        // Machine-to-machine applications have no URLs; unknown applications are 404.
        let m2m = create_app(&admin, "Job", "m2m").await;
        let a = admin
            .post(
                &format!("/applications/{}/auth_redirect_urls", str_of(&m2m, "id")),
                json!({"urls": [cb]}),
            )
            .await;
        assert_error(&a, 400, "INVALID_APPLICATION_TYPE");
        assert_error(
            &admin.get("/applications/app_nope/auth_logout_urls").await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        assert_error(
            &admin
                .post(
                    "/applications/app_nope/auth_redirect_urls",
                    json!({"urls": [cb]}),
                )
                .await,
            404,
            "APPLICATION_NOT_FOUND",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn apis_and_scopes_and_the_protected_management_api() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let id = create_api(&admin, "Todos", "https://todos.example.com").await;
        assert!(id.starts_with("api_"));
        assert_error(
            &admin
                .post(
                    "/apis",
                    json!({"name": "Again", "audience": "https://todos.example.com"}),
                )
                .await,
            409,
            "API_AUDIENCE_ALREADY_EXISTS",
        );
        let management = admin.issuer.management_audience();
        assert_error(
            &admin
                .post("/apis", json!({"name": "Mine", "audience": management}))
                .await,
            409,
            "API_AUDIENCE_ALREADY_EXISTS",
        );
        for body in [
            json!({"name": "x", "audience": "two words"}),
            json!({"name": "", "audience": "https://x.example.com"}),
            json!({"name": "x"}),
            json!({"name": "x", "audience": "https://x.example.com", "id": "api_mine"}),
        ] {
            let a = admin.post("/apis", body.clone()).await;
            assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        }

        // Scopes.
        let scopes = format!("/apis/{id}/scopes");
        for key in ["write:todos", "read:todos"] {
            let a = admin
                .post(&scopes, json!({"key": key, "description": "Todos"}))
                .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            assert_eq!(a.body["scope"]["id"], key);
        }
        assert_error(
            &admin.post(&scopes, json!({"key": "read:todos"})).await,
            409,
            "API_SCOPE_ALREADY_EXISTS",
        );
        assert_error(
            &admin.post(&scopes, json!({"key": "read todos"})).await,
            400,
            "INVALID_SCOPE_KEY",
        );
        let a = admin.get(&scopes).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let keys: Vec<&str> = a.body["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| str_of(s, "key"))
            .collect();
        assert_eq!(keys, ["read:todos", "write:todos"]);

        let a = admin.get(&format!("/apis/{id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["api"]["audience"], "https://todos.example.com");
        assert_eq!(a.body["api"]["is_management_api"], false);
        assert_eq!(a.body["api"]["scopes"].as_array().unwrap().len(), 2);
        assert_eq!(a.body["api"]["applications"], json!([]));

        let a = admin.get("/apis?expand=scopes&page_size=500").await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let apis = a.body["apis"].as_array().unwrap();
        let todos = apis.iter().find(|a| a["id"] == id.as_str()).unwrap();
        assert_eq!(todos["scopes"].as_array().unwrap().len(), 2);
        let mgmt = apis.iter().find(|a| a["id"] == MANAGEMENT_API_ID).unwrap();
        assert_eq!(mgmt["is_management_api"], true);
        assert_eq!(mgmt["audience"], management.as_str());
        assert_error(&admin.get("/apis?expand=apps").await, 400, "INVALID_EXPAND");

        // The management API can be read but not changed here.
        let m = format!("/apis/{MANAGEMENT_API_ID}");
        assert_eq!(admin.get(&m).await.status, 200);
        assert_error(&admin.delete(&m).await, 403, "MANAGEMENT_API_PROTECTED");
        assert_error(
            &admin
                .post(&format!("{m}/scopes"), json!({"key": "read:everything"}))
                .await,
            403,
            "MANAGEMENT_API_PROTECTED",
        );
        let job = create_app(&admin, "Job", "m2m").await;
        assert_error(
            &admin
                .patch(
                    &format!("{m}/applications"),
                    json!({"applications": [{"id": str_of(&job, "id")}]}),
                )
                .await,
            403,
            "MANAGEMENT_API_PROTECTED",
        );
        // The job still cannot call the management API.
        let refused = admin
            .issuer
            .management_token(
                str_of(&job, "client_id"),
                str_of(&job, "client_secret"),
                None,
            )
            .await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(admin.get(&m).await.status, 200);

        // Delete.
        let a = admin.delete(&format!("/apis/{id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_error(
            &admin.get(&format!("/apis/{id}")).await,
            404,
            "API_NOT_FOUND",
        );
        assert_error(&admin.get(&scopes).await, 404, "API_NOT_FOUND");
        assert_error(
            &admin.post(&scopes, json!({"key": "x"})).await,
            404,
            "API_NOT_FOUND",
        );
        assert_error(
            &admin.delete(&format!("/apis/{id}")).await,
            404,
            "API_NOT_FOUND",
        );
        assert_error(&admin.get("/apis/no%20such").await, 404, "API_NOT_FOUND");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn an_m2m_app_made_through_the_api_gets_tokens_until_it_is_deleted() {
    on_both(|db| async move {
        let clock = ManualClock::now();
        let admin = Admin::start(db, builder().clock(clock.clone())).await;
        let app = create_app(&admin, "Exporter", "m2m").await;
        let (app_id, client_id, secret) = (
            str_of(&app, "id").to_owned(),
            str_of(&app, "client_id").to_owned(),
            str_of(&app, "client_secret").to_owned(),
        );
        let audience = "https://export.example.com";
        let api = create_api(&admin, "Export", audience).await;
        for key in ["read:exports", "write:exports"] {
            let a = admin
                .post(&format!("/apis/{api}/scopes"), json!({"key": key}))
                .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
        }
        let other = create_app(&admin, "Other", "m2m").await;
        let other_id = str_of(&other, "id");

        // (No token request before the grant: the token endpoint would cache the application
        // without it for up to 5 s.)

        // All or nothing: an unknown application or scope anywhere writes nothing.
        let applications = format!("/apis/{api}/applications");
        for (body, code) in [
            (
                json!({"applications": [{"id": other_id}, {"id": "app_000000000000000000000000"}]}),
                "APPLICATION_INVALID",
            ),
            (
                json!({"applications": [{"id": other_id}, {"id": app_id, "scopes": ["read:all"]}]}),
                "SCOPE_INVALID",
            ),
            (
                json!({"applications": [{"id": app_id, "operation": "remove"}]}),
                "INVALID_OPERATION",
            ),
            (
                json!({"applications": [{"id": app_id, "operation": "delete", "scopes": []}]}),
                "INVALID_FIELD",
            ),
            (
                json!({"applications": vec![json!({"id": app_id}); 101]}),
                "TOO_MANY_ITEMS",
            ),
        ] {
            assert_error(&admin.patch(&applications, body).await, 400, code);
        }
        let a = admin.get(&format!("/apis/{api}")).await;
        assert_eq!(a.body["api"]["applications"], json!([]));
        assert_error(
            &admin
                .patch("/apis/api_nope/applications", json!({"applications": []}))
                .await,
            404,
            "API_NOT_FOUND",
        );

        // Authorize the exporter with one scope, the other application with all of them.
        let a = admin
            .patch(
                &applications,
                json!({"applications": [
                    {"id": app_id, "scopes": ["read:exports"]},
                    {"id": other_id},
                ]}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["applications_authorized"], json!([app_id, other_id]));
        let a = admin.get(&format!("/apis/{api}")).await;
        let granted: Vec<(String, Value)> = a.body["api"]["applications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (str_of(a, "id").to_owned(), a["scopes"].clone()))
            .collect();
        let mut expected = vec![
            (app_id.clone(), json!(["read:exports"])),
            (
                other_id.to_owned(),
                json!(["read:exports", "write:exports"]),
            ),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(granted, expected);

        // The exporter's secret gets a token with the granted scope, and only that.
        let token = admin
            .issuer
            .client_credentials_token(&client_id, &secret, audience, None)
            .await
            .expect("a token for the authorized application");
        let (status, body) = client_post(
            &admin,
            "/oauth2/introspect",
            &client_id,
            &secret,
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], true);
        assert_eq!(body["scope"], "read:exports");
        assert_eq!(body["aud"], json!([audience]));
        assert!(
            admin
                .issuer
                .client_credentials_token(&client_id, &secret, audience, Some("write:exports"))
                .await
                .is_err()
        );
        assert!(
            admin
                .issuer
                .client_credentials_token(&client_id, "not-the-secret", audience, None)
                .await
                .is_err()
        );

        // Deauthorizing the other application.
        let a = admin
            .patch(
                &applications,
                json!({"applications": [{"id": other_id, "operation": "delete"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["applications_deauthorized"], json!([other_id]));
        let a = admin.get(&format!("/apis/{api}")).await;
        assert_eq!(a.body["api"]["applications"].as_array().unwrap().len(), 1);

        // Delete the exporter: gone from the API at once; the token endpoint (and the
        // introspection endpoint, which authenticates clients the same way) refuses its
        // credentials once its client cache (5 s) has expired.
        let a = admin.delete(&format!("/applications/{app_id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let a = admin.get(&format!("/apis/{api}")).await;
        assert_eq!(a.body["api"]["applications"], json!([]));
        clock.advance(Duration::from_millis(5_200));
        let refused = admin
            .issuer
            .client_credentials_token(&client_id, &secret, audience, None)
            .await;
        assert!(refused.is_err(), "{refused:?}");
        let (status, _) = client_post(
            &admin,
            "/oauth2/introspect",
            &client_id,
            &secret,
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 401);
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn lists_page_through_every_item_once() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        for i in 0..7 {
            create_app(&admin, &format!("App {i}"), "m2m").await;
            create_api(
                &admin,
                &format!("Api {i}"),
                &format!("https://api{i}.example.com"),
            )
            .await;
        }
        for (list, key) in [("/applications", "applications"), ("/apis", "apis")] {
            let all = admin.get(&format!("{list}?page_size=500")).await;
            let expected: BTreeSet<String> = all.body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| str_of(a, "id").to_owned())
                .collect();
            assert!(expected.len() >= 8, "{expected:?}");
            let mut seen = Vec::new();
            let mut next: Option<String> = None;
            let mut pages = 0;
            loop {
                let path = match &next {
                    Some(token) => format!("{list}?page_size=3&next_token={token}"),
                    None => format!("{list}?page_size=3"),
                };
                let a = admin.get(&path).await;
                assert_eq!(a.status, 200, "{:?}", a.body);
                let items = a.body[key].as_array().unwrap();
                assert!(items.len() <= 3);
                seen.extend(items.iter().map(|a| str_of(a, "id").to_owned()));
                pages += 1;
                match a.body["next_token"].as_str() {
                    Some(token) => next = Some(token.to_owned()),
                    None => break,
                }
            }
            assert!(pages >= 3, "{pages}");
            assert_eq!(seen.len(), expected.len(), "{seen:?}");
            assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
        }
        // A token belongs to its list; page sizes are bounded.
        let a = admin.get("/apis?page_size=1").await;
        let token = a.body["next_token"].as_str().unwrap().to_owned();
        assert_error(
            &admin
                .get(&format!("/applications?next_token={token}"))
                .await,
            400,
            "INVALID_NEXT_TOKEN",
        );
        assert_error(
            &admin.get("/applications?page_size=501").await,
            400,
            "INVALID_PAGE_SIZE",
        );
        assert_error(
            &admin.get("/apis?page_size=0").await,
            400,
            "INVALID_PAGE_SIZE",
        );
        assert_error(
            &admin.get("/applications?sort=email_asc").await,
            400,
            "INVALID_SORT",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn each_operation_needs_its_scope() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let reader = admin
            .issuer
            .management_token(READER_ID, READER_SECRET, None)
            .await
            .unwrap();
        let app = create_app(&admin, "Job", "reg").await;
        let id = str_of(&app, "id");
        let api = create_api(&admin, "Todos", "https://todos.example.com").await;
        let as_reader = |method: &'static str, path: String, body: Option<Value>| {
            let admin = &admin;
            let reader = reader.clone();
            async move { admin.call_with(&reader, method, &path, body).await }
        };
        assert_eq!(
            as_reader("GET", "/applications".into(), None).await.status,
            200
        );
        assert_eq!(
            as_reader("GET", format!("/apis/{api}"), None).await.status,
            200
        );
        for (method, path, body, scope) in [
            (
                "POST",
                "/applications".to_owned(),
                Some(json!({"name": "x", "type": "m2m"})),
                "create:applications",
            ),
            (
                "PATCH",
                format!("/applications/{id}"),
                Some(json!({"name": "x"})),
                "update:applications",
            ),
            (
                "DELETE",
                format!("/applications/{id}"),
                None,
                "delete:applications",
            ),
            (
                "GET",
                format!("/applications/{id}/auth_redirect_urls"),
                None,
                "read:application_urls",
            ),
            (
                "POST",
                format!("/applications/{id}/auth_logout_urls"),
                Some(json!({"urls": []})),
                "create:application_urls",
            ),
            (
                "PUT",
                format!("/applications/{id}/auth_logout_urls"),
                Some(json!({"urls": []})),
                "update:application_urls",
            ),
            (
                "DELETE",
                format!("/applications/{id}/auth_logout_urls?urls=x"),
                None,
                "delete:application_urls",
            ),
            (
                "POST",
                "/apis".to_owned(),
                Some(json!({"name": "x", "audience": "y"})),
                "create:apis",
            ),
            ("DELETE", format!("/apis/{api}"), None, "delete:apis"),
            (
                "GET",
                format!("/apis/{api}/scopes"),
                None,
                "read:api_scopes",
            ),
            (
                "POST",
                format!("/apis/{api}/scopes"),
                Some(json!({"key": "x"})),
                "create:api_scopes",
            ),
            (
                "PATCH",
                format!("/apis/{api}/applications"),
                Some(json!({"applications": []})),
                "update:apis",
            ),
        ] {
            let a = as_reader(method, path.clone(), body).await;
            assert_error(&a, 403, "FORBIDDEN");
            let challenge = a.headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains(scope), "{method} {path}: {challenge}");
        }
        // Nothing changed.
        assert_eq!(
            admin.get(&format!("/applications/{id}")).await.body["application"]["name"],
            "Job"
        );
        assert_eq!(admin.get(&format!("/apis/{api}")).await.status, 200);
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn applications_sort_by_name_across_pages() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        for name in ["web", "cron", "mobile", "cron", "admin"] {
            create_app(&admin, name, "reg").await;
        }
        let all = admin.get("/applications?page_size=500").await;
        let everything: Vec<(String, String)> = all.body["applications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (str_of(a, "name").to_owned(), str_of(a, "id").to_owned()))
            .collect();
        for sort in ["name_asc", "name_desc"] {
            let mut expected = everything.clone();
            expected.sort();
            if sort == "name_desc" {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
            for page_size in [1, 2, 4] {
                let mut seen = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut path = format!("/applications?sort={sort}&page_size={page_size}");
                    if let Some(t) = &token {
                        path.push_str(&format!("&next_token={t}"));
                    }
                    let page = admin.get(&path).await;
                    assert_eq!(page.status, 200, "{path}: {:?}", page.body);
                    seen.extend(
                        page.body["applications"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|a| str_of(a, "id").to_owned()),
                    );
                    match page.body["next_token"].as_str() {
                        Some(t) => token = Some(t.to_owned()),
                        None => break,
                    }
                    assert!(seen.len() <= expected.len(), "runaway paging");
                }
                assert_eq!(seen, expected, "{sort} by {page_size}");
            }
        }
        let first = admin.get("/applications?sort=name_asc&page_size=1").await;
        let token = str_of(&first.body, "next_token").to_owned();
        assert_error(
            &admin
                .get(&format!("/applications?sort=name_desc&next_token={token}"))
                .await,
            400,
            "INVALID_NEXT_TOKEN",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn login_and_homepage_uris_and_scope_descriptions_are_kept() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let a = admin
            .post(
                "/applications",
                json!({"name": "Site", "type": "reg",
                       "login_uri": "https://site.example.com/login",
                       "homepage_uri": "https://site.example.com"}),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let id = str_of(&a.body["application"], "id").to_owned();
        let got = admin.get(&format!("/applications/{id}")).await;
        assert_eq!(
            got.body["application"]["login_uri"],
            "https://site.example.com/login"
        );
        assert_eq!(
            got.body["application"]["homepage_uri"],
            "https://site.example.com"
        );

        // PATCH sets, clears and leaves alone.
        let patched = admin
            .patch(
                &format!("/applications/{id}"),
                json!({"login_uri": "http://localhost:3000/login", "homepage_uri": null}),
            )
            .await;
        assert_eq!(patched.status, 200, "{:?}", patched.body);
        let got = admin.get(&format!("/applications/{id}")).await;
        assert_eq!(
            got.body["application"]["login_uri"],
            "http://localhost:3000/login"
        );
        assert_eq!(got.body["application"]["homepage_uri"], Value::Null);
        let renamed = admin
            .patch(&format!("/applications/{id}"), json!({"name": "Site 2"}))
            .await;
        assert_eq!(renamed.status, 200, "{:?}", renamed.body);
        let got = admin.get(&format!("/applications/{id}")).await;
        assert_eq!(
            got.body["application"]["login_uri"],
            "http://localhost:3000/login"
        );
        let plain = create_app(&admin, "Plain", "m2m").await;
        let got = admin
            .get(&format!("/applications/{}", str_of(&plain, "id")))
            .await;
        assert_eq!(got.body["application"]["login_uri"], Value::Null);
        for bad in [
            "javascript:alert(1)",
            "http://site.example.com/login",
            "https://site.example.com/#frag",
            "/login",
        ] {
            assert_error(
                &admin
                    .patch(&format!("/applications/{id}"), json!({"login_uri": bad}))
                    .await,
                400,
                "INVALID_URI",
            );
            assert_error(
                &admin
                    .post(
                        "/applications",
                        json!({"name": "X", "type": "reg", "homepage_uri": bad}),
                    )
                    .await,
                400,
                "INVALID_URI",
            );
        }

        // Scope descriptions: stored and shown wherever scopes are.
        let api = create_api(&admin, "Docs", "https://docs.example.com").await;
        for (key, description) in [
            ("read:docs", json!("Read the docs")),
            ("write:docs", json!(null)),
            ("share:docs", json!("  ")),
        ] {
            let added = admin
                .post(
                    &format!("/apis/{api}/scopes"),
                    json!({"key": key, "description": description}),
                )
                .await;
            assert_eq!(added.status, 200, "{:?}", added.body);
            assert_eq!(added.body["scope"]["id"], key);
        }
        let scopes = admin.get(&format!("/apis/{api}/scopes")).await;
        assert_eq!(
            scopes.body["scopes"],
            json!([
                {"id": "read:docs", "key": "read:docs", "description": "Read the docs"},
                {"id": "share:docs", "key": "share:docs", "description": null},
                {"id": "write:docs", "key": "write:docs", "description": null},
            ])
        );
        let one = admin.get(&format!("/apis/{api}")).await;
        assert_eq!(one.body["api"]["scopes"][0]["description"], "Read the docs");
        let listed = admin.get("/apis?expand=scopes&page_size=500").await;
        let docs = listed.body["apis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == api.as_str())
            .unwrap()
            .clone();
        assert_eq!(docs["scopes"][0]["description"], "Read the docs");
        assert_error(
            &admin
                .post(
                    &format!("/apis/{api}/scopes"),
                    json!({"key": "x:docs", "description": "a\u{0}b"}),
                )
                .await,
            400,
            "INVALID_FIELD",
        );
        admin.finish().await;
    })
    .await;
}
