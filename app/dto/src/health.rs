//! Health of the fleet's backups, alerts, notification channels and personal API tokens.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::common::nullable;

/// How one policy's backups of one client are doing (`GET /api/v1/health/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthRow {
    pub policy: i32,
    pub policy_name: String,
    pub client: i32,
    pub client_hostname: String,
    pub repository: i32,
    pub repository_name: String,
    /// `late`, `failing`, `never`, `ok` or `disabled`.
    pub state: String,
    /// Why, in one sentence (empty when `ok`).
    pub reason: String,
    /// The newest successful backup: when it ended, its job, archive and bytes read.
    pub last_success: Option<DateTime<Utc>>,
    pub last_success_job: Option<i32>,
    pub last_archive: String,
    pub last_size: i64,
    /// The newest finished backup attempt, whatever its outcome.
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_attempt_job: Option<i32>,
    pub last_attempt_status: String,
    /// Failed attempts since the last success.
    pub failures: u64,
    /// The policy's next scheduled run.
    pub next_run: Option<DateTime<Utc>>,
    /// When it becomes `late` without a new success (`null` without a success yet).
    pub late_after: Option<DateTime<Utc>>,
}

/// How many (policy, client) pairs are in each state, and the open alerts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSummary {
    pub ok: u64,
    pub late: u64,
    pub failing: u64,
    pub never: u64,
    pub disabled: u64,
    /// Alerts not yet resolved (acknowledged or not).
    pub alerts_open: u64,
}

/// A repository's checks and growth (`GET /api/v1/health/repositories/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryHealth {
    pub repository: i32,
    pub name: String,
    /// Bytes, from the last `borg info`.
    pub size: i64,
    pub last_check_success: Option<DateTime<Utc>>,
    pub last_check_job: Option<i32>,
    /// `successful`, `failed`, `error`… of the newest integrity job, `""` without one.
    pub last_check_status: String,
    /// Whether the repository's integrity schedule expected a check that has not succeeded.
    pub check_overdue: bool,
    /// When the newest archive recorded in it was made.
    pub newest_archive: Option<DateTime<Utc>>,
    /// Bytes the successful backups into it added (deduplicated), per UTC day of the last 30,
    /// oldest first.
    pub added_per_day: Vec<i64>,
}

/// An alert raised by the server's rules (`GET /api/v1/alerts/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i32,
    pub url: String,
    /// `backup_failed`, `backup_late`, `integrity_failed`, `check_overdue`, `client_unreachable`.
    pub kind: String,
    /// What the alert is about, e.g. `backup_late:policy=3:client=5`: one open alert per key.
    pub key: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub policy: Option<i32>,
    pub client: Option<i32>,
    pub repository: Option<i32>,
    /// The job that shows the problem (the last failed attempt…).
    pub job: Option<i32>,
    pub message: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
    pub acknowledged: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<i32>,
}

/// A notification channel (`/api/v1/notifications/`, superusers only). Secrets (the webhook's
/// signing key, the SMTP password) are never answered back: `has_secret`/`has_password` say
/// whether one is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationChannel {
    pub id: i32,
    pub name: String,
    /// `webhook`, `ntfy`, `slack` or `email`.
    pub kind: String,
    /// Where messages go: an `http(s)://` URL, or for email `smtp://host[:port]` (STARTTLS),
    /// `smtps://host[:port]` (TLS) or `smtp+plain://host[:port]` (no encryption).
    pub url: String,
    /// The alert kinds it gets (raised and resolved); all of them when empty.
    pub events: Vec<String>,
    pub email_from: String,
    pub email_to: Vec<String>,
    pub username: String,
    pub has_secret: bool,
    pub has_password: bool,
    pub enabled: bool,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Only in the answer to a create that generated the webhook's signing key: shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationChannelInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// The webhook's HMAC-SHA256 key; generated (and answered once) when a webhook is created
    /// without one.
    pub secret: Option<String>,
    pub email_from: Option<String>,
    pub email_to: Option<Vec<String>>,
    pub username: Option<String>,
    /// The SMTP password; `null` or `""` removes it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub password: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// What a channel's test answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationTest {
    pub sent: bool,
    /// The receiver's answer or the error, when not sent.
    pub detail: String,
}

/// A personal API token (`/api/v1/me/tokens/`); the secret is answered once, on create.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    /// `Authorization: Bearer <token>`; only in the answer to the create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenInput {
    pub name: Option<String>,
    pub scope: Option<String>,
    /// RFC 3339; `null` or absent: never.
    pub expires: Option<String>,
}
