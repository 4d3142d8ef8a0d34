//! The management API's Roles and Permissions groups (`/roles`, `/roles/{role_id}/…`,
//! `/permissions`) on a real server, on SQLite and PostgreSQL: every operation, its 400/404/409
//! answers, pagination over several pages, all-or-nothing permission changes, and that a role's
//! permission change shows up in its holders' next tokens.

mod admin;
mod common;

use std::collections::BTreeSet;

use admin::{ADMIN_ID, ADMIN_SECRET, Admin, Answer, on_both};
use common::TestDb;
use common::demo::jwt_parts;
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder, TestUser, TokenRequest};
use serde_json::{Value, json};

const WEB: &str = "web-app";
const WEB_SECRET: &str = "web-secret-web-secret-web-secret-0123456789";
const CALLBACK: &str = "http://localhost:3000/callback";
const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";

fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .web_app(WEB, WEB_SECRET, &[CALLBACK])
        .permission("read:todos")
        .permission("create:todos")
        .role("member", "Member", &["read:todos"])
        .organization("org_acme", "Acme")
        .organization("org_globex", "Globex")
        .user(
            TestUser::new(ADA)
                .password(ADA_PASSWORD)
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["member"])
                .member_of("org_globex", &["member"]),
        )
        .user(TestUser::new("bob@example.com").member_of("org_acme", &["member"]))
}

async fn start(db: TestDb) -> Admin {
    Admin::start(db, tenant()).await
}

#[track_caller]
fn expect(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    if status == 200 || status == 201 {
        assert_eq!(answer.body["code"], "OK", "{answer:?}");
    } else {
        assert_eq!(answer.error_code(), code, "{answer:?}");
    }
}

/// Every item of a paginated list, page by page; checks each page's size.
async fn all_pages(admin: &Admin, path: &str, field: &str, page_size: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let mut url = format!("{path}{sep}page_size={page_size}");
        if let Some(t) = &token {
            url.push_str(&format!("&next_token={t}"));
        }
        let answer = admin.get(&url).await;
        expect(&answer, 200, "");
        let page = answer.body[field].as_array().unwrap();
        assert!(page.len() <= page_size as usize, "{answer:?}");
        items.extend(page.iter().cloned());
        match answer.body["next_token"].as_str() {
            Some(t) => {
                assert_eq!(
                    page.len(),
                    page_size as usize,
                    "a page before the last is full"
                );
                token = Some(t.to_owned());
            }
            None => break,
        }
    }
    items
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn role_id(admin: &Admin, key: &str) -> String {
    let roles = all_pages(admin, "/roles", "roles", 500).await;
    roles
        .iter()
        .find(|r| r["key"] == key)
        .and_then(|r| r["id"].as_str())
        .unwrap_or_else(|| panic!("no role {key}"))
        .to_owned()
}

async fn permission_id(admin: &Admin, key: &str) -> String {
    let perms = all_pages(admin, "/permissions", "permissions", 500).await;
    perms
        .iter()
        .find(|p| p["key"] == key)
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("no permission {key}"))
        .to_owned()
}

async fn role_permission_keys(admin: &Admin, role: &str) -> BTreeSet<String> {
    all_pages(
        admin,
        &format!("/roles/{role}/permissions"),
        "permissions",
        2,
    )
    .await
    .iter()
    .map(|p| p["key"].as_str().unwrap().to_owned())
    .collect()
}

/// Ada's access-token claims after signing into `org`.
async fn ada_claims(admin: &Admin, org: &str) -> Value {
    let tokens = admin
        .issuer
        .user_tokens_with(WEB, ADA, ADA_PASSWORD, &TokenRequest::new().org_code(org))
        .await
        .unwrap();
    jwt_parts(&tokens.access_token).1
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn roles_crud() {
    on_both(|db| async move {
        let admin = start(db).await;
        let answer = admin
            .post(
                "/roles",
                json!({"name": "Editor", "description": "Edits", "key": "editor",
                       "is_default_role": true}),
            )
            .await;
        expect(&answer, 201, "");
        let id = answer.body["role"]["id"].as_str().unwrap().to_owned();

        let answer = admin.get(&format!("/roles/{id}")).await;
        expect(&answer, 200, "");
        assert_eq!(
            answer.body["role"],
            json!({"id": id, "key": "editor", "name": "Editor", "description": "Edits",
                   "is_default_role": true})
        );

        // Duplicate key, bad bodies.
        let dup = admin
            .post("/roles", json!({"name": "Other", "key": "editor"}))
            .await;
        expect(&dup, 409, "ROLE_ALREADY_EXISTS");
        for (body, code) in [
            (json!({"name": "X", "key": "has space"}), "INVALID_KEY"),
            (json!({"name": "X", "key": ""}), "INVALID_KEY"),
            (json!({"name": "", "key": "x"}), "INVALID_FIELD"),
            (
                json!({"name": "X", "key": "x", "admin": true}),
                "INVALID_BODY",
            ),
            (json!({"key": "x"}), "INVALID_BODY"),
            (json!({"name": "X", "key": "x".repeat(129)}), "INVALID_KEY"),
        ] {
            expect(&admin.post("/roles", body).await, 400, code);
        }
        // Nothing of those was created.
        let roles = all_pages(&admin, "/roles", "roles", 500).await;
        assert_eq!(roles.len(), 2, "{roles:?}");

        // Update: each field, then a key conflict.
        let answer = admin
            .patch(
                &format!("/roles/{id}"),
                json!({"name": "Writer", "key": "writer", "description": "",
                       "is_default_role": false}),
            )
            .await;
        // Kinde's specification answers updateRoles with 201.
        expect(&answer, 201, "");
        let answer = admin.get(&format!("/roles/{id}")).await;
        assert_eq!(
            answer.body["role"],
            json!({"id": id, "key": "writer", "name": "Writer", "description": null,
                   "is_default_role": false})
        );
        let answer = admin
            .patch(&format!("/roles/{id}"), json!({"key": "member"}))
            .await;
        expect(&answer, 409, "ROLE_ALREADY_EXISTS");
        let answer = admin
            .patch(&format!("/roles/{id}"), json!({"key": "writer"}))
            .await;
        expect(&answer, 201, "");
        expect(
            &admin
                .patch(&format!("/roles/{id}"), json!({"name": " "}))
                .await,
            400,
            "INVALID_FIELD",
        );
        assert_eq!(
            admin.get(&format!("/roles/{id}")).await.body["role"]["name"],
            "Writer"
        );

        // Unknown and implausible ids.
        for path in ["/roles/role_000000000000000000000000", "/roles/x'y"] {
            expect(&admin.get(path).await, 404, "ROLE_NOT_FOUND");
            expect(
                &admin.patch(path, json!({"name": "Z"})).await,
                404,
                "ROLE_NOT_FOUND",
            );
            expect(&admin.delete(path).await, 404, "ROLE_NOT_FOUND");
        }

        expect(&admin.delete(&format!("/roles/{id}")).await, 200, "");
        expect(
            &admin.get(&format!("/roles/{id}")).await,
            404,
            "ROLE_NOT_FOUND",
        );
        expect(
            &admin.delete(&format!("/roles/{id}")).await,
            404,
            "ROLE_NOT_FOUND",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn permissions_crud() {
    on_both(|db| async move {
        let admin = start(db).await;
        let answer = admin
            .post(
                "/permissions",
                json!({"name": "Delete todos", "description": "Gone", "key": "delete:todos"}),
            )
            .await;
        expect(&answer, 201, "");
        let id = answer.body["permission"]["id"].as_str().unwrap().to_owned();
        let listed = all_pages(&admin, "/permissions", "permissions", 500).await;
        let mine = listed.iter().find(|p| p["id"] == id.as_str()).unwrap();
        assert_eq!(
            *mine,
            json!({"id": id, "key": "delete:todos", "name": "Delete todos",
                   "description": "Gone"})
        );
        expect(
            &admin
                .post(
                    "/permissions",
                    json!({"name": "Again", "key": "delete:todos"}),
                )
                .await,
            409,
            "PERMISSION_ALREADY_EXISTS",
        );
        expect(
            &admin
                .post("/permissions", json!({"name": "Bad", "key": "a b"}))
                .await,
            400,
            "INVALID_KEY",
        );
        expect(
            &admin
                .post(
                    "/permissions",
                    json!({"name": "Bad", "key": "k", "id": "mine"}),
                )
                .await,
            400,
            "INVALID_BODY",
        );

        let answer = admin
            .patch(
                &format!("/permissions/{id}"),
                json!({"name": "Remove todos", "key": "remove:todos"}),
            )
            .await;
        expect(&answer, 200, "");
        let listed = all_pages(&admin, "/permissions", "permissions", 500).await;
        let mine = listed.iter().find(|p| p["id"] == id.as_str()).unwrap();
        assert_eq!(mine["key"], "remove:todos");
        assert_eq!(mine["name"], "Remove todos");
        assert_eq!(mine["description"], "Gone", "untouched fields stay");
        expect(
            &admin
                .patch(&format!("/permissions/{id}"), json!({"key": "read:todos"}))
                .await,
            409,
            "PERMISSION_ALREADY_EXISTS",
        );
        for path in [
            "/permissions/perm_000000000000000000000000",
            "/permissions/%20",
        ] {
            expect(
                &admin.patch(path, json!({"name": "Z"})).await,
                404,
                "PERMISSION_NOT_FOUND",
            );
            expect(&admin.delete(path).await, 404, "PERMISSION_NOT_FOUND");
        }

        // Deleting a permission takes it from the roles that granted it.
        let member = role_id(&admin, "member").await;
        let read = permission_id(&admin, "read:todos").await;
        expect(
            &admin.delete(&format!("/permissions/{read}")).await,
            200,
            "",
        );
        assert!(role_permission_keys(&admin, &member).await.is_empty());
        expect(
            &admin.delete(&format!("/permissions/{read}")).await,
            404,
            "PERMISSION_NOT_FOUND",
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn lists_page_through_everything() {
    on_both(|db| async move {
        let admin = start(db).await;
        for i in 0..23 {
            expect(
                &admin
                    .post(
                        "/roles",
                        json!({"name": format!("R{i}"), "key": format!("r{i}")}),
                    )
                    .await,
                201,
                "",
            );
            expect(
                &admin
                    .post(
                        "/permissions",
                        json!({"name": format!("P{i}"), "key": format!("p:{i}")}),
                    )
                    .await,
                201,
                "",
            );
        }
        for (path, field, total) in [("/roles", "roles", 24), ("/permissions", "permissions", 25)] {
            let items = ids(&all_pages(&admin, path, field, 10).await);
            assert_eq!(items.len(), total, "{path}");
            let unique: BTreeSet<&String> = items.iter().collect();
            assert_eq!(unique.len(), total, "{path}: no duplicates");
            let mut sorted = items.clone();
            sorted.sort();
            assert_eq!(items, sorted, "{path}: ordered by id");
            assert_eq!(ids(&all_pages(&admin, path, field, 7).await), items);
        }
        // Bad paging parameters.
        let first = admin.get("/roles?page_size=5").await;
        let token = first.body["next_token"].as_str().unwrap().to_owned();
        expect(
            &admin.get(&format!("/permissions?next_token={token}")).await,
            400,
            "INVALID_NEXT_TOKEN",
        );
        for query in [
            "page_size=0",
            "page_size=501",
            "next_token=forged",
            "sort=email_asc",
            "colour=red",
        ] {
            let answer = admin.get(&format!("/roles?{query}")).await;
            assert_eq!(answer.status, 400, "{query}: {answer:?}");
        }
        expect(&admin.get("/roles?sort=id_asc").await, 200, "");
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn role_permissions_change_all_or_nothing_and_reach_tokens() {
    on_both(|db| async move {
        let admin = start(db).await;
        let member = role_id(&admin, "member").await;
        let read = permission_id(&admin, "read:todos").await;
        let create = permission_id(&admin, "create:todos").await;
        let before = ada_claims(&admin, "org_acme").await;
        assert_eq!(
            strings(&before["permissions"]),
            BTreeSet::from(["read:todos".into()])
        );

        // Add create:todos, remove read:todos.
        let answer = admin
            .patch(
                &format!("/roles/{member}/permissions"),
                json!({"permissions": [{"id": create}, {"id": read, "operation": "delete"}]}),
            )
            .await;
        expect(&answer, 200, "");
        assert_eq!(answer.body["role_id"], member.as_str());
        assert_eq!(answer.body["permissions_added"], json!([create]));
        assert_eq!(answer.body["permissions_removed"], json!([read]));
        assert_eq!(
            role_permission_keys(&admin, &member).await,
            BTreeSet::from(["create:todos".into()])
        );
        let after = ada_claims(&admin, "org_acme").await;
        assert_eq!(
            strings(&after["permissions"]),
            BTreeSet::from(["create:todos".into()])
        );

        // All or nothing: a valid add next to an unknown id changes nothing.
        let answer = admin
            .patch(
                &format!("/roles/{member}/permissions"),
                json!({"permissions": [{"id": read}, {"id": "perm_000000000000000000000000"}]}),
            )
            .await;
        expect(&answer, 400, "PERMISSION_INVALID");
        assert_eq!(
            role_permission_keys(&admin, &member).await,
            BTreeSet::from(["create:todos".into()])
        );
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"id": format!("perm_{i}")}))
            .collect();
        for (body, code) in [
            (json!({"permissions": many}), "TOO_MANY_ITEMS"),
            (
                json!({"permissions": [{"id": read, "operation": "add"}]}),
                "INVALID_OPERATION",
            ),
            (
                json!({"permissions": [{"id": read}, {"id": read, "operation": "delete"}]}),
                "DUPLICATE_PERMISSION",
            ),
            (
                json!({"permissions": [{"id": read, "extra": 1}]}),
                "INVALID_BODY",
            ),
            (json!({"perms": []}), "INVALID_BODY"),
        ] {
            expect(
                &admin
                    .patch(&format!("/roles/{member}/permissions"), body)
                    .await,
                400,
                code,
            );
        }
        assert_eq!(
            role_permission_keys(&admin, &member).await,
            BTreeSet::from(["create:todos".into()])
        );
        expect(
            &admin
                .patch(
                    "/roles/role_000000000000000000000000/permissions",
                    json!({"permissions": [{"id": read}]}),
                )
                .await,
            404,
            "ROLE_NOT_FOUND",
        );
        expect(
            &admin
                .get("/roles/role_000000000000000000000000/permissions")
                .await,
            404,
            "ROLE_NOT_FOUND",
        );

        // Several pages of a role's permissions (2 per page).
        let mut added = Vec::new();
        for i in 0..5 {
            let answer = admin
                .post(
                    "/permissions",
                    json!({"name": "P", "key": format!("extra:{i}")}),
                )
                .await;
            expect(&answer, 201, "");
            added.push(json!({"id": answer.body["permission"]["id"]}));
        }
        expect(
            &admin
                .patch(
                    &format!("/roles/{member}/permissions"),
                    json!({"permissions": added}),
                )
                .await,
            200,
            "",
        );
        let keys = role_permission_keys(&admin, &member).await;
        assert_eq!(keys.len(), 6, "{keys:?}");
        let after = ada_claims(&admin, "org_globex").await;
        assert_eq!(strings(&after["permissions"]), keys);
        // A token of one role's list does not page another's.
        let page = admin
            .get(&format!("/roles/{member}/permissions?page_size=2"))
            .await;
        let token = page.body["next_token"].as_str().unwrap();
        expect(
            &admin.get(&format!("/permissions?next_token={token}")).await,
            400,
            "INVALID_NEXT_TOKEN",
        );

        // Remove one permission.
        let path = format!("/roles/{member}/permissions/{create}");
        expect(&admin.delete(&path).await, 200, "");
        expect(&admin.delete(&path).await, 404, "PERMISSION_NOT_FOUND");
        expect(
            &admin
                .delete(&format!(
                    "/roles/role_000000000000000000000000/permissions/{create}"
                ))
                .await,
            404,
            "ROLE_NOT_FOUND",
        );
        let after = ada_claims(&admin, "org_acme").await;
        assert!(!strings(&after["permissions"]).contains("create:todos"));

        // Deleting the role takes it (and its permissions) from the next tokens.
        expect(&admin.delete(&format!("/roles/{member}")).await, 200, "");
        let after = ada_claims(&admin, "org_acme").await;
        assert!(
            after["permissions"].as_array().is_none_or(Vec::is_empty),
            "{after}"
        );
        assert!(
            after["roles"].as_array().is_none_or(Vec::is_empty),
            "{after}"
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn role_users_lists_each_membership() {
    on_both(|db| async move {
        let admin = start(db).await;
        let member = role_id(&admin, "member").await;
        let users = all_pages(&admin, &format!("/roles/{member}/users"), "users", 1).await;
        let pairs: Vec<(String, String)> = users
            .iter()
            .map(|u| {
                (
                    u["email"].as_str().unwrap().to_owned(),
                    u["org_code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected = vec![
            (ADA.to_owned(), "org_acme".to_owned()),
            (ADA.to_owned(), "org_globex".to_owned()),
            ("bob@example.com".to_owned(), "org_acme".to_owned()),
        ];
        expected.sort_by_key(|(email, org)| {
            let id = users.iter().find(|u| u["email"] == email.as_str()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            (id, org.clone())
        });
        assert_eq!(pairs, expected);
        let ada = users.iter().find(|u| u["email"] == ADA).unwrap();
        assert_eq!(ada["full_name"], "Ada Lovelace");
        assert_eq!(ada["first_name"], "Ada");
        assert_eq!(ada["last_name"], "Lovelace");
        // The same pages at another size.
        let again = all_pages(&admin, &format!("/roles/{member}/users"), "users", 2).await;
        assert_eq!(again, users);
        expect(
            &admin
                .get("/roles/role_000000000000000000000000/users")
                .await,
            404,
            "ROLE_NOT_FOUND",
        );
        expect(
            &admin
                .get(&format!("/roles/{member}/users?next_token=AAAA"))
                .await,
            400,
            "INVALID_NEXT_TOKEN",
        );
        // A role nobody has.
        let answer = admin
            .post("/roles", json!({"name": "Nobody", "key": "nobody"}))
            .await;
        let nobody = answer.body["role"]["id"].as_str().unwrap();
        let answer = admin.get(&format!("/roles/{nobody}/users")).await;
        expect(&answer, 200, "");
        assert_eq!(answer.body["users"], json!([]));
        assert!(answer.body.get("next_token").is_none());
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn scopes_are_checked() {
    on_both(|db| async move {
        let admin = start(db).await;
        let token = admin
            .issuer
            .management_token(ADMIN_ID, ADMIN_SECRET, Some("read:roles read:permissions"))
            .await
            .unwrap();
        let member = role_id(&admin, "member").await;
        let read = admin.call_with(&token, "GET", "/roles", None).await;
        expect(&read, 200, "");
        for (method, path, body, scope) in [
            (
                "POST",
                "/roles".to_owned(),
                Some(json!({"name": "X", "key": "x"})),
                "create:roles",
            ),
            (
                "PATCH",
                format!("/roles/{member}"),
                Some(json!({"name": "X"})),
                "update:roles",
            ),
            ("DELETE", format!("/roles/{member}"), None, "delete:roles"),
            (
                "GET",
                format!("/roles/{member}/permissions"),
                None,
                "read:role_permissions",
            ),
            (
                "PATCH",
                format!("/roles/{member}/permissions"),
                Some(json!({"permissions": []})),
                "update:role_permissions",
            ),
            (
                "DELETE",
                format!("/roles/{member}/permissions/perm_x"),
                None,
                "delete:role_permissions",
            ),
            (
                "POST",
                "/permissions".to_owned(),
                Some(json!({"name": "X", "key": "x"})),
                "create:permissions",
            ),
            (
                "PATCH",
                "/permissions/perm_x".to_owned(),
                Some(json!({})),
                "update:permissions",
            ),
            (
                "DELETE",
                "/permissions/perm_x".to_owned(),
                None,
                "delete:permissions",
            ),
        ] {
            let answer = admin.call_with(&token, method, &path, body).await;
            assert_eq!(answer.status, 403, "{method} {path}: {answer:?}");
            let challenge = answer.headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains(scope), "{method} {path}: {challenge}");
        }
        let none = admin.call_with("not-a-token", "GET", "/roles", None).await;
        assert_eq!(none.status, 403);
        // Nothing changed.
        assert_eq!(
            admin.get(&format!("/roles/{member}")).await.body["role"]["name"],
            "Member"
        );
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn racing_key_claims_are_conflicts() {
    on_both(|db| async move {
        let admin = start(db).await;
        // Eight creations of one key at once: one is created, the others are 409s, never 500s.
        for (path, conflict) in [
            ("/roles", "ROLE_ALREADY_EXISTS"),
            ("/permissions", "PERMISSION_ALREADY_EXISTS"),
        ] {
            let calls = (0..8)
                .map(|i| admin.post(path, json!({"name": format!("N{i}"), "key": "contested"})));
            let answers = futures_util::future::join_all(calls).await;
            let created = answers.iter().filter(|a| a.status == 201).count();
            assert_eq!(created, 1, "{answers:?}");
            for answer in answers.iter().filter(|a| a.status != 201) {
                expect(answer, 409, conflict);
            }
        }
        // Eight roles renamed to one new key at once: one wins, the others are 409s.
        let mut ids = Vec::new();
        for i in 0..8 {
            let answer = admin
                .post("/roles", json!({"name": "R", "key": format!("racer{i}")}))
                .await;
            ids.push(answer.body["role"]["id"].as_str().unwrap().to_owned());
        }
        let paths: Vec<String> = ids.iter().map(|id| format!("/roles/{id}")).collect();
        let calls = paths
            .iter()
            .map(|path| admin.patch(path, json!({"key": "winner"})));
        let answers = futures_util::future::join_all(calls).await;
        assert_eq!(
            answers.iter().filter(|a| a.status == 201).count(),
            1,
            "{answers:?}"
        );
        for answer in answers.iter().filter(|a| a.status != 201) {
            expect(answer, 409, "ROLE_ALREADY_EXISTS");
        }
        let roles = all_pages(&admin, "/roles", "roles", 500).await;
        assert_eq!(roles.iter().filter(|r| r["key"] == "winner").count(), 1);
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_these_operations() {
    let admin = start(TestDb::sqlite()).await;
    let doc: Value = admin
        .http
        .get(format!("{}/api/v1/openapi.json", admin.issuer.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Kinde's operationIds (kinde-management-api.tsv), plus getFeatureFlags.
    for (method, path, operation) in [
        ("get", "/api/v1/roles", "getRoles"),
        ("post", "/api/v1/roles", "createRole"),
        ("get", "/api/v1/roles/{role_id}", "getRole"),
        ("patch", "/api/v1/roles/{role_id}", "updateRoles"),
        ("delete", "/api/v1/roles/{role_id}", "deleteRole"),
        (
            "get",
            "/api/v1/roles/{role_id}/permissions",
            "getRolePermissions",
        ),
        (
            "patch",
            "/api/v1/roles/{role_id}/permissions",
            "updateRolePermissions",
        ),
        (
            "delete",
            "/api/v1/roles/{role_id}/permissions/{permission_id}",
            "removeRolePermission",
        ),
        ("get", "/api/v1/roles/{role_id}/users", "getRoleUsers"),
        ("get", "/api/v1/permissions", "getPermissions"),
        ("post", "/api/v1/permissions", "createPermission"),
        (
            "patch",
            "/api/v1/permissions/{permission_id}",
            "updatePermissions",
        ),
        (
            "delete",
            "/api/v1/permissions/{permission_id}",
            "deletePermission",
        ),
        ("get", "/api/v1/feature_flags", "getFeatureFlags"),
        ("post", "/api/v1/feature_flags", "createFeatureFlag"),
        (
            "put",
            "/api/v1/feature_flags/{feature_flag_key}",
            "updateFeatureFlag",
        ),
        (
            "delete",
            "/api/v1/feature_flags/{feature_flag_key}",
            "deleteFeatureFlag",
        ),
        (
            "get",
            "/api/v1/environment/feature_flags",
            "getEnvironementFeatureFlags",
        ),
        (
            "delete",
            "/api/v1/environment/feature_flags",
            "deleteEnvironementFeatureFlagOverrides",
        ),
        (
            "patch",
            "/api/v1/environment/feature_flags/{feature_flag_key}",
            "updateEnvironementFeatureFlagOverride",
        ),
        (
            "delete",
            "/api/v1/environment/feature_flags/{feature_flag_key}",
            "deleteEnvironementFeatureFlagOverride",
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["operationId"], operation, "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        for status in ["400", "403"] {
            assert!(responses.contains_key(status), "{operation}: no {status}");
        }
        for (status, response) in responses {
            assert!(
                response["content"]["application/json"]["schema"].is_object(),
                "{operation} {status}: no JSON schema"
            );
        }
        assert!(op["security"][0]["bearer"][0].is_string(), "{operation}");
    }
    admin.finish().await;
}

#[tokio::test]
async fn roles_permissions_and_role_permissions_sort_in_kindes_orders() {
    on_both(|db| async move {
        let admin = start(db).await;
        // Tied names are ordered by id; lower-case ASCII names order alike everywhere.
        for (name, key) in [
            ("viewer", "viewer"),
            ("editor", "editor"),
            ("owner", "owner"),
            ("editor", "editor2"),
            ("auditor", "auditor"),
        ] {
            expect(
                &admin
                    .post("/roles", json!({"name": name, "key": key}))
                    .await,
                201,
                "",
            );
            expect(
                &admin
                    .post(
                        "/permissions",
                        json!({"name": name, "key": format!("{key}:x")}),
                    )
                    .await,
                201,
                "",
            );
        }
        let role = role_id(&admin, "owner").await;
        let every: Vec<Value> = all_pages(&admin, "/permissions", "permissions", 500).await;
        let patch: Vec<Value> = every.iter().map(|p| json!({"id": p["id"]})).collect();
        expect(
            &admin
                .patch(
                    &format!("/roles/{role}/permissions"),
                    json!({"permissions": patch}),
                )
                .await,
            200,
            "",
        );
        for (path, field) in [
            ("/roles".to_owned(), "roles"),
            ("/permissions".to_owned(), "permissions"),
            (format!("/roles/{role}/permissions"), "permissions"),
        ] {
            let everything = all_pages(&admin, &path, field, 500).await;
            for sort in ["name_asc", "name_desc", "id_asc", "id_desc"] {
                let mut expected: Vec<(String, String)> = everything
                    .iter()
                    .map(|i| {
                        let id = i["id"].as_str().unwrap().to_owned();
                        let by = if sort.starts_with("name") {
                            i["name"].as_str().unwrap().to_owned()
                        } else {
                            id.clone()
                        };
                        (by, id)
                    })
                    .collect();
                expected.sort();
                if sort.ends_with("desc") {
                    expected.reverse();
                }
                let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
                for page_size in [1, 2, 3] {
                    let sorted = format!("{path}?sort={sort}");
                    let got = ids(&all_pages(&admin, &sorted, field, page_size).await);
                    assert_eq!(got, expected, "{sorted} by {page_size}");
                }
            }
            // A token names its order.
            let first = admin
                .get(&format!("{path}?sort=name_desc&page_size=1"))
                .await;
            let token = first.body["next_token"].as_str().unwrap().to_owned();
            for other in ["sort=name_asc&", "sort=id_desc&", ""] {
                expect(
                    &admin
                        .get(&format!("{path}?{other}next_token={token}"))
                        .await,
                    400,
                    "INVALID_NEXT_TOKEN",
                );
            }
        }
        admin.finish().await;
    })
    .await;
}
