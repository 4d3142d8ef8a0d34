//! Organizations: `GET /organizations`, `GET|POST /organization`, `PATCH|DELETE
//! /organization/{code}`, and `/organizations/{code}/…` (users, their roles and permissions, role
//! members, feature-flag overrides).

use std::collections::BTreeMap;

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::feature_flags::FlagOverride;
use super::roles::Role;
use super::users::non_empty;
use super::{
    Call, ManagementClient, ManagementError, Page, PageRequest, Success, check_bulk,
    null_as_default, setters,
};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Organization {
    /// The organization's code (`org_…`).
    pub code: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its handle (a unique, URL-friendly name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Whether it is the environment's default organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// The id in the customer's own system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Whether users may sign up into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_allow_registrations: Option<bool>,
    /// Whether users with a matching email domain join it automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_auto_membership_enabled: Option<bool>,
    /// When it was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
}

/// The body of `POST /organization`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewOrganization {
    /// The name (required).
    pub name: String,
    /// The id in the customer's own system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A unique, URL-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Whether users may sign up into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_allow_registrations: Option<bool>,
    /// Feature flags to override for it, by key: the value as a string.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_flags: BTreeMap<String, String>,
}

impl NewOrganization {
    /// An organization named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        NewOrganization {
            name: name.into(),
            ..NewOrganization::default()
        }
    }
}

setters!(NewOrganization {
    /// Sets the id in the customer's own system.
    external_id: String,
    /// Sets the handle.
    handle: String,
    /// Lets users sign up into it.
    is_allow_registrations: bool,
});

/// What `POST /organization` returns: `{"organization": {"code": "org_…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CreatedOrganization {
    /// The new organization's code.
    pub code: String,
}

/// The body of `PATCH /organization/{code}`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpdateOrganization {
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id in the customer's own system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Whether users may sign up into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_allow_registrations: Option<bool>,
}

impl UpdateOrganization {
    /// A change of nothing yet.
    pub fn new() -> Self {
        UpdateOrganization::default()
    }
}

setters!(UpdateOrganization {
    /// Renames it.
    name: String,
    /// Sets the id in the customer's own system.
    external_id: String,
    /// Sets the handle.
    handle: String,
    /// Lets users sign up into it, or not.
    is_allow_registrations: bool,
});

/// A member of an organization (`GET /organizations/{code}/users`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct OrganizationUser {
    /// The user's id.
    pub id: String,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// When the user joined (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_on: Option<String>,
    /// Keys of the user's roles in the organization.
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
}

/// Filters and paging of `GET /organizations/{code}/users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrganizationUsersQuery {
    /// Page size, order and `next_token`.
    pub page: PageRequest,
    /// Only users with these permissions (comma-separated keys).
    pub permissions: Option<String>,
    /// Only users with these roles (comma-separated keys).
    pub roles: Option<String>,
}

impl OrganizationUsersQuery {
    /// Every member, in pages of the server's default size.
    pub fn new() -> Self {
        OrganizationUsersQuery::default()
    }

    /// Sets the paging.
    #[must_use]
    pub fn page(mut self, page: PageRequest) -> Self {
        self.page = page;
        self
    }
}

setters!(OrganizationUsersQuery {
    /// Only users with these permissions (comma-separated keys).
    permissions: String,
    /// Only users with these roles (comma-separated keys).
    roles: String,
});

impl From<PageRequest> for OrganizationUsersQuery {
    fn from(page: PageRequest) -> Self {
        OrganizationUsersQuery::new().page(page)
    }
}

impl From<u32> for OrganizationUsersQuery {
    fn from(page_size: u32) -> Self {
        OrganizationUsersQuery::new().page(PageRequest::of_size(page_size))
    }
}

/// One user of a `POST` or `PATCH /organizations/{code}/users` body: `{id, roles, permissions,
/// operation?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OrganizationUserChange {
    /// The user's id.
    pub id: String,
    /// Role keys to give the user.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Permission keys to give the user.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// `delete` to remove the user (in a `PATCH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl OrganizationUserChange {
    /// Adds (or, in a `PATCH`, updates) the user.
    pub fn add(user_id: impl Into<String>) -> Self {
        OrganizationUserChange {
            id: user_id.into(),
            roles: Vec::new(),
            permissions: Vec::new(),
            operation: None,
        }
    }

    /// Removes the user (in a `PATCH`).
    pub fn remove(user_id: impl Into<String>) -> Self {
        OrganizationUserChange {
            operation: Some("delete".to_owned()),
            ..Self::add(user_id)
        }
    }

    /// With these role keys.
    #[must_use]
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// With these permission keys.
    #[must_use]
    pub fn permissions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.permissions = keys.into_iter().map(Into::into).collect();
        self
    }
}

#[derive(Serialize)]
struct UsersBody<'a> {
    users: &'a [OrganizationUserChange],
}

/// What `POST /organizations/{code}/users` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AddedOrganizationUsers {
    /// Ids of the users added.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users_added: Vec<String>,
}

/// What `PATCH /organizations/{code}/users` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UpdatedOrganizationUsers {
    /// Ids of the users added.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users_added: Vec<String>,
    /// Ids of the users whose roles or permissions changed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users_updated: Vec<String>,
    /// Ids of the users removed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users_removed: Vec<String>,
}

/// A permission of a user in an organization, with the roles it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OrganizationUserPermission {
    /// The permission's id.
    pub id: String,
    /// Its key (`read:todos`).
    #[serde(default)]
    pub key: Option<String>,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The roles that grant it (`{id, key}`); empty when granted directly.
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<Role>,
}

#[derive(Serialize)]
struct RoleIdBody<'a> {
    role_id: &'a str,
}

#[derive(Serialize)]
struct PermissionIdBody<'a> {
    permission_id: &'a str,
}

impl ManagementClient {
    /// One page of organizations (`GET /organizations`).
    pub async fn get_organizations(
        &self,
        page: impl Into<PageRequest>,
    ) -> Result<Page<Organization>, ManagementError> {
        self.list_page(&["organizations"], page.into(), "organizations")
            .await
    }

    /// Every organization, page after page.
    pub fn organizations(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Organization, ManagementError>> + Send + use<> {
        self.paged(&["organizations"], page, "organizations")
    }

    /// An organization by code (`GET /organization?code=`).
    pub async fn get_organization(&self, code: &str) -> Result<Organization, ManagementError> {
        let call = self
            .call(Method::GET, &["organization"])?
            .query("code", non_empty(code)?);
        self.send(call).await
    }

    /// Creates an organization named `name` (`POST /organization`).
    pub async fn create_organization(
        &self,
        name: &str,
    ) -> Result<CreatedOrganization, ManagementError> {
        self.create_organization_with(&NewOrganization::new(name))
            .await
    }

    /// Creates an organization (`POST /organization`).
    pub async fn create_organization_with(
        &self,
        organization: &NewOrganization,
    ) -> Result<CreatedOrganization, ManagementError> {
        let call = self
            .call(Method::POST, &["organization"])?
            .json(organization)?;
        self.send_member(call, "organization").await
    }

    /// Changes an organization (`PATCH /organization/{code}`).
    pub async fn update_organization(
        &self,
        code: &str,
        changes: &UpdateOrganization,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PATCH, &["organization", code])?
            .json(changes)?;
        self.send(call).await
    }

    /// Deletes an organization (`DELETE /organization/{code}`).
    pub async fn delete_organization(&self, code: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["organization", code])?;
        self.send(call).await
    }

    fn organization_users_call(
        &self,
        code: &str,
        query: &OrganizationUsersQuery,
    ) -> Result<Call, ManagementError> {
        let call = self.call(Method::GET, &["organizations", code, "users"])?;
        Ok(query
            .page
            .apply(call)?
            .query_opt("permissions", query.permissions.as_deref())
            .query_opt("roles", query.roles.as_deref()))
    }

    /// One page of an organization's members (`GET /organizations/{code}/users`).
    pub async fn get_organization_users(
        &self,
        code: &str,
        query: impl Into<OrganizationUsersQuery>,
    ) -> Result<Page<OrganizationUser>, ManagementError> {
        let call = self.organization_users_call(code, &query.into())?;
        self.page(call, "organization_users").await
    }

    /// Every member of an organization, page after page.
    pub fn organization_users(
        &self,
        code: &str,
        query: OrganizationUsersQuery,
    ) -> impl Stream<Item = Result<OrganizationUser, ManagementError>> + Send + use<> {
        let query = OrganizationUsersQuery {
            page: query.page.clone().first(),
            ..query
        };
        self.stream_from(
            self.organization_users_call(code, &query),
            "organization_users",
        )
    }

    /// Adds users to an organization, with roles and permissions (`POST
    /// /organizations/{code}/users`; at most 100 users).
    pub async fn add_organization_users(
        &self,
        code: &str,
        users: &[OrganizationUserChange],
    ) -> Result<AddedOrganizationUsers, ManagementError> {
        check_bulk("users", users.len())?;
        let call = self
            .call(Method::POST, &["organizations", code, "users"])?
            .json(&UsersBody { users })?;
        self.send(call).await
    }

    /// Adds, changes or removes (`operation: "delete"`) users of an organization (`PATCH
    /// /organizations/{code}/users`; at most 100 users).
    pub async fn update_organization_users(
        &self,
        code: &str,
        users: &[OrganizationUserChange],
    ) -> Result<UpdatedOrganizationUsers, ManagementError> {
        check_bulk("users", users.len())?;
        let call = self
            .call(Method::PATCH, &["organizations", code, "users"])?
            .json(&UsersBody { users })?;
        self.send(call).await
    }

    /// Removes a user from an organization (`DELETE /organizations/{code}/users/{user_id}`).
    pub async fn remove_organization_user(
        &self,
        code: &str,
        user_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["organizations", code, "users", user_id])?;
        self.send(call).await
    }

    /// A user's roles in an organization (`GET /organizations/{code}/users/{user_id}/roles`).
    pub async fn get_organization_user_roles(
        &self,
        code: &str,
        user_id: &str,
    ) -> Result<Vec<Role>, ManagementError> {
        let call = self.call(
            Method::GET,
            &["organizations", code, "users", user_id, "roles"],
        )?;
        Ok(self
            .send_member_opt(call, "roles")
            .await?
            .unwrap_or_default())
    }

    /// Gives a user a role in an organization (`POST …/users/{user_id}/roles`, `{role_id}`).
    pub async fn create_organization_user_role(
        &self,
        code: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(
                Method::POST,
                &["organizations", code, "users", user_id, "roles"],
            )?
            .json(&RoleIdBody { role_id })?;
        self.send(call).await
    }

    /// Takes a role from a user in an organization (`DELETE …/users/{user_id}/roles/{role_id}`).
    pub async fn delete_organization_user_role(
        &self,
        code: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(
            Method::DELETE,
            &["organizations", code, "users", user_id, "roles", role_id],
        )?;
        self.send(call).await
    }

    /// A user's permissions in an organization, from roles and granted directly (`GET
    /// …/users/{user_id}/permissions`).
    pub async fn get_organization_user_permissions(
        &self,
        code: &str,
        user_id: &str,
    ) -> Result<Vec<OrganizationUserPermission>, ManagementError> {
        let call = self.call(
            Method::GET,
            &["organizations", code, "users", user_id, "permissions"],
        )?;
        Ok(self
            .send_member_opt(call, "permissions")
            .await?
            .unwrap_or_default())
    }

    /// Grants a user a permission directly in an organization (`POST
    /// …/users/{user_id}/permissions`, `{permission_id}`).
    pub async fn create_organization_user_permission(
        &self,
        code: &str,
        user_id: &str,
        permission_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(
                Method::POST,
                &["organizations", code, "users", user_id, "permissions"],
            )?
            .json(&PermissionIdBody { permission_id })?;
        self.send(call).await
    }

    /// Takes a directly granted permission from a user in an organization (`DELETE
    /// …/users/{user_id}/permissions/{permission_id}`).
    pub async fn delete_organization_user_permission(
        &self,
        code: &str,
        user_id: &str,
        permission_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(
            Method::DELETE,
            &[
                "organizations",
                code,
                "users",
                user_id,
                "permissions",
                permission_id,
            ],
        )?;
        self.send(call).await
    }

    /// One page of the users who have a role in an organization (`GET
    /// /organizations/{code}/roles/{role_id}/users`).
    pub async fn get_organization_role_users(
        &self,
        code: &str,
        role_id: &str,
        page: impl Into<PageRequest>,
    ) -> Result<Page<OrganizationUser>, ManagementError> {
        self.list_page(
            &["organizations", code, "roles", role_id, "users"],
            page.into(),
            "users",
        )
        .await
    }

    /// Every user who has a role in an organization, page after page.
    pub fn organization_role_users(
        &self,
        code: &str,
        role_id: &str,
        page: PageRequest,
    ) -> impl Stream<Item = Result<OrganizationUser, ManagementError>> + Send + use<> {
        self.paged(
            &["organizations", code, "roles", role_id, "users"],
            page,
            "users",
        )
    }

    /// An organization's feature-flag overrides, by key (`GET
    /// /organizations/{code}/feature_flags`).
    pub async fn get_organization_feature_flags(
        &self,
        code: &str,
    ) -> Result<BTreeMap<String, FlagOverride>, ManagementError> {
        let call = self.call(Method::GET, &["organizations", code, "feature_flags"])?;
        Ok(self
            .send_member_opt(call, "feature_flags")
            .await?
            .unwrap_or_default())
    }

    /// Removes all of an organization's feature-flag overrides (`DELETE
    /// /organizations/{code}/feature_flags`).
    pub async fn delete_organization_feature_flag_overrides(
        &self,
        code: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["organizations", code, "feature_flags"])?;
        self.send(call).await
    }

    /// Overrides a feature flag for an organization (`PATCH
    /// /organizations/{code}/feature_flags/{key}?value=`). Values are strings on the wire.
    pub async fn update_organization_feature_flag_override(
        &self,
        code: &str,
        flag_key: &str,
        value: &str,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(
                Method::PATCH,
                &["organizations", code, "feature_flags", flag_key],
            )?
            .query("value", value);
        self.send(call).await
    }

    /// Removes one feature-flag override of an organization (`DELETE
    /// /organizations/{code}/feature_flags/{key}`).
    pub async fn delete_organization_feature_flag_override(
        &self,
        code: &str,
        flag_key: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(
            Method::DELETE,
            &["organizations", code, "feature_flags", flag_key],
        )?;
        self.send(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_changes_serialize_as_kinde_expects() {
        let users = [
            OrganizationUserChange::add("kp_1")
                .roles(["admin"])
                .permissions(["read:todos"]),
            OrganizationUserChange::remove("kp_2"),
        ];
        let body = serde_json::to_value(UsersBody { users: &users }).unwrap();
        assert_eq!(
            body,
            json!({"users": [
                {"id": "kp_1", "roles": ["admin"], "permissions": ["read:todos"]},
                {"id": "kp_2", "operation": "delete"}
            ]})
        );
    }

    #[test]
    fn organizations_parse_leniently() {
        let org: Organization = serde_json::from_value(json!({
            "code": "org_1", "name": "Acme", "is_default": false, "billing": null, "theme": {}
        }))
        .unwrap();
        assert_eq!(org.name.as_deref(), Some("Acme"));
        let changed: UpdatedOrganizationUsers =
            serde_json::from_value(json!({"users_added": null, "users_removed": ["kp_2"]}))
                .unwrap();
        assert!(changed.users_added.is_empty());
        assert_eq!(changed.users_removed, ["kp_2"]);
    }
}
