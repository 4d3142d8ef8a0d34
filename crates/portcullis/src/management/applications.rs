//! Applications: `GET|POST /applications`, `GET|PATCH|DELETE /applications/{id}`, and their
//! sign-in callback (`auth_redirect_urls`) and sign-out (`auth_logout_urls`) URLs.

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};

use super::{ManagementClient, ManagementError, Page, PageRequest, Success, setters};
use crate::config::ClientSecret;

/// Kinde's application types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ApplicationType {
    /// A regular (server-side) web application, a confidential client (`reg`).
    #[serde(rename = "reg")]
    Regular,
    /// A single-page application, a public client (`spa`).
    #[serde(rename = "spa")]
    SinglePage,
    /// A machine-to-machine application (`m2m`).
    #[serde(rename = "m2m")]
    MachineToMachine,
}

/// An application. Its secret, when the server sends one, is a [`ClientSecret`] that does not
/// print.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Application {
    /// The application's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its type (`reg`, `spa`, `m2m`; kept as sent).
    #[serde(rename = "type", default)]
    pub app_type: Option<String>,
    /// Its OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its client secret (confidential clients, where the server shows it).
    #[serde(default, deserialize_with = "secret")]
    pub client_secret: Option<ClientSecret>,
    /// The URL that starts its sign-in.
    #[serde(default)]
    pub login_uri: Option<String>,
    /// Its home page.
    #[serde(default)]
    pub homepage_uri: Option<String>,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClientSecret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(ClientSecret::new))
}

/// What `POST /applications` returns: `{"application": {id, client_id, client_secret}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CreatedApplication {
    /// The new application's id.
    pub id: String,
    /// Its OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its client secret (not for `spa` applications). Shown once: store it now.
    #[serde(default, deserialize_with = "secret")]
    pub client_secret: Option<ClientSecret>,
}

/// The body of `POST /applications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewApplication {
    /// The name.
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub app_type: ApplicationType,
}

/// The body of `PATCH /applications/{id}`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpdateApplication {
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The language of its hosted pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_key: Option<String>,
    /// The URL that starts its sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_uri: Option<String>,
    /// Its home page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage_uri: Option<String>,
    /// Replaces its sign-in callback URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces its sign-out URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_uris: Option<Vec<String>>,
}

impl UpdateApplication {
    /// A change of nothing yet.
    pub fn new() -> Self {
        UpdateApplication::default()
    }
}

setters!(UpdateApplication {
    /// Renames it.
    name: String,
    /// Sets the language of its hosted pages.
    language_key: String,
    /// Sets the URL that starts its sign-in.
    login_uri: String,
    /// Sets its home page.
    homepage_uri: String,
    /// Replaces its sign-in callback URLs.
    redirect_uris: Vec<String>,
    /// Replaces its sign-out URLs.
    logout_uris: Vec<String>,
});

#[derive(Serialize)]
struct UrlsBody<'a> {
    urls: &'a [&'a str],
}

/// Which URL list of an application.
#[derive(Clone, Copy)]
enum UrlList {
    Redirect,
    Logout,
}

impl UrlList {
    fn segment(self) -> &'static str {
        match self {
            UrlList::Redirect => "auth_redirect_urls",
            UrlList::Logout => "auth_logout_urls",
        }
    }

    /// The member the list comes back in (Kinde: `redirect_urls`, `logout_urls`).
    fn member(self) -> &'static str {
        match self {
            UrlList::Redirect => "redirect_urls",
            UrlList::Logout => "logout_urls",
        }
    }
}

impl ManagementClient {
    /// One page of applications (`GET /applications`).
    pub async fn get_applications(
        &self,
        page: impl Into<PageRequest>,
    ) -> Result<Page<Application>, ManagementError> {
        self.list_page(&["applications"], page.into(), "applications")
            .await
    }

    /// Every application, page after page.
    pub fn applications(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<Application, ManagementError>> + Send + use<> {
        self.paged(&["applications"], page, "applications")
    }

    /// Creates an application (`POST /applications`). The answer holds its client secret
    /// (except for `spa`): store it now.
    pub async fn create_application(
        &self,
        name: &str,
        app_type: ApplicationType,
    ) -> Result<CreatedApplication, ManagementError> {
        let body = NewApplication {
            name: name.to_owned(),
            app_type,
        };
        let call = self.call(Method::POST, &["applications"])?.json(&body)?;
        self.send_member(call, "application").await
    }

    /// An application by id (`GET /applications/{id}`).
    pub async fn get_application(&self, id: &str) -> Result<Application, ManagementError> {
        let call = self.call(Method::GET, &["applications", id])?;
        self.send_member(call, "application").await
    }

    /// Changes an application (`PATCH /applications/{id}`).
    pub async fn update_application(
        &self,
        id: &str,
        changes: &UpdateApplication,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PATCH, &["applications", id])?
            .json(changes)?;
        self.send(call).await
    }

    /// Deletes an application (`DELETE /applications/{id}`).
    pub async fn delete_application(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["applications", id])?;
        self.send(call).await
    }

    async fn get_urls(&self, id: &str, list: UrlList) -> Result<Vec<String>, ManagementError> {
        let call = self.call(Method::GET, &["applications", id, list.segment()])?;
        Ok(self
            .send_member_opt(call, list.member())
            .await?
            .unwrap_or_default())
    }

    async fn send_urls(
        &self,
        method: Method,
        id: &str,
        list: UrlList,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        super::check_bulk("urls", urls.len())?;
        let call = self
            .call(method, &["applications", id, list.segment()])?
            .json(&UrlsBody { urls })?;
        self.send(call).await
    }

    async fn delete_urls(
        &self,
        id: &str,
        list: UrlList,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        super::check_bulk("urls", urls.len())?;
        if let Some(bad) = urls.iter().find(|u| u.contains(',') || u.is_empty()) {
            // `?urls=a,b` cannot carry a URL with a comma in it.
            return Err(ManagementError::invalid_argument(
                "urls",
                format!("{bad:?} cannot be sent in the comma-separated list"),
            ));
        }
        let call = self
            .call(Method::DELETE, &["applications", id, list.segment()])?
            .query("urls", urls.join(","));
        self.send(call).await
    }

    /// An application's sign-in callback URLs (`GET /applications/{id}/auth_redirect_urls`).
    pub async fn get_application_redirect_urls(
        &self,
        id: &str,
    ) -> Result<Vec<String>, ManagementError> {
        self.get_urls(id, UrlList::Redirect).await
    }

    /// Adds sign-in callback URLs (`POST …/auth_redirect_urls`, `{urls}`).
    pub async fn add_application_redirect_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.send_urls(Method::POST, id, UrlList::Redirect, urls)
            .await
    }

    /// Replaces the sign-in callback URLs (`PUT …/auth_redirect_urls`, `{urls}`).
    pub async fn replace_application_redirect_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.send_urls(Method::PUT, id, UrlList::Redirect, urls)
            .await
    }

    /// Removes sign-in callback URLs (`DELETE …/auth_redirect_urls?urls=a,b`).
    pub async fn delete_application_redirect_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.delete_urls(id, UrlList::Redirect, urls).await
    }

    /// An application's sign-out URLs (`GET /applications/{id}/auth_logout_urls`).
    pub async fn get_application_logout_urls(
        &self,
        id: &str,
    ) -> Result<Vec<String>, ManagementError> {
        self.get_urls(id, UrlList::Logout).await
    }

    /// Adds sign-out URLs (`POST …/auth_logout_urls`, `{urls}`).
    pub async fn add_application_logout_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.send_urls(Method::POST, id, UrlList::Logout, urls)
            .await
    }

    /// Replaces the sign-out URLs (`PUT …/auth_logout_urls`, `{urls}`).
    pub async fn replace_application_logout_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.send_urls(Method::PUT, id, UrlList::Logout, urls).await
    }

    /// Removes sign-out URLs (`DELETE …/auth_logout_urls?urls=a,b`).
    pub async fn delete_application_logout_urls(
        &self,
        id: &str,
        urls: &[&str],
    ) -> Result<Success, ManagementError> {
        self.delete_urls(id, UrlList::Logout, urls).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_in_answers_do_not_print() {
        let created: CreatedApplication = serde_json::from_value(json!({
            "id": "app_1", "client_id": "c1", "client_secret": "very-secret-value"
        }))
        .unwrap();
        assert_eq!(
            created.client_secret.as_ref().map(ClientSecret::expose),
            Some("very-secret-value")
        );
        assert!(!format!("{created:?}").contains("very-secret-value"));
        let app: Application = serde_json::from_value(json!({
            "id": "app_1", "name": "Web", "type": "reg", "client_secret": null
        }))
        .unwrap();
        assert_eq!(app.app_type.as_deref(), Some("reg"));
        assert!(app.client_secret.is_none());
    }

    #[test]
    fn application_bodies() {
        let body = serde_json::to_value(NewApplication {
            name: "Worker".into(),
            app_type: ApplicationType::MachineToMachine,
        })
        .unwrap();
        assert_eq!(body, json!({"name": "Worker", "type": "m2m"}));
        let body = serde_json::to_value(UrlsBody {
            urls: &["https://a.example/cb"],
        })
        .unwrap();
        assert_eq!(body, json!({"urls": ["https://a.example/cb"]}));
    }
}
