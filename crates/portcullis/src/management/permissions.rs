//! Permissions: `GET|POST /permissions`, `PATCH|DELETE /permissions/{id}`.

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{ManagementClient, ManagementError, Page, PageRequest, Success, setters};

/// A permission.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Permission {
    /// The permission's id.
    pub id: String,
    /// Its key (`read:todos`), as tokens carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `POST /permissions` and `PATCH /permissions/{id}` (in a `PATCH`, only the fields
/// set are changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewPermission {
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key, as tokens will carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl NewPermission {
    /// A permission named `name` with key `key`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        NewPermission {
            name: Some(name.into()),
            key: Some(key.into()),
            description: None,
        }
    }

    /// A change of nothing yet (for [`ManagementClient::update_permission`]).
    pub fn change() -> Self {
        NewPermission::default()
    }
}

setters!(NewPermission {
    /// Sets the name.
    name: String,
    /// Sets the key.
    key: String,
    /// Sets the description.
    description: String,
});

impl ManagementClient {
    /// One page of permissions (`GET /permissions`).
    pub async fn get_permissions(
        &self,
        page: impl Into<PageRequest>,
    ) -> Result<Page<Permission>, ManagementError> {
        self.list_page(&["permissions"], page.into(), "permissions")
            .await
    }

    /// Every permission, page after page.
    pub fn permissions(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Permission, ManagementError>> + Send + use<> {
        self.paged(&["permissions"], page, "permissions")
    }

    /// Creates a permission (`POST /permissions`). Kinde answers `{code, message}` only; the
    /// new id is then found with [`ManagementClient::get_permissions`].
    pub async fn create_permission(
        &self,
        permission: &NewPermission,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::POST, &["permissions"])?
            .json(permission)?;
        self.send(call).await
    }

    /// Changes a permission (`PATCH /permissions/{id}`).
    pub async fn update_permission(
        &self,
        id: &str,
        changes: &NewPermission,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PATCH, &["permissions", id])?
            .json(changes)?;
        self.send(call).await
    }

    /// Deletes a permission (`DELETE /permissions/{id}`).
    pub async fn delete_permission(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["permissions", id])?;
        self.send(call).await
    }
}
