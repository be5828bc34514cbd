//! Rows the benchmarks seed a fleet with: ready clients and repositories, and policies, each
//! numbered `i` (names and uuids derived from it).
use chrono::{DateTime, Utc};
use cyborg_core::entities::{client, policy, repository};
use cyborg_dto::PolicyType;
use sea_orm::Set;

/// Client `i`: `host{i}.example.com`, ready and enabled.
pub fn client(i: usize, t: DateTime<Utc>) -> client::ActiveModel {
    client::ActiveModel {
        uuid: Set(format!("c{i}")),
        hostname: Set(format!("host{i}.example.com")),
        ip: Set(String::new()),
        version: Set(String::new()),
        ready: Set(true),
        hypervisor_ready: Set(false),
        hypervisor_name: Set(String::new()),
        enabled: Set(true),
        port: Set(22),
        username: Set("root".into()),
        bandwidth_limit: Set(None),
        host_key: Set(String::new()),
        host_key_seen: Set(String::new()),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
}

/// Repository `i`: a folder `/srv/borg/repo{i}`, ready and enabled, no passphrase.
pub fn repository(i: usize, t: DateTime<Utc>) -> repository::ActiveModel {
    repository::ActiveModel {
        uuid: Set(format!("r{i}")),
        name: Set(format!("repo{i}")),
        path: Set(format!("/srv/borg/repo{i}")),
        repository_key: Set(String::new()),
        original_size: Set(0),
        compressed_size: Set(0),
        deduplicated_size: Set(0),
        ready: Set(true),
        enabled: Set(true),
        integrity_schedule_id: Set(None),
        integrity_next_run: Set(None),
        host_key: Set(String::new()),
        host_key_seen: Set(String::new()),
        ssh_key: Set(String::new()),
        ssh_public_key: Set(String::new()),
        node_labels: Set(String::new()),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
}

/// Policy `i`: `rootfs` into `repository` on `schedule`, keeping `keep_daily`, next run at
/// `next_run`.
pub fn policy(
    i: usize,
    repository: i32,
    schedule: i32,
    keep_daily: Option<i32>,
    next_run: DateTime<Utc>,
    t: DateTime<Utc>,
) -> policy::ActiveModel {
    policy::ActiveModel {
        uuid: Set(format!("p{i}")),
        name: Set(format!("policy{i}")),
        extra_vars: Set(String::new()),
        repository_id: Set(repository),
        schedule_id: Set(schedule),
        policy_type: Set(PolicyType::Rootfs),
        keep_hourly: Set(None),
        keep_daily: Set(keep_daily),
        keep_weekly: Set(None),
        keep_monthly: Set(None),
        keep_yearly: Set(None),
        keep_within: Set(String::new()),
        keep_last: Set(None),
        vmprovider: Set(String::new()),
        next_run: Set(Some(next_run)),
        mode_pull: Set(false),
        enabled: Set(true),
        max_age_hours: Set(None),
        time_limit_hours: Set(None),
        created: Set(t),
        modified: Set(t),
        ..Default::default()
    }
}
