use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repositories")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub uuid: String,
    pub name: String,
    pub path: String,
    /// The passphrase, encrypted with the server's secret key (see `secrets`).
    pub repository_key: String,
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    pub ready: bool,
    pub enabled: bool,
    /// The schedule integrity jobs follow (`None`: launched by hand only).
    pub integrity_schedule_id: Option<i32>,
    /// When the scheduler launches the next integrity job (read-only; from the schedule).
    pub integrity_next_run: Option<DateTimeUtc>,
    /// The pinned SSH host key of a remote repository's host (see `client::Model::host_key`).
    pub host_key: String,
    pub host_key_seen: String,
    /// The private key this server reaches a remote repository's host with, encrypted with the
    /// secret key (see `secrets`); `""` for a local repository.
    pub ssh_key: String,
    pub ssh_public_key: String,
    /// Only nodes with one of these labels (comma-separated) run this repository's jobs; `""`:
    /// any node. A pull-mode repository is a folder on the nodes that hold it.
    pub node_labels: String,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
