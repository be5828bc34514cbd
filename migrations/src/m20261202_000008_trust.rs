//! Retention decided by the server (keep_within, keep_last), pinned SSH host keys of clients
//! and repository hosts, the key pair each remote repository is reached with, and refresh-token
//! families (a spent token used again revokes its family).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Policies {
    Table,
    KeepWithin,
    KeepLast,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    HostKey,
    HostKeySeen,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    HostKey,
    HostKeySeen,
    SshKey,
    SshPublicKey,
}

#[derive(DeriveIden)]
enum AuthTokens {
    Table,
    Family,
    Spent,
}

/// Every new column with its table, all with defaults so that existing rows stay valid.
fn columns() -> Vec<(DynIden, ColumnDef)> {
    fn empty_text(c: impl IntoIden) -> ColumnDef {
        text(c).default("").to_owned()
    }
    vec![
        (
            Policies::Table.into_iden(),
            empty_text(Policies::KeepWithin),
        ),
        (
            Policies::Table.into_iden(),
            integer_null(Policies::KeepLast),
        ),
        (Clients::Table.into_iden(), empty_text(Clients::HostKey)),
        (Clients::Table.into_iden(), empty_text(Clients::HostKeySeen)),
        (
            Repositories::Table.into_iden(),
            empty_text(Repositories::HostKey),
        ),
        (
            Repositories::Table.into_iden(),
            empty_text(Repositories::HostKeySeen),
        ),
        (
            Repositories::Table.into_iden(),
            empty_text(Repositories::SshKey),
        ),
        (
            Repositories::Table.into_iden(),
            empty_text(Repositories::SshPublicKey),
        ),
        (
            AuthTokens::Table.into_iden(),
            empty_text(AuthTokens::Family),
        ),
        (
            AuthTokens::Table.into_iden(),
            boolean(AuthTokens::Spent).default(false).to_owned(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for (table, mut column) in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns().into_iter().rev() {
            let name = Alias::new(column.get_column_name());
            manager
                .alter_table(Table::alter().table(table).drop_column(name).to_owned())
                .await?;
        }
        Ok(())
    }
}
