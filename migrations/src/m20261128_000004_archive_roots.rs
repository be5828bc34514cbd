//! The roots of each archive: the archived paths whose parent directory is not itself in the
//! archive (a `folders` policy over `/srv/www` archives `srv/www` and what is below it, not
//! `srv`). The catalog browser shows the folders above them (`srv`) as implied folders.
//! Newline-separated paths, written by the catalog ingestion.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Archives {
    Table,
    Roots,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Archives::Table)
                    .add_column(text(Archives::Roots).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Archives::Table)
                    .drop_column(Archives::Roots)
                    .to_owned(),
            )
            .await
    }
}
