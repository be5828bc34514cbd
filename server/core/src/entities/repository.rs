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
    /// borg's `--encryption` mode, fixed once the repository is initialised.
    pub encryption: String,
    /// borg's `--compression` for every archive written into it.
    pub compression: String,
    /// `borg init --append-only`: the server never prunes it (an operator's action is needed).
    pub append_only: bool,
    /// borg's `--storage-quota` (`""`: none).
    pub storage_quota: String,
    /// KiB/s for clients without a limit of their own (`None`: no limit).
    pub upload_ratelimit: Option<i32>,
    /// While set and in the future, no job of any node starts on it: an operator's action
    /// (break-lock, archive delete or rename) runs on it (see `engine::hold`).
    pub held_until: Option<DateTimeUtc>,
    pub held_for: String,
    /// Who last broke its lock, and when.
    pub lock_broken_by: String,
    pub lock_broken: Option<DateTimeUtc>,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
