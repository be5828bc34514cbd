//! What the job engine needs beyond the first schema: which server process runs a job and the
//! processes it started (so a restart can stop them and a cancel can reach another process), a
//! cancel request other processes see, and the index that finds the jobs waiting on a job.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    RunnerNode,
    LocalPid,
    RemotePid,
    CancelRequested,
    DependsOnId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            string_len(Jobs::RunnerNode, 64).default("").to_owned(),
            integer_null(Jobs::LocalPid).to_owned(),
            integer_null(Jobs::RemotePid).to_owned(),
            boolean(Jobs::CancelRequested).default(false).to_owned(),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(Jobs::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_depends_on")
                    .table(Jobs::Table)
                    .col(Jobs::DependsOnId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_jobs_depends_on").to_owned())
            .await?;
        for col in [
            Jobs::RunnerNode,
            Jobs::LocalPid,
            Jobs::RemotePid,
            Jobs::CancelRequested,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Jobs::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
