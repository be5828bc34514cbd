//! Ingestion into PostgreSQL: `unnest` array statements, `PG_WRITERS` connections writing
//! batches side by side, the last commit synchronous.

use futures_util::TryStreamExt;
use sea_orm::{
    DatabaseConnection,
    sqlx::{self, Connection as _, Row as _},
};
use tokio::io::AsyncBufRead;

use super::{
    Batch, BatchWriter, IngestStats, Key, LOAD_BATCH, OPEN, OpenSet, PATHS_LOCK, Target, Written,
    pipeline, search_index, sorted_paths,
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
const PG_VERSIONS: &str = "INSERT INTO catalog_versions \
    (lineage_id, path_id, first_seq, last_seq, mode, mtime, owner, \"group\", size, healthy, fp, \
    path_key) \
    SELECT $1, p.id, $2, 2147483647, v.mode, v.mtime, v.owner, v.grp, v.size, v.healthy, v.fp, \
    substring(v.h from 1 for 12) \
    FROM unnest($3::bytea[], $4::int8[], $5::text[], $6::timestamptz[], $7::text[], \
    $8::text[], $9::int8[], $10::bool[], $11::int8[]) WITH ORDINALITY \
    AS v(h, ph, mode, mtime, owner, grp, size, healthy, fp, n) \
    JOIN catalog_paths p ON p.parent_hash = v.ph AND p.path_hash = v.h \
    ORDER BY p.id, v.n \
    ON CONFLICT (lineage_id, path_id, first_seq) DO NOTHING";

// Only versions opened before this ingestion: a changed file's new version, written in the
// same or an earlier batch, stays open.
const PG_CLOSE: &str = "UPDATE catalog_versions SET last_seq = $1 \
    WHERE lineage_id = $2 AND last_seq = 2147483647 AND first_seq <= $1 \
    AND path_id = ANY($3::int8[])";

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
    target: Target,
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
            target,
        });
    }
    let t = std::time::Instant::now();
    let open = load_open(&mut writers[0].conn, target.lineage).await?;
    let (open_versions, load_micros) = (open.len() as u64, t.elapsed().as_micros() as u64);
    let t = std::time::Instant::now();
    let (mut stats, roots) = pipeline(lines, open, &mut writers).await?;
    stats.open_versions = open_versions;
    stats.load_micros = load_micros;
    stats.stream_micros = t.elapsed().as_micros() as u64;
    if stats.versions > 0 {
        // Fresh statistics after a bulk load keep PostgreSQL's plans on the indexes (browsing a
        // directory would otherwise scan) without waiting for autovacuum; ANALYZE samples, so
        // its cost does not grow with the catalog.
        sqlx::raw_sql("ANALYZE catalog_paths, catalog_versions")
            .execute(&mut *writers[0].conn)
            .await?;
    }
    Ok((stats, roots))
}

/// The lineage's open versions, keyed by their path's hash.
async fn load_open(conn: &mut sqlx::PgConnection, lineage: i32) -> anyhow::Result<OpenSet> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM catalog_versions WHERE lineage_id = $1 AND last_seq = 2147483647",
    )
    .bind(lineage)
    .fetch_one(&mut *conn)
    .await?;
    let mut open = OpenSet::with_capacity(usize::try_from(count).unwrap_or(0));
    let sql = format!(
        "SELECT path_id, path_key, fp FROM catalog_versions \
         WHERE lineage_id = $1 AND last_seq = {OPEN}"
    );
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut rows = sqlx::query(&sql).bind(lineage).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let hash: &[u8] = row.try_get(1)?;
        anyhow::ensure!(hash.len() >= 12, "a version without its path key");
        batch.push((
            Key::of(hash),
            row.try_get(0)?,
            row.try_get::<i64, _>(2)? as u64,
        ));
        if batch.len() == LOAD_BATCH {
            open.insert_batch(&mut batch);
        }
    }
    drop(rows);
    open.insert_batch(&mut batch);
    Ok(open)
}

struct PgWriter {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    target: Target,
}

impl BatchWriter for PgWriter {
    async fn write(&mut self, batch: &Batch) -> anyhow::Result<Written> {
        let target = self.target;
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
        let mut written = Written::default();
        if !batch.close.is_empty() {
            written.closed = sqlx::query(PG_CLOSE)
                .bind(target.n - 1)
                .bind(target.lineage)
                .bind(&batch.close)
                .execute(&mut *txn)
                .await?
                .rows_affected();
        }
        let batch_rows = &batch.rows;
        let paths = sorted_paths(batch_rows);
        let (mut p, mut h, mut ph) = (
            Vec::with_capacity(paths.len()),
            Vec::with_capacity(paths.len()),
            Vec::with_capacity(paths.len()),
        );
        for r in &paths {
            p.push(r.item.path.as_ref());
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
        let n = batch_rows.len();
        let mut fp = Vec::with_capacity(n);
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
        for r in batch_rows {
            let i = &r.item;
            h.push(&r.hash[..]);
            ph.push(r.parent);
            mode.push(i.mode.as_ref());
            mtime.push(i.mtime);
            owner.push(i.user.as_ref());
            group.push(i.group.as_ref());
            size.push(i.size);
            healthy.push(i.healthy);
            fp.push(r.fp as i64);
        }
        written.versions = sqlx::query(PG_VERSIONS)
            .bind(target.lineage)
            .bind(target.n)
            .bind(&h)
            .bind(&ph)
            .bind(&mode)
            .bind(&mtime)
            .bind(&owner)
            .bind(&group)
            .bind(&size)
            .bind(&healthy)
            .bind(&fp)
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
