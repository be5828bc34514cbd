//! Several server processes on one PostgreSQL: the `nodes` registry (heartbeats, capacity,
//! labels, who took over a dead node), the identity every node shares (`server_identity`: a
//! check of the secret key and the SSH key pair clients authorize), and the node labels a
//! repository's jobs need (`repositories.node_labels`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Hostname,
    Version,
    Started,
    Heartbeat,
    Capacity,
    Labels,
    State,
    TakenOverBy,
    TakenOver,
}

#[derive(DeriveIden)]
enum ServerIdentity {
    Table,
    Id,
    SecretCheck,
    SshPrivateKey,
    SshPublicKey,
    Created,
}

#[derive(DeriveIden)]
enum Repositories {
    Table,
    NodeLabels,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .col(string_len(Nodes::Id, 64).primary_key())
                    .col(string_len(Nodes::Hostname, 255))
                    .col(string_len(Nodes::Version, 32))
                    .col(timestamp_with_time_zone(Nodes::Started))
                    .col(timestamp_with_time_zone(Nodes::Heartbeat))
                    .col(integer(Nodes::Capacity))
                    .col(string_len(Nodes::Labels, 512).default(""))
                    .col(string_len(Nodes::State, 16))
                    .col(string_len_null(Nodes::TakenOverBy, 64))
                    .col(timestamp_with_time_zone_null(Nodes::TakenOver))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServerIdentity::Table)
                    .col(integer(ServerIdentity::Id).primary_key())
                    .col(text(ServerIdentity::SecretCheck))
                    .col(text(ServerIdentity::SshPrivateKey))
                    .col(text(ServerIdentity::SshPublicKey))
                    .col(timestamp_with_time_zone(ServerIdentity::Created))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Repositories::Table)
                    .add_column(string_len(Repositories::NodeLabels, 512).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Repositories::Table)
                    .drop_column(Repositories::NodeLabels)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ServerIdentity::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Nodes::Table).to_owned())
            .await
    }
}
