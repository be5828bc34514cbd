//! Running jobs: claim `pending` jobs while respecting "one borg per repository, one job per
//! client" across every process on the database, run each in its own task, write how it ended,
//! release or cancel the jobs that wait on it, and carry out cancels.
use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, Statement, TransactionTrait, sea_query::Expr,
};
use tokio::sync::watch;

use super::{
    Engine,
    exec::{JobRun, Outcome},
    launch::JobStatus,
    log::{JobLog, JobUpdate},
};
use crate::{
    entities::{job, repository},
    error::{Error, Result},
    stamps::now,
};

/// A constant key for PostgreSQL's advisory lock around claims ("CYBG").
const CLAIM_LOCK: i64 = 0x4359_4247;

/// Takes the lock every claim holds, as the transaction's first statement: an advisory lock on
/// PostgreSQL, the database write lock on SQLite (a write, even of no row, takes it). Whoever
/// holds it sees every running job and may start or hold one (see `hold`).
pub(crate) async fn take_claim_lock(txn: &DatabaseTransaction) -> anyhow::Result<()> {
    let backend = txn.get_database_backend();
    let lock = match backend {
        DatabaseBackend::Postgres => format!("SELECT pg_advisory_xact_lock({CLAIM_LOCK})"),
        _ => "UPDATE jobs SET id = id WHERE 0 = 1".to_string(),
    };
    txn.execute(Statement::from_string(backend, lock)).await?;
    Ok(())
}

/// The runner loop: claim and start what can run, whenever woken and at least every `POLL`.
pub async fn run(eng: Engine) {
    loop {
        if let Err(e) = dispatch(&eng).await {
            tracing::warn!("job runner: {e:#}");
        }
        if let Err(e) = poll_cancel_requests(&eng).await {
            tracing::warn!("job runner, cancel requests: {e:#}");
        }
        tokio::select! {
            _ = eng.wake.notified() => {}
            _ = tokio::time::sleep(super::POLL) => {}
        }
    }
}

/// Claims pending jobs whose repository and client are free, oldest first, up to this node's
/// capacity and only of repositories whose `node_labels` this node has, and starts them.
///
/// One claim at a time across the cluster (a transaction-scoped advisory lock): "no second borg
/// on a repository, no second job on a client" is a rule over every running job, which row locks
/// on the claimed rows (`FOR UPDATE SKIP LOCKED`) cannot enforce. The transaction is short (two
/// reads and the claims); `benches/cluster_claims.rs` measures how many claims a second it
/// allows.
async fn dispatch(eng: &Engine) -> anyhow::Result<()> {
    let Some(node) = eng.node_id().map(str::to_string) else {
        return Ok(());
    };
    let Some(me) = eng.membership().cloned() else {
        return Ok(());
    };
    if eng.is_draining() {
        return Ok(());
    }
    let free = me.capacity.saturating_sub(eng.running_here());
    if free == 0 {
        return Ok(());
    }
    let claimed = {
        let _here = eng.claim.lock().await;
        let txn = eng.db.begin().await?;
        take_claim_lock(&txn).await?;
        let t = now();
        let running = job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Running))
            .all(&txn)
            .await?;
        let mut repos: HashSet<i32> = running.iter().filter_map(|j| j.repository_id).collect();
        let mut clients: HashSet<i32> = running.iter().filter_map(|j| j.client_id).collect();
        let pending = job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Pending))
            .order_by_asc(job::Column::Id)
            .all(&txn)
            .await?;
        // Repositories only some nodes may serve, and those an operator's action holds (few;
        // most have neither).
        let mut labelled = std::collections::HashMap::new();
        for r in repository::Entity::find()
            .filter(
                Condition::any()
                    .add(repository::Column::NodeLabels.ne(""))
                    .add(repository::Column::HeldUntil.gt(t)),
            )
            .all(&txn)
            .await?
        {
            if r.held_until.is_some_and(|u| u > t) {
                repos.insert(r.id);
            }
            labelled.insert(r.id, r.node_labels);
        }
        let mut claimed = Vec::new();
        for j in pending {
            if claimed.len() >= free {
                break;
            }
            if j.repository_id.is_some_and(|r| repos.contains(&r))
                || j.client_id.is_some_and(|c| clients.contains(&c))
                || j.repository_id
                    .and_then(|r| labelled.get(&r))
                    .is_some_and(|wanted| !me.serves(wanted))
            {
                continue;
            }
            let r = job::Entity::update_many()
                .col_expr(job::Column::Status, Expr::value(JobStatus::Running))
                .col_expr(job::Column::Started, Expr::value(t))
                .col_expr(job::Column::Modified, Expr::value(t))
                .col_expr(job::Column::RunnerNode, Expr::value(node.clone()))
                .col_expr(job::Column::CancelRequested, Expr::value(false))
                .filter(job::Column::Id.eq(j.id))
                .filter(job::Column::Status.eq(JobStatus::Pending))
                .exec(&txn)
                .await?;
            if r.rows_affected == 1 {
                repos.extend(j.repository_id);
                clients.extend(j.client_id);
                claimed.push(job::Model {
                    status: JobStatus::Running,
                    started: Some(t),
                    modified: t,
                    runner_node: node.clone(),
                    ..j
                });
            }
        }
        txn.commit().await?;
        claimed
    };
    for j in claimed {
        eng.hub.send(JobUpdate::status_of(&j));
        let (tx, rx) = watch::channel(false);
        eng.running
            .lock()
            .expect("running map lock")
            .insert(j.id, tx);
        tokio::spawn(execute(eng.clone(), j, rx));
    }
    Ok(())
}

async fn execute(eng: Engine, j: job::Model, cancel: watch::Receiver<bool>) {
    let id = j.id;
    if eng.instant_jobs.load(std::sync::atomic::Ordering::Relaxed) {
        let outcome = Outcome::Successful(String::new());
        if let Err(e) = finish(&eng, id, &j.runner_node, outcome, None).await {
            tracing::error!("job {id}: recording its end: {e:#}");
        }
        eng.running.lock().expect("running map lock").remove(&id);
        eng.wake();
        return;
    }
    let log = match JobLog::open(&eng.db, &eng.hub, id).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("job {id}: opening its log: {e:#}");
            let _ = finish(
                &eng,
                id,
                &j.runner_node,
                Outcome::Error(format!("opening the log: {e:#}")),
                None,
            )
            .await;
            return;
        }
    };
    let runner = j.runner_node.clone();
    let run = JobRun {
        eng: eng.clone(),
        job: j,
        log,
        cancel,
    };
    let limit = time_limit(&eng, run.job.policy_id).await;
    // A panic inside the job must not leave it `running` forever.
    let mut task = tokio::spawn(run.execute());
    let (outcome, over_time) = tokio::select! {
        r = &mut task => (r, false),
        _ = tokio::time::sleep(limit) => {
            // Stopped like a cancel (the remote borg too), then recorded as an error that says why.
            if let Some(tx) = eng.running.lock().expect("running map lock").get(&id) {
                let _ = tx.send(true);
            }
            (task.await, true)
        }
    };
    let (outcome, log) = match outcome {
        Ok((_, log)) if over_time => (
            Outcome::Error(format!(
                "Canceled: the job ran longer than its time limit of {:.1} hours (the policy's \
                 time_limit_hours, 24 when not set).",
                limit.as_secs_f64() / 3600.0
            )),
            Some(log),
        ),
        Ok((o, log)) => (o, Some(log)),
        Err(e) => (Outcome::Error(format!("the job task failed: {e}")), None),
    };
    if let Err(e) = finish(&eng, id, &runner, outcome, log).await {
        tracing::error!("job {id}: recording its end: {e:#}");
    }
    eng.running.lock().expect("running map lock").remove(&id);
    eng.wake();
}

/// How long a job of `policy` may run: its `time_limit_hours`, 24 hours when not set. Jobs of no
/// policy (restores, integrity checks of a whole repository) have no limit.
async fn time_limit(eng: &Engine, policy: Option<i32>) -> std::time::Duration {
    const DEFAULT_HOURS: f64 = 24.0;
    let Some(id) = policy else {
        return std::time::Duration::MAX;
    };
    let hours = crate::entities::policy::Entity::find_by_id(id)
        .one(&eng.db)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.time_limit_hours)
        .unwrap_or(DEFAULT_HOURS);
    std::time::Duration::from_secs_f64(hours.clamp(0.0, 8760.0) * 3600.0)
}

/// Writes how a job ended, releases (success) or cancels (otherwise) the jobs waiting on it —
/// only while it is still `running` on `runner`: a node that was taken over (it stalled longer
/// than the lease) must not overwrite what the node that took its jobs over recorded.
pub async fn finish(
    eng: &Engine,
    id: i32,
    runner: &str,
    outcome: Outcome,
    log: Option<JobLog>,
) -> anyhow::Result<()> {
    let (status, explanation) = match outcome {
        Outcome::Successful(t) => (JobStatus::Successful, t),
        Outcome::Failed(t) => (JobStatus::Failed, t),
        Outcome::Error(t) => (JobStatus::Error, t),
        Outcome::Canceled => (JobStatus::Canceled, "Canceled by a user.".to_string()),
    };
    // The explanation passes the same redaction as the log's lines: it is shown wherever the
    // job is, to every user.
    let explanation = match &log {
        Some(l) => l.redact(&explanation),
        None => explanation,
    };
    if let Some(mut log) = log {
        if status != JobStatus::Successful {
            log.line(format!("{status}: {explanation}"));
        } else if !explanation.is_empty() {
            log.line(explanation.clone());
        }
        log.flush().await?;
    }
    let Some(j) = job::Entity::find_by_id(id).one(&eng.db).await? else {
        return Ok(());
    };
    let t = now();
    let elapsed = j
        .started
        .map(|s| (t - s).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0);
    let explanation = append_explanation(&j.job_explanation, &explanation);
    let fenced = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status))
        .col_expr(
            job::Column::Failed,
            Expr::value(status != JobStatus::Successful),
        )
        .col_expr(job::Column::Finished, Expr::value(Some(t)))
        .col_expr(job::Column::Elapsed, Expr::value(elapsed))
        .col_expr(job::Column::JobExplanation, Expr::value(explanation))
        .col_expr(job::Column::LocalPid, Expr::value(None::<i32>))
        .col_expr(job::Column::RemotePid, Expr::value(None::<i32>))
        .col_expr(job::Column::CancelRequested, Expr::value(false))
        .col_expr(job::Column::Modified, Expr::value(t))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .filter(job::Column::RunnerNode.eq(runner))
        .exec(&eng.db)
        .await?;
    if fenced.rows_affected == 0 {
        tracing::warn!(
            "job {id}: not recording its end ({status}): it is no longer running on node \
             {runner} (another node took it over)"
        );
        return Ok(());
    }
    let Some(updated) = job::Entity::find_by_id(id).one(&eng.db).await? else {
        return Ok(());
    };
    eng.hub.send(JobUpdate::status_of(&updated));
    eng.metrics.job_finished(updated.job_type, status, elapsed);
    eng.monitor_wake.notify_one();
    if status == JobStatus::Successful {
        release_dependents(eng, id).await?;
    } else {
        cancel_dependents(eng, id, &format!("job {id} it depends on ended {status}")).await?;
    }
    Ok(())
}

/// What a job already says (a late scheduled run…) stays; the new text follows it.
fn append_explanation(existing: &str, new: &str) -> String {
    match (existing.is_empty(), new.is_empty()) {
        (true, _) => new.to_string(),
        (false, true) => existing.to_string(),
        (false, false) => format!("{existing} {new}"),
    }
}

async fn release_dependents(eng: &Engine, id: i32) -> anyhow::Result<()> {
    let waiting = job::Entity::find()
        .filter(job::Column::DependsOnId.eq(id))
        .filter(job::Column::Status.eq(JobStatus::Waiting))
        .all(&eng.db)
        .await?;
    for j in waiting {
        let t = now();
        let r = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Pending))
            .col_expr(job::Column::Modified, Expr::value(t))
            .filter(job::Column::Id.eq(j.id))
            .filter(job::Column::Status.eq(JobStatus::Waiting))
            .exec(&eng.db)
            .await?;
        if r.rows_affected == 1 {
            eng.hub.send(JobUpdate::status_of(&job::Model {
                status: JobStatus::Pending,
                modified: t,
                ..j
            }));
        }
    }
    Ok(())
}

/// Cancels, transitively, the queued jobs that wait on `id`.
pub async fn cancel_dependents(eng: &Engine, id: i32, why: &str) -> anyhow::Result<()> {
    let mut frontier = vec![id];
    while let Some(parent) = frontier.pop() {
        let waiting = job::Entity::find()
            .filter(job::Column::DependsOnId.eq(parent))
            .filter(job::Column::Status.is_in(JobStatus::queued()))
            .all(&eng.db)
            .await?;
        for j in waiting {
            if let Some(m) = mark_canceled(eng, &j, &format!("Not run: {why}.")).await? {
                eng.hub.send(JobUpdate::status_of(&m));
            }
            frontier.push(j.id);
        }
    }
    Ok(())
}

/// Marks a queued job canceled (if it still is queued); answers it after the change.
async fn mark_canceled(
    eng: &Engine,
    j: &job::Model,
    why: &str,
) -> anyhow::Result<Option<job::Model>> {
    let t = now();
    let why = append_explanation(&j.job_explanation, why);
    let why = why.as_str();
    let r = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Canceled))
        .col_expr(job::Column::Failed, Expr::value(true))
        .col_expr(job::Column::Finished, Expr::value(t))
        .col_expr(job::Column::JobExplanation, Expr::value(why))
        .col_expr(job::Column::Modified, Expr::value(t))
        .filter(job::Column::Id.eq(j.id))
        .filter(job::Column::Status.is_in(JobStatus::queued()))
        .exec(&eng.db)
        .await?;
    Ok((r.rows_affected == 1).then(|| job::Model {
        status: JobStatus::Canceled,
        failed: true,
        finished: Some(t),
        job_explanation: why.into(),
        modified: t,
        ..j.clone()
    }))
}

/// Cancel: 409 when the job is over; a queued job is canceled at once (with what waits
/// on it); a running one is stopped by the process that runs it — this one, or another through
/// `cancel_requested`.
pub async fn cancel(eng: &Engine, id: i32) -> Result<job::Model> {
    let j = job::Entity::find_by_id(id)
        .one(&eng.db)
        .await?
        .ok_or_else(Error::not_found)?;
    if j.status.is_finished() {
        return Err(Error::Conflict(format!(
            "The job is already {}; only a queued or running job can be canceled.",
            j.status
        )));
    }
    if j.status.is_queued()
        && let Some(m) = mark_canceled(eng, &j, "Canceled by a user before it ran.").await?
    {
        eng.hub.send(JobUpdate::status_of(&m));
        cancel_dependents(eng, id, &format!("job {id} it depends on was canceled")).await?;
        return Ok(m);
    }
    // Running (or it started meanwhile): its runner stops it.
    let here = eng
        .running
        .lock()
        .expect("running map lock")
        .get(&id)
        .map(|tx| tx.send(true).is_ok())
        .unwrap_or(false);
    if !here {
        job::Entity::update_many()
            .col_expr(job::Column::CancelRequested, Expr::value(true))
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(JobStatus::Running))
            .exec(&eng.db)
            .await?;
    }
    job::Entity::find_by_id(id)
        .one(&eng.db)
        .await?
        .ok_or_else(Error::not_found)
}

/// Carries out cancels requested through the database for jobs this process runs.
async fn poll_cancel_requests(eng: &Engine) -> anyhow::Result<()> {
    let Some(node) = eng.node_id() else {
        return Ok(());
    };
    let requested: Vec<i32> = job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Running))
        .filter(job::Column::CancelRequested.eq(true))
        .filter(job::Column::RunnerNode.eq(node))
        .all(&eng.db)
        .await?
        .into_iter()
        .map(|j| j.id)
        .collect();
    let running = eng.running.lock().expect("running map lock");
    for id in requested {
        if let Some(tx) = running.get(&id) {
            let _ = tx.send(true);
        }
    }
    Ok(())
}
