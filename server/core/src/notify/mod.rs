//! Delivering notifications: the outbox rows written with each alert change are sent by
//! [`run`] to their channel (webhook, ntfy/Gotify, Slack/Mattermost, email), retried with
//! back-off until they are accepted. Nothing here runs inside a job: a slow or dead receiver
//! delays only its own messages.
mod send;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::{
    entities::{notification_channel, notification_outbox},
    secrets::Secrets,
    stamps::now,
};

pub use send::{Channel, check_target, deliver, split_addresses};

pub const RAISED: &str = "raised";
pub const RESOLVED: &str = "resolved";
pub const TEST: &str = "test";

/// What every channel is told, as the webhook's JSON body and the source of the other formats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// `raised`, `resolved` or `test`.
    pub event: String,
    pub alert: Option<i32>,
    pub kind: String,
    pub key: String,
    pub message: String,
    pub policy: Option<i32>,
    pub policy_name: String,
    pub client: Option<i32>,
    pub client_hostname: String,
    pub repository: Option<i32>,
    pub repository_name: String,
    pub job: Option<i32>,
    pub first_seen: Option<DateTime<Utc>>,
    pub resolved: Option<DateTime<Utc>>,
}

impl Message {
    /// A one-line subject: `[CyBorgBackup] RESOLVED backup_late: nightly on web1`.
    pub fn title(&self) -> String {
        let what = [
            &self.policy_name,
            &self.client_hostname,
            &self.repository_name,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str())
        .collect::<Vec<_>>();
        let state = self.event.to_uppercase();
        if what.is_empty() {
            format!("[CyBorgBackup] {state} {}", self.kind)
        } else {
            format!("[CyBorgBackup] {state} {}: {}", self.kind, what.join(" / "))
        }
    }

    pub fn test() -> Self {
        Self {
            event: TEST.into(),
            alert: None,
            kind: "test".into(),
            key: "test".into(),
            message: "A test message from CyBorgBackup: this channel works.".into(),
            policy: None,
            policy_name: String::new(),
            client: None,
            client_hostname: String::new(),
            repository: None,
            repository_name: String::new(),
            job: None,
            first_seen: None,
            resolved: None,
        }
    }
}

/// Seconds before retry `attempt` (1-based): 10 s, 30 s, 1 min, 5 min, 15 min, then hourly.
/// A message is never given up: a channel down for a day still gets it when it is back.
pub fn backoff(attempt: i32) -> TimeDelta {
    TimeDelta::seconds(match attempt {
        ..=1 => 10,
        2 => 30,
        3 => 60,
        4 => 300,
        5 => 900,
        _ => 3600,
    })
}

/// How long a claimed message is left to one sender before another process may try it.
const LEASE: TimeDelta = TimeDelta::seconds(120);
/// Messages sent per round.
const BATCH: u64 = 50;
const IDLE: Duration = Duration::from_secs(5);

/// Sends due messages until the process ends; `wake` is notified when an alert changes.
pub async fn run(db: DatabaseConnection, secrets: Secrets, wake: std::sync::Arc<Notify>) {
    loop {
        match round(&db, &secrets).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!("notifications: {e:#}"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(IDLE) => {}
        }
    }
}

/// Sends the messages due now; answers how many it tried.
pub async fn round(db: &DatabaseConnection, secrets: &Secrets) -> anyhow::Result<usize> {
    let t = now();
    let due = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Sent.is_null())
        .filter(notification_outbox::Column::NextAttempt.lte(t))
        .order_by_asc(notification_outbox::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?;
    let tried = due.len();
    for m in due {
        // Claim it: moving `next_attempt` past the lease, only if nobody moved it first.
        let claimed = notification_outbox::Entity::update_many()
            .col_expr(
                notification_outbox::Column::NextAttempt,
                Expr::value(t + LEASE),
            )
            .filter(notification_outbox::Column::Id.eq(m.id))
            .filter(notification_outbox::Column::NextAttempt.eq(m.next_attempt))
            .filter(notification_outbox::Column::Sent.is_null())
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let Some(channel) = notification_channel::Entity::find_by_id(m.channel_id)
            .one(db)
            .await?
        else {
            continue;
        };
        let outcome = match serde_json::from_str::<Message>(&m.payload) {
            Ok(msg) => match Channel::open(&channel, secrets) {
                Ok(ch) => deliver(&ch, &msg).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(anyhow::anyhow!("unreadable message: {e}")),
        };
        let done = now();
        match outcome {
            Ok(()) => {
                notification_outbox::Entity::update_many()
                    .col_expr(notification_outbox::Column::Sent, Expr::value(done))
                    .col_expr(
                        notification_outbox::Column::Attempts,
                        Expr::value(m.attempts + 1),
                    )
                    .col_expr(notification_outbox::Column::LastError, Expr::value(""))
                    .filter(notification_outbox::Column::Id.eq(m.id))
                    .exec(db)
                    .await?;
            }
            Err(e) => {
                let attempts = m.attempts + 1;
                tracing::warn!(
                    "notification {} to channel {}: attempt {attempts} failed: {e:#}",
                    m.id,
                    channel.name
                );
                notification_outbox::Entity::update_many()
                    .col_expr(notification_outbox::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        notification_outbox::Column::NextAttempt,
                        Expr::value(done + backoff(attempts)),
                    )
                    .col_expr(
                        notification_outbox::Column::LastError,
                        Expr::value(format!("{e:#}").chars().take(2000).collect::<String>()),
                    )
                    .filter(notification_outbox::Column::Id.eq(m.id))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(tried)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_an_hour_and_stays() {
        let s: Vec<i64> = (1..=8).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(s, [10, 30, 60, 300, 900, 3600, 3600, 3600]);
    }

    #[test]
    fn titles_name_the_objects() {
        let mut m = Message::test();
        assert_eq!(m.title(), "[CyBorgBackup] TEST test");
        m.event = RESOLVED.into();
        m.kind = "backup_late".into();
        m.policy_name = "nightly".into();
        m.client_hostname = "web1".into();
        assert_eq!(
            m.title(),
            "[CyBorgBackup] RESOLVED backup_late: nightly / web1"
        );
    }
}
