//! Every management operation answers a success with the status Kinde's API specification gives
//! it, both on the wire and in our OpenAPI document. Kinde's generated clients (e.g.
//! `kinde-python-sdk`) deserialize a body only for the statuses their specification lists: an
//! operation answering 200 where Kinde says 201 returns nothing to their callers.
//!
//! `KINDE` is taken from the `_response_types_map` of every operation in
//! `kinde_sdk/management/api/*.py` of kinde-oss/kinde-python-sdk (commit d58d9f4, 2026-08-20),
//! limited to the operations this server implements. One scenario calls each of them once,
//! with valid input, in an order that creates what the next ones need.

mod admin;
mod common;

use std::collections::BTreeMap;

use admin::Admin;
use common::TestDb;
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

/// `(method, path as Kinde's specification writes it, success status)`.
const KINDE: &[(&str, &str, u16)] = &[
    ("GET", "/apis", 200),
    ("POST", "/apis", 200),
    ("GET", "/apis/{api_id}", 200),
    ("DELETE", "/apis/{api_id}", 200),
    ("PATCH", "/apis/{api_id}/applications", 200),
    ("GET", "/apis/{api_id}/scopes", 200),
    ("POST", "/apis/{api_id}/scopes", 200),
    ("GET", "/applications", 200),
    ("POST", "/applications", 201),
    ("GET", "/applications/{application_id}", 200),
    ("PATCH", "/applications/{application_id}", 200),
    ("DELETE", "/applications/{application_id}", 200),
    ("GET", "/applications/{app_id}/auth_redirect_urls", 200),
    ("POST", "/applications/{app_id}/auth_redirect_urls", 200),
    ("PUT", "/applications/{app_id}/auth_redirect_urls", 200),
    ("DELETE", "/applications/{app_id}/auth_redirect_urls", 200),
    ("GET", "/applications/{app_id}/auth_logout_urls", 200),
    ("POST", "/applications/{app_id}/auth_logout_urls", 200),
    ("PUT", "/applications/{app_id}/auth_logout_urls", 200),
    ("DELETE", "/applications/{app_id}/auth_logout_urls", 200),
    ("GET", "/environment/feature_flags", 200),
    ("DELETE", "/environment/feature_flags", 200),
    (
        "PATCH",
        "/environment/feature_flags/{feature_flag_key}",
        200,
    ),
    (
        "DELETE",
        "/environment/feature_flags/{feature_flag_key}",
        200,
    ),
    ("POST", "/feature_flags", 201),
    ("PUT", "/feature_flags/{feature_flag_key}", 200),
    ("DELETE", "/feature_flags/{feature_flag_key}", 200),
    ("GET", "/organization", 200),
    ("POST", "/organization", 200),
    ("PATCH", "/organization/{org_code}", 200),
    ("DELETE", "/organization/{org_code}", 200),
    ("GET", "/organizations", 200),
    ("GET", "/organizations/{org_code}/feature_flags", 200),
    ("DELETE", "/organizations/{org_code}/feature_flags", 200),
    (
        "PATCH",
        "/organizations/{org_code}/feature_flags/{feature_flag_key}",
        200,
    ),
    (
        "DELETE",
        "/organizations/{org_code}/feature_flags/{feature_flag_key}",
        200,
    ),
    (
        "GET",
        "/organizations/{org_code}/roles/{role_id}/users",
        200,
    ),
    ("GET", "/organizations/{org_code}/users", 200),
    ("POST", "/organizations/{org_code}/users", 200),
    ("PATCH", "/organizations/{org_code}/users", 200),
    ("DELETE", "/organizations/{org_code}/users/{user_id}", 200),
    (
        "GET",
        "/organizations/{org_code}/users/{user_id}/permissions",
        200,
    ),
    (
        "POST",
        "/organizations/{org_code}/users/{user_id}/permissions",
        200,
    ),
    (
        "DELETE",
        "/organizations/{org_code}/users/{user_id}/permissions/{permission_id}",
        200,
    ),
    (
        "GET",
        "/organizations/{org_code}/users/{user_id}/roles",
        200,
    ),
    (
        "POST",
        "/organizations/{org_code}/users/{user_id}/roles",
        200,
    ),
    (
        "DELETE",
        "/organizations/{org_code}/users/{user_id}/roles/{role_id}",
        200,
    ),
    ("GET", "/permissions", 200),
    ("POST", "/permissions", 201),
    ("PATCH", "/permissions/{permission_id}", 200),
    ("DELETE", "/permissions/{permission_id}", 200),
    ("GET", "/roles", 200),
    ("POST", "/roles", 201),
    ("GET", "/roles/{role_id}", 200),
    ("PATCH", "/roles/{role_id}", 201),
    ("DELETE", "/roles/{role_id}", 200),
    ("GET", "/roles/{role_id}/permissions", 200),
    ("PATCH", "/roles/{role_id}/permissions", 200),
    (
        "DELETE",
        "/roles/{role_id}/permissions/{permission_id}",
        200,
    ),
    ("GET", "/roles/{role_id}/users", 200),
    ("GET", "/user", 200),
    ("POST", "/user", 200),
    ("PATCH", "/user", 200),
    ("DELETE", "/user", 200),
    ("GET", "/users", 200),
    (
        "PATCH",
        "/users/{user_id}/feature_flags/{feature_flag_key}",
        200,
    ),
    ("PUT", "/users/{user_id}/password", 200),
    ("POST", "/users/{user_id}/refresh_claims", 200),
    ("GET", "/users/{user_id}/sessions", 200),
    ("DELETE", "/users/{user_id}/sessions", 200),
];

/// Operations of ours that Kinde's specification does not have (or names differently).
const OURS_ONLY: &[(&str, &str, u16)] = &[("GET", "/feature_flags", 200)];

/// `/roles/{role_id}` → `/roles/{}`: path parameters compared by position, not name.
fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn expected() -> BTreeMap<(String, String), u16> {
    KINDE
        .iter()
        .chain(OURS_ONLY)
        .map(|(method, path, status)| ((method.to_string(), shape(path)), *status))
        .collect()
}

/// The 2xx statuses the OpenAPI document gives each operation.
fn documented(doc: &Value) -> BTreeMap<(String, String), Vec<u16>> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let path = path.strip_prefix("/api/v1").expect("under /api/v1");
        for (method, operation) in item.as_object().expect("path item") {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let statuses = responses
                .keys()
                .filter_map(|s| s.parse::<u16>().ok())
                .filter(|s| (200..300).contains(s))
                .collect();
            out.insert((method.to_uppercase(), shape(path)), statuses);
        }
    }
    out
}

/// Runs the scenario: each operation once, with what earlier ones created.
struct Scenario<'a> {
    admin: &'a Admin,
    expected: BTreeMap<(String, String), u16>,
    called: BTreeMap<(String, String), u16>,
}

impl Scenario<'_> {
    /// Calls `method path` (a concrete path, `?query` allowed) as the operation `template`,
    /// asserts its status is Kinde's, and returns the body.
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let key = (method.to_owned(), shape(template));
        let want = *self
            .expected
            .get(&key)
            .unwrap_or_else(|| panic!("{method} {template} is in no table"));
        let answer = self.admin.call(method, path, body).await;
        assert_eq!(
            answer.status, want,
            "{method} {path} ({template}) answered {}, Kinde's specification says {want}: {}",
            answer.status, answer.body
        );
        self.called.insert(key, answer.status);
        answer.body
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

#[tokio::test]
async fn every_operation_answers_kindes_success_status() {
    let admin = Admin::start(TestDb::sqlite(), TestIssuer::builder()).await;

    // The document states Kinde's status for every operation, and nothing else.
    let doc = admin.get("/openapi.json").await.body;
    let documented = documented(&doc);
    let expected = expected();
    for (key, statuses) in &documented {
        let want = expected
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} is documented but in no table of this test"));
        assert_eq!(statuses, &vec![*want], "{key:?}: documented 2xx");
    }
    for key in expected.keys() {
        assert!(documented.contains_key(key), "{key:?} is not documented");
    }

    let mut s = Scenario {
        admin: &admin,
        expected,
        called: BTreeMap::new(),
    };
    let no = None;

    // APIs and applications.
    let api = s
        .call(
            "POST",
            "/apis",
            "/apis",
            Some(json!({"name": "Orders", "audience": "https://orders.example.com"})),
        )
        .await;
    let api = text(&api["api"]["id"]);
    s.call("GET", "/apis", "/apis", no.clone()).await;
    s.call("GET", "/apis/{api_id}", &format!("/apis/{api}"), no.clone())
        .await;
    s.call(
        "POST",
        "/apis/{api_id}/scopes",
        &format!("/apis/{api}/scopes"),
        Some(json!({"key": "read:orders"})),
    )
    .await;
    s.call(
        "GET",
        "/apis/{api_id}/scopes",
        &format!("/apis/{api}/scopes"),
        no.clone(),
    )
    .await;
    let job = s
        .call(
            "POST",
            "/applications",
            "/applications",
            Some(json!({"name": "Job", "type": "m2m"})),
        )
        .await;
    let job = text(&job["application"]["id"]);
    let web = s
        .call(
            "POST",
            "/applications",
            "/applications",
            Some(json!({"name": "Web", "type": "reg"})),
        )
        .await;
    let web = text(&web["application"]["id"]);
    s.call("GET", "/applications", "/applications", no.clone())
        .await;
    s.call(
        "GET",
        "/applications/{application_id}",
        &format!("/applications/{web}"),
        no.clone(),
    )
    .await;
    s.call(
        "PATCH",
        "/applications/{application_id}",
        &format!("/applications/{web}"),
        Some(json!({"name": "Web shop"})),
    )
    .await;
    s.call(
        "PATCH",
        "/apis/{api_id}/applications",
        &format!("/apis/{api}/applications"),
        Some(json!({"applications": [{"id": job}]})),
    )
    .await;
    for kind in ["auth_redirect_urls", "auth_logout_urls"] {
        let template = format!("/applications/{{app_id}}/{kind}");
        let path = format!("/applications/{web}/{kind}");
        s.call(
            "POST",
            &template,
            &path,
            Some(json!({"urls": ["https://shop.example.com/a"]})),
        )
        .await;
        s.call(
            "PUT",
            &template,
            &path,
            Some(json!({"urls": ["https://shop.example.com/a", "https://shop.example.com/b"]})),
        )
        .await;
        s.call("GET", &template, &path, no.clone()).await;
        s.call(
            "DELETE",
            &template,
            &format!("{path}?urls=https://shop.example.com/b"),
            no.clone(),
        )
        .await;
    }

    // Permissions and roles.
    let permission = s
        .call(
            "POST",
            "/permissions",
            "/permissions",
            Some(json!({"name": "Read orders", "key": "read:orders"})),
        )
        .await;
    let permission = text(&permission["permission"]["id"]);
    s.call("GET", "/permissions", "/permissions", no.clone())
        .await;
    s.call(
        "PATCH",
        "/permissions/{permission_id}",
        &format!("/permissions/{permission}"),
        Some(json!({"name": "Read all orders"})),
    )
    .await;
    let role = s
        .call(
            "POST",
            "/roles",
            "/roles",
            Some(json!({"name": "Clerk", "key": "clerk"})),
        )
        .await;
    let role = text(&role["role"]["id"]);
    s.call("GET", "/roles", "/roles", no.clone()).await;
    s.call(
        "GET",
        "/roles/{role_id}",
        &format!("/roles/{role}"),
        no.clone(),
    )
    .await;
    let updated = s
        .call(
            "PATCH",
            "/roles/{role_id}",
            &format!("/roles/{role}"),
            Some(json!({"name": "Senior clerk"})),
        )
        .await;
    assert_eq!(updated["code"], "OK", "Kinde's SuccessResponse: {updated}");
    assert!(updated["message"].is_string(), "{updated}");
    s.call(
        "PATCH",
        "/roles/{role_id}/permissions",
        &format!("/roles/{role}/permissions"),
        Some(json!({"permissions": [{"id": permission}]})),
    )
    .await;
    s.call(
        "GET",
        "/roles/{role_id}/permissions",
        &format!("/roles/{role}/permissions"),
        no.clone(),
    )
    .await;

    // Feature flags, organizations and users.
    s.call(
        "POST",
        "/feature_flags",
        "/feature_flags",
        Some(json!({"name": "Theme", "key": "theme", "type": "str",
                    "allow_override_level": "usr", "default_value": "blue"})),
    )
    .await;
    s.call("GET", "/feature_flags", "/feature_flags", no.clone())
        .await;
    s.call(
        "PUT",
        "/feature_flags/{feature_flag_key}",
        "/feature_flags/theme?name=Theme&type=str&allow_override_level=usr&default_value=red",
        no.clone(),
    )
    .await;
    let org = s
        .call(
            "POST",
            "/organization",
            "/organization",
            Some(json!({"name": "Acme"})),
        )
        .await;
    let org = text(&org["organization"]["code"]);
    s.call(
        "GET",
        "/organization",
        &format!("/organization?code={org}"),
        no.clone(),
    )
    .await;
    s.call("GET", "/organizations", "/organizations", no.clone())
        .await;
    s.call(
        "PATCH",
        "/organization/{org_code}",
        &format!("/organization/{org}"),
        Some(json!({"name": "Acme Corp"})),
    )
    .await;
    let user = s
        .call(
            "POST",
            "/user",
            "/user",
            Some(json!({
                "profile": {"given_name": "Ada", "family_name": "Lovelace"},
                "identities": [{"type": "email", "details": {"email": "ada@example.com"}}],
            })),
        )
        .await;
    let user = text(&user["id"]);
    s.call("GET", "/user", &format!("/user?id={user}"), no.clone())
        .await;
    s.call("GET", "/users", "/users", no.clone()).await;
    s.call(
        "PATCH",
        "/user",
        &format!("/user?id={user}"),
        Some(json!({"given_name": "Augusta"})),
    )
    .await;

    // Membership.
    let members = "/organizations/{org_code}/users";
    s.call(
        "POST",
        members,
        &format!("/organizations/{org}/users"),
        Some(json!({"users": [{"id": user}]})),
    )
    .await;
    s.call(
        "PATCH",
        members,
        &format!("/organizations/{org}/users"),
        Some(json!({"users": [{"id": user, "roles": ["clerk"]}]})),
    )
    .await;
    s.call(
        "GET",
        members,
        &format!("/organizations/{org}/users"),
        no.clone(),
    )
    .await;
    let member = format!("/organizations/{org}/users/{user}");
    s.call(
        "POST",
        "/organizations/{org_code}/users/{user_id}/permissions",
        &format!("{member}/permissions"),
        Some(json!({"permission_id": permission})),
    )
    .await;
    s.call(
        "GET",
        "/organizations/{org_code}/users/{user_id}/permissions",
        &format!("{member}/permissions"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/organizations/{org_code}/users/{user_id}/permissions/{permission_id}",
        &format!("{member}/permissions/{permission}"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/organizations/{org_code}/users/{user_id}/roles/{role_id}",
        &format!("{member}/roles/{role}"),
        no.clone(),
    )
    .await;
    s.call(
        "POST",
        "/organizations/{org_code}/users/{user_id}/roles",
        &format!("{member}/roles"),
        Some(json!({"role_id": role})),
    )
    .await;
    s.call(
        "GET",
        "/organizations/{org_code}/users/{user_id}/roles",
        &format!("{member}/roles"),
        no.clone(),
    )
    .await;
    s.call(
        "GET",
        "/organizations/{org_code}/roles/{role_id}/users",
        &format!("/organizations/{org}/roles/{role}/users"),
        no.clone(),
    )
    .await;
    s.call(
        "GET",
        "/roles/{role_id}/users",
        &format!("/roles/{role}/users"),
        no.clone(),
    )
    .await;

    // Flag overrides at every level.
    let org_flags = format!("/organizations/{org}/feature_flags");
    s.call(
        "PATCH",
        "/organizations/{org_code}/feature_flags/{feature_flag_key}",
        &format!("{org_flags}/theme?value=green"),
        no.clone(),
    )
    .await;
    s.call(
        "GET",
        "/organizations/{org_code}/feature_flags",
        &org_flags,
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/organizations/{org_code}/feature_flags/{feature_flag_key}",
        &format!("{org_flags}/theme"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/organizations/{org_code}/feature_flags",
        &org_flags,
        no.clone(),
    )
    .await;
    s.call(
        "PATCH",
        "/environment/feature_flags/{feature_flag_key}",
        "/environment/feature_flags/theme",
        Some(json!({"value": "pink"})),
    )
    .await;
    s.call(
        "GET",
        "/environment/feature_flags",
        "/environment/feature_flags",
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/environment/feature_flags/{feature_flag_key}",
        "/environment/feature_flags/theme",
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/environment/feature_flags",
        "/environment/feature_flags",
        no.clone(),
    )
    .await;
    s.call(
        "PATCH",
        "/users/{user_id}/feature_flags/{feature_flag_key}",
        &format!("/users/{user}/feature_flags/theme?value=teal"),
        no.clone(),
    )
    .await;

    // The user's password, claims and sessions.
    s.call(
        "PUT",
        "/users/{user_id}/password",
        &format!("/users/{user}/password"),
        Some(json!({"password": "long-enough-password"})),
    )
    .await;
    s.call(
        "POST",
        "/users/{user_id}/refresh_claims",
        &format!("/users/{user}/refresh_claims"),
        no.clone(),
    )
    .await;
    s.call(
        "GET",
        "/users/{user_id}/sessions",
        &format!("/users/{user}/sessions"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/users/{user_id}/sessions",
        &format!("/users/{user}/sessions"),
        no.clone(),
    )
    .await;

    // Everything removed again.
    s.call(
        "DELETE",
        "/organizations/{org_code}/users/{user_id}",
        &member,
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/roles/{role_id}/permissions/{permission_id}",
        &format!("/roles/{role}/permissions/{permission}"),
        no.clone(),
    )
    .await;
    s.call("DELETE", "/user", &format!("/user?id={user}"), no.clone())
        .await;
    s.call(
        "DELETE",
        "/organization/{org_code}",
        &format!("/organization/{org}"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/feature_flags/{feature_flag_key}",
        "/feature_flags/theme",
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/roles/{role_id}",
        &format!("/roles/{role}"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/permissions/{permission_id}",
        &format!("/permissions/{permission}"),
        no.clone(),
    )
    .await;
    s.call(
        "DELETE",
        "/applications/{application_id}",
        &format!("/applications/{web}"),
        no.clone(),
    )
    .await;
    s.call("DELETE", "/apis/{api_id}", &format!("/apis/{api}"), no)
        .await;

    let missed: Vec<_> = s
        .expected
        .keys()
        .filter(|k| !s.called.contains_key(*k))
        .collect();
    assert!(
        missed.is_empty(),
        "operations the scenario did not call: {missed:?}"
    );
    admin.finish().await;
}
