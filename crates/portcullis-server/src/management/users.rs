//! Management API: users (`/users`, `/user`, `/users/{user_id}/…`).

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, Caller, ErrorBody, Json, MAX_BULK, Page, Path, Query, Sort, Success, email, ok,
    optional_text, picture, plausible_id, timestamp,
};
use crate::AppState;
use crate::store::{
    ManagedUser, NewUser, NewUserOutcome, UserFilter, UserFlagWrite, UserPatch, user_sort_value,
};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_users))
        .routes(routes!(get_user, create_user, update_user, delete_user))
        .routes(routes!(set_user_password))
        .routes(routes!(update_user_feature_flag))
        .routes(routes!(refresh_user_claims))
        .routes(routes!(get_user_sessions, delete_user_sessions))
}

/// Deserializes a present field (even `null`) as `Some`, so a PATCH can tell "clear" from
/// "leave alone".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn user_not_found() -> ApiError {
    ApiError::not_found("USER_NOT_FOUND", "no user has this id")
}

/// A user id from the request, or a 404 without touching the database.
fn user_id(id: &str) -> Result<&str, ApiError> {
    if plausible_id(id) {
        Ok(id)
    } else {
        Err(user_not_found())
    }
}

/// `expand` values: `organizations`, `identities` (comma-separated).
fn expands(expand: Option<&str>) -> Result<(bool, bool), ApiError> {
    let mut orgs = false;
    let mut identities = false;
    for part in expand.unwrap_or("").split(',').map(str::trim) {
        match part {
            "" => {}
            "organizations" => orgs = true,
            "identities" => identities = true,
            "billing" => {}
            _ => {
                return Err(ApiError::bad_request(
                    "INVALID_EXPAND",
                    "expand takes organizations, identities or billing",
                ));
            }
        }
    }
    Ok((orgs, identities))
}

/// An identity of a user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Identity {
    /// `email`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The email address.
    pub identity: String,
}

fn email_identity(user: &ManagedUser) -> Vec<Identity> {
    vec![Identity {
        kind: "email".into(),
        identity: user.email.clone(),
    }]
}

/// A user in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserListItem {
    /// `kp_…`.
    pub id: String,
    /// The app's own id for the user.
    pub provided_id: Option<String>,
    /// Email address.
    pub email: String,
    /// Family name.
    pub last_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Suspended users cannot sign in.
    pub is_suspended: bool,
    /// Picture URL.
    pub picture: Option<String>,
    /// Created (RFC 3339).
    pub created_on: String,
    /// Last changed (RFC 3339).
    pub updated_on: String,
    /// Organization codes (with `expand=organizations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizations: Option<Vec<String>>,
    /// Identities (with `expand=identities`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<Vec<Identity>>,
}

/// `GET /users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub users: Vec<UserListItem>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
    /// Only this user.
    user_id: Option<String>,
    /// Only the user with this email.
    email: Option<String>,
    /// `organizations`, `identities` (comma-separated).
    expand: Option<String>,
    /// `name_asc`, `name_desc` (by `"{first_name} {last_name}"`), `email_asc` or `email_desc`;
    /// ties by id. Without it, by id.
    #[param(schema_with = users_sort_schema)]
    sort: Option<String>,
}

/// The `sort` values of `GET /users`: Kinde's.
const USER_SORTS: &[&str] = &["name_asc", "name_desc", "email_asc", "email_desc"];

fn users_sort_schema() -> utoipa::openapi::Object {
    super::sort_schema(USER_SORTS)
}

/// Lists users, ordered by id or by `sort`.
#[utoipa::path(get, path = "/users", tag = "Users", operation_id = "getUsers",
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of users", body = UsersResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:users"])))]
async fn get_users(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<UsersQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), USER_SORTS)?;
    let list = sort.list("users");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let (with_orgs, with_identities) = expands(q.expand.as_deref())?;
    let email_filter = q.email.as_deref().map(email).transpose()?;
    if q.user_id.as_deref().is_some_and(|id| !plausible_id(id)) {
        return Err(ApiError::bad_request(
            "INVALID_USER_ID",
            "user_id is not a user id",
        ));
    }
    let filter = UserFilter {
        user_id: q.user_id.as_deref(),
        email: email_filter.as_deref(),
    };
    let rows = state
        .store()
        .management()
        .users_sorted(&filter, sort.order, after.as_ref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish_with(&list, rows, |u| {
        let value = user_sort_value(
            sort.order.by,
            &u.id,
            &u.email,
            u.given_name.as_deref(),
            u.family_name.as_deref(),
        );
        sort.cursor(&value, &u.id)
    });
    let mut orgs = if with_orgs {
        let ids: Vec<&str> = rows.iter().map(|u| u.id.as_str()).collect();
        state.store().management().users_org_codes(&ids).await?
    } else {
        Default::default()
    };
    let users = rows
        .into_iter()
        .map(|u| UserListItem {
            identities: with_identities.then(|| email_identity(&u)),
            organizations: with_orgs.then(|| orgs.remove(&u.id).unwrap_or_default()),
            id: u.id,
            provided_id: u.provided_id,
            email: u.email,
            last_name: u.family_name,
            first_name: u.given_name,
            is_suspended: u.is_suspended,
            picture: u.picture,
            created_on: timestamp(u.created_at),
            updated_on: timestamp(u.updated_at),
        })
        .collect();
    Ok(ok(UsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        users,
        next_token,
    }))
}

/// `GET /user`: one user (Kinde sends it without an envelope).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct User {
    /// `kp_…`.
    pub id: String,
    /// The app's own id for the user.
    pub provided_id: Option<String>,
    /// Email address.
    pub preferred_email: String,
    /// Family name.
    pub last_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Suspended users cannot sign in.
    pub is_suspended: bool,
    /// The user must choose a new password.
    pub is_password_reset_requested: bool,
    /// Picture URL.
    pub picture: Option<String>,
    /// Created (RFC 3339).
    pub created_on: String,
    /// Last changed (RFC 3339).
    pub updated_on: String,
    /// Organization codes.
    pub organizations: Vec<String>,
    /// Identities.
    pub identities: Vec<Identity>,
}

/// `?id=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserIdQuery {
    /// The user's id.
    id: String,
    /// `organizations`, `identities` (accepted; both are always included).
    expand: Option<String>,
}

/// Gets one user.
#[utoipa::path(get, path = "/user", tag = "Users", operation_id = "getUserData",
    params(UserIdQuery),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = ["read:users"])))]
async fn get_user(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<UserIdQuery>,
) -> Result<Response, ApiError> {
    expands(q.expand.as_deref())?;
    let id = user_id(&q.id)?;
    let user = state
        .store()
        .management()
        .user(id)
        .await?
        .ok_or_else(user_not_found)?;
    let mut orgs = state.store().management().users_org_codes(&[id]).await?;
    Ok(ok(User {
        identities: email_identity(&user),
        organizations: orgs.remove(id).unwrap_or_default(),
        id: user.id,
        provided_id: user.provided_id,
        preferred_email: user.email,
        last_name: user.family_name,
        first_name: user.given_name,
        is_suspended: user.is_suspended,
        is_password_reset_requested: user.is_password_reset_requested,
        picture: user.picture,
        created_on: timestamp(user.created_at),
        updated_on: timestamp(user.updated_at),
    }))
}

/// `profile` of a new user.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProfile {
    /// Given name (at most 200 characters).
    given_name: Option<String>,
    /// Family name (at most 200 characters).
    family_name: Option<String>,
    /// Picture URL (http or https).
    picture: Option<String>,
}

/// `details` of a new identity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIdentityDetails {
    /// The email address.
    email: String,
}

/// An identity of a new user: Portcullis takes one `email` identity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIdentity {
    /// `email`.
    #[serde(rename = "type")]
    kind: String,
    /// The email.
    details: NewIdentityDetails,
}

/// Body of `POST /user`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    /// Names and picture.
    #[serde(default)]
    profile: Option<NewProfile>,
    /// An organization to add the user to.
    organization_code: Option<String>,
    /// The app's own id for the user (at most 200 characters).
    provided_id: Option<String>,
    /// Exactly one identity of type `email`.
    #[schema(max_items = 100)]
    identities: Vec<NewIdentity>,
}

/// The outcome for one identity of a new user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct IdentityResult {
    /// Whether it was created.
    pub created: bool,
}

/// One identity of a new user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedIdentity {
    /// `email`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened to it.
    pub result: IdentityResult,
}

/// `POST /user` (Kinde sends it without an envelope).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreateUserResponse {
    /// The new user's id.
    pub id: String,
    /// `true`.
    pub created: bool,
    /// Its identities.
    pub identities: Vec<CreatedIdentity>,
}

/// Creates a user (and adds them to an organization), in one transaction.
#[utoipa::path(post, path = "/user", tag = "Users", operation_id = "createUser",
    request_body = CreateUserRequest,
    responses(
        (status = 200, description = "Created", body = CreateUserResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The email already has an account", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:users"])))]
async fn create_user(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<CreateUserRequest>,
) -> Result<Response, ApiError> {
    if body.identities.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} identities"),
        ));
    }
    let [identity] = body.identities.as_slice() else {
        return Err(ApiError::bad_request(
            "INVALID_IDENTITIES",
            "give exactly one identity of type email",
        ));
    };
    if identity.kind != "email" {
        return Err(ApiError::bad_request(
            "INVALID_IDENTITIES",
            "the only identity type is email",
        ));
    }
    let address = email(&identity.details.email)?;
    let profile = body.profile.unwrap_or_default();
    let given_name = optional_text("given_name", profile.given_name.as_deref(), 200)?;
    let family_name = optional_text("family_name", profile.family_name.as_deref(), 200)?;
    let picture = picture(profile.picture.as_deref())?;
    let provided_id = optional_text("provided_id", body.provided_id.as_deref(), 200)?;
    if let Some(org) = body.organization_code.as_deref()
        && !plausible_id(org)
    {
        return Err(ApiError::bad_request(
            "ORGANIZATION_INVALID",
            "no organization has this code",
        ));
    }
    let id = crate::ids::new_id("kp");
    let outcome = state
        .store()
        .management()
        .create_user(
            &NewUser {
                id: &id,
                email: &address,
                given_name: given_name.as_deref(),
                family_name: family_name.as_deref(),
                picture: picture.as_deref(),
                provided_id: provided_id.as_deref(),
                organization_code: body.organization_code.as_deref(),
            },
            state.now(),
        )
        .await?;
    match outcome {
        NewUserOutcome::Created => Ok(ok(CreateUserResponse {
            id,
            created: true,
            identities: vec![CreatedIdentity {
                kind: "email".into(),
                result: IdentityResult { created: true },
            }],
        })),
        NewUserOutcome::EmailTaken => Err(ApiError::conflict(
            "USER_ALREADY_EXISTS",
            "a user with this email already exists",
        )),
        NewUserOutcome::UnknownOrganization => Err(ApiError::bad_request(
            "ORGANIZATION_INVALID",
            "no organization has this code",
        )),
    }
}

/// Body of `PATCH /user`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserRequest {
    /// Given name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    given_name: Option<Option<String>>,
    /// Family name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    family_name: Option<Option<String>>,
    /// Picture URL; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    picture: Option<Option<String>>,
    /// The app's own id; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    provided_id: Option<Option<String>>,
    /// Suspend (signs the user out everywhere) or reinstate.
    is_suspended: Option<bool>,
    /// Ask the user to choose a new password.
    is_password_reset_requested: Option<bool>,
}

/// `PATCH /user`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UpdateUserResponse {
    /// The user's id.
    pub id: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Email.
    pub email: String,
    /// Suspended.
    pub is_suspended: bool,
    /// Password reset requested.
    pub is_password_reset_requested: bool,
    /// Picture URL.
    pub picture: Option<String>,
}

/// `?id=` of a change.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserIdOnly {
    /// The user's id.
    id: String,
}

fn patch_text(
    field: &str,
    value: Option<Option<String>>,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    value
        .map(|v| optional_text(field, v.as_deref(), max))
        .transpose()
}

/// Updates a user.
#[utoipa::path(patch, path = "/user", tag = "Users", operation_id = "updateUser",
    params(UserIdOnly),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UpdateUserResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:users"])))]
async fn update_user(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<UserIdOnly>,
    Json(body): Json<UpdateUserRequest>,
) -> Result<Response, ApiError> {
    let id = user_id(&q.id)?;
    let patch = UserPatch {
        given_name: patch_text("given_name", body.given_name, 200)?,
        family_name: patch_text("family_name", body.family_name, 200)?,
        picture: body.picture.map(|p| picture(p.as_deref())).transpose()?,
        provided_id: patch_text("provided_id", body.provided_id, 200)?,
        is_suspended: body.is_suspended,
        is_password_reset_requested: body.is_password_reset_requested,
    };
    let user = state
        .store()
        .management()
        .update_user(id, &patch, state.now())
        .await?
        .ok_or_else(user_not_found)?;
    Ok(ok(UpdateUserResponse {
        id: user.id,
        given_name: user.given_name,
        family_name: user.family_name,
        email: user.email,
        is_suspended: user.is_suspended,
        is_password_reset_requested: user.is_password_reset_requested,
        picture: user.picture,
    }))
}

/// `?id=&is_delete_profile=` of `DELETE /user`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteUserQuery {
    /// The user's id.
    id: String,
    /// Accepted for Kinde compatibility: a deleted user is always removed completely.
    is_delete_profile: Option<bool>,
}

/// Deletes a user: their sessions end and every token issued to them is revoked.
#[utoipa::path(delete, path = "/user", tag = "Users", operation_id = "deleteUser",
    params(DeleteUserQuery),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = ["delete:users"])))]
async fn delete_user(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<DeleteUserQuery>,
) -> Result<Response, ApiError> {
    let _ = q.is_delete_profile;
    let id = user_id(&q.id)?;
    if !state.store().delete_user(id, state.now()).await? {
        return Err(user_not_found());
    }
    Ok(ok(Success::ok()))
}

/// Body of `PUT /users/{user_id}/password`: a new password, either in clear (checked against
/// the password policy and hashed with argon2id here) or already hashed as an argon2id PHC
/// string (`hashing_method: "argon2id"`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPasswordRequest {
    /// The new password (8 to 256 bytes).
    password: Option<String>,
    /// An argon2id PHC string.
    hashed_password: Option<String>,
    /// `argon2id` (the only method taken).
    hashing_method: Option<String>,
}

/// Sets a user's password.
#[utoipa::path(put, path = "/users/{user_id}/password", tag = "Users",
    operation_id = "setUserPassword",
    params(("user_id" = String, Path, description = "The user's id")),
    request_body = SetPasswordRequest,
    responses(
        (status = 200, description = "Set", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:users"])))]
async fn set_user_password(
    State(state): State<AppState>,
    _caller: Caller,
    Path(user): Path<String>,
    Json(body): Json<SetPasswordRequest>,
) -> Result<Response, ApiError> {
    let id = user_id(&user)?;
    let hash = match (body.password, body.hashed_password) {
        (Some(password), None) => {
            if body.hashing_method.is_some() {
                return Err(ApiError::bad_request(
                    "INVALID_PASSWORD",
                    "hashing_method goes with hashed_password",
                ));
            }
            crate::passwords::check_policy(&password)
                .map_err(|why| ApiError::bad_request("INVALID_PASSWORD", why))?;
            crate::passwords::hash(&password).await?
        }
        (None, Some(hashed)) => {
            if body.hashing_method.as_deref() != Some("argon2id")
                || !crate::passwords::is_argon2id_phc(&hashed)
            {
                return Err(ApiError::bad_request(
                    "INVALID_PASSWORD",
                    "hashed_password must be an argon2id PHC string with hashing_method argon2id",
                ));
            }
            hashed
        }
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_PASSWORD",
                "give either password or hashed_password",
            ));
        }
    };
    if !state
        .store()
        .management()
        .set_password(id, &hash, state.now())
        .await?
    {
        return Err(user_not_found());
    }
    Ok(ok(Success::ok()))
}

/// `?value=` of a flag override.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagValueQuery {
    /// The value, as a string of the flag's type (`true`, `42`, `pink`).
    value: String,
}

/// Overrides a feature flag for one user (only for a flag whose `allow_override_level` is
/// `usr`, or unset: otherwise `FEATURE_FLAG_OVERRIDE_NOT_ALLOWED`, 400).
#[utoipa::path(patch, path = "/users/{user_id}/feature_flags/{feature_flag_key}", tag = "Users",
    operation_id = "updateUserFeatureFlagOverride",
    params(
        ("user_id" = String, Path, description = "The user's id"),
        ("feature_flag_key" = String, Path, description = "The flag's key"),
        FlagValueQuery,
    ),
    responses(
        (status = 200, description = "Overridden", body = Success),
        (status = 400, description = "Bad value, or the flag's allow_override_level is not usr", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user or flag", body = ErrorBody),
    ),
    security(("bearer" = ["update:user_feature_flags"])))]
async fn update_user_feature_flag(
    State(state): State<AppState>,
    _caller: Caller,
    Path((user, key)): Path<(String, String)>,
    Query(q): Query<FlagValueQuery>,
) -> Result<Response, ApiError> {
    let id = user_id(&user)?;
    let flag_not_found = || ApiError::not_found("FEATURE_FLAG_NOT_FOUND", "no flag has this key");
    if !plausible_id(&key) {
        return Err(flag_not_found());
    }
    match state
        .store()
        .management()
        .set_user_flag(id, &key, &q.value)
        .await?
    {
        UserFlagWrite::Set => Ok(ok(Success::ok())),
        UserFlagWrite::NoUser => Err(user_not_found()),
        UserFlagWrite::NoFlag => Err(flag_not_found()),
        UserFlagWrite::InvalidValue(flag_type) => Err(ApiError::bad_request(
            "INVALID_VALUE",
            format!("value is not a valid {flag_type} value"),
        )),
        UserFlagWrite::NotAllowed => Err(super::override_not_allowed(&key, "user")),
    }
}

/// Makes the user's next tokens carry their current roles, permissions and flags. Portcullis
/// computes claims at every issue and refresh, so this only checks the user exists.
#[utoipa::path(post, path = "/users/{user_id}/refresh_claims", tag = "Users",
    operation_id = "refreshUserClaims",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = ["update:users"])))]
async fn refresh_user_claims(
    State(state): State<AppState>,
    _caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&user)?;
    if state.store().management().user(id).await?.is_none() {
        return Err(user_not_found());
    }
    Ok(ok(Success::ok()))
}

/// A sign-in session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SessionItem {
    /// When the user signed in (RFC 3339).
    pub started_on: String,
    /// When the session ends (RFC 3339).
    pub expires_on: String,
}

/// `GET /users/{user_id}/sessions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SessionsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Always `false`: every live session is listed.
    pub has_more: bool,
    /// The live sessions, newest first.
    pub sessions: Vec<SessionItem>,
}

/// Lists a user's live sign-in sessions on the hosted pages.
#[utoipa::path(get, path = "/users/{user_id}/sessions", tag = "Users",
    operation_id = "getUserSessions",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Sessions", body = SessionsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = ["read:user_sessions"])))]
async fn get_user_sessions(
    State(state): State<AppState>,
    _caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&user)?;
    let store = state.store();
    if store.management().user(id).await?.is_none() {
        return Err(user_not_found());
    }
    let sessions = store
        .management()
        .user_sessions(id, state.now())
        .await?
        .into_iter()
        .map(|s| SessionItem {
            started_on: timestamp(s.auth_time),
            expires_on: timestamp(s.expires_at),
        })
        .collect();
    Ok(ok(SessionsResponse {
        code: "OK".into(),
        message: "Success".into(),
        has_more: false,
        sessions,
    }))
}

/// Ends every sign-in session of a user (tokens already issued stay valid until they expire
/// or are revoked).
#[utoipa::path(delete, path = "/users/{user_id}/sessions", tag = "Users",
    operation_id = "deleteUserSessions",
    params(("user_id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Ended", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = ["delete:user_sessions"])))]
async fn delete_user_sessions(
    State(state): State<AppState>,
    _caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&user)?;
    let store = state.store();
    if store.management().user(id).await?.is_none() {
        return Err(user_not_found());
    }
    store.management().delete_user_sessions(id).await?;
    Ok(ok(Success::ok()))
}
