use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Alert, ApiToken, HealthRow, HealthSummary, Job, NotificationChannel, Settings, StatsDay,
};

/// The logged-in operator, as the dashboard's header shows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionUser {
    pub id: i32,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_superuser: bool,
}

/// One coming run of a policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NextRun {
    pub at: DateTime<Utc>,
    pub policy_id: i32,
    pub policy_name: String,
    pub policy_type: String,
    pub schedule_name: String,
}

/// Everything the overview page shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overview {
    pub clients: u64,
    pub policies: u64,
    pub repositories: u64,
    /// Jobs whose status is `running` now.
    pub jobs_running: u64,
    /// Jobs that ended `failed` or `error` in the last 24 hours.
    pub jobs_failed_24h: u64,
    /// The 30 days of `GET /api/v1/stats/`, oldest first.
    pub stats: Vec<StatsDay>,
    /// The next runs of every enabled policy, soonest first (at most 10).
    pub next_runs: Vec<NextRun>,
    /// The 10 newest jobs, newest first.
    pub last_jobs: Vec<Job>,
    pub schedules: u64,
    /// How many policy × client pairs are in each state, and the open alerts.
    pub health: HealthSummary,
    /// The late and failing pairs, worst first (at most 20).
    pub attention: Vec<HealthRow>,
    /// The `authorized_keys` line clients need, while the first steps are not all done.
    pub authorized_keys: Option<String>,
}

impl Overview {
    /// The first steps of a new installation, in order, and whether each is done: a client, a
    /// repository, a schedule, a policy, a first run.
    pub fn first_steps(&self) -> [(&'static str, &'static str, bool); 5] {
        [
            ("Add a client", "/clients", self.clients > 0),
            ("Add a repository", "/repositories", self.repositories > 0),
            ("Add a schedule", "/schedules", self.schedules > 0),
            ("Add a policy", "/policies", self.policies > 0),
            ("Run it now", "/policies", !self.last_jobs.is_empty()),
        ]
    }
}

/// The settings page: the key clients authorize, the settings, the notification channels
/// (superusers only) and the caller's API tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettingsView {
    pub pubkey: String,
    pub authorized_keys: String,
    pub settings: Settings,
    pub is_superuser: bool,
    pub channels: Vec<NotificationChannel>,
    pub tokens: Vec<ApiToken>,
    /// The server's own backup (superusers): the repository it goes to (its name, `""`: none
    /// set), its schedule's name, and the recent runs.
    #[serde(default)]
    pub self_backup_repository: String,
    #[serde(default)]
    pub self_backup_schedule: String,
    #[serde(default)]
    pub self_backups: Vec<crate::SelfBackupRun>,
}

/// The alerts page: open alerts, then the most recently resolved ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertsView {
    pub open: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

/// A job status change as `/api/v1/jobs/stream/` sends it in a `status` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobStatusEvent {
    pub job: i32,
    pub status: String,
    #[serde(default)]
    pub failed: bool,
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished: Option<DateTime<Utc>>,
}

/// What a dashboard form's save answers: the saved object, or the service's messages by field
/// (the same ones the REST API answers with a 400), to show next to the fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum FormOutcome<T> {
    Saved(T),
    Invalid(super::FieldErrors),
}

/// The schedule editor's preview of a crontab: its next runs, or why it is not valid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SchedulePreview {
    pub runs: Vec<DateTime<Utc>>,
    /// The message a save would answer for the crontab (empty when it is valid).
    pub error: String,
}

/// A job's page: the job and the end of its log (the browser then follows the log from
/// `last_counter` on through `/api/v1/jobs/{id}/stream/?after=…`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobView {
    pub job: Job,
    /// The last lines of the log, oldest first (at most `JOB_LOG_LINES`).
    pub lines: Vec<String>,
    /// The counter of the last line in `lines` (0 without lines).
    pub last_counter: i32,
    /// Lines in the whole log (more than `lines` holds when the log is long).
    pub total_lines: u64,
}

/// How many of a job's last log lines its page shows; the whole log is one link away.
pub const JOB_LOG_LINES: u64 = 10_000;
