//! Catalog ingestion: `borg list --json-lines REPO::ARCHIVE` streamed into `catalog_paths` /
//! `catalog_entries`, and the rows of a pruned archive removed.
//!
//! Storage: every distinct path is one `catalog_paths` row (unique on the 64-bit hash of its
//! parent directory and the SHA-256 of the path: siblings sit together for browsing, and no
//! btree limit applies to long paths), shared by all the archives that hold it; an archive's
//! items are `catalog_entries` rows `(archive_id, path_id, mode, mtime, owner, group, size,
//! healthy)`.
//!
//! Ingestion reads the output line by line and writes it `BATCH_LINES` lines per transaction:
//! insert the batch's paths (`ON CONFLICT (parent_hash, path_hash) DO NOTHING`, in key order so
//! concurrent ingestions cannot deadlock), then the entries, joining their path hashes to
//! `catalog_paths` in the database. Memory stays flat: only a few batches are held (those being
//! written, one queued and the one being read), whatever the size of the archive.
//!
//! Speed (docs/PERFORMANCE.md): ingestion uses dedicated connections of the pool, bypassing the
//! ORM's value boxing; parsing the next batch overlaps with the database writing the current
//! one (SQLite works on its own thread, PostgreSQL in its server processes).
//! - SQLite: multi-row statements of at most `SQLITE_CHUNK` rows (8 bound values a row: far
//!   below SQLite's 32,766 limit); the dedicated connection has a large page cache
//!   (`INGEST_CACHE_KIB`) and no foreign-key checks (the references are guaranteed otherwise,
//!   see `sqlite_ingest`), and is closed afterwards instead of going back to the pool.
//! - PostgreSQL: one `INSERT … SELECT … FROM unnest($1::text[], …)` statement per table and
//!   batch, whatever the batch size (array binds, no placeholder limit, one prepared statement);
//!   `PG_WRITERS` connections write batches side by side; the entries have no foreign keys
//!   (migration m20261128_000007: one archive row lock a batch instead of a check an entry);
//!   the batches commit with `synchronous_commit = off` and the last commit is synchronous,
//!   which flushes all the WAL before it: when `ingest` returns, the catalog is durable.
pub mod hash;
pub mod parse;
pub mod search_index;

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait, Value,
    sqlx::{self, Connection as _, SqliteConnection},
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

pub use parse::{Item, ParseError, parse_line};

/// Lines written per transaction.
pub const BATCH_LINES: usize = 20_000;
/// Rows per multi-row statement for `remove_archive`'s id lists (bounded by the bound-variable
/// limits); a power of two (see `padded`).
const CHUNK: usize = 1024;
/// Rows per multi-row SQLite ingestion statement (8 bound values a row: 16,384 values, half of
/// SQLite's 32,766 limit); a power of two (see `padded`).
const SQLITE_CHUNK: usize = 2048;
/// Page cache of the SQLite connection while it ingests, in KiB (the default is 2 MiB): the
/// path and entry indexes of a large catalog stay in memory instead of being re-read from the
/// operating system's cache at every batch. Counted in the process's RSS.
const INGEST_CACHE_KIB: i64 = 32 * 1024;
/// The longest line accepted (borg's are a few hundred bytes; a path is at most 4,096): a
/// runaway line fails instead of growing memory.
const MAX_LINE: u64 = 1 << 20;
/// Entries removed per transaction by `remove_archive`.
const REMOVE_CHUNK: usize = 20_000;
/// PostgreSQL advisory lock key ("CYBC") between ingestion batches (shared) and the deletion of
/// orphaned paths (exclusive). Without it, a path that a batch's `ON CONFLICT DO NOTHING` found
/// existing (which locks nothing) could be deleted as an orphan by `remove_archive` of another
/// archive, committed, before the batch's entry insert joins to it: that entry would silently
/// be missing. SQLite's single writer cannot interleave them.
const PATHS_LOCK: i64 = 0x4359_4243;

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
    let result = match backend {
        DatabaseBackend::Sqlite => {
            let mut conn = db.get_sqlite_connection_pool().acquire().await?;
            // Closed when dropped, never returned to the pool: its ingestion settings (see
            // `sqlite_ingest`) cannot reach another user of the pool, even when the ingestion
            // fails or its future is dropped half-way (a cancelled job).
            conn.close_on_drop();
            sqlite_ingest(&mut conn, archive_id, lines).await
        }
        DatabaseBackend::Postgres => pg_ingest(db, archive_id, lines).await,
        other => bail!("catalog ingestion: unsupported database {other:?}"),
    };
    // The roots are written last: a browser that reads them finds the whole catalog below.
    let result = match result {
        Ok((stats, roots)) => {
            let mut sql = String::from("UPDATE archives SET roots = ");
            placeholder(&mut sql, backend, 1);
            sql.push_str(" WHERE id = ");
            placeholder(&mut sql, backend, 2);
            db.execute(stmt(
                backend,
                &sql,
                vec![roots.join("\n").into(), archive_id.into()],
            ))
            .await
            .map(|_| stats)
            .context("writing the archive's roots")
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(stats) => Ok(stats),
        Err(e) => {
            if let Err(cleanup) = remove_archive(db, archive_id).await {
                tracing::warn!("removing the partial catalog of archive {archive_id}: {cleanup}");
            }
            Err(e)
        }
    }
}

/// The most roots an archive records (borg lists a directory before its contents, so an
/// archive has as many roots as its policy has sources; the cap bounds an odd listing).
pub const MAX_ROOTS: usize = 1000;

/// Reads lines into `batch` until it holds `BATCH_LINES` rows or the input ends.
struct Reader<R> {
    lines: R,
    buf: Vec<u8>,
    /// Items come grouped by directory: the parent's hash is computed once per directory.
    last_parent: String,
    last_parent_hash: i64,
    /// `dir_hash` of every directory item read so far (8 bytes each: memory stays small).
    dirs: HashSet<i64>,
    /// Items whose parent directory is not an item of the archive (see `MAX_ROOTS`).
    roots: Vec<String>,
    line: u64,
    done: bool,
}

impl<R: AsyncBufRead + Unpin> Reader<R> {
    fn new(lines: R) -> Self {
        Self {
            lines,
            buf: Vec::with_capacity(1024),
            last_parent: String::new(),
            last_parent_hash: hash::dir_hash(""),
            dirs: HashSet::new(),
            roots: Vec::new(),
            line: 0,
            done: false,
        }
    }

    async fn fill(&mut self, batch: &mut Vec<Row>) -> anyhow::Result<()> {
        while batch.len() < BATCH_LINES && !self.done {
            self.buf.clear();
            let n = (&mut self.lines)
                .take(MAX_LINE)
                .read_until(b'\n', &mut self.buf)
                .await
                .context("reading the borg list output")?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            let line = self.line;
            if n as u64 == MAX_LINE && self.buf.last() != Some(&b'\n') {
                return Err(ParseError {
                    line,
                    message: format!("longer than {MAX_LINE} bytes"),
                }
                .into());
            }
            let text = std::str::from_utf8(&self.buf).map_err(|e| ParseError {
                line,
                message: format!("not UTF-8: {e}"),
            })?;
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let item = parse_line(text, line)?;
            let parent = hash::parent_of(&item.path);
            if parent != self.last_parent {
                self.last_parent.clear();
                self.last_parent.push_str(parent);
                self.last_parent_hash = hash::dir_hash(parent);
            }
            if !parent.is_empty()
                && !self.dirs.contains(&self.last_parent_hash)
                && self.roots.len() < MAX_ROOTS
            {
                self.roots.push(item.path.clone());
            }
            if item.mode.starts_with('d') {
                self.dirs.insert(hash::dir_hash(&item.path));
            }
            batch.push(Row {
                hash: hash::path_hash(&item.path),
                parent: self.last_parent_hash,
                item,
            });
        }
        Ok(())
    }
}

/// What a writer stored.
#[derive(Clone, Copy, Debug, Default)]
struct Written {
    entries: u64,
    new_paths: u64,
    batches: u64,
}

/// Stores one batch in its own transaction (one per backend, each with its own connection).
trait BatchWriter {
    async fn write(&mut self, batch: &[Row]) -> anyhow::Result<Written>;
}

/// The read-parse / write loop shared by both backends: the input is read and parsed into
/// batches while the writers store the batches before (all futures of one task, polled
/// together; the database works on another thread or process meanwhile). Each free writer takes
/// the next batch, so with several writers (PostgreSQL: one server process each) batches are
/// written side by side. At most `writers + 2` batches are held, whatever the archive's size.
async fn pipeline<R, W>(lines: R, writers: &mut [W]) -> anyhow::Result<(IngestStats, Vec<String>)>
where
    R: AsyncBufRead + Unpin,
    W: BatchWriter,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Row>>(1);
    let rx = tokio::sync::Mutex::new(rx);
    let read = async move {
        let mut reader = Reader::new(lines);
        loop {
            let mut batch = Vec::with_capacity(BATCH_LINES);
            reader.fill(&mut batch).await?;
            // No receiver left means a writer failed: its error is the one reported.
            if batch.is_empty() || tx.send(batch).await.is_err() {
                break;
            }
        }
        anyhow::Ok((reader.line, reader.roots))
    };
    let writes = futures_util::future::try_join_all(writers.iter_mut().map(|w| {
        let rx = &rx;
        async move {
            let mut sum = Written::default();
            loop {
                // Held while waiting: the other writers wait for the batch after this one.
                let batch = rx.lock().await.recv().await;
                let Some(batch) = batch else { break };
                let w = w.write(&batch).await?;
                sum.entries += w.entries;
                sum.new_paths += w.new_paths;
                sum.batches += 1;
            }
            anyhow::Ok(sum)
        }
    }));
    let ((lines, roots), written) = tokio::try_join!(read, writes)?;
    let mut stats = IngestStats {
        lines,
        ..Default::default()
    };
    for w in written {
        stats.entries += w.entries;
        stats.new_paths += w.new_paths;
        stats.batches += w.batches;
    }
    Ok((stats, roots))
}

/// Sorted by key and deduplicated: the paths of a batch in the order they are inserted, so that
/// concurrent ingestions lock in the same order and cannot deadlock.
fn sorted_paths(batch: &[Row]) -> Vec<&Row> {
    let mut paths: Vec<&Row> = batch.iter().collect();
    paths.sort_unstable_by_key(|a| (a.parent, a.hash));
    paths.dedup_by(|a, b| a.hash == b.hash);
    paths
}

async fn sqlite_ingest<R>(
    conn: &mut SqliteConnection,
    archive_id: i32,
    lines: R,
) -> anyhow::Result<(IngestStats, Vec<String>)>
where
    R: AsyncBufRead + Unpin,
{
    // A large page cache, and no foreign-key checks: every entry row would otherwise look up
    // its archive and its path by primary key, a quarter of SQLite's work. Both references are
    // guaranteed otherwise: `path_id` comes from the join with `catalog_paths` in the same
    // statement, and every batch checks, after its inserts (when it holds SQLite's write lock,
    // so no other connection can delete the archive before it commits), that the archive still
    // exists. The connection is closed afterwards (see `ingest`).
    // No memory map either (the pool's connections read through one, see db::connect): on this
    // write-heavy connection it made ingestion slower (58k instead of ~100k entries/s) and put
    // every page touched into the process's RSS.
    sqlx::raw_sql(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{INGEST_CACHE_KIB}; PRAGMA mmap_size = 0"
    ))
    .execute(&mut *conn)
    .await?;
    // SQLite has one writer at a time: a second writer would only wait for the lock.
    let mut writers = [SqliteWriter {
        conn,
        archive_id,
        sql: SqliteSql::default(),
    }];
    pipeline(lines, &mut writers).await
}

struct SqliteWriter<'c> {
    conn: &'c mut SqliteConnection,
    archive_id: i32,
    sql: SqliteSql,
}

impl BatchWriter for SqliteWriter<'_> {
    async fn write(&mut self, batch: &[Row]) -> anyhow::Result<Written> {
        let (archive_id, sql) = (self.archive_id, &mut self.sql);
        let mut txn = self.conn.begin().await?;
        let mut written = Written::default();
        for chunk in sorted_paths(batch).chunks(SQLITE_CHUNK) {
            let mut q = sqlx::query(sql.paths(chunk.len()));
            for r in padded(chunk) {
                q = q
                    .bind(r.item.path.as_str())
                    .bind(&r.hash[..])
                    .bind(r.parent);
            }
            written.new_paths += q.execute(&mut *txn).await?.rows_affected();
        }
        let rows: Vec<&Row> = batch.iter().collect();
        for chunk in rows.chunks(SQLITE_CHUNK) {
            let mut q = sqlx::query(sql.entries(chunk.len())).bind(archive_id);
            for r in padded(chunk) {
                let i = &r.item;
                q = q
                    .bind(&r.hash[..])
                    .bind(r.parent)
                    .bind(i.mode.as_str())
                    .bind(i.mtime)
                    .bind(i.user.as_str())
                    .bind(i.group.as_str())
                    .bind(i.size)
                    .bind(i.healthy);
            }
            written.entries += q.execute(&mut *txn).await?.rows_affected();
        }
        let archive = sqlx::query("SELECT 1 FROM archives WHERE id = ?")
            .bind(archive_id)
            .fetch_optional(&mut *txn)
            .await?;
        if archive.is_none() {
            bail!("catalog ingestion: archive {archive_id} was deleted meanwhile");
        }
        if written.new_paths > 0 {
            sqlx::query(search_index::BUMP_VERSION)
                .execute(&mut *txn)
                .await?;
        }
        txn.commit().await?;
        Ok(written)
    }
}

/// The SQL texts of the SQLite statements, one a padded row count, built once an ingestion.
#[derive(Default)]
struct SqliteSql {
    paths: HashMap<usize, String>,
    entries: HashMap<usize, String>,
}

impl SqliteSql {
    fn paths(&mut self, rows: usize) -> &str {
        let n = rows.next_power_of_two();
        self.paths.entry(n).or_insert_with(|| {
            let mut sql = String::with_capacity(n * 8 + 128);
            sql.push_str("INSERT INTO catalog_paths (path, path_hash, parent_hash) VALUES ");
            for i in 0..n {
                sql.push_str(if i > 0 { ",(?,?,?)" } else { "(?,?,?)" });
            }
            sql.push_str(" ON CONFLICT (parent_hash, path_hash) DO NOTHING");
            sql
        })
    }

    fn entries(&mut self, rows: usize) -> &str {
        let n = rows.next_power_of_two();
        self.entries.entry(n).or_insert_with(|| {
            let mut sql = String::with_capacity(n * 18 + 512);
            sql.push_str(
                "INSERT INTO catalog_entries \
                 (archive_id, path_id, mode, mtime, owner, \"group\", size, healthy) \
                 SELECT ?, p.id, v.column3, v.column4, v.column5, v.column6, v.column7, \
                 v.column8 FROM (VALUES ",
            );
            for i in 0..n {
                sql.push_str(if i > 0 {
                    ",(?,?,?,?,?,?,?,?)"
                } else {
                    "(?,?,?,?,?,?,?,?)"
                });
            }
            // CROSS JOIN fixes SQLite's join order (VALUES first, then the path index); the
            // WHERE also keeps SQLite's INSERT … SELECT … ON CONFLICT unambiguous. borg can list
            // a path twice (overlapping sources): the first one wins.
            sql.push_str(
                ") AS v CROSS JOIN catalog_paths p \
                 WHERE p.parent_hash = v.column2 AND p.path_hash = v.column1 \
                 ON CONFLICT (archive_id, path_id) DO NOTHING",
            );
            sql
        })
    }
}

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

async fn pg_ingest<R>(
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

/// One item of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub id: i64,
    pub path: String,
    pub mode: String,
    pub size: i64,
    pub owner: String,
    pub group: String,
    pub mtime: Option<chrono::DateTime<chrono::Utc>>,
    pub healthy: bool,
}

/// The items directly inside `dir` (`""` for the top level) in one archive, by path: an index
/// range of the `(parent_hash, path_hash)` index, with the parent re-checked so a hash collision
/// cannot leak in.
pub async fn browse(
    db: &DatabaseConnection,
    archive_id: i32,
    dir: &str,
    after: &str,
    limit: usize,
) -> anyhow::Result<(Vec<DirEntry>, Option<String>)> {
    let backend = db.get_database_backend();
    let dir = dir.trim_end_matches('/');
    // CROSS JOIN: SQLite must start from the directory's paths, not the archive's entries.
    let mut sql = String::from(
        "SELECT e.id, p.path, e.mode, e.size, e.owner, e.\"group\", e.mtime, e.healthy \
         FROM catalog_paths p CROSS JOIN catalog_entries e WHERE p.parent_hash = ",
    );
    placeholder(&mut sql, backend, 1);
    sql.push_str(" AND e.path_id = p.id AND e.archive_id = ");
    placeholder(&mut sql, backend, 2);
    sql.push_str(" AND p.path > ");
    placeholder(&mut sql, backend, 3);
    sql.push_str(&format!(" ORDER BY p.path LIMIT {}", limit + 1));
    let values = vec![
        hash::dir_hash(dir).into(),
        archive_id.into(),
        after.to_string().into(),
    ];
    let mut rows = db.query_all(stmt(backend, &sql, values)).await?;
    // One row more than a page says whether there is a next page, which starts after the
    // page's last row (a path whose hash only collides with the directory's counts too).
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|r| r.try_get_by_index::<String>(1))
            .transpose()?
    } else {
        None
    };
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
            owner: row.try_get_by_index(4)?,
            group: row.try_get_by_index(5)?,
            mtime: row.try_get_by_index(6)?,
            healthy: row.try_get_by_index(7)?,
        });
    }
    Ok((out, next))
}
