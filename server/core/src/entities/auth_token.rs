use sea_orm::entity::prelude::*;

/// A refresh token or a dashboard session; only the SHA-256 of the token is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub kind: String,
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    pub created: DateTimeUtc,
    /// Refresh tokens: the chain of refreshes this one comes from (one login). A spent token
    /// presented again revokes the whole family.
    pub family: String,
    /// A refresh token already exchanged; kept until it expires to recognise its reuse.
    pub spent: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
