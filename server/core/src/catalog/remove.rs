//! Removing the catalog of a pruned or re-catalogued archive: the versions no remaining archive
//! of its lineage covers, and the paths no version holds any more.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait, Value,
};

use super::{OPEN, PATHS_LOCK, lineage, placeholder, stmt, tuple};
use crate::entities::{archive, catalog_lineage};

/// Rows per multi-row statement for the id lists (bounded by the bound-variable limits); a
/// power of two (see `padded`).
const CHUNK: usize = 1024;
/// Versions deleted per transaction.
const REMOVE_CHUNK: usize = 20_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoveStats {
    /// Items the archive's catalog listed.
    pub entries: u64,
    /// Versions deleted: those only the archive held.
    pub versions: u64,
    /// Paths no version refers to any more, deleted with them.
    pub paths: u64,
}

/// Removes the catalog of a pruned (or re-catalogued) archive. The archive stops being
/// catalogued first (one small transaction: readers never see half of it), then the versions
/// that no remaining archive of its lineage covers are deleted, `REMOVE_CHUNK` per transaction.
/// With its remaining neighbours `p < k < q` in the lineage, those are the versions with
/// `p < first_seq` and `last_seq < q`: the work is proportional to the archive's own changes,
/// not to its size. When `k` is the head there is no `q`: the open versions stay (the next
/// archive of the lineage is compared with them). The last archive of a lineage takes the
/// lineage with it.
pub async fn remove_archive(
    db: &DatabaseConnection,
    archive_id: i32,
) -> anyhow::Result<RemoveStats> {
    let Some(a) = archive::Entity::find_by_id(archive_id).one(db).await? else {
        return Ok(RemoveStats::default());
    };
    let lock = lineage::RepoLock::acquire(db, a.repository_id).await?;
    // Read again under the lock: an ingestion may have committed it meanwhile.
    let result = match archive::Entity::find_by_id(archive_id).one(db).await {
        Ok(Some(a)) => remove_locked(db, &a).await,
        Ok(None) => Ok(RemoveStats::default()),
        Err(e) => Err(e.into()),
    };
    lock.release().await;
    result
}

/// `remove_archive` under the repository's catalog lock.
pub(super) async fn remove_locked(
    db: &DatabaseConnection,
    a: &archive::Model,
) -> anyhow::Result<RemoveStats> {
    let (Some(lineage_id), Some(k)) = (a.lineage_id, a.lineage_seq) else {
        return Ok(RemoveStats::default());
    };
    archive::Entity::update_many()
        .col_expr(
            archive::Column::LineageId,
            sea_orm::sea_query::Expr::value(Option::<i32>::None),
        )
        .col_expr(
            archive::Column::LineageSeq,
            sea_orm::sea_query::Expr::value(Option::<i32>::None),
        )
        .col_expr(archive::Column::Roots, sea_orm::sea_query::Expr::value(""))
        .col_expr(
            archive::Column::Entries,
            sea_orm::sea_query::Expr::value(0i64),
        )
        .filter(archive::Column::Id.eq(a.id))
        .exec(db)
        .await?;
    let p = lineage::previous_seq(db, lineage_id, k).await?;
    let q = lineage::next_seq(db, lineage_id, k).await?;
    let mut stats = if p == 0 && q.is_none() {
        // No archive left in the lineage: all of it goes.
        let stats = delete_uncovered(db, lineage_id, 0, i64::from(OPEN) + 1).await?;
        catalog_lineage::Entity::delete_by_id(lineage_id)
            .exec(db)
            .await?;
        stats
    } else {
        delete_uncovered(db, lineage_id, p.into(), q.unwrap_or(OPEN).into()).await?
    };
    stats.entries = u64::try_from(a.entries).unwrap_or(0);
    lineage::sweep_uncommitted(db, a.repository_id).await?;
    Ok(stats)
}

/// Deletes the versions of `lineage` with `p < first_seq` and `last_seq < q` (none of the
/// lineage's archives outside `(p, q)` has them), and the paths left without versions.
///
/// Orphaned paths are deleted too: paths churn (temporary files, rotated logs, dated dumps) and
/// would otherwise accumulate forever. Only the removed versions' paths are checked (through the
/// `path_id` index), so the cost is proportional to what is deleted, not to the catalog.
pub(super) async fn delete_uncovered(
    db: &DatabaseConnection,
    lineage: i32,
    p: i64,
    q: i64,
) -> anyhow::Result<RemoveStats> {
    let backend = db.get_database_backend();
    let mut stats = RemoveStats::default();
    let mut select = String::from("SELECT id, path_id FROM catalog_versions WHERE lineage_id = ");
    placeholder(&mut select, backend, 1);
    // The bounds are 64-bit (`q` may be one past `OPEN`): cast, or PostgreSQL would take
    // them for the columns' 32-bit type.
    select.push_str(" AND first_seq > CAST(");
    placeholder(&mut select, backend, 2);
    select.push_str(" AS BIGINT) AND first_seq < CAST(");
    placeholder(&mut select, backend, 3);
    select.push_str(" AS BIGINT) AND last_seq < CAST(");
    placeholder(&mut select, backend, 3);
    select.push_str(" AS BIGINT)");
    select.push_str(&format!(" LIMIT {REMOVE_CHUNK}"));
    let values = || -> Vec<Value> { vec![lineage.into(), p.into(), q.into()] };
    loop {
        let txn = db.begin().await?;
        if backend == DatabaseBackend::Postgres {
            // No ingestion batch is between finding a path and pointing a version to it while
            // this transaction decides which paths are orphans (see `PATHS_LOCK`).
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PATHS_LOCK})"))
                .await?;
        } else {
            // A write first takes SQLite's write lock at once: a transaction that reads, then
            // writes after another connection wrote (a job's log, a node's heartbeat) fails
            // with SQLITE_BUSY_SNAPSHOT instead of waiting.
            txn.execute_unprepared("UPDATE catalog_lineages SET id = id WHERE 0 = 1")
                .await?;
        }
        let rows = txn.query_all(stmt(backend, &select, values())).await?;
        if rows.is_empty() {
            txn.commit().await?;
            break;
        }
        let mut version_ids = Vec::with_capacity(rows.len());
        let mut path_ids = Vec::with_capacity(rows.len());
        for row in &rows {
            version_ids.push(row.try_get_by_index::<i64>(0)?);
            path_ids.push(row.try_get_by_index::<i64>(1)?);
        }
        for chunk in version_ids.chunks(CHUNK) {
            let (sql, values) = with_ids(
                "DELETE FROM catalog_versions WHERE id IN ",
                chunk,
                "",
                backend,
            );
            stats.versions += txn
                .execute(stmt(backend, &sql, values))
                .await?
                .rows_affected();
        }
        path_ids.sort_unstable();
        path_ids.dedup();
        for chunk in path_ids.chunks(CHUNK) {
            let (sql, values) = with_ids(
                "DELETE FROM catalog_paths WHERE id IN ",
                chunk,
                " AND NOT EXISTS \
                 (SELECT 1 FROM catalog_versions v WHERE v.path_id = catalog_paths.id)",
                backend,
            );
            stats.paths += txn
                .execute(stmt(backend, &sql, values))
                .await?
                .rows_affected();
        }
        txn.commit().await?;
    }
    Ok(stats)
}

/// `head (?,?,…) tail` over `ids`, the last id repeated up to a power of two (see `padded`).
fn with_ids(head: &str, ids: &[i64], tail: &str, backend: DatabaseBackend) -> (String, Vec<Value>) {
    let n = ids.len().next_power_of_two();
    let mut sql = String::with_capacity(head.len() + tail.len() + n * 6);
    sql.push_str(head);
    let mut k = 0;
    tuple(&mut sql, backend, n, &mut k);
    sql.push_str(tail);
    let last = ids[ids.len() - 1];
    let values = ids
        .iter()
        .copied()
        .chain(std::iter::repeat_n(last, n - ids.len()))
        .map(|id| Value::BigInt(Some(id)))
        .collect();
    (sql, values)
}
