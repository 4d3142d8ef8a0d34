//! Users: `GET /users`, `GET|POST|PATCH|DELETE /user`, and `/users/{id}/…` (password, feature-flag
//! overrides, refresh claims, sessions).

use std::fmt;

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    ManagementClient, ManagementError, Page, PageRequest, Success, null_as_default, setters,
};

/// A user, as `GET /users` lists them and `GET /user` returns one.
///
/// The list names the email `email`, the single user `preferred_email`; [`User::email`] reads
/// either.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct User {
    /// The user's id (`kp_…`).
    pub id: String,
    /// The id in the customer's own system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provided_id: Option<String>,
    /// The email address (in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The email address (single user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_email: Option<String>,
    /// The username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Full name, where the server sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Whether the user is suspended (cannot sign in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_suspended: Option<bool>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Successful sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_sign_ins: Option<i64>,
    /// Failed sign-ins since the last successful one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_sign_ins: Option<i64>,
    /// When the user last signed in (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_signed_in: Option<String>,
    /// When the user was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
    /// Codes of the organizations the user belongs to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub organizations: Vec<String>,
    /// The user's identities (email, username, social logins).
    #[serde(default, deserialize_with = "null_as_default")]
    pub identities: Vec<UserIdentity>,
}

impl User {
    /// The email address, whichever name the server gave it.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref().or(self.preferred_email.as_deref())
    }
}

/// One identity of a user: `{"type": "email", "identity": "ada@example.com"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct UserIdentity {
    /// `email`, `username`, `phone`, `oauth2:google`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The identity's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Filters and paging of `GET /users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsersQuery {
    /// Page size and `next_token`.
    pub page: PageRequest,
    /// Only the user with this id.
    pub user_id: Option<String>,
    /// Only the user with this email.
    pub email: Option<String>,
    /// Only the user with this username.
    pub username: Option<String>,
    /// Extra data to include (`organizations`, `identities`, comma-separated).
    pub expand: Option<String>,
}

impl UsersQuery {
    /// Every user, in pages of the server's default size.
    pub fn new() -> Self {
        UsersQuery::default()
    }

    /// Sets the paging.
    #[must_use]
    pub fn page(mut self, page: PageRequest) -> Self {
        self.page = page;
        self
    }
}

setters!(UsersQuery {
    /// Only the user with this id.
    user_id: String,
    /// Only the user with this email.
    email: String,
    /// Only the user with this username.
    username: String,
    /// Extra data to include (`organizations`, `identities`).
    expand: String,
});

impl From<u32> for UsersQuery {
    /// The first page of `page_size` users.
    fn from(page_size: u32) -> Self {
        UsersQuery::new().page(PageRequest::of_size(page_size))
    }
}

impl From<PageRequest> for UsersQuery {
    fn from(page: PageRequest) -> Self {
        UsersQuery::new().page(page)
    }
}

/// The body of `POST /user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewUser {
    /// Names and picture.
    pub profile: NewUserProfile,
    /// An organization to add the user to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_code: Option<String>,
    /// The id in the customer's own system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provided_id: Option<String>,
    /// How the user signs in (at least one, usually an email).
    pub identities: Vec<NewIdentity>,
}

/// The `profile` of a [`NewUser`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewUserProfile {
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Picture URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

/// One identity of a [`NewUser`]: `{"type": "email", "details": {"email": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewIdentity {
    /// `email`, `username` or `phone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The identity's value, keyed by its kind.
    pub details: serde_json::Map<String, Value>,
}

impl NewIdentity {
    fn of(kind: &str, value: String) -> Self {
        let mut details = serde_json::Map::new();
        details.insert(kind.to_owned(), Value::String(value));
        NewIdentity {
            kind: kind.to_owned(),
            details,
        }
    }

    /// An email identity.
    pub fn email(email: impl Into<String>) -> Self {
        Self::of("email", email.into())
    }

    /// A username identity.
    pub fn username(username: impl Into<String>) -> Self {
        Self::of("username", username.into())
    }

    /// A phone identity.
    pub fn phone(phone: impl Into<String>) -> Self {
        Self::of("phone", phone.into())
    }
}

impl NewUser {
    /// A user with no profile and no identity yet.
    pub fn new() -> Self {
        NewUser::default()
    }

    /// Sets the given name.
    #[must_use]
    pub fn given_name(mut self, name: impl Into<String>) -> Self {
        self.profile.given_name = Some(name.into());
        self
    }

    /// Sets the family name.
    #[must_use]
    pub fn family_name(mut self, name: impl Into<String>) -> Self {
        self.profile.family_name = Some(name.into());
        self
    }

    /// Sets the picture URL.
    #[must_use]
    pub fn picture(mut self, url: impl Into<String>) -> Self {
        self.profile.picture = Some(url.into());
        self
    }

    /// Adds an email identity.
    #[must_use]
    pub fn email(self, email: impl Into<String>) -> Self {
        self.identity(NewIdentity::email(email))
    }

    /// Adds an identity.
    #[must_use]
    pub fn identity(mut self, identity: NewIdentity) -> Self {
        self.identities.push(identity);
        self
    }
}

setters!(NewUser {
    /// Adds the user to this organization.
    organization_code: String,
    /// Sets the id in the customer's own system.
    provided_id: String,
});

/// What `POST /user` returns: `{id, created, identities}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CreatedUser {
    /// The new user's id.
    pub id: String,
    /// Whether the user was created.
    #[serde(default)]
    pub created: Option<bool>,
    /// What happened to each identity (`{"type": "email", "result": {"created": true}}`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub identities: Vec<Value>,
}

/// The body of `PATCH /user?id=`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpdateUser {
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Picture URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Suspends or reinstates the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_suspended: Option<bool>,
    /// Asks the user to set a new password at the next sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_password_reset_requested: Option<bool>,
    /// The id in the customer's own system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provided_id: Option<String>,
}

impl UpdateUser {
    /// A change of nothing yet.
    pub fn new() -> Self {
        UpdateUser::default()
    }
}

setters!(UpdateUser {
    /// Sets the given name.
    given_name: String,
    /// Sets the family name.
    family_name: String,
    /// Sets the picture URL.
    picture: String,
    /// Suspends (`true`) or reinstates (`false`) the user.
    is_suspended: bool,
    /// Asks for a new password at the next sign-in.
    is_password_reset_requested: bool,
    /// Sets the id in the customer's own system.
    provided_id: String,
});

/// What `PATCH /user` returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UpdatedUser {
    /// The user's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the user is suspended.
    #[serde(default)]
    pub is_suspended: Option<bool>,
    /// Whether a password reset is requested.
    #[serde(default)]
    pub is_password_reset_requested: Option<bool>,
    /// Picture URL.
    #[serde(default)]
    pub picture: Option<String>,
}

/// The body of `PUT /users/{id}/password`: a password in clear (Portcullis checks it against its
/// policy and hashes it), or a hash and how it was made (imports; Kinde takes `bcrypt`, `crypt`,
/// `md5`, `wordpress`, Portcullis `argon2id`). `Debug` prints neither.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SetPassword {
    /// The password in clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The password hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashed_password: Option<String>,
    /// How it was hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashing_method: Option<String>,
    /// The salt, for methods that take one separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Where the salt goes: `prefix` or `suffix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt_position: Option<String>,
    /// Whether the user must change it at the next sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temporary_password: Option<bool>,
}

impl SetPassword {
    /// A password in clear.
    pub fn plain(password: impl Into<String>) -> Self {
        SetPassword {
            password: Some(password.into()),
            hashed_password: None,
            hashing_method: None,
            salt: None,
            salt_position: None,
            is_temporary_password: None,
        }
    }

    /// A password given as its hash.
    pub fn hashed(hashed_password: impl Into<String>) -> Self {
        SetPassword {
            password: None,
            hashed_password: Some(hashed_password.into()),
            ..Self::plain("")
        }
    }
}

setters!(SetPassword {
    /// How the password was hashed.
    hashing_method: String,
    /// The salt.
    salt: String,
    /// Where the salt goes (`prefix` or `suffix`).
    salt_position: String,
    /// Whether the user must change it at the next sign-in.
    is_temporary_password: bool,
});

impl fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("SetPassword")
            .field("password", &redacted(&self.password))
            .field("hashed_password", &redacted(&self.hashed_password))
            .field("hashing_method", &self.hashing_method)
            .field("salt", &redacted(&self.salt))
            .field("salt_position", &self.salt_position)
            .field("is_temporary_password", &self.is_temporary_password)
            .finish()
    }
}

/// One of a user's sign-in sessions (`GET /users/{id}/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UserSession {
    /// The session's id.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The user's id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The organization signed into.
    #[serde(default)]
    pub org_code: Option<String>,
    /// The application signed into.
    #[serde(default)]
    pub client_id: Option<String>,
    /// When it started (RFC 3339).
    #[serde(default)]
    pub started_on: Option<String>,
    /// When it was last used (RFC 3339).
    #[serde(default)]
    pub updated_on: Option<String>,
    /// When it expires (RFC 3339).
    #[serde(default)]
    pub expires_on: Option<String>,
    /// The connection used to sign in.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The last IP address seen.
    #[serde(default)]
    pub last_ip_address: Option<String>,
    /// The last user agent seen.
    #[serde(default)]
    pub last_user_agent: Option<String>,
}

impl ManagementClient {
    fn users_call(&self, query: &UsersQuery) -> Result<super::Call, ManagementError> {
        let call = self.call(Method::GET, &["users"])?;
        Ok(query
            .page
            .apply(call)?
            .query_opt("user_id", query.user_id.as_deref())
            .query_opt("email", query.email.as_deref())
            .query_opt("username", query.username.as_deref())
            .query_opt("expand", query.expand.as_deref()))
    }

    /// One page of users (`GET /users`): `get_users(50)` for the first 50, or a [`UsersQuery`]
    /// with filters and a `next_token`.
    pub async fn get_users(
        &self,
        query: impl Into<UsersQuery>,
    ) -> Result<Page<User>, ManagementError> {
        let call = self.users_call(&query.into())?;
        self.page(call, "users").await
    }

    /// Every user matching `query`, page after page.
    pub fn users(
        &self,
        query: UsersQuery,
    ) -> impl Stream<Item = Result<User, ManagementError>> + Send + use<> {
        let call = self.users_call(&UsersQuery {
            page: query.page.clone().first(),
            ..query
        });
        self.stream_from(call, "users")
    }

    /// A user by id (`GET /user?id=`).
    pub async fn get_user(&self, id: &str) -> Result<User, ManagementError> {
        let call = self
            .call(Method::GET, &["user"])?
            .query("id", non_empty(id)?);
        self.send(call).await
    }

    /// Creates a user with a name and an email identity (`POST /user`).
    pub async fn create_user(
        &self,
        given_name: &str,
        family_name: &str,
        email: &str,
    ) -> Result<CreatedUser, ManagementError> {
        let user = NewUser::new()
            .given_name(given_name)
            .family_name(family_name)
            .email(email);
        self.create_user_with(&user).await
    }

    /// Creates a user (`POST /user`).
    pub async fn create_user_with(&self, user: &NewUser) -> Result<CreatedUser, ManagementError> {
        let call = self.call(Method::POST, &["user"])?.json(user)?;
        self.send(call).await
    }

    /// Changes a user (`PATCH /user?id=`).
    pub async fn update_user(
        &self,
        id: &str,
        changes: &UpdateUser,
    ) -> Result<UpdatedUser, ManagementError> {
        let call = self
            .call(Method::PATCH, &["user"])?
            .query("id", non_empty(id)?)
            .json(changes)?;
        self.send(call).await
    }

    /// Deletes a user (`DELETE /user?id=`).
    pub async fn delete_user(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::DELETE, &["user"])?
            .query("id", non_empty(id)?);
        self.send(call).await
    }

    /// Sets a user's password (`PUT /users/{id}/password`).
    pub async fn set_user_password(
        &self,
        id: &str,
        password: &SetPassword,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PUT, &["users", id, "password"])?
            .json(password)?;
        self.send(call).await
    }

    /// Overrides a feature flag for one user (`PATCH /users/{id}/feature_flags/{key}?value=`).
    /// Values are strings on the wire: `"true"`, `"42"`, `"pink"`.
    pub async fn update_user_feature_flag_override(
        &self,
        id: &str,
        flag_key: &str,
        value: &str,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PATCH, &["users", id, "feature_flags", flag_key])?
            .query("value", value);
        self.send(call).await
    }

    /// Makes the user's next tokens carry their current roles, permissions and flags
    /// (`POST /users/{id}/refresh_claims`).
    pub async fn refresh_user_claims(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::POST, &["users", id, "refresh_claims"])?;
        self.send(call).await
    }

    /// A user's sign-in sessions (`GET /users/{id}/sessions`).
    pub async fn get_user_sessions(&self, id: &str) -> Result<Vec<UserSession>, ManagementError> {
        let call = self.call(Method::GET, &["users", id, "sessions"])?;
        let sessions: Option<Vec<UserSession>> = self.send_member_opt(call, "sessions").await?;
        Ok(sessions.unwrap_or_default())
    }

    /// Ends all of a user's sessions (`DELETE /users/{id}/sessions`).
    pub async fn delete_user_sessions(&self, id: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["users", id, "sessions"])?;
        self.send(call).await
    }
}

/// An id passed as a query parameter: not empty.
pub(crate) fn non_empty(id: &str) -> Result<&str, ManagementError> {
    if id.trim().is_empty() {
        return Err(ManagementError::invalid_argument("id", "must not be empty"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_read_both_shapes_and_ignore_unknown_fields() {
        let listed: User = serde_json::from_value(json!({
            "id": "kp_1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
            "is_suspended": false, "organizations": null, "billing": {"x": 1}, "identities": [{"type": "email", "identity": "ada@example.com"}]
        }))
        .unwrap();
        assert_eq!(listed.email(), Some("ada@example.com"));
        assert!(listed.organizations.is_empty());
        assert_eq!(listed.identities[0].kind.as_deref(), Some("email"));
        let single: User = serde_json::from_value(json!({
            "id": "kp_1", "preferred_email": "ada@example.com", "organizations": ["org_acme"],
            "code": "OK", "message": "Success"
        }))
        .unwrap();
        assert_eq!(single.email(), Some("ada@example.com"));
        assert_eq!(single.organizations, ["org_acme"]);
        assert!(serde_json::from_value::<User>(json!({"email": "x"})).is_err());
    }

    #[test]
    fn new_user_body_is_kindes_shape() {
        let body = serde_json::to_value(
            NewUser::new()
                .given_name("Grace")
                .family_name("Hopper")
                .email("grace@example.com")
                .organization_code("org_acme"),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "profile": {"given_name": "Grace", "family_name": "Hopper"},
                "organization_code": "org_acme",
                "identities": [{"type": "email", "details": {"email": "grace@example.com"}}]
            })
        );
        let body = serde_json::to_value(UpdateUser::new().is_suspended(true)).unwrap();
        assert_eq!(body, json!({"is_suspended": true}));
    }

    #[test]
    fn password_hashes_do_not_print() {
        let p = SetPassword::hashed("$2b$10$abcdefghijklmnopqrstuv")
            .hashing_method("bcrypt")
            .salt("pepper");
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("abcdefghij") && !shown.contains("pepper"),
            "{shown}"
        );
        assert!(shown.contains("bcrypt"));
        let shown = format!("{:?}", SetPassword::plain("hunter2-hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
