use sea_orm::entity::prelude::*;

/// A personal API token: only the SHA-256 of the token is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub scope: cyborg_dto::TokenScope,
    pub token_hash: String,
    pub created: DateTimeUtc,
    pub expires: Option<DateTimeUtc>,
    pub last_used: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
