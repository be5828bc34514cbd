//! Alerts: raised and resolved by the rules in [`evaluate`] from the health of every pair, the
//! repositories' checks and the clients' preparations; listed and acknowledged by operators.
//!
//! Each change of an alert and the notification messages it causes are written in one
//! transaction (the outbox): a restart loses none, and the unique indexes (one open alert per
//! key, one message per channel, alert and change) keep several evaluating processes from
//! raising or announcing anything twice.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use cyborg_dto::{Alert, AlertKind, HealthState, JobStatus, JobType, Page};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement, TransactionTrait, sea_query::Expr,
};

use super::{
    Actor, health,
    list::{Field, Kind, ListRequest},
    resource::{self, Resource},
};
use crate::{
    engine::is_ssh_failure,
    entities::{alert, client, job, notification_channel, notification_outbox, policy, repository},
    error::{Error, Result},
    notify::{self, Message},
    state::AppState,
};

const T: &str = "alerts";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("kind", T, "kind", Kind::Text),
    Field::new("key", T, "key", Kind::Text),
    Field::new("policy", T, "policy_id", Kind::Int),
    Field::new("client", T, "client_id", Kind::Int),
    Field::new("repository", T, "repository_id", Kind::Int),
    Field::new("job", T, "job_id", Kind::Int),
    Field::new("message", T, "message", Kind::Text).searchable(),
    Field::new("first_seen", T, "first_seen", Kind::DateTime),
    Field::new("last_seen", T, "last_seen", Kind::DateTime),
    Field::new("resolved", T, "resolved", Kind::DateTime),
    Field::new("acknowledged", T, "acknowledged", Kind::DateTime),
];

pub struct Alerts;

impl Resource for Alerts {
    type Entity = alert::Entity;
    type Dto = Alert;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(_: &AppState, _: &Actor, rows: Vec<alert::Model>) -> Result<Vec<Alert>> {
        Ok(rows.into_iter().map(dto).collect())
    }
}

fn dto(a: alert::Model) -> Alert {
    let state = if a.resolved.is_some() {
        "resolved"
    } else if a.acknowledged.is_some() {
        "acknowledged"
    } else {
        "open"
    };
    Alert {
        id: a.id,
        url: format!("/api/v1/alerts/{}/", a.id),
        kind: a.kind.to_string(),
        key: a.key,
        state: state.into(),
        policy: a.policy_id,
        client: a.client_id,
        repository: a.repository_id,
        job: a.job_id,
        message: a.message,
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        resolved: a.resolved,
        acknowledged: a.acknowledged,
        acknowledged_by: a.acknowledged_by,
    }
}

/// Alerts, newest first by default; `resolved__isnull=true` for the open ones.
pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Alert>> {
    resource::list::<Alerts>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Alert> {
    resource::get::<Alerts>(st, actor, id).await
}

/// Acknowledges an open alert: it stays open (and resolves by itself) but is marked as seen by
/// the caller. Any user may (operators on call are not always superusers); a resolved alert is
/// a 409.
pub async fn acknowledge(st: &AppState, actor: &Actor, id: i32) -> Result<Alert> {
    let a = super::find::<alert::Entity>(&st.db, id).await?;
    if a.resolved.is_some() {
        return Err(Error::Conflict("The alert is already resolved.".into()));
    }
    if a.acknowledged.is_none() {
        alert::Entity::update_many()
            .col_expr(alert::Column::Acknowledged, Expr::value(super::now()))
            .col_expr(alert::Column::AcknowledgedBy, Expr::value(actor.id()))
            .filter(alert::Column::Id.eq(id))
            .filter(alert::Column::Acknowledged.is_null())
            .exec(&st.db)
            .await?;
    }
    get(st, actor, id).await
}

/// An alert the rules want open now.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub kind: AlertKind,
    pub key: String,
    pub policy_id: Option<i32>,
    pub client_id: Option<i32>,
    pub repository_id: Option<i32>,
    pub job_id: Option<i32>,
    pub message: String,
}

/// What one evaluation changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    pub raised: usize,
    pub resolved: usize,
}

/// The alerts the rules want open at `now`.
pub async fn wanted(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<Wanted>> {
    let mut out = Vec::new();
    for r in health::rows(db, now).await? {
        let kind = match HealthState::parse(&r.state) {
            Some(HealthState::Failing) => AlertKind::BackupFailed,
            Some(HealthState::Late) => AlertKind::BackupLate,
            _ => continue,
        };
        out.push(Wanted {
            kind,
            key: format!("{kind}:policy={}:client={}", r.policy, r.client),
            policy_id: Some(r.policy),
            client_id: Some(r.client),
            repository_id: Some(r.repository),
            job_id: r.last_attempt_job,
            message: format!("{} on {}: {}", r.policy_name, r.client_hostname, r.reason),
        });
    }
    for r in health::repository_checks(db, now).await? {
        let failed = matches!(r.last_check_status.as_str(), "failed" | "error");
        if failed {
            out.push(Wanted {
                kind: AlertKind::IntegrityFailed,
                key: format!("{}:repository={}", AlertKind::IntegrityFailed, r.repository),
                policy_id: None,
                client_id: None,
                repository_id: Some(r.repository),
                job_id: newest_integrity(db, r.repository).await?,
                message: format!(
                    "The newest integrity check of {} {}.",
                    r.name, r.last_check_status
                ),
            });
        }
        if r.check_overdue && !failed {
            let since = match r.last_check_success {
                Some(t) => format!("since {}", t.format("%Y-%m-%d %H:%M UTC")),
                None => "ever".into(),
            };
            out.push(Wanted {
                kind: AlertKind::CheckOverdue,
                key: format!("{}:repository={}", AlertKind::CheckOverdue, r.repository),
                policy_id: None,
                client_id: None,
                repository_id: Some(r.repository),
                job_id: r.last_check_job,
                message: format!(
                    "{} has had no successful integrity check {since}, although its schedule expected one.",
                    r.name
                ),
            });
        }
    }
    out.extend(unreachable_clients(db).await?);
    Ok(out)
}

async fn newest_integrity(db: &DatabaseConnection, repository: i32) -> Result<Option<i32>> {
    Ok(job::Entity::find()
        .select_only()
        .column_as(job::Column::Id.max(), "id")
        .filter(job::Column::JobType.eq(JobType::Integrity))
        .filter(job::Column::RepositoryId.eq(repository))
        .into_tuple::<Option<i32>>()
        .one(db)
        .await?
        .flatten())
}

/// Clients whose newest finished job (of any type) could not reach them over SSH; resolved by
/// the next job that does.
async fn unreachable_clients(db: &DatabaseConnection) -> Result<Vec<Wanted>> {
    // The newest finished job per client: one index seek per client and status
    // (`idx_jobs_client_health`) instead of a GROUP BY over every job.
    let mut newest: HashMap<i32, i32> = HashMap::new();
    for status in [JobStatus::Successful, JobStatus::Failed, JobStatus::Error] {
        let sql = format!(
            "SELECT c.id, (SELECT MAX(j.id) FROM jobs j \
               WHERE j.client_id = c.id AND j.status = '{s}') FROM clients c",
            s = status.as_str()
        );
        let rows = db
            .query_all(Statement::from_string(db.get_database_backend(), sql))
            .await?;
        for r in rows {
            if let Some(id) = r.try_get_by_index::<Option<i32>>(1)? {
                let e = newest.entry(r.try_get_by_index(0)?).or_insert(id);
                *e = (*e).max(id);
            }
        }
    }
    let ids: Vec<i32> = newest.into_values().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let failed: Vec<job::Model> = job::Entity::find()
            .filter(job::Column::Id.is_in(chunk.iter().copied()))
            .filter(job::Column::Status.eq(JobStatus::Error))
            .all(db)
            .await?
            .into_iter()
            .filter(|j| is_ssh_failure(&j.job_explanation))
            .collect();
        let names: HashMap<i32, String> = client::Entity::find()
            .filter(client::Column::Id.is_in(failed.iter().filter_map(|j| j.client_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.hostname))
            .collect();
        for j in failed {
            let Some(c) = j.client_id else { continue };
            let Some(host) = names.get(&c) else { continue };
            out.push(Wanted {
                kind: AlertKind::ClientUnreachable,
                key: format!("{}:client={c}", AlertKind::ClientUnreachable),
                policy_id: j.policy_id,
                client_id: Some(c),
                repository_id: j.repository_id,
                job_id: Some(j.id),
                message: format!(
                    "{host} could not be reached (job {}): {}",
                    j.id, j.job_explanation
                ),
            });
        }
    }
    Ok(out)
}

/// Raises what the rules want and is not open, refreshes what is, resolves what they no longer
/// want; each change with its messages in one transaction.
pub async fn evaluate(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Changes> {
    let wanted = wanted(db, now).await?;
    let open: HashMap<String, alert::Model> = alert::Entity::find()
        .filter(alert::Column::Resolved.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.key.clone(), a))
        .collect();
    let channels = notification_channel::Entity::find()
        .filter(notification_channel::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let names = Names::load(db).await?;
    let mut changes = Changes::default();
    let wanted_keys: HashSet<&str> = wanted.iter().map(|w| w.key.as_str()).collect();
    for w in &wanted {
        match open.get(&w.key) {
            Some(a) => {
                if a.message != w.message || a.job_id != w.job_id {
                    alert::Entity::update_many()
                        .col_expr(alert::Column::LastSeen, Expr::value(now))
                        .col_expr(alert::Column::Message, Expr::value(w.message.clone()))
                        .col_expr(alert::Column::JobId, Expr::value(w.job_id))
                        .filter(alert::Column::Id.eq(a.id))
                        .exec(db)
                        .await?;
                }
            }
            None => {
                if raise(db, w, now, &channels, &names).await? {
                    changes.raised += 1;
                }
            }
        }
    }
    for a in open
        .values()
        .filter(|a| !wanted_keys.contains(a.key.as_str()))
    {
        if resolve(db, a, now, &channels, &names).await? {
            changes.resolved += 1;
        }
    }
    Ok(changes)
}

/// Names of the objects an alert message refers to, for the notification's title.
struct Names {
    policies: HashMap<i32, String>,
    clients: HashMap<i32, String>,
    repositories: HashMap<i32, String>,
}

impl Names {
    async fn load(db: &DatabaseConnection) -> Result<Self> {
        Ok(Self {
            policies: policy::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            clients: client::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c.hostname))
                .collect(),
            repositories: repository::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|r| (r.id, r.name))
                .collect(),
        })
    }

    fn message(&self, a: &alert::Model, event: &str) -> Message {
        let name = |m: &HashMap<i32, String>, id: Option<i32>| {
            id.and_then(|i| m.get(&i).cloned()).unwrap_or_default()
        };
        Message {
            event: event.into(),
            alert: Some(a.id),
            kind: a.kind.to_string(),
            key: a.key.clone(),
            message: a.message.clone(),
            policy: a.policy_id,
            policy_name: name(&self.policies, a.policy_id),
            client: a.client_id,
            client_hostname: name(&self.clients, a.client_id),
            repository: a.repository_id,
            repository_name: name(&self.repositories, a.repository_id),
            job: a.job_id,
            first_seen: Some(a.first_seen),
            resolved: a.resolved,
        }
    }
}

async fn raise(
    db: &DatabaseConnection,
    w: &Wanted,
    now: DateTime<Utc>,
    channels: &[notification_channel::Model],
    names: &Names,
) -> Result<bool> {
    let txn = db.begin().await?;
    let inserted = alert::ActiveModel {
        kind: Set(w.kind),
        key: Set(w.key.clone()),
        policy_id: Set(w.policy_id),
        client_id: Set(w.client_id),
        repository_id: Set(w.repository_id),
        job_id: Set(w.job_id),
        message: Set(w.message.clone()),
        first_seen: Set(now),
        last_seen: Set(now),
        resolved: Set(None),
        acknowledged: Set(None),
        acknowledged_by: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let a = match inserted {
        Ok(a) => a,
        // Another process raised it first (the partial unique index on open keys).
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    queue(&txn, &a, notify::RAISED, channels, names, now).await?;
    txn.commit().await?;
    tracing::info!("alert raised: {}: {}", a.key, a.message);
    Ok(true)
}

async fn resolve(
    db: &DatabaseConnection,
    a: &alert::Model,
    now: DateTime<Utc>,
    channels: &[notification_channel::Model],
    names: &Names,
) -> Result<bool> {
    let txn = db.begin().await?;
    let r = alert::Entity::update_many()
        .col_expr(alert::Column::Resolved, Expr::value(now))
        .col_expr(alert::Column::LastSeen, Expr::value(now))
        .filter(alert::Column::Id.eq(a.id))
        .filter(alert::Column::Resolved.is_null())
        .exec(&txn)
        .await?;
    if r.rows_affected != 1 {
        // Another process resolved it (and announced it).
        return Ok(false);
    }
    let resolved = alert::Model {
        resolved: Some(now),
        last_seen: now,
        ..a.clone()
    };
    queue(&txn, &resolved, notify::RESOLVED, channels, names, now).await?;
    txn.commit().await?;
    tracing::info!("alert resolved: {}", a.key);
    Ok(true)
}

/// One outbox row per channel that wants this kind of alert.
async fn queue(
    txn: &impl ConnectionTrait,
    a: &alert::Model,
    event: &str,
    channels: &[notification_channel::Model],
    names: &Names,
    now: DateTime<Utc>,
) -> Result<()> {
    let payload =
        serde_json::to_string(&names.message(a, event)).map_err(|e| Error::Internal(e.into()))?;
    for c in channels
        .iter()
        .filter(|c| super::notifications::wants(c, a.kind))
    {
        notification_outbox::ActiveModel {
            channel_id: Set(c.id),
            alert_id: Set(Some(a.id)),
            event: Set(event.into()),
            payload: Set(payload.clone()),
            attempts: Set(0),
            next_attempt: Set(now),
            sent: Set(None),
            last_error: Set(String::new()),
            created: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}
