//! The health monitor: evaluates the alert rules every `EVERY` and whenever a job ends, wakes
//! the notification sender when an alert changed, and once a day deletes the logs of jobs that
//! ended before the `job_log_retention_days` setting (the job rows and their summaries stay).
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Engine;
use crate::{
    entities::{job, job_event},
    services::alerts,
};

/// How often the rules are evaluated without a job ending: "late" comes with time alone.
const EVERY: Duration = Duration::from_secs(10);
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Jobs whose logs one transaction deletes: each batch is short, so a first run over years of
/// logs never holds the database for long.
const LOG_BATCH: u64 = 200;

pub async fn run(eng: Engine) {
    let mut housekeeping_due = Instant::now() + Duration::from_secs(60);
    loop {
        match alerts::evaluate(&eng.db, Utc::now()).await {
            Ok(c) if c.raised + c.resolved > 0 => eng.notify_wake.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!("health monitor: {e:#}"),
        }
        if Instant::now() >= housekeeping_due {
            housekeeping_due = Instant::now() + HOUSEKEEPING_EVERY;
            match prune_job_logs(&eng.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("housekeeping: deleted {n} log lines of old jobs"),
                Err(e) => tracing::warn!("housekeeping: {e:#}"),
            }
        }
        tokio::select! {
            _ = eng.monitor_wake.notified() => {}
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes the log lines of jobs that finished before the retention window, a batch of jobs per
/// statement; answers how many lines went.
pub async fn prune_job_logs(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let days = crate::settings::load(db).await?.job_log_retention_days;
    let cutoff = Utc::now() - TimeDelta::days(i64::from(days));
    let mut lines = 0;
    let mut after = 0;
    loop {
        let ids: Vec<i32> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::Finished.lt(cutoff))
            .filter(job::Column::Id.gt(after))
            .order_by_asc(job::Column::Id)
            .limit(LOG_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let Some(&last) = ids.last() else {
            return Ok(lines);
        };
        after = last;
        lines += job_event::Entity::delete_many()
            .filter(job_event::Column::JobId.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
    }
}
