//! The management API's feature flags (`/feature_flags`, `/feature_flags/{key}`) and the
//! environment's overrides (`/environment/feature_flags`) on a real server, on SQLite and
//! PostgreSQL: every operation, its 400/404/409 answers, pagination, the deletion of overrides
//! when a flag changes type, and that an environment override shows up in the next token.

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

fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .web_app(WEB, WEB_SECRET, &[CALLBACK])
        .organization("org_acme", "Acme")
        .user(
            TestUser::new(ADA)
                .password(ADA_PASSWORD)
                .member_of("org_acme", &[]),
        )
        .feature_flag(TestFlag::new("theme", "blue"))
        .feature_flag(TestFlag::new("analytics", false).org("org_acme", true))
        .feature_flag(TestFlag::new("limit", 5).environment(7).org("org_acme", 9))
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

/// The environment's flags: `{key: {type, value}}`.
async fn environment(admin: &Admin) -> Value {
    let answer = admin.get("/environment/feature_flags").await;
    expect(&answer, 200, "");
    answer.body["feature_flags"].clone()
}

/// Ada's flags in her next access token (signed into org_acme).
async fn ada_flags(admin: &Admin) -> Value {
    let tokens = admin
        .issuer
        .user_tokens_with(
            WEB,
            ADA,
            ADA_PASSWORD,
            &TokenRequest::new().org_code("org_acme"),
        )
        .await
        .unwrap();
    jwt_parts(&tokens.access_token).1["feature_flags"].clone()
}

/// Every flag definition, page by page.
async fn definitions(admin: &Admin, page_size: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("/feature_flags?page_size={page_size}");
        if let Some(t) = &token {
            url.push_str(&format!("&next_token={t}"));
        }
        let answer = admin.get(&url).await;
        expect(&answer, 200, "");
        let page = answer.body["feature_flags"].as_array().unwrap();
        items.extend(page.iter().cloned());
        match answer.body["next_token"].as_str() {
            Some(t) => {
                assert_eq!(page.len(), page_size as usize);
                token = Some(t.to_owned());
            }
            None => break,
        }
    }
    items
}

#[tokio::test]
async fn flags_crud_and_pagination() {
    on_both(|db| async move {
        let admin = start(db).await;
        let answer = admin
            .post(
                "/feature_flags",
                json!({"name": "Dark mode", "description": "Darker", "key": "dark_mode",
                       "type": "bool", "allow_override_level": "usr", "default_value": "true"}),
            )
            .await;
        expect(&answer, 201, "");
        let defs = definitions(&admin, 500).await;
        let dark = defs.iter().find(|f| f["key"] == "dark_mode").unwrap();
        assert_eq!(
            *dark,
            json!({"key": "dark_mode", "name": "Dark mode", "description": "Darker",
                   "type": "bool", "allow_override_level": "usr", "default_value": "true"})
        );
        assert_eq!(
            environment(&admin).await["dark_mode"],
            json!({"type": "bool", "value": "true"})
        );

        // Conflicts and bad bodies write nothing.
        let flag = |key: &str, kind: &str, default: &str| {
            json!({"name": "F", "key": key, "type": kind, "default_value": default})
        };
        expect(
            &admin
                .post("/feature_flags", flag("dark_mode", "str", "x"))
                .await,
            409,
            "FEATURE_FLAG_ALREADY_EXISTS",
        );
        let mut unknown_field = flag("f1", "str", "x");
        unknown_field["value"] = json!("y");
        let mut bad_level = flag("f1", "str", "x");
        bad_level["allow_override_level"] = json!("team");
        for (body, code) in [
            (flag("Upper", "str", "x"), "INVALID_KEY"),
            (flag("has-dash", "str", "x"), "INVALID_KEY"),
            (flag("", "str", "x"), "INVALID_KEY"),
            (flag(&"k".repeat(129), "str", "x"), "INVALID_KEY"),
            (flag("f1", "string", "x"), "INVALID_TYPE"),
            (flag("f1", "int", "five"), "INVALID_VALUE"),
            (flag("f1", "int", "1.5"), "INVALID_VALUE"),
            (flag("f1", "bool", "yes"), "INVALID_VALUE"),
            (flag("f1", "str", &"x".repeat(1001)), "INVALID_VALUE"),
            (flag("f1", "str", "nul\u{0}"), "INVALID_VALUE"),
            (bad_level, "INVALID_OVERRIDE_LEVEL"),
            (unknown_field, "INVALID_BODY"),
            (json!({"name": "F", "key": "f1", "type": "str"}), "INVALID_BODY"),
        ] {
            expect(&admin.post("/feature_flags", body).await, 400, code);
        }
        assert_eq!(definitions(&admin, 500).await.len(), 4);

        // Pagination over several pages, ordered by key.
        for i in 0..10 {
            expect(
                &admin
                    .post("/feature_flags", flag(&format!("f_{i:02}"), "int", &i.to_string()))
                    .await,
                201,
                "",
            );
        }
        let all: Vec<String> = definitions(&admin, 500)
            .await
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(all.len(), 14);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        let paged: Vec<String> = definitions(&admin, 4)
            .await
            .iter()
            .map(|f| f["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(paged, all);
        for query in ["page_size=0", "next_token=forged", "sort=key"] {
            let answer = admin.get(&format!("/feature_flags?{query}")).await;
            assert_eq!(answer.status, 400, "{query}: {answer:?}");
        }

        // PUT replaces the definition.
        let answer = admin
            .put(
                "/feature_flags/dark_mode?name=Night&type=bool&allow_override_level=org\
                 &default_value=false",
                Value::Null,
            )
            .await;
        expect(&answer, 200, "");
        let defs = definitions(&admin, 500).await;
        let dark = defs.iter().find(|f| f["key"] == "dark_mode").unwrap();
        assert_eq!(
            *dark,
            json!({"key": "dark_mode", "name": "Night", "description": null,
                   "type": "bool", "allow_override_level": "org", "default_value": "false"})
        );
        let put = "/feature_flags/dark_mode?name=N&type=bool&allow_override_level=org";
        for (path, code) in [
            (format!("{put}&default_value=maybe"), "INVALID_VALUE"),
            (format!("{put}&default_value=true&colour=red"), "INVALID_QUERY"),
            (put.to_owned(), "INVALID_QUERY"),
            (
                "/feature_flags/dark_mode?name=N&type=float&allow_override_level=org&default_value=1"
                    .to_owned(),
                "INVALID_TYPE",
            ),
            (
                "/feature_flags/dark_mode?name=N&type=bool&allow_override_level=all&default_value=true"
                    .to_owned(),
                "INVALID_OVERRIDE_LEVEL",
            ),
        ] {
            expect(&admin.put(&path, Value::Null).await, 400, code);
        }
        for key in ["nope", "a%20b"] {
            let path = format!(
                "/feature_flags/{key}?name=N&type=bool&allow_override_level=org&default_value=true"
            );
            expect(&admin.put(&path, Value::Null).await, 404, "FEATURE_FLAG_NOT_FOUND");
            expect(
                &admin.delete(&format!("/feature_flags/{key}")).await,
                404,
                "FEATURE_FLAG_NOT_FOUND",
            );
        }
        let defs = definitions(&admin, 500).await;
        assert_eq!(
            defs.iter().find(|f| f["key"] == "dark_mode").unwrap()["name"],
            "Night"
        );

        // DELETE removes it and its overrides.
        expect(
            &admin
                .patch("/environment/feature_flags/dark_mode", json!({"value": "true"}))
                .await,
            200,
            "",
        );
        expect(&admin.delete("/feature_flags/dark_mode").await, 200, "");
        expect(
            &admin.delete("/feature_flags/dark_mode").await,
            404,
            "FEATURE_FLAG_NOT_FOUND",
        );
        assert!(environment(&admin).await.get("dark_mode").is_none());
        assert!(ada_flags(&admin).await.get("dark_mode").is_none());
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn environment_overrides_reach_tokens() {
    on_both(|db| async move {
        let admin = start(db).await;
        assert_eq!(
            environment(&admin).await,
            json!({
                "theme": {"type": "str", "value": "blue"},
                "analytics": {"type": "bool", "value": "false"},
                "limit": {"type": "int", "value": "7"},
            })
        );
        let flags = ada_flags(&admin).await;
        assert_eq!(flags["theme"], json!({"t": "s", "v": "blue"}));

        // Override theme for the environment: the next token carries it.
        expect(
            &admin
                .patch("/environment/feature_flags/theme", json!({"value": "pink"}))
                .await,
            200,
            "",
        );
        assert_eq!(
            environment(&admin).await["theme"],
            json!({"type": "str", "value": "pink"})
        );
        assert_eq!(
            ada_flags(&admin).await["theme"],
            json!({"t": "s", "v": "pink"})
        );
        // An organization override still wins over the environment's.
        expect(
            &admin
                .patch(
                    "/environment/feature_flags/analytics",
                    json!({"value": "false"}),
                )
                .await,
            200,
            "",
        );
        assert_eq!(
            ada_flags(&admin).await["analytics"],
            json!({"t": "b", "v": true})
        );

        // Bad values and keys change nothing.
        for (key, body, status, code) in [
            ("limit", json!({"value": "seven"}), 400, "INVALID_VALUE"),
            ("analytics", json!({"value": "TRUE"}), 400, "INVALID_VALUE"),
            ("limit", json!({"value": 8}), 400, "INVALID_BODY"),
            (
                "limit",
                json!({"value": "8", "type": "int"}),
                400,
                "INVALID_BODY",
            ),
            (
                "theme",
                json!({"value": "x".repeat(1001)}),
                400,
                "INVALID_VALUE",
            ),
            (
                "theme",
                json!({"value": "nul\u{0}byte"}),
                400,
                "INVALID_VALUE",
            ),
            ("nope", json!({"value": "1"}), 404, "FEATURE_FLAG_NOT_FOUND"),
            (
                "a%27b",
                json!({"value": "1"}),
                404,
                "FEATURE_FLAG_NOT_FOUND",
            ),
        ] {
            let answer = admin
                .patch(&format!("/environment/feature_flags/{key}"), body)
                .await;
            expect(&answer, status, code);
        }
        assert_eq!(environment(&admin).await["limit"]["value"], "7");

        // Remove one override, then all.
        expect(
            &admin.delete("/environment/feature_flags/theme").await,
            200,
            "",
        );
        expect(
            &admin.delete("/environment/feature_flags/theme").await,
            200,
            "",
        );
        expect(
            &admin.delete("/environment/feature_flags/nope").await,
            404,
            "FEATURE_FLAG_NOT_FOUND",
        );
        assert_eq!(environment(&admin).await["theme"]["value"], "blue");
        assert_eq!(
            ada_flags(&admin).await["theme"],
            json!({"t": "s", "v": "blue"})
        );
        expect(&admin.delete("/environment/feature_flags").await, 200, "");
        assert_eq!(environment(&admin).await["limit"]["value"], "5");
        // The organization's overrides stay.
        assert_eq!(ada_flags(&admin).await["limit"], json!({"t": "i", "v": 9}));
        admin.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_type_change_deletes_the_overrides() {
    on_both(|db| async move {
        let admin = start(db).await;
        assert_eq!(ada_flags(&admin).await["limit"], json!({"t": "i", "v": 9}));
        // The same type keeps the overrides.
        let same = "/feature_flags/limit?name=Limit&description=Max&type=int\
                    &allow_override_level=usr&default_value=6";
        expect(&admin.put(same, Value::Null).await, 200, "");
        assert_eq!(environment(&admin).await["limit"]["value"], "7");
        assert_eq!(ada_flags(&admin).await["limit"], json!({"t": "i", "v": 9}));
        // Another type deletes them (environment and organization alike).
        let other = "/feature_flags/limit?name=Limit&type=str&allow_override_level=usr\
                     &default_value=many";
        expect(&admin.put(other, Value::Null).await, 200, "");
        assert_eq!(
            environment(&admin).await["limit"],
            json!({"type": "str", "value": "many"})
        );
        assert_eq!(
            ada_flags(&admin).await["limit"],
            json!({"t": "s", "v": "many"})
        );
        let org = admin.get("/organizations/org_acme/feature_flags").await;
        expect(&org, 200, "");
        assert_eq!(
            org.body["feature_flags"]["limit"]["value"], "many",
            "{org:?}"
        );
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
            .management_token(
                ADMIN_ID,
                ADMIN_SECRET,
                Some("read:environment_feature_flags"),
            )
            .await
            .unwrap();
        expect(
            &admin
                .call_with(&token, "GET", "/environment/feature_flags", None)
                .await,
            200,
            "",
        );
        expect(
            &admin.call_with(&token, "GET", "/feature_flags", None).await,
            200,
            "",
        );
        let put = "/feature_flags/theme?name=T&type=str&allow_override_level=usr&default_value=x";
        for (method, path, body, scope) in [
            (
                "POST",
                "/feature_flags",
                Some(json!({"name": "F", "key": "f", "type": "str", "default_value": "x"})),
                "create:feature_flags",
            ),
            ("PUT", put, None, "update:feature_flags"),
            (
                "DELETE",
                "/feature_flags/theme",
                None,
                "delete:feature_flags",
            ),
            (
                "PATCH",
                "/environment/feature_flags/theme",
                Some(json!({"value": "x"})),
                "update:environment_feature_flags",
            ),
            (
                "DELETE",
                "/environment/feature_flags/theme",
                None,
                "delete:environment_feature_flags",
            ),
            (
                "DELETE",
                "/environment/feature_flags",
                None,
                "delete:environment_feature_flags",
            ),
        ] {
            let answer = admin.call_with(&token, method, path, body).await;
            assert_eq!(answer.status, 403, "{method} {path}: {answer:?}");
            let challenge = answer.headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains(scope), "{method} {path}: {challenge}");
        }
        let narrow = admin
            .issuer
            .management_token(ADMIN_ID, ADMIN_SECRET, Some("create:feature_flags"))
            .await
            .unwrap();
        let answer = admin
            .call_with(&narrow, "GET", "/environment/feature_flags", None)
            .await;
        assert_eq!(answer.status, 403);
        // Nothing changed.
        let keys: BTreeSet<String> = environment(&admin)
            .await
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["analytics".into(), "limit".into(), "theme".into()])
        );
        assert_eq!(environment(&admin).await["theme"]["value"], "blue");
        admin.finish().await;
    })
    .await;
}

/// `allow_override_level` is enforced: `env` allows no organization or user override, `org`
/// organization overrides only, `usr` both; a narrowed level removes the overrides it no
/// longer allows.
#[tokio::test]
async fn allow_override_level_is_enforced() {
    on_both(|db| async move {
        let admin = start(db).await;
        let ada = admin.get(&format!("/users?email={ADA}")).await;
        let ada = ada.body["users"][0]["id"].as_str().unwrap().to_owned();
        for level in ["env", "org", "usr"] {
            let key = format!("f_{level}");
            expect(
                &admin
                    .post(
                        "/feature_flags",
                        json!({"name": key, "key": key, "type": "int",
                               "allow_override_level": level, "default_value": "1"}),
                    )
                    .await,
                201,
                "",
            );
            // The environment may always override.
            expect(
                &admin
                    .patch(
                        &format!("/environment/feature_flags/{key}"),
                        json!({"value": "2"}),
                    )
                    .await,
                200,
                "",
            );
            let org = admin
                .patch(
                    &format!("/organizations/org_acme/feature_flags/{key}?value=3"),
                    Value::Null,
                )
                .await;
            let user = admin
                .patch(
                    &format!("/users/{ada}/feature_flags/{key}?value=4"),
                    Value::Null,
                )
                .await;
            let created = admin
                .post(
                    "/organization",
                    json!({"name": "New", "feature_flags": {key.clone(): "5"}}),
                )
                .await;
            let (org_ok, user_ok) = match level {
                "env" => (false, false),
                "org" => (true, false),
                _ => (true, true),
            };
            for (answer, ok) in [(&org, org_ok), (&created, org_ok), (&user, user_ok)] {
                if ok {
                    expect(answer, 200, "");
                } else {
                    expect(answer, 400, "FEATURE_FLAG_OVERRIDE_NOT_ALLOWED");
                }
            }
            let expected = if user_ok {
                4
            } else if org_ok {
                3
            } else {
                2
            };
            assert_eq!(
                ada_flags(&admin).await[&key],
                json!({"t": "i", "v": expected}),
                "{level}"
            );
        }
        // Unknown flags and users are still 404s, bad values 400s, whatever the level.
        expect(
            &admin
                .patch(
                    &format!("/users/{ada}/feature_flags/nope?value=1"),
                    Value::Null,
                )
                .await,
            404,
            "FEATURE_FLAG_NOT_FOUND",
        );
        expect(
            &admin
                .patch("/users/kp_nobody/feature_flags/f_usr?value=1", Value::Null)
                .await,
            404,
            "USER_NOT_FOUND",
        );
        expect(
            &admin
                .patch(
                    &format!("/users/{ada}/feature_flags/f_usr?value=x"),
                    Value::Null,
                )
                .await,
            400,
            "INVALID_VALUE",
        );
        // Narrowing the level removes the overrides below it: usr -> org drops Ada's.
        expect(
            &admin
                .put(
                    "/feature_flags/f_usr?name=F&type=int&allow_override_level=org&default_value=1",
                    Value::Null,
                )
                .await,
            200,
            "",
        );
        assert_eq!(ada_flags(&admin).await["f_usr"], json!({"t": "i", "v": 3}));
        expect(
            &admin
                .put(
                    "/feature_flags/f_usr?name=F&type=int&allow_override_level=env&default_value=1",
                    Value::Null,
                )
                .await,
            200,
            "",
        );
        assert_eq!(ada_flags(&admin).await["f_usr"], json!({"t": "i", "v": 2}));
        admin.finish().await;
    })
    .await;
}
