//! Roles: `GET|POST /roles`, `GET|PATCH|DELETE /roles/{id}`, their permissions and users.

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::permissions::Permission;
use super::{
    Created, ManagementClient, ManagementError, Page, PageRequest, Success, check_bulk,
    null_as_default, setters,
};

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Role {
    /// The role's id.
    pub id: String,
    /// Its key (`admin`), as tokens carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether new organization members get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default_role: Option<bool>,
}

/// The body of `POST /roles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewRole {
    /// The name.
    pub name: String,
    /// The key, as tokens will carry it.
    pub key: String,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether new organization members get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default_role: Option<bool>,
}

impl NewRole {
    /// A role named `name` with key `key`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        NewRole {
            name: name.into(),
            key: key.into(),
            ..NewRole::default()
        }
    }
}

setters!(NewRole {
    /// Sets the description.
    description: String,
    /// Gives it to new organization members.
    is_default_role: bool,
});

/// The body of `PATCH /roles/{id}`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpdateRole {
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether new organization members get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default_role: Option<bool>,
}

impl UpdateRole {
    /// A change of nothing yet.
    pub fn new() -> Self {
        UpdateRole::default()
    }
}

setters!(UpdateRole {
    /// Renames it.
    name: String,
    /// Changes its key.
    key: String,
    /// Changes its description.
    description: String,
    /// Gives it to new organization members, or not.
    is_default_role: bool,
});

/// One permission of a `PATCH /roles/{id}/permissions` body: `{id, operation?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RolePermissionChange {
    /// The permission's id.
    pub id: String,
    /// `delete` to remove it from the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl RolePermissionChange {
    /// Adds the permission to the role.
    pub fn add(permission_id: impl Into<String>) -> Self {
        RolePermissionChange {
            id: permission_id.into(),
            operation: None,
        }
    }

    /// Removes the permission from the role.
    pub fn remove(permission_id: impl Into<String>) -> Self {
        RolePermissionChange {
            id: permission_id.into(),
            operation: Some("delete".to_owned()),
        }
    }
}

/// What `PATCH /roles/{id}/permissions` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RolePermissionChanges {
    /// Ids of the permissions added.
    #[serde(default, deserialize_with = "null_as_default")]
    pub permissions_added: Vec<String>,
    /// Ids of the permissions removed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub permissions_removed: Vec<String>,
}

#[derive(Serialize)]
struct PermissionsBody<'a> {
    permissions: &'a [RolePermissionChange],
}

/// A user who has a role (`GET /roles/{id}/users`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RoleUser {
    /// The user's id.
    pub id: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// The organization where the user has the role, where the server says.
    #[serde(default)]
    pub org_code: Option<String>,
}

impl ManagementClient {
    /// One page of roles (`GET /roles`).
    pub async fn get_roles(
        &self,
        page: impl Into<PageRequest>,
    ) -> Result<Page<Role>, ManagementError> {
        self.list_page(&["roles"], page.into(), "roles").await
    }

    /// Every role, page after page.
    pub fn roles(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Role, ManagementError>> + Send + use<> {
        self.paged(&["roles"], page, "roles")
    }

    /// A role by id (`GET /roles/{id}`).
    pub async fn get_role(&self, id: &str) -> Result<Role, ManagementError> {
        let call = self.call(Method::GET, &["roles", id])?;
        self.send_member(call, "role").await
    }

    /// Creates a role (`POST /roles`); returns its id.
    pub async fn create_role(
        &self,
        name: &str,
        description: &str,
        key: &str,
    ) -> Result<Created, ManagementError> {
        self.create_role_with(&NewRole::new(name, key).description(description))
            .await
    }

    /// Creates a role (`POST /roles`); returns its id.
    pub async fn create_role_with(&self, role: &NewRole) -> Result<Created, ManagementError> {
        let call = self.call(Method::POST, &["roles"])?.json(role)?;
        self.send_member(call, "role").await
    }

    /// Changes a role (`PATCH /roles/{id}`).
    pub async fn update_role(
        &self,
        id: &str,
        changes: &UpdateRole,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::PATCH, &["roles", id])?.json(changes)?;
        self.send(call).await
    }

    /// Deletes a role (`DELETE /roles/{id}`).
    pub async fn delete_role(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["roles", id])?;
        self.send(call).await
    }

    /// One page of a role's permissions (`GET /roles/{id}/permissions`).
    pub async fn get_role_permissions(
        &self,
        id: &str,
        page: impl Into<PageRequest>,
    ) -> Result<Page<Permission>, ManagementError> {
        self.list_page(&["roles", id, "permissions"], page.into(), "permissions")
            .await
    }

    /// Every permission of a role, page after page.
    pub fn role_permissions(
        &self,
        id: &str,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Permission, ManagementError>> + Send + use<> {
        self.paged(&["roles", id, "permissions"], page, "permissions")
    }

    /// Adds and removes permissions of a role (`PATCH /roles/{id}/permissions`; at most 100).
    pub async fn update_role_permissions(
        &self,
        id: &str,
        changes: &[RolePermissionChange],
    ) -> Result<RolePermissionChanges, ManagementError> {
        check_bulk("permissions", changes.len())?;
        let call = self
            .call(Method::PATCH, &["roles", id, "permissions"])?
            .json(&PermissionsBody {
                permissions: changes,
            })?;
        self.send(call).await
    }

    /// Removes one permission from a role (`DELETE /roles/{id}/permissions/{permission_id}`).
    pub async fn remove_role_permission(
        &self,
        id: &str,
        permission_id: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["roles", id, "permissions", permission_id])?;
        self.send(call).await
    }

    /// One page of the users who have a role, in any organization (`GET /roles/{id}/users`).
    pub async fn get_role_users(
        &self,
        id: &str,
        page: impl Into<PageRequest>,
    ) -> Result<Page<RoleUser>, ManagementError> {
        self.list_page(&["roles", id, "users"], page.into(), "users")
            .await
    }

    /// Every user who has a role, page after page.
    pub fn role_users(
        &self,
        id: &str,
        page: PageRequest,
    ) -> impl Stream<Item = Result<RoleUser, ManagementError>> + Send + use<> {
        self.paged(&["roles", id, "users"], page, "users")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_bodies() {
        let body = serde_json::to_value(NewRole::new("Admin", "admin").description("All")).unwrap();
        assert_eq!(
            body,
            json!({"name": "Admin", "key": "admin", "description": "All"})
        );
        let changes = [
            RolePermissionChange::add("p1"),
            RolePermissionChange::remove("p2"),
        ];
        let body = serde_json::to_value(PermissionsBody {
            permissions: &changes,
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"permissions": [{"id": "p1"}, {"id": "p2", "operation": "delete"}]})
        );
    }
}
