use sea_orm::entity::prelude::*;

/// A view (read only): one row per archive and file, from the catalog's versions. `id` is
/// `catalog::entry_id(archive_id, path_id)`; find one by `catalog::entry_condition`, which the
/// database answers from indexes (a filter on `id` itself cannot use one).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub archive_id: i32,
    pub path_id: i64,
    pub mode: String,
    pub mtime: Option<DateTimeUtc>,
    pub owner: String,
    pub group: String,
    pub size: i64,
    pub healthy: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::archive::Entity",
        from = "Column::ArchiveId",
        to = "super::archive::Column::Id"
    )]
    Archive,
    #[sea_orm(
        belongs_to = "super::catalog_path::Entity",
        from = "Column::PathId",
        to = "super::catalog_path::Column::Id"
    )]
    Path,
}

impl ActiveModelBehavior for ActiveModel {}
