use sea_orm::entity::prelude::*;

/// One borg archive known to the catalog; its files are `catalog_entry` rows.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "archives")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub repository_id: i32,
    pub client_id: Option<i32>,
    pub policy_id: Option<i32>,
    pub job_id: Option<i32>,
    pub name: String,
    pub created: DateTimeUtc,
    /// The archived paths whose parent is not in the archive, one per line (catalog ingestion).
    pub roots: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
