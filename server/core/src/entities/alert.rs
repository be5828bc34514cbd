use sea_orm::entity::prelude::*;

/// An alert from the rules of `services::alerts`: open while `resolved` is null (at most one
/// open alert per `key`, a unique index says so).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub kind: cyborg_dto::AlertKind,
    pub key: String,
    pub policy_id: Option<i32>,
    pub client_id: Option<i32>,
    pub repository_id: Option<i32>,
    pub job_id: Option<i32>,
    pub message: String,
    pub first_seen: DateTimeUtc,
    pub last_seen: DateTimeUtc,
    pub resolved: Option<DateTimeUtc>,
    pub acknowledged: Option<DateTimeUtc>,
    pub acknowledged_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
