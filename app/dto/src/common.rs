use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Validation messages by field name; cross-field messages stand under `__all__`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// The paths of an object's linked objects and actions, by name.
pub type Related = BTreeMap<String, String>;

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub count: u64,
    /// Relative URL of the next page (other query parameters kept), `null` on the last page.
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// Small copy of a user, as it appears in `summary_fields.created_by` and `modified_by`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRef {
    pub id: i32,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// Who made and last changed an object, as small copies.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_by: Option<UserRef>,
}

/// The fields every stored object carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Audit {
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Id of the user who created the object, `null` when made by the system or since deleted.
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ping {
    pub version: String,
    pub ping: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiConfig {
    pub version: String,
    pub debug: bool,
    pub allowed_hosts: Vec<String>,
    pub time_zone: String,
}

/// The body of every 400/401/403/404/405/409 that is not a per-field validation error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenObtain {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRefresh {
    pub refresh: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    /// Short-lived bearer token for `Authorization: Bearer …`.
    pub access: String,
    /// Single-use token that `POST /api/token/refresh/` exchanges for a new pair.
    pub refresh: String,
}

/// Tells "field absent" (`None`) from "field set to null" (`Some(None)`) in an update.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
