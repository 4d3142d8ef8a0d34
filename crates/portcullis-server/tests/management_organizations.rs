//! The management API's Organizations group (`/organizations`, `/organization`,
//! `/organizations/{org_code}/…`) on a real server, on SQLite and PostgreSQL: every operation,
//! its 400/404/409 answers, pagination over several pages, all-or-nothing bulk changes, and
//! that what is set through the API shows up in the user's next token.

mod admin;
mod common;

use std::collections::BTreeSet;

use admin::{ADMIN_ID, ADMIN_SECRET, Admin, Answer, on_both};
use common::TestDb;
use common::demo::jwt_parts;
use portcullis_server::testing::{TestFlag, TestIssuer, TestIssuerBuilder, TestUser, TokenRequest};
use serde_json::{Value, json};

const WEB: &str = "web-app";
const WEB_SECRET: &str = "web-secret-web-secret-web-secret-0123456789";
const CALLBACK: &str = "http://localhost:3000/callback";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";
const BOB: &str = "bob@example.com";
const BOB_PASSWORD: &str = "can-we-fix-it-yes-we-can";

/// A tenant: two organizations, roles and permissions, a few users and flags.
fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .web_app(WEB, WEB_SECRET, &[CALLBACK])
        .permission("read:todos")
        .permission("create:todos")
        .permission("delete:todos")
        .role(
            "admin",
            "Admin",
            &["read:todos", "create:todos", "delete:todos"],
        )
        .role("member", "Member", &["read:todos"])
        .organization("org_acme", "Acme")
        .organization("org_globex", "Globex")
        .user(
            TestUser::new(ADA)
                .password(ADA_PASSWORD)
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["admin"]),
        )
        .user(
            TestUser::new(BOB)
                .password(BOB_PASSWORD)
                .member_of("org_acme", &["member"]),
        )
        .user(TestUser::new("carol@example.com"))
        .user(TestUser::new("dan@example.com"))
        .feature_flag(TestFlag::new("theme", "blue").org("org_acme", "green"))
        .feature_flag(TestFlag::new("analytics", false).environment(true))
        .feature_flag(TestFlag::new("limit", 5))
}

async fn start(db: TestDb) -> Admin {
    Admin::start(db, tenant()).await
}

#[track_caller]
fn expect(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    if status == 200 {
        assert_eq!(answer.body["code"], "OK", "{answer:?}");
    } else {
        assert_eq!(answer.error_code(), code, "{answer:?}");
    }
}

async fn user_id(admin: &Admin, email: &str) -> String {
    let answer = admin.get(&format!("/users?email={email}")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["users"][0]["id"].as_str().unwrap().to_owned()
}

/// The member ids of an organization, every page of `page_size`.
async fn member_ids(admin: &Admin, org: &str, page_size: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/organizations/{org}/users?page_size={page_size}");
        if let Some(t) = &token {
            path.push_str(&format!("&next_token={t}"));
        }
        let answer = admin.get(&path).await;
        expect(&answer, 200, "");
        let page = answer.body["organization_users"].as_array().unwrap();
        assert!(page.len() <= page_size as usize);
        ids.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match answer.body["next_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    ids
}

/// The role keys of a member, through the API.
async fn role_keys(admin: &Admin, org: &str, user: &str) -> Vec<String> {
    let answer = admin
        .get(&format!("/organizations/{org}/users/{user}/roles"))
        .await;
    expect(&answer, 200, "");
    answer.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect()
}

/// A user's access-token claims after signing into `org`.
async fn claims_in(admin: &Admin, email: &str, password: &str, org: &str) -> Value {
    let tokens = admin
        .issuer
        .user_tokens_with(WEB, email, password, &TokenRequest::new().org_code(org))
        .await
        .unwrap();
    jwt_parts(&tokens.access_token).1
}

fn keys(claims: &Value, field: &str) -> Vec<String> {
    claims[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other["key"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn organizations_crud_and_pagination() {
    on_both(|db| async move {
        let admin = start(db).await;

        // Create, with an external id and a flag override.
        let created = admin
            .post(
                "/organization",
                json!({"name": " Initech ", "external_id": "ext-1", "feature_flags": {"theme": "red"}}),
            )
            .await;
        expect(&created, 200, "");
        assert_eq!(created.body["message"], "Success");
        let code = created.body["organization"]["code"].as_str().unwrap().to_owned();
        assert!(code.starts_with("org_") && code.len() == 28, "{code}");
        assert!(code[4..].bytes().all(|b| b.is_ascii_hexdigit()));

        let org = admin.get(&format!("/organization?code={code}")).await;
        assert_eq!(org.status, 200, "{org:?}");
        assert_eq!(org.body["code"], code.as_str());
        assert_eq!(org.body["name"], "Initech");
        assert_eq!(org.body["external_id"], "ext-1");
        assert_eq!(org.body["is_default"], false);
        assert!(org.body["created_on"].as_str().unwrap().ends_with("+00:00"));
        let flags = admin.get(&format!("/organizations/{code}/feature_flags")).await;
        assert_eq!(flags.body["feature_flags"]["theme"], json!({"type": "str", "value": "red"}));

        // Bad bodies write nothing.
        let before = admin.get("/organizations?page_size=500").await;
        let count = before.body["organizations"].as_array().unwrap().len();
        for (body, code) in [
            (json!({"name": ""}), "INVALID_FIELD"),
            (json!({"name": "  "}), "INVALID_FIELD"),
            (json!({"name": "x".repeat(201)}), "INVALID_FIELD"),
            (json!({"name": "A\u{7}B"}), "INVALID_FIELD"),
            (json!({}), "INVALID_BODY"),
            (json!({"name": "A", "code": "org_mine"}), "INVALID_BODY"),
            (json!({"name": "A", "feature_flags": {"nope": "1"}}), "FEATURE_FLAG_INVALID"),
            (json!({"name": "A", "feature_flags": {"limit": "many"}}), "INVALID_VALUE"),
            (json!({"name": "A", "feature_flags": {"analytics": "yes"}}), "INVALID_VALUE"),
            (json!({"name": "A", "feature_flags": {"../x": "1"}}), "FEATURE_FLAG_INVALID"),
        ] {
            let answer = admin.post("/organization", body.clone()).await;
            expect(&answer, 400, code);
        }
        let many: serde_json::Map<String, Value> =
            (0..101).map(|i| (format!("f{i}"), json!("1"))).collect();
        let answer = admin
            .post("/organization", json!({"name": "A", "feature_flags": many}))
            .await;
        expect(&answer, 400, "TOO_MANY_ITEMS");
        let after = admin.get("/organizations?page_size=500").await;
        assert_eq!(after.body["organizations"].as_array().unwrap().len(), count);

        // Unknown codes: 404, with or without a query.
        for path in [
            "/organization?code=org_nope".to_owned(),
            "/organization?code=a%20b".to_owned(),
        ] {
            expect(&admin.get(&path).await, 404, "ORGANIZATION_NOT_FOUND");
        }
        expect(&admin.get("/organization").await, 400, "INVALID_QUERY");
        expect(
            &admin.get("/organization?code=org_acme&expand=nonsense").await,
            400,
            "INVALID_EXPAND",
        );

        // Update: rename, clear the external id; unknown fields and codes refused.
        let answer = admin
            .patch(&format!("/organization/{code}"), json!({"name": "Initrode"}))
            .await;
        expect(&answer, 200, "");
        let answer = admin
            .patch(&format!("/organization/{code}"), json!({"external_id": null}))
            .await;
        expect(&answer, 200, "");
        let org = admin.get(&format!("/organization?code={code}")).await;
        assert_eq!(org.body["name"], "Initrode");
        assert_eq!(org.body["external_id"], Value::Null);
        expect(
            &admin
                .patch(&format!("/organization/{code}"), json!({"is_default": true}))
                .await,
            400,
            "INVALID_BODY",
        );
        expect(
            &admin.patch(&format!("/organization/{code}"), json!({"name": ""})).await,
            400,
            "INVALID_FIELD",
        );
        expect(
            &admin.patch("/organization/org_nope", json!({"name": "X"})).await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );

        // Pagination over several pages: every organization once, in code order.
        for i in 0..5 {
            let answer = admin
                .post("/organization", json!({"name": format!("Org {i}")}))
                .await;
            expect(&answer, 200, "");
        }
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &token {
                Some(t) => format!("/organizations?page_size=3&next_token={t}"),
                None => "/organizations?page_size=3".to_owned(),
            };
            let answer = admin.get(&path).await;
            expect(&answer, 200, "");
            pages += 1;
            let page = answer.body["organizations"].as_array().unwrap();
            assert!(page.len() <= 3);
            seen.extend(page.iter().map(|o| o["code"].as_str().unwrap().to_owned()));
            match answer.body["next_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 8, "{seen:?}");
        assert_eq!(pages, 3);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen);
        expect(&admin.get("/organizations?sort=email_asc").await, 400, "INVALID_SORT");
        expect(&admin.get("/organizations?page_size=0").await, 400, "INVALID_PAGE_SIZE");
        expect(&admin.get("/organizations?next_token=forged").await, 400, "INVALID_NEXT_TOKEN");
        expect(&admin.get("/organizations?colour=red").await, 400, "INVALID_QUERY");

        // Delete: gone, its flag overrides with it; a second delete is a 404.
        expect(&admin.delete(&format!("/organization/{code}")).await, 200, "");
        expect(
            &admin.get(&format!("/organization?code={code}")).await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );
        expect(
            &admin.delete(&format!("/organization/{code}")).await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );
        expect(
            &admin.get(&format!("/organizations/{code}/feature_flags")).await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );

        // Scopes: a token without read:organizations is refused.
        let narrow = admin
            .issuer
            .management_token(ADMIN_ID, ADMIN_SECRET, Some("read:users"))
            .await
            .unwrap();
        let answer = admin.call_with(&narrow, "GET", "/organizations", None).await;
        assert_eq!(answer.status, 403);
        assert_eq!(answer.error_code(), "FORBIDDEN");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn bulk_members_all_or_nothing() {
    on_both(|db| async move {
        let admin = start(db).await;
        let ada = user_id(&admin, ADA).await;
        let bob = user_id(&admin, BOB).await;
        let carol = user_id(&admin, "carol@example.com").await;
        let dan = user_id(&admin, "dan@example.com").await;
        let path = "/organizations/org_globex/users";

        // Unknown user, role or permission: 400 and nothing written.
        for (users, code) in [
            (json!([{"id": carol}, {"id": "kp_nobody"}]), "USER_INVALID"),
            (json!([{"id": carol}, {"id": "a b"}]), "USER_INVALID"),
            (
                json!([{"id": carol, "roles": ["member", "wizard"]}]),
                "ROLE_INVALID",
            ),
            (
                json!([{"id": carol, "permissions": ["read:todos", "fly"]}]),
                "PERMISSION_INVALID",
            ),
            (json!([{"id": carol}, {"id": carol}]), "DUPLICATE_USER"),
            (
                json!([{"id": carol, "operation": "delete"}]),
                "INVALID_OPERATION",
            ),
            (json!([{"id": carol, "colour": "red"}]), "INVALID_BODY"),
        ] {
            let answer = admin.post(path, json!({"users": users})).await;
            expect(&answer, 400, code);
        }
        let too_many: Vec<Value> = (0..101).map(|i| json!({"id": format!("kp_{i}")})).collect();
        expect(
            &admin.post(path, json!({"users": too_many})).await,
            400,
            "TOO_MANY_ITEMS",
        );
        assert!(member_ids(&admin, "org_globex", 10).await.is_empty());
        expect(
            &admin
                .post(
                    "/organizations/org_nope/users",
                    json!({"users": [{"id": carol}]}),
                )
                .await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );

        // Add: roles and direct permissions.
        let answer = admin
            .post(
                path,
                json!({"users": [
                    {"id": carol, "roles": ["member"], "permissions": ["create:todos"]},
                    {"id": dan},
                    {"id": ada, "roles": ["admin", "member"]},
                ]}),
            )
            .await;
        expect(&answer, 200, "");
        let added: BTreeSet<&str> = answer.body["users_added"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            added,
            BTreeSet::from([ada.as_str(), carol.as_str(), dan.as_str()])
        );
        assert_eq!(role_keys(&admin, "org_globex", &carol).await, ["member"]);
        assert_eq!(
            role_keys(&admin, "org_globex", &ada).await,
            ["admin", "member"]
        );
        assert!(role_keys(&admin, "org_globex", &dan).await.is_empty());
        // POST adds to what a member has.
        let answer = admin
            .post(
                path,
                json!({"users": [{"id": dan, "roles": ["member"]}, {"id": dan.clone() + "x"}]}),
            )
            .await;
        expect(&answer, 400, "USER_INVALID");
        assert!(
            role_keys(&admin, "org_globex", &dan).await.is_empty(),
            "nothing written"
        );
        let answer = admin
            .post(path, json!({"users": [{"id": carol, "roles": ["admin"]}]}))
            .await;
        expect(&answer, 200, "");
        assert_eq!(
            role_keys(&admin, "org_globex", &carol).await,
            ["admin", "member"]
        );

        // The member list, over several pages, with each member's roles.
        let mut expected = vec![ada.clone(), carol.clone(), dan.clone()];
        expected.sort();
        assert_eq!(member_ids(&admin, "org_globex", 1).await, expected);
        assert_eq!(member_ids(&admin, "org_globex", 2).await, expected);
        let page = admin.get(&format!("{path}?page_size=500")).await;
        let ada_row = page.body["organization_users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == ada.as_str())
            .unwrap()
            .clone();
        assert_eq!(ada_row["email"], ADA);
        assert_eq!(ada_row["full_name"], "Ada Lovelace");
        assert_eq!(ada_row["first_name"], "Ada");
        assert_eq!(ada_row["roles"], json!(["admin", "member"]));
        expect(
            &admin.get(&format!("{path}?sort=key_asc")).await,
            400,
            "INVALID_SORT",
        );
        // A token of one list is refused by another.
        let first = admin.get(&format!("{path}?page_size=1")).await;
        let token = first.body["next_token"].as_str().unwrap();
        expect(
            &admin
                .get(&format!("/organizations/org_acme/users?next_token={token}"))
                .await,
            400,
            "INVALID_NEXT_TOKEN",
        );

        // Filters: any of the roles, any of the permissions (through a role or directly).
        let filtered = |query: &'static str| {
            let admin = &admin;
            async move {
                let answer = admin.get(&format!("{path}?{query}")).await;
                assert_eq!(answer.status, 200, "{query}: {answer:?}");
                let mut ids: Vec<String> = answer.body["organization_users"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["id"].as_str().unwrap().to_owned())
                    .collect();
                ids.sort();
                ids
            }
        };
        let mut ada_carol = vec![ada.clone(), carol.clone()];
        ada_carol.sort();
        assert_eq!(filtered("roles=admin").await, ada_carol);
        assert_eq!(filtered("roles=nope,admin").await, ada_carol);
        assert_eq!(filtered("permissions=delete:todos").await, ada_carol);
        assert_eq!(
            filtered("permissions=create:todos&roles=member").await,
            ada_carol
        );
        assert!(filtered("roles=nope").await.is_empty());
        assert!(filtered("roles=admin&permissions=nope").await.is_empty());
        expect(
            &admin.get(&format!("{path}?roles=a%20b")).await,
            400,
            "INVALID_FILTER",
        );
        let first = admin.get(&format!("{path}?roles=admin&page_size=1")).await;
        let token = first.body["next_token"].as_str().unwrap();
        let second = admin
            .get(&format!(
                "{path}?roles=admin&page_size=1&next_token={token}"
            ))
            .await;
        expect(&second, 200, "");
        expect(
            &admin
                .get(&format!("{path}?page_size=1&next_token={token}"))
                .await,
            400,
            "INVALID_NEXT_TOKEN",
        );

        // Members with a role, paginated.
        let roles = admin
            .get(&format!("/organizations/org_globex/users/{ada}/roles"))
            .await;
        let member_role = roles.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "member")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut with_role = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p = format!("/organizations/org_globex/roles/{member_role}/users?page_size=1");
            if let Some(t) = &token {
                p.push_str(&format!("&next_token={t}"));
            }
            let answer = admin.get(&p).await;
            expect(&answer, 200, "");
            let users = answer.body["users"].as_array().unwrap();
            with_role.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
            match answer.body["next_token"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let mut expected_role = vec![ada.clone(), carol.clone()];
        expected_role.sort();
        assert_eq!(with_role, expected_role);
        expect(
            &admin
                .get("/organizations/org_globex/roles/rol_nope/users")
                .await,
            404,
            "ROLE_NOT_FOUND",
        );
        expect(
            &admin
                .get(&format!(
                    "/organizations/org_nope/roles/{member_role}/users"
                ))
                .await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );

        // PATCH: replace roles, clear permissions, remove one, add another.
        let answer = admin
            .patch(
                path,
                json!({"users": [
                    {"id": carol, "roles": ["member"], "permissions": []},
                    {"id": dan, "operation": "delete"},
                    {"id": bob},
                ]}),
            )
            .await;
        expect(&answer, 200, "");
        assert_eq!(answer.body["users_added"], json!([bob]));
        assert_eq!(answer.body["users_updated"], json!([carol]));
        assert_eq!(answer.body["users_removed"], json!([dan]));
        assert_eq!(role_keys(&admin, "org_globex", &carol).await, ["member"]);
        let perms = admin
            .get(&format!(
                "/organizations/org_globex/users/{carol}/permissions"
            ))
            .await;
        let keys: Vec<&str> = perms.body["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            ["read:todos"],
            "create:todos was direct and is cleared"
        );
        // Unknown role in a PATCH: nothing of the batch is written (dan stays out, carol keeps
        // her roles).
        let answer = admin
            .patch(
                path,
                json!({"users": [{"id": dan}, {"id": carol, "roles": ["nope"]}]}),
            )
            .await;
        expect(&answer, 400, "ROLE_INVALID");
        assert!(!member_ids(&admin, "org_globex", 10).await.contains(&dan));
        assert_eq!(role_keys(&admin, "org_globex", &carol).await, ["member"]);
        expect(
            &admin
                .patch(path, json!({"users": [{"id": dan, "operation": "remove"}]}))
                .await,
            400,
            "INVALID_OPERATION",
        );

        // DELETE one member; again is a 404.
        expect(&admin.delete(&format!("{path}/{bob}")).await, 200, "");
        expect(
            &admin.delete(&format!("{path}/{bob}")).await,
            404,
            "ORGANIZATION_USER_NOT_FOUND",
        );
        expect(
            &admin.delete(&format!("{path}/..%2Fetc")).await,
            404,
            "ORGANIZATION_USER_NOT_FOUND",
        );
        expect(
            &admin
                .delete(&format!("/organizations/org_nope/users/{bob}"))
                .await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );

        // Deleting the organization takes its memberships with it.
        expect(&admin.delete("/organization/org_globex").await, 200, "");
        let orgs = admin.get(&format!("/user?id={carol}")).await;
        assert_eq!(orgs.body["organizations"], json!([]));
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn member_roles_and_permissions() {
    on_both(|db| async move {
        let admin = start(db).await;
        let ada = user_id(&admin, ADA).await;
        let bob = user_id(&admin, BOB).await;
        let carol = user_id(&admin, "carol@example.com").await;
        let base = format!("/organizations/org_acme/users/{bob}");

        // Role and permission ids, read through the API.
        let ada_roles = admin
            .get(&format!("/organizations/org_acme/users/{ada}/roles"))
            .await;
        let admin_role = ada_roles.body["roles"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(ada_roles.body["roles"][0]["key"], "admin");
        assert_eq!(ada_roles.body["roles"][0]["name"], "Admin");
        let ada_perms = admin
            .get(&format!(
                "/organizations/org_acme/users/{ada}/permissions?expand=roles"
            ))
            .await;
        expect(&ada_perms, 200, "");
        let perms = ada_perms.body["permissions"].as_array().unwrap();
        assert_eq!(perms.len(), 3);
        let delete_todos = perms.iter().find(|p| p["key"] == "delete:todos").unwrap();
        assert_eq!(
            delete_todos["roles"],
            json!([{"id": admin_role, "key": "admin"}])
        );
        let delete_todos = delete_todos["id"].as_str().unwrap().to_owned();

        // Roles: give, refuse a duplicate, list, take.
        expect(
            &admin
                .post(&format!("{base}/roles"), json!({"role_id": admin_role}))
                .await,
            200,
            "",
        );
        expect(
            &admin
                .post(&format!("{base}/roles"), json!({"role_id": admin_role}))
                .await,
            409,
            "ALREADY_ASSIGNED",
        );
        assert_eq!(
            role_keys(&admin, "org_acme", &bob).await,
            ["admin", "member"]
        );
        expect(
            &admin
                .post(&format!("{base}/roles"), json!({"role_id": "rol_nope"}))
                .await,
            400,
            "ROLE_INVALID",
        );
        expect(
            &admin
                .post(&format!("{base}/roles"), json!({"role": admin_role}))
                .await,
            400,
            "INVALID_BODY",
        );
        expect(
            &admin
                .post(
                    &format!("/organizations/org_acme/users/{carol}/roles"),
                    json!({"role_id": admin_role}),
                )
                .await,
            404,
            "ORGANIZATION_USER_NOT_FOUND",
        );
        expect(
            &admin
                .post(
                    &format!("/organizations/org_nope/users/{bob}/roles"),
                    json!({"role_id": admin_role}),
                )
                .await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );
        expect(
            &admin.delete(&format!("{base}/roles/{admin_role}")).await,
            200,
            "",
        );
        expect(
            &admin.delete(&format!("{base}/roles/{admin_role}")).await,
            404,
            "NOT_ASSIGNED",
        );
        assert_eq!(role_keys(&admin, "org_acme", &bob).await, ["member"]);
        expect(
            &admin
                .get(&format!("/organizations/org_acme/users/{carol}/roles"))
                .await,
            404,
            "ORGANIZATION_USER_NOT_FOUND",
        );

        // Permissions: grant directly, refuse a duplicate, list with their sources, take.
        expect(
            &admin
                .post(
                    &format!("{base}/permissions"),
                    json!({"permission_id": delete_todos}),
                )
                .await,
            200,
            "",
        );
        expect(
            &admin
                .post(
                    &format!("{base}/permissions"),
                    json!({"permission_id": delete_todos}),
                )
                .await,
            409,
            "ALREADY_ASSIGNED",
        );
        expect(
            &admin
                .post(
                    &format!("{base}/permissions"),
                    json!({"permission_id": "perm_nope"}),
                )
                .await,
            400,
            "PERMISSION_INVALID",
        );
        let listed = admin.get(&format!("{base}/permissions")).await;
        let listed: Vec<(String, usize)> = listed.body["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().to_owned(),
                    p["roles"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [("delete:todos".to_owned(), 0), ("read:todos".to_owned(), 1)]
        );
        expect(
            &admin
                .get(&format!("{base}/permissions?expand=everything"))
                .await,
            400,
            "INVALID_EXPAND",
        );
        expect(
            &admin
                .delete(&format!("{base}/permissions/{delete_todos}"))
                .await,
            200,
            "",
        );
        expect(
            &admin
                .delete(&format!("{base}/permissions/{delete_todos}"))
                .await,
            404,
            "NOT_ASSIGNED",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn organization_feature_flags() {
    on_both(|db| async move {
        let admin = start(db).await;
        let path = "/organizations/org_acme/feature_flags";
        let flags = admin.get(path).await;
        expect(&flags, 200, "");
        assert_eq!(
            flags.body["feature_flags"],
            json!({
                "analytics": {"type": "bool", "value": "true"},
                "limit": {"type": "int", "value": "5"},
                "theme": {"type": "str", "value": "green"},
            })
        );

        expect(
            &admin
                .call("PATCH", &format!("{path}/limit?value=42"), None)
                .await,
            200,
            "",
        );
        expect(
            &admin
                .call("PATCH", &format!("{path}/analytics?value=false"), None)
                .await,
            200,
            "",
        );
        for (query, status, code) in [
            ("limit?value=lots", 400, "INVALID_VALUE"),
            ("analytics?value=maybe", 400, "INVALID_VALUE"),
            ("limit", 400, "INVALID_QUERY"),
            ("nope?value=1", 404, "FEATURE_FLAG_NOT_FOUND"),
        ] {
            let answer = admin.call("PATCH", &format!("{path}/{query}"), None).await;
            expect(&answer, status, code);
        }
        expect(
            &admin
                .call(
                    "PATCH",
                    "/organizations/org_nope/feature_flags/limit?value=1",
                    None,
                )
                .await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );
        let flags = admin.get(path).await;
        assert_eq!(flags.body["feature_flags"]["limit"]["value"], "42");
        assert_eq!(flags.body["feature_flags"]["analytics"]["value"], "false");

        // One override removed: the environment's value shows again.
        expect(&admin.delete(&format!("{path}/analytics")).await, 200, "");
        expect(
            &admin.delete(&format!("{path}/nope")).await,
            404,
            "FEATURE_FLAG_NOT_FOUND",
        );
        let flags = admin.get(path).await;
        assert_eq!(flags.body["feature_flags"]["analytics"]["value"], "true");
        assert_eq!(flags.body["feature_flags"]["limit"]["value"], "42");

        // All removed: defaults (and the environment's) everywhere.
        expect(&admin.delete(path).await, 200, "");
        let flags = admin.get(path).await;
        assert_eq!(flags.body["feature_flags"]["theme"]["value"], "blue");
        assert_eq!(flags.body["feature_flags"]["limit"]["value"], "5");
        expect(
            &admin.delete("/organizations/org_nope/feature_flags").await,
            404,
            "ORGANIZATION_NOT_FOUND",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn changes_show_in_the_next_token() {
    on_both(|db| async move {
        let admin = start(db).await;
        let bob = user_id(&admin, BOB).await;

        // Before: Bob is a member of Acme; Acme's theme.
        let claims = claims_in(&admin, BOB, BOB_PASSWORD, "org_acme").await;
        assert_eq!(keys(&claims, "roles"), ["member"]);
        assert_eq!(keys(&claims, "permissions"), ["read:todos"]);
        assert_eq!(claims["feature_flags"]["theme"]["v"], "green");

        // Through the API: the admin role, a direct permission... and flag overrides.
        let roles = admin
            .get(&format!(
                "/organizations/org_acme/users/{}/roles",
                user_id(&admin, ADA).await
            ))
            .await;
        let admin_role = roles.body["roles"][0]["id"].as_str().unwrap().to_owned();
        expect(
            &admin
                .post(
                    &format!("/organizations/org_acme/users/{bob}/roles"),
                    json!({"role_id": admin_role}),
                )
                .await,
            200,
            "",
        );
        expect(
            &admin
                .call(
                    "PATCH",
                    "/organizations/org_acme/feature_flags/theme?value=pink",
                    None,
                )
                .await,
            200,
            "",
        );
        expect(
            &admin
                .call(
                    "PATCH",
                    "/organizations/org_acme/feature_flags/limit?value=99",
                    None,
                )
                .await,
            200,
            "",
        );
        let tokens = admin
            .issuer
            .user_tokens_with(
                WEB,
                BOB,
                BOB_PASSWORD,
                &TokenRequest::new().org_code("org_acme"),
            )
            .await
            .unwrap();
        let claims = jwt_parts(&tokens.access_token).1;
        assert_eq!(claims["org_code"], "org_acme");
        assert_eq!(keys(&claims, "roles"), ["admin", "member"]);
        assert_eq!(
            keys(&claims, "permissions"),
            ["create:todos", "delete:todos", "read:todos"]
        );
        assert_eq!(claims["feature_flags"]["theme"]["v"], "pink");
        assert_eq!(claims["feature_flags"]["limit"]["v"], 99);

        // Bulk PATCH to a plain member with a direct permission: the refreshed token follows.
        let answer = admin
            .patch(
                "/organizations/org_acme/users",
                json!({"users": [{"id": bob, "roles": [], "permissions": ["create:todos"]}]}),
            )
            .await;
        expect(&answer, 200, "");
        let refreshed = admin
            .issuer
            .refresh(WEB, tokens.refresh_token.as_deref().unwrap())
            .await
            .unwrap();
        let claims = jwt_parts(&refreshed.access_token).1;
        assert_eq!(keys(&claims, "roles"), Vec::<String>::new());
        assert_eq!(keys(&claims, "permissions"), ["create:todos"]);

        // A new member added through the API can sign into the organization.
        let created = admin.post("/organization", json!({"name": "Hooli"})).await;
        let hooli = created.body["organization"]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            admin
                .issuer
                .user_tokens_with(
                    WEB,
                    BOB,
                    BOB_PASSWORD,
                    &TokenRequest::new().org_code(&hooli)
                )
                .await
                .is_err(),
            "not a member yet"
        );
        let answer = admin
            .post(
                &format!("/organizations/{hooli}/users"),
                json!({"users": [{"id": bob, "roles": ["member"]}]}),
            )
            .await;
        expect(&answer, 200, "");
        expect(
            &admin
                .call(
                    "PATCH",
                    &format!("/organizations/{hooli}/feature_flags/analytics?value=false"),
                    None,
                )
                .await,
            200,
            "",
        );
        let claims = claims_in(&admin, BOB, BOB_PASSWORD, &hooli).await;
        assert_eq!(claims["org_code"], hooli.as_str());
        assert_eq!(keys(&claims, "roles"), ["member"]);
        assert_eq!(claims["feature_flags"]["analytics"]["v"], false);
        assert_eq!(claims["feature_flags"]["theme"]["v"], "blue");

        // Deleting Acme: Bob can no longer sign into it, and his refreshed token carries no
        // roles or permissions of it.
        expect(&admin.delete("/organization/org_acme").await, 200, "");
        let refreshed = admin
            .issuer
            .refresh(WEB, refreshed.refresh_token.as_deref().unwrap())
            .await
            .unwrap();
        let claims = jwt_parts(&refreshed.access_token).1;
        assert!(keys(&claims, "roles").is_empty());
        assert!(keys(&claims, "permissions").is_empty());
        assert_eq!(claims["feature_flags"]["theme"]["v"], "blue");
        assert!(
            admin
                .issuer
                .user_tokens_with(
                    WEB,
                    BOB,
                    BOB_PASSWORD,
                    &TokenRequest::new().org_code("org_acme")
                )
                .await
                .is_err()
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_changes_are_never_server_errors() {
    on_both(|db| async move {
        let admin = start(db).await;
        let bob = user_id(&admin, BOB).await;
        let carol = user_id(&admin, "carol@example.com").await;
        let ada = user_id(&admin, ADA).await;
        let roles = admin
            .get(&format!("/organizations/org_acme/users/{ada}/roles"))
            .await;
        let admin_role = roles.body["roles"][0]["id"].as_str().unwrap().to_owned();

        // The same role given eight times at once: one 200, seven 409.
        let path = format!("/organizations/org_acme/users/{bob}/roles");
        let answers = futures_util::future::join_all(
            (0..8).map(|_| admin.post(&path, json!({"role_id": admin_role}))),
        )
        .await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409, 409, 409, 409, 409, 409, 409],
            "{answers:?}"
        );
        assert_eq!(
            role_keys(&admin, "org_acme", &bob).await,
            ["admin", "member"]
        );

        // Bulk adds racing each other and the organization's deletion: each answer is a
        // success, a 404 or a 409, never a 5xx, and the database stays consistent.
        let created = admin.post("/organization", json!({"name": "Race"})).await;
        let race = created.body["organization"]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let users_path = format!("/organizations/{race}/users");
        let body = json!({"users": [
            {"id": bob, "roles": ["member"], "permissions": ["create:todos"]},
            {"id": carol, "roles": ["admin"]},
        ]});
        let adds =
            futures_util::future::join_all((0..6).map(|_| admin.post(&users_path, body.clone())));
        let org_path = format!("/organization/{race}");
        let delete = admin.delete(&org_path);
        let (adds, delete) = tokio::join!(adds, delete);
        expect(&delete, 200, "");
        for answer in &adds {
            assert!([200, 404, 409].contains(&answer.status), "{answer:?}");
        }
        expect(&admin.get(&users_path).await, 404, "ORGANIZATION_NOT_FOUND");
        let orgs = admin.get(&format!("/user?id={carol}")).await;
        assert_eq!(orgs.body["organizations"], json!([]));
        admin.finish().await;
    })
    .await;
}

/// Every page of `path` (which already has a `?`) with `page_size`, following `next_token`:
/// the ids (`id_field`) of `field`'s items in order, and the first token.
async fn page_through(
    admin: &Admin,
    path: &str,
    field: &str,
    id_field: &str,
    page_size: usize,
) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut first = None;
    loop {
        let mut url = format!("{path}&page_size={page_size}");
        if let Some(t) = &token {
            url.push_str(&format!("&next_token={t}"));
        }
        let answer = admin.get(&url).await;
        expect(&answer, 200, "");
        let items = answer.body[field].as_array().unwrap();
        assert!(items.len() <= page_size, "{url}");
        ids.extend(
            items
                .iter()
                .map(|i| i[id_field].as_str().unwrap().to_owned()),
        );
        match answer.body["next_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        first.get_or_insert_with(|| token.clone().unwrap());
        assert!(ids.len() < 1000, "{url}: runaway paging");
    }
    (ids, first)
}

#[tokio::test]
async fn organizations_and_members_sort_in_kindes_orders_across_pages() {
    on_both(|db| async move {
        let admin = start(db).await;
        // Organizations with tied and distinct names (lower-case ASCII: one order everywhere).
        for name in ["umbrella", "initech", "hooli", "initech", "aperture"] {
            expect(
                &admin.post("/organization", json!({"name": name})).await,
                200,
                "",
            );
        }
        let all = admin.get("/organizations?page_size=500").await;
        let orgs: Vec<(String, String)> = all.body["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_owned(),
                    o["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(orgs.len(), 7);
        for sort in ["name_asc", "name_desc"] {
            let mut expected = orgs.clone();
            expected.sort();
            if sort == "name_desc" {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|(_, c)| c).collect();
            for page_size in [1, 2, 4] {
                let path = format!("/organizations?sort={sort}");
                let (codes, token) =
                    page_through(&admin, &path, "organizations", "code", page_size).await;
                assert_eq!(codes, expected, "{sort} by {page_size}");
                // The token is for this order only.
                let token = token.unwrap();
                let other = if sort == "name_asc" {
                    "name_desc"
                } else {
                    "name_asc"
                };
                for query in [format!("sort={other}&"), String::new()] {
                    expect(
                        &admin
                            .get(&format!("/organizations?{query}next_token={token}"))
                            .await,
                        400,
                        "INVALID_NEXT_TOKEN",
                    );
                }
            }
        }

        // Members of org_acme: Ada and Bob, plus more through the API.
        for (given, email) in [("zoe", "zoe@example.com"), ("amy", "amy@example.com")] {
            let a = admin
                .post(
                    "/user",
                    json!({"profile": {"given_name": given, "family_name": "smith"},
                           "organization_code": "org_acme",
                           "identities": [{"type": "email", "details": {"email": email}}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{a:?}");
        }
        let all = admin
            .get("/organizations/org_acme/users?page_size=500")
            .await;
        let members: Vec<Value> = all.body["organization_users"].as_array().unwrap().clone();
        assert_eq!(members.len(), 4, "{members:?}");
        let name = |m: &Value| {
            format!(
                "{} {}",
                m["first_name"].as_str().unwrap_or(""),
                m["last_name"].as_str().unwrap_or("")
            )
        };
        let field = |m: &Value, f: &str| m[f].as_str().unwrap().to_owned();
        for sort in [
            "name_asc",
            "name_desc",
            "email_asc",
            "email_desc",
            "id_asc",
            "id_desc",
        ] {
            let mut expected = members.clone();
            expected.sort_by_key(|m| {
                let by = match &sort[..sort.find('_').unwrap()] {
                    "name" => name(m),
                    "email" => field(m, "email"),
                    _ => field(m, "id"),
                };
                (by, field(m, "id"))
            });
            if sort.ends_with("desc") {
                expected.reverse();
            }
            let expected: Vec<String> = expected.iter().map(|m| field(m, "id")).collect();
            for page_size in [1, 3] {
                let path = format!("/organizations/org_acme/users?sort={sort}");
                let (ids, _) =
                    page_through(&admin, &path, "organization_users", "id", page_size).await;
                assert_eq!(ids, expected, "{sort} by {page_size}");
            }
            // Roles still come with each member whatever the order.
            let page = admin
                .get(&format!("/organizations/org_acme/users?sort={sort}"))
                .await;
            let ada = page.body["organization_users"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["email"] == ADA)
                .unwrap()
                .clone();
            assert_eq!(ada["roles"], json!(["admin"]), "{sort}");
        }
        // With a filter, sorted too.
        let (ids, _) = page_through(
            &admin,
            "/organizations/org_acme/users?sort=email_desc&roles=admin,member",
            "organization_users",
            "id",
            1,
        )
        .await;
        assert_eq!(ids.len(), 2);
        expect(
            &admin.get("/organizations?sort=email_asc").await,
            400,
            "INVALID_SORT",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn handles_and_registrations_are_stored_and_shown() {
    on_both(|db| async move {
        let admin = start(db).await;
        let created = admin
            .post(
                "/organization",
                json!({"name": "Initech", "handle": "initech", "is_allow_registrations": true}),
            )
            .await;
        expect(&created, 200, "");
        let code = created.body["organization"]["code"]
            .as_str()
            .unwrap()
            .to_owned();
        let got = admin.get(&format!("/organization?code={code}")).await;
        assert_eq!(got.body["handle"], "initech", "{got:?}");
        assert_eq!(got.body["is_allow_registrations"], true);
        let acme = admin.get("/organization?code=org_acme").await;
        assert_eq!(acme.body["handle"], Value::Null);
        assert_eq!(acme.body["is_allow_registrations"], false);

        // Handles are unique; the same organization may keep its own.
        expect(
            &admin
                .post(
                    "/organization",
                    json!({"name": "Other", "handle": "initech"}),
                )
                .await,
            409,
            "ORGANIZATION_HANDLE_TAKEN",
        );
        expect(
            &admin
                .patch("/organization/org_acme", json!({"handle": "initech"}))
                .await,
            409,
            "ORGANIZATION_HANDLE_TAKEN",
        );
        expect(
            &admin
                .patch(
                    &format!("/organization/{code}"),
                    json!({"handle": "initech"}),
                )
                .await,
            200,
            "",
        );
        for bad in [
            json!(""),
            json!("Has Space"),
            json!("UPPER"),
            json!("x".repeat(65)),
            json!(7),
        ] {
            let answer = admin
                .post("/organization", json!({"name": "Bad", "handle": bad}))
                .await;
            assert_eq!(answer.status, 400, "{bad}: {answer:?}");
        }

        // PATCH changes, clears and leaves alone.
        expect(
            &admin
                .patch(
                    &format!("/organization/{code}"),
                    json!({"handle": null, "is_allow_registrations": false}),
                )
                .await,
            200,
            "",
        );
        let got = admin.get(&format!("/organization?code={code}")).await;
        assert_eq!(got.body["handle"], Value::Null);
        assert_eq!(got.body["is_allow_registrations"], false);
        expect(
            &admin
                .patch(
                    &format!("/organization/{code}"),
                    json!({"handle": "initech-2"}),
                )
                .await,
            200,
            "",
        );
        expect(
            &admin
                .patch(
                    &format!("/organization/{code}"),
                    json!({"name": "Initech Corp"}),
                )
                .await,
            200,
            "",
        );
        let listed = admin.get("/organizations?page_size=500").await;
        let row = listed.body["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["code"] == code.as_str())
            .unwrap()
            .clone();
        assert_eq!(row["handle"], "initech-2");
        assert_eq!(row["name"], "Initech Corp");
        // The freed handle can be taken again.
        expect(
            &admin
                .post(
                    "/organization",
                    json!({"name": "Again", "handle": "initech"}),
                )
                .await,
            200,
            "",
        );
        admin.finish().await;
    })
    .await;
}

/// The role keys in an access token's `roles` claim.
fn role_claims(claims: &Value) -> Vec<String> {
    claims["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .map(|r| r["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn default_roles_are_given_to_new_members_and_reach_the_next_token() {
    on_both(|db| async move {
        let admin = start(db).await;
        starter_is_a_default_role(&admin).await;
        let password = "a-long-enough-password";

        // POST /organizations/{code}/users: a new member gets the default role (and the
        // listed ones); Ada, already a member, keeps hers untouched.
        let carol = user_id(&admin, "carol@example.com").await;
        let ada = user_id(&admin, ADA).await;
        expect(
            &admin
                .put(&format!("/users/{carol}/password"), json!({"password": password}))
                .await,
            200,
            "",
        );
        expect(
            &admin
                .post(
                    "/organizations/org_globex/users",
                    json!({"users": [{"id": carol, "roles": ["member"]}]}),
                )
                .await,
            200,
            "",
        );
        assert_eq!(role_keys(&admin, "org_globex", &carol).await, ["member", "starter"]);
        let claims = claims_in(&admin, "carol@example.com", password, "org_globex").await;
        let mut roles = role_claims(&claims);
        roles.sort();
        assert_eq!(roles, ["member", "starter"], "{claims}");
        expect(
            &admin
                .post("/organizations/org_acme/users", json!({"users": [{"id": ada}]}))
                .await,
            200,
            "",
        );
        assert_eq!(role_keys(&admin, "org_acme", &ada).await, ["admin"]);

        // POST /user with an organization_code.
        let created = admin
            .post(
                "/user",
                json!({"organization_code": "org_globex",
                       "identities": [{"type": "email", "details": {"email": "erin@example.com"}}]}),
            )
            .await;
        assert_eq!(created.status, 200, "{created:?}");
        let erin = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(role_keys(&admin, "org_globex", &erin).await, ["starter"]);
        expect(
            &admin
                .put(&format!("/users/{erin}/password"), json!({"password": password}))
                .await,
            200,
            "",
        );
        let claims = claims_in(&admin, "erin@example.com", password, "org_globex").await;
        assert_eq!(role_claims(&claims), ["starter"], "{claims}");
        admin.finish().await;
    })
    .await;
}

/// Signs up `email` on the hosted form for `org_code`: the final answer.
async fn sign_up_into(
    admin: &Admin,
    email: &str,
    org_code: &str,
) -> (common::browser::Page, String) {
    sign_up_with(admin, email, &[("org_code", org_code)]).await
}

/// Signs up `email` on the hosted form, with `extra` authorize parameters: the final answer.
async fn sign_up_with(
    admin: &Admin,
    email: &str,
    extra: &[(&str, &str)],
) -> (common::browser::Page, String) {
    use common::browser::{Browser, pkce};
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let mut params = vec![
        ("client_id", WEB),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid profile email offline"),
        ("state", "state-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("prompt", "create"),
    ];
    params.extend_from_slice(extra);
    let form = browser.authorize(&admin.issuer, &params).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser
        .sign_up(
            &admin.issuer,
            &form,
            &[
                ("email", email),
                ("password", "cobol-is-a-fine-language"),
                ("given_name", "New"),
                ("family_name", "Member"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    (done, verifier)
}

/// Creates the role `starter`, given to every new member.
async fn starter_is_a_default_role(admin: &Admin) {
    let role = admin
        .post(
            "/roles",
            json!({"name": "Starter", "key": "starter", "is_default_role": true}),
        )
        .await;
    assert_eq!(role.status, 201, "{role:?}");
}

/// Redeems the code of a finished sign-in: the access token's claims.
async fn access_claims(admin: &Admin, done: &common::browser::Page, verifier: &str) -> Value {
    let code = done
        .param("code")
        .unwrap_or_else(|| panic!("no code: {:?}", done.location));
    let (status, tokens) = common::demo::redeem_code(
        &admin.issuer,
        (WEB, Some(WEB_SECRET)),
        &code,
        CALLBACK,
        verifier,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    jwt_parts(tokens["access_token"].as_str().unwrap()).1
}

#[tokio::test]
async fn an_organization_created_at_sign_up_gives_its_founder_the_default_roles() {
    on_both(|db| async move {
        let admin = start(db).await;
        starter_is_a_default_role(&admin).await;

        let (done, verifier) = sign_up_with(
            &admin,
            "hal@example.com",
            &[("is_create_org", "true"), ("org_name", "Hal's Shop")],
        )
        .await;
        let claims = access_claims(&admin, &done, &verifier).await;
        let org = claims["org_code"]
            .as_str()
            .expect("signed into the new org")
            .to_owned();
        assert_eq!(role_claims(&claims), ["starter"], "{claims}");
        let hal = user_id(&admin, "hal@example.com").await;
        assert_eq!(role_keys(&admin, &org, &hal).await, ["starter"]);
        let named = admin.get(&format!("/organization?code={org}")).await;
        assert_eq!(named.body["name"], "Hal's Shop", "{named:?}");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn hosted_sign_up_into_an_open_organization_gives_the_default_roles() {
    on_both(|db| async move {
        let admin = start(db).await;
        starter_is_a_default_role(&admin).await;
        let open = admin
            .post(
                "/organization",
                json!({"name": "Open", "is_allow_registrations": true}),
            )
            .await;
        let open = open.body["organization"]["code"]
            .as_str()
            .unwrap()
            .to_owned();

        let (done, verifier) = sign_up_into(&admin, "fay@example.com", &open).await;
        let claims = access_claims(&admin, &done, &verifier).await;
        assert_eq!(claims["org_code"], open.as_str(), "{claims}");
        assert_eq!(role_claims(&claims), ["starter"], "{claims}");
        let fay = user_id(&admin, "fay@example.com").await;
        assert_eq!(role_keys(&admin, &open, &fay).await, ["starter"]);

        // An organization that does not allow registrations: the account is made, but it is
        // no member, so the sign-in into that organization is refused.
        let (done, _) = sign_up_into(&admin, "gus@example.com", "org_globex").await;
        assert_eq!(
            done.param("error").as_deref(),
            Some("access_denied"),
            "{:?}",
            done.location
        );
        let gus = user_id(&admin, "gus@example.com").await;
        let orgs = admin.get(&format!("/user?id={gus}")).await;
        assert_eq!(orgs.body["organizations"], json!([]), "{orgs:?}");
        admin.finish().await;
    })
    .await;
}
