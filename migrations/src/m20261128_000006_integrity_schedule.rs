//! Integrity checks scheduled per repository: the schedule they follow (none: launched by hand
//! only) and the time of the next one, kept like a policy's `next_run`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Repositories {
    Table,
    IntegrityScheduleId,
    IntegrityNextRun,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Repositories::Table)
                    .add_column(integer_null(Repositories::IntegrityScheduleId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repositories::Table)
                    .add_column(timestamp_with_time_zone_null(
                        Repositories::IntegrityNextRun,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Repositories::IntegrityNextRun,
            Repositories::IntegrityScheduleId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Repositories::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
