//! Part of `management_api.rs`: applications with their callback and sign-out URLs, and APIs
//! with their scopes and the applications granted them (then getting tokens for them).

use futures_util::TryStreamExt;
use portcullis::management::{
    ApplicationOperation, ApplicationType, ManagementError, PageRequest, UpdateApplication,
};
use portcullis::oauth::AuthClient;

use super::Env;
use super::db::on_both;

#[tokio::test]
async fn applications_and_their_urls() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        let app = c
            .create_application("Worker", ApplicationType::Regular)
            .await
            .unwrap();
        assert!(app.client_secret.is_some());
        assert!(app.client_id.is_some());
        let spa = c
            .create_application("Front", ApplicationType::SinglePage)
            .await
            .unwrap();
        assert!(spa.client_secret.is_none());
        let got = c.get_application(&app.id).await.unwrap();
        assert_eq!(got.name.as_deref(), Some("Worker"));
        assert_eq!(got.app_type.as_deref(), Some("reg"));
        assert!(got.client_secret.is_none(), "a secret is shown once");
        c.update_application(
            &app.id,
            &UpdateApplication::new()
                .name("Worker 2")
                .login_uri("https://app.example.com/login"),
        )
        .await
        .unwrap();
        let got = c.get_application(&app.id).await.unwrap();
        assert_eq!(got.name.as_deref(), Some("Worker 2"));
        assert_eq!(
            got.login_uri.as_deref(),
            Some("https://app.example.com/login")
        );

        let page = c.get_applications(PageRequest::of_size(2)).await.unwrap();
        assert_eq!(page.items.len(), 2);
        let apps: Vec<_> = c
            .applications(PageRequest::of_size(2))
            .try_collect()
            .await
            .unwrap();
        // Four seeded (admin, reader, worker, web) and two created.
        assert_eq!(apps.len(), 6, "{apps:?}");
        assert!(apps.iter().any(|a| a.id == spa.id));

        let cb = "https://app.example.com/callback";
        c.add_application_redirect_urls(&app.id, &[cb])
            .await
            .unwrap();
        assert_eq!(
            c.get_application_redirect_urls(&app.id).await.unwrap(),
            [cb]
        );
        c.replace_application_redirect_urls(&app.id, &["https://app.example.com/cb2"])
            .await
            .unwrap();
        assert_eq!(
            c.get_application_redirect_urls(&app.id).await.unwrap(),
            ["https://app.example.com/cb2"]
        );
        c.delete_application_redirect_urls(&app.id, &["https://app.example.com/cb2"])
            .await
            .unwrap();
        assert!(
            c.get_application_redirect_urls(&app.id)
                .await
                .unwrap()
                .is_empty()
        );
        let out = "https://app.example.com/";
        c.add_application_logout_urls(&app.id, &[out])
            .await
            .unwrap();
        assert_eq!(c.get_application_logout_urls(&app.id).await.unwrap(), [out]);
        c.replace_application_logout_urls(&app.id, &["https://app.example.com/bye"])
            .await
            .unwrap();
        assert_eq!(
            c.get_application_logout_urls(&app.id).await.unwrap(),
            ["https://app.example.com/bye"]
        );
        c.delete_application_logout_urls(&app.id, &["https://app.example.com/bye"])
            .await
            .unwrap();
        assert!(
            c.get_application_logout_urls(&app.id)
                .await
                .unwrap()
                .is_empty()
        );

        c.delete_application(&spa.id).await.unwrap();
        c.delete_application(&app.id).await.unwrap();
        let e: ManagementError = c.get_application(&app.id).await.unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn apis_scopes_and_application_grants() {
    on_both(|db| async move {
        // The server's clock is the test's: the client cache's lifetime is moved past, not
        // waited for.
        let clock = portcullis::clock::ManualClock::now();
        let env = Env::start_with(db, |b| b.clock(clock.clone())).await;
        let c = env.admin();
        let api = c
            .create_api("Todos", "https://todos.example.com")
            .await
            .unwrap();
        let read = c
            .add_api_scope(&api.id, "read:todos", Some("Read"))
            .await
            .unwrap();
        c.add_api_scope(&api.id, "write:todos", None).await.unwrap();
        let scopes = c.get_api_scopes(&api.id).await.unwrap();
        assert_eq!(
            scopes
                .iter()
                .filter_map(|s| s.key.clone())
                .collect::<Vec<_>>(),
            ["read:todos", "write:todos"]
        );
        assert_eq!(scopes[0].id, read.id);

        // A new M2M application, granted only read:todos.
        let app = c
            .create_application("Todo worker", ApplicationType::MachineToMachine)
            .await
            .unwrap();
        let changes = c
            .update_api_applications(
                &api.id,
                &[ApplicationOperation::authorize(&app.id).scopes(["read:todos"])],
            )
            .await
            .unwrap();
        assert_eq!(changes.applications_authorized, [app.id.as_str()]);
        let got = c.get_api(&api.id).await.unwrap();
        assert_eq!(got.audience.as_deref(), Some("https://todos.example.com"));
        assert!(got.applications.iter().any(|a| a.id == app.id), "{got:?}");

        // Its credentials now get a token for the API, with exactly that scope.
        let worker = AuthClient::new(&env.config(
            app.client_id.as_deref().unwrap(),
            app.client_secret.as_ref().unwrap().expose(),
        ))
        .unwrap();
        let token = worker
            .client_credentials("https://todos.example.com", &[])
            .await
            .unwrap();
        assert_eq!(token.scopes(), ["read:todos"]);
        let changes = c
            .update_api_applications(&api.id, &[ApplicationOperation::revoke(&app.id)])
            .await
            .unwrap();
        assert_eq!(changes.applications_deauthorized, [app.id.as_str()]);
        // The token endpoint sees it once its client-cache lifetime (5 s) has passed.
        let (id, secret) = (
            app.client_id.as_deref().unwrap(),
            app.client_secret.as_ref().unwrap().expose(),
        );
        clock.advance(portcullis_server::CLIENT_CACHE_TTL);
        let refused = env
            .issuer
            .client_credentials_token(id, secret, "https://todos.example.com", None)
            .await;
        assert!(
            refused.is_err(),
            "a deauthorized application still gets tokens"
        );

        // Every API: the management API, the seeded one and Todos, whole or page by page.
        let all = c.get_apis().await.unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(
            all.iter().any(|a| a.is_management_api == Some(true)
                && a.audience.as_deref() == Some(c.audience()))
        );
        let paged: Vec<_> = c.apis(PageRequest::of_size(1)).try_collect().await.unwrap();
        assert_eq!(
            paged.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            all.iter().map(|a| a.id.clone()).collect::<Vec<_>>()
        );

        c.delete_api(&api.id).await.unwrap();
        assert!(c.get_api(&api.id).await.unwrap_err().is_not_found());
        assert_eq!(c.get_apis().await.unwrap().len(), 2);
        c.delete_application(&app.id).await.unwrap();
        env.finish().await;
    })
    .await;
}
