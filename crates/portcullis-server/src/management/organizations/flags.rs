//! An organization's feature-flag overrides.

use super::*;

/// The routes of this part.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_organization_feature_flags,
            delete_organization_feature_flag_overrides
        ))
        .routes(routes!(
            update_organization_feature_flag_override,
            delete_organization_feature_flag_override
        ))
}

/// A flag's value for the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationFlag {
    /// `str`, `int` or `bool`.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// The value, as a string.
    pub value: String,
}

/// `GET /organizations/{org_code}/feature_flags`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationFlagsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Every flag by key, with its value for the organization.
    pub feature_flags: BTreeMap<String, OrganizationFlag>,
}

/// Lists every feature flag with its value for the organization: the organization's
/// override, else the environment's, else the default.
#[utoipa::path(get, path = "/organizations/{org_code}/feature_flags", tag = "Organizations",
    operation_id = "getOrganizationFeatureFlags",
    params(("org_code" = String, Path, description = "The organization's code")),
    responses(
        (status = 200, description = "The flags", body = OrganizationFlagsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_feature_flags"])))]
async fn get_organization_feature_flags(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let flags = state
        .store()
        .management()
        .org_flags(code)
        .await?
        .ok_or_else(org_not_found)?;
    Ok(ok(OrganizationFlagsResponse {
        code: "OK".into(),
        message: "Success".into(),
        feature_flags: flags
            .into_iter()
            .map(|f| {
                (
                    f.key,
                    OrganizationFlag {
                        flag_type: f.flag_type,
                        value: f.value,
                    },
                )
            })
            .collect(),
    }))
}

/// Removes every feature-flag override of an organization.
#[utoipa::path(delete, path = "/organizations/{org_code}/feature_flags", tag = "Organizations",
    operation_id = "deleteOrganizationFeatureFlagOverrides",
    params(("org_code" = String, Path, description = "The organization's code")),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_feature_flags"])))]
async fn delete_organization_feature_flag_overrides(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let outcome = state
        .store()
        .management()
        .delete_org_flags(code, None)
        .await?;
    failure(outcome, Refs::Path)?;
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

/// Overrides a feature flag for an organization (not for a flag whose `allow_override_level`
/// is `env`: `FEATURE_FLAG_OVERRIDE_NOT_ALLOWED`, 400).
#[utoipa::path(patch, path = "/organizations/{org_code}/feature_flags/{feature_flag_key}",
    tag = "Organizations", operation_id = "updateOrganizationFeatureFlagOverride",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("feature_flag_key" = String, Path, description = "The flag's key"),
        FlagValueQuery,
    ),
    responses(
        (status = 200, description = "Overridden", body = Success),
        (status = 400, description = "Bad value, or the flag's allow_override_level is env", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or flag", body = ErrorBody),
        (status = 409, description = "A concurrent change", body = ErrorBody),
    ),
    security(("bearer" = ["update:organization_feature_flags"])))]
async fn update_organization_feature_flag_override(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, key)): Path<(String, String)>,
    Query(q): Query<FlagValueQuery>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    if !plausible_id(&key) {
        return failure(OrgOutcome::UnknownFlag(key), Refs::Path);
    }
    let outcome = state
        .store()
        .management()
        .set_org_flag(code, &key, &q.value)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// Removes an organization's override of one feature flag (no override is no error).
#[utoipa::path(delete, path = "/organizations/{org_code}/feature_flags/{feature_flag_key}",
    tag = "Organizations", operation_id = "deleteOrganizationFeatureFlagOverride",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("feature_flag_key" = String, Path, description = "The flag's key"),
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or flag", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_feature_flags"])))]
async fn delete_organization_feature_flag_override(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    if !plausible_id(&key) {
        return failure(OrgOutcome::UnknownFlag(key), Refs::Path);
    }
    let outcome = state
        .store()
        .management()
        .delete_org_flags(code, Some(&key))
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}
