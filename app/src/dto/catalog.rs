use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One file of one archive, in the seed's exact shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogEntry {
    pub id: i64,
    pub url: String,
    pub archive_name: String,
    pub path: String,
    /// The job that made the archive, `null` once that job is deleted.
    pub job: Option<i32>,
    /// Unix mode as `ls -l` prints it, e.g. `-rw-r--r--`.
    pub mode: String,
    pub mtime: Option<DateTime<Utc>>,
    pub owner: String,
    pub group: String,
    pub size: i64,
    pub healthy: bool,
}
