//! Connecting to SQLite or PostgreSQL and applying the migrations.
use std::time::Duration;

use anyhow::Context;
use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

/// SQLite's memory-map size (its compile-time ceiling, SQLITE_MAX_MMAP_SIZE, is 0x7fff0000).
const MMAP_BYTES: i64 = 0x7fff_0000;

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time in SQLite: a small pool with a long busy timeout beats "database is
        // locked"; the pragmas are per connection, so they go into every connection's options.
        // Reads go through a memory map of the file (SQLite caps it at 2 GiB): a page then costs
        // a memory access instead of a read() call, and the pages are the operating system's
        // shared file cache, not a private copy per connection (catalog searches follow
        // thousands of entries by index; docs/PERFORMANCE.md). The catalog ingestion's own
        // connection turns it off.
        options
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .pragma("mmap_size", MMAP_BYTES.to_string())
            });
    } else {
        options.max_connections(16).min_connections(1);
    }
    let db = Database::connect(options)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("applying database migrations")
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
