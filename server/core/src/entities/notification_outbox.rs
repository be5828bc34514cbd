use sea_orm::entity::prelude::*;

/// A message to deliver: written in the same transaction as the alert change it tells of, sent
/// by `notify::deliver` with retries, kept once sent (`sent`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub channel_id: i32,
    pub alert_id: Option<i32>,
    /// `raised`, `resolved` or `test`.
    pub event: String,
    /// The message as JSON (`notify::Message`).
    pub payload: String,
    pub attempts: i32,
    pub next_attempt: DateTimeUtc,
    pub sent: Option<DateTimeUtc>,
    pub last_error: String,
    pub created: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
