//! The first schema: every resource of the seed API plus jobs, the catalog, settings and auth tokens.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    FirstName,
    LastName,
    PasswordHash,
    IsSuperuser,
    LastLogin,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Uuid,
    Hostname,
    Ip,
    Version,
    Ready,
    HypervisorReady,
    HypervisorName,
    Enabled,
    Port,
    Username,
    BandwidthLimit,
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    Uuid,
    Name,
    Crontab,
    Enabled,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    Id,
    Uuid,
    Name,
    Path,
    RepositoryKey,
    OriginalSize,
    CompressedSize,
    DeduplicatedSize,
    Ready,
    Enabled,
}

#[derive(DeriveIden)]
enum Policies {
    Table,
    Id,
    Uuid,
    Name,
    ExtraVars,
    RepositoryId,
    ScheduleId,
    PolicyType,
    KeepHourly,
    KeepDaily,
    KeepWeekly,
    KeepMonthly,
    KeepYearly,
    Vmprovider,
    NextRun,
    ModePull,
    Enabled,
}

#[derive(DeriveIden)]
enum PolicyClients {
    Table,
    PolicyId,
    ClientId,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Uuid,
    Name,
    JobType,
    LaunchType,
    Status,
    Failed,
    Started,
    Finished,
    Elapsed,
    PolicyId,
    ClientId,
    RepositoryId,
    ArchiveName,
    OriginalSize,
    CompressedSize,
    DeduplicatedSize,
    JobExplanation,
    MasterJobId,
    DependsOnId,
}

#[derive(DeriveIden)]
enum JobEvents {
    Table,
    Id,
    JobId,
    Counter,
    Stdout,
    Created,
}

#[derive(DeriveIden)]
enum Archives {
    Table,
    Id,
    RepositoryId,
    ClientId,
    PolicyId,
    JobId,
    Name,
    Created,
}

#[derive(DeriveIden)]
enum CatalogPaths {
    Table,
    Id,
    Path,
    PathHash,
    ParentHash,
}

#[derive(DeriveIden)]
enum CatalogEntries {
    Table,
    Id,
    ArchiveId,
    PathId,
    Mode,
    Mtime,
    Owner,
    Group,
    Size,
    Healthy,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
    Modified,
}

#[derive(DeriveIden)]
enum AuthTokens {
    Table,
    Id,
    UserId,
    Kind,
    TokenHash,
    ExpiresAt,
    Created,
}

#[derive(DeriveIden)]
enum Audit {
    Created,
    Modified,
    CreatedBy,
    ModifiedBy,
}

/// Adds `created`, `modified`, `created_by`, `modified_by` (the latter two point at users and
/// become NULL when that user is deleted, so removing an operator never removes what they made).
fn audited(table: &mut TableCreateStatement, name: &str) -> TableCreateStatement {
    table
        .col(timestamp_with_time_zone(Audit::Created))
        .col(timestamp_with_time_zone(Audit::Modified))
        .col(integer_null(Audit::CreatedBy))
        .col(integer_null(Audit::ModifiedBy))
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{name}_created_by"))
                .from_col(Audit::CreatedBy)
                .to(Users::Table, Users::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{name}_modified_by"))
                .from_col(Audit::ModifiedBy)
                .to(Users::Table, Users::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .to_owned()
}

/// A 64-bit auto-increment key for the tables that grow to millions of rows.
fn big_pk(col: impl IntoIden) -> ColumnDef {
    big_integer(col).auto_increment().primary_key().take()
}

fn fk(
    name: &str,
    from: impl IntoIden + 'static,
    to_table: impl IntoIden + 'static,
    to_col: impl IntoIden + 'static,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_col(from)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden + 'static, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(Alias::new(*c));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(audited(
                Table::create()
                    .table(Users::Table)
                    .col(pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len(Users::FirstName, 150).default(""))
                    .col(string_len(Users::LastName, 150).default(""))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(boolean(Users::IsSuperuser).default(false))
                    .col(timestamp_with_time_zone_null(Users::LastLogin)),
                "users",
            ))
            .await?;

        manager
            .create_table(audited(
                Table::create()
                    .table(Clients::Table)
                    .col(pk_auto(Clients::Id))
                    .col(string_len_uniq(Clients::Uuid, 36))
                    .col(string_len_uniq(Clients::Hostname, 253))
                    .col(string_len(Clients::Ip, 1024).default(""))
                    .col(string_len(Clients::Version, 255).default(""))
                    .col(boolean(Clients::Ready).default(false))
                    .col(boolean(Clients::HypervisorReady).default(false))
                    .col(string_len(Clients::HypervisorName, 255).default(""))
                    .col(boolean(Clients::Enabled).default(true))
                    .col(integer(Clients::Port).default(22))
                    .col(string_len(Clients::Username, 64).default("root"))
                    .col(integer_null(Clients::BandwidthLimit)),
                "clients",
            ))
            .await?;

        manager
            .create_table(audited(
                Table::create()
                    .table(Schedules::Table)
                    .col(pk_auto(Schedules::Id))
                    .col(string_len_uniq(Schedules::Uuid, 36))
                    .col(string_len_uniq(Schedules::Name, 255))
                    .col(string_len(Schedules::Crontab, 255))
                    .col(boolean(Schedules::Enabled).default(true)),
                "schedules",
            ))
            .await?;

        manager
            .create_table(audited(
                Table::create()
                    .table(Repositories::Table)
                    .col(pk_auto(Repositories::Id))
                    .col(string_len_uniq(Repositories::Uuid, 36))
                    .col(string_len_uniq(Repositories::Name, 255))
                    .col(string_len_uniq(Repositories::Path, 1024))
                    .col(text(Repositories::RepositoryKey).default(""))
                    .col(big_integer(Repositories::OriginalSize).default(0))
                    .col(big_integer(Repositories::CompressedSize).default(0))
                    .col(big_integer(Repositories::DeduplicatedSize).default(0))
                    .col(boolean(Repositories::Ready).default(false))
                    .col(boolean(Repositories::Enabled).default(true)),
                "repositories",
            ))
            .await?;

        manager
            .create_table(audited(
                Table::create()
                    .table(Policies::Table)
                    .col(pk_auto(Policies::Id))
                    .col(string_len_uniq(Policies::Uuid, 36))
                    .col(string_len_uniq(Policies::Name, 255))
                    .col(text(Policies::ExtraVars).default(""))
                    .col(integer(Policies::RepositoryId))
                    .col(integer(Policies::ScheduleId))
                    .col(string_len(Policies::PolicyType, 32))
                    .col(integer_null(Policies::KeepHourly))
                    .col(integer_null(Policies::KeepDaily))
                    .col(integer_null(Policies::KeepWeekly))
                    .col(integer_null(Policies::KeepMonthly))
                    .col(integer_null(Policies::KeepYearly))
                    .col(string_len(Policies::Vmprovider, 255).default(""))
                    .col(timestamp_with_time_zone_null(Policies::NextRun))
                    .col(boolean(Policies::ModePull).default(false))
                    .col(boolean(Policies::Enabled).default(true))
                    .foreign_key(&mut fk(
                        "fk_policies_repository",
                        Policies::RepositoryId,
                        Repositories::Table,
                        Repositories::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_policies_schedule",
                        Policies::ScheduleId,
                        Schedules::Table,
                        Schedules::Id,
                        ForeignKeyAction::Restrict,
                    )),
                "policies",
            ))
            .await?;
        manager
            .create_index(index(
                "idx_policies_repository",
                Policies::Table,
                &["repository_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_policies_schedule",
                Policies::Table,
                &["schedule_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_policies_next_run",
                Policies::Table,
                &["next_run"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PolicyClients::Table)
                    .col(integer(PolicyClients::PolicyId))
                    .col(integer(PolicyClients::ClientId))
                    .primary_key(
                        Index::create()
                            .col(PolicyClients::PolicyId)
                            .col(PolicyClients::ClientId),
                    )
                    .foreign_key(&mut fk(
                        "fk_policy_clients_policy",
                        PolicyClients::PolicyId,
                        Policies::Table,
                        Policies::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_policy_clients_client",
                        PolicyClients::ClientId,
                        Clients::Table,
                        Clients::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_policy_clients_client",
                PolicyClients::Table,
                &["client_id"],
            ))
            .await?;

        manager
            .create_table(audited(
                Table::create()
                    .table(Jobs::Table)
                    .col(pk_auto(Jobs::Id))
                    .col(string_len_uniq(Jobs::Uuid, 36))
                    .col(string_len(Jobs::Name, 512).default(""))
                    .col(string_len(Jobs::JobType, 16))
                    .col(string_len(Jobs::LaunchType, 16))
                    .col(string_len(Jobs::Status, 16))
                    .col(boolean(Jobs::Failed).default(false))
                    .col(timestamp_with_time_zone_null(Jobs::Started))
                    .col(timestamp_with_time_zone_null(Jobs::Finished))
                    .col(double(Jobs::Elapsed).default(0.0))
                    .col(integer_null(Jobs::PolicyId))
                    .col(integer_null(Jobs::ClientId))
                    .col(integer_null(Jobs::RepositoryId))
                    .col(string_len(Jobs::ArchiveName, 1024).default(""))
                    .col(big_integer(Jobs::OriginalSize).default(0))
                    .col(big_integer(Jobs::CompressedSize).default(0))
                    .col(big_integer(Jobs::DeduplicatedSize).default(0))
                    .col(text(Jobs::JobExplanation).default(""))
                    .col(integer_null(Jobs::MasterJobId))
                    .col(integer_null(Jobs::DependsOnId))
                    .foreign_key(&mut fk(
                        "fk_jobs_policy",
                        Jobs::PolicyId,
                        Policies::Table,
                        Policies::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_jobs_client",
                        Jobs::ClientId,
                        Clients::Table,
                        Clients::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_jobs_repository",
                        Jobs::RepositoryId,
                        Repositories::Table,
                        Repositories::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_jobs_master",
                        Jobs::MasterJobId,
                        Jobs::Table,
                        Jobs::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_jobs_depends_on",
                        Jobs::DependsOnId,
                        Jobs::Table,
                        Jobs::Id,
                        ForeignKeyAction::SetNull,
                    )),
                "jobs",
            ))
            .await?;
        for (name, col) in [
            ("idx_jobs_status", "status"),
            ("idx_jobs_policy", "policy_id"),
            ("idx_jobs_client", "client_id"),
            ("idx_jobs_repository", "repository_id"),
            ("idx_jobs_created", "created"),
        ] {
            manager
                .create_index(index(name, Jobs::Table, &[col]))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(JobEvents::Table)
                    .col(big_pk(JobEvents::Id))
                    .col(integer(JobEvents::JobId))
                    .col(integer(JobEvents::Counter))
                    .col(text(JobEvents::Stdout))
                    .col(timestamp_with_time_zone(JobEvents::Created))
                    .foreign_key(&mut fk(
                        "fk_job_events_job",
                        JobEvents::JobId,
                        Jobs::Table,
                        Jobs::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_job_events_job_counter",
                    JobEvents::Table,
                    &["job_id", "counter"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Archives::Table)
                    .col(pk_auto(Archives::Id))
                    .col(integer(Archives::RepositoryId))
                    .col(integer_null(Archives::ClientId))
                    .col(integer_null(Archives::PolicyId))
                    .col(integer_null(Archives::JobId))
                    .col(string_len(Archives::Name, 1024))
                    .col(timestamp_with_time_zone(Archives::Created))
                    .foreign_key(&mut fk(
                        "fk_archives_repository",
                        Archives::RepositoryId,
                        Repositories::Table,
                        Repositories::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_archives_client",
                        Archives::ClientId,
                        Clients::Table,
                        Clients::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_archives_policy",
                        Archives::PolicyId,
                        Policies::Table,
                        Policies::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut fk(
                        "fk_archives_job",
                        Archives::JobId,
                        Jobs::Table,
                        Jobs::Id,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_archives_repository_name",
                    Archives::Table,
                    &["repository_id", "name"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_archives_name", Archives::Table, &["name"]))
            .await?;
        manager
            .create_index(index("idx_archives_job", Archives::Table, &["job_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CatalogPaths::Table)
                    .col(big_pk(CatalogPaths::Id))
                    .col(text(CatalogPaths::Path))
                    // SHA-256 of the path's UTF-8 bytes: the uniqueness key. A unique index on the
                    // path itself would break on PostgreSQL for paths longer than a btree row
                    // (~2700 bytes; borg paths reach 4096) and would store every path twice.
                    .col(blob(CatalogPaths::PathHash))
                    // The first 8 bytes of the SHA-256 of the parent directory's path (`""` for
                    // top-level entries), as a signed big-endian integer.
                    .col(big_integer(CatalogPaths::ParentHash))
                    .to_owned(),
            )
            .await?;
        // Unique on (parent_hash, path_hash), which is unique on the path (the parent is a
        // function of the path), and keeps the siblings of a directory together: ingestion,
        // which meets paths directory by directory, touches few index pages, and browsing one
        // directory is a range of this index (the path prefix is re-checked, collision-safe).
        manager
            .create_index(
                index(
                    "idx_catalog_paths_parent_path",
                    CatalogPaths::Table,
                    &["parent_hash", "path_hash"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CatalogEntries::Table)
                    .col(big_pk(CatalogEntries::Id))
                    .col(integer(CatalogEntries::ArchiveId))
                    .col(big_integer(CatalogEntries::PathId))
                    .col(string_len(CatalogEntries::Mode, 16))
                    .col(timestamp_with_time_zone_null(CatalogEntries::Mtime))
                    .col(string_len(CatalogEntries::Owner, 255).default(""))
                    .col(string_len(CatalogEntries::Group, 255).default(""))
                    .col(big_integer(CatalogEntries::Size).default(0))
                    .col(boolean(CatalogEntries::Healthy).default(true))
                    .foreign_key(&mut fk(
                        "fk_catalog_entries_archive",
                        CatalogEntries::ArchiveId,
                        Archives::Table,
                        Archives::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_catalog_entries_path",
                        CatalogEntries::PathId,
                        CatalogPaths::Table,
                        CatalogPaths::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_catalog_entries_archive_path",
                    CatalogEntries::Table,
                    &["archive_id", "path_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_catalog_entries_path",
                CatalogEntries::Table,
                &["path_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .col(string_len(Settings::Key, 64).primary_key())
                    .col(text(Settings::Value))
                    .col(timestamp_with_time_zone(Settings::Modified))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthTokens::Table)
                    .col(pk_auto(AuthTokens::Id))
                    .col(integer(AuthTokens::UserId))
                    .col(string_len(AuthTokens::Kind, 16))
                    .col(string_len_uniq(AuthTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(AuthTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(AuthTokens::Created))
                    .foreign_key(&mut fk(
                        "fk_auth_tokens_user",
                        AuthTokens::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_auth_tokens_user",
                AuthTokens::Table,
                &["user_id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuthTokens::Table.into_iden(),
            Settings::Table.into_iden(),
            CatalogEntries::Table.into_iden(),
            CatalogPaths::Table.into_iden(),
            Archives::Table.into_iden(),
            JobEvents::Table.into_iden(),
            Jobs::Table.into_iden(),
            PolicyClients::Table.into_iden(),
            Policies::Table.into_iden(),
            Repositories::Table.into_iden(),
            Schedules::Table.into_iden(),
            Clients::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
