//! One storage conformance suite, run unchanged on SQLite and on PostgreSQL
//! (`PORTCULLIS_TEST_POSTGRES_URL`; each test in its own schema).

mod common;

use std::time::Duration;

use common::TestDb;
use portcullis_server::domain::ClientId;
use portcullis_server::ids::hash_secret;
use portcullis_server::keys::{KeyManager, MasterKey, SigningAlgorithm};
use portcullis_server::seed::Seed;
use portcullis_server::store::{ApplicationRecord, KeyRecord, Store};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite();
                    super::$name(&db.url).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db.url).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent_and_concurrent_safe,
    keys_round_trip_retire_and_expire,
    duplicate_kid_is_refused,
    apis_are_upserted_by_audience,
    management_api_registration_is_concurrent_safe,
    applications_and_grants,
    foreign_keys_cascade,
    seed_is_idempotent,
    key_manager_creates_rotates_and_seals,
    ensure_key_creates_no_key_while_an_unretired_one_waits,
    effective_claims_follow_kinde_rules,
);

async fn store(url: &str) -> Store {
    let s = Store::connect(url).await.expect("connect");
    s.migrate().await.expect("migrate");
    s
}

async fn migrations_are_idempotent_and_concurrent_safe(url: &str) {
    let s = store(url).await;
    s.migrate().await.unwrap();
    if url.starts_with("postgres") {
        // Several instances starting at once on one database.
        let (a, b, c) = tokio::join!(
            async { Store::connect(url).await.unwrap().migrate().await },
            async { Store::connect(url).await.unwrap().migrate().await },
            async { Store::connect(url).await.unwrap().migrate().await },
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
    }
    s.ping().await.unwrap();
}

fn key(kid: &str, created_at: i64) -> KeyRecord {
    KeyRecord {
        kid: kid.into(),
        alg: "RS256".into(),
        private_key: "cHJpdmF0ZQ==".into(),
        sealed: false,
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at,
        active_from: created_at,
        retired_at: None,
        publish_until: None,
    }
}

async fn keys_round_trip_retire_and_expire(url: &str) {
    let s = store(url).await;
    s.insert_key(&key("k1", 100)).await.unwrap();
    s.insert_key(&key("k2", 200)).await.unwrap();
    let keys = s.keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    assert_eq!(keys[0].public_jwk, r#"{"kid":"k1"}"#);
    assert!(!keys[0].sealed);
    assert_eq!(s.retire_keys_except("k2", 200, 500).await.unwrap(), 1);
    let keys = s.keys().await.unwrap();
    assert_eq!(keys[0].retired_at, Some(200));
    assert_eq!(keys[0].publish_until, Some(500));
    assert_eq!(keys[1].retired_at, None);
    assert_eq!(s.delete_expired_keys(500).await.unwrap(), 0);
    assert_eq!(s.delete_expired_keys(501).await.unwrap(), 1);
    assert_eq!(s.keys().await.unwrap().len(), 1);
}

async fn duplicate_kid_is_refused(url: &str) {
    let s = store(url).await;
    s.insert_key(&key("same", 1)).await.unwrap();
    assert!(s.insert_key(&key("same", 2)).await.is_err());
}

async fn apis_are_upserted_by_audience(url: &str) {
    let s = store(url).await;
    let id = s.upsert_api("api_1", "Todos", "https://api").await.unwrap();
    assert_eq!(id, "api_1");
    // Same audience again: same row, new name.
    let again = s
        .upsert_api("api_2", "Todos v2", "https://api")
        .await
        .unwrap();
    assert_eq!(again, "api_1");
    let api = s.api_by_audience("https://api").await.unwrap().unwrap();
    assert_eq!(api.name, "Todos v2");
    assert!(s.api_by_audience("https://other").await.unwrap().is_none());
    s.set_api_scopes(&id, &["b".into(), "a".into()])
        .await
        .unwrap();
    assert_eq!(s.api_scopes(&id).await.unwrap(), ["a", "b"]);
    s.set_api_scopes(&id, &["c".into()]).await.unwrap();
    assert_eq!(s.api_scopes(&id).await.unwrap(), ["c"]);
}

async fn management_api_registration_is_concurrent_safe(url: &str) {
    let s = store(url).await;
    let scopes = ["read:users".to_owned(), "create:users".to_owned()];
    // Several instances starting at once on one fresh database (on PostgreSQL the pool's
    // connections run these side by side).
    let (a, b, c, d) = tokio::join!(
        s.register_management_api("https://id.example.com/api", &scopes),
        s.register_management_api("https://id.example.com/api", &scopes),
        s.register_management_api("https://id.example.com/api", &scopes),
        s.register_management_api("https://id.example.com/api", &scopes[..1]),
    );
    for result in [a, b, c, d] {
        result.unwrap();
    }
    let api = s
        .api_by_audience("https://id.example.com/api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(api.id, "api_management");
    // Re-pointed when the issuer changes; scopes follow the last call.
    s.register_management_api("https://id.example.org/api", &scopes)
        .await
        .unwrap();
    let api = s
        .api_by_audience("https://id.example.org/api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(api.id, "api_management");
    assert!(
        s.api_by_audience("https://id.example.com/api")
            .await
            .unwrap()
            .is_none()
    );
    let mut registered = s.api_scopes("api_management").await.unwrap();
    registered.sort();
    assert_eq!(registered, ["create:users", "read:users"]);
    // An audience that another API already has is refused, not taken over.
    s.upsert_api("api_todos", "Todos", "https://todos")
        .await
        .unwrap();
    assert!(
        s.register_management_api("https://todos", &scopes)
            .await
            .is_err()
    );
    assert_eq!(
        s.api_by_audience("https://todos")
            .await
            .unwrap()
            .unwrap()
            .id,
        "api_todos"
    );
}

fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

fn app(client_id: &str) -> ApplicationRecord {
    ApplicationRecord {
        id: format!("app_{client_id}"),
        name: client_id.into(),
        app_type: portcullis_server::domain::AppType::M2m,
        client_id: cid(client_id),
        client_secret_sha256: Some(hash_secret("s")),
        access_token_ttl: Some(600),
        password_grant: false,
    }
}

async fn applications_and_grants(url: &str) {
    let s = store(url).await;
    let api = s.upsert_api("api_1", "Todos", "https://api").await.unwrap();
    let id = s.upsert_application(&app("worker")).await.unwrap();
    let mut changed = app("worker");
    changed.id = "ignored".into();
    changed.access_token_ttl = None;
    changed.password_grant = true;
    assert_eq!(s.upsert_application(&changed).await.unwrap(), id);
    let found = s
        .application_by_client_id(&cid("worker"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.access_token_ttl, None);
    assert!(found.password_grant);
    assert_eq!(found.client_secret_sha256, Some(hash_secret("s")));
    assert!(
        s.application_by_client_id(&cid("nobody"))
            .await
            .unwrap()
            .is_none()
    );
    // Client ids are matched exactly (no case folding, no trimming).
    assert!(
        s.application_by_client_id(&cid("Worker"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.application_by_client_id(&cid("worker "))
            .await
            .unwrap()
            .is_none()
    );

    assert!(s.api_grant(&id, "https://api").await.unwrap().is_none());
    s.grant_api(&id, &api, &["read".into(), "write".into()])
        .await
        .unwrap();
    let grant = s.api_grant(&id, "https://api").await.unwrap().unwrap();
    assert_eq!(grant.scopes, ["read", "write"]);
    assert_eq!(grant.api.audience, "https://api");
    s.grant_api(&id, &api, &[]).await.unwrap();
    assert!(
        s.api_grant(&id, "https://api")
            .await
            .unwrap()
            .unwrap()
            .scopes
            .is_empty()
    );
}

async fn foreign_keys_cascade(url: &str) {
    let s = store(url).await;
    let id = s.upsert_application(&app("worker")).await.unwrap();
    // A grant to an API that does not exist is refused by the database.
    assert!(s.grant_api(&id, "no-such-api", &[]).await.is_err());
}

const SEED: &str = r#"
[[apis]]
name = "Todos"
audience = "https://api.example.com"
scopes = ["read:todos", "create:todos"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "worker-secret-0123456789abcdefghijklmnop"
apis = [{ audience = "https://api.example.com", scopes = ["read:todos"] }]
"#;

async fn seed_is_idempotent(url: &str) {
    let s = store(url).await;
    let seed = Seed::from_toml(SEED).unwrap();
    seed.apply(&s).await.unwrap();
    let first = s
        .application_by_client_id(&cid("worker"))
        .await
        .unwrap()
        .unwrap();
    seed.apply(&s).await.unwrap();
    let second = s
        .application_by_client_id(&cid("worker"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, second);
    let grant = s
        .api_grant(&first.id, "https://api.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.scopes, ["read:todos"]);
    let api = s
        .api_by_audience("https://api.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.api_scopes(&api.id).await.unwrap(),
        ["create:todos", "read:todos"]
    );
}

async fn key_manager_creates_rotates_and_seals(url: &str) {
    let s = store(url).await;
    let mk = MasterKey::generate();
    let keys = KeyManager::new(s.clone(), Some(mk.clone()), SigningAlgorithm::EdDSA);
    let now = 1_800_000_000;
    keys.ensure_key(now).await.unwrap();
    keys.ensure_key(now).await.unwrap();
    let stored = s.keys().await.unwrap();
    assert_eq!(stored.len(), 1, "ensure_key creates one key, once");
    assert!(stored[0].sealed);
    let first = keys.ring(now).await.unwrap().active.kid().to_owned();

    // Another instance with the same master key signs with the same key.
    let other = KeyManager::new(s.clone(), Some(mk), SigningAlgorithm::EdDSA);
    assert_eq!(other.ring(now).await.unwrap().active.kid(), first);
    // Without the master key, or with another, the sealed key cannot be used.
    let none = KeyManager::new(s.clone(), None, SigningAlgorithm::EdDSA);
    assert!(none.ring(now).await.is_err());
    let wrong = KeyManager::new(
        s.clone(),
        Some(MasterKey::generate()),
        SigningAlgorithm::EdDSA,
    );
    assert!(wrong.ring(now).await.is_err());

    // Rotate with a 60 s activation delay and a 1 h overlap.
    let second = keys
        .rotate(now, Duration::from_secs(60), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_ne!(first, second);
    let ring = keys.ring(now).await.unwrap();
    assert_eq!(
        ring.active.kid(),
        first,
        "the new key does not sign before activation"
    );
    assert!(
        ring.jwks_json.contains(&second),
        "but it is published at once"
    );
    let ring = keys.ring(now + 61).await.unwrap();
    assert_eq!(ring.active.kid(), second);
    assert!(
        ring.jwks_json.contains(&first),
        "the old key stays published"
    );
    let ring = keys.ring(now + 60 + 3601).await.unwrap();
    assert!(
        !ring.jwks_json.contains(&first),
        "and is dropped after the overlap"
    );
}

async fn ensure_key_creates_no_key_while_an_unretired_one_waits(url: &str) {
    let s = store(url).await;
    let now = 1_800_000_000;
    // The first key of an instance whose clock is a second ahead: another instance starting
    // now does not add its own.
    let ahead = KeyManager::new(s.clone(), None, SigningAlgorithm::EdDSA);
    ahead.ensure_key(now + 1).await.unwrap();
    let keys = KeyManager::new(s.clone(), None, SigningAlgorithm::EdDSA);
    keys.ensure_key(now).await.unwrap();
    assert_eq!(s.keys().await.unwrap().len(), 1);
    // A rotation with an activation delay: the old key is retired but signs until the new one
    // activates. An instance (re)starting meanwhile adds no key that would sign at once.
    let next = keys
        .rotate(now + 1, Duration::from_secs(60), Duration::from_secs(3600))
        .await
        .unwrap();
    KeyManager::new(s.clone(), None, SigningAlgorithm::EdDSA)
        .ensure_key(now + 2)
        .await
        .unwrap();
    assert_eq!(s.keys().await.unwrap().len(), 2, "no key was added");
    let ring = keys.ring(now + 61).await.unwrap();
    assert_eq!(ring.active.kid(), next, "the delayed key signs once active");
}

async fn effective_claims_follow_kinde_rules(url: &str) {
    use serde_json::json;
    let s = store(url).await;
    let seed = Seed::from_toml(include_str!("../examples/tenant.toml")).unwrap();
    seed.apply(&s).await.unwrap();
    let ada = s.user_by_email("ADA@example.com ").await.unwrap().unwrap();
    assert!(ada.id.starts_with("kp_"));
    assert!(
        ada.password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );
    // Loading the seed again changes nothing, not even the password hash.
    seed.apply(&s).await.unwrap();
    assert_eq!(
        s.user_by_email("ada@example.com").await.unwrap().unwrap(),
        ada
    );
    assert_eq!(
        s.user_org_codes(&ada.id).await.unwrap(),
        ["org_acme", "org_globex"]
    );

    // Acme: admin role, its permissions; flags user > org > env > default.
    let acme = s.effective_claims(&ada.id, Some("org_acme")).await.unwrap();
    assert_eq!(
        acme.roles
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        ["admin"]
    );
    assert_eq!(
        acme.permissions,
        ["create:todos", "delete:todos", "read:todos"]
    );
    assert_eq!(
        acme.feature_flags["theme"].v,
        json!("blue"),
        "user override wins"
    );
    assert_eq!(acme.feature_flags["theme"].t, "s");
    assert_eq!(acme.feature_flags["analytics"].v, json!(false));
    assert_eq!(acme.feature_flags["competitions_limit"].v, json!(5));
    assert_eq!(acme.feature_flags["competitions_limit"].t, "i");

    // Globex: member role plus a direct permission (union, no duplicates).
    let globex = s
        .effective_claims(&ada.id, Some("org_globex"))
        .await
        .unwrap();
    assert_eq!(
        globex
            .roles
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        ["member"]
    );
    assert_eq!(
        globex.permissions,
        ["create:todos", "delete:todos", "read:todos"]
    );
    assert_eq!(
        globex.feature_flags["analytics"].v,
        json!(true),
        "org override"
    );

    let bob = s.user_by_email("bob@example.com").await.unwrap().unwrap();
    let bob_acme = s.effective_claims(&bob.id, Some("org_acme")).await.unwrap();
    assert_eq!(bob_acme.permissions, ["create:todos", "read:todos"]);
    assert_eq!(
        bob_acme.feature_flags["theme"].v,
        json!("pink"),
        "org override"
    );
    // Not a member of Globex: no roles, no permissions; flags still resolve.
    let bob_globex = s
        .effective_claims(&bob.id, Some("org_globex"))
        .await
        .unwrap();
    assert!(bob_globex.roles.is_empty() && bob_globex.permissions.is_empty());
    // Outside any organization: environment override, then default.
    let none = s.effective_claims(&bob.id, None).await.unwrap();
    assert_eq!(none.feature_flags["theme"].v, json!("dark"), "env override");
    assert!(none.permissions.is_empty());

    // Registered URLs are kept exactly as written.
    let web = s
        .application_by_client_id(&cid("demo-web"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(web.app_type, portcullis_server::domain::AppType::Reg);
    assert_eq!(
        s.application_urls(&web.id, "login").await.unwrap(),
        ["http://localhost:3000/callback"]
    );
    assert_eq!(
        s.application_urls(&web.id, "logout").await.unwrap(),
        ["http://localhost:3000/"]
    );
    let spa = s
        .application_by_client_id(&cid("demo-spa"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spa.client_secret_sha256, None, "an SPA is a public client");

    // Mistakes are refused, not stored.
    assert!(
        s.set_flag_override("theme", "usr", &bob.id, "x")
            .await
            .is_ok()
    );
    assert!(
        s.set_flag_override("analytics", "org", "org_acme", "maybe")
            .await
            .is_err()
    );
    assert!(s.set_flag_override("nope", "env", "", "1").await.is_err());
    assert!(
        s.set_membership("org_acme", &bob.id, &["ghost".into()], &[])
            .await
            .is_err()
    );
    assert!(s.upsert_flag("f", "F", "int", "one").await.is_err());
}
