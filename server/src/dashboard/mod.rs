//! The dashboard's backend: what the Leptos server functions of `app` call, implemented with the
//! service layer (the same calls as the REST API's handlers; no rule is written here twice).
mod job_pages;
mod resources;

use std::{collections::BTreeMap, sync::Arc};

use app::{
    backend::{Backend, BackendError, BackendFuture, BackendResult, NewSession, SharedBackend},
    dto::{
        ArchiveRef, CalendarMonth, CatalogDir, CatalogEntry, HostKeyAccept, HostKeyOp, HostKeyView,
        HostKind, Job, JobView, Launched, ModuleList, NextRun, Overview, Page, RestoreInput,
        Retention, Schedule, ScheduleInput, SchedulePreview, SchedulePreviewInput, SessionUser,
    },
    resources::{Choices, ResourceKind, ResourceRow},
};
use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    error::Error,
    services::{
        Actor, auth, calendar, catalogs, clients, host_keys, integrity, jobs, list::ListRequest,
        modules, policies, repositories, resource, restore, retention, schedules,
    },
    state::AppState,
};

/// How many coming runs and recent jobs the overview shows.
pub const OVERVIEW_ROWS: usize = 10;
/// How many dependent objects a delete confirmation names (the rest are counted).
const DEPENDENTS_SHOWN: usize = 20;

pub struct Dashboard {
    st: AppState,
}

pub fn backend(st: AppState) -> SharedBackend {
    Arc::new(Dashboard { st })
}

fn to_backend(e: Error) -> BackendError {
    match e {
        Error::Unauthorized(m) => BackendError::Unauthorized(m),
        // Internal and database errors are logged, not shown: the operator gets a short message.
        Error::Internal(_) | Error::Database(_) => {
            tracing::error!("dashboard: {e}");
            BackendError::Failed("The server could not answer; see its log.".into())
        }
        Error::Validation(fields) => BackendError::Invalid(fields),
        Error::TooManyRequests {
            retry_after,
            message,
        } => BackendError::Busy {
            status: 429,
            retry_after,
            message,
        },
        Error::Unavailable {
            retry_after,
            message,
        } => BackendError::Busy {
            status: 503,
            retry_after,
            message,
        },
        Error::BadRequest(_)
        | Error::Forbidden(_)
        | Error::NotFound(_)
        | Error::MethodNotAllowed
        | Error::Conflict(_)
        | Error::BadGateway(_) => BackendError::Refused(e.to_string()),
    }
}

fn session_user(a: &Actor) -> SessionUser {
    SessionUser {
        id: a.user.id,
        email: a.user.email.clone(),
        first_name: a.user.first_name.clone(),
        last_name: a.user.last_name.clone(),
        is_superuser: a.user.is_superuser,
    }
}

/// A list request as the REST API would receive it, for counting and small pages.
fn query(path: &str, params: &[(&str, String)]) -> ListRequest {
    ListRequest::new(
        path,
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

impl Dashboard {
    /// A client's or a remote repository's host key, as its page shows it.
    async fn host_key_view(
        &self,
        actor: &Actor,
        kind: HostKind,
        id: i32,
    ) -> crate::error::Result<HostKeyView> {
        Ok(match kind {
            HostKind::Client => {
                let c = clients::get(&self.st, actor, id).await?;
                HostKeyView {
                    kind,
                    id,
                    address: format!("{}@{}:{}", c.username, c.hostname, c.port),
                    label: c.hostname,
                    state: c.host_key,
                    authorized_keys: c.authorized_keys,
                }
            }
            HostKind::Repository => {
                let r = repositories::get(&self.st, actor, id).await?;
                let remote = crate::engine::location::remote_of(&r.path).ok_or_else(|| {
                    crate::error::Error::Conflict(format!(
                        "The repository {} is a folder: it has no host key.",
                        r.path
                    ))
                })?;
                HostKeyView {
                    kind,
                    id,
                    address: format!("{}@{}:{}", remote.user, remote.host, remote.port),
                    label: r.name,
                    state: r.host_key,
                    authorized_keys: r.authorized_keys,
                }
            }
        })
    }

    async fn actor(&self, token: &str) -> BackendResult<Actor> {
        auth::resolve(&self.st, auth::Credentials::Session(token.to_string()))
            .await
            .map_err(to_backend)
    }

    /// The overview's parts, read side by side: counts (no rows read), the statistics, the
    /// coming runs and the last jobs.
    async fn overview_of(&self, actor: &Actor) -> crate::error::Result<Overview> {
        let st = &self.st;
        let day_ago = (Utc::now() - TimeDelta::hours(24))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let (all_clients, all_policies, all_repositories) = (
            query("/api/v1/clients/", &[]),
            query("/api/v1/policies/", &[]),
            query("/api/v1/repositories/", &[]),
        );
        let running = query("/api/v1/jobs/", &[("status", "running".into())]);
        let failed = query(
            "/api/v1/jobs/",
            &[
                ("status__in", "failed,error".into()),
                ("finished__gte", day_ago),
            ],
        );
        let last = query(
            "/api/v1/jobs/",
            &[
                ("page_size", OVERVIEW_ROWS.to_string()),
                ("order_by", "-id".into()),
            ],
        );
        let (clients, policies, repositories, jobs_running, jobs_failed_24h) = futures_util::try_join!(
            resource::count::<clients::Clients>(st, &all_clients),
            resource::count::<policies::Policies>(st, &all_policies),
            resource::count::<repositories::Repositories>(st, &all_repositories),
            resource::count::<jobs::Jobs>(st, &running),
            resource::count::<jobs::Jobs>(st, &failed),
        )?;
        let (stats, next_runs, last_jobs) = futures_util::try_join!(
            jobs::stats(st, actor),
            next_runs(st, actor, Utc::now()),
            jobs::list(st, actor, &last),
        )?;
        Ok(Overview {
            clients,
            policies,
            repositories,
            jobs_running,
            jobs_failed_24h,
            stats,
            next_runs,
            last_jobs: last_jobs.results,
        })
    }
}

/// The first `OVERVIEW_ROWS` runs after `now` of every enabled policy: each policy's first
/// `OVERVIEW_ROWS` runs from the calendar service, merged in time order.
pub async fn next_runs(
    st: &AppState,
    actor: &Actor,
    now: DateTime<Utc>,
) -> crate::error::Result<Vec<NextRun>> {
    let mut runs = coming(
        calendar::coming_runs(st, actor, now, OVERVIEW_ROWS).await?,
        now,
    );
    runs.sort_by(|a, b| {
        (a.at, &a.policy_name, a.policy_id).cmp(&(b.at, &b.policy_name, b.policy_id))
    });
    runs.truncate(OVERVIEW_ROWS);
    Ok(runs)
}

fn coming(entries: Vec<app::dto::CalendarEntry>, now: DateTime<Utc>) -> Vec<NextRun> {
    let mut out = Vec::new();
    for e in entries {
        // Each policy's runs are ascending: its first OVERVIEW_ROWS after now are all it can add.
        for at in e.runs.into_iter().filter(|t| *t > now).take(OVERVIEW_ROWS) {
            out.push(NextRun {
                at,
                policy_id: e.policy.id,
                policy_name: e.policy.name.clone(),
                policy_type: e.policy.policy_type.clone(),
                schedule_name: e.schedule.name.clone(),
            });
        }
    }
    out
}

impl Backend for Dashboard {
    fn login<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
        from: std::net::IpAddr,
    ) -> BackendFuture<'a, NewSession> {
        Box::pin(async move {
            let (token, user) = auth::login(&self.st, email, password, from)
                .await
                .map_err(to_backend)?;
            Ok(NewSession {
                token,
                max_age: auth::SESSION_TTL.num_seconds(),
                user: session_user(&Actor::new(user)),
            })
        })
    }

    fn logout<'a>(&'a self, token: &'a str) -> BackendFuture<'a, ()> {
        Box::pin(async move { auth::logout(&self.st, token).await.map_err(to_backend) })
    }

    fn session_user<'a>(&'a self, token: &'a str) -> BackendFuture<'a, SessionUser> {
        Box::pin(async move { Ok(session_user(&self.actor(token).await?)) })
    }

    fn overview<'a>(&'a self, token: &'a str) -> BackendFuture<'a, Overview> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            self.overview_of(&actor).await.map_err(to_backend)
        })
    }

    fn schedules<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<Schedule>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let req = ListRequest::new("/api/v1/schedules/", query);
            schedules::list(&self.st, &actor, &req)
                .await
                .map_err(to_backend)
        })
    }

    fn schedule_preview<'a>(
        &'a self,
        token: &'a str,
        crontab: String,
        count: i64,
    ) -> BackendFuture<'a, SchedulePreview> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let input = SchedulePreviewInput {
                crontab: Some(crontab),
                count: Some(count),
            };
            match calendar::preview(&self.st, &actor, input).await {
                Ok(runs) => Ok(SchedulePreview {
                    runs,
                    error: String::new(),
                }),
                // What a save would answer for the crontab is the preview's answer, not a
                // failed call.
                Err(Error::Validation(fields)) => Ok(SchedulePreview {
                    runs: Vec::new(),
                    error: fields
                        .values()
                        .flatten()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" "),
                }),
                Err(e) => Err(to_backend(e)),
            }
        })
    }

    fn save_schedule<'a>(
        &'a self,
        token: &'a str,
        id: Option<i32>,
        input: ScheduleInput,
    ) -> BackendFuture<'a, Schedule> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            match id {
                None => schedules::create(&self.st, &actor, input).await,
                Some(id) => schedules::update(&self.st, &actor, id, input, false).await,
            }
            .map_err(to_backend)
        })
    }

    fn delete_schedule<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, ()> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            schedules::delete(&self.st, &actor, id)
                .await
                .map_err(to_backend)
        })
    }

    fn schedule_dependents<'a>(
        &'a self,
        token: &'a str,
        id: i32,
    ) -> BackendFuture<'a, Vec<String>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let req = query(
                "/api/v1/policies/",
                &[
                    ("schedule", id.to_string()),
                    ("order_by", "name".into()),
                    ("page_size", DEPENDENTS_SHOWN.to_string()),
                ],
            );
            let page = policies::list(&self.st, &actor, &req)
                .await
                .map_err(to_backend)?;
            let mut names: Vec<String> = page.results.into_iter().map(|p| p.name).collect();
            if page.count > names.len() as u64 {
                names.push(format!("and {} more", page.count - names.len() as u64));
            }
            Ok(names)
        })
    }

    fn calendar_month<'a>(
        &'a self,
        token: &'a str,
        month: Option<String>,
        policy: Option<i32>,
    ) -> BackendFuture<'a, CalendarMonth> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            calendar::month_view(&self.st, &actor, month.as_deref(), policy, Utc::now())
                .await
                .map_err(to_backend)
        })
    }

    fn resource_list<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<ResourceRow>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            resources::list(&self.st, &actor, kind, query)
                .await
                .map_err(to_backend)
        })
    }

    fn save_resource<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: Option<i32>,
        values: BTreeMap<String, String>,
    ) -> BackendFuture<'a, ResourceRow> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            resources::save(&self.st, &actor, kind, id, &values)
                .await
                .map_err(to_backend)
        })
    }

    fn delete_resource<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: i32,
    ) -> BackendFuture<'a, ()> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            resources::delete(&self.st, &actor, kind, id)
                .await
                .map_err(to_backend)
        })
    }

    fn resource_dependents<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: i32,
    ) -> BackendFuture<'a, Vec<String>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            resources::dependents(&self.st, &actor, kind, id)
                .await
                .map_err(to_backend)
        })
    }

    fn resource_choices<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
    ) -> BackendFuture<'a, Choices> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            resources::choices(&self.st, &actor, kind)
                .await
                .map_err(to_backend)
        })
    }

    fn jobs<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<Job>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let req = ListRequest::new("/api/v1/jobs/", query);
            jobs::list(&self.st, &actor, &req).await.map_err(to_backend)
        })
    }

    fn job_view<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, JobView> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            job_pages::view(&self.st, &actor, id)
                .await
                .map_err(to_backend)
        })
    }

    fn cancel_job<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, ()> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            jobs::cancel(&self.st, &actor, id)
                .await
                .map(|_| ())
                .map_err(to_backend)
        })
    }

    fn relaunch_job<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            jobs::relaunch(&self.st, &actor, id)
                .await
                .map_err(to_backend)
        })
    }

    fn launch_policy<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            jobs::launch_policy(&self.st, &actor, id)
                .await
                .map_err(to_backend)
        })
    }

    fn check_integrity<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            integrity::launch(&self.st, &actor, id, Default::default())
                .await
                .map_err(to_backend)
        })
    }

    fn restore<'a>(&'a self, token: &'a str, input: RestoreInput) -> BackendFuture<'a, Launched> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            restore::restore(&self.st, &actor, input)
                .await
                .map_err(to_backend)
        })
    }

    fn module_items<'a>(
        &'a self,
        token: &'a str,
        module: String,
        client: i32,
        params: Vec<(String, String)>,
    ) -> BackendFuture<'a, ModuleList> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            modules::query(&self.st, &actor, &module, client, &params)
                .await
                .map_err(to_backend)
        })
    }

    fn job_filters<'a>(&'a self, token: &'a str) -> BackendFuture<'a, Choices> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            job_pages::filters(&self.st, &actor)
                .await
                .map_err(to_backend)
        })
    }

    fn catalog_archives<'a>(
        &'a self,
        token: &'a str,
        client: Option<i32>,
    ) -> BackendFuture<'a, Vec<ArchiveRef>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            catalogs::archives(&self.st, &actor, client)
                .await
                .map_err(to_backend)
        })
    }

    fn catalog_dir<'a>(
        &'a self,
        token: &'a str,
        archive: i32,
        dir: String,
        after: String,
    ) -> BackendFuture<'a, CatalogDir> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            catalogs::browse(&self.st, &actor, archive, &dir, &after)
                .await
                .map_err(to_backend)
        })
    }

    fn catalog_search<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<CatalogEntry>> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let req = ListRequest::new("/api/v1/catalogs/", query);
            catalogs::list(&self.st, &actor, &req)
                .await
                .map_err(to_backend)
        })
    }

    fn retention<'a>(&'a self, token: &'a str, policy: i32) -> BackendFuture<'a, Retention> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            retention::preview(&self.st, &actor, policy)
                .await
                .map_err(to_backend)
        })
    }

    fn host_key<'a>(
        &'a self,
        token: &'a str,
        kind: HostKind,
        id: i32,
        op: HostKeyOp,
    ) -> BackendFuture<'a, HostKeyView> {
        Box::pin(async move {
            let actor = self.actor(token).await?;
            let st = &self.st;
            let done = match (op, kind) {
                (HostKeyOp::Read, _) => Ok(()),
                (HostKeyOp::Scan, HostKind::Client) => {
                    host_keys::scan_client(st, &actor, id).await.map(drop)
                }
                (HostKeyOp::Scan, HostKind::Repository) => {
                    host_keys::scan_repository(st, &actor, id).await.map(drop)
                }
                (HostKeyOp::Accept(fingerprint), kind) => {
                    let input = HostKeyAccept {
                        fingerprint: Some(fingerprint),
                    };
                    match kind {
                        HostKind::Client => host_keys::accept_client(st, &actor, id, input)
                            .await
                            .map(drop),
                        HostKind::Repository => host_keys::accept_repository(st, &actor, id, input)
                            .await
                            .map(drop),
                    }
                }
            };
            done.map_err(to_backend)?;
            self.host_key_view(&actor, kind, id)
                .await
                .map_err(to_backend)
        })
    }
}
