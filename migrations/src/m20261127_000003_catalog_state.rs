//! A version number of the set of catalog paths, so that a process holding an in-memory search
//! index of the paths (server/src/catalog/search_index.rs) can tell, with one row read, whether
//! paths were added since it built the index.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogState {
    Table,
    Id,
    PathsVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CatalogState::Table)
                    .col(integer(CatalogState::Id).primary_key())
                    .col(big_integer(CatalogState::PathsVersion).default(0))
                    .to_owned(),
            )
            .await?;
        // The one row every ingestion bumps; it always exists, so the bump is a plain UPDATE.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CatalogState::Table)
                    .columns([CatalogState::Id, CatalogState::PathsVersion])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CatalogState::Table).to_owned())
            .await
    }
}
