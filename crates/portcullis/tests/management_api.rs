//! The management client against the real identity server (`TestIssuer`, in-process), every
//! case on SQLite and on PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`, each case in a schema of its
//! own): every operation of [`ManagementClient`] with the token from `client_credentials` for
//! `{issuer}/api`. Applications and APIs are in `management/applications.rs`; the authorization
//! matrix, pagination under concurrent inserts and the renewal of a refused token in
//! `management/authorization.rs`.

#[path = "management/applications.rs"]
mod applications;
#[path = "management/authorization.rs"]
mod authorization;
#[path = "common/db.rs"]
mod db;

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use portcullis::Config;
use portcullis::management::{
    FlagType, ManagementClient, NewFeatureFlag, NewIdentity, NewOrganization, NewPermission,
    NewRole, NewUser, OrganizationUserChange, OrganizationUsersQuery, OverrideLevel, PageRequest,
    RolePermissionChange, SetPassword, UpdateFeatureFlag, UpdateOrganization, UpdateRole,
    UpdateUser, UsersQuery,
};
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder, TestUser};
use serde_json::json;

use db::{TestDb, on_both};

const ADMIN: &str = "mgmt-admin";
const ADMIN_SECRET: &str = "mgmt-admin-secret-0123456789abcdefghijkl";
const READER: &str = "mgmt-reader";
const READER_SECRET: &str = "mgmt-reader-secret-0123456789abcdefghijk";
/// A web application users sign in to (to see what their tokens carry).
const WEB: &str = "web-app";
const WEB_SECRET: &str = "web-app-secret-0123456789abcdefghijklmnop";
const CALLBACK: &str = "https://app.example.com/callback";
/// Another API the admin application may get tokens for: not the management API.
const OTHER_API: &str = "https://reports.example.com";
/// An M2M application granted only [`OTHER_API`].
const WORKER: &str = "reports-worker";
const WORKER_SECRET: &str = "reports-worker-secret-0123456789abcdefgh";

/// A running server on one database.
struct Env {
    issuer: TestIssuer,
    db: Option<TestDb>,
    kind: &'static str,
}

impl Env {
    /// Starts the server on `db` with two management applications (every scope; `read:users`
    /// only), a web application, another API, a role, an organization and Ada.
    async fn start(db: TestDb) -> Env {
        Env::start_with(db, |builder| builder).await
    }

    /// [`Env::start`], the builder changed by `more` first (a clock of the test's own).
    async fn start_with(
        db: TestDb,
        more: impl FnOnce(TestIssuerBuilder) -> TestIssuerBuilder,
    ) -> Env {
        eprintln!("-- on {}", db.kind);
        let builder = TestIssuer::builder()
            .management_app(ADMIN, ADMIN_SECRET, portcullis_server::management::SCOPES)
            .management_app(READER, READER_SECRET, &["read:users"])
            .api(OTHER_API, &["read:reports"])
            .grant(ADMIN, OTHER_API, &["read:reports"])
            .m2m_app(WORKER, WORKER_SECRET, OTHER_API, &["read:reports"])
            .web_app(WEB, WEB_SECRET, &[CALLBACK])
            .permission("read:todos")
            .role("admin", "Admin", &["read:todos"])
            .organization("org_acme", "Acme")
            .user(
                TestUser::new("ada@example.com")
                    .name("Ada", "Lovelace")
                    .member_of("org_acme", &["admin"]),
            )
            .database_url(db.url.clone());
        let issuer = more(builder)
            .start()
            .await
            .unwrap_or_else(|e| panic!("the test issuer starts on {}: {e}", db.kind));
        Env {
            issuer,
            kind: db.kind,
            db: Some(db),
        }
    }

    fn config(&self, id: &str, secret: &str) -> Config {
        Config::builder(self.issuer.issuer())
            .client_id(id)
            .client_secret(secret)
            .build()
            .unwrap()
    }

    fn client(&self, id: &str, secret: &str) -> ManagementClient {
        ManagementClient::new(&self.config(id, secret)).unwrap()
    }

    fn admin(&self) -> ManagementClient {
        self.client(ADMIN, ADMIN_SECRET)
    }

    /// Stops the server and drops the PostgreSQL schema.
    async fn finish(mut self) {
        self.issuer.shutdown().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}

fn ids<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    items.into_iter().cloned().collect()
}

#[tokio::test]
async fn users_create_read_update_page_and_delete() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        assert_eq!(
            c.audience(),
            format!("{}/api", env.issuer.issuer().trim_end_matches('/'))
        );
        assert!(c.base_url().ends_with("/api/v1"), "{}", c.base_url());

        let created = c
            .create_user("Grace", "Hopper", "grace@example.com")
            .await
            .unwrap();
        assert_eq!(created.created, Some(true));
        let user = c.get_user(&created.id).await.unwrap();
        assert_eq!(user.email(), Some("grace@example.com"));
        assert_eq!(user.first_name.as_deref(), Some("Grace"));
        assert_eq!(user.last_name.as_deref(), Some("Hopper"));

        // The long form: an organization and an id of the caller's own.
        let ed = c
            .create_user_with(
                &NewUser::new()
                    .given_name("Ed")
                    .family_name("Sanders")
                    .email("ed@example.com")
                    .organization_code("org_acme")
                    .provided_id("crm-17"),
            )
            .await
            .unwrap();
        let got = c.get_user(&ed.id).await.unwrap();
        assert_eq!(got.organizations, ["org_acme"]);
        assert_eq!(got.provided_id.as_deref(), Some("crm-17"));
        let by_username = c
            .create_user_with(
                &NewUser::new()
                    .given_name("Nameless")
                    .identity(NewIdentity::email("nameless@example.com")),
            )
            .await
            .unwrap();
        assert!(c.get_user(&by_username.id).await.is_ok());

        let updated = c
            .update_user(&created.id, &UpdateUser::new().given_name("Amazing Grace"))
            .await
            .unwrap();
        assert_eq!(updated.given_name.as_deref(), Some("Amazing Grace"));
        let got = c.get_user(&created.id).await.unwrap();
        assert_eq!(got.first_name.as_deref(), Some("Amazing Grace"));

        // Duplicate email: a 4xx with a code, not a 500.
        let e = c
            .create_user("Grace", "Again", "grace@example.com")
            .await
            .unwrap_err();
        assert!(matches!(e.status(), Some(400 | 409)), "{e}");
        assert!(!e.codes().is_empty(), "{e:?}");
        // The server names every request (x-request-id); the error carries it for the report.
        let id = e.request_id().expect("the server's request id");
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );

        // Filters.
        let found = c
            .get_users(UsersQuery::new().email("grace@example.com"))
            .await
            .unwrap();
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].id, created.id);
        let found = c
            .get_users(UsersQuery::new().user_id(&ed.id))
            .await
            .unwrap();
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].email(), Some("ed@example.com"));

        // Pages by hand, then the stream over all of them.
        for i in 0..3 {
            c.create_user("User", &i.to_string(), &format!("u{i}@example.com"))
                .await
                .unwrap();
        }
        let first_request = PageRequest::of_size(2);
        let mut request = Some(first_request.clone());
        let mut paged = Vec::new();
        while let Some(r) = request {
            let page = c
                .get_users(UsersQuery::new().page(r.clone()))
                .await
                .unwrap();
            assert!(page.items.len() <= 2);
            request = page.next_request(&r);
            paged.extend(page.items.into_iter().map(|u| u.id));
        }
        assert_eq!(paged.len(), 7, "ada, grace, ed, nameless and three more");
        let all: Vec<_> = c
            .users(UsersQuery::new().page(first_request))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(
            all.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
            paged,
            "the stream sees the pages in their order"
        );
        assert_eq!(ids(&paged).len(), 7, "no duplicates across pages");
        let first = c.get_users(1).await.unwrap();
        assert_eq!(first.items.len(), 1);
        assert!(first.has_more());

        c.delete_user(&by_username.id).await.unwrap();
        c.delete_user(&ed.id).await.unwrap();
        c.delete_user(&created.id).await.unwrap();
        let e = c.get_user(&created.id).await.unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        let e = c.delete_user(&created.id).await.unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn password_flag_override_sessions_and_claims_reach_the_user() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        let grace = c
            .create_user("Grace", "Hopper", "grace@example.com")
            .await
            .unwrap();
        let password = "a-long-new-password-42";
        c.set_user_password(&grace.id, &SetPassword::plain(password))
            .await
            .unwrap();
        c.create_feature_flag_with(
            &NewFeatureFlag::new("beta", "Beta", false)
                .unwrap()
                .allow_override_level(OverrideLevel::User),
        )
        .await
        .unwrap();
        c.update_user_feature_flag_override(&grace.id, "beta", "true")
            .await
            .unwrap();
        let e = c
            .update_user_feature_flag_override(&grace.id, "beta", "maybe")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(400), "{e}");
        let e = c
            .update_user_feature_flag_override(&grace.id, "no_such_flag", "true")
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        c.refresh_user_claims(&grace.id).await.unwrap();
        assert!(
            c.refresh_user_claims("kp_nobody")
                .await
                .unwrap_err()
                .is_not_found()
        );

        // The password set through the API signs Grace in, and her token carries the override.
        assert!(c.get_user_sessions(&grace.id).await.unwrap().is_empty());
        let tokens = env
            .issuer
            .user_tokens(WEB, "grace@example.com", password)
            .await
            .unwrap();
        let claims = tokens.access_claims();
        assert_eq!(
            claims["feature_flags"]["beta"],
            json!({"t": "b", "v": true})
        );

        let sessions = c.get_user_sessions(&grace.id).await.unwrap();
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        assert!(sessions[0].started_on.is_some());
        c.delete_user_sessions(&grace.id).await.unwrap();
        assert!(c.get_user_sessions(&grace.id).await.unwrap().is_empty());
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn organizations_members_roles_permissions_and_flag_overrides() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        let org = c.create_organization("Globex").await.unwrap();
        c.update_organization(&org.code, &UpdateOrganization::new().name("Globex Corp"))
            .await
            .unwrap();
        let got = c.get_organization(&org.code).await.unwrap();
        assert_eq!(got.name.as_deref(), Some("Globex Corp"));

        let mut initech = NewOrganization::new("Initech")
            .external_id("crm-initech")
            .handle("initech")
            .is_allow_registrations(true);
        c.create_feature_flag("theme", "Theme", "light")
            .await
            .unwrap();
        initech
            .feature_flags
            .insert("theme".to_owned(), "grey".to_owned());
        let initech = c.create_organization_with(&initech).await.unwrap();
        let got = c.get_organization(&initech.code).await.unwrap();
        assert_eq!(got.external_id.as_deref(), Some("crm-initech"));
        assert_eq!(got.handle.as_deref(), Some("initech"));
        let flags = c
            .get_organization_feature_flags(&initech.code)
            .await
            .unwrap();
        assert_eq!(flags["theme"].value.as_deref(), Some("grey"));

        let first = c.get_organizations(PageRequest::of_size(2)).await.unwrap();
        assert_eq!(first.items.len(), 2);
        assert!(first.has_more());
        let orgs: Vec<_> = c
            .organizations(PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            orgs.iter().map(|o| o.code.clone()).collect::<BTreeSet<_>>(),
            ids(&[
                "org_acme".to_owned(),
                org.code.clone(),
                initech.code.clone()
            ])
        );

        let bob = c
            .create_user("Bob", "Builder", "bob@example.com")
            .await
            .unwrap();
        let carol = c
            .create_user("Carol", "Danvers", "carol@example.com")
            .await
            .unwrap();
        let added = c
            .add_organization_users(
                &org.code,
                &[
                    OrganizationUserChange::add(&bob.id).roles(["admin"]),
                    OrganizationUserChange::add(&carol.id).permissions(["read:todos"]),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            ids(&added.users_added),
            ids(&[bob.id.clone(), carol.id.clone()])
        );
        let members = c
            .get_organization_users(&org.code, PageRequest::new())
            .await
            .unwrap();
        assert_eq!(members.items.len(), 2);
        let bob_row = members.items.iter().find(|m| m.id == bob.id).unwrap();
        assert_eq!(bob_row.roles, ["admin"]);
        assert_eq!(bob_row.email.as_deref(), Some("bob@example.com"));
        let admins = c
            .get_organization_users(&org.code, OrganizationUsersQuery::new().roles("admin"))
            .await
            .unwrap();
        assert_eq!(admins.items.len(), 1);
        assert_eq!(admins.items[0].id, bob.id);
        let all_members: Vec<_> = c
            .organization_users(&org.code, 1.into())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            all_members
                .iter()
                .map(|m| m.id.clone())
                .collect::<BTreeSet<_>>(),
            ids(&[bob.id.clone(), carol.id.clone()])
        );

        let roles = c
            .get_organization_user_roles(&org.code, &bob.id)
            .await
            .unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].key.as_deref(), Some("admin"));
        let admin_id = roles[0].id.clone();
        let holders = c
            .get_organization_role_users(&org.code, &admin_id, PageRequest::new())
            .await
            .unwrap();
        assert_eq!(holders.items.len(), 1);
        assert_eq!(holders.items[0].id, bob.id);
        c.create_organization_user_role(&org.code, &carol.id, &admin_id)
            .await
            .unwrap();
        let holders: Vec<_> = c
            .organization_role_users(&org.code, &admin_id, PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            holders
                .iter()
                .map(|m| m.id.clone())
                .collect::<BTreeSet<_>>(),
            ids(&[bob.id.clone(), carol.id.clone()])
        );
        c.delete_organization_user_role(&org.code, &carol.id, &admin_id)
            .await
            .unwrap();
        assert!(
            c.get_organization_user_roles(&org.code, &carol.id)
                .await
                .unwrap()
                .is_empty()
        );

        // Carol's read:todos was granted directly; Bob's comes from the admin role.
        let read_todos = c
            .permissions(PageRequest::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.key.as_deref() == Some("read:todos"))
            .unwrap()
            .id;
        let bobs = c
            .get_organization_user_permissions(&org.code, &bob.id)
            .await
            .unwrap();
        assert_eq!(bobs.len(), 1);
        assert_eq!(bobs[0].id, read_todos);
        assert_eq!(bobs[0].roles[0].key.as_deref(), Some("admin"));
        let carols = c
            .get_organization_user_permissions(&org.code, &carol.id)
            .await
            .unwrap();
        assert_eq!(carols.len(), 1);
        assert!(carols[0].roles.is_empty(), "{carols:?}");
        c.delete_organization_user_permission(&org.code, &carol.id, &read_todos)
            .await
            .unwrap();
        assert!(
            c.get_organization_user_permissions(&org.code, &carol.id)
                .await
                .unwrap()
                .is_empty()
        );
        c.create_organization_user_permission(&org.code, &carol.id, &read_todos)
            .await
            .unwrap();
        assert_eq!(
            c.get_organization_user_permissions(&org.code, &carol.id)
                .await
                .unwrap()[0]
                .id,
            read_todos
        );

        c.update_organization_feature_flag_override(&org.code, "theme", "pink")
            .await
            .unwrap();
        let flags = c.get_organization_feature_flags(&org.code).await.unwrap();
        assert_eq!(flags["theme"].value.as_deref(), Some("pink"));
        c.delete_organization_feature_flag_override(&org.code, "theme")
            .await
            .unwrap();
        let flags = c.get_organization_feature_flags(&org.code).await.unwrap();
        assert_ne!(
            flags.get("theme").and_then(|f| f.value.as_deref()),
            Some("pink")
        );
        c.update_organization_feature_flag_override(&initech.code, "theme", "dark")
            .await
            .unwrap();
        c.delete_organization_feature_flag_overrides(&initech.code)
            .await
            .unwrap();
        let flags = c
            .get_organization_feature_flags(&initech.code)
            .await
            .unwrap();
        assert_ne!(
            flags.get("theme").and_then(|f| f.value.as_deref()),
            Some("dark")
        );

        let changed = c
            .update_organization_users(
                &org.code,
                &[
                    OrganizationUserChange::remove(&bob.id),
                    OrganizationUserChange::add(&carol.id).roles(["admin"]),
                ],
            )
            .await
            .unwrap();
        assert_eq!(changed.users_removed, [bob.id.as_str()]);
        assert_eq!(changed.users_updated, [carol.id.as_str()]);
        c.remove_organization_user(&org.code, &carol.id)
            .await
            .unwrap();
        assert!(
            c.get_organization_users(&org.code, PageRequest::new())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        c.delete_organization(&org.code).await.unwrap();
        let e = c.get_organization(&org.code).await.unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn roles_and_permissions() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        c.create_permission(&NewPermission::new("Write todos", "write:todos"))
            .await
            .unwrap();
        c.create_permission(
            &NewPermission::new("Delete todos", "delete:todos").description("Deletes"),
        )
        .await
        .unwrap();
        let page = c.get_permissions(PageRequest::of_size(2)).await.unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(page.has_more());
        let perms: Vec<_> = c
            .permissions(PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(perms.len(), 3, "read, write and delete todos");
        let perm = perms
            .iter()
            .find(|p| p.key.as_deref() == Some("write:todos"))
            .unwrap()
            .clone();
        let delete = perms
            .iter()
            .find(|p| p.key.as_deref() == Some("delete:todos"))
            .unwrap()
            .clone();
        assert_eq!(delete.description.as_deref(), Some("Deletes"));
        c.update_permission(&perm.id, &NewPermission::change().description("Writes"))
            .await
            .unwrap();
        let changed = c
            .permissions(PageRequest::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.id == perm.id)
            .unwrap();
        assert_eq!(changed.description.as_deref(), Some("Writes"));

        let role = c
            .create_role("Editor", "Edits things", "editor")
            .await
            .unwrap();
        let got = c.get_role(&role.id).await.unwrap();
        assert_eq!(got.key.as_deref(), Some("editor"));
        assert_eq!(got.description.as_deref(), Some("Edits things"));
        let viewer = c
            .create_role_with(&NewRole::new("Viewer", "viewer").is_default_role(true))
            .await
            .unwrap();
        assert_eq!(
            c.get_role(&viewer.id).await.unwrap().name.as_deref(),
            Some("Viewer")
        );
        c.update_role(&role.id, &UpdateRole::new().name("Chief editor"))
            .await
            .unwrap();
        assert_eq!(
            c.get_role(&role.id).await.unwrap().name.as_deref(),
            Some("Chief editor")
        );
        let changes = c
            .update_role_permissions(
                &role.id,
                &[
                    RolePermissionChange::add(&perm.id),
                    RolePermissionChange::add(&delete.id),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            ids(&changes.permissions_added),
            ids(&[perm.id.clone(), delete.id.clone()])
        );
        let first = c
            .get_role_permissions(&role.id, PageRequest::of_size(1))
            .await
            .unwrap();
        assert_eq!(first.items.len(), 1);
        assert!(first.has_more());
        let all: Vec<_> = c
            .role_permissions(&role.id, PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|p| p.id.clone()).collect::<BTreeSet<_>>(),
            ids(&[perm.id.clone(), delete.id.clone()])
        );
        let changes = c
            .update_role_permissions(&role.id, &[RolePermissionChange::remove(&delete.id)])
            .await
            .unwrap();
        assert_eq!(changes.permissions_removed, [delete.id.as_str()]);
        c.remove_role_permission(&role.id, &perm.id).await.unwrap();
        assert!(
            c.get_role_permissions(&role.id, PageRequest::new())
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // Ada holds admin in org_acme; add Ed too, then list the holders.
        let admin = c
            .roles(PageRequest::of_size(1))
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert_eq!(admin.len(), 3, "admin, editor and viewer");
        let admin = admin
            .into_iter()
            .find(|r| r.key.as_deref() == Some("admin"))
            .unwrap();
        let ed = c
            .create_user_with(
                &NewUser::new()
                    .given_name("Ed")
                    .email("ed@example.com")
                    .organization_code("org_acme"),
            )
            .await
            .unwrap();
        c.create_organization_user_role("org_acme", &ed.id, &admin.id)
            .await
            .unwrap();
        let page = c
            .get_role_users(&admin.id, PageRequest::of_size(1))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        let holders: Vec<_> = c
            .role_users(&admin.id, PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        let emails: BTreeSet<_> = holders.iter().filter_map(|u| u.email.clone()).collect();
        assert_eq!(
            emails,
            ids(&["ada@example.com".to_owned(), "ed@example.com".to_owned()])
        );
        assert!(
            c.get_role_users(&role.id, PageRequest::new())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let page = c.get_roles(PageRequest::new()).await.unwrap();
        assert_eq!(page.items.len(), 3);
        c.delete_role(&role.id).await.unwrap();
        c.delete_role(&viewer.id).await.unwrap();
        assert!(c.get_role(&role.id).await.unwrap_err().is_not_found());
        c.delete_permission(&perm.id).await.unwrap();
        c.delete_permission(&delete.id).await.unwrap();
        assert_eq!(c.get_permissions(10).await.unwrap().items.len(), 1);
        env.finish().await;
    })
    .await;
}

#[tokio::test]
async fn feature_flags_and_environment_overrides() {
    on_both(|db| async move {
        let env = Env::start(db).await;
        let c = env.admin();
        c.create_feature_flag("beta", "Beta", false).await.unwrap();
        c.create_feature_flag("limit", "Limit", 5_i64)
            .await
            .unwrap();
        c.create_feature_flag_with(
            &NewFeatureFlag::new("theme", "Theme", "light")
                .unwrap()
                .description("Colours")
                .allow_override_level(OverrideLevel::Organization),
        )
        .await
        .unwrap();

        let page = c
            .get_feature_flag_definitions(PageRequest::of_size(2))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(page.has_more());
        let defs: Vec<_> = c
            .feature_flag_definitions(PageRequest::of_size(1))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            defs.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
            ["beta", "limit", "theme"],
            "by key"
        );
        let theme = &defs[2];
        assert_eq!(theme.flag_type.as_deref(), Some("str"));
        assert_eq!(theme.default_value.as_deref(), Some("light"));
        assert_eq!(theme.description.as_deref(), Some("Colours"));
        assert_eq!(theme.allow_override_level.as_deref(), Some("org"));

        c.update_feature_flag(
            "beta",
            &UpdateFeatureFlag::new("Beta!", true)
                .unwrap()
                .description("Try it"),
        )
        .await
        .unwrap();
        let beta = c
            .feature_flag_definitions(PageRequest::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.key == "beta")
            .unwrap();
        assert_eq!(beta.name.as_deref(), Some("Beta!"));
        assert_eq!(beta.default_value.as_deref(), Some("true"));
        assert_eq!(beta.flag_type.as_deref(), Some(FlagType::Bool.as_str()));

        let flags = c.get_feature_flags().await.unwrap();
        assert_eq!(flags["beta"].value.as_deref(), Some("true"));
        assert_eq!(flags["limit"].value.as_deref(), Some("5"));
        c.update_environment_feature_flag_override("beta", "false")
            .await
            .unwrap();
        c.update_environment_feature_flag_override("limit", "7")
            .await
            .unwrap();
        let e = c
            .update_environment_feature_flag_override("limit", "seven")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(400), "{e}");
        let flags = c.get_feature_flags().await.unwrap();
        assert_eq!(flags["beta"].value.as_deref(), Some("false"));
        assert_eq!(
            flags["limit"].typed(),
            Some(portcullis::claims::FlagValue::Integer(7))
        );
        c.delete_environment_feature_flag_override("beta")
            .await
            .unwrap();
        assert_eq!(
            c.get_feature_flags().await.unwrap()["beta"]
                .value
                .as_deref(),
            Some("true")
        );
        c.delete_environment_feature_flag_overrides().await.unwrap();
        assert_eq!(
            c.get_feature_flags().await.unwrap()["limit"]
                .value
                .as_deref(),
            Some("5")
        );
        let e = c
            .create_feature_flag("beta", "Again", 1_i64)
            .await
            .unwrap_err();
        assert!(matches!(e.status(), Some(400 | 409)), "{e}");
        c.delete_feature_flag("beta").await.unwrap();
        assert!(!c.get_feature_flags().await.unwrap().contains_key("beta"));
        assert!(
            c.delete_feature_flag("beta")
                .await
                .unwrap_err()
                .is_not_found()
        );
        env.finish().await;
    })
    .await;
}
