//! Ingestion into PostgreSQL: `unnest` array statements, `PG_WRITERS` connections writing
//! batches side by side, the last commit synchronous.

use anyhow::bail;
use sea_orm::{
    DatabaseConnection,
    sqlx::{self, Connection as _},
};
use tokio::io::AsyncBufRead;

use super::{
    BatchWriter, IngestStats, PATHS_LOCK, Row, Written, pipeline, search_index, sorted_paths,
};

const PG_PATHS: &str = "INSERT INTO catalog_paths (path, path_hash, parent_hash) \
    SELECT v.path, v.h, v.ph FROM unnest($1::text[], $2::bytea[], $3::int8[]) \
    WITH ORDINALITY AS v(path, h, ph, n) ORDER BY v.n \
    ON CONFLICT (parent_hash, path_hash) DO NOTHING";

// borg can list a path twice (overlapping sources; both listings describe the same item): within
// a batch the first one wins (`ON CONFLICT DO NOTHING` skips the later duplicates, which come
// after it in array order), across batches written side by side the one written first. In path
// order: two such batches that share some paths wait for each other's rows in the same order,
// never in a cycle (a deadlock).
const PG_ENTRIES: &str = "INSERT INTO catalog_entries \
    (archive_id, path_id, mode, mtime, owner, \"group\", size, healthy) \
    SELECT $1, p.id, v.mode, v.mtime, v.owner, v.grp, v.size, v.healthy \
    FROM unnest($2::bytea[], $3::int8[], $4::text[], $5::timestamptz[], $6::text[], \
    $7::text[], $8::int8[], $9::bool[]) WITH ORDINALITY \
    AS v(h, ph, mode, mtime, owner, grp, size, healthy, n) \
    JOIN catalog_paths p ON p.parent_hash = v.ph AND p.path_hash = v.h \
    ORDER BY p.id, v.n \
    ON CONFLICT (archive_id, path_id) DO NOTHING";

/// PostgreSQL connections writing batches side by side: each batch's statements run in one
/// server process, so on this 2-core machine a second one keeps the other core busy
/// (docs/PERFORMANCE.md). More would contend for the same cores and the pool.
const PG_WRITERS: usize = 2;

/// Whether most of the pool is free: only then does an ingestion take more than one
/// connection, so that many catalog jobs at once (one per repository) leave the API and the
/// other jobs their connections.
fn pool_mostly_free(pool: &sqlx::PgPool) -> bool {
    let max = pool.options().get_max_connections();
    let free = max.saturating_sub(pool.size()) + pool.num_idle() as u32;
    free > max / 2
}

pub(super) async fn pg_ingest<R>(
    db: &DatabaseConnection,
    archive_id: i32,
    lines: R,
) -> anyhow::Result<(IngestStats, Vec<String>)>
where
    R: AsyncBufRead + Unpin,
{
    let pool = db.get_postgres_connection_pool();
    let mut writers = Vec::with_capacity(PG_WRITERS);
    while writers.is_empty() || (writers.len() < PG_WRITERS && pool_mostly_free(pool)) {
        writers.push(PgWriter {
            conn: pool.acquire().await?,
            archive_id,
        });
    }
    let result = pipeline(lines, &mut writers).await?;
    // The batches committed with `synchronous_commit = off`. One synchronous commit with a
    // transaction id (ANALYZE writes the statistics) flushes the WAL up to it, so every batch
    // is durable when `ingest` returns. Fresh statistics after a bulk load also keep
    // PostgreSQL's plans on the indexes (browsing a directory would otherwise scan) without
    // waiting for autovacuum; ANALYZE samples, so its cost does not grow with the catalog.
    let mut txn = writers[0].conn.begin().await?;
    sqlx::raw_sql("ANALYZE catalog_paths, catalog_entries; SELECT txid_current()")
        .execute(&mut *txn)
        .await?;
    txn.commit().await?;
    Ok(result)
}

struct PgWriter {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    archive_id: i32,
}

impl BatchWriter for PgWriter {
    async fn write(&mut self, batch: &[Row]) -> anyhow::Result<Written> {
        let archive_id = self.archive_id;
        let mut txn = self.conn.begin().await?;
        // While the catalog grows inside the ingestion, PostgreSQL's statistics say
        // `catalog_paths` is tiny and the path join could become a hash join over a sequential
        // scan, quadratic over the archive: within this transaction only, plain index nested
        // loops. Measured in psql on one 20,000-entry batch (docs/PERFORMANCE.md): the join
        // took 129 ms as the planner's bitmap scans under a memoize node and 67 ms as plain
        // index scans; and the costs that the disabled plans add can start the JIT compiler on
        // these statements (hundreds of ms a batch in psql). Batches commit without waiting for
        // the WAL flush; the last one waits (see `pg_ingest`).
        sqlx::raw_sql(&format!(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; \
             SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
             SET LOCAL enable_memoize = off; SET LOCAL jit = off; \
             SET LOCAL synchronous_commit = off; \
             SELECT pg_advisory_xact_lock_shared({PATHS_LOCK})"
        ))
        .execute(&mut *txn)
        .await?;
        // The archive row stays locked until the batch commits: its deletion (whose trigger
        // deletes its entries, see migration m20261128_000007) waits and then sees this batch.
        // Once a batch instead of a foreign-key check on every entry.
        let archive = sqlx::query("SELECT 1 FROM archives WHERE id = $1 FOR KEY SHARE")
            .bind(archive_id)
            .fetch_optional(&mut *txn)
            .await?;
        if archive.is_none() {
            bail!("catalog ingestion: archive {archive_id} was deleted meanwhile");
        }

        let mut written = Written::default();
        let paths = sorted_paths(batch);
        let (mut p, mut h, mut ph) = (
            Vec::with_capacity(paths.len()),
            Vec::with_capacity(paths.len()),
            Vec::with_capacity(paths.len()),
        );
        for r in &paths {
            p.push(r.item.path.as_str());
            h.push(&r.hash[..]);
            ph.push(r.parent);
        }
        written.new_paths = sqlx::query(PG_PATHS)
            .bind(&p)
            .bind(&h)
            .bind(&ph)
            .execute(&mut *txn)
            .await?
            .rows_affected();
        let n = batch.len();
        let (mut h, mut ph, mut mode, mut mtime, mut owner, mut group, mut size, mut healthy) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in batch {
            let i = &r.item;
            h.push(&r.hash[..]);
            ph.push(r.parent);
            mode.push(i.mode.as_str());
            mtime.push(i.mtime);
            owner.push(i.user.as_str());
            group.push(i.group.as_str());
            size.push(i.size);
            healthy.push(i.healthy);
        }
        written.entries = sqlx::query(PG_ENTRIES)
            .bind(archive_id)
            .bind(&h)
            .bind(&ph)
            .bind(&mode)
            .bind(&mtime)
            .bind(&owner)
            .bind(&group)
            .bind(&size)
            .bind(&healthy)
            .execute(&mut *txn)
            .await?
            .rows_affected();
        // Last, so that concurrent batches hold the version row only for the commit.
        if written.new_paths > 0 {
            sqlx::query(search_index::BUMP_VERSION)
                .execute(&mut *txn)
                .await?;
        }
        txn.commit().await?;
        Ok(written)
    }
}
