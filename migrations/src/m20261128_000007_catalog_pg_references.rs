//! PostgreSQL only: the catalog entries' two foreign keys replaced by cheaper guarantees.
//!
//! A foreign key checks every inserted row with its own `SELECT … FOR KEY SHARE` of the
//! referenced row; for catalog ingestion (tens of thousands of entries per batch, all of one
//! archive) that was more than half of the entry statement's time (docs/PERFORMANCE.md). Instead:
//! - entries → archives: the ingestion locks its archive row `FOR KEY SHARE` once per batch (so
//!   the archive cannot be deleted before the batch commits), and a statement-level trigger on
//!   `archives` deletes the entries of deleted archives (the former `ON DELETE CASCADE`, also when
//!   a repository's deletion cascades to its archives);
//! - entries → paths: `path_id` comes from a join with `catalog_paths` in the same statement, and
//!   paths are deleted only by `catalog::remove_archive`, which deletes only paths no entry refers
//!   to, under an advisory lock that excludes ingestion batches.
//!
//! SQLite keeps both foreign keys (its ingestion connection already switches them off, for the
//! same reasons; every other connection enforces them).
use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
ALTER TABLE catalog_entries DROP CONSTRAINT fk_catalog_entries_archive;
ALTER TABLE catalog_entries DROP CONSTRAINT fk_catalog_entries_path;
CREATE FUNCTION catalog_entries_of_deleted_archives() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_entries e USING deleted_archives d WHERE e.archive_id = d.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER archives_delete_catalog_entries AFTER DELETE ON archives
REFERENCING OLD TABLE AS deleted_archives
FOR EACH STATEMENT EXECUTE FUNCTION catalog_entries_of_deleted_archives();
";

const DOWN: &str = "
DROP TRIGGER archives_delete_catalog_entries ON archives;
DROP FUNCTION catalog_entries_of_deleted_archives();
DELETE FROM catalog_entries e WHERE NOT EXISTS (SELECT 1 FROM archives a WHERE a.id = e.archive_id);
ALTER TABLE catalog_entries ADD CONSTRAINT fk_catalog_entries_archive
    FOREIGN KEY (archive_id) REFERENCES archives (id) ON DELETE CASCADE;
ALTER TABLE catalog_entries ADD CONSTRAINT fk_catalog_entries_path
    FOREIGN KEY (path_id) REFERENCES catalog_paths (id) ON DELETE RESTRICT;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
