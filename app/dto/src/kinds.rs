//! The closed sets of the domain — job statuses, job types, launch types, policy types — as
//! enums. They serialize, and are stored (feature `orm`: SeaORM string values, no migration), as
//! the original API's strings, so the API keeps them; code reads `JobStatus::Running`, not
//! `"running"`. `ALL` is each set in its documented order, `as_str`/`parse` the one mapping.
#[cfg(feature = "orm")]
use sea_orm::sea_query::StringLen;
use serde::{Deserialize, Serialize};

/// Declares a string-valued enum: serde and SeaORM values, `ALL`, `as_str`, `parse`, `Display`.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "orm", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
        #[cfg_attr(
            feature = "orm",
            sea_orm(rs_type = "String", db_type = "String(StringLen::None)")
        )]
        pub enum $name {
            $(
                $(#[$vdoc])*
                #[serde(rename = $value)]
                #[cfg_attr(feature = "orm", sea_orm(string_value = $value))]
                $variant,
            )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The strings of `ALL`, in order (a form's choices).
            pub const NAMES: &'static [&'static str] = &[$($value),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a job is in its life, in that order.
    JobStatus {
        /// Made, not yet queued (a launch in progress).
        New = "new",
        /// Queued: the runner takes it when its client and repository are free.
        Pending = "pending",
        /// Waits for the job it depends on.
        Waiting = "waiting",
        Running = "running",
        Successful = "successful",
        Failed = "failed",
        /// The job could not do its work (unreachable client, borg's error, a crash).
        Error = "error",
        Canceled = "canceled",
    }
}

impl JobStatus {
    /// Not over: made, queued, waiting or running.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            JobStatus::New | JobStatus::Pending | JobStatus::Waiting | JobStatus::Running
        )
    }

    /// Not started yet (made, queued or waiting): a cancel ends it at once.
    pub const fn is_queued(self) -> bool {
        matches!(
            self,
            JobStatus::New | JobStatus::Pending | JobStatus::Waiting
        )
    }

    /// Over: it will not change again.
    pub const fn is_finished(self) -> bool {
        !self.is_active()
    }

    /// The active statuses, for a query.
    pub fn active() -> impl Iterator<Item = JobStatus> {
        Self::ALL.iter().copied().filter(|s| s.is_active())
    }

    /// The statuses of a job that has not started, for a query.
    pub fn queued() -> impl Iterator<Item = JobStatus> {
        Self::ALL.iter().copied().filter(|s| s.is_queued())
    }
}

string_enum! {
    /// What a job does. A backup is `"job"` in the original API.
    JobType {
        Backup = "job",
        /// Prepares the client and the repository before a backup.
        Check = "check",
        Catalog = "catalog",
        Prune = "prune",
        Restore = "restore",
        Integrity = "integrity",
    }
}

string_enum! {
    /// Why a job was made.
    LaunchType {
        Manual = "manual",
        Scheduled = "scheduled",
        Relaunch = "relaunch",
        /// A job of a chain (catalog, prune) made by the launch of its backup.
        Dependency = "dependency",
    }
}

string_enum! {
    /// What a policy backs up, in the order the dashboard offers them.
    PolicyType {
        Rootfs = "rootfs",
        Vm = "vm",
        Mysql = "mysql",
        Postgresql = "postgresql",
        Piped = "piped",
        Config = "config",
        Mail = "mail",
        Folders = "folders",
        Proxmox = "proxmox",
    }
}

string_enum! {
    /// How the backups of one policy on one client are doing, from the worst.
    HealthState {
        /// No successful backup within the policy's expected interval.
        Late = "late",
        /// The last attempts (the `failing_after` setting) all failed.
        Failing = "failing",
        /// Never backed up successfully yet.
        Never = "never",
        Ok = "ok",
        /// The policy or the client is disabled: nothing is expected.
        Disabled = "disabled",
    }
}

string_enum! {
    /// What an alert is about; also the events a notification channel subscribes to.
    AlertKind {
        /// A policy's backups of a client fail (its health is `failing`).
        BackupFailed = "backup_failed",
        /// No successful backup within the expected interval (health `late`).
        BackupLate = "backup_late",
        /// A repository's newest integrity check failed.
        IntegrityFailed = "integrity_failed",
        /// A repository with an integrity schedule had no successful check for too long.
        CheckOverdue = "check_overdue",
        /// The newest job on a client could not reach it over SSH.
        ClientUnreachable = "client_unreachable",
    }
}

string_enum! {
    /// Where a notification channel sends its messages.
    ChannelKind {
        /// A JSON POST signed with HMAC-SHA256 (`X-CyBorg-Signature`).
        Webhook = "webhook",
        /// An ntfy topic URL, or a Gotify `…/message?token=…` URL.
        Ntfy = "ntfy",
        /// A Slack or Mattermost incoming webhook.
        Slack = "slack",
        /// Email over SMTP.
        Email = "email",
    }
}

string_enum! {
    /// What a personal API token may do.
    TokenScope {
        /// Every `GET`; any other method answers 403.
        Read = "read",
        /// Everything its owner may do.
        Write = "write",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_serde_and_parse() {
        for s in JobStatus::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<JobStatus>(&json).unwrap(), *s);
            assert_eq!(JobStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(JobType::Backup.as_str(), "job");
        assert_eq!(JobType::parse("backup"), None);
        assert_eq!(PolicyType::ALL.len(), 9);
    }

    #[test]
    fn active_and_finished_split_the_statuses() {
        let active: Vec<_> = JobStatus::active().map(JobStatus::as_str).collect();
        assert_eq!(active, ["new", "pending", "waiting", "running"]);
        let queued: Vec<_> = JobStatus::queued().map(JobStatus::as_str).collect();
        assert_eq!(queued, ["new", "pending", "waiting"]);
        let finished: Vec<_> = JobStatus::ALL
            .iter()
            .filter(|s| s.is_finished())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(finished, ["successful", "failed", "error", "canceled"]);
    }
}
