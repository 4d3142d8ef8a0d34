//! The management API's users operations and its authorization rules, against the real server
//! on SQLite and PostgreSQL (issue 5; docs/security.md cases 80, 82, 84).

mod admin;
mod common;

use admin::{ADMIN_ID, ADMIN_SECRET, Admin, on_both};
use common::TestDb;
use portcullis_server::testing::{TestIssuer, TestUser};
use serde_json::{Value, json};

fn builder() -> portcullis_server::testing::TestIssuerBuilder {
    TestIssuer::builder()
        .api("https://api.example.com", &["read:todos"])
        .m2m_app(
            "report-job",
            "report-secret-report-secret-report-secret",
            "https://api.example.com",
            &["read:todos"],
        )
        .management_app(
            "reader",
            "reader-secret-reader-secret-reader-secret",
            &["read:users"],
        )
        .web_app(
            "web",
            "web-secret-web-secret-web-secret-web-secret",
            &["http://127.0.0.1:9/callback"],
        )
        .organization("org_acme", "Acme")
        .user(
            TestUser::new("ada@example.com")
                .password("correct-horse-battery")
                .name("Ada", "Lovelace")
                .member_of("org_acme", &[]),
        )
}

async fn create(admin: &Admin, email: &str) -> String {
    let a = admin
        .post(
            "/user",
            json!({
                "profile": {"given_name": "Grace", "family_name": "Hopper"},
                "identities": [{"type": "email", "details": {"email": email}}],
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["created"], true);
    a.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn users_lifecycle() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let id = create(&admin, "Grace@Example.com").await;
        assert!(id.starts_with("kp_"));

        let a = admin.get(&format!("/user?id={id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["preferred_email"], "grace@example.com");
        assert_eq!(a.body["first_name"], "Grace");
        assert_eq!(a.body["last_name"], "Hopper");
        assert_eq!(a.body["is_suspended"], false);
        assert!(a.body.get("password_hash").is_none());

        let a = admin
            .patch(
                &format!("/user?id={id}"),
                json!({"given_name": "Amazing Grace", "family_name": null, "is_suspended": true}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body["given_name"], "Amazing Grace");
        assert_eq!(a.body["family_name"], Value::Null);
        assert_eq!(a.body["is_suspended"], true);

        // Duplicate email (any case) is a conflict, and writes nothing.
        let a = admin
            .post(
                "/user",
                json!({"identities": [{"type": "email", "details": {"email": "GRACE@example.com"}}]}),
            )
            .await;
        assert_eq!(a.status, 409, "{:?}", a.body);
        assert_eq!(a.error_code(), "USER_ALREADY_EXISTS");

        // Unknown organization: 400, and the user was not created either.
        let a = admin
            .post(
                "/user",
                json!({"organization_code": "org_nope",
                       "identities": [{"type": "email", "details": {"email": "x@example.com"}}]}),
            )
            .await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        let a = admin.get("/users?email=x@example.com").await;
        assert_eq!(a.body["users"].as_array().unwrap().len(), 0);

        // With an organization: the user is a member.
        let a = admin
            .post(
                "/user",
                json!({"organization_code": "org_acme",
                       "identities": [{"type": "email", "details": {"email": "m@example.com"}}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let member = a.body["id"].as_str().unwrap().to_owned();
        let a = admin.get(&format!("/user?id={member}")).await;
        assert_eq!(a.body["organizations"], json!(["org_acme"]));

        let a = admin.delete(&format!("/user?id={id}")).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.body, json!({"code": "OK", "message": "Success"}));
        let a = admin.get(&format!("/user?id={id}")).await;
        assert_eq!(a.status, 404);
        assert_eq!(a.error_code(), "USER_NOT_FOUND");
        let a = admin.delete(&format!("/user?id={id}")).await;
        assert_eq!(a.status, 404);
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn pages_cover_every_user_once_while_users_are_added() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        for i in 0..23 {
            create(&admin, &format!("u{i}@example.com")).await;
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &token {
                Some(t) => format!("/users?page_size=5&next_token={t}"),
                None => "/users?page_size=5".to_owned(),
            };
            let a = admin.get(&path).await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            assert_eq!(a.body["code"], "OK");
            for u in a.body["users"].as_array().unwrap() {
                assert!(
                    seen.insert(u["id"].as_str().unwrap().to_owned()),
                    "duplicate"
                );
            }
            pages += 1;
            // Concurrent inserts while paging.
            create(&admin, &format!("late{pages}@example.com")).await;
            match a.body["next_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
            assert!(pages < 50);
        }
        // Every user that existed before paging started (23 + ada) was seen exactly once.
        let all = admin.get("/users?page_size=500").await;
        let before: Vec<&str> = all.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| !u["email"].as_str().unwrap().starts_with("late"))
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        assert_eq!(before.len(), 24);
        for id in before {
            assert!(seen.contains(id), "{id} was skipped");
        }

        // Page size limits and foreign or forged tokens.
        for bad in [
            "/users?page_size=0",
            "/users?page_size=501",
            "/users?page_size=100000",
            "/users?page_size=-1",
            "/users?page_size=1e9",
            "/users?next_token=forged",
            "/users?page_size=5&page_size=6",
            "/users?unknown=1",
            "/users?expand=secrets",
        ] {
            let a = admin.get(bad).await;
            assert_eq!(a.status, 400, "{bad}: {:?}", a.body);
            assert!(a.body["errors"].is_array(), "{bad}");
        }
        let a = admin
            .get("/users?email=ada@example.com&expand=organizations,identities")
            .await;
        assert_eq!(a.status, 200);
        let users = a.body["users"].as_array().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["organizations"], json!(["org_acme"]));
        assert_eq!(users[0]["identities"][0]["identity"], "ada@example.com");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let admin = Admin::start(TestDb::sqlite(), builder()).await;
    let cases: Vec<(&str, &str, Value, u16)> = vec![
        ("POST", "/user", json!({"identities": []}), 400),
        (
            "POST",
            "/user",
            json!({"identities": [{"type": "email", "details": {"email": "not-an-email"}}]}),
            400,
        ),
        (
            "POST",
            "/user",
            json!({"identities": [{"type": "phone", "details": {"email": "a@b.co"}}]}),
            400,
        ),
        ("POST", "/user", json!({"identities": "x"}), 400),
        // Mass assignment (docs/security.md case 82): unknown fields are refused.
        (
            "POST",
            "/user",
            json!({"is_admin": true, "identities": [{"type": "email", "details": {"email": "a@b.co"}}]}),
            400,
        ),
        ("PATCH", "/user?id=kp_x", json!({"password_hash": "x"}), 400),
        (
            "PATCH",
            "/user?id=kp_x",
            json!({"email": "other@example.com"}),
            400,
        ),
        ("PATCH", "/user?id=kp_x", json!({"given_name": 5}), 400),
        (
            "PATCH",
            "/user?id=kp_nobody",
            json!({"given_name": "x"}),
            404,
        ),
        (
            "PATCH",
            "/user?id=../../etc/passwd",
            json!({"given_name": "x"}),
            404,
        ),
        ("GET", "/user?id=1'%20OR%20'1'='1", Value::Null, 404),
        ("GET", "/user", Value::Null, 400),
        (
            "POST",
            "/user",
            json!({"profile": {"given_name": "x".repeat(201)}, "identities": [{"type": "email", "details": {"email": "a@b.co"}}]}),
            400,
        ),
        (
            "POST",
            "/user",
            json!({"profile": {"picture": "javascript:alert(1)"}, "identities": [{"type": "email", "details": {"email": "a@b.co"}}]}),
            400,
        ),
        (
            "PUT",
            "/users/kp_nobody/password",
            json!({"password": "long-enough-password"}),
            404,
        ),
        (
            "PATCH",
            "/users/kp_nobody/feature_flags/nope?value=x",
            Value::Null,
            404,
        ),
        ("GET", "/nope", Value::Null, 404),
    ];
    for (method, path, body, status) in cases {
        let body = (!body.is_null()).then_some(body);
        let a = admin.call(method, path, body).await;
        assert_eq!(a.status, status, "{method} {path}: {:?}", a.body);
        assert!(!a.error_code().is_empty(), "{method} {path}: {:?}", a.body);
    }
    // An unknown route uses Kinde's object shape.
    let a = admin.get("/nope").await;
    assert_eq!(a.body["errors"]["code"], "ROUTE_NOT_FOUND");

    // Every answer names its request (x-request-id): a plausible id from the caller is echoed,
    // anything else is replaced by a fresh random one; refusals carry one too.
    let url = format!("{}/api/v1/users", admin.issuer.url());
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let r = admin
        .http
        .get(&url)
        .bearer_auth(&admin.token)
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), id_of(&r).as_str()),
        (200, "trace-42.a_b")
    );
    let mut seen = Vec::new();
    for sent in ["a b <script>", &"x".repeat(65), ""] {
        let r = admin
            .http
            .get(&url)
            .bearer_auth(&admin.token)
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let id = id_of(&r);
        assert_eq!(id.len(), 32, "{sent:?} -> {id:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        seen.push(id);
    }
    let r = admin.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    seen.push(id_of(&r));
    assert_eq!(seen[3].len(), 32);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "fresh ids differ: {seen:?}");

    // Malformed JSON, wrong content type, oversized body.
    let url = format!("{}/api/v1/user", admin.issuer.url());
    let r = admin
        .http
        .post(&url)
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{\"identities\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = admin
        .http
        .post(&url)
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = admin
        .http
        .post(&url)
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body(format!("{{\"provided_id\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    admin.finish().await;
}

#[tokio::test]
async fn duplicate_creates_racing_each_other_make_one_user() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let body =
            json!({"identities": [{"type": "email", "details": {"email": "race@example.com"}}]});
        let calls = (0..8).map(|_| admin.post("/user", body.clone()));
        let answers = futures_util::future::join_all(calls).await;
        let created = answers.iter().filter(|a| a.status == 200).count();
        let conflicts = answers.iter().filter(|a| a.status == 409).count();
        assert_eq!((created, conflicts), (1, 7), "{answers:?}");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn passwords_flags_claims_and_sessions() {
    let admin = Admin::start(
        TestDb::sqlite(),
        builder().feature_flag(portcullis_server::testing::TestFlag::new("theme", "light")),
    )
    .await;
    let ada = admin.get("/users?email=ada@example.com").await.body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A user override shows in the user's next token.
    let a = admin
        .patch(
            &format!("/users/{ada}/feature_flags/theme?value=pink"),
            Value::Null,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = admin
        .post(&format!("/users/{ada}/refresh_claims"), Value::Null)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let tokens = admin
        .issuer
        .user_tokens("web", "ada@example.com", "correct-horse-battery")
        .await
        .unwrap();
    let claims = tokens.access_claims();
    assert_eq!(
        claims["feature_flags"]["theme"],
        json!({"t": "s", "v": "pink"})
    );

    // A sign-in session shows, and can be ended.
    let a = admin.get(&format!("/users/{ada}/sessions")).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["sessions"].as_array().unwrap().len(), 1);
    let a = admin.delete(&format!("/users/{ada}/sessions")).await;
    assert_eq!(a.status, 200);
    let a = admin.get(&format!("/users/{ada}/sessions")).await;
    assert_eq!(a.body["sessions"].as_array().unwrap().len(), 0);

    // Wrong-typed flag value.
    let a = admin
        .patch(
            &format!("/users/{ada}/feature_flags/theme?value="),
            Value::Null,
        )
        .await;
    assert!(a.status == 400 || a.status == 200, "{:?}", a.body);

    // A new password works on the hosted sign-in; a short one is refused; a weak imported hash
    // is refused.
    let a = admin
        .put(
            &format!("/users/{ada}/password"),
            json!({"password": "short"}),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = admin
        .put(
            &format!("/users/{ada}/password"),
            json!({"hashed_password": "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
                   "hashing_method": "argon2id"}),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = admin
        .put(
            &format!("/users/{ada}/password"),
            json!({"password": "a-brand-new-password"}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    admin.finish().await;
}

/// docs/security.md case 80, with Kinde's status: every refused token is 403, and the challenge
/// says why.
#[tokio::test]
async fn only_management_tokens_with_the_scope_get_in() {
    let admin = Admin::start(TestDb::sqlite(), builder()).await;
    let url = format!("{}/api/v1/users", admin.issuer.url());

    let r = admin.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let bad_tokens = [
        // Not a JWT.
        "garbage".to_owned(),
        // A token for another API.
        admin
            .issuer
            .client_credentials_token(
                "report-job",
                "report-secret-report-secret-report-secret",
                "https://api.example.com",
                None,
            )
            .await
            .unwrap(),
        // A user's access token and ID token.
        {
            let t = admin
                .issuer
                .user_tokens("web", "ada@example.com", "correct-horse-battery")
                .await
                .unwrap();
            t.access_token.clone()
        },
    ];
    for token in &bad_tokens {
        let a = admin.call_with(token, "GET", "/users", None).await;
        assert_eq!(a.status, 403, "{:?}", a.body);
        assert!(
            a.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let id_token = admin
        .issuer
        .user_tokens("web", "ada@example.com", "correct-horse-battery")
        .await
        .unwrap()
        .id_token
        .clone()
        .unwrap();
    let a = admin.call_with(&id_token, "GET", "/users", None).await;
    assert_eq!(a.status, 403);

    // A management token without the scope: 403 insufficient_scope, naming it.
    let reader = admin
        .issuer
        .management_token("reader", "reader-secret-reader-secret-reader-secret", None)
        .await
        .unwrap();
    let a = admin.call_with(&reader, "GET", "/users", None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = admin
        .call_with(
            &reader,
            "POST",
            "/user",
            Some(json!({"identities": [{"type": "email", "details": {"email": "r@example.com"}}]})),
        )
        .await;
    assert_eq!(a.status, 403);
    let challenge = a.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("create:users"));

    // A narrowed admin token has only what it asked for.
    let narrow = admin
        .issuer
        .management_token(ADMIN_ID, ADMIN_SECRET, Some("read:users"))
        .await
        .unwrap();
    let a = admin
        .call_with(&narrow, "DELETE", "/user?id=kp_x", None)
        .await;
    assert_eq!(a.status, 403);

    // A revoked management token stops working.
    let form = [("token", admin.token.as_str())];
    let r = admin
        .http
        .post(format!("{}/oauth2/revoke", admin.issuer.url()))
        .basic_auth(ADMIN_ID, Some(ADMIN_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = admin.get("/users").await;
    assert_eq!(a.status, 403);
    admin.finish().await;
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let admin = Admin::start(TestDb::sqlite(), builder()).await;
    let r = admin
        .http
        .get(format!("{}/api/v1/openapi.json", admin.issuer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/users",
        "/api/v1/user",
        "/api/v1/users/{user_id}/password",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    assert_eq!(paths["/api/v1/users"]["get"]["operationId"], "getUsers");
    admin.finish().await;
}

/// Every create answers the status Kinde documents for that operation (its OpenAPI document,
/// as Kinde's SDKs are generated from it: 200 for users, organizations, APIs, API scopes and
/// the organization-member additions; 201 for roles, permissions, feature flags and
/// applications), and this server's OpenAPI document says the same.
#[tokio::test]
async fn creates_answer_kindes_status_per_operation() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        let user = create(&admin, "kim@example.com").await;
        let role = admin
            .post("/roles", json!({"name": "Editor", "key": "editor"}))
            .await;
        let permission = admin
            .post("/permissions", json!({"name": "Edit", "key": "edit:docs"}))
            .await;
        let flag = admin
            .post(
                "/feature_flags",
                json!({"name": "Beta", "key": "beta", "type": "bool", "default_value": "false"}),
            )
            .await;
        let application = admin
            .post("/applications", json!({"name": "Docs", "type": "reg"}))
            .await;
        let organization = admin
            .post("/organization", json!({"name": "Initech"}))
            .await;
        let api = admin
            .post(
                "/apis",
                json!({"name": "Docs API", "audience": "https://docs.example.com"}),
            )
            .await;
        let api_id = api.body["api"]["id"].as_str().unwrap().to_owned();
        let scope = admin
            .post(
                &format!("/apis/{api_id}/scopes"),
                json!({"key": "read:docs", "description": "Read the docs"}),
            )
            .await;
        let members = admin
            .post(
                "/organizations/org_acme/users",
                json!({"users": [{"id": user}]}),
            )
            .await;
        let role_id = role.body["role"]["id"].as_str().unwrap().to_owned();
        let permission_id = permission.body["permission"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let member_role = admin
            .post(
                &format!("/organizations/org_acme/users/{user}/roles"),
                json!({"role_id": role_id}),
            )
            .await;
        let member_permission = admin
            .post(
                &format!("/organizations/org_acme/users/{user}/permissions"),
                json!({"permission_id": permission_id}),
            )
            .await;
        let app_id = application.body["application"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let urls = admin
            .post(
                &format!("/applications/{app_id}/auth_redirect_urls"),
                json!({"urls": ["https://docs.example.com/callback"]}),
            )
            .await;

        let doc: Value = admin
            .http
            .get(format!("{}/api/v1/openapi.json", admin.issuer.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (answer, path, operation, status) in [
            (&role, "/api/v1/roles", "createRole", 201),
            (&permission, "/api/v1/permissions", "createPermission", 201),
            (&flag, "/api/v1/feature_flags", "createFeatureFlag", 201),
            (
                &application,
                "/api/v1/applications",
                "createApplication",
                201,
            ),
            (
                &organization,
                "/api/v1/organization",
                "createOrganization",
                200,
            ),
            (&api, "/api/v1/apis", "addApis", 200),
            (&scope, "/api/v1/apis/{api_id}/scopes", "addApiScope", 200),
            (
                &members,
                "/api/v1/organizations/{org_code}/users",
                "addOrganizationUsers",
                200,
            ),
            (
                &member_role,
                "/api/v1/organizations/{org_code}/users/{user_id}/roles",
                "createOrganizationUserRole",
                200,
            ),
            (
                &member_permission,
                "/api/v1/organizations/{org_code}/users/{user_id}/permissions",
                "createOrganizationUserPermission",
                200,
            ),
            (
                &urls,
                "/api/v1/applications/{application_id}/auth_redirect_urls",
                "addRedirectCallbackUrls",
                200,
            ),
        ] {
            assert_eq!(answer.status, status, "{operation}: {answer:?}");
            let op = &doc["paths"][path]["post"];
            assert_eq!(op["operationId"], operation, "{path}");
            let successes: Vec<&String> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|s| s.starts_with('2'))
                .collect();
            assert_eq!(successes, [&status.to_string()], "{operation}");
        }
        // createUser: 200 (checked by `create`), and so documented.
        let op = &doc["paths"]["/api/v1/user"]["post"];
        assert_eq!(op["operationId"], "createUser");
        assert!(op["responses"]["200"].is_object());
        assert!(op["responses"]["201"].is_null());
        admin.finish().await;
    })
    .await;
}

/// `GET /users?sort=`: Kinde's four orders, each paged through with small pages while the
/// tokens carry the order; nothing is lost or repeated, and a token of one order is refused
/// by another.
#[tokio::test]
async fn users_sort_in_every_kinde_order_across_pages() {
    on_both(|db| async move {
        let admin = Admin::start(db, builder()).await;
        // Names that order alike in every collation (lower-case ASCII letters), with ties
        // broken by id, and a user without names.
        for (given, family, email) in [
            (Some("bea"), Some("cole"), "zed@example.com"),
            (Some("bea"), Some("cole"), "yan@example.com"),
            (Some("abe"), Some("dunn"), "xia@example.com"),
            (Some("cal"), None, "wes@example.com"),
            (None, Some("eve"), "vic@example.com"),
            (Some("abe"), Some("amos"), "uma@example.com"),
            (None, None, "tom@example.com"),
        ] {
            let mut profile = serde_json::Map::new();
            if let Some(g) = given {
                profile.insert("given_name".into(), json!(g));
            }
            if let Some(f) = family {
                profile.insert("family_name".into(), json!(f));
            }
            let a = admin
                .post(
                    "/user",
                    json!({"profile": profile,
                           "identities": [{"type": "email", "details": {"email": email}}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{a:?}");
        }
        let all = admin.get("/users?page_size=500").await;
        let everyone: Vec<Value> = all.body["users"].as_array().unwrap().clone();
        assert_eq!(everyone.len(), 8, "{everyone:?}");
        let name = |u: &Value| {
            format!(
                "{} {}",
                u["first_name"].as_str().unwrap_or(""),
                u["last_name"].as_str().unwrap_or("")
            )
        };
        let id = |u: &Value| u["id"].as_str().unwrap().to_owned();
        let email = |u: &Value| u["email"].as_str().unwrap().to_owned();
        let mut first_token: Option<(String, String)> = None;
        for sort in ["name_asc", "name_desc", "email_asc", "email_desc"] {
            let mut expected = everyone.clone();
            expected.sort_by_key(|u| {
                if sort.starts_with("name") {
                    (name(u), id(u))
                } else {
                    (email(u), id(u))
                }
            });
            if sort.ends_with("desc") {
                expected.reverse();
            }
            let expected: Vec<String> = expected.iter().map(id).collect();
            for page_size in [1, 2, 3] {
                let mut seen = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut path = format!("/users?sort={sort}&page_size={page_size}");
                    if let Some(t) = &token {
                        path.push_str(&format!("&next_token={t}"));
                    }
                    let page = admin.get(&path).await;
                    assert_eq!(page.status, 200, "{path}: {page:?}");
                    let users = page.body["users"].as_array().unwrap();
                    assert!(users.len() <= page_size, "{path}");
                    seen.extend(users.iter().map(id));
                    match page.body["next_token"].as_str() {
                        Some(t) => token = Some(t.to_owned()),
                        None => break,
                    }
                    if first_token.is_none() {
                        first_token = Some((sort.to_owned(), token.clone().unwrap()));
                    }
                    assert!(seen.len() <= expected.len(), "{sort}: runaway paging");
                }
                assert_eq!(seen, expected, "{sort} by {page_size}");
            }
        }
        // A token names its order: another order (or none) refuses it.
        let (sort, token) = first_token.unwrap();
        assert_eq!(sort, "name_asc");
        for other in ["sort=email_asc&", "sort=name_desc&", ""] {
            let a = admin
                .get(&format!("/users?{other}next_token={token}"))
                .await;
            assert_eq!(a.status, 400, "{other}: {a:?}");
            assert_eq!(a.error_code(), "INVALID_NEXT_TOKEN");
        }
        // An id-order token is refused under a sort, too.
        let plain = admin.get("/users?page_size=1").await;
        let plain = plain.body["next_token"].as_str().unwrap();
        let a = admin
            .get(&format!("/users?sort=email_asc&next_token={plain}"))
            .await;
        assert_eq!(a.error_code(), "INVALID_NEXT_TOKEN", "{a:?}");
        // A sorted list still filters.
        let a = admin
            .get("/users?sort=name_desc&email=zed@example.com")
            .await;
        assert_eq!(a.body["users"].as_array().unwrap().len(), 1, "{a:?}");
        for bad in ["id_asc", "name", "NAME_ASC", "email_asc,name_asc"] {
            let a = admin.get(&format!("/users?sort={bad}")).await;
            assert_eq!((a.status, a.error_code()), (400, "INVALID_SORT"), "{bad}");
        }
        admin.finish().await;
    })
    .await;
}
