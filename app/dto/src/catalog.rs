use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One file of one archive, in the seed's exact shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// An archive, as the catalog browser offers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArchiveRef {
    pub id: i32,
    pub name: String,
    pub created: DateTime<Utc>,
    pub client: Option<i32>,
    pub repository: i32,
}

/// One page of a directory of an archive, by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogDir {
    pub items: Vec<CatalogItem>,
    /// The path to list after for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Items of a directory per page of the catalog browser.
pub const CATALOG_DIR_PAGE: usize = 1000;

/// One item directly inside a directory of an archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogItem {
    /// The catalog entry's id (`/api/v1/catalogs/{id}/`); 0 for a folder above the archive's
    /// sources, which is not archived itself (no details).
    pub id: i64,
    pub path: String,
    /// The last part of the path.
    pub name: String,
    pub is_dir: bool,
    pub mode: String,
    pub size: i64,
    pub owner: String,
    pub group: String,
    pub mtime: Option<DateTime<Utc>>,
    pub healthy: bool,
}
