//! The management client against the real identity server (`TestIssuer`, in-process, SQLite):
//! users, organizations and their members, roles, permissions, feature flags, applications and
//! APIs, with the token from `client_credentials` for `{issuer}/api`.

use futures_util::TryStreamExt;
use portcullis::Config;
use portcullis::management::{
    ApplicationType, ManagementClient, ManagementError, NewPermission, OrganizationUserChange,
    PageRequest, RolePermissionChange, SetPassword, UpdateFeatureFlag, UpdateOrganization,
    UpdateRole, UpdateUser, UsersQuery,
};
use portcullis_server::testing::{TestIssuer, TestUser};

const ADMIN: &str = "mgmt-admin";
const ADMIN_SECRET: &str = "mgmt-admin-secret-0123456789abcdefghijkl";
const READER: &str = "mgmt-reader";
const READER_SECRET: &str = "mgmt-reader-secret-0123456789abcdefghijk";

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .management_app(ADMIN, ADMIN_SECRET, portcullis_server::api::SCOPES)
        .management_app(READER, READER_SECRET, &["read:users"])
        .permission("read:todos")
        .role("admin", "Admin", &["read:todos"])
        .organization("org_acme", "Acme")
        .user(
            TestUser::new("ada@example.com")
                .name("Ada", "Lovelace")
                .member_of("org_acme", &["admin"]),
        )
        .start()
        .await
        .expect("the test issuer starts")
}

fn client(issuer: &TestIssuer, id: &str, secret: &str) -> ManagementClient {
    let config = Config::builder(issuer.issuer())
        .client_id(id)
        .client_secret(secret)
        .build()
        .unwrap();
    ManagementClient::new(&config).unwrap()
}

#[tokio::test]
async fn users_create_read_update_page_and_delete() {
    let issuer = issuer().await;
    let c = client(&issuer, ADMIN, ADMIN_SECRET);
    assert_eq!(
        c.audience(),
        format!("{}/api", issuer.issuer().trim_end_matches('/'))
    );

    let created = c
        .create_user("Grace", "Hopper", "grace@example.com")
        .await
        .unwrap();
    let user = c.get_user(&created.id).await.unwrap();
    assert_eq!(user.email(), Some("grace@example.com"));
    assert_eq!(user.first_name.as_deref(), Some("Grace"));

    let updated = c
        .update_user(&created.id, &UpdateUser::new().given_name("Amazing Grace"))
        .await
        .unwrap();
    assert_eq!(updated.given_name.as_deref(), Some("Amazing Grace"));
    c.set_user_password(&created.id, &SetPassword::plain("a-long-new-password-42"))
        .await
        .unwrap();

    // Duplicate email: a 4xx with a code, not a 500.
    let e = c
        .create_user("Grace", "Again", "grace@example.com")
        .await
        .unwrap_err();
    assert!(matches!(e.status(), Some(400 | 409)), "{e}");
    assert!(!e.codes().is_empty(), "{e:?}");

    // Pages of one, then the stream over all of them.
    for i in 0..3 {
        c.create_user("User", &i.to_string(), &format!("u{i}@example.com"))
            .await
            .unwrap();
    }
    let first = c.get_users(1).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert!(first.has_more());
    let all: Vec<_> = c
        .users(UsersQuery::new().page(PageRequest::of_size(2)))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "ada, grace and three more");
    let mut ids: Vec<_> = all.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "no duplicates across pages");
    let found = c
        .get_users(UsersQuery::new().email("grace@example.com"))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);

    c.refresh_user_claims(&created.id).await.unwrap();
    let _ = c.get_user_sessions(&created.id).await.unwrap();
    c.delete_user_sessions(&created.id).await.unwrap();
    c.delete_user(&created.id).await.unwrap();
    let e = c.get_user(&created.id).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let issuer = issuer().await;
    let reader = client(&issuer, READER, READER_SECRET);
    assert!(!reader.get_users(10).await.unwrap().items.is_empty());
    let e = reader
        .create_user("No", "Scope", "no@example.com")
        .await
        .unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
    let e = reader.get_roles(PageRequest::new()).await.unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
}

#[tokio::test]
async fn organizations_members_roles_permissions_and_flag_overrides() {
    let issuer = issuer().await;
    let c = client(&issuer, ADMIN, ADMIN_SECRET);
    let org = c.create_organization("Globex").await.unwrap();
    c.update_organization(&org.code, &UpdateOrganization::new().name("Globex Corp"))
        .await
        .unwrap();
    let got = c.get_organization(&org.code).await.unwrap();
    assert_eq!(got.name.as_deref(), Some("Globex Corp"));
    let orgs: Vec<_> = c
        .organizations(PageRequest::of_size(1))
        .try_collect()
        .await
        .unwrap();
    assert!(orgs.iter().any(|o| o.code == org.code));

    let user = c
        .create_user("Bob", "Builder", "bob@example.com")
        .await
        .unwrap();
    let added = c
        .add_organization_users(
            &org.code,
            &[OrganizationUserChange::add(&user.id).roles(["admin"])],
        )
        .await
        .unwrap();
    assert_eq!(added.users_added, [user.id.as_str()]);
    let members = c
        .get_organization_users(&org.code, PageRequest::new())
        .await
        .unwrap();
    assert_eq!(members.items.len(), 1);
    assert_eq!(members.items[0].roles, ["admin"]);

    let roles = c
        .get_organization_user_roles(&org.code, &user.id)
        .await
        .unwrap();
    let admin_id = roles[0].id.clone();
    let holders = c
        .get_organization_role_users(&org.code, &admin_id, PageRequest::new())
        .await
        .unwrap();
    assert_eq!(holders.items[0].id, user.id);
    c.delete_organization_user_role(&org.code, &user.id, &admin_id)
        .await
        .unwrap();
    c.create_organization_user_role(&org.code, &user.id, &admin_id)
        .await
        .unwrap();

    let perms = c.get_permissions(PageRequest::new()).await.unwrap();
    let read_todos = perms
        .items
        .iter()
        .find(|p| p.key.as_deref() == Some("read:todos"))
        .unwrap()
        .id
        .clone();
    c.create_organization_user_permission(&org.code, &user.id, &read_todos)
        .await
        .unwrap();
    let granted = c
        .get_organization_user_permissions(&org.code, &user.id)
        .await
        .unwrap();
    assert!(granted.iter().any(|p| p.id == read_todos));
    c.delete_organization_user_permission(&org.code, &user.id, &read_todos)
        .await
        .unwrap();

    c.create_feature_flag("theme", "Theme", "light")
        .await
        .unwrap();
    c.update_organization_feature_flag_override(&org.code, "theme", "pink")
        .await
        .unwrap();
    let flags = c.get_organization_feature_flags(&org.code).await.unwrap();
    assert_eq!(flags["theme"].value.as_deref(), Some("pink"));
    c.delete_organization_feature_flag_override(&org.code, "theme")
        .await
        .unwrap();
    c.delete_organization_feature_flag_overrides(&org.code)
        .await
        .unwrap();

    let changed = c
        .update_organization_users(&org.code, &[OrganizationUserChange::remove(&user.id)])
        .await
        .unwrap();
    assert_eq!(changed.users_removed, [user.id.as_str()]);
    c.add_organization_users(&org.code, &[OrganizationUserChange::add(&user.id)])
        .await
        .unwrap();
    c.remove_organization_user(&org.code, &user.id)
        .await
        .unwrap();
    c.delete_organization(&org.code).await.unwrap();
    let e = c.get_organization(&org.code).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn roles_permissions_and_feature_flags() {
    let issuer = issuer().await;
    let c = client(&issuer, ADMIN, ADMIN_SECRET);
    c.create_permission(&NewPermission::new("Write todos", "write:todos"))
        .await
        .unwrap();
    let perm = c
        .permissions(PageRequest::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.key.as_deref() == Some("write:todos"))
        .unwrap();
    c.update_permission(&perm.id, &NewPermission::change().description("Writes"))
        .await
        .unwrap();

    let role = c
        .create_role("Editor", "Edits things", "editor")
        .await
        .unwrap();
    let got = c.get_role(&role.id).await.unwrap();
    assert_eq!(got.key.as_deref(), Some("editor"));
    c.update_role(&role.id, &UpdateRole::new().name("Chief editor"))
        .await
        .unwrap();
    let changes = c
        .update_role_permissions(&role.id, &[RolePermissionChange::add(&perm.id)])
        .await
        .unwrap();
    assert_eq!(changes.permissions_added, [perm.id.as_str()]);
    let perms = c
        .get_role_permissions(&role.id, PageRequest::new())
        .await
        .unwrap();
    assert_eq!(perms.items[0].id, perm.id);
    c.remove_role_permission(&role.id, &perm.id).await.unwrap();
    let users = c
        .get_role_users(&role.id, PageRequest::new())
        .await
        .unwrap();
    assert!(users.items.is_empty());
    let roles: Vec<_> = c
        .roles(PageRequest::of_size(1))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(roles.len(), 2, "admin and editor");
    c.delete_role(&role.id).await.unwrap();
    c.delete_permission(&perm.id).await.unwrap();

    c.create_feature_flag("beta", "Beta", false).await.unwrap();
    c.update_feature_flag("beta", &UpdateFeatureFlag::new("Beta!", true).unwrap())
        .await
        .unwrap();
    c.update_environment_feature_flag_override("beta", "false")
        .await
        .unwrap();
    let flags = c.get_feature_flags().await.unwrap();
    assert_eq!(flags["beta"].value.as_deref(), Some("false"));
    c.delete_environment_feature_flag_override("beta")
        .await
        .unwrap();
    c.delete_environment_feature_flag_overrides().await.unwrap();
    let e = c
        .create_feature_flag("beta", "Again", 1_i64)
        .await
        .unwrap_err();
    assert!(matches!(e.status(), Some(400 | 409)), "{e}");
    c.delete_feature_flag("beta").await.unwrap();
}

#[tokio::test]
async fn applications_urls_and_apis() {
    let issuer = issuer().await;
    let c = client(&issuer, ADMIN, ADMIN_SECRET);
    let app = c
        .create_application("Worker", ApplicationType::Regular)
        .await
        .unwrap();
    assert!(app.client_secret.is_some());
    let got = c.get_application(&app.id).await.unwrap();
    assert_eq!(got.name.as_deref(), Some("Worker"));
    c.update_application(
        &app.id,
        &portcullis::management::UpdateApplication::new().name("Worker 2"),
    )
    .await
    .unwrap();
    let apps = c.get_applications(PageRequest::new()).await.unwrap();
    assert!(apps.items.iter().any(|a| a.id == app.id));

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
    c.replace_application_logout_urls(&app.id, &[out])
        .await
        .unwrap();
    assert_eq!(c.get_application_logout_urls(&app.id).await.unwrap(), [out]);
    c.delete_application_logout_urls(&app.id, &[out])
        .await
        .unwrap();

    let api = c
        .create_api("Todos", "https://todos.example.com")
        .await
        .unwrap();
    c.add_api_scope(&api.id, "read:todos", Some("Read"))
        .await
        .unwrap();
    let scopes = c.get_api_scopes(&api.id).await.unwrap();
    assert_eq!(scopes[0].key.as_deref(), Some("read:todos"));
    c.update_api_applications(
        &api.id,
        &[portcullis::management::ApplicationOperation::authorize(
            &app.id,
        )],
    )
    .await
    .unwrap();
    let got = c.get_api(&api.id).await.unwrap();
    assert_eq!(got.audience.as_deref(), Some("https://todos.example.com"));
    assert!(c.get_apis().await.unwrap().iter().any(|a| a.id == api.id));
    c.delete_api(&api.id).await.unwrap();
    c.delete_application(&app.id).await.unwrap();
    let e: ManagementError = c.get_application(&app.id).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}
