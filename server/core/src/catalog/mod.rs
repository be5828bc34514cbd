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
mod browse;
pub mod hash;
pub mod parse;
mod postgres;
mod remove;
pub mod search_index;
mod sqlite;

use std::collections::HashSet;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

pub use browse::{DirEntry, browse};
pub use parse::{Item, ParseError, parse_line};
pub use remove::{RemoveStats, remove_archive};

/// Lines written per transaction.
pub const BATCH_LINES: usize = 20_000;
/// The longest line accepted (borg's are a few hundred bytes; a path is at most 4,096): a
/// runaway line fails instead of growing memory.
const MAX_LINE: u64 = 1 << 20;
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
            sqlite::sqlite_ingest(&mut conn, archive_id, lines).await
        }
        DatabaseBackend::Postgres => postgres::pg_ingest(db, archive_id, lines).await,
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
