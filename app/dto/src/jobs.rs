use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Audit, AuditSummary, Related};

/// Small copy of a job's policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobPolicyRef {
    pub id: i32,
    pub name: String,
    pub policy_type: String,
}

/// Small copy of a job's client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobClientRef {
    pub id: i32,
    pub hostname: String,
}

/// Small copy of a job's repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRepositoryRef {
    pub id: i32,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<JobPolicyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<JobClientRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<JobRepositoryRef>,
    #[serde(flatten)]
    pub audit: AuditSummary,
}

/// One run of borg (or of a preparation step) against a client and a repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub summary_fields: JobSummary,
    #[serde(flatten)]
    pub audit: Audit,
    pub name: String,
    /// `job` (backup), `check`, `catalog`, `prune`, `restore`, `integrity`.
    pub job_type: String,
    /// `manual`, `scheduled`, `relaunch`, `dependency`.
    pub launch_type: String,
    /// `new`, `pending`, `waiting`, `running`, `successful`, `failed`, `error`, `canceled`.
    pub status: String,
    pub failed: bool,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// Seconds.
    pub elapsed: f64,
    pub policy: Option<i32>,
    pub client: Option<i32>,
    pub repository: Option<i32>,
    pub archive_name: String,
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    pub job_explanation: String,
    pub master_job: Option<i32>,
    /// Ids of the jobs that wait for this one, ascending.
    pub dependent_jobs: Vec<i32>,
    /// A JSON object's text (`""`: none); a restore job's `dest_folder`, `items` and `dry_run`.
    #[serde(default)]
    pub extra_vars: String,
    /// The node (server process, `GET /api/v1/nodes/`) that runs or ran it; `""` before.
    #[serde(default)]
    pub execution_node: String,
}

/// `POST /api/v1/repositories/{id}/integrity/`: check a repository and test-restore a sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityInput {
    /// Whose newest archive is sampled (default: the repository's newest archive).
    pub policy: Option<i32>,
    /// How many files to extract and compare (default 20, at most 1000; 0: `borg check` only).
    pub sample: Option<u32>,
    /// `borg check --verify-data`: read and verify every chunk (slow on a big repository).
    pub verify_data: Option<bool>,
}

/// `POST /api/v1/restore/`: extract items of an archive on a client, into a folder there.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreInput {
    /// The archive, by name (as `archive_name` of its backup job and catalog entries).
    pub archive_name: Option<String>,
    /// Needed only when archives of that name exist in several repositories.
    pub repository: Option<i32>,
    /// The client the files are written on (any client, not only the one backed up).
    pub client: Option<i32>,
    /// Absolute; created when missing; the archive's paths are recreated below it.
    pub dest_folder: Option<String>,
    /// Archive paths (as the catalog shows them) of files or folders; empty or absent: all.
    pub items: Option<Vec<String>>,
    /// List what would be restored, write nothing.
    pub dry_run: Option<bool>,
}

/// One numbered line of a job's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobEvent {
    pub id: i64,
    pub counter: i32,
    pub stdout: String,
    pub created: DateTime<Utc>,
}

/// `GET /api/v1/jobs/{id}/stdout/?format=json`: the whole log, lines joined by `\n`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStdout {
    pub content: String,
}

/// One UTC day of `GET /api/v1/stats/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Bytes read by the successful backups finished that day (sum of `original_size`).
    pub size: i64,
    /// Bytes they added to their repositories (sum of `deduplicated_size`).
    pub dedup: i64,
    /// Jobs finished successfully that day.
    pub success: i64,
    /// Jobs finished failed or in error that day.
    pub failed: i64,
}

/// `POST /api/v1/policies/{id}/launch/` and `POST /api/v1/jobs/{id}/relaunch/`: the first
/// backup job made and all of them (one a client; a relaunch of a check, catalog or prune job
/// makes that one job).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Launched {
    pub job: i32,
    pub jobs: Vec<i32>,
}
