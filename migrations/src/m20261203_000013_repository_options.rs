//! Repositories as borg sees them: encryption, compression, append-only, storage quota and a
//! default upload rate limit; a hold that keeps jobs off a repository while an operator's action
//! runs on it (break-lock, archive delete or rename) and who broke its lock last; archives found
//! in a repository that this server did not make (`foreign`); the runs of the server's own
//! backup (`self_backups`). Existing repositories were all made with `--encryption=repokey`,
//! which is what they are recorded as.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Repositories {
    Table,
    Encryption,
    Compression,
    AppendOnly,
    StorageQuota,
    UploadRatelimit,
    HeldUntil,
    HeldFor,
    LockBrokenBy,
    LockBroken,
}

#[derive(DeriveIden)]
enum Archives {
    Table,
    Foreign,
}

#[derive(DeriveIden)]
enum SelfBackups {
    Table,
    Id,
    Node,
    Started,
    Finished,
    Status,
    RepositoryId,
    Archive,
    OriginalSize,
    DeduplicatedSize,
    Message,
    CreatedBy,
}

fn repository_columns() -> Vec<ColumnDef> {
    vec![
        string_len(Repositories::Encryption, 32)
            .default("repokey")
            .to_owned(),
        string_len(Repositories::Compression, 32)
            .default("lz4")
            .to_owned(),
        boolean(Repositories::AppendOnly).default(false).to_owned(),
        string_len(Repositories::StorageQuota, 32)
            .default("")
            .to_owned(),
        integer_null(Repositories::UploadRatelimit).to_owned(),
        timestamp_with_time_zone_null(Repositories::HeldUntil).to_owned(),
        string_len(Repositories::HeldFor, 255)
            .default("")
            .to_owned(),
        string_len(Repositories::LockBrokenBy, 255)
            .default("")
            .to_owned(),
        timestamp_with_time_zone_null(Repositories::LockBroken).to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for mut col in repository_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Repositories::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Archives::Table)
                    .add_column(boolean(Archives::Foreign).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SelfBackups::Table)
                    .col(pk_auto(SelfBackups::Id))
                    .col(string_len(SelfBackups::Node, 64))
                    .col(timestamp_with_time_zone(SelfBackups::Started))
                    .col(timestamp_with_time_zone_null(SelfBackups::Finished))
                    .col(string_len(SelfBackups::Status, 16))
                    .col(integer_null(SelfBackups::RepositoryId))
                    .col(string_len(SelfBackups::Archive, 255).default(""))
                    .col(big_integer(SelfBackups::OriginalSize).default(0))
                    .col(big_integer(SelfBackups::DeduplicatedSize).default(0))
                    .col(text(SelfBackups::Message))
                    .col(integer_null(SelfBackups::CreatedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SelfBackups::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Archives::Table)
                    .drop_column(Archives::Foreign)
                    .to_owned(),
            )
            .await?;
        for col in [
            Repositories::Encryption,
            Repositories::Compression,
            Repositories::AppendOnly,
            Repositories::StorageQuota,
            Repositories::UploadRatelimit,
            Repositories::HeldUntil,
            Repositories::HeldFor,
            Repositories::LockBrokenBy,
            Repositories::LockBroken,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Repositories::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
