//! The shared behaviour suite (`portcullis-web-tests`: bearer tokens, docs/security.md cases
//! 38–42; browser sign-in and sessions, cases 27, 33, 35, 37, 44–47) run against axum apps.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::serve;
use portcullis_axum::tower_sessions::{Session, SessionStore};
use portcullis_axum::{
    Auth, Authenticated, MaybeAuthenticated, MemoryStore, RequireFeatureFlag, RequireOrganization,
    RequirePermission, RequireRole, session_layer,
};
use portcullis_web_tests::{AuthSpec, Framework, Store, build_auth, redis_url};
use serde_json::{Value, json};

portcullis_axum::permission!(ReadTodos = "read:todos");
portcullis_axum::permission!(CreateTodos = "create:todos");
portcullis_axum::role!(Admin = "admin");
portcullis_axum::organization!(Acme = "org_acme");
portcullis_axum::feature_flag!(Beta = "beta");

/// The axum apps of the suite.
struct Axum;

impl Framework for Axum {
    const NAME: &'static str = "axum";
    const SESSION_COOKIE: &'static str = portcullis_axum::session::SESSION_COOKIE;
    const OPTIONAL_REFUSES_INVALID_TOKENS: bool = true;
    const HUGE_HEADER_STATUSES: &'static [u16] = &[400];
    const RESENDS_SESSION_COOKIE: bool = false;

    async fn serve_bearer(spec: AuthSpec) -> String {
        serve(bearer_app(build_auth!(Auth, spec))).await
    }

    async fn serve_sessions(spec: AuthSpec, store: Store) -> String {
        let auth = build_auth!(Auth, spec);
        match store {
            Store::Memory => serve(session_app(auth, MemoryStore::default())).await,
            Store::Redis => serve(session_app(auth, redis_store().await)).await,
            Store::Cookie => panic!("tower-sessions has no cookie store"),
        }
    }
}

portcullis_web_tests::behaviour_suite!(crate::Axum);

fn sub(claims: &portcullis::Claims) -> axum::Json<Value> {
    axum::Json(json!({ "sub": claims.subject() }))
}

/// The bearer app of [`Framework::serve_bearer`]: extractors, typed guards, `route_layer`
/// guards.
fn bearer_app(auth: Auth) -> Router {
    Router::new()
        .route("/protected", get(|u: Authenticated| async move { sub(&u) }))
        .route(
            "/maybe",
            get(|MaybeAuthenticated(u): MaybeAuthenticated| async move {
                axum::Json(
                    json!({ "sub": u.as_ref().and_then(|u| u.subject().map(str::to_owned)) }),
                )
            }),
        )
        .route(
            "/optional",
            get(|u: Option<Authenticated>| async move {
                axum::Json(json!({ "signed_in": u.is_some() }))
            }),
        )
        .route(
            "/x/permission",
            get(|u: RequirePermission<CreateTodos>| async move { sub(&u) }),
        )
        .route(
            "/x/read",
            get(|u: RequirePermission<ReadTodos>| async move { sub(&u) }),
        )
        .route(
            "/x/role",
            get(|u: RequireRole<Admin>| async move { sub(&u) }),
        )
        .route(
            "/x/two",
            get(
                |u: Authenticated, r: RequirePermission<ReadTodos>| async move {
                    assert_eq!(u.subject(), r.subject());
                    sub(&u)
                },
            ),
        )
        .route(
            "/x/org",
            get(|u: RequireOrganization<Acme>| async move { sub(&u) }),
        )
        .route(
            "/x/flag",
            get(|u: RequireFeatureFlag<Beta>| async move { sub(&u) }),
        )
        .route(
            "/layer/any",
            get(|u: Authenticated| async move { sub(&u) })
                .route_layer(auth.require_authenticated()),
        )
        .route(
            "/layer/permission",
            get(|u: Authenticated| async move { sub(&u) })
                .route_layer(auth.require_permission("create:todos")),
        )
        .route(
            "/layer/role",
            get(|| async { "ok" }).route_layer(auth.require_role("admin")),
        )
        .route(
            "/layer/org",
            get(|| async { "ok" }).route_layer(auth.require_organization("org_acme")),
        )
        .route(
            "/layer/flag",
            get(|| async { "ok" }).route_layer(auth.require_feature_flag("beta")),
        )
        .with_state(auth)
}

/// The browser app of [`Framework::serve_sessions`].
fn session_app<S: SessionStore + Clone>(auth: Auth, store: S) -> Router {
    Router::new()
        .route(
            "/me",
            get(|u: Authenticated| async move {
                axum::Json(json!({
                    "sub": u.subject(),
                    "via": format!("{:?}", u.via()),
                    "email": u.tokens().and_then(|t| t.id_token_claims.as_ref()).and_then(|c| c.claim("email")),
                }))
            }),
        )
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .route(
            "/guarded",
            get(|| async { "guarded" }).route_layer(auth.require_role("admin")),
        )
        .route(
            "/test/refresh-token",
            get(|s: Session| async move {
                let user: Option<Value> = s.get("portcullis.user").await.unwrap();
                user.and_then(|u| u["tokens"]["refresh_token"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
        )
        .route(
            "/test/visit",
            get(|s: Session| async move {
                s.insert("visited", true).await.unwrap();
                "visited"
            }),
        )
        .merge(auth.router())
        .layer(axum::middleware::from_fn(slow_when_asked))
        .layer(session_layer(store))
        .with_state(auth)
}

/// Holds an answer for 100 ms before the session layer saves the session, when the request
/// asks (`x-test-slow`): concurrent requests then all load the session before any saves it,
/// as they do with a store across a network.
async fn slow_when_asked(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slow = request.headers().contains_key("x-test-slow");
    let response = next.run(request).await;
    if slow {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    response
}

/// A tower-sessions store on the real Redis at `PORTCULLIS_TEST_REDIS_URL`.
async fn redis_store()
-> tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Pool> {
    use tower_sessions_redis_store::RedisStore;
    use tower_sessions_redis_store::fred::prelude::{ClientLike, Config as RedisConfig, Pool};

    let url = redis_url().expect("only run when Redis is configured");
    let pool = Pool::new(RedisConfig::from_url(&url).unwrap(), None, None, None, 2).unwrap();
    let _connection = pool.connect();
    pool.wait_for_connect().await.expect("Redis is reachable");
    RedisStore::new(pool)
}
