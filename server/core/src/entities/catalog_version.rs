use sea_orm::entity::prelude::*;

/// One state of one path in a lineage, true in the lineage's archives whose `lineage_seq` is in
/// `first_seq..=last_seq` (`last_seq` is `catalog::OPEN` while it is current).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub lineage_id: i32,
    pub path_id: i64,
    pub first_seq: i32,
    pub last_seq: i32,
    pub mode: String,
    pub mtime: Option<DateTimeUtc>,
    pub owner: String,
    pub group: String,
    pub size: i64,
    pub healthy: bool,
    /// `catalog::fingerprint` of the attributes above (0: unknown).
    pub fp: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
