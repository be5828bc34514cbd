//! Ingestion into SQLite: one dedicated connection with a large page cache, multi-row
//! statements of at most `SQLITE_CHUNK` rows.
use std::collections::HashMap;

use anyhow::bail;
use sea_orm::sqlx::{self, Connection as _, SqliteConnection};
use tokio::io::AsyncBufRead;

use super::{BatchWriter, IngestStats, Row, Written, padded, pipeline, search_index, sorted_paths};

/// Rows per multi-row SQLite ingestion statement (8 bound values a row: 16,384 values, half of
/// SQLite's 32,766 limit); a power of two (see `padded`).
const SQLITE_CHUNK: usize = 2048;
/// Page cache of the SQLite connection while it ingests, in KiB (the default is 2 MiB): the
/// path and entry indexes of a large catalog stay in memory instead of being re-read from the
/// operating system's cache at every batch. Counted in the process's RSS.
const INGEST_CACHE_KIB: i64 = 32 * 1024;

pub(super) async fn sqlite_ingest<R>(
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
