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
    /// The pinned SSH host key (`ssh-ed25519 AAAA…`); `""` until the operator confirmed one.
    pub host_key: String,
    /// The key the host showed last when it was not the pinned one (waiting for review).
    pub host_key_seen: String,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
