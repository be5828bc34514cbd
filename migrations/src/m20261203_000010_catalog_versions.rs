//! The catalog stores each file version once (docs/CATALOG.md): lineages of archives, file
//! versions valid over a range of a lineage's archives, and `catalog_entries` becomes a view of
//! (archive, version) pairs with the same columns as the table it replaces.
//!
//! Existing catalogs are converted in SQL, nothing re-read from borg: the catalogued archives of
//! each (repository, policy, client) become one lineage in creation order, and consecutive
//! archives holding the same attributes for a path become one version.
use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, TransactionTrait},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogLineages {
    Table,
    Id,
    RepositoryId,
    PolicyId,
    ClientId,
    HeadSeq,
    HeadCreated,
    Created,
}

#[derive(DeriveIden)]
enum CatalogVersions {
    Table,
    Id,
    LineageId,
    PathId,
    FirstSeq,
    LastSeq,
    Mode,
    Mtime,
    Owner,
    Group,
    Size,
    Healthy,
    Fp,
}

#[derive(DeriveIden)]
enum Archives {
    Table,
    LineageId,
    LineageSeq,
    Entries,
}

/// `last_seq` of a version still current in its lineage's newest archive (`catalog::OPEN`).
const OPEN: i32 = i32::MAX;

/// The view's entry id: `archive_id × 2^29 + path_id` (`catalog::entry_id`).
const VIEW: &str = "CREATE VIEW catalog_entries AS \
    SELECT CAST(a.id AS BIGINT) * 536870912 + v.path_id AS id, a.id AS archive_id, \
    v.path_id AS path_id, v.mode AS mode, v.mtime AS mtime, v.owner AS owner, \
    v.\"group\" AS \"group\", v.size AS size, v.healthy AS healthy \
    FROM catalog_versions v JOIN archives a ON a.lineage_id = v.lineage_id \
    AND a.lineage_seq >= v.first_seq AND a.lineage_seq <= v.last_seq";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(CatalogLineages::Table)
                    .col(pk_auto(CatalogLineages::Id))
                    .col(integer(CatalogLineages::RepositoryId))
                    .col(integer_null(CatalogLineages::PolicyId))
                    .col(integer_null(CatalogLineages::ClientId))
                    .col(integer(CatalogLineages::HeadSeq).default(0))
                    .col(timestamp_with_time_zone_null(CatalogLineages::HeadCreated))
                    .col(timestamp_with_time_zone(CatalogLineages::Created))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_catalog_lineages_repository")
                    .table(CatalogLineages::Table)
                    .col(CatalogLineages::RepositoryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CatalogVersions::Table)
                    .col(
                        big_integer(CatalogVersions::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(integer(CatalogVersions::LineageId))
                    .col(big_integer(CatalogVersions::PathId))
                    .col(integer(CatalogVersions::FirstSeq))
                    .col(integer(CatalogVersions::LastSeq))
                    .col(string_len(CatalogVersions::Mode, 16))
                    .col(timestamp_with_time_zone_null(CatalogVersions::Mtime))
                    .col(string_len(CatalogVersions::Owner, 255).default(""))
                    .col(string_len(CatalogVersions::Group, 255).default(""))
                    .col(big_integer(CatalogVersions::Size).default(0))
                    .col(boolean(CatalogVersions::Healthy).default(true))
                    // `catalog::fingerprint` of the attributes; 0 for the versions converted
                    // here, which the next ingestion of their lineage then writes once more.
                    .col(big_integer(CatalogVersions::Fp).default(0))
                    .to_owned(),
            )
            .await?;
        // (lineage, first_seq): an archive's new versions (crash recovery, pruning between
        // neighbours); (lineage, last_seq): the open versions an ingestion compares with;
        // (lineage, path, first_seq), unique: one archive's listing in path order, and a path
        // listed twice by borg is stored once; (path, lineage): searches and the history of
        // one path.
        let indexes: [(&str, &[&str], bool); 4] = [
            (
                "idx_catalog_versions_first",
                &["lineage_id", "first_seq"],
                false,
            ),
            (
                "idx_catalog_versions_last",
                &["lineage_id", "last_seq"],
                false,
            ),
            (
                "idx_catalog_versions_lineage_path",
                &["lineage_id", "path_id", "first_seq"],
                true,
            ),
            (
                "idx_catalog_versions_path",
                &["path_id", "lineage_id"],
                false,
            ),
        ];
        for (name, cols, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(CatalogVersions::Table);
            for c in cols {
                index.col(Alias::new(*c));
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        for column in [
            integer_null(Archives::LineageId),
            integer_null(Archives::LineageSeq),
            big_integer(Archives::Entries).default(0).take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Archives::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_archives_lineage")
                    .table(Archives::Table)
                    .col(Archives::LineageId)
                    .col(Archives::LineageSeq)
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let same = match backend {
            DatabaseBackend::Postgres => "IS NOT DISTINCT FROM",
            _ => "IS",
        };
        db.execute_unprepared(
            "INSERT INTO catalog_lineages \
             (repository_id, policy_id, client_id, head_seq, head_created, created) \
             SELECT a.repository_id, a.policy_id, a.client_id, COUNT(*), MAX(a.created), MAX(a.created) \
             FROM archives a \
             WHERE EXISTS (SELECT 1 FROM catalog_entries e WHERE e.archive_id = a.id) \
             GROUP BY a.repository_id, a.policy_id, a.client_id"
        )
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE archives SET lineage_id = (SELECT l.id FROM catalog_lineages l \
             WHERE l.repository_id = archives.repository_id \
             AND l.policy_id {same} archives.policy_id AND l.client_id {same} archives.client_id) \
             WHERE EXISTS (SELECT 1 FROM catalog_entries e WHERE e.archive_id = archives.id)"
        ))
        .await?;
        db.execute_unprepared(
            "UPDATE archives SET lineage_seq = r.seq FROM (SELECT id, ROW_NUMBER() OVER \
             (PARTITION BY lineage_id ORDER BY created, id) AS seq FROM archives \
             WHERE lineage_id IS NOT NULL) r WHERE archives.id = r.id",
        )
        .await?;
        // A version starts where the previous archive of the lineage did not hold the path, or
        // held it with other attributes; it ends at the last archive of that run (open when
        // that is the lineage's newest).
        db.execute_unprepared(&format!(
            "INSERT INTO catalog_versions (lineage_id, path_id, first_seq, last_seq, mode, mtime, \
             owner, \"group\", size, healthy) \
             SELECT g.lineage_id, g.path_id, MIN(g.seq), \
             CASE WHEN MAX(g.seq) = l.head_seq THEN {OPEN} ELSE MAX(g.seq) END, \
             g.mode, g.mtime, g.owner, g.\"group\", g.size, g.healthy \
             FROM (SELECT s.*, SUM(s.brk) OVER (PARTITION BY s.lineage_id, s.path_id \
                   ORDER BY s.seq ROWS UNBOUNDED PRECEDING) AS grp \
                   FROM (SELECT a.lineage_id, a.lineage_seq AS seq, e.path_id, e.mode, e.mtime, \
                         e.owner, e.\"group\", e.size, e.healthy, \
                         CASE WHEN LAG(a.lineage_seq) OVER w = a.lineage_seq - 1 \
                         AND LAG(e.mode) OVER w = e.mode AND LAG(e.mtime) OVER w {same} e.mtime \
                         AND LAG(e.owner) OVER w = e.owner AND LAG(e.\"group\") OVER w = e.\"group\" \
                         AND LAG(e.size) OVER w = e.size AND LAG(e.healthy) OVER w = e.healthy \
                         THEN 0 ELSE 1 END AS brk \
                         FROM catalog_entries e JOIN archives a ON a.id = e.archive_id \
                         WHERE a.lineage_id IS NOT NULL \
                         WINDOW w AS (PARTITION BY a.lineage_id, e.path_id ORDER BY a.lineage_seq)) s \
                  ) g JOIN catalog_lineages l ON l.id = g.lineage_id \
             GROUP BY g.lineage_id, g.path_id, g.grp, l.head_seq, g.mode, g.mtime, g.owner, \
             g.\"group\", g.size, g.healthy"
        ))
        .await?;
        db.execute_unprepared(
            "UPDATE archives SET entries = \
             (SELECT COUNT(*) FROM catalog_entries e WHERE e.archive_id = archives.id)",
        )
        .await?;
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER archives_delete_catalog_entries ON archives; \
                 DROP FUNCTION catalog_entries_of_deleted_archives();",
            )
            .await?;
        }
        db.execute_unprepared("DROP TABLE catalog_entries").await?;
        db.execute_unprepared(VIEW).await?;
        Ok(())
    }

    /// Back to one row per archive and file, from the versions (nothing lost), with the
    /// references of the schema before (SQLite: foreign keys; PostgreSQL: the trigger of
    /// m20261128_000007).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One transaction on one connection: a pooled SQLite connection still reading an older
        // snapshot would take the new table for the view it replaces.
        let db = manager.get_connection().begin().await?;
        db.execute_unprepared(
            "CREATE TABLE catalog_entries_copy AS SELECT archive_id, path_id, mode, mtime, owner, \
             \"group\", size, healthy FROM catalog_entries",
        )
        .await?;
        db.execute_unprepared("DROP VIEW catalog_entries").await?;
        let table = || Alias::new("catalog_entries");
        db.execute(
            backend.build(
                Table::create()
                    .table(table())
                    .col(big_integer(Alias::new("id")).auto_increment().primary_key())
                    .col(integer(Alias::new("archive_id")))
                    .col(big_integer(Alias::new("path_id")))
                    .col(string_len(Alias::new("mode"), 16))
                    .col(timestamp_with_time_zone_null(Alias::new("mtime")))
                    .col(string_len(Alias::new("owner"), 255).default(""))
                    .col(string_len(Alias::new("group"), 255).default(""))
                    .col(big_integer(Alias::new("size")).default(0))
                    .col(boolean(Alias::new("healthy")).default(true))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_catalog_entries_archive")
                            .from(table(), Alias::new("archive_id"))
                            .to(Alias::new("archives"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_catalog_entries_path")
                            .from(table(), Alias::new("path_id"))
                            .to(Alias::new("catalog_paths"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    ),
            ),
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO catalog_entries (archive_id, path_id, mode, mtime, owner, \"group\", \
             size, healthy) SELECT archive_id, path_id, mode, mtime, owner, \"group\", size, \
             healthy FROM catalog_entries_copy ORDER BY archive_id, path_id",
        )
        .await?;
        db.execute_unprepared("DROP TABLE catalog_entries_copy")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_catalog_entries_archive_path \
             ON catalog_entries (archive_id, path_id); \
             CREATE INDEX idx_catalog_entries_path ON catalog_entries (path_id)",
        )
        .await?;
        if backend == DatabaseBackend::Postgres {
            // m20261128_000007's shape: no foreign keys, a trigger instead.
            db.execute_unprepared(
                "ALTER TABLE catalog_entries DROP CONSTRAINT fk_catalog_entries_archive; \
                 ALTER TABLE catalog_entries DROP CONSTRAINT fk_catalog_entries_path; \
                 CREATE FUNCTION catalog_entries_of_deleted_archives() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                 DELETE FROM catalog_entries e USING deleted_archives d WHERE e.archive_id = d.id; \
                 RETURN NULL; END $$; \
                 CREATE TRIGGER archives_delete_catalog_entries AFTER DELETE ON archives \
                 REFERENCING OLD TABLE AS deleted_archives \
                 FOR EACH STATEMENT EXECUTE FUNCTION catalog_entries_of_deleted_archives();",
            )
            .await?;
        }
        db.execute(
            backend.build(
                Index::drop()
                    .name("idx_archives_lineage")
                    .table(Archives::Table),
            ),
        )
        .await?;
        for column in [Archives::Entries, Archives::LineageSeq, Archives::LineageId] {
            db.execute(backend.build(Table::alter().table(Archives::Table).drop_column(column)))
                .await?;
        }
        db.execute(backend.build(Table::drop().table(CatalogVersions::Table)))
            .await?;
        db.execute(backend.build(Table::drop().table(CatalogLineages::Table)))
            .await?;
        db.commit().await?;
        Ok(())
    }
}
