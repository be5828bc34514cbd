use sea_orm::entity::prelude::*;

/// A notification channel. `url`, `secret` and `password` are stored encrypted
/// (`Secrets::encrypt`): a webhook URL often is the credential itself.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub kind: cyborg_dto::ChannelKind,
    pub url: String,
    /// A JSON array of alert kinds; empty: all.
    pub events: String,
    pub secret: String,
    pub email_from: String,
    /// Addresses separated by commas.
    pub email_to: String,
    pub username: String,
    pub password: String,
    pub enabled: bool,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
