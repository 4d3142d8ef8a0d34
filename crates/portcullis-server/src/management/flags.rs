//! Management API: feature flags (`/feature_flags`, `/feature_flags/{feature_flag_key}`) and the
//! environment's overrides (`/environment/feature_flags`).
//!
//! Values are strings on the wire (`"true"`, `"42"`, `"pink"`) and must parse as the flag's
//! type (`bool`, `int`, `str`). Changing a flag's type (`PUT`) deletes all its overrides, at
//! every level: a value of the old type would mean nothing (or something else) under the new
//! one. `allow_override_level` is the lowest level a flag may be overridden at, as in Kinde:
//! `env` allows no organization or user override, `org` organization overrides only, `usr` (or
//! none) both; an override it forbids is refused with `FEATURE_FLAG_OVERRIDE_NOT_ALLOWED`
//! (400), at the organization and user endpoints.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::permissions::{MAX_NAME, description};
use super::{
    ApiError, Caller, ErrorBody, Json, Page, Path, Query, Success, created, ok, plausible_id, text,
};
use crate::AppState;
use crate::store::{EnvOverrideWrite, FlagDefinition, FlagPut, ManagedFlag, flag_value};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_feature_flags, create_feature_flag))
        .routes(routes!(update_feature_flag, delete_feature_flag))
        .routes(routes!(
            get_environment_feature_flags,
            delete_environment_feature_flag_overrides
        ))
        .routes(routes!(
            update_environment_feature_flag_override,
            delete_environment_feature_flag_override
        ))
}

/// The longest key.
const MAX_KEY: usize = 128;
/// The longest value (characters).
const MAX_VALUE: usize = 1000;

fn flag_not_found() -> ApiError {
    ApiError::not_found("FEATURE_FLAG_NOT_FOUND", "no flag has this key")
}

/// A key from the path, or a 404 without touching the database.
fn path_key(key: &str) -> Result<&str, ApiError> {
    if plausible_id(key) {
        Ok(key)
    } else {
        Err(flag_not_found())
    }
}

/// A new flag's key: 1 to 128 of `a-z`, `0-9` and `_`.
fn new_key(value: &str) -> Result<&str, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "INVALID_KEY",
            format!("key must be 1 to {MAX_KEY} of a-z, 0-9 and _"),
        ))
    }
}

fn flag_type(value: &str) -> Result<&'static str, ApiError> {
    match value {
        "str" => Ok("str"),
        "int" => Ok("int"),
        "bool" => Ok("bool"),
        _ => Err(ApiError::bad_request(
            "INVALID_TYPE",
            "type is str, int or bool",
        )),
    }
}

fn override_level(value: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match value {
        None => Ok(None),
        Some("env") => Ok(Some("env")),
        Some("org") => Ok(Some("org")),
        Some("usr") => Ok(Some("usr")),
        Some(_) => Err(ApiError::bad_request(
            "INVALID_OVERRIDE_LEVEL",
            "allow_override_level is env, org or usr",
        )),
    }
}

/// A value's length and characters: at most 1000, no control characters.
fn plain_value(field: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_VALUE || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "INVALID_VALUE",
            format!("{field} must be at most {MAX_VALUE} characters without control characters"),
        ));
    }
    Ok(())
}

/// A value of `flag_type`, as a string.
fn value<'a>(field: &str, flag_type: &str, value: &'a str) -> Result<&'a str, ApiError> {
    plain_value(field, value)?;
    if flag_value(flag_type, value).is_none() {
        return Err(ApiError::bad_request(
            "INVALID_VALUE",
            format!("{field} is not a valid {flag_type} value"),
        ));
    }
    Ok(value)
}

/// A flag's definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct FeatureFlag {
    /// What tokens carry (`theme`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// `str`, `int` or `bool`.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// `env`, `org` or `usr`.
    pub allow_override_level: Option<String>,
    /// The default, as a string.
    pub default_value: String,
}

impl From<ManagedFlag> for FeatureFlag {
    fn from(f: ManagedFlag) -> Self {
        FeatureFlag {
            key: f.key,
            name: f.name,
            description: f.description,
            flag_type: f.flag_type,
            allow_override_level: f.allow_override_level,
            default_value: f.default_value,
        }
    }
}

/// `GET /feature_flags`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct FeatureFlagsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page of definitions.
    pub feature_flags: Vec<FeatureFlag>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of `GET /feature_flags`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagsQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
}

/// Lists flag definitions, ordered by key (Portcullis's addition; the values in the
/// environment are at `GET /environment/feature_flags`).
#[utoipa::path(get, path = "/feature_flags", tag = "FeatureFlags",
    operation_id = "getFeatureFlags",
    params(FlagsQuery),
    responses(
        (status = 200, description = "A page of flags", body = FeatureFlagsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:environment_feature_flags"])))]
async fn get_feature_flags(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<FlagsQuery>,
) -> Result<Response, ApiError> {
    let page = Page::parse("feature_flags", q.page_size, q.next_token.as_deref())?;
    let rows = state
        .store()
        .management()
        .flags(page.after.as_deref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish("feature_flags", rows, |f| &f.key);
    Ok(ok(FeatureFlagsResponse {
        code: "OK".into(),
        message: "Success".into(),
        feature_flags: rows.into_iter().map(FeatureFlag::from).collect(),
        next_token,
    }))
}

/// Body of `POST /feature_flags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateFeatureFlagRequest {
    /// Display name (at most 200 characters).
    name: String,
    /// What it is for (at most 1000 characters).
    description: Option<String>,
    /// What tokens carry: 1 to 128 of `a-z`, `0-9` and `_`; unique.
    key: String,
    /// `str`, `int` or `bool`.
    #[serde(rename = "type")]
    flag_type: String,
    /// `env`, `org` or `usr`.
    allow_override_level: Option<String>,
    /// The default, as a string of the type (`true`, `42`, `pink`).
    default_value: String,
}

/// Creates a feature flag.
#[utoipa::path(post, path = "/feature_flags", tag = "FeatureFlags",
    operation_id = "createFeatureFlag",
    request_body = CreateFeatureFlagRequest,
    responses(
        (status = 201, description = "Created", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The key is in use", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:feature_flags"])))]
async fn create_feature_flag(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<CreateFeatureFlagRequest>,
) -> Result<Response, ApiError> {
    let name = text("name", &body.name, MAX_NAME)?;
    let description = description(body.description.as_deref())?;
    let key = new_key(&body.key)?;
    let flag_type = flag_type(&body.flag_type)?;
    let allow_override_level = override_level(body.allow_override_level.as_deref())?;
    let default_value = value("default_value", flag_type, &body.default_value)?;
    let definition = FlagDefinition {
        name: &name,
        description: description.as_deref(),
        flag_type,
        allow_override_level,
        default_value,
    };
    if !state
        .store()
        .management()
        .create_flag(key, &definition)
        .await?
    {
        return Err(ApiError::conflict(
            "FEATURE_FLAG_ALREADY_EXISTS",
            "a flag with this key already exists",
        ));
    }
    Ok(created(Success::ok()))
}

/// Query of `PUT /feature_flags/{feature_flag_key}`: the whole new definition.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateFeatureFlagQuery {
    /// Display name (at most 200 characters).
    name: String,
    /// What it is for; blank or absent clears it.
    description: Option<String>,
    /// `str`, `int` or `bool`. A change deletes every override of the flag.
    #[serde(rename = "type")]
    flag_type: String,
    /// `env`, `org` or `usr`.
    allow_override_level: String,
    /// The default, as a string of the type.
    default_value: String,
}

/// Replaces a flag's definition. Changing its type deletes all its overrides (environment,
/// organizations, users), in the same transaction.
#[utoipa::path(put, path = "/feature_flags/{feature_flag_key}", tag = "FeatureFlags",
    operation_id = "updateFeatureFlag",
    params(
        ("feature_flag_key" = String, Path, description = "The flag's key"),
        UpdateFeatureFlagQuery,
    ),
    responses(
        (status = 200, description = "Updated", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such flag", body = ErrorBody),
    ),
    security(("bearer" = ["update:feature_flags"])))]
async fn update_feature_flag(
    State(state): State<AppState>,
    _caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<UpdateFeatureFlagQuery>,
) -> Result<Response, ApiError> {
    let key = path_key(&key)?;
    let name = text("name", &q.name, MAX_NAME)?;
    let description = description(q.description.as_deref())?;
    let flag_type = flag_type(&q.flag_type)?;
    let allow_override_level = override_level(Some(&q.allow_override_level))?;
    let default_value = value("default_value", flag_type, &q.default_value)?;
    let definition = FlagDefinition {
        name: &name,
        description: description.as_deref(),
        flag_type,
        allow_override_level,
        default_value,
    };
    match state
        .store()
        .management()
        .put_flag(key, &definition)
        .await?
    {
        FlagPut::Updated { .. } => Ok(ok(Success::ok())),
        FlagPut::NotFound => Err(flag_not_found()),
    }
}

/// Deletes a flag and all its overrides.
#[utoipa::path(delete, path = "/feature_flags/{feature_flag_key}", tag = "FeatureFlags",
    operation_id = "deleteFeatureFlag",
    params(("feature_flag_key" = String, Path, description = "The flag's key")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such flag", body = ErrorBody),
    ),
    security(("bearer" = ["delete:feature_flags"])))]
async fn delete_feature_flag(
    State(state): State<AppState>,
    _caller: Caller,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    if !state
        .store()
        .management()
        .delete_flag(path_key(&key)?)
        .await?
    {
        return Err(flag_not_found());
    }
    Ok(ok(Success::ok()))
}

/// A flag's value at one level.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct FlagValue {
    /// `str`, `int` or `bool`.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// The value, as a string.
    pub value: String,
}

/// `GET /environment/feature_flags`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct EnvironmentFlagsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Every flag's value in the environment (its override there, else its default), by key.
    pub feature_flags: BTreeMap<String, FlagValue>,
}

/// Every flag with its value in the environment.
#[utoipa::path(get, path = "/environment/feature_flags", tag = "Environments",
    operation_id = "getEnvironementFeatureFlags",
    responses(
        (status = 200, description = "The flags", body = EnvironmentFlagsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:environment_feature_flags"])))]
async fn get_environment_feature_flags(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    let feature_flags = state
        .store()
        .management()
        .environment_flags()
        .await?
        .into_iter()
        .map(|f| {
            (
                f.key,
                FlagValue {
                    flag_type: f.flag_type,
                    value: f.value,
                },
            )
        })
        .collect();
    Ok(ok(EnvironmentFlagsResponse {
        code: "OK".into(),
        message: "Success".into(),
        feature_flags,
    }))
}

/// Removes every environment override: flags fall back to their defaults (or organization and
/// user overrides).
#[utoipa::path(delete, path = "/environment/feature_flags", tag = "Environments",
    operation_id = "deleteEnvironementFeatureFlagOverrides",
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["delete:environment_feature_flags"])))]
async fn delete_environment_feature_flag_overrides(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    state
        .store()
        .management()
        .delete_environment_overrides()
        .await?;
    Ok(ok(Success::ok()))
}

/// Body of `PATCH /environment/feature_flags/{feature_flag_key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvironmentOverrideRequest {
    /// The value, as a string of the flag's type (`true`, `42`, `pink`).
    value: String,
}

/// Overrides a flag for the environment (tokens issued from now on carry it, unless an
/// organization or user override wins).
#[utoipa::path(patch, path = "/environment/feature_flags/{feature_flag_key}", tag = "Environments",
    operation_id = "updateEnvironementFeatureFlagOverride",
    params(("feature_flag_key" = String, Path, description = "The flag's key")),
    request_body = EnvironmentOverrideRequest,
    responses(
        (status = 200, description = "Overridden", body = Success),
        (status = 400, description = "Bad value", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such flag", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:environment_feature_flags"])))]
async fn update_environment_feature_flag_override(
    State(state): State<AppState>,
    _caller: Caller,
    Path(key): Path<String>,
    Json(body): Json<EnvironmentOverrideRequest>,
) -> Result<Response, ApiError> {
    let key = path_key(&key)?;
    plain_value("value", &body.value)?;
    match state
        .store()
        .management()
        .set_environment_override(key, &body.value)
        .await?
    {
        EnvOverrideWrite::Set => Ok(ok(Success::ok())),
        EnvOverrideWrite::NotFound => Err(flag_not_found()),
        EnvOverrideWrite::InvalidValue(flag_type) => Err(ApiError::bad_request(
            "INVALID_VALUE",
            format!("value is not a valid {flag_type} value"),
        )),
    }
}

/// Removes the environment's override of a flag (none is fine).
#[utoipa::path(delete, path = "/environment/feature_flags/{feature_flag_key}", tag = "Environments",
    operation_id = "deleteEnvironementFeatureFlagOverride",
    params(("feature_flag_key" = String, Path, description = "The flag's key")),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such flag", body = ErrorBody),
    ),
    security(("bearer" = ["delete:environment_feature_flags"])))]
async fn delete_environment_feature_flag_override(
    State(state): State<AppState>,
    _caller: Caller,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    if !state
        .store()
        .management()
        .delete_environment_override(path_key(&key)?)
        .await?
    {
        return Err(flag_not_found());
    }
    Ok(ok(Success::ok()))
}
