use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Audit, AuditSummary, Related, nullable};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: AuditSummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_superuser: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub is_superuser: Option<bool>,
    /// Write-only; stored as an argon2id hash.
    pub password: Option<String>,
    /// Write-only: the caller's present password, required to change their own password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
}

/// A policy as listed under a client's `summary_fields.policies`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyRef {
    pub id: i32,
    pub name: String,
    pub policy_type: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSummary {
    pub policies: Vec<PolicyRef>,
    #[serde(flatten)]
    pub audit: AuditSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Client {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: ClientSummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub hostname: String,
    pub ip: String,
    pub version: String,
    pub ready: bool,
    pub hypervisor_ready: bool,
    pub hypervisor_name: String,
    pub enabled: bool,
    pub uuid: String,
    /// SSH port of the client.
    pub port: i32,
    /// SSH user on the client.
    pub username: String,
    /// Upload limit for borg in KiB/s, `null` for none.
    pub bandwidth_limit: Option<i32>,
    #[serde(flatten)]
    pub host_key: HostKeyState,
    /// The line to add to `~USER/.ssh/authorized_keys` on the client: the server's public key,
    /// allowed to run commands and to forward the one socket a job's repository is served
    /// through, nothing else (no agent, X11 or TCP forwarding, no terminal).
    pub authorized_keys: String,
}

/// The SSH host key a host is pinned to, and the key it presented last when that was another.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostKeyState {
    /// `pinned`; `unconfirmed` (a key was fetched, none confirmed yet); `changed` (the host
    /// presented another key than the pinned one); `unknown` (nothing fetched yet);
    /// `not_needed` (a repository that is a folder).
    pub host_key_status: String,
    /// The pinned key (`ssh-ed25519 AAAA…`); `""` for none. Jobs connect only to a host that
    /// presents it.
    pub host_key: String,
    /// Its SHA-256 fingerprint (`SHA256:…`, as `ssh-keygen -lf` prints it).
    pub host_key_fingerprint: String,
    /// The key the host presented last, when it is not the pinned one (to review and accept).
    pub host_key_seen: String,
    pub host_key_seen_fingerprint: String,
}

/// `POST …/host_key/accept/`: pins the key the host presented last, if it has this fingerprint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostKeyAccept {
    /// The fingerprint the operator checked (`SHA256:…`).
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientInput {
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub version: Option<String>,
    pub ready: Option<bool>,
    pub hypervisor_ready: Option<bool>,
    pub hypervisor_name: Option<String>,
    pub enabled: Option<bool>,
    pub port: Option<i32>,
    pub username: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub bandwidth_limit: Option<Option<i32>>,
    /// Pins this host key (`ssh-ed25519 AAAA…`, as in the host's
    /// `/etc/ssh/ssh_host_ed25519_key.pub`) instead of fetching and confirming it.
    pub host_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: AuditSummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub name: String,
    pub crontab: String,
    pub enabled: bool,
    pub uuid: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub crontab: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repository {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: AuditSummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub name: String,
    pub path: String,
    /// The borg passphrase: present for superusers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_key: Option<String>,
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    /// The newest integrity job of the repository (`POST …/integrity/`), if any.
    #[serde(default)]
    pub last_integrity: Option<IntegrityResult>,
    /// The schedule integrity jobs of this repository follow; null: launched by hand only.
    #[serde(default)]
    pub integrity_schedule: Option<i32>,
    /// When the next scheduled integrity job starts (read-only).
    #[serde(default)]
    pub integrity_next_run: Option<DateTime<Utc>>,
    pub ready: bool,
    pub enabled: bool,
    pub uuid: String,
    /// The host key of a remote repository's host (see the client's).
    #[serde(flatten)]
    pub host_key: HostKeyState,
    /// A remote repository's own public key: this server reaches the repository's host with it
    /// (clients never do). `""` for a folder.
    pub ssh_public_key: String,
    /// The line to add to the repository user's `~/.ssh/authorized_keys` on its host: that key,
    /// restricted to `borg serve` of this one repository. `""` for a folder.
    pub authorized_keys: String,
    /// Only nodes with one of these labels (comma-separated) run this repository's jobs; `""`:
    /// any node. A pull-mode repository is a folder on the nodes that hold it.
    pub node_labels: String,
    /// borg's encryption mode (`repokey-blake2` for new repositories); fixed once initialised.
    #[serde(default)]
    pub encryption: String,
    /// borg's compression for every archive (`lz4`, `zstd,N`, `auto,zstd,N`, `zlib,N`, `none`).
    #[serde(default)]
    pub compression: String,
    /// The server asks borg for append-only and never prunes it.
    #[serde(default)]
    pub append_only: bool,
    /// borg's storage quota (`500G`); `""`: none.
    #[serde(default)]
    pub quota: String,
    /// Upload limit in KiB/s for clients without one of their own; null: none.
    #[serde(default)]
    pub upload_ratelimit: Option<i32>,
    /// What holds the repository right now (an operator's break-lock, archive delete or
    /// rename: no job starts on it meanwhile); `""`: nothing.
    #[serde(default)]
    pub held_for: String,
    /// Who broke its lock last (`POST …/break-lock/`), and when.
    #[serde(default)]
    pub lock_broken_by: String,
    #[serde(default)]
    pub lock_broken: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryInput {
    pub name: Option<String>,
    pub path: Option<String>,
    pub repository_key: Option<String>,
    pub ready: Option<bool>,
    pub enabled: Option<bool>,
    /// A schedule id, or null for none; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub integrity_schedule: Option<Option<i32>>,
    /// Pins the host key of a remote repository's host (see the client's).
    pub host_key: Option<String>,
    /// Comma-separated node labels (letters, digits, `.`, `_`, `-`); `""`: any node.
    pub node_labels: Option<String>,
    pub encryption: Option<String>,
    pub compression: Option<String>,
    pub append_only: Option<bool>,
    pub quota: Option<String>,
    /// KiB/s, or null for none; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub upload_ratelimit: Option<Option<i32>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryRef {
    pub id: i32,
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRef {
    pub id: i32,
    pub name: String,
    pub crontab: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientRef {
    pub id: i32,
    pub hostname: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicySummary {
    pub repository: Option<RepositoryRef>,
    pub schedule: Option<ScheduleRef>,
    pub clients: Vec<ClientRef>,
    #[serde(flatten)]
    pub audit: AuditSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: PolicySummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub uuid: String,
    pub name: String,
    /// A JSON object as a string; `""` means `{}`.
    pub extra_vars: String,
    pub clients: Vec<i32>,
    pub repository: i32,
    pub schedule: i32,
    pub policy_type: String,
    pub keep_hourly: Option<i32>,
    pub keep_daily: Option<i32>,
    pub keep_weekly: Option<i32>,
    pub keep_monthly: Option<i32>,
    pub keep_yearly: Option<i32>,
    /// borg's `--keep-within` (`7d`, `12H`, `2w`, `1m`, `1y`); `""` when not used.
    pub keep_within: String,
    /// borg's `--keep-last`: this many newest archives.
    pub keep_last: Option<i32>,
    pub vmprovider: String,
    pub next_run: Option<DateTime<Utc>>,
    pub mode_pull: bool,
    pub enabled: bool,
    /// Hours without a successful backup before a client of this policy is `late`; `null`:
    /// 1.5 times the gap between two runs of its schedule.
    #[serde(default)]
    pub max_age_hours: Option<f64>,
    /// Hours a job of this policy may run before it is canceled; `null`: 24.
    #[serde(default)]
    pub time_limit_hours: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyInput {
    pub name: Option<String>,
    /// A string holding a JSON object (`""` for none); a JSON object is accepted too.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub extra_vars: Option<serde_json::Value>,
    pub clients: Option<Vec<i32>>,
    pub repository: Option<i32>,
    pub schedule: Option<i32>,
    pub policy_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_hourly: Option<Option<i32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_daily: Option<Option<i32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_weekly: Option<Option<i32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_monthly: Option<Option<i32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_yearly: Option<Option<i32>>,
    /// `""` or null: not used.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub keep_within: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>))]
    pub keep_last: Option<Option<i32>>,
    pub vmprovider: Option<String>,
    pub mode_pull: Option<bool>,
    pub enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub max_age_hours: Option<Option<f64>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>))]
    pub time_limit_hours: Option<Option<f64>>,
}

/// The VM providers a `vm` policy may name (`""` for none); the server's registry
/// (`engine::vm::providers`) holds the same names.
pub const VM_PROVIDERS: &[&str] = &["proxmox"];

/// How a repository's newest integrity job ended (or that it has not yet).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityResult {
    pub job: i32,
    pub status: String,
    pub finished: Option<chrono::DateTime<chrono::Utc>>,
    pub explanation: String,
}

/// The modules `GET /api/v1/policies/module/{module}/{client}/` answers for.
pub const MODULES: &[&str] = &["mysql", "postgresql", "proxmox"];

/// One thing a module query found on a client: a database, a virtual machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleItem {
    /// What a policy's `extra_vars` names it by (a database name, a VM id).
    pub id: String,
    pub name: String,
    /// More for a person to choose by (a VM's type, status and node), or empty.
    pub detail: String,
}

/// The answer of a module query.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleList {
    pub module: String,
    pub client: i32,
    pub items: Vec<ModuleItem>,
}

/// A VM provider of `GET /api/v1/policies/vmmodule/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VmModule {
    pub name: String,
    pub label: String,
    /// The module query listing this provider's guests on a client.
    pub module: String,
}
