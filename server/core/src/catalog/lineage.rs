//! Lineages: which lineage an archive is ingested into, the repository's catalog lock, the
//! commit that makes an ingested archive visible, and the undoing of one that did not finish.
use anyhow::{Context, bail};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, Set, TransactionTrait, sqlx,
};

use super::{MAX_PATH_ID, OPEN, Target, placeholder, remove, stmt};
use crate::entities::{archive, catalog_lineage};

/// PostgreSQL advisory lock class ("CYBL") of the per-repository catalog locks (the two-key
/// form: it cannot meet `PATHS_LOCK`).
const REPOSITORY_LOCK_CLASS: i32 = 0x4359_424C;

/// SQLite serves one node: the locks are the process's own, one a repository.
static SQLITE_LOCKS: std::sync::Mutex<
    std::collections::BTreeMap<i32, std::sync::Arc<tokio::sync::Mutex<()>>>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Held while a repository's catalog is written (an ingestion from its lineage choice to its
/// commit, a prune): two of them would otherwise compute a lineage's head or an archive's
/// neighbours from each other's unfinished work.
pub enum RepoLock {
    Sqlite(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>),
    /// A session-level advisory lock on a connection that is closed instead of going back to
    /// the pool, so a dropped lock (a cancelled job) is released by the server at once.
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>, i32),
}

impl RepoLock {
    pub async fn acquire(db: &DatabaseConnection, repository_id: i32) -> anyhow::Result<RepoLock> {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let mut conn = db.get_postgres_connection_pool().acquire().await?;
                conn.close_on_drop();
                sqlx::query("SELECT pg_advisory_lock($1, $2)")
                    .bind(REPOSITORY_LOCK_CLASS)
                    .bind(repository_id)
                    .execute(&mut *conn)
                    .await
                    .context("waiting for the repository's catalog lock")?;
                Ok(RepoLock::Postgres(conn, repository_id))
            }
            _ => {
                let lock = SQLITE_LOCKS
                    .lock()
                    .expect("catalog locks")
                    .entry(repository_id)
                    .or_default()
                    .clone();
                Ok(RepoLock::Sqlite(lock.lock_owned().await))
            }
        }
    }

    pub async fn release(self) {
        if let RepoLock::Postgres(mut conn, repository_id) = self {
            // Closing the connection (on drop) would release it too; unlocking first keeps
            // the waiting ingestion from waiting for the close.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(REPOSITORY_LOCK_CLASS)
                .bind(repository_id)
                .execute(&mut *conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// The lineage archive `a` is ingested into, recovered from any ingestion that did not
/// finish: the lineage of its (repository, policy, client) with the newest head, when `a` is
/// newer than that head; otherwise (an older archive, or one catalogued again) a new lineage.
pub(super) async fn for_archive(
    db: &DatabaseConnection,
    a: &archive::Model,
) -> anyhow::Result<Target> {
    sweep_uncommitted(db, a.repository_id).await?;
    let newest = catalog_lineage::Entity::find()
        .filter(catalog_lineage::Column::RepositoryId.eq(a.repository_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|l| l.policy_id == a.policy_id && l.client_id == a.client_id)
        .max_by_key(|l| (l.head_created, l.id));
    if let Some(l) = newest
        && l.head_created.is_none_or(|head| a.created > head)
    {
        recover(db, l.id, l.head_seq).await?;
        return Ok(Target {
            lineage: l.id,
            n: l.head_seq + 1,
        });
    }
    let l = catalog_lineage::ActiveModel {
        repository_id: Set(a.repository_id),
        policy_id: Set(a.policy_id),
        client_id: Set(a.client_id),
        head_seq: Set(0),
        head_created: Set(None),
        created: Set(crate::stamps::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .context("creating a catalog lineage")?;
    Ok(Target {
        lineage: l.id,
        n: 1,
    })
}

/// Undoes what an unfinished ingestion of `target` wrote.
pub(super) async fn recover_target(db: &DatabaseConnection, target: Target) -> anyhow::Result<()> {
    recover(db, target.lineage, target.n - 1).await
}

/// Puts a lineage back to its committed state: the versions opened after its head are deleted
/// (with the paths only they held) and the ones closed at its head reopened (only an ingestion
/// of `head + 1` closes versions at the head, and it did not commit).
async fn recover(db: &DatabaseConnection, lineage: i32, head: i32) -> anyhow::Result<()> {
    remove::delete_uncovered(db, lineage, head.into(), i64::from(OPEN) + 1).await?;
    let backend = db.get_database_backend();
    let mut sql = format!("UPDATE catalog_versions SET last_seq = {OPEN} WHERE lineage_id = ");
    placeholder(&mut sql, backend, 1);
    sql.push_str(" AND last_seq = ");
    placeholder(&mut sql, backend, 2);
    db.execute(stmt(backend, &sql, vec![lineage.into(), head.into()]))
        .await?;
    Ok(())
}

/// Deletes the lineages of the repository that no ingestion ever completed (left by one that
/// failed or stopped before its first commit), with everything they hold. Called under the
/// repository's catalog lock, so none of them is being written.
pub(super) async fn sweep_uncommitted(
    db: &DatabaseConnection,
    repository_id: i32,
) -> anyhow::Result<()> {
    let never = catalog_lineage::Entity::find()
        .filter(catalog_lineage::Column::RepositoryId.eq(repository_id))
        .filter(catalog_lineage::Column::HeadSeq.eq(0))
        .all(db)
        .await?;
    for l in never {
        remove::delete_uncovered(db, l.id, 0, i64::from(OPEN) + 1).await?;
        catalog_lineage::Entity::delete_by_id(l.id).exec(db).await?;
    }
    Ok(())
}

/// Makes archive `a` the head of its lineage: its catalog becomes visible.
pub(super) async fn commit(
    db: &DatabaseConnection,
    a: &archive::Model,
    target: Target,
    roots: &[String],
    entries: u64,
) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    let max_path = db
        .query_one(stmt(
            backend,
            "SELECT COALESCE(MAX(id), 0) FROM catalog_paths",
            vec![],
        ))
        .await?
        .map(|r| r.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if max_path >= MAX_PATH_ID {
        bail!(
            "catalog ingestion: the catalog holds more than {MAX_PATH_ID} distinct paths \
             (entry ids would not stay below 2^53); remove old catalogs first"
        );
    }
    let txn = db.begin().await?;
    catalog_lineage::Entity::update_many()
        .col_expr(
            catalog_lineage::Column::HeadSeq,
            sea_orm::sea_query::Expr::value(target.n),
        )
        .col_expr(
            catalog_lineage::Column::HeadCreated,
            sea_orm::sea_query::Expr::value(a.created),
        )
        .filter(catalog_lineage::Column::Id.eq(target.lineage))
        .exec(&txn)
        .await?;
    let updated = archive::Entity::update_many()
        .col_expr(
            archive::Column::LineageId,
            sea_orm::sea_query::Expr::value(target.lineage),
        )
        .col_expr(
            archive::Column::LineageSeq,
            sea_orm::sea_query::Expr::value(target.n),
        )
        .col_expr(
            archive::Column::Roots,
            sea_orm::sea_query::Expr::value(roots.join("\n")),
        )
        .col_expr(
            archive::Column::Entries,
            sea_orm::sea_query::Expr::value(entries as i64),
        )
        .filter(archive::Column::Id.eq(a.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if updated != 1 {
        bail!("catalog ingestion: archive {} was deleted meanwhile", a.id);
    }
    if backend == DatabaseBackend::Postgres {
        // The batches committed with `synchronous_commit = off`: this synchronous commit
        // flushes the WAL up to it, so every batch is durable once the archive is visible.
        txn.execute_unprepared("SET LOCAL synchronous_commit = on")
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// After archive `n` is committed: when the archive before it (the old head) was pruned, the
/// versions that ended in the gap are covered by no archive; delete them.
pub(super) async fn after_commit(db: &DatabaseConnection, target: Target) -> anyhow::Result<()> {
    let previous = previous_seq(db, target.lineage, target.n).await?;
    if previous + 1 < target.n {
        remove::delete_uncovered(db, target.lineage, previous.into(), target.n.into()).await?;
    }
    Ok(())
}

/// The greatest `lineage_seq` below `seq` of an archive of the lineage (0: none).
pub(super) async fn previous_seq(
    db: &DatabaseConnection,
    lineage: i32,
    seq: i32,
) -> anyhow::Result<i32> {
    seq_bound(db, "MAX", "<", lineage, seq)
        .await
        .map(|s| s.unwrap_or(0))
}

/// The least `lineage_seq` above `seq` of an archive of the lineage.
pub(super) async fn next_seq(
    db: &DatabaseConnection,
    lineage: i32,
    seq: i32,
) -> anyhow::Result<Option<i32>> {
    seq_bound(db, "MIN", ">", lineage, seq).await
}

async fn seq_bound(
    db: &DatabaseConnection,
    aggregate: &str,
    op: &str,
    lineage: i32,
    seq: i32,
) -> anyhow::Result<Option<i32>> {
    let backend = db.get_database_backend();
    let mut sql = format!("SELECT {aggregate}(lineage_seq) FROM archives WHERE lineage_id = ");
    placeholder(&mut sql, backend, 1);
    sql.push_str(&format!(" AND lineage_seq {op} "));
    placeholder(&mut sql, backend, 2);
    let row = db
        .query_one(stmt(backend, &sql, vec![lineage.into(), seq.into()]))
        .await?;
    Ok(row
        .map(|r| r.try_get_by_index::<Option<i32>>(0))
        .transpose()?
        .flatten())
}
