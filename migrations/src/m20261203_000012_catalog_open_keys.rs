//! The open versions of a lineage read without touching `catalog_paths`: each version keeps the
//! first 12 bytes of its path's SHA-256 (`path_key`, the key ingestion compares a listing by),
//! so loading them is a range of the `(lineage_id, last_seq)` index and their rows, instead of
//! one random probe into the paths a version (docs/PERFORMANCE.md). A wider index covering the
//! load was measured and left out: every new or closed version then moved an entry at a random
//! place of it, and ingestion got slower than the probes it saved.
use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            DatabaseBackend::Postgres => &[
                "ALTER TABLE catalog_versions ADD COLUMN path_key BYTEA",
                "UPDATE catalog_versions v SET path_key = substring(p.path_hash from 1 for 12) \
                 FROM catalog_paths p WHERE p.id = v.path_id",
            ],
            _ => &[
                "ALTER TABLE catalog_versions ADD COLUMN path_key BLOB",
                "UPDATE catalog_versions SET path_key = (SELECT substr(p.path_hash, 1, 12) \
                 FROM catalog_paths p WHERE p.id = catalog_versions.path_id)",
            ],
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE catalog_versions DROP COLUMN path_key")
            .await?;
        Ok(())
    }
}
