//! Making jobs: a launch of a policy (manual, scheduled or relaunch) becomes, for each enabled
//! client, a chain `[check] → backup → [catalog] → [prune]`, each `waiting` on the one before
//! and the first `pending`. Everything is written in one transaction that begins with a write
//! on the policy row: on PostgreSQL that row lock serialises launches of one policy (so the
//! "already active" check cannot race), on SQLite it takes the write lock up front (a read-then-
//! write transaction could otherwise fail with SQLITE_BUSY against the job logs being written).
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Statement,
};

use super::{Engine, log::JobUpdate, retention::Rules};
use crate::{
    entities::{client, job, policy, policy_client, repository},
    error::{Error, Result},
    settings,
    stamps::{new_uuid, now},
};

pub use cyborg_dto::{JobStatus, JobType, LaunchType};

/// What a launch made: the backup job of each client, in client order, and every job.
#[derive(Debug, Default)]
pub struct Launched {
    pub backups: Vec<i32>,
    pub all: Vec<i32>,
}

pub struct LaunchRequest {
    pub policy_id: i32,
    pub launch_type: LaunchType,
    pub user: Option<i32>,
    /// Only this client (a relaunch of one client's backup); else every enabled client.
    pub only_client: Option<i32>,
    /// Written on the backup jobs (a scheduled run that was missed, …).
    pub explanation: String,
}

/// Launches in its own transaction and wakes the runner.
pub async fn launch(eng: &Engine, req: LaunchRequest) -> Result<Launched> {
    let _one_at_a_time = eng.claim.lock().await;
    let txn = sea_orm::TransactionTrait::begin(&eng.db).await?;
    if !lock_policy(&txn, req.policy_id).await? {
        return Err(Error::not_found());
    }
    let launched = launch_in(&txn, &req).await?;
    txn.commit().await?;
    announce(eng, &launched.all).await;
    Ok(launched)
}

/// The first statement of a launch transaction (see the module comment): answers whether the
/// policy exists.
pub async fn lock_policy(txn: &DatabaseTransaction, policy_id: i32) -> Result<bool> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "UPDATE policies SET id = id WHERE id = $1",
        _ => "UPDATE policies SET id = id WHERE id = ?",
    };
    let r = txn
        .execute(Statement::from_sql_and_values(
            backend,
            sql,
            [policy_id.into()],
        ))
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Makes the jobs of a launch inside `txn` (whose first statement was [`lock_policy`]).
pub async fn launch_in(txn: &DatabaseTransaction, req: &LaunchRequest) -> Result<Launched> {
    let p = policy::Entity::find_by_id(req.policy_id)
        .one(txn)
        .await?
        .ok_or_else(Error::not_found)?;
    let repo = repository::Entity::find_by_id(p.repository_id)
        .one(txn)
        .await?
        .ok_or_else(Error::not_found)?;
    if !repo.enabled {
        return Err(Error::Conflict(format!(
            "The repository {} is disabled; enable it to launch this policy.",
            repo.name
        )));
    }
    let ids: Vec<i32> = policy_client::Entity::find()
        .filter(policy_client::Column::PolicyId.eq(p.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|pc| pc.client_id)
        .filter(|id| req.only_client.is_none_or(|only| only == *id))
        .collect();
    let clients = client::Entity::find()
        .filter(client::Column::Id.is_in(ids))
        .filter(client::Column::Enabled.eq(true))
        .order_by_asc(client::Column::Id)
        .all(txn)
        .await?;
    if clients.is_empty() {
        return Err(Error::Conflict(
            "The policy has no enabled client to back up.".into(),
        ));
    }
    let active = job::Entity::find()
        .filter(job::Column::PolicyId.eq(p.id))
        .filter(job::Column::JobType.eq(JobType::Backup))
        .filter(job::Column::Status.is_in(JobStatus::active()))
        .all(txn)
        .await?;
    let busy = |c: &client::Model| active.iter().find(|j| j.client_id == Some(c.id));
    if req.launch_type != LaunchType::Scheduled
        && let Some((c, j)) = clients.iter().find_map(|c| busy(c).map(|j| (c, j)))
    {
        return Err(Error::Conflict(format!(
            "A backup of this policy on {} is still {} (job {}); wait for it or cancel it.",
            c.hostname, j.status, j.id
        )));
    }
    let s = settings::load(txn).await?;
    // An unreadable rule still gets its prune job, which then fails saying why.
    // An append-only repository is never pruned: borg would only pretend to delete.
    let prunes = !repo.append_only && Rules::of(&p).ok().is_none_or(|r| r.any());
    let t = now();
    let mut out = Launched::default();
    for c in &clients {
        if let Some(j) = busy(c) {
            // A scheduled run never stacks on a running one; it is recorded, not dropped silently.
            let skipped = insert(
                txn,
                JobSpec {
                    name: format!("Backup Job {} {}", p.name, c.hostname),
                    job_type: JobType::Backup,
                    status: JobStatus::Canceled,
                    explanation: format!(
                        "Scheduled run at {} skipped: the previous backup of this policy on {} \
                         (job {}) was still {}.",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        c.hostname,
                        j.id,
                        j.status
                    ),
                    finished: Some(t),
                    ..JobSpec::new(&p, c, req, t)
                },
            )
            .await?;
            out.all.push(skipped.id);
            continue;
        }
        let mut previous: Option<i32> = None;
        if !c.ready || !repo.ready {
            let check = insert(
                txn,
                JobSpec {
                    name: format!("Prepare Job {} {}", p.name, c.hostname),
                    job_type: JobType::Check,
                    status: JobStatus::Pending,
                    ..JobSpec::new(&p, c, req, t)
                },
            )
            .await?;
            previous = Some(check.id);
            out.all.push(check.id);
        }
        let backup = insert(
            txn,
            JobSpec {
                name: format!("Backup Job {} {}", p.name, c.hostname),
                job_type: JobType::Backup,
                status: if previous.is_some() {
                    JobStatus::Waiting
                } else {
                    JobStatus::Pending
                },
                depends_on: previous,
                explanation: req.explanation.clone(),
                ..JobSpec::new(&p, c, req, t)
            },
        )
        .await?;
        if let Some(check) = previous {
            set_master(txn, check, backup.id).await?;
        }
        out.backups.push(backup.id);
        out.all.push(backup.id);
        let mut previous = backup.id;
        let mut follow = Vec::new();
        if s.catalog_enabled {
            follow.push((JobType::Catalog, "Catalog Job"));
        }
        if s.auto_prune && prunes {
            follow.push((JobType::Prune, "Prune Job"));
        }
        for (job_type, title) in follow {
            let j = insert(
                txn,
                JobSpec {
                    name: format!("{title} {} {}", p.name, c.hostname),
                    job_type,
                    status: JobStatus::Waiting,
                    depends_on: Some(previous),
                    master: Some(backup.id),
                    launch_type: LaunchType::Dependency,
                    ..JobSpec::new(&p, c, req, t)
                },
            )
            .await?;
            previous = j.id;
            out.all.push(j.id);
        }
    }
    Ok(out)
}

/// A relaunch of one job: a backup is launched again for its client (with its catalog and prune
/// jobs); a check, catalog or prune job is run again on its own; a restore or integrity job again
/// with the same parameters (it needs no policy: its archive's may be gone).
pub async fn relaunch(eng: &Engine, old: &job::Model, user: Option<i32>) -> Result<Launched> {
    if let job_type @ (JobType::Restore | JobType::Integrity) = old.job_type {
        let (Some(client), Some(repository)) = (old.client_id, old.repository_id) else {
            return Err(Error::Conflict(
                "The client or repository of this job was deleted; it cannot be relaunched.".into(),
            ));
        };
        let id = single(
            eng,
            SingleJob {
                name: old.name.clone(),
                job_type,
                policy: old.policy_id,
                client,
                repository,
                archive_name: old.archive_name.clone(),
                params: old.extra_vars.clone(),
                user,
                launch_type: LaunchType::Relaunch,
                explanation: String::new(),
            },
        )
        .await?;
        return Ok(Launched {
            backups: vec![],
            all: vec![id],
        });
    }
    let Some(policy_id) = old.policy_id else {
        return Err(Error::Conflict(
            "The policy of this job was deleted; it cannot be relaunched.".into(),
        ));
    };
    if old.job_type == JobType::Backup {
        return launch(
            eng,
            LaunchRequest {
                policy_id,
                launch_type: LaunchType::Relaunch,
                user,
                only_client: old.client_id,
                explanation: String::new(),
            },
        )
        .await;
    }
    if !matches!(
        old.job_type,
        JobType::Check | JobType::Catalog | JobType::Prune
    ) {
        return Err(Error::Conflict(format!(
            "A {} job cannot be relaunched.",
            old.job_type
        )));
    }
    let _one_at_a_time = eng.claim.lock().await;
    let txn = sea_orm::TransactionTrait::begin(&eng.db).await?;
    if !lock_policy(&txn, policy_id).await? {
        return Err(Error::Conflict(
            "The policy of this job was deleted; it cannot be relaunched.".into(),
        ));
    }
    let t = now();
    let j = job::ActiveModel {
        uuid: Set(new_uuid()),
        name: Set(old.name.clone()),
        job_type: Set(old.job_type),
        launch_type: Set(LaunchType::Relaunch),
        status: Set(JobStatus::Pending),
        policy_id: Set(old.policy_id),
        client_id: Set(old.client_id),
        repository_id: Set(old.repository_id),
        archive_name: Set(old.archive_name.clone()),
        master_job_id: Set(old.master_job_id),
        created: Set(t),
        modified: Set(t),
        created_by: Set(user),
        modified_by: Set(user),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    announce(eng, &[j.id]).await;
    Ok(Launched {
        backups: vec![],
        all: vec![j.id],
    })
}

/// A job that runs on its own, outside a chain: a restore or an integrity check (checked by
/// `services::restore` / `services::integrity`).
pub struct SingleJob {
    pub name: String,
    pub job_type: JobType,
    pub policy: Option<i32>,
    /// Where it runs.
    pub client: i32,
    pub repository: i32,
    pub archive_name: String,
    /// The job's parameters (`jobs.extra_vars`).
    pub params: String,
    pub user: Option<i32>,
    pub launch_type: LaunchType,
    /// `job_explanation` from the start (a late scheduled run says so).
    pub explanation: String,
}

/// Makes the job, pending at once, and wakes the runner. It queues like any job: one at a time
/// per repository and per client.
pub async fn single(eng: &Engine, j: SingleJob) -> Result<i32> {
    let id = single_in(&eng.db, j).await?;
    announce(eng, &[id]).await;
    Ok(id)
}

/// Makes the job inside `db` (a transaction of the scheduler's); the caller announces it once
/// committed.
pub async fn single_in(db: &impl ConnectionTrait, j: SingleJob) -> Result<i32> {
    let t = now();
    let row = job::ActiveModel {
        uuid: Set(new_uuid()),
        name: Set(j.name),
        job_type: Set(j.job_type),
        launch_type: Set(j.launch_type),
        job_explanation: Set(j.explanation),
        status: Set(JobStatus::Pending),
        failed: Set(false),
        policy_id: Set(j.policy),
        client_id: Set(Some(j.client)),
        repository_id: Set(Some(j.repository)),
        archive_name: Set(j.archive_name),
        extra_vars: Set(j.params),
        created: Set(t),
        modified: Set(t),
        created_by: Set(j.user),
        modified_by: Set(j.user),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// Tells the watchers about new jobs and wakes the runner.
pub async fn announce(eng: &Engine, ids: &[i32]) {
    if let Ok(rows) = job::Entity::find()
        .filter(job::Column::Id.is_in(ids.iter().copied()))
        .all(&eng.db)
        .await
    {
        for j in &rows {
            eng.hub.send(JobUpdate::status_of(j));
        }
    }
    eng.wake();
}

struct JobSpec {
    name: String,
    job_type: JobType,
    status: JobStatus,
    launch_type: LaunchType,
    policy: i32,
    client: i32,
    repository: i32,
    depends_on: Option<i32>,
    master: Option<i32>,
    explanation: String,
    finished: Option<DateTime<Utc>>,
    user: Option<i32>,
    at: DateTime<Utc>,
}

impl JobSpec {
    fn new(p: &policy::Model, c: &client::Model, req: &LaunchRequest, at: DateTime<Utc>) -> Self {
        JobSpec {
            name: String::new(),
            job_type: JobType::Backup,
            status: JobStatus::Pending,
            launch_type: req.launch_type,
            policy: p.id,
            client: c.id,
            repository: p.repository_id,
            depends_on: None,
            master: None,
            explanation: String::new(),
            finished: None,
            user: req.user,
            at,
        }
    }
}

async fn insert(txn: &DatabaseTransaction, s: JobSpec) -> Result<job::Model> {
    Ok(job::ActiveModel {
        uuid: Set(new_uuid()),
        name: Set(s.name),
        job_type: Set(s.job_type),
        launch_type: Set(s.launch_type),
        status: Set(s.status),
        failed: Set(false),
        finished: Set(s.finished),
        policy_id: Set(Some(s.policy)),
        client_id: Set(Some(s.client)),
        repository_id: Set(Some(s.repository)),
        job_explanation: Set(s.explanation),
        master_job_id: Set(s.master),
        depends_on_id: Set(s.depends_on),
        created: Set(s.at),
        modified: Set(s.at),
        created_by: Set(s.user),
        modified_by: Set(s.user),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

async fn set_master(txn: &DatabaseTransaction, id: i32, master: i32) -> Result<()> {
    job::ActiveModel {
        id: Set(id),
        master_job_id: Set(Some(master)),
        ..Default::default()
    }
    .update(txn)
    .await?;
    Ok(())
}
