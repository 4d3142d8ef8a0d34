//! Part of `management_api.rs`: the authorization matrix (no token, a user's token, a token for
//! another audience, a token without the scope: all 403), the user stream while other users are
//! added, and the renewal of a cached token the server refuses.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::TryStreamExt;
use portcullis::management::{ManagementClient, ManagementError, PageRequest, UsersQuery};
use portcullis::oauth::TokenTypeHint;

use super::db::on_both;
use super::{
    ADMIN, ADMIN_SECRET, Env, OTHER_API, READER, READER_SECRET, WEB, WORKER, WORKER_SECRET,
};

/// `GET|POST /api/v1{path}` straight to the server, with `token` as the bearer token (or none):
/// what the client cannot send. Returns the status and the `WWW-Authenticate` challenge.
async fn raw(env: &Env, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method.clone(), format!("{}/api/v1{path}", env.issuer.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == reqwest::Method::POST {
        request = request.json(&serde_json::json!({
            "profile": {"given_name": "Raw"},
            "identities": [{"type": "email", "details": {"email": "raw@example.com"}}]
        }));
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (response.status().as_u16(), challenge)
}

fn forbidden(e: &ManagementError, code: &str) {
    assert_eq!(e.status(), Some(403), "{e:?}");
    assert!(e.is_forbidden(), "{e:?}");
    assert!(e.has_code(code), "{code}: {e:?}");
}

#[tokio::test]
async fn every_kind_of_unauthorized_caller_gets_403() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let kind = env.kind;

        // A token missing the scope: the reader may list users and nothing else.
        let reader = env.client(READER, READER_SECRET);
        assert!(!reader.get_users(10).await.unwrap().items.is_empty());
        let refusals = [
            reader
                .create_user("No", "Scope", "no@example.com")
                .await
                .unwrap_err(),
            reader.delete_user("kp_anyone").await.unwrap_err(),
            reader.get_roles(PageRequest::new()).await.unwrap_err(),
            reader
                .get_organizations(PageRequest::new())
                .await
                .unwrap_err(),
            reader.get_user_sessions("kp_anyone").await.unwrap_err(),
            reader.get_feature_flags().await.unwrap_err(),
            reader.get_apis().await.unwrap_err(),
            reader
                .get_applications(PageRequest::new())
                .await
                .unwrap_err(),
            reader.get_permissions(1).await.unwrap_err(),
            reader
                .roles(PageRequest::of_size(1))
                .try_collect::<Vec<_>>()
                .await
                .unwrap_err(),
        ];
        for e in &refusals {
            forbidden(e, "FORBIDDEN");
        }
        // The admin application asking for one scope only gets a token without the others.
        let pinned = ManagementClient::builder(env.config(ADMIN, ADMIN_SECRET))
            .scopes(["read:users"])
            .build()
            .unwrap();
        assert!(pinned.get_users(1).await.is_ok());
        forbidden(
            &pinned
                .create_user("No", "Scope", "no@example.com")
                .await
                .unwrap_err(),
            "FORBIDDEN",
        );

        // A token for another audience (an API the admin application is granted, not the
        // management API): refused, even after the client renewed it once.
        let elsewhere = ManagementClient::builder(env.config(ADMIN, ADMIN_SECRET))
            .audience(OTHER_API)
            .build()
            .unwrap();
        let e = elsewhere.get_users(1).await.unwrap_err();
        forbidden(&e, "INVALID_CREDENTIALS");
        // An application not granted the management API gets no token to send at all.
        let worker = env.client(WORKER, WORKER_SECRET);
        let e = worker.get_users(1).await.unwrap_err();
        assert!(matches!(e, ManagementError::Token(_)), "{kind}: {e:?}");
        assert_eq!(e.status(), None);

        // What the client cannot send: no token, a user's token; and the others again, raw,
        // to see the challenge that tells them apart.
        let (status, challenge) = raw(&env, "GET", "/users", None).await;
        assert_eq!(status, 403);
        assert!(challenge.contains("invalid_token"), "{challenge}");
        let ada = env
            .issuer
            .user_tokens(
                WEB,
                "ada@example.com",
                env.issuer.password_of("ada@example.com").unwrap(),
            )
            .await
            .unwrap();
        for method in ["GET", "POST"] {
            let path = if method == "GET" { "/users" } else { "/user" };
            let (status, challenge) = raw(&env, method, path, Some(&ada.access_token)).await;
            assert_eq!(status, 403, "{kind}: a user's token, {method}");
            assert!(challenge.contains("invalid_token"), "{challenge}");
        }
        let foreign = env
            .issuer
            .client_credentials_token(ADMIN, ADMIN_SECRET, OTHER_API, None)
            .await
            .unwrap();
        let (status, challenge) = raw(&env, "GET", "/users", Some(&foreign)).await;
        assert_eq!(status, 403);
        assert!(challenge.contains("invalid_token"), "{challenge}");
        let reader_token = env
            .issuer
            .management_token(READER, READER_SECRET, None)
            .await
            .unwrap();
        let (status, challenge) = raw(&env, "POST", "/user", Some(&reader_token)).await;
        assert_eq!(status, 403);
        assert!(
            challenge.contains("insufficient_scope") && challenge.contains("create:users"),
            "{challenge}"
        );
        let (status, _) = raw(&env, "GET", "/users", Some(&reader_token)).await;
        assert_eq!(status, 200);
        // Nobody got in: only Ada is there.
        let admin = env.admin();
        assert_eq!(admin.get_users(10).await.unwrap().items.len(), 1);
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn the_user_stream_loses_and_repeats_nothing_while_users_are_added() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        for i in 0..24 {
            c.create_user("Before", &i.to_string(), &format!("before{i}@example.com"))
                .await
                .unwrap();
        }
        let before: BTreeSet<String> = c
            .users(UsersQuery::new().page(PageRequest::of_size(500)))
            .map_ok(|u| u.id)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(before.len(), 25, "Ada and 24 more");

        // Another task adds users when told: two between each page the stream reads, so the
        // inserts land on both sides of the page being read (ids are random).
        let (go, mut orders) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let (added_tx, mut added) = tokio::sync::mpsc::unbounded_channel::<String>();
        let inserter = {
            let c = c.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while let Some(count) = orders.recv().await {
                    for _ in 0..count {
                        let user = c
                            .create_user(
                                "During",
                                &n.to_string(),
                                &format!("during{n}@example.com"),
                            )
                            .await
                            .unwrap();
                        n += 1;
                        added_tx.send(user.id).unwrap();
                    }
                }
            })
        };

        const PAGE: usize = 3;
        let mut stream =
            std::pin::pin!(c.users(UsersQuery::new().page(PageRequest::of_size(PAGE as u32))));
        let mut seen = Vec::new();
        let mut inserted = BTreeSet::new();
        while let Some(user) = stream.try_next().await.unwrap() {
            seen.push(user.id);
            if seen.len() % PAGE == 0 && inserted.len() < 30 {
                // The next poll fetches the next page: the inserts happen before it.
                go.send(2).unwrap();
                for _ in 0..2 {
                    inserted.insert(added.recv().await.unwrap());
                }
            }
        }
        drop(go);
        inserter.await.unwrap();
        assert!(
            inserted.len() >= 16,
            "users were added during the walk: {}",
            inserted.len()
        );

        let distinct: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(distinct.len(), seen.len(), "no user is seen twice");
        for id in &before {
            assert_eq!(
                seen.iter().filter(|s| *s == id).count(),
                1,
                "{id} existed before the walk: seen exactly once"
            );
        }
        for id in &seen {
            assert!(
                before.contains(id) || inserted.contains(id),
                "{id} came from nowhere"
            );
        }
        // Users added behind the cursor are not seen, the others are: nothing else decides.
        let total: Vec<_> = c
            .users(UsersQuery::new().page(PageRequest::of_size(7)))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(total.len(), before.len() + inserted.len());
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_cached_token_is_renewed_once_and_the_call_goes_through() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let kind = env.kind;
        let c = env.admin();
        c.get_users(1).await.unwrap();
        let auth = c.auth_client();
        let cached = auth.client_credentials(c.audience(), &[]).await.unwrap();
        assert!(Arc::ptr_eq(
            &cached,
            &auth.client_credentials(c.audience(), &[]).await.unwrap()
        ));

        // Revoked at the server (RFC 7009): the server refuses it from now on.
        auth.revoke(cached.access_token(), Some(TokenTypeHint::AccessToken))
            .await
            .unwrap();
        let (status, challenge) = raw(&env, "GET", "/users", Some(cached.access_token())).await;
        assert_eq!(status, 403, "{kind}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
        // The client drops it and repeats the call with a new one, a POST too (the server
        // refused it before doing anything).
        let created = c
            .create_user("After", "Revocation", "after@example.com")
            .await
            .unwrap();
        assert_eq!(
            c.get_user(&created.id).await.unwrap().email(),
            Some("after@example.com"),
            "created exactly once"
        );
        let fresh = auth.client_credentials(c.audience(), &[]).await.unwrap();
        assert_ne!(fresh.access_token(), cached.access_token());

        // Clones share the cache: revoked again, two clones calling at once both get through.
        auth.revoke(fresh.access_token(), Some(TokenTypeHint::AccessToken))
            .await
            .unwrap();
        let other = c.clone();
        let (a, b) = tokio::join!(c.get_user(&created.id), other.get_users(5));
        a.unwrap();
        assert_eq!(b.unwrap().items.len(), 2);
        let third = auth.client_credentials(c.audience(), &[]).await.unwrap();
        assert_ne!(third.access_token(), fresh.access_token());
        assert!(Arc::ptr_eq(
            &third,
            &other
                .auth_client()
                .client_credentials(c.audience(), &[])
                .await
                .unwrap()
        ));

        // A missing scope is not the token's fault: the cached token stays.
        let reader = env.client(READER, READER_SECRET);
        reader.get_users(1).await.unwrap();
        let before = reader
            .auth_client()
            .client_credentials(reader.audience(), &[])
            .await
            .unwrap();
        forbidden(
            &reader
                .create_user("No", "Scope", "no@example.com")
                .await
                .unwrap_err(),
            "FORBIDDEN",
        );
        let after = reader
            .auth_client()
            .client_credentials(reader.audience(), &[])
            .await
            .unwrap();
        assert!(
            Arc::ptr_eq(&before, &after),
            "insufficient_scope keeps the token"
        );

        // The reader's application deleted: its token is refused, and no new one can be had
        // (or, within the token endpoint's client-cache lifetime, the new one is refused too).
        let reader_app = c
            .applications(PageRequest::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.client_id.as_deref() == Some(READER) || a.name.as_deref() == Some(READER))
            .unwrap();
        c.delete_application(&reader_app.id).await.unwrap();
        let e = reader.get_users(1).await.unwrap_err();
        assert!(
            matches!(e, ManagementError::Token(_)) || e.has_code("INVALID_CREDENTIALS"),
            "{kind}: {e:?}"
        );
        env.finish().await;
    })
    .await;
}
