use sea_orm::entity::prelude::*;

/// What every node of one database shares (one row, id 1; see `identity`): a value encrypted
/// with the secret key, which only the same key decrypts, and the SSH key pair clients
/// authorize (the private half encrypted with the secret key).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "server_identity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub secret_check: String,
    pub ssh_private_key: String,
    pub ssh_public_key: String,
    pub created: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
