//! The catalog: every archived file, stored as file versions (docs/CATALOG.md).
//!
//! Storage: every distinct path is one `catalog_paths` row (unique on the 64-bit hash of its
//! parent directory and the SHA-256 of the path: siblings sit together for browsing, and no
//! btree limit applies to long paths). The archives of one (repository, policy, client) form a
//! lineage, each catalogued archive at a position `lineage_seq` in it; a `catalog_versions` row
//! is one state of one path (mode, mtime, owner, group, size, healthy), true in the archives of
//! its lineage from `first_seq` to `last_seq` (`OPEN` while current). The view
//! `catalog_entries` lists the (archive, version) pairs with the columns of one entry per file
//! and archive, `id = entry_id(archive, path)`.
//!
//! Ingestion of archive `n` of a lineage whose head is `h` compares the listing with the
//! lineage's open versions (`OpenSet`): an unchanged file costs a parse, a hash and a lookup;
//! a new or changed file is a new version (`first_seq = n`), and the open version of a changed
//! or vanished file is closed (`last_seq = h`). `BATCH_LINES` written rows per transaction;
//! memory stays flat apart from the open set (24 bytes a version). The archive becomes visible
//! only at the end, when one small transaction moves the lineage's head to `n` and points the
//! archive at it (`lineage::commit`): until then the batches are invisible (no archive has
//! `n`; a version closed at `h` still covers `h`), and an ingestion that fails or is killed is
//! undone by `lineage::recover` before the lineage is next written.
//!
//! Speed (docs/PERFORMANCE.md): ingestion uses dedicated connections of the pool, bypassing the
//! ORM's value boxing; parsing the next batch overlaps with the database writing the current
//! one (SQLite works on its own thread, PostgreSQL in its server processes).
//! - SQLite: multi-row statements of at most `SQLITE_CHUNK` rows; the dedicated connection has
//!   a large page cache (`INGEST_CACHE_KIB`), and is closed afterwards instead of going back to
//!   the pool.
//! - PostgreSQL: one `INSERT … SELECT … FROM unnest($1::text[], …)` statement per table and
//!   batch (array binds, no placeholder limit, one prepared statement); `PG_WRITERS`
//!   connections write batches side by side; the batches commit with `synchronous_commit =
//!   off` and the archive's commit is synchronous, which flushes all the WAL before it.
mod browse;
pub mod hash;
mod history;
mod lineage;
pub mod open_set;
pub mod parse;
mod postgres;
mod remove;
pub mod search_index;
mod sqlite;

use std::collections::HashSet;

use anyhow::{Context, bail};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement, Value,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::entities::archive;
pub use browse::{DirEntry, browse};
pub use history::{HistoryFilter, HistoryVersion, history};
use open_set::{Key, LOAD_BATCH, OpenSet, Seen};
pub use parse::{Item, ParseError, parse_line};
pub use remove::{RemoveStats, remove_archive};

/// Rows (new versions, or closed ones) written per transaction.
pub const BATCH_LINES: usize = 20_000;
/// The longest line accepted (borg's are a few hundred bytes; a path is at most 4,096): a
/// runaway line fails instead of growing memory.
const MAX_LINE: u64 = 1 << 20;
/// PostgreSQL advisory lock key ("CYBC") between ingestion batches (shared) and the deletion of
/// orphaned paths (exclusive). Without it, a path that a batch's `ON CONFLICT DO NOTHING` found
/// existing (which locks nothing) could be deleted as an orphan by `remove_archive` of another
/// archive, committed, before the batch's version insert joins to it: that version would
/// silently be missing. SQLite's single writer cannot interleave them.
const PATHS_LOCK: i64 = 0x4359_4243;
/// `last_seq` of a version that is current in its lineage's newest archive.
pub const OPEN: i32 = i32::MAX;
/// Entry ids are `archive_id << PATH_BITS | path_id`: below 2^53 (exact in JSON) while archive
/// ids stay below 2^24 and path ids below 2^29. Ingestion refuses to go past either.
const PATH_BITS: u32 = 29;
const MAX_ARCHIVE_ID: i64 = 1 << (53 - PATH_BITS);
const MAX_PATH_ID: i64 = 1 << PATH_BITS;

/// The catalog entry id of `path_id` in `archive_id`: stable for as long as the archive is
/// catalogued, whatever else is pruned or added.
pub fn entry_id(archive_id: i32, path_id: i64) -> i64 {
    (i64::from(archive_id) << PATH_BITS) | path_id
}

/// The archive and path of an entry id (`None` for ids no entry can have).
pub fn split_entry_id(id: i64) -> Option<(i32, i64)> {
    if !(0..(MAX_ARCHIVE_ID << PATH_BITS)).contains(&id) {
        return None;
    }
    let archive = i32::try_from(id >> PATH_BITS).ok()?;
    Some((archive, id & (MAX_PATH_ID - 1)))
}

/// The condition that finds entry `id` in the `catalog_entries` view by its archive and path
/// (which the database answers from indexes; the view's `id` column is computed).
pub fn entry_condition(id: i64) -> sea_orm::Condition {
    use crate::entities::catalog_entry::Column;
    use sea_orm::ColumnTrait;
    match split_entry_id(id) {
        Some((archive, path)) => sea_orm::Condition::all()
            .add(Column::ArchiveId.eq(archive))
            .add(Column::PathId.eq(path)),
        None => sea_orm::Condition::all().add(sea_orm::sea_query::Expr::val(1).eq(0)),
    }
}

/// 64 bits of xxh3 over the attributes a version keeps (never 0, which marks "unknown"). Stable
/// across releases: stored in `catalog_versions.fp`.
pub fn fingerprint(item: &Item<'_>) -> u64 {
    let mut buf = [0u8; 600];
    let mut n = 0;
    let mut put = |b: &[u8]| {
        buf[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    };
    put(item.mode.as_bytes());
    put(&[0]);
    match item.mtime {
        Some(t) => {
            put(&[1]);
            put(&t.timestamp_micros().to_le_bytes());
        }
        None => put(&[0]),
    }
    put(item.user.as_bytes());
    put(&[0]);
    put(item.group.as_bytes());
    put(&[0]);
    put(&item.size.to_le_bytes());
    put(&[u8::from(item.healthy)]);
    xxhash_rust::xxh3::xxh3_64(&buf[..n]).max(1)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Items in the archive's catalog (a path borg lists twice counts once).
    pub entries: u64,
    /// File versions written: new and changed files.
    pub versions: u64,
    /// Versions closed: changed and vanished files.
    pub closed: u64,
    /// Paths the catalog did not hold before.
    pub new_paths: u64,
    /// Transactions committed.
    pub batches: u64,
    /// The lineage's open versions the listing was compared with, and the time taken to load
    /// them (µs).
    pub open_versions: u64,
    pub load_micros: u64,
    /// The time from the first line to the last batch written (µs).
    pub stream_micros: u64,
}

/// One new version to write.
struct Row {
    item: Item<'static>,
    hash: [u8; 32],
    parent: i64,
    fp: u64,
}

/// What one transaction writes.
#[derive(Default)]
struct Batch {
    rows: Vec<Row>,
    /// Path ids whose open version closes.
    close: Vec<i64>,
}

/// Where an ingestion writes: archive `n` of `lineage`, whose head is `n - 1`.
#[derive(Clone, Copy, Debug)]
struct Target {
    lineage: i32,
    n: i32,
}

/// An ingestion written but not yet visible: `commit` makes the archive's catalog visible,
/// `abort` undoes it (dropping it leaves the undoing to the next ingestion of the lineage;
/// readers see nothing of it either way). Holds the repository's catalog lock until then.
pub struct Staged {
    db: DatabaseConnection,
    archive: archive::Model,
    target: Target,
    roots: Vec<String>,
    stats: IngestStats,
    lock: Option<lineage::RepoLock>,
}

impl Staged {
    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    /// Makes the archive's catalog visible (one small transaction), then deletes the versions
    /// that no remaining archive covers any more (when the previous head had been pruned).
    pub async fn commit(mut self) -> anyhow::Result<IngestStats> {
        let result = lineage::commit(
            &self.db,
            &self.archive,
            self.target,
            &self.roots,
            self.stats.entries,
        )
        .await;
        if let Err(e) = result {
            self.undo().await;
            return Err(e);
        }
        let cleanup = lineage::after_commit(&self.db, self.target).await;
        self.release().await;
        cleanup.context("deleting versions no archive covers")?;
        Ok(self.stats)
    }

    /// Undoes the ingestion: the catalog is as it was before it.
    pub async fn abort(mut self) {
        self.undo().await;
        self.release().await;
    }

    async fn undo(&mut self) {
        let undone = match lineage::recover_target(&self.db, self.target).await {
            Ok(()) => lineage::sweep_uncommitted(&self.db, self.archive.repository_id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = undone {
            // The next ingestion of the lineage retries (`lineage::for_archive`); readers are
            // not affected (no committed archive covers what was written).
            tracing::warn!(
                "undoing the catalog ingestion of archive {}: {e:#}",
                self.archive.id
            );
        }
    }

    async fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }
}

/// Streams `borg list --json-lines` output into the catalog of `archive_id` and makes it
/// visible, replacing what the archive had. A malformed line fails the whole ingestion with its
/// line number, and the catalog is left as it was: an archive is catalogued completely or not
/// at all.
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
    ingest_staged(db, archive_id, lines).await?.commit().await
}

/// `ingest` without the final step: the caller commits once it knows the listing is complete
/// (borg exited successfully), or aborts.
pub async fn ingest_staged<R>(
    db: &DatabaseConnection,
    archive_id: i32,
    lines: R,
) -> anyhow::Result<Staged>
where
    R: AsyncBufRead + Unpin,
{
    let Some(archive) = archive::Entity::find_by_id(archive_id).one(db).await? else {
        bail!("catalog ingestion: archive {archive_id} does not exist");
    };
    if i64::from(archive_id) >= MAX_ARCHIVE_ID {
        bail!(
            "catalog ingestion: archive id {archive_id} is past the catalog's limit of \
             {MAX_ARCHIVE_ID} archives (entry ids would not stay below 2^53)"
        );
    }
    let lock = lineage::RepoLock::acquire(db, archive.repository_id).await?;
    let mut staged = Staged {
        db: db.clone(),
        archive,
        target: Target { lineage: 0, n: 0 },
        roots: Vec::new(),
        stats: IngestStats::default(),
        lock: Some(lock),
    };
    match stage(&mut staged, lines).await {
        Ok(()) => Ok(staged),
        Err(e) => {
            if staged.target.lineage != 0 {
                staged.undo().await;
            }
            staged.release().await;
            Err(e)
        }
    }
}

async fn stage<R>(staged: &mut Staged, lines: R) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    let db = &staged.db;
    if staged.archive.lineage_id.is_some() {
        remove::remove_locked(db, &staged.archive)
            .await
            .context("clearing the archive's previous catalog")?;
        staged.archive.lineage_id = None;
        staged.archive.lineage_seq = None;
    }
    let target = lineage::for_archive(db, &staged.archive).await?;
    staged.target = target;
    let (stats, roots) = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let mut conn = db.get_sqlite_connection_pool().acquire().await?;
            // Closed when dropped, never returned to the pool: its ingestion settings (see
            // `sqlite_ingest`) cannot reach another user of the pool, even when the ingestion
            // fails or its future is dropped half-way (a cancelled job).
            conn.close_on_drop();
            sqlite::sqlite_ingest(&mut conn, target, lines).await?
        }
        DatabaseBackend::Postgres => postgres::pg_ingest(db, target, lines).await?,
        other => bail!("catalog ingestion: unsupported database {other:?}"),
    };
    staged.stats = stats;
    staged.roots = roots;
    Ok(())
}

/// The most roots an archive records (borg lists a directory before its contents, so an
/// archive has as many roots as its policy has sources; the cap bounds an odd listing).
pub const MAX_ROOTS: usize = 1000;

/// Reads the listing, compares each item with the lineage's open versions, and fills batches
/// of what must be written.
struct Reader<R> {
    lines: R,
    buf: Vec<u8>,
    open: OpenSet,
    /// Items come grouped by directory: the parent's hash is computed once per directory.
    last_parent: String,
    last_parent_hash: i64,
    /// `dir_hash` of every directory item read so far (8 bytes each: memory stays small).
    dirs: HashSet<i64>,
    /// Items whose parent directory is not an item of the archive (see `MAX_ROOTS`).
    roots: Vec<String>,
    line: u64,
    /// Items equal to their open version (each path once).
    unchanged: u64,
    done: bool,
    vanished_sent: bool,
    /// Path ids of vanished files not yet sent.
    pending_vanished: Vec<i64>,
}

impl<R: AsyncBufRead + Unpin> Reader<R> {
    fn new(lines: R, open: OpenSet) -> Self {
        Self {
            lines,
            buf: Vec::with_capacity(1024),
            open,
            last_parent: String::new(),
            last_parent_hash: hash::dir_hash(""),
            dirs: HashSet::new(),
            roots: Vec::new(),
            line: 0,
            unchanged: 0,
            done: false,
            vanished_sent: false,
            pending_vanished: Vec::new(),
        }
    }

    /// Fills `batch` until it holds `BATCH_LINES` rows or closes, or the input ends; after the
    /// end, the batches that close the versions of the files the listing did not name.
    async fn fill(&mut self, batch: &mut Batch) -> anyhow::Result<()> {
        while batch.rows.len() < BATCH_LINES && batch.close.len() < BATCH_LINES && !self.done {
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
                self.roots.push(item.path.to_string());
            }
            if item.mode.starts_with('d') {
                self.dirs.insert(hash::dir_hash(&item.path));
            }
            let path_hash = hash::path_hash(&item.path);
            let fp = fingerprint(&item);
            match self.open.see(Key::of(&path_hash), fp) {
                Seen::Unchanged { first } => {
                    self.unchanged += u64::from(first);
                    continue;
                }
                Seen::Changed { path_id, close } => {
                    if close {
                        batch.close.push(path_id);
                    }
                }
                Seen::New => {}
            }
            batch.rows.push(Row {
                item: item.into_owned(),
                hash: path_hash,
                parent: self.last_parent_hash,
                fp,
            });
        }
        if self.done && !self.vanished_sent && batch.rows.is_empty() {
            // Everything read: what the listing did not name vanished. Sent once, in batches
            // of at most `BATCH_LINES` (the set is dropped after).
            let open = std::mem::replace(&mut self.open, OpenSet::with_capacity(0));
            let vanished: Vec<i64> = open.unseen().collect();
            drop(open);
            self.vanished_sent = true;
            self.pending_vanished = vanished;
        }
        if batch.rows.is_empty() && batch.close.len() < BATCH_LINES {
            let room = BATCH_LINES - batch.close.len();
            let take = room.min(self.pending_vanished.len());
            let rest = self
                .pending_vanished
                .split_off(self.pending_vanished.len() - take);
            batch.close.extend(rest);
        }
        Ok(())
    }
}

/// What a writer stored.
#[derive(Clone, Copy, Debug, Default)]
struct Written {
    versions: u64,
    closed: u64,
    new_paths: u64,
    batches: u64,
}

/// Stores one batch in its own transaction (one per backend, each with its own connection).
trait BatchWriter {
    async fn write(&mut self, batch: &Batch) -> anyhow::Result<Written>;
}

/// The read-compare / write loop shared by both backends: the input is read and compared into
/// batches while the writers store the batches before (all futures of one task, polled
/// together; the database works on another thread or process meanwhile). Each free writer takes
/// the next batch, so with several writers (PostgreSQL: one server process each) batches are
/// written side by side. At most `writers + 2` batches are held, whatever the archive's size.
async fn pipeline<R, W>(
    lines: R,
    open: OpenSet,
    writers: &mut [W],
) -> anyhow::Result<(IngestStats, Vec<String>)>
where
    R: AsyncBufRead + Unpin,
    W: BatchWriter,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(1);
    let rx = tokio::sync::Mutex::new(rx);
    let read = async move {
        let mut reader = Reader::new(lines, open);
        loop {
            let mut batch = Batch {
                rows: Vec::with_capacity(BATCH_LINES.min(1024)),
                close: Vec::new(),
            };
            reader.fill(&mut batch).await?;
            // No receiver left means a writer failed: its error is the one reported.
            if (batch.rows.is_empty() && batch.close.is_empty()) || tx.send(batch).await.is_err() {
                break;
            }
        }
        anyhow::Ok((reader.line, reader.unchanged, reader.roots))
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
                sum.versions += w.versions;
                sum.closed += w.closed;
                sum.new_paths += w.new_paths;
                sum.batches += 1;
            }
            anyhow::Ok(sum)
        }
    }));
    let ((lines, unchanged, roots), written) = tokio::try_join!(read, writes)?;
    let mut stats = IngestStats {
        lines,
        entries: unchanged,
        ..Default::default()
    };
    for w in written {
        stats.entries += w.versions;
        stats.versions += w.versions;
        stats.closed += w.closed;
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
    // Numbered on both backends, so a statement can use one value twice.
    let _ = match backend {
        DatabaseBackend::Postgres => write!(sql, "${n}"),
        _ => write!(sql, "?{n}"),
    };
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
