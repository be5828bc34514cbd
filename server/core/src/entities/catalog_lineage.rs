use sea_orm::entity::prelude::*;

/// The catalogued archives of one (repository, policy, client), in the order they were
/// ingested: each has a `lineage_seq` in it, and file versions are valid over a range of them
/// (docs/CATALOG.md).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_lineages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub repository_id: i32,
    pub policy_id: Option<i32>,
    pub client_id: Option<i32>,
    /// The `lineage_seq` of the newest ingestion that completed (0: none yet). Versions that
    /// start after it belong to an ingestion that did not complete.
    pub head_seq: i32,
    /// When the archive ingested at `head_seq` was created: an older archive gets a lineage of
    /// its own.
    pub head_created: Option<DateTimeUtc>,
    pub created: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
