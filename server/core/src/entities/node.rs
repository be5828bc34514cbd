use sea_orm::entity::prelude::*;

/// One server process that runs jobs (`engine::cluster`): its heartbeat, how many jobs it takes
/// at once, its labels, and whether it is alive, draining, stopped or dead (taken over).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub started: DateTimeUtc,
    pub heartbeat: DateTimeUtc,
    pub capacity: i32,
    /// Comma-separated, without spaces.
    pub labels: String,
    pub state: String,
    pub taken_over_by: Option<String>,
    pub taken_over: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
