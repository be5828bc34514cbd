//! Archives as the API shows them (`/api/v1/archives/`), their borg details and diffs.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Related;

/// One borg archive known to the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Archive {
    pub id: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub related: Related,
    pub name: String,
    pub repository: i32,
    pub repository_name: String,
    pub policy: Option<i32>,
    pub client: Option<i32>,
    pub client_hostname: String,
    /// The backup job that made it.
    pub job: Option<i32>,
    pub created: DateTime<Utc>,
    /// Found in the repository, not made by this server: never pruned.
    pub foreign: bool,
    /// Whether its files are in the catalog.
    pub catalogued: bool,
    /// Items in its catalog.
    pub entries: i64,
    /// `borg info` of the archive: only in the detail (`GET /api/v1/archives/{id}/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borg: Option<ArchiveBorgInfo>,
    /// Why `borg` is missing from a detail (the client could not be reached…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borg_error: Option<String>,
}

/// What borg says of an archive (`borg info --json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveBorgInfo {
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    pub nfiles: i64,
    /// Seconds.
    pub duration: f64,
    pub start: String,
    pub end: String,
    pub hostname: String,
    pub username: String,
    pub command_line: Vec<String>,
    pub comment: String,
    pub borg_id: String,
}

/// `PATCH /api/v1/archives/{id}/`: a new name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveInput {
    pub name: Option<String>,
}

/// `POST /api/v1/repositories/{id}/import/`: what the import found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchivesImported {
    /// Archives borg lists that the server did not know, now recorded as foreign.
    pub imported: Vec<String>,
    /// Archives the server knew already.
    pub known: usize,
    /// The catalog jobs launched for the imported archives (none when the catalog is off).
    pub jobs: Vec<i32>,
}

/// One path of a diff between two archives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffEntry {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// What changed of a changed path: `content`, `mode`, `owner`, `mtime`, `ctime`, `link`…
    pub what: Vec<String>,
    /// Size in the older archive (null: absent there, or not catalogued).
    pub size_before: Option<i64>,
    pub size_after: Option<i64>,
    pub mtime_before: Option<DateTime<Utc>>,
    pub mtime_after: Option<DateTime<Utc>>,
    /// Bytes of content borg counted added and removed (changed files).
    pub bytes_added: Option<i64>,
    pub bytes_removed: Option<i64>,
    pub mode_before: Option<String>,
    pub mode_after: Option<String>,
}

/// `GET /api/v1/archives/{id}/diff/?other={id}`: from the older archive to the newer one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveDiff {
    pub from: Archive,
    pub to: Archive,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<DiffEntry>,
}

/// `GET /api/v1/repositories/{id}/key/`: the repository key for disaster recovery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryKey {
    pub repository: i32,
    pub encryption: String,
    /// `borg key export` (import with `borg key import REPO FILE`).
    pub key: String,
    /// `borg key export --paper` (import with `borg key import --paper REPO`).
    pub paper: String,
}

/// `GET /api/v1/repositories/{id}/lock/`: whether borg's lock is held right now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryLock {
    pub repository: i32,
    /// `free`, `locked` (held while no job of ours runs on it: maybe stale) or `busy` (a job
    /// of ours runs on it).
    pub state: String,
    /// The running job, when `busy`.
    pub job: Option<i32>,
    /// What borg said.
    pub detail: String,
    /// Who holds borg's lock (`host@id, pid N`, from the repository's `lock.roster`) and since
    /// when, where the repository is a folder this server can read through its client.
    #[serde(default)]
    pub holder: String,
    #[serde(default)]
    pub locked_since: Option<DateTime<Utc>>,
    pub lock_broken_by: String,
    pub lock_broken: Option<DateTime<Utc>>,
}
