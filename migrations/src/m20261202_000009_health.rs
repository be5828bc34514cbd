//! Knowing when backups stop: a policy's own "late" threshold and job time limit, alerts (one
//! open alert per key, enforced by a partial unique index), notification channels and their
//! outbox (one row per channel and alert state change, enforced by a unique index), and personal
//! API tokens (stored as SHA-256 only).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Policies {
    Table,
    MaxAgeHours,
    TimeLimitHours,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    PolicyId,
    ClientId,
    JobType,
    Status,
    Id,
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    Kind,
    Key,
    PolicyId,
    ClientId,
    RepositoryId,
    JobId,
    Message,
    FirstSeen,
    LastSeen,
    Resolved,
    Acknowledged,
    AcknowledgedBy,
}

#[derive(DeriveIden)]
enum NotificationChannels {
    Table,
    Id,
    Name,
    Kind,
    Url,
    Events,
    Secret,
    EmailFrom,
    EmailTo,
    Username,
    Password,
    Enabled,
    Created,
    Modified,
    CreatedBy,
    ModifiedBy,
}

#[derive(DeriveIden)]
enum NotificationOutbox {
    Table,
    Id,
    ChannelId,
    AlertId,
    Event,
    Payload,
    Attempts,
    NextAttempt,
    Sent,
    LastError,
    Created,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Scope,
    TokenHash,
    Created,
    Expires,
    LastUsed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut col in [
            double_null(Policies::MaxAgeHours),
            double_null(Policies::TimeLimitHours),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Policies::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(pk_auto(Alerts::Id))
                    .col(string_len(Alerts::Kind, 32))
                    .col(string_len(Alerts::Key, 128))
                    .col(integer_null(Alerts::PolicyId))
                    .col(integer_null(Alerts::ClientId))
                    .col(integer_null(Alerts::RepositoryId))
                    .col(integer_null(Alerts::JobId))
                    .col(text(Alerts::Message))
                    .col(timestamp_with_time_zone(Alerts::FirstSeen))
                    .col(timestamp_with_time_zone(Alerts::LastSeen))
                    .col(timestamp_with_time_zone_null(Alerts::Resolved))
                    .col(timestamp_with_time_zone_null(Alerts::Acknowledged))
                    .col(integer_null(Alerts::AcknowledgedBy))
                    .to_owned(),
            )
            .await?;
        // At most one open alert per key, whatever number of processes evaluate the rules: the
        // same syntax on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_alerts_open_key ON alerts (key) WHERE resolved IS NULL",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationChannels::Table)
                    .col(pk_auto(NotificationChannels::Id))
                    .col(string_len(NotificationChannels::Name, 128).unique_key())
                    .col(string_len(NotificationChannels::Kind, 16))
                    .col(text(NotificationChannels::Url))
                    .col(text(NotificationChannels::Events))
                    .col(text(NotificationChannels::Secret).default(""))
                    .col(text(NotificationChannels::EmailFrom).default(""))
                    .col(text(NotificationChannels::EmailTo).default(""))
                    .col(text(NotificationChannels::Username).default(""))
                    .col(text(NotificationChannels::Password).default(""))
                    .col(boolean(NotificationChannels::Enabled).default(true))
                    .col(timestamp_with_time_zone(NotificationChannels::Created))
                    .col(timestamp_with_time_zone(NotificationChannels::Modified))
                    .col(integer_null(NotificationChannels::CreatedBy))
                    .col(integer_null(NotificationChannels::ModifiedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationOutbox::Table)
                    .col(pk_auto(NotificationOutbox::Id))
                    .col(integer(NotificationOutbox::ChannelId))
                    .col(integer_null(NotificationOutbox::AlertId))
                    .col(string_len(NotificationOutbox::Event, 16))
                    .col(text(NotificationOutbox::Payload))
                    .col(integer(NotificationOutbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(NotificationOutbox::NextAttempt))
                    .col(timestamp_with_time_zone_null(NotificationOutbox::Sent))
                    .col(text(NotificationOutbox::LastError).default(""))
                    .col(timestamp_with_time_zone(NotificationOutbox::Created))
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotificationOutbox::Table, NotificationOutbox::ChannelId)
                            .to(NotificationChannels::Table, NotificationChannels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One message per channel, alert and state change ("raised"/"resolved"): a second
        // evaluation of the same change inserts nothing. Test messages have no alert.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_once")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::ChannelId)
                    .col(NotificationOutbox::AlertId)
                    .col(NotificationOutbox::Event)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::Sent)
                    .col(NotificationOutbox::NextAttempt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(pk_auto(ApiTokens::Id))
                    .col(integer(ApiTokens::UserId))
                    .col(string_len(ApiTokens::Name, 128))
                    .col(string_len(ApiTokens::Scope, 8))
                    .col(string_len(ApiTokens::TokenHash, 64).unique_key())
                    .col(timestamp_with_time_zone(ApiTokens::Created))
                    .col(timestamp_with_time_zone_null(ApiTokens::Expires))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsed))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Health reads, per (policy, client), the newest backup of some statuses and the
        // failures since the newest success: with this index those are seeks, not scans of
        // every job ever run.
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_pair_health")
                    .table(Jobs::Table)
                    .col(Jobs::PolicyId)
                    .col(Jobs::ClientId)
                    .col(Jobs::JobType)
                    .col(Jobs::Status)
                    .col(Jobs::Id)
                    .to_owned(),
            )
            .await?;
        // And the newest finished job of each client (the unreachable-client rule).
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_client_health")
                    .table(Jobs::Table)
                    .col(Jobs::ClientId)
                    .col(Jobs::Status)
                    .col(Jobs::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_jobs_pair_health", "idx_jobs_client_health"] {
            manager
                .drop_index(Index::drop().name(name).table(Jobs::Table).to_owned())
                .await?;
        }
        for t in [
            ApiTokens::Table.into_iden(),
            NotificationOutbox::Table.into_iden(),
            NotificationChannels::Table.into_iden(),
            Alerts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        for col in [Policies::MaxAgeHours, Policies::TimeLimitHours] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Policies::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
