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

/// Every version of one path across the catalogued archives, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogHistory {
    pub path: String,
    pub count: usize,
    pub results: Vec<CatalogVersion>,
}

/// One state of a path (its attributes) and the archives that hold it in that state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogVersion {
    pub repository: i32,
    pub policy: Option<i32>,
    pub client: Option<i32>,
    /// `appeared`: no earlier archive of the same policy and client held the path; `changed`:
    /// the archive before held another version; `reappeared`: it held none, an older one did.
    pub change: String,
    /// What the next archive of the same policy and client holds: `current` (there is none
    /// yet), `changed` (another version) or `vanished` (not the path).
    pub then: String,
    pub mode: String,
    pub mtime: Option<DateTime<Utc>>,
    pub owner: String,
    pub group: String,
    pub size: i64,
    pub healthy: bool,
    /// The archives holding this version, oldest first.
    pub archives: Vec<CatalogVersionArchive>,
}

/// An archive holding a version, with the catalog entry of the path in it (for its details,
/// download or restore).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogVersionArchive {
    pub id: i32,
    pub name: String,
    pub created: DateTime<Utc>,
    pub job: Option<i32>,
    pub entry: i64,
}
