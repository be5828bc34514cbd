//! Removing the catalog of a pruned or re-catalogued archive, and the paths no archive holds
//! any more.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, TransactionTrait, Value};

use super::{PATHS_LOCK, placeholder, stmt, tuple};

/// Rows per multi-row statement for `remove_archive`'s id lists (bounded by the bound-variable
/// limits); a power of two (see `padded`).
const CHUNK: usize = 1024;
/// Entries removed per transaction by `remove_archive`.
const REMOVE_CHUNK: usize = 20_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoveStats {
    pub entries: u64,
    /// Paths no archive refers to any more, deleted with the entries.
    pub paths: u64,
}

/// Deletes the catalog of a pruned (or re-catalogued) archive, `REMOVE_CHUNK` entries per
/// transaction so neither backend holds a huge lock, and the paths no other archive holds.
///
/// Orphaned paths are deleted too: paths churn (temporary files, rotated logs, dated dumps) and
/// would otherwise accumulate forever. Only the removed entries' paths are checked (through the
/// `path_id` index), so the cost is proportional to the archive, not to the catalog.
pub async fn remove_archive(
    db: &DatabaseConnection,
    archive_id: i32,
) -> anyhow::Result<RemoveStats> {
    let backend = db.get_database_backend();
    let mut stats = RemoveStats::default();
    let mut select = String::from("SELECT id, path_id FROM catalog_entries WHERE archive_id = ");
    placeholder(&mut select, backend, 1);
    select.push_str(&format!(" LIMIT {REMOVE_CHUNK}"));
    loop {
        let txn = db.begin().await?;
        if backend == DatabaseBackend::Postgres {
            // No ingestion batch is between finding a path and pointing entries to it while
            // this transaction decides which paths are orphans (see `PATHS_LOCK`).
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PATHS_LOCK})"))
                .await?;
        }
        let rows = txn
            .query_all(stmt(backend, &select, vec![archive_id.into()]))
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            break;
        }
        let mut entry_ids = Vec::with_capacity(rows.len());
        let mut path_ids = Vec::with_capacity(rows.len());
        for row in &rows {
            entry_ids.push(row.try_get_by_index::<i64>(0)?);
            path_ids.push(row.try_get_by_index::<i64>(1)?);
        }
        for chunk in entry_ids.chunks(CHUNK) {
            let (sql, values) = with_ids(
                "DELETE FROM catalog_entries WHERE id IN ",
                chunk,
                "",
                backend,
            );
            stats.entries += txn
                .execute(stmt(backend, &sql, values))
                .await?
                .rows_affected();
        }
        path_ids.sort_unstable();
        for chunk in path_ids.chunks(CHUNK) {
            let (sql, values) = with_ids(
                "DELETE FROM catalog_paths WHERE id IN ",
                chunk,
                " AND NOT EXISTS \
                 (SELECT 1 FROM catalog_entries e WHERE e.path_id = catalog_paths.id)",
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
