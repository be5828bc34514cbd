use serde::{Deserialize, Serialize};

/// The server-wide settings (`GET /api/v1/settings/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Whether a catalog of every archive's files is built after each backup.
    pub catalog_enabled: bool,
    /// Whether the policy's keep_* rules are applied after each backup.
    pub auto_prune: bool,
    /// Unix user the backups run as on the clients.
    pub backup_user: String,
    /// Consecutive failed attempts after which a policy's client is `failing` (1 to 100).
    #[serde(default = "default_failing_after")]
    pub failing_after: u32,
    /// Days the logs of finished jobs are kept (1 to 36500); the job rows and their summary stay.
    #[serde(default = "default_log_days")]
    pub job_log_retention_days: u32,
    /// Whether repositories with `encryption: none` may be made (off: refused with a 400).
    #[serde(default)]
    pub allow_unencrypted_repositories: bool,
    /// The repository the server backs itself up into (database, secret key, SSH keys);
    /// null: no self-backup.
    #[serde(default)]
    pub self_backup_repository: Option<i32>,
    /// The schedule of the self-backup; null: only `POST /api/v1/settings/self_backup/`.
    #[serde(default)]
    pub self_backup_schedule: Option<i32>,
}

fn default_failing_after() -> u32 {
    1
}

fn default_log_days() -> u32 {
    90
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            catalog_enabled: true,
            auto_prune: true,
            backup_user: "root".into(),
            failing_after: default_failing_after(),
            job_log_retention_days: default_log_days(),
            allow_unencrypted_repositories: false,
            self_backup_repository: None,
            self_backup_schedule: None,
        }
    }
}

/// `GET /api/v1/settings/ssh_public_key/`: the key clients must authorize.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SshPublicKey {
    pub pubkey: String,
    /// The line to add to `~USER/.ssh/authorized_keys` on each client (`restrict,port-forwarding`
    /// and the key): commands may run and a job's repository socket may be forwarded, nothing
    /// else.
    pub authorized_keys: String,
}

/// One run of the server's own backup (`/api/v1/settings/self_backup/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelfBackupRun {
    pub id: i32,
    /// The node that ran it.
    pub node: String,
    pub started: chrono::DateTime<chrono::Utc>,
    pub finished: Option<chrono::DateTime<chrono::Utc>>,
    /// `running`, `successful` or `failed`.
    pub status: String,
    pub repository: Option<i32>,
    /// The archive made (restore it with `cyborgbackup restore-server`).
    pub archive: String,
    pub original_size: i64,
    pub deduplicated_size: i64,
    /// Why it failed.
    pub message: String,
    /// Who asked for it (null: its schedule).
    pub created_by: Option<i32>,
}
