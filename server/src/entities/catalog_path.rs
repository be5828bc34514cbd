use sea_orm::entity::prelude::*;

/// Each distinct archived path is stored once, however many archives hold it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_paths")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub path: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
