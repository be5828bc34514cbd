use sea_orm::entity::prelude::*;

/// One run of the server's own backup (database, secret key, SSH key pair) into borg.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "self_backups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The node that ran it.
    pub node: String,
    pub started: DateTimeUtc,
    pub finished: Option<DateTimeUtc>,
    /// `running`, `successful` or `failed`.
    pub status: String,
    pub repository_id: Option<i32>,
    pub archive: String,
    pub original_size: i64,
    pub deduplicated_size: i64,
    pub message: String,
    /// The user who asked for it (`None`: its schedule).
    pub created_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
