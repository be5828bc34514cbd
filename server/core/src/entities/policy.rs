use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "policies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub uuid: String,
    pub name: String,
    pub extra_vars: String,
    pub repository_id: i32,
    pub schedule_id: i32,
    pub policy_type: cyborg_dto::PolicyType,
    pub keep_hourly: Option<i32>,
    pub keep_daily: Option<i32>,
    pub keep_weekly: Option<i32>,
    pub keep_monthly: Option<i32>,
    pub keep_yearly: Option<i32>,
    /// borg's `--keep-within` interval (`7d`, `12H`…); `""`: not used.
    pub keep_within: String,
    /// borg's `--keep-last`.
    pub keep_last: Option<i32>,
    pub vmprovider: String,
    pub next_run: Option<DateTimeUtc>,
    pub mode_pull: bool,
    pub enabled: bool,
    /// Hours without a success before the pairs of this policy are `late`; `None`: 1.5 times the
    /// gap of its schedule.
    pub max_age_hours: Option<f64>,
    /// Hours a job of this policy may run before it is canceled; `None`: 24.
    pub time_limit_hours: Option<f64>,
    pub created: DateTimeUtc,
    pub modified: DateTimeUtc,
    pub created_by: Option<i32>,
    pub modified_by: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
