//! Jobs, read side: the list and detail of every job, its log (stdout and numbered events), the
//! delete of a finished job, and the 30-day statistics. Jobs are made by the engine, not here.
use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate, Utc};
use cyborg_dto::{
    JOB_LOG_LINES, Job, JobClientRef, JobEvent, JobPolicyRef, JobRepositoryRef, JobStatus,
    JobSummary, JobType, JobView, Launched, Page, StatsDay,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::{
    Actor, audit_parts, find,
    list::{self, Field, Kind, ListRequest},
    resource::{self, Resource},
    user_refs,
};
use crate::{
    engine::launch::{self, LaunchRequest, LaunchType},
    entities::{client, job, job_event, policy, repository},
    error::{Error, Result},
    state::AppState,
};

const T: &str = "jobs";
pub const FIELDS: &[Field] = &[
    Field::new("id", T, "id", Kind::Int),
    Field::new("name", T, "name", Kind::Text).searchable(),
    Field::new("uuid", T, "uuid", Kind::Text),
    Field::new("job_type", T, "job_type", Kind::Text),
    Field::new("launch_type", T, "launch_type", Kind::Text),
    Field::new("status", T, "status", Kind::Text),
    Field::new("execution_node", T, "runner_node", Kind::Text),
    Field::new("failed", T, "failed", Kind::Bool),
    Field::new("started", T, "started", Kind::DateTime),
    Field::new("finished", T, "finished", Kind::DateTime),
    Field::new("policy", T, "policy_id", Kind::Int),
    Field::new("client", T, "client_id", Kind::Int),
    Field::new("repository", T, "repository_id", Kind::Int),
    Field::new("archive_name", T, "archive_name", Kind::Text).searchable(),
    Field::new("original_size", T, "original_size", Kind::Int),
    Field::new("compressed_size", T, "compressed_size", Kind::Int),
    Field::new("deduplicated_size", T, "deduplicated_size", Kind::Int),
    Field::new("master_job", T, "master_job_id", Kind::Int),
    Field::new("depends_on", T, "depends_on_id", Kind::Int),
    Field::new("created", T, "created", Kind::DateTime),
    Field::new("modified", T, "modified", Kind::DateTime),
    Field::new("created_by", T, "created_by", Kind::Int),
    Field::new("modified_by", T, "modified_by", Kind::Int),
];

const E: &str = "job_events";
pub const EVENT_FIELDS: &[Field] = &[
    Field::new("id", E, "id", Kind::Int),
    Field::new("counter", E, "counter", Kind::Int),
    Field::new("stdout", E, "stdout", Kind::Text).searchable(),
    Field::new("created", E, "created", Kind::DateTime),
];

pub struct Jobs;

impl Resource for Jobs {
    type Entity = job::Entity;
    type Dto = Job;
    const FIELDS: &'static [Field] = FIELDS;

    async fn to_dtos(st: &AppState, _actor: &Actor, rows: Vec<job::Model>) -> Result<Vec<Job>> {
        let refs = user_refs(
            &st.db,
            rows.iter().flat_map(|r| [r.created_by, r.modified_by]),
        )
        .await?;
        let policies: HashMap<i32, policy::Model> = policy::Entity::find()
            .filter(policy::Column::Id.is_in(rows.iter().filter_map(|r| r.policy_id)))
            .all(&st.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let clients: HashMap<i32, client::Model> = client::Entity::find()
            .filter(client::Column::Id.is_in(rows.iter().filter_map(|r| r.client_id)))
            .all(&st.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let repositories: HashMap<i32, repository::Model> = repository::Entity::find()
            .filter(repository::Column::Id.is_in(rows.iter().filter_map(|r| r.repository_id)))
            .all(&st.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut dependents: HashMap<i32, Vec<i32>> = HashMap::new();
        let deps: Vec<(i32, Option<i32>)> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .column(job::Column::DependsOnId)
            .filter(job::Column::DependsOnId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(job::Column::Id)
            .into_tuple()
            .all(&st.db)
            .await?;
        for (id, on) in deps {
            if let Some(on) = on {
                dependents.entry(on).or_default().push(id);
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let parts = audit_parts(&refs, r.created, r.modified, r.created_by, r.modified_by);
                let mut related = parts.related;
                let base = format!("/api/v1/jobs/{}/", r.id);
                for action in ["stdout", "events", "stream", "cancel", "relaunch"] {
                    related.insert(action.into(), format!("{base}{action}/"));
                }
                if let Some(id) = r.policy_id {
                    related.insert("policy".into(), format!("/api/v1/policies/{id}/"));
                }
                if let Some(id) = r.client_id {
                    related.insert("client".into(), format!("/api/v1/clients/{id}/"));
                }
                if let Some(id) = r.repository_id {
                    related.insert("repository".into(), format!("/api/v1/repositories/{id}/"));
                }
                if let Some(id) = r.master_job_id {
                    related.insert("master_job".into(), format!("/api/v1/jobs/{id}/"));
                }
                let summary = JobSummary {
                    policy: r
                        .policy_id
                        .and_then(|id| policies.get(&id))
                        .map(|p| JobPolicyRef {
                            id: p.id,
                            name: p.name.clone(),
                            policy_type: p.policy_type.to_string(),
                        }),
                    client: r
                        .client_id
                        .and_then(|id| clients.get(&id))
                        .map(|c| JobClientRef {
                            id: c.id,
                            hostname: c.hostname.clone(),
                        }),
                    repository: r
                        .repository_id
                        .and_then(|id| repositories.get(&id))
                        .map(|p| JobRepositoryRef {
                            id: p.id,
                            name: p.name.clone(),
                        }),
                    audit: parts.summary,
                };
                Job {
                    id: r.id,
                    kind: "job".into(),
                    url: base,
                    related,
                    summary_fields: summary,
                    audit: parts.audit,
                    name: r.name,
                    job_type: r.job_type.to_string(),
                    launch_type: r.launch_type.to_string(),
                    status: r.status.to_string(),
                    failed: r.failed,
                    started: r.started,
                    finished: r.finished,
                    elapsed: r.elapsed,
                    policy: r.policy_id,
                    client: r.client_id,
                    repository: r.repository_id,
                    archive_name: r.archive_name,
                    original_size: r.original_size,
                    compressed_size: r.compressed_size,
                    deduplicated_size: r.deduplicated_size,
                    job_explanation: r.job_explanation,
                    master_job: r.master_job_id,
                    dependent_jobs: dependents.remove(&r.id).unwrap_or_default(),
                    extra_vars: r.extra_vars,
                    execution_node: r.runner_node,
                }
            })
            .collect())
    }
}

pub async fn list(st: &AppState, actor: &Actor, req: &ListRequest) -> Result<Page<Job>> {
    resource::list::<Jobs>(st, actor, req).await
}

pub async fn get(st: &AppState, actor: &Actor, id: i32) -> Result<Job> {
    resource::get::<Jobs>(st, actor, id).await
}

/// `POST /api/v1/policies/{id}/launch/` (superuser): a backup chain per enabled client.
pub async fn launch_policy(st: &AppState, actor: &Actor, policy_id: i32) -> Result<Launched> {
    actor.require_superuser()?;
    find::<policy::Entity>(&st.db, policy_id).await?;
    let l = launch::launch(
        &st.engine,
        LaunchRequest {
            policy_id,
            launch_type: LaunchType::Manual,
            user: Some(actor.id()),
            only_client: None,
            explanation: String::new(),
        },
    )
    .await?;
    Ok(launched(l))
}

/// `POST /api/v1/jobs/{id}/relaunch/` (superuser): the job again, as a new job.
pub async fn relaunch(st: &AppState, actor: &Actor, id: i32) -> Result<Launched> {
    actor.require_superuser()?;
    let old = find::<job::Entity>(&st.db, id).await?;
    Ok(launched(
        launch::relaunch(&st.engine, &old, Some(actor.id())).await?,
    ))
}

fn launched(l: launch::Launched) -> Launched {
    let jobs = if l.backups.is_empty() {
        l.all
    } else {
        l.backups
    };
    Launched {
        job: jobs.first().copied().unwrap_or_default(),
        jobs,
    }
}

/// `POST /api/v1/jobs/{id}/cancel/` (superuser): 409 when the job is over.
pub async fn cancel(st: &AppState, actor: &Actor, id: i32) -> Result<Job> {
    actor.require_superuser()?;
    find::<job::Entity>(&st.db, id).await?;
    st.engine.cancel(id).await?;
    get(st, actor, id).await
}

/// Deletes a finished job with its log; a job still queued or running is a 409.
pub async fn delete(st: &AppState, actor: &Actor, id: i32) -> Result<()> {
    actor.require_superuser()?;
    let row = find::<job::Entity>(&st.db, id).await?;
    if !row.status.is_finished() {
        return Err(Error::Conflict(format!(
            "The job is {}; only a finished job (successful, failed, error or canceled) can be \
             deleted. Cancel it first.",
            row.status
        )));
    }
    let txn = st.db.begin().await?;
    job_event::Entity::delete_many()
        .filter(job_event::Column::JobId.eq(id))
        .exec(&txn)
        .await?;
    job::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Lines of a log read at a time by [`stdout`].
const LOG_PAGE: u64 = 5000;

/// The whole log of a job, lines in counter order joined by `\n`, as text chunks read
/// `LOG_PAGE` lines at a time: a log of millions of lines is never held whole.
pub async fn stdout(
    st: &AppState,
    _actor: &Actor,
    id: i32,
) -> Result<
    impl futures_util::Stream<Item = std::result::Result<String, sea_orm::DbErr>> + Send + 'static,
> {
    find::<job::Entity>(&st.db, id).await?;
    // (counter, row id) of the last line sent; `None` before the first page.
    let start: Option<(i32, i64)> = None;
    let db = st.db.clone();
    Ok(futures_util::stream::try_unfold(
        (db, start, false),
        move |(db, after, done)| async move {
            if done {
                return Ok(None);
            }
            let mut q = job_event::Entity::find()
                .select_only()
                .column(job_event::Column::Counter)
                .column(job_event::Column::Id)
                .column(job_event::Column::Stdout)
                .filter(job_event::Column::JobId.eq(id));
            if let Some((c, i)) = after {
                q = q.filter(
                    sea_orm::Condition::any()
                        .add(job_event::Column::Counter.gt(c))
                        .add(
                            sea_orm::Condition::all()
                                .add(job_event::Column::Counter.eq(c))
                                .add(job_event::Column::Id.gt(i)),
                        ),
                );
            }
            let rows: Vec<(i32, i64, String)> = q
                .order_by_asc(job_event::Column::Counter)
                .order_by_asc(job_event::Column::Id)
                .limit(LOG_PAGE)
                .into_tuple()
                .all(&db)
                .await?;
            let Some(&(c, i, _)) = rows.last() else {
                return Ok(None);
            };
            let last_page = (rows.len() as u64) < LOG_PAGE;
            let mut chunk = String::new();
            for (n, (_, _, line)) in rows.into_iter().enumerate() {
                if n > 0 || after.is_some() {
                    chunk.push('\n');
                }
                chunk.push_str(&line);
            }
            Ok(Some((chunk, (db, Some((c, i)), last_page))))
        },
    ))
}

/// The log as numbered lines, through the list engine; default order: counter ascending.
pub async fn events(
    st: &AppState,
    _actor: &Actor,
    id: i32,
    req: &ListRequest,
) -> Result<Page<JobEvent>> {
    find::<job::Entity>(&st.db, id).await?;
    let mut planned = req.clone();
    if !req
        .params
        .iter()
        .any(|(k, _)| k == "order_by" || k == "order")
    {
        planned.params.push(("order_by".into(), "counter".into()));
    }
    let plan = list::plan(
        EVENT_FIELDS,
        &EVENT_FIELDS[0],
        &planned,
        st.db.get_database_backend(),
    )?;
    let select = job_event::Entity::find().filter(job_event::Column::JobId.eq(id));
    let (count, select) = list::window(&st.db, select, &plan).await?;
    let rows = select.all(&st.db).await?;
    Ok(list::page(
        req,
        &plan,
        count,
        rows.into_iter()
            .map(|e| JobEvent {
                id: e.id,
                counter: e.counter,
                stdout: e.stdout,
                created: e.created,
            })
            .collect(),
    ))
}

/// What the statistics read of one finished job: finished, status, job_type, original and
/// deduplicated size.
type StatsRow = (Option<chrono::DateTime<Utc>>, JobStatus, JobType, i64, i64);

/// Days in the statistics window, today (UTC) included.
pub const STATS_DAYS: u64 = 30;

/// One row per UTC day of the last 30, oldest first: what the successful backups of that day
/// read (`size`) and added (`dedup`), and how many jobs ended well or badly.
pub async fn stats(st: &AppState, _actor: &Actor) -> Result<Vec<StatsDay>> {
    stats_at(st, Utc::now().date_naive()).await
}

async fn stats_at(st: &AppState, today: NaiveDate) -> Result<Vec<StatsDay>> {
    let first = today
        .checked_sub_days(Days::new(STATS_DAYS - 1))
        .unwrap_or(today);
    let start = first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end = today
        .checked_add_days(Days::new(1))
        .unwrap_or(today)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let mut days: BTreeMap<NaiveDate, StatsDay> = first
        .iter_days()
        .take(STATS_DAYS as usize)
        .map(|d| {
            (
                d,
                StatsDay {
                    date: d.format("%Y-%m-%d").to_string(),
                    size: 0,
                    dedup: 0,
                    success: 0,
                    failed: 0,
                },
            )
        })
        .collect();
    // Grouping by day is done here rather than in SQL: the day of a timestamp is spelled
    // differently on each database, and 30 days of finished jobs are few rows of 5 columns.
    let rows: Vec<StatsRow> = job::Entity::find()
        .select_only()
        .column(job::Column::Finished)
        .column(job::Column::Status)
        .column(job::Column::JobType)
        .column(job::Column::OriginalSize)
        .column(job::Column::DeduplicatedSize)
        .filter(job::Column::Finished.gte(start))
        .filter(job::Column::Finished.lt(end))
        .filter(job::Column::Status.is_in([
            JobStatus::Successful,
            JobStatus::Failed,
            JobStatus::Error,
        ]))
        .into_tuple()
        .all(&st.db)
        .await?;
    for (finished, status, job_type, original, dedup) in rows {
        let Some(day) = finished.and_then(|f| days.get_mut(&f.date_naive())) else {
            continue;
        };
        if status == JobStatus::Successful {
            day.success += 1;
            if job_type == JobType::Backup {
                day.size = day.size.saturating_add(original);
                day.dedup = day.dedup.saturating_add(dedup);
            }
        } else {
            day.failed += 1;
        }
    }
    Ok(days.into_values().collect())
}

/// The job and its last `JOB_LOG_LINES` lines, read newest first in one query so the last
/// counter is the one of the lines answered (the job page follows the log after it).
pub async fn view(st: &AppState, actor: &Actor, id: i32) -> Result<JobView> {
    let job = get(st, actor, id).await?;
    let req = ListRequest::of(
        &format!("/api/v1/jobs/{id}/events/"),
        &[
            ("order_by", "-counter".into()),
            ("page_size", JOB_LOG_LINES.to_string()),
        ],
    );
    let page = events(st, actor, id, &req).await?;
    let last_counter = page.results.first().map(|e| e.counter).unwrap_or(0);
    let lines = page.results.into_iter().rev().map(|e| e.stdout).collect();
    Ok(JobView {
        job,
        lines,
        last_counter,
        total_lines: page.count,
    })
}
