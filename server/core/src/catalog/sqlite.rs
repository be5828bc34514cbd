//! Ingestion into SQLite: one dedicated connection with a large page cache, multi-row
//! statements of at most `SQLITE_CHUNK` rows.
use std::collections::HashMap;

use sea_orm::sqlx::{self, Connection as _, SqliteConnection};
use tokio::io::AsyncBufRead;

use super::{
    Batch, BatchWriter, IngestStats, Key, LOAD_BATCH, OPEN, OpenSet, Row, Target, Written, padded,
    pipeline, search_index, sorted_paths,
};

/// Rows per multi-row SQLite ingestion statement (9 bound values a row: 18,432 values, below
/// SQLite's 32,766 limit); a power of two (see `padded`).
const SQLITE_CHUNK: usize = 2048;
/// Page cache of the SQLite connection while it ingests, in KiB (the default is 2 MiB): the
/// path and version indexes of a large catalog stay in memory instead of being re-read from the
/// operating system's cache at every batch. Counted in the process's RSS.
const INGEST_CACHE_KIB: i64 = 32 * 1024;

pub(super) async fn sqlite_ingest<R>(
    conn: &mut SqliteConnection,
    target: Target,
    lines: R,
) -> anyhow::Result<(IngestStats, Vec<String>)>
where
    R: AsyncBufRead + Unpin,
{
    // A large page cache, and no foreign-key checks (the versions have none; the paths' ids
    // come from the join in the same statement). The connection is closed afterwards (see
    // `ingest_staged`). No memory map either (the pool's connections read through one, see
    // db::connect): on this write-heavy connection it made ingestion slower and put every page
    // touched into the process's RSS.
    sqlx::raw_sql(&format!(
        "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{INGEST_CACHE_KIB}; PRAGMA mmap_size = 0"
    ))
    .execute(&mut *conn)
    .await?;
    let t = std::time::Instant::now();
    let open = load_open(conn, target.lineage).await?;
    let (open_versions, load_micros) = (open.len() as u64, t.elapsed().as_micros() as u64);
    // SQLite has one writer at a time: a second writer would only wait for the lock.
    let mut writers = [SqliteWriter {
        conn,
        target,
        sql: SqliteSql::default(),
    }];
    let t = std::time::Instant::now();
    let (mut stats, roots) = pipeline(lines, open, &mut writers).await?;
    stats.open_versions = open_versions;
    stats.load_micros = load_micros;
    stats.stream_micros = t.elapsed().as_micros() as u64;
    Ok((stats, roots))
}

/// The lineage's open versions, keyed by their path's hash.
///
/// Read through SQLite's C API on the connection's own handle: sqlx would send each of the
/// million rows as a message from its worker thread (3.2 s for 1,000,000 versions, against
/// about a tenth of that stepping the statement here; docs/PERFORMANCE.md).
async fn load_open(conn: &mut SqliteConnection, lineage: i32) -> anyhow::Result<OpenSet> {
    let count: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM catalog_versions WHERE lineage_id = ? AND last_seq = {OPEN}"
    ))
    .bind(lineage)
    .fetch_one(&mut *conn)
    .await?;
    let mut open = OpenSet::with_capacity(usize::try_from(count).unwrap_or(0));
    let sql = format!(
        "SELECT path_id, path_key, fp FROM catalog_versions \
         WHERE lineage_id = ? AND last_seq = {OPEN}"
    );
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is the open connection's, locked for this task (sqlx's worker runs
    // nothing on it meanwhile), and `raw::each_row` finalizes its statement before returning.
    unsafe {
        raw::each_row(
            handle.as_raw_handle().as_ptr(),
            &sql,
            lineage,
            |path_id, hash, fp| {
                anyhow::ensure!(
                    hash.len() >= 12 && open.len() + batch.len() < count as usize,
                    "unexpected open version of path {path_id}"
                );
                batch.push((Key::of(hash), path_id, fp as u64));
                if batch.len() == LOAD_BATCH {
                    open.insert_batch(&mut batch);
                }
                Ok(())
            },
        )?;
    }
    open.insert_batch(&mut batch);
    Ok(open)
}

/// The few calls of SQLite's C API that `load_open` makes.
mod raw {
    use std::{
        ffi::{CStr, c_char, c_int},
        ptr,
    };

    use libsqlite3_sys as ffi;

    struct Statement(*mut ffi::sqlite3_stmt);

    impl Drop for Statement {
        fn drop(&mut self) {
            // SAFETY: a statement prepared by `each_row`, finalized once.
            unsafe {
                ffi::sqlite3_finalize(self.0);
            }
        }
    }

    /// SAFETY: `db` must be an open connection that nothing else uses during the call.
    unsafe fn error(db: *mut ffi::sqlite3, what: &str) -> anyhow::Error {
        // SAFETY: sqlite3_errmsg answers a NUL-terminated string owned by the connection.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
        anyhow::anyhow!("{what}: {}", msg.to_string_lossy())
    }

    /// Runs `sql` (one `?`, bound to `param`) and calls `row` with each row's integer, blob and
    /// integer columns.
    ///
    /// SAFETY: `db` must be an open connection that nothing else uses during the call.
    pub unsafe fn each_row(
        db: *mut ffi::sqlite3,
        sql: &str,
        param: i32,
        mut row: impl FnMut(i64, &[u8], i64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut stmt = ptr::null_mut();
        let len = c_int::try_from(sql.len())?;
        // SAFETY: `sql` outlives the call; SQLite copies what it keeps.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr() as *const c_char,
                len,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: as the caller promised.
            return Err(unsafe { error(db, "preparing the open versions") });
        }
        let stmt = Statement(stmt);
        // SAFETY: a valid statement with one parameter.
        if unsafe { ffi::sqlite3_bind_int(stmt.0, 1, param) } != ffi::SQLITE_OK {
            // SAFETY: as the caller promised.
            return Err(unsafe { error(db, "binding the lineage") });
        }
        loop {
            // SAFETY: a valid statement; the column values are read before the next step.
            match unsafe { ffi::sqlite3_step(stmt.0) } {
                ffi::SQLITE_ROW => unsafe {
                    let a = ffi::sqlite3_column_int64(stmt.0, 0);
                    let data = ffi::sqlite3_column_blob(stmt.0, 1) as *const u8;
                    let n = usize::try_from(ffi::sqlite3_column_bytes(stmt.0, 1)).unwrap_or(0);
                    let blob: &[u8] = if data.is_null() {
                        &[]
                    } else {
                        std::slice::from_raw_parts(data, n)
                    };
                    let c = ffi::sqlite3_column_int64(stmt.0, 2);
                    row(a, blob, c)?;
                },
                ffi::SQLITE_DONE => return Ok(()),
                // SAFETY: as the caller promised.
                _ => return Err(unsafe { error(db, "reading the open versions") }),
            }
        }
    }
}

struct SqliteWriter<'c> {
    conn: &'c mut SqliteConnection,
    target: Target,
    sql: SqliteSql,
}

impl BatchWriter for SqliteWriter<'_> {
    async fn write(&mut self, batch: &Batch) -> anyhow::Result<Written> {
        let (target, sql) = (self.target, &mut self.sql);
        let mut txn = self.conn.begin().await?;
        let mut written = Written::default();
        if !batch.close.is_empty() {
            // Only versions opened before this ingestion: a changed file's new version, written
            // in the same or an earlier batch, stays open.
            let ids = serde_json::to_string(&batch.close)?;
            written.closed = sqlx::query(&format!(
                "UPDATE catalog_versions SET last_seq = ?1 WHERE lineage_id = ?2 \
                 AND last_seq = {OPEN} AND first_seq <= ?1 \
                 AND path_id IN (SELECT value FROM json_each(?3))"
            ))
            .bind(target.n - 1)
            .bind(target.lineage)
            .bind(ids)
            .execute(&mut *txn)
            .await?
            .rows_affected();
        }
        for chunk in sorted_paths(&batch.rows).chunks(SQLITE_CHUNK) {
            let mut q = sqlx::query(sql.paths(chunk.len()));
            for r in padded(chunk) {
                q = q
                    .bind(r.item.path.as_ref())
                    .bind(&r.hash[..])
                    .bind(r.parent);
            }
            written.new_paths += q.execute(&mut *txn).await?.rows_affected();
        }
        let rows: Vec<&Row> = batch.rows.iter().collect();
        for chunk in rows.chunks(SQLITE_CHUNK) {
            let mut q = sqlx::query(sql.versions(chunk.len()))
                .bind(target.lineage)
                .bind(target.n);
            for r in padded(chunk) {
                let i = &r.item;
                q = q
                    .bind(&r.hash[..])
                    .bind(r.parent)
                    .bind(i.mode.as_ref())
                    .bind(i.mtime)
                    .bind(i.user.as_ref())
                    .bind(i.group.as_ref())
                    .bind(i.size)
                    .bind(i.healthy)
                    .bind(r.fp as i64);
            }
            written.versions += q.execute(&mut *txn).await?.rows_affected();
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
    versions: HashMap<usize, String>,
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

    fn versions(&mut self, rows: usize) -> &str {
        let n = rows.next_power_of_two();
        self.versions.entry(n).or_insert_with(|| {
            let mut sql = String::with_capacity(n * 20 + 512);
            sql.push_str(&format!(
                "INSERT INTO catalog_versions \
                 (lineage_id, path_id, first_seq, last_seq, mode, mtime, owner, \"group\", size, \
                 healthy, fp, path_key) \
                 SELECT ?, p.id, ?, {OPEN}, v.column3, v.column4, v.column5, v.column6, \
                 v.column7, v.column8, v.column9, substr(v.column1, 1, 12) FROM (VALUES "
            ));
            for i in 0..n {
                sql.push_str(if i > 0 {
                    ",(?,?,?,?,?,?,?,?,?)"
                } else {
                    "(?,?,?,?,?,?,?,?,?)"
                });
            }
            // CROSS JOIN fixes SQLite's join order (VALUES first, then the path index); the
            // WHERE also keeps SQLite's INSERT … SELECT … ON CONFLICT unambiguous. borg can list
            // a path twice (overlapping sources): the first one wins.
            sql.push_str(
                ") AS v CROSS JOIN catalog_paths p \
                 WHERE p.parent_hash = v.column2 AND p.path_hash = v.column1 \
                 ON CONFLICT (lineage_id, path_id, first_seq) DO NOTHING",
            );
            sql
        })
    }
}
