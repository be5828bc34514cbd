//! Catalog ingestion: `borg list --json-lines REPO::ARCHIVE` streamed into `catalog_paths` /
//! `catalog_entries`, and the rows of a pruned archive removed.
//!
//! Storage: every distinct path is one `catalog_paths` row (unique on the 64-bit hash of its
//! parent directory and the SHA-256 of the path: siblings sit together for browsing, and no
//! btree limit applies to long paths), shared by all the archives that hold it; an archive's items are `catalog_entries`
//! rows `(archive_id, path_id, mode, mtime, owner, group, size, healthy)`.
//!
//! Ingestion reads the output line by line and writes it `BATCH_LINES` lines per transaction:
//! insert the batch's paths (`ON CONFLICT (parent_hash, path_hash) DO NOTHING`, in key order so concurrent
//! ingestions cannot deadlock), then the entries, joining their path hashes to `catalog_paths`
//! in the database; multi-row statements of at most `CHUNK` rows stay far below SQLite's 32,766
//! bound-variable limit. Memory stays flat: only the current batch is held, whatever the size
//! of the archive.
pub mod hash;
pub mod parse;

use anyhow::{Context, bail};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, Statement,
    TransactionTrait, Value,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

pub use parse::{Item, ParseError, parse_line};

/// Lines written per transaction.
pub const BATCH_LINES: usize = 20_000;
/// Rows per multi-row statement (8 bound values a row at most: 8,193, far below SQLite's 32,766
/// and PostgreSQL's 65,535). Small statements keep the prepared-statement caches of the pool's
/// connections small; a power of two (see `padded`).
const CHUNK: usize = 1024;
/// The longest line accepted (borg's are a few hundred bytes; a path is at most 4,096): a
/// runaway line fails instead of growing memory.
const MAX_LINE: u64 = 1 << 20;
/// Entries removed per transaction by `remove_archive`.
const REMOVE_CHUNK: usize = 20_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Catalog entries written for the archive.
    pub entries: u64,
    /// Paths the catalog did not hold before.
    pub new_paths: u64,
    /// Transactions committed.
    pub batches: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoveStats {
    pub entries: u64,
    /// Paths no archive refers to any more, deleted with the entries.
    pub paths: u64,
}

struct Row {
    item: Item,
    hash: [u8; 32],
    parent: i64,
}

/// Streams `borg list --json-lines` output into the catalog of `archive_id`, replacing what the
/// archive had. A malformed line fails the whole ingestion with its line number; the entries
/// already written are then removed again, so an archive is catalogued completely or not at all.
///
/// borg prints `mtime` in local time without a zone: run it with `TZ=UTC`.
pub async fn ingest<R>(
    db: &DatabaseConnection,
    archive_id: i32,
    lines: R,
) -> anyhow::Result<IngestStats>
where
    R: AsyncBufRead + Unpin,
{
    let backend = db.get_database_backend();
    let mut sql = String::from("SELECT id FROM archives WHERE id = ");
    placeholder(&mut sql, backend, 1);
    let exists = db
        .query_one(stmt(backend, &sql, vec![archive_id.into()]))
        .await?;
    if exists.is_none() {
        bail!("catalog ingestion: archive {archive_id} does not exist");
    }
    remove_archive(db, archive_id)
        .await
        .context("clearing the archive's previous catalog")?;
    match ingest_lines(db, archive_id, lines).await {
        Ok(stats) => Ok(stats),
        Err(e) => {
            if let Err(cleanup) = remove_archive(db, archive_id).await {
                tracing::warn!("removing the partial catalog of archive {archive_id}: {cleanup}");
            }
            Err(e)
        }
    }
}

async fn ingest_lines<R>(
    db: &DatabaseConnection,
    archive_id: i32,
    mut lines: R,
) -> anyhow::Result<IngestStats>
where
    R: AsyncBufRead + Unpin,
{
    let mut stats = IngestStats::default();
    let mut buf = Vec::with_capacity(1024);
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_LINES);
    // Items come grouped by directory: the parent's hash is computed once per directory.
    let mut last_parent = String::new();
    let mut last_parent_hash = hash::dir_hash("");
    loop {
        buf.clear();
        let n = (&mut lines)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
            .context("reading the borg list output")?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        let line = stats.lines;
        if n as u64 == MAX_LINE && buf.last() != Some(&b'\n') {
            return Err(ParseError {
                line,
                message: format!("longer than {MAX_LINE} bytes"),
            }
            .into());
        }
        let text = std::str::from_utf8(&buf).map_err(|e| ParseError {
            line,
            message: format!("not UTF-8: {e}"),
        })?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let item = parse_line(text, line)?;
        let parent = hash::parent_of(&item.path);
        if parent != last_parent {
            last_parent.clear();
            last_parent.push_str(parent);
            last_parent_hash = hash::dir_hash(parent);
        }
        batch.push(Row {
            hash: hash::path_hash(&item.path),
            parent: last_parent_hash,
            item,
        });
        if batch.len() >= BATCH_LINES {
            flush(db, archive_id, &mut batch, &mut stats).await?;
        }
    }
    if !batch.is_empty() {
        flush(db, archive_id, &mut batch, &mut stats).await?;
    }
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // Fresh statistics after a bulk load keep PostgreSQL's plans on the indexes (browsing
        // a directory would otherwise scan) without waiting for autovacuum; ANALYZE samples,
        // so its cost does not grow with the catalog.
        db.execute_unprepared("ANALYZE catalog_paths, catalog_entries")
            .await?;
    }
    Ok(stats)
}

/// Writes one batch in one transaction: the paths (`ON CONFLICT DO NOTHING`, sorted by hash so
/// that concurrent ingestions lock in the same order and cannot deadlock), then the entries with
/// `INSERT … SELECT … FROM (VALUES …) JOIN catalog_paths ON path_hash`, so path ids never travel
/// back to the server process.
async fn flush(
    db: &DatabaseConnection,
    archive_id: i32,
    batch: &mut Vec<Row>,
    stats: &mut IngestStats,
) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DatabaseBackend::Postgres {
        // While the catalog grows inside the ingestion, PostgreSQL's statistics say
        // `catalog_paths` is tiny and the path join becomes a hash join over a sequential scan,
        // quadratic over the archive. Within this transaction only, index nested loops.
        for setting in ["enable_hashjoin", "enable_mergejoin", "enable_seqscan"] {
            txn.execute_unprepared(&format!("SET LOCAL {setting} = off"))
                .await?;
        }
    }
    let mut paths: Vec<&Row> = batch.iter().collect();
    paths.sort_unstable_by_key(|a| (a.parent, a.hash));
    paths.dedup_by(|a, b| a.hash == b.hash);
    for chunk in paths.chunks(CHUNK) {
        stats.new_paths += insert_paths(&txn, backend, chunk).await?;
    }
    let rows: Vec<&Row> = batch.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        stats.entries += insert_entries(&txn, backend, archive_id, chunk).await?;
    }
    txn.commit().await?;
    stats.batches += 1;
    batch.clear();
    Ok(())
}

fn stmt(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// Appends the `n`th (1-based) placeholder of the backend.
fn placeholder(sql: &mut String, backend: DatabaseBackend, n: usize) {
    use std::fmt::Write;
    match backend {
        DatabaseBackend::Postgres => {
            let _ = write!(sql, "${n}");
        }
        _ => sql.push('?'),
    }
}

/// The rows of one statement, the last one repeated up to a power of two: the database caches
/// one prepared statement per distinct SQL text, so the sizes must come from a small set. The
/// repeats are duplicates, which `ON CONFLICT DO NOTHING` skips.
fn padded<'a>(rows: &[&'a Row]) -> impl Iterator<Item = &'a Row> {
    let n = rows.len().next_power_of_two();
    let last = rows[rows.len() - 1];
    rows.iter()
        .copied()
        .chain(std::iter::repeat_n(last, n - rows.len()))
}

/// Appends `(?,?,…)` with `width` placeholders, numbered from `*n + 1`.
fn tuple(sql: &mut String, backend: DatabaseBackend, width: usize, n: &mut usize) {
    sql.push('(');
    for i in 0..width {
        if i > 0 {
            sql.push(',');
        }
        *n += 1;
        placeholder(sql, backend, *n);
    }
    sql.push(')');
}

async fn insert_paths(
    txn: &DatabaseTransaction,
    backend: DatabaseBackend,
    rows: &[&Row],
) -> anyhow::Result<u64> {
    let mut sql = String::with_capacity(rows.len() * 24 + 128);
    sql.push_str("INSERT INTO catalog_paths (path, path_hash, parent_hash) VALUES ");
    let mut values = Vec::with_capacity(rows.len().next_power_of_two() * 3);
    let mut n = 0;
    for (i, r) in padded(rows).enumerate() {
        if i > 0 {
            sql.push(',');
        }
        tuple(&mut sql, backend, 3, &mut n);
        values.push(Value::String(Some(Box::new(r.item.path.clone()))));
        values.push(Value::Bytes(Some(Box::new(r.hash.to_vec()))));
        values.push(Value::BigInt(Some(r.parent)));
    }
    sql.push_str(" ON CONFLICT (parent_hash, path_hash) DO NOTHING");
    Ok(txn
        .execute(stmt(backend, &sql, values))
        .await?
        .rows_affected())
}

async fn insert_entries(
    txn: &DatabaseTransaction,
    backend: DatabaseBackend,
    archive_id: i32,
    rows: &[&Row],
) -> anyhow::Result<u64> {
    let mut sql = String::with_capacity(rows.len() * 40 + 512);
    sql.push_str("INSERT INTO catalog_entries (archive_id, path_id, mode, mtime, owner, \"group\", size, healthy) SELECT ");
    placeholder(&mut sql, backend, 1);
    sql.push_str(
        ", p.id, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8 FROM (VALUES ",
    );
    let mut values = Vec::with_capacity(rows.len().next_power_of_two() * 8 + 1);
    values.push(Value::Int(Some(archive_id)));
    let mut n = 1;
    for (i, r) in padded(rows).enumerate() {
        if i > 0 {
            sql.push(',');
        }
        tuple(&mut sql, backend, 8, &mut n);
        let item = &r.item;
        values.push(Value::Bytes(Some(Box::new(r.hash.to_vec()))));
        values.push(Value::BigInt(Some(r.parent)));
        values.push(Value::String(Some(Box::new(item.mode.clone()))));
        values.push(Value::ChronoDateTimeUtc(item.mtime.map(Box::new)));
        values.push(Value::String(Some(Box::new(item.user.clone()))));
        values.push(Value::String(Some(Box::new(item.group.clone()))));
        values.push(Value::BigInt(Some(item.size)));
        values.push(Value::Bool(Some(item.healthy)));
    }
    // CROSS JOIN fixes SQLite's join order (VALUES first, then the path_hash index); the WHERE
    // also keeps SQLite's INSERT … SELECT … ON CONFLICT unambiguous. borg can list a path twice
    // (overlapping sources): the first one wins.
    sql.push_str(
        ") AS v CROSS JOIN catalog_paths p \
         WHERE p.parent_hash = v.column2 AND p.path_hash = v.column1 \
         ON CONFLICT (archive_id, path_id) DO NOTHING",
    );
    Ok(txn
        .execute(stmt(backend, &sql, values))
        .await?
        .rows_affected())
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

/// One item of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub id: i64,
    pub path: String,
    pub mode: String,
    pub size: i64,
}

/// The items directly inside `dir` (`""` for the top level) in one archive, by path: an index
/// range of the `(parent_hash, path_hash)` index, with the parent re-checked so a hash collision
/// cannot leak in.
pub async fn browse(
    db: &DatabaseConnection,
    archive_id: i32,
    dir: &str,
) -> anyhow::Result<Vec<DirEntry>> {
    let backend = db.get_database_backend();
    let dir = dir.trim_end_matches('/');
    // CROSS JOIN: SQLite must start from the directory's paths, not the archive's entries.
    let mut sql = String::from(
        "SELECT e.id, p.path, e.mode, e.size FROM catalog_paths p \
         CROSS JOIN catalog_entries e WHERE p.parent_hash = ",
    );
    placeholder(&mut sql, backend, 1);
    sql.push_str(" AND e.path_id = p.id AND e.archive_id = ");
    placeholder(&mut sql, backend, 2);
    sql.push_str(" ORDER BY p.path");
    let values = vec![hash::dir_hash(dir).into(), archive_id.into()];
    let rows = db.query_all(stmt(backend, &sql, values)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let path: String = row.try_get_by_index(1)?;
        if hash::parent_of(&path) != dir {
            continue;
        }
        out.push(DirEntry {
            id: row.try_get_by_index(0)?,
            path,
            mode: row.try_get_by_index(2)?,
            size: row.try_get_by_index(3)?,
        });
    }
    Ok(out)
}
