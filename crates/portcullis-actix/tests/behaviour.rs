//! The shared behaviour suite (`portcullis-web-tests`: bearer tokens, docs/security.md cases
//! 38–42; browser sign-in and sessions, cases 27, 33, 35, 37, 44–47) run against actix-web
//! apps; and what only actix-web has (`web::Data<Auth>`, a missing `Auth`, the cookie store).

mod common;

use std::time::Duration;

use actix_session::SessionExt;
use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpResponse, web};
use common::serve;
use portcullis_actix::{
    Auth, Authenticated, MaybeAuthenticated, MemoryStore, RequireFeatureFlag, RequireOrganization,
    RequirePermission, RequireRole, session_middleware,
};
use portcullis_web_tests::{
    ADA, API, AuthSpec, Framework, Store, build_auth, get_with, issuer, redis_url, token,
};
use serde_json::{Value, json};

portcullis_actix::permission!(ReadTodos = "read:todos");
portcullis_actix::permission!(CreateTodos = "create:todos");
portcullis_actix::role!(Admin = "admin");
portcullis_actix::organization!(Acme = "org_acme");
portcullis_actix::feature_flag!(Beta = "beta");

/// The actix-web apps of the suite.
struct Actix;

impl Framework for Actix {
    const NAME: &'static str = "actix-web";
    const SESSION_COOKIE: &'static str = portcullis_actix::session::SESSION_COOKIE;
    const OPTIONAL_REFUSES_INVALID_TOKENS: bool = false;
    const HUGE_HEADER_STATUSES: &'static [u16] = &[431, 400];
    const RESENDS_SESSION_COOKIE: bool = true;

    async fn serve_bearer(spec: AuthSpec) -> String {
        let auth = build_auth!(Auth, spec);
        serve!(move || bearer_app(auth.clone(), false))
    }

    async fn serve_sessions(spec: AuthSpec, store: Store) -> String {
        let auth = build_auth!(Auth, spec);
        match store {
            Store::Memory => {
                let store = MemoryStore::default();
                serve_session_app(auth, move || store.clone())
            }
            Store::Redis => {
                let url = redis_url().expect("only run when Redis is configured");
                let store = RedisSessionStore::builder(url.as_str())
                    .cache_keygen(|key| format!("portcullis-actix-test:{key}"))
                    .build()
                    .await
                    .expect("Redis is reachable");
                serve_session_app(auth, move || store.clone())
            }
            Store::Cookie => serve_session_app(auth, CookieSessionStore::default),
        }
    }
}

portcullis_web_tests::behaviour_suite!(crate::Actix);

fn sub(claims: &portcullis::Claims) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": claims.subject() }))
}

/// The bearer app of [`Framework::serve_bearer`]: extractors at `/…` and `/x/…`, middleware
/// guards at `/layer/…` (a scope with a guard, resources with guards). `Auth` is registered as
/// plain app data, except with `as_data`, as `web::Data<Auth>`.
fn bearer_app(
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

/// The browser app of [`Framework::serve_sessions`], with a session store made by `store` for
/// each worker.
fn serve_session_app<S, F>(auth: Auth, store: F) -> String
where
    S: SessionStore + 'static,
    F: Fn() -> S + Clone + Send + 'static,
{
    let key = Key::generate();
    serve!(move || {
        App::new()
            .app_data(auth.clone())
            .route(
                "/me",
                web::get().to(|u: Authenticated| async move {
                    HttpResponse::Ok().json(json!({
                        "sub": u.subject(),
                        "via": format!("{:?}", u.via()),
                        "email": u.tokens().and_then(|t| t.id_token_claims.as_ref()).and_then(|c| c.claim("email")),
                    }))
                }),
            )
            .route(
                "/admin",
                web::get().to(|_: RequireRole<Admin>| async { "admin" }),
            )
            .service(
                web::scope("/guarded")
                    .wrap(auth.require_role("admin"))
                    .route("", web::get().to(|| async { "guarded" })),
            )
            .route(
                "/test/refresh-token",
                web::get().to(|request: HttpRequest| async move {
                    let user: Option<Value> = request.get_session().get("portcullis.user").unwrap();
                    user.and_then(|u| u["tokens"]["refresh_token"].as_str().map(str::to_owned))
                        .unwrap_or_default()
                }),
            )
            .route(
                "/test/visit",
                web::get().to(|request: HttpRequest| async move {
                    request.get_session().insert("visited", true).unwrap();
                    "visited"
                }),
            )
            .configure(auth.configure())
            // Holds an answer for 100 ms before the session middleware saves the session, when
            // the request asks (`x-test-slow`): concurrent requests then all load the session
            // before any saves it, as they do with a store across a network.
            .wrap_fn(|request, service| {
                let slow = request.headers().contains_key("x-test-slow");
                let answer = actix_web::dev::Service::call(service, request);
                async move {
                    let answer = answer.await;
                    if slow {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    answer
                }
            })
            .wrap(session_middleware(store(), key.clone()))
    })
}

#[tokio::test]
async fn issue_4_simultaneous_sign_ins_in_one_session_cookie_store() {
    portcullis_web_tests::sessions::issue_4_simultaneous_sign_ins_in_one_session::<Actix>(
        Store::Cookie,
    )
    .await;
}

#[tokio::test]
async fn auth_may_be_registered_as_web_data() {
    let issuer = issuer().await;
    let auth = Auth::from_config(&issuer.verifier_config(API).unwrap()).unwrap();
    let base = serve!(move || bearer_app(auth.clone(), true));
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
    let (status, _, body) =
        portcullis_web_tests::answer(get_with(&base, "/protected", &[]).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("server_error"))
    );
}
