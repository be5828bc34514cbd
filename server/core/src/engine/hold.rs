//! Holding a repository for an operator's action (break-lock, deleting or renaming an
//! archive): taken under the claim lock only when no job of any node runs on the repository,
//! and while held no node claims a job of it (`runner::dispatch` counts a held repository as
//! busy). The hold is a time in the database, not a lock of a session: a node that dies while
//! holding one leaves nothing to clean up, the hold just runs out.
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr};

use super::{Engine, launch::JobStatus, runner};
use crate::{
    entities::{job, repository},
    error::{Error, Result},
    stamps::now,
};

/// A job of any node running on `repository`, if one is.
pub async fn running_on(
    db: &impl sea_orm::ConnectionTrait,
    repository: i32,
) -> Result<Option<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::RepositoryId.eq(repository))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .one(db)
        .await?)
}

/// The longest an operator's action holds a repository (its borg is given less).
pub const MAX_HOLD: Duration = Duration::from_secs(15 * 60);

/// A repository held by this process; [`Hold::release`] gives it back (dropping it without
/// releasing leaves it held until the hold runs out).
pub struct Hold {
    eng: Engine,
    repository: i32,
}

/// Holds `repository` for `what` (who and why, shown on the repository), or says which job
/// runs on it (409).
pub async fn take(eng: &Engine, repository: i32, what: &str) -> Result<Hold> {
    let txn = eng.db.begin().await?;
    runner::take_claim_lock(&txn)
        .await
        .map_err(Error::Internal)?;
    let t = now();
    if let Some(j) = running_on(&txn, repository).await? {
        return Err(Error::Conflict(format!(
            "Job {} ({}) is running on this repository{}; try again when it has ended.",
            j.id,
            j.name,
            if j.runner_node.is_empty() {
                String::new()
            } else {
                format!(" on node {}", j.runner_node)
            }
        )));
    }
    let r = repository::Entity::find_by_id(repository)
        .one(&txn)
        .await?
        .ok_or_else(Error::not_found)?;
    if r.held_until.is_some_and(|u| u > t) {
        return Err(Error::Conflict(format!(
            "The repository is held for {}; try again when that has ended.",
            r.held_for
        )));
    }
    let until = t + chrono::Duration::from_std(MAX_HOLD).expect("a short duration");
    repository::Entity::update_many()
        .col_expr(repository::Column::HeldUntil, Expr::value(until))
        .col_expr(repository::Column::HeldFor, Expr::value(what))
        .filter(repository::Column::Id.eq(repository))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Hold {
        eng: eng.clone(),
        repository,
    })
}

/// Runs `work` while `repository` is held (see [`take`]), in a task of its own: a request that
/// goes away half-way (the HTTP client disconnects) does not stop it between borg's change and
/// the record's, nor leave the hold to run out; the hold is released when `work` ends.
pub async fn while_held<T, F>(eng: &Engine, repository: i32, what: &str, work: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let held = take(eng, repository, what).await?;
    tokio::spawn(async move {
        let r = work.await;
        held.release().await;
        r
    })
    .await
    .map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "the action on the held repository failed: {e}"
        ))
    })?
}

impl Hold {
    /// Gives the repository back and wakes the runner for the jobs that waited on it.
    pub async fn release(self) {
        let r = repository::Entity::update_many()
            .col_expr(
                repository::Column::HeldUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(repository::Column::HeldFor, Expr::value(""))
            .filter(repository::Column::Id.eq(self.repository))
            .exec(&self.eng.db)
            .await;
        if let Err(e) = r {
            tracing::warn!(
                "releasing the hold on repository {} (it runs out by itself): {e}",
                self.repository
            );
        }
        self.eng.wake.notify_one();
    }
}
