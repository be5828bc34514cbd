use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub uuid: String,
    pub hostname: String,
    pub ip: String,
    pub version: String,
    pub ready: bool,
    pub hypervisor_ready: bool,
    pub hypervisor_name: String,
    pub enabled: bool,
    pub port: i32,
    pub username: String,
    pub bandwidth_limit: Option<i32>,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
