//! The scheduler: launches every enabled policy whose `next_run` has come, and the
//! integrity check of every enabled repository whose `integrity_next_run` has come, with
//! launch_type `scheduled`, exactly once per run however many server processes share the
//! database.
//!
//! Exactly once: a run is taken by moving the policy's `next_run` forward with a compare-and-set
//! (`UPDATE … SET next_run = new WHERE id = ? AND next_run = old`) as the first statement of the
//! transaction that also creates the jobs. On PostgreSQL the row is locked with `FOR UPDATE
//! SKIP LOCKED` first: a second process skips a run another one is launching (and finds
//! `next_run` moved once that commits); on SQLite the write lock serialises the same way. The jobs and the new `next_run` commit together, so a crash cannot lose the run
//! nor launch it twice.
//!
//! Missed runs: when the server was down at run times, the policy is launched once when it comes
//! back (not once per missed time), and the job explanation says which runs were missed.
use chrono::{DateTime, SecondsFormat, Utc};
use cyborg_dto::JobStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Statement, TransactionTrait,
};

use super::{
    Engine,
    launch::{self, LaunchRequest, LaunchType},
    plans,
};
use crate::{
    crontab::Crontab,
    entities::{job, policy, repository, schedule},
    error::Error,
    stamps::now,
};

/// A run launched later than this after its time says so in its explanation.
const LATE_SECONDS: i64 = 60;

pub async fn run(eng: Engine) {
    loop {
        if let Err(e) = tick(&eng).await {
            tracing::warn!("scheduler: {e:#}");
        }
        tokio::time::sleep(super::POLL).await;
    }
}

async fn tick(eng: &Engine) -> anyhow::Result<()> {
    let t = now();
    let due = policy::Entity::find()
        .filter(policy::Column::Enabled.eq(true))
        .filter(policy::Column::NextRun.lte(t))
        .all(&eng.db)
        .await?;
    for p in due {
        if let Err(e) = take_run(eng, &p, t).await {
            tracing::warn!("scheduler: policy {} ({}): {e:#}", p.id, p.name);
        }
    }
    let due_checks = repository::Entity::find()
        .filter(repository::Column::Enabled.eq(true))
        .filter(repository::Column::IntegrityNextRun.lte(t))
        .all(&eng.db)
        .await?;
    for r in due_checks {
        if let Err(e) = take_integrity_run(eng, &r, t).await {
            tracing::warn!(
                "scheduler: integrity check of repository {} ({}): {e:#}",
                r.id,
                r.name
            );
        }
    }
    Ok(())
}

/// The crontab of `sched` when it still runs, the run after `t`, and the runs missed between
/// `due` and `t`.
fn runs_after(
    sched: Option<&schedule::Model>,
    due: DateTime<Utc>,
    t: DateTime<Utc>,
) -> (Option<Crontab>, Option<DateTime<Utc>>, Vec<DateTime<Utc>>) {
    let crontab = sched
        .filter(|s| s.enabled)
        .and_then(|s| Crontab::parse(&s.crontab).ok());
    let next = crontab.as_ref().and_then(|c| c.next_after(t));
    let missed: Vec<DateTime<Utc>> = crontab
        .as_ref()
        .map(|c| c.runs_between(due + chrono::Duration::seconds(1), t))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| *r > due && *r <= t)
        .collect();
    (crontab, next, missed)
}

/// Takes the run due at `due` of row `id` of `table` by moving its `column` to `next`, unless
/// another process did (the compare-and-set of the module comment). Answers whether it was ours.
async fn advance(
    txn: &DatabaseTransaction,
    table: &str,
    column: &str,
    id: i32,
    due: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
) -> anyhow::Result<bool> {
    let backend = txn.get_database_backend();
    // Table and column are this module's constants, never input. On PostgreSQL a row another
    // node's scheduler holds (it is launching that run) is skipped rather than waited for:
    // each node goes on with the next due policy, so several nodes launch side by side
    // instead of in one file behind the same row locks. Its transaction either launches the
    // run or, rolled back, leaves it due for the next tick.
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => format!(
            "UPDATE {table} SET {column} = $1 WHERE id = (SELECT id FROM {table} \
             WHERE id = $2 AND {column} = $3 FOR UPDATE SKIP LOCKED)"
        ),
        _ => format!("UPDATE {table} SET {column} = ? WHERE id = ? AND {column} = ?"),
    };
    Ok(txn
        .execute(Statement::from_sql_and_values(
            backend,
            sql,
            [next.into(), id.into(), due.into()],
        ))
        .await?
        .rows_affected()
        == 1)
}

/// Takes the integrity check of `r` due at its `integrity_next_run` and launches it (sample of
/// the newest archive, as a manual check without options). A check of the repository still
/// queued or running consumes the run instead of stacking another.
async fn take_integrity_run(
    eng: &Engine,
    r: &repository::Model,
    t: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(due) = r.integrity_next_run else {
        return Ok(());
    };
    let sched = match r.integrity_schedule_id {
        Some(id) => schedule::Entity::find_by_id(id).one(&eng.db).await?,
        None => None,
    };
    let (crontab, next, missed) = runs_after(sched.as_ref(), due, t);
    let _one_at_a_time = eng.claim.lock().await;
    let txn = eng.db.begin().await?;
    if !advance(&txn, "repositories", "integrity_next_run", r.id, due, next).await? {
        return Ok(());
    }
    let active = job::Entity::find()
        .filter(job::Column::RepositoryId.eq(r.id))
        .filter(job::Column::JobType.eq(cyborg_dto::JobType::Integrity))
        .filter(job::Column::Status.is_in([
            JobStatus::Pending,
            JobStatus::Waiting,
            JobStatus::Running,
        ]))
        .count(&txn)
        .await?;
    if crontab.is_none() || active > 0 {
        txn.commit().await?;
        if active > 0 {
            tracing::warn!(
                "scheduler: integrity check of repository {} ({}) skipped: the previous one is \
                 still queued or running",
                r.id,
                r.name
            );
        }
        return Ok(());
    }
    let params = plans::IntegrityParams {
        sample: plans::DEFAULT_SAMPLE,
        verify_data: false,
    };
    match plans::plan(&txn, r, None, params, None, LaunchType::Scheduled).await {
        Ok(mut j) => {
            j.explanation = explain(due, t, &missed);
            let id = launch::single_in(&txn, j).await?;
            txn.commit().await?;
            drop(_one_at_a_time);
            tracing::info!(
                "scheduler: integrity check of repository {} ({}): job {id}",
                r.id,
                r.name
            );
            launch::announce(eng, &[id]).await;
        }
        // No client reaches the repository yet: consumed, said in the log.
        Err(Error::Conflict(why)) => {
            txn.commit().await?;
            tracing::warn!(
                "scheduler: integrity check of repository {} ({}) not launched: {why}",
                r.id,
                r.name
            );
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    Ok(())
}

/// Takes the run due at `p.next_run` (unless another process did) and launches it.
async fn take_run(eng: &Engine, p: &policy::Model, t: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(due) = p.next_run else {
        return Ok(());
    };
    let sched = schedule::Entity::find_by_id(p.schedule_id)
        .one(&eng.db)
        .await?;
    let (crontab, next, missed) = runs_after(sched.as_ref(), due, t);
    let _one_at_a_time = eng.claim.lock().await;
    let txn = eng.db.begin().await?;
    if !advance(&txn, "policies", "next_run", p.id, due, next).await? {
        // Another process launched this run.
        return Ok(());
    }
    if crontab.is_none() {
        // The schedule was disabled or deleted meanwhile: nothing to run, next_run now null.
        txn.commit().await?;
        return Ok(());
    }
    let explanation = explain(due, t, &missed);
    let req = LaunchRequest {
        policy_id: p.id,
        launch_type: LaunchType::Scheduled,
        user: None,
        only_client: None,
        explanation,
    };
    match launch::launch_in(&txn, &req).await {
        Ok(launched) => {
            txn.commit().await?;
            drop(_one_at_a_time);
            eng.metrics
                .scheduler_lag((t - due).num_milliseconds() as f64 / 1000.0);
            tracing::info!(
                "scheduler: launched policy {} ({}), run of {}: jobs {:?}",
                p.id,
                p.name,
                due.to_rfc3339_opts(SecondsFormat::Secs, true),
                launched.all
            );
            launch::announce(eng, &launched.all).await;
        }
        // Nothing to launch (no enabled client, repository disabled): the run is consumed
        // all the same, so it is not retried every tick; the reason goes to the log.
        Err(Error::Conflict(why)) => {
            txn.commit().await?;
            tracing::warn!(
                "scheduler: policy {} ({}) not launched: {why}",
                p.id,
                p.name
            );
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    Ok(())
}

/// The explanation of a late run: how late, and the run times missed in between.
fn explain(due: DateTime<Utc>, t: DateTime<Utc>, missed: &[DateTime<Utc>]) -> String {
    let fmt = |d: &DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    if missed.is_empty() && (t - due).num_seconds() <= LATE_SECONDS {
        return String::new();
    }
    let mut s = format!(
        "Scheduled for {}, launched at {} ({} s late: the server was not running).",
        fmt(&due),
        fmt(&t),
        (t - due).num_seconds()
    );
    if !missed.is_empty() {
        s.push_str(&format!(
            " {} later scheduled run(s) were missed ({} … {}) and are covered by this one run.",
            missed.len(),
            fmt(&missed[0]),
            fmt(&missed[missed.len() - 1])
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn explanations() {
        let due = Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap();
        assert_eq!(explain(due, due + chrono::Duration::seconds(3), &[]), "");
        let late = explain(due, due + chrono::Duration::minutes(10), &[]);
        assert!(late.contains("600 s late"), "{late}");
        let missed = [
            due + chrono::Duration::hours(1),
            due + chrono::Duration::hours(2),
        ];
        let m = explain(due, due + chrono::Duration::hours(2), &missed);
        assert!(m.contains("2 later scheduled run(s) were missed"), "{m}");
        assert!(
            m.contains("2026-11-27T06:00:00Z … 2026-11-27T07:00:00Z"),
            "{m}"
        );
    }
}
