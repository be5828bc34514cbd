//! The nodes of one database: each process that runs jobs registers in `nodes`, writes a
//! heartbeat every few seconds and, at the same time, looks for nodes whose heartbeat is older
//! than the lease. Exactly one live node takes a dead node over (a compare-and-set on its row:
//! state `alive` and the very heartbeat it saw), stops the remote borg of each job it had
//! running and marks the job `error` (`recovery::take_over`); its queued jobs were never bound
//! to it and are claimed by the others.
//!
//! Times are the database's (PostgreSQL's `now()`): nodes on several machines compare
//! heartbeats by one clock. SQLite has one node, and this process's clock.
use std::time::Duration;

use chrono::{DateTime, Utc};
use cyborg_dto::JobStatus;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Statement, TransactionTrait, sea_query::Expr,
};

use super::{Engine, recovery};
use crate::{
    config::NodeConfig,
    entities::{job, node},
};

pub const ALIVE: &str = "alive";
/// Stopping: claims nothing, lets its jobs end (SIGTERM), still beats.
pub const DRAINING: &str = "draining";
/// Stopped cleanly with no job left running.
pub const STOPPED: &str = "stopped";
/// Stopped answering; `taken_over_by` recovered its jobs.
pub const DEAD: &str = "dead";

/// A takeover still unfinished after this long is taken again by another node.
const RETAKE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// What this node was started with (`CYBORG_MAX_JOBS`, `CYBORG_NODE_LABELS`, lease…).
#[derive(Debug, Clone)]
pub struct Membership {
    pub capacity: usize,
    pub labels: Vec<String>,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub drain: Duration,
}

impl From<&NodeConfig> for Membership {
    fn from(c: &NodeConfig) -> Self {
        Membership {
            capacity: c.capacity(),
            labels: c.labels(),
            lease: Duration::from_secs(c.lease_seconds.max(2)),
            // At least three beats a lease: one late beat never looks like a death.
            heartbeat: Duration::from_secs(c.heartbeat_seconds.min(c.lease_seconds.max(2) / 3))
                .max(Duration::from_secs(1)),
            drain: Duration::from_secs(c.drain_seconds),
        }
    }
}

impl Membership {
    /// Whether this node may run the jobs of a repository with these `node_labels`.
    pub fn serves(&self, node_labels: &str) -> bool {
        let mut wanted = node_labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .peekable();
        wanted.peek().is_none() || wanted.any(|w| self.labels.iter().any(|l| l == w))
    }
}

/// The database's clock.
pub async fn db_now(db: &impl ConnectionTrait) -> anyhow::Result<DateTime<Utc>> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let row = db
            .query_one(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT now()",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("SELECT now() answered no row"))?;
        Ok(row.try_get_by_index::<DateTime<Utc>>(0)?)
    } else {
        Ok(crate::stamps::now())
    }
}

/// Registers a new life of this node. Answers whether it should recover the jobs its previous
/// life left `running`: not when another node took it over meanwhile (that node does).
pub async fn register(eng: &Engine, me: &Membership) -> anyhow::Result<bool> {
    let id = eng.node_id().unwrap_or_default().to_string();
    let txn = eng.db.begin().await?;
    let mut find = node::Entity::find_by_id(id.clone());
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Serialises with a takeover's compare-and-set on the same row.
        find = find.lock_exclusive();
    } else {
        // SQLite: the write lock first, so the read below never has to upgrade (which fails
        // with SQLITE_BUSY_SNAPSHOT when another connection wrote meanwhile).
        txn.execute_unprepared("UPDATE nodes SET id = id WHERE 0 = 1")
            .await?;
    }
    let previous = find.one(&txn).await?;
    let now = db_now(&txn).await?;
    // Taken over: the node that did it recovers those jobs — unless it has not finished long
    // after (it died too), when no one else would.
    let recover_own = previous
        .as_ref()
        .is_none_or(|p| p.state != DEAD || p.taken_over.is_none_or(|at| at < now - RETAKE));
    let row = node::ActiveModel {
        id: Set(id),
        hostname: Set(crate::ssh_keys::hostname()),
        version: Set(env!("CARGO_PKG_VERSION").to_string()),
        started: Set(now),
        heartbeat: Set(now),
        capacity: Set(i32::try_from(me.capacity).unwrap_or(i32::MAX)),
        labels: Set(me.labels.join(",")),
        state: Set(ALIVE.to_string()),
        taken_over_by: Set(None),
        taken_over: Set(None),
    };
    if previous.is_some() {
        row.update(&txn).await?;
    } else {
        row.insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(recover_own)
}

/// Beats and watches the other nodes until the process ends.
pub async fn run(eng: Engine, me: Membership) {
    loop {
        tokio::time::sleep(me.heartbeat).await;
        if let Err(e) = beat(&eng, &me).await {
            tracing::warn!("node heartbeat: {e:#}");
        }
    }
}

async fn beat(eng: &Engine, me: &Membership) -> anyhow::Result<()> {
    let id = eng.node_id().unwrap_or_default().to_string();
    let now = db_now(&eng.db).await?;
    let state = if eng.is_draining() { DRAINING } else { ALIVE };
    let r = node::Entity::update_many()
        .col_expr(node::Column::Heartbeat, Expr::value(now))
        .col_expr(node::Column::State, Expr::value(state))
        .filter(node::Column::Id.eq(&id))
        .filter(node::Column::State.is_in([ALIVE, DRAINING]))
        .exec(&eng.db)
        .await?;
    if r.rows_affected == 0 {
        // Another node found this one silent for longer than the lease (a stalled process, a
        // lost database connection) and took its jobs over: they are stopped and recorded
        // there; what still runs here must stop too, then this node starts a new life.
        tracing::error!(
            "node {id}: another node took this node's jobs over (no heartbeat within the \
             lease); stopping what still runs here"
        );
        eng.stop_all_local();
        register(eng, me).await?;
    }
    let cutoff = now - chrono::TimeDelta::from_std(me.lease)?;
    let mut silent = node::Entity::find()
        .filter(node::Column::State.is_in([ALIVE, DRAINING]))
        .filter(node::Column::Id.ne(&id))
        .filter(node::Column::Heartbeat.lt(cutoff))
        .all(&eng.db)
        .await?;
    // A takeover that never finished (the node taking over died or failed half-way) is taken
    // again once it is older than `RETAKE`, if the dead node still has jobs marked running.
    let stalled = node::Entity::find()
        .filter(node::Column::State.eq(DEAD))
        .filter(node::Column::Id.ne(&id))
        .filter(node::Column::TakenOver.lt(now - RETAKE))
        .all(&eng.db)
        .await?;
    for n in stalled {
        let left = job::Entity::find()
            .filter(job::Column::Status.eq(JobStatus::Running))
            .filter(job::Column::RunnerNode.eq(&n.id))
            .count(&eng.db)
            .await?;
        if left > 0 {
            silent.push(n);
        }
    }
    for n in silent {
        if let Some(jobs) = claim_dead(eng, &id, &n, now).await? {
            tracing::warn!(
                "node {}: no heartbeat since {}; taking over its {} running job(s)",
                n.id,
                n.heartbeat,
                jobs.len()
            );
            // In a task of its own: stopping a borg may take half a minute, and this node must
            // go on beating meanwhile or it would look dead in turn.
            let eng = eng.clone();
            tokio::spawn(async move {
                if let Err(e) = recovery::take_over(&eng, &n, jobs).await {
                    tracing::error!("taking node {} over: {e:#}", n.id);
                }
                eng.wake();
            });
        }
    }
    Ok(())
}

/// Marks `dead` dead, unless another node did first or it beat meanwhile; answers the jobs it
/// had running, read in the same transaction (a restarted life's new jobs are not among them).
async fn claim_dead(
    eng: &Engine,
    me: &str,
    dead: &node::Model,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Vec<job::Model>>> {
    let txn = eng.db.begin().await?;
    let mut take = node::Entity::update_many()
        .col_expr(node::Column::State, Expr::value(DEAD))
        .col_expr(node::Column::TakenOverBy, Expr::value(me))
        .col_expr(node::Column::TakenOver, Expr::value(now))
        .filter(node::Column::Id.eq(&dead.id));
    // Compare-and-set on what this node saw: the heartbeat of a silent node, or the time of
    // the stalled takeover of a dead one.
    take = match (dead.state.as_str(), dead.taken_over) {
        (DEAD, Some(at)) => take
            .filter(node::Column::State.eq(DEAD))
            .filter(node::Column::TakenOver.eq(at)),
        _ => take
            .filter(node::Column::State.is_in([ALIVE, DRAINING]))
            .filter(node::Column::Heartbeat.eq(dead.heartbeat)),
    };
    let r = take.exec(&txn).await?;
    if r.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let jobs = job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Running))
        .filter(job::Column::RunnerNode.eq(&dead.id))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(jobs))
}

/// After SIGTERM: claims nothing more, waits up to the drain time for the running jobs, then
/// records the node `stopped` when none is left (else it stays as it is, and the others take
/// the jobs left over once its heartbeat is older than the lease).
pub async fn drain(eng: &Engine, me: &Membership) {
    eng.set_draining();
    let deadline = tokio::time::Instant::now() + me.drain;
    let mut said = false;
    while eng.running_here() > 0 && tokio::time::Instant::now() < deadline {
        if !said {
            tracing::info!(
                "stopping: waiting up to {} s for {} running job(s)",
                me.drain.as_secs(),
                eng.running_here()
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left = eng.running_here();
    if left > 0 {
        tracing::warn!(
            "stopping with {left} job(s) still running: another node takes them over once this \
             node's lease has passed, or this node at its next start"
        );
        return;
    }
    let id = eng.node_id().unwrap_or_default().to_string();
    let stopped = node::Entity::update_many()
        .col_expr(node::Column::State, Expr::value(STOPPED))
        .filter(node::Column::Id.eq(id))
        .filter(node::Column::State.is_in([ALIVE, DRAINING]))
        .exec(&eng.db)
        .await;
    if let Err(e) = stopped {
        tracing::warn!("recording this node stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_decide_which_nodes_serve_a_repository() {
        let m = Membership::from(&NodeConfig {
            labels: vec![" pull-a".into(), "".into(), "eu".into()],
            ..NodeConfig::default()
        });
        assert_eq!(m.labels, ["pull-a", "eu"]);
        assert!(m.serves(""), "no label wanted: every node");
        assert!(m.serves(" , "));
        assert!(m.serves("pull-b,pull-a"));
        assert!(!m.serves("pull-b"));
        assert!(!Membership::from(&NodeConfig::default()).serves("pull-a"));
    }

    #[test]
    fn the_heartbeat_fits_in_the_lease() {
        let m = Membership::from(&NodeConfig {
            lease_seconds: 3,
            heartbeat_seconds: 10,
            max_jobs: Some(0),
            ..NodeConfig::default()
        });
        assert_eq!(m.heartbeat, Duration::from_secs(1));
        let d = Membership::from(&NodeConfig::default());
        assert_eq!(
            (d.lease, d.heartbeat),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
        assert_eq!(m.capacity, 1);
    }
}
