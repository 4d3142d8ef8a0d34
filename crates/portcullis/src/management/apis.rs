//! APIs (resource servers): `GET|POST /apis`, `GET|DELETE /apis/{id}`, their scopes and the
//! applications allowed to call them.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use futures_core::Stream;
use futures_util::TryStreamExt;

use super::{
    Created, MAX_PAGE_SIZE, ManagementClient, ManagementError, PageRequest, Success, check_bulk,
    null_as_default,
};

/// An API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Api {
    /// The API's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its audience, as tokens for it carry in `aud`.
    #[serde(default)]
    pub audience: Option<String>,
    /// Whether it is the management API itself.
    #[serde(default)]
    pub is_management_api: Option<bool>,
    /// Its scopes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<ApiScope>,
    /// The applications allowed to call it (single API only).
    #[serde(default, deserialize_with = "null_as_default")]
    pub applications: Vec<ApiApplication>,
}

/// A scope an API defines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiScope {
    /// The scope's id.
    pub id: String,
    /// Its key (`read:todos`).
    #[serde(default)]
    pub key: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An application allowed to call an API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiApplication {
    /// The application's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its type.
    #[serde(rename = "type", default)]
    pub app_type: Option<String>,
    /// Whether it is allowed now.
    #[serde(default)]
    pub is_active: Option<bool>,
}

/// The body of `POST /apis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewApi {
    /// The name.
    pub name: String,
    /// The audience tokens for it will carry.
    pub audience: String,
}

#[derive(Serialize)]
struct NewScope<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

/// One application of a `PATCH /apis/{id}/applications` body: `{id, operation?, scopes?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApplicationOperation {
    /// The application's id.
    pub id: String,
    /// `delete` to take the API away from the application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The scopes to grant when authorizing (each defined by the API); `None` grants every
    /// scope the API defines (Portcullis; Kinde ignores it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

impl ApplicationOperation {
    /// Lets the application call the API.
    pub fn authorize(application_id: impl Into<String>) -> Self {
        ApplicationOperation {
            id: application_id.into(),
            operation: None,
            scopes: None,
        }
    }

    /// Stops the application from calling the API.
    pub fn revoke(application_id: impl Into<String>) -> Self {
        ApplicationOperation {
            id: application_id.into(),
            operation: Some("delete".to_owned()),
            scopes: None,
        }
    }

    /// Grants only these scopes (with [`ApplicationOperation::authorize`]).
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

/// What `PATCH /apis/{id}/applications` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UpdatedApiApplications {
    /// Ids of the applications authorized (or authorized again).
    #[serde(default, deserialize_with = "null_as_default")]
    pub applications_authorized: Vec<String>,
    /// Ids of the applications deauthorized.
    #[serde(default, deserialize_with = "null_as_default")]
    pub applications_deauthorized: Vec<String>,
}

#[derive(Serialize)]
struct ApplicationsBody<'a> {
    applications: &'a [ApplicationOperation],
}

impl ManagementClient {
    /// Every API (`GET /apis`), following `next_token` across pages (Portcullis pages the
    /// list; Kinde answers it whole).
    pub async fn get_apis(&self) -> Result<Vec<Api>, ManagementError> {
        self.apis(PageRequest::of_size(MAX_PAGE_SIZE))
            .try_collect()
            .await
    }

    /// Every API, page after page, in pages of `page`'s size.
    pub fn apis(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Api, ManagementError>> + Send + use<> {
        self.paged(&["apis"], page, "apis")
    }

    /// Creates an API (`POST /apis`); returns its id.
    pub async fn create_api(&self, name: &str, audience: &str) -> Result<Created, ManagementError> {
        let body = NewApi {
            name: name.to_owned(),
            audience: audience.to_owned(),
        };
        let call = self.call(Method::POST, &["apis"])?.json(&body)?;
        self.send_member(call, "api").await
    }

    /// An API by id (`GET /apis/{id}`).
    pub async fn get_api(&self, id: &str) -> Result<Api, ManagementError> {
        let call = self.call(Method::GET, &["apis", id])?;
        self.send_member(call, "api").await
    }

    /// Deletes an API (`DELETE /apis/{id}`).
    pub async fn delete_api(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["apis", id])?;
        self.send(call).await
    }

    /// An API's scopes (`GET /apis/{id}/scopes`).
    pub async fn get_api_scopes(&self, id: &str) -> Result<Vec<ApiScope>, ManagementError> {
        let call = self.call(Method::GET, &["apis", id, "scopes"])?;
        Ok(self
            .send_member_opt(call, "scopes")
            .await?
            .unwrap_or_default())
    }

    /// Adds a scope to an API (`POST /apis/{id}/scopes`, `{key, description}`); returns its id.
    pub async fn add_api_scope(
        &self,
        id: &str,
        key: &str,
        description: Option<&str>,
    ) -> Result<Created, ManagementError> {
        let call = self
            .call(Method::POST, &["apis", id, "scopes"])?
            .json(&NewScope { key, description })?;
        self.send_member(call, "scope").await
    }

    /// Lets applications call an API, or stops them (`PATCH /apis/{id}/applications`; at most
    /// 100).
    pub async fn update_api_applications(
        &self,
        id: &str,
        applications: &[ApplicationOperation],
    ) -> Result<UpdatedApiApplications, ManagementError> {
        check_bulk("applications", applications.len())?;
        let call = self
            .call(Method::PATCH, &["apis", id, "applications"])?
            .json(&ApplicationsBody { applications })?;
        self.send(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_bodies_and_answers() {
        let ops = [
            ApplicationOperation::authorize("a1"),
            ApplicationOperation::revoke("a2"),
        ];
        assert_eq!(
            serde_json::to_value(ApplicationsBody { applications: &ops }).unwrap(),
            json!({"applications": [{"id": "a1"}, {"id": "a2", "operation": "delete"}]})
        );
        let ops = [ApplicationOperation::authorize("a1").scopes(["read:todos"])];
        assert_eq!(
            serde_json::to_value(ApplicationsBody { applications: &ops }).unwrap(),
            json!({"applications": [{"id": "a1", "scopes": ["read:todos"]}]})
        );
        let changes: UpdatedApiApplications = serde_json::from_value(
            json!({"code": "OK", "applications_authorized": ["a1"], "applications_deauthorized": null}),
        )
        .unwrap();
        assert_eq!(changes.applications_authorized, ["a1"]);
        assert!(changes.applications_deauthorized.is_empty());
        let api: Api = serde_json::from_value(json!({
            "id": "api_1", "name": "Todos", "audience": "https://api.example.com",
            "scopes": [{"id": "s1", "key": "read:todos"}], "applications": null
        }))
        .unwrap();
        assert_eq!(api.scopes[0].key.as_deref(), Some("read:todos"));
        assert!(api.applications.is_empty());
    }
}
