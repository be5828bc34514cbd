use sea_orm::entity::prelude::*;

/// One borg archive known to the server. Once catalogued, its files are the versions of its
/// lineage that cover its `lineage_seq` (the `catalog_entry` view).
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
    /// The lineage holding its catalog (NULL: not catalogued).
    pub lineage_id: Option<i32>,
    pub lineage_seq: Option<i32>,
    /// Items in its catalog.
    pub entries: i64,
    /// Found in the repository, not made by this server: never pruned.
    pub foreign: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
