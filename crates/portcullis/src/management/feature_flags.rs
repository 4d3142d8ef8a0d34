//! Feature flags: `GET|POST /feature_flags`, `PUT|DELETE /feature_flags/{key}`, and the
//! environment's overrides (`/environment/feature_flags`).
//!
//! Flag values are strings on the wire (`"true"`, `"42"`, `"pink"`); [`FlagOverride::typed`]
//! reads one as a [`FlagValue`].

use std::collections::BTreeMap;

use futures_core::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{
    ManagementClient, ManagementError, Page, PageRequest, Success, lenient_string, setters,
};
use crate::claims::FlagValue;

/// A flag's type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FlagType {
    /// A string (`str`).
    #[serde(rename = "str")]
    String,
    /// An integer (`int`).
    #[serde(rename = "int")]
    Integer,
    /// A boolean (`bool`).
    #[serde(rename = "bool")]
    Bool,
}

impl FlagType {
    /// The wire name: `str`, `int` or `bool`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::String => "str",
            FlagType::Integer => "int",
            FlagType::Bool => "bool",
        }
    }
}

/// Down to which level a flag may be overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OverrideLevel {
    /// Per environment only (`env`).
    #[serde(rename = "env")]
    Environment,
    /// Per environment and organization (`org`).
    #[serde(rename = "org")]
    Organization,
    /// Per environment, organization and user (`usr`).
    #[serde(rename = "usr")]
    User,
}

impl OverrideLevel {
    /// The wire name: `env`, `org` or `usr`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideLevel::Environment => "env",
            OverrideLevel::Organization => "org",
            OverrideLevel::User => "usr",
        }
    }
}

/// A flag's type and default as the wire has them, from a typed value.
fn wire(value: &FlagValue) -> Result<(FlagType, String), ManagementError> {
    match value {
        FlagValue::Bool(b) => Ok((FlagType::Bool, b.to_string())),
        FlagValue::Integer(i) => Ok((FlagType::Integer, i.to_string())),
        FlagValue::String(s) => Ok((FlagType::String, s.clone())),
        other => Err(ManagementError::invalid_argument(
            "default_value",
            format!(
                "a flag is a string, an integer or a boolean, not {}",
                other.type_name()
            ),
        )),
    }
}

/// The body of `POST /feature_flags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NewFeatureFlag {
    /// The key, as tokens carry it (`theme`).
    pub key: String,
    /// The name.
    pub name: String,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The type.
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    /// Down to which level it may be overridden (the server's default when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_override_level: Option<OverrideLevel>,
    /// The default value, as a string.
    pub default_value: String,
}

impl NewFeatureFlag {
    /// A flag whose type is the default value's (`true`, `42_i64`, `"pink"`).
    pub fn new(
        key: impl Into<String>,
        name: impl Into<String>,
        default_value: impl Into<FlagValue>,
    ) -> Result<Self, ManagementError> {
        let (flag_type, default_value) = wire(&default_value.into())?;
        Ok(NewFeatureFlag {
            key: key.into(),
            name: name.into(),
            description: None,
            flag_type,
            allow_override_level: None,
            default_value,
        })
    }
}

setters!(NewFeatureFlag {
    /// Sets the description.
    description: String,
    /// Sets down to which level it may be overridden.
    allow_override_level: OverrideLevel,
});

/// The query of `PUT /feature_flags/{key}`, which replaces a flag's definition (Kinde requires
/// every field).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateFeatureFlag {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The type.
    pub flag_type: FlagType,
    /// Down to which level it may be overridden.
    pub allow_override_level: OverrideLevel,
    /// The default value, as a string.
    pub default_value: String,
}

impl UpdateFeatureFlag {
    /// A definition whose type is the default value's, overridable down to users.
    pub fn new(
        name: impl Into<String>,
        default_value: impl Into<FlagValue>,
    ) -> Result<Self, ManagementError> {
        let (flag_type, default_value) = wire(&default_value.into())?;
        Ok(UpdateFeatureFlag {
            name: name.into(),
            description: String::new(),
            flag_type,
            allow_override_level: OverrideLevel::User,
            default_value,
        })
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets down to which level it may be overridden.
    #[must_use]
    pub fn allow_override_level(mut self, level: OverrideLevel) -> Self {
        self.allow_override_level = level;
        self
    }
}

/// A flag's definition (`GET /feature_flags`, Portcullis's list of them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct FeatureFlag {
    /// The key, as tokens carry it (`theme`).
    pub key: String,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The type: `str`, `int` or `bool` (kept as sent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub flag_type: Option<String>,
    /// Down to which level it may be overridden: `env`, `org` or `usr` (kept as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_override_level: Option<String>,
    /// The default value, as a string.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_value: Option<String>,
}

/// A flag's value at one level (`{"type": "str", "value": "pink"}`), from the environment's or
/// an organization's list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct FlagOverride {
    /// The type: `str`, `int` or `bool` (kept as sent).
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    pub flag_type: Option<String>,
    /// The value, as a string.
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: Option<String>,
}

impl FlagOverride {
    /// The value as a [`FlagValue`] of its type; `None` when absent or not of its type.
    pub fn typed(&self) -> Option<FlagValue> {
        let value = self.value.as_deref()?;
        match self.flag_type.as_deref() {
            Some("bool" | "b" | "boolean") => match value {
                "true" => Some(FlagValue::Bool(true)),
                "false" => Some(FlagValue::Bool(false)),
                _ => None,
            },
            Some("int" | "i" | "integer") => value.parse().ok().map(FlagValue::Integer),
            Some("str" | "s" | "string") | None => Some(FlagValue::String(value.to_owned())),
            Some(_) => None,
        }
    }
}

#[derive(Serialize)]
struct ValueBody<'a> {
    value: &'a str,
}

impl ManagementClient {
    /// One page of flag definitions, by key (`GET /feature_flags`; Portcullis's addition to
    /// Kinde's API, where the values in the environment are [`ManagementClient::get_feature_flags`]).
    pub async fn get_feature_flag_definitions(
        &self,
        page: impl Into<PageRequest>,
    ) -> Result<Page<FeatureFlag>, ManagementError> {
        self.list_page(&["feature_flags"], page.into(), "feature_flags")
            .await
    }

    /// Every flag definition, page after page.
    pub fn feature_flag_definitions(
        &self,
        page: PageRequest,
    ) -> impl Stream<Item = Result<FeatureFlag, ManagementError>> + Send + use<> {
        self.paged(&["feature_flags"], page, "feature_flags")
    }

    /// The environment's feature flags with their values, by key (`GET
    /// /environment/feature_flags`).
    pub async fn get_feature_flags(
        &self,
    ) -> Result<BTreeMap<String, FlagOverride>, ManagementError> {
        let call = self.call(Method::GET, &["environment", "feature_flags"])?;
        Ok(self
            .send_member_opt(call, "feature_flags")
            .await?
            .unwrap_or_default())
    }

    /// Creates a feature flag whose type is its default value's (`POST /feature_flags`).
    pub async fn create_feature_flag(
        &self,
        key: &str,
        name: &str,
        default_value: impl Into<FlagValue>,
    ) -> Result<Success, ManagementError> {
        self.create_feature_flag_with(&NewFeatureFlag::new(key, name, default_value)?)
            .await
    }

    /// Creates a feature flag (`POST /feature_flags`).
    pub async fn create_feature_flag_with(
        &self,
        flag: &NewFeatureFlag,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::POST, &["feature_flags"])?.json(flag)?;
        self.send(call).await
    }

    /// Replaces a feature flag's definition (`PUT /feature_flags/{key}?name=&description=&type=
    /// &allow_override_level=&default_value=`).
    pub async fn update_feature_flag(
        &self,
        key: &str,
        flag: &UpdateFeatureFlag,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PUT, &["feature_flags", key])?
            .query("name", &flag.name)
            .query("description", &flag.description)
            .query("type", flag.flag_type.as_str())
            .query("allow_override_level", flag.allow_override_level.as_str())
            .query("default_value", &flag.default_value);
        self.send(call).await
    }

    /// Deletes a feature flag (`DELETE /feature_flags/{key}`).
    pub async fn delete_feature_flag(&self, key: &str) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["feature_flags", key])?;
        self.send(call).await
    }

    /// Removes all of the environment's flag overrides (`DELETE /environment/feature_flags`).
    pub async fn delete_environment_feature_flag_overrides(
        &self,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["environment", "feature_flags"])?;
        self.send(call).await
    }

    /// Overrides a flag for the environment (`PATCH /environment/feature_flags/{key}`,
    /// `{value}`). Values are strings on the wire.
    pub async fn update_environment_feature_flag_override(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Success, ManagementError> {
        let call = self
            .call(Method::PATCH, &["environment", "feature_flags", key])?
            .json(&ValueBody { value })?;
        self.send(call).await
    }

    /// Removes the environment's override of one flag (`DELETE
    /// /environment/feature_flags/{key}`).
    pub async fn delete_environment_feature_flag_override(
        &self,
        key: &str,
    ) -> Result<Success, ManagementError> {
        let call = self.call(Method::DELETE, &["environment", "feature_flags", key])?;
        self.send(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_flags_take_their_type_from_the_default() {
        let flag = NewFeatureFlag::new("theme", "Theme", "pink")
            .unwrap()
            .allow_override_level(OverrideLevel::Organization);
        assert_eq!(
            serde_json::to_value(&flag).unwrap(),
            json!({"key": "theme", "name": "Theme", "type": "str",
                   "allow_override_level": "org", "default_value": "pink"})
        );
        let flag = NewFeatureFlag::new("limit", "Limit", 42_i64).unwrap();
        assert_eq!(
            (flag.flag_type, flag.default_value.as_str()),
            (FlagType::Integer, "42")
        );
        let flag = NewFeatureFlag::new("beta", "Beta", true).unwrap();
        assert_eq!(
            (flag.flag_type, flag.default_value.as_str()),
            (FlagType::Bool, "true")
        );
        assert!(NewFeatureFlag::new("x", "X", FlagValue::Other(json!([1]))).is_err());
    }

    #[test]
    fn overrides_read_as_typed_values() {
        let flags: BTreeMap<String, FlagOverride> = serde_json::from_value(json!({
            "theme": {"type": "str", "value": "pink"},
            "beta": {"type": "bool", "value": "true"},
            "limit": {"type": "int", "value": 7},
            "broken": {"type": "int", "value": "seven"},
            "empty": {}
        }))
        .unwrap();
        assert_eq!(
            flags["theme"].typed(),
            Some(FlagValue::String("pink".into()))
        );
        assert_eq!(flags["beta"].typed(), Some(FlagValue::Bool(true)));
        assert_eq!(flags["limit"].typed(), Some(FlagValue::Integer(7)));
        assert_eq!(flags["broken"].typed(), None);
        assert_eq!(flags["empty"].typed(), None);
    }
}
