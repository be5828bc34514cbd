use cyborg_dto::{JobStatus, JobType, LaunchType};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub uuid: String,
    pub name: String,
    pub job_type: JobType,
    pub launch_type: LaunchType,
    pub status: JobStatus,
    pub failed: bool,
    pub started: Option<DateTimeUtc>,
    pub finished: Option<DateTimeUtc>,
    pub elapsed: f64,
    pub policy_id: Option<i32>,
    pub client_id: Option<i32>,
    pub repository_id: Option<i32>,
    pub archive_name: String,
    pub original_size: i64,
    pub compressed_size: i64,
    pub deduplicated_size: i64,
    pub job_explanation: String,
    pub master_job_id: Option<i32>,
    pub depends_on_id: Option<i32>,
    /// The server process (node id of its data directory) that claimed the job; "" before.
    pub runner_node: String,
    /// Process group of the local `ssh` currently running for the job.
    pub local_pid: Option<i32>,
    /// Pid of the remote borg process (printed by the remote wrapper before it `exec`s borg).
    pub remote_pid: Option<i32>,
    /// Set by a cancel that another server process must carry out.
    pub cancel_requested: bool,
    /// A JSON object's text (`""`: none): a restore job's destination, items and dry-run flag.
    pub extra_vars: String,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
