//! The dashboard's server functions. Each one resolves the caller's session cookie to a user
//! and calls the core's services directly (the REST API's handlers call the same ones), then
//! answers DTOs. Errors are [`RpcError`]s with the service error's own status.
use leptos::prelude::*;

use std::collections::BTreeMap;

use leptos::server_fn::codec::Json;

use crate::{
    dto::{
        AlertsView, ApiToken, ApiTokenInput, Archive, ArchiveDiff, ArchiveRef, CalendarMonth,
        CatalogDir, CatalogEntry, CatalogHistory, FormOutcome, HostKeyOp, HostKeyView, HostKind,
        Job, JobView, ModuleItem, Node, NotificationTest, Overview, Page, RepositoryKey,
        RepositoryLock, RestoreInput, Retention, Schedule, SchedulePreview, SelfBackupRun,
        SessionUser, SettingsView,
    },
    resources::{Choices, ResourceKind, ResourceRow},
};

pub use super::rpc_error::RpcError;

#[cfg(feature = "ssr")]
mod ssr {
    use cyborg_core::{
        error::Error,
        services::{Actor, auth},
        state::AppState,
    };
    use leptos::prelude::*;

    use super::RpcError;

    pub fn parts() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
    }

    /// The core's state the server provides to every render and server function.
    pub fn state() -> Result<AppState, RpcError> {
        use_context::<AppState>()
            .ok_or_else(|| RpcError::new(500, "The dashboard is not connected to the server."))
    }

    /// The session token of the request, from its `cyborg_session` cookie.
    pub fn token() -> Option<String> {
        parts().and_then(|p| crate::session::session_token(&p.headers))
    }

    pub fn secure() -> bool {
        parts().is_some_and(|p| crate::session::over_tls(&p.headers))
    }

    pub fn set_cookie(value: &str, max_age: i64) {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.append_header(
                http::header::SET_COOKIE,
                crate::session::session_cookie(value, max_age, secure()),
            );
        }
    }

    /// The error as the server function answers it: the service error's own status and
    /// message (the REST API's), with `Retry-After` when it has one.
    pub fn fail(e: Error) -> RpcError {
        if let Some(secs) = e.retry_after()
            && let Some(res) = use_context::<leptos_axum::ResponseOptions>()
        {
            res.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        RpcError::new(e.status().as_u16(), e.client_message())
    }

    pub const NO_SESSION: &str = "Your session has expired; log in again.";

    /// The state and the user of the call's session, or the error a call without a live
    /// session answers (401).
    pub async fn caller() -> Result<(AppState, Actor), RpcError> {
        let st = state()?;
        let token = token().ok_or_else(|| fail(Error::Unauthorized(NO_SESSION.into())))?;
        let actor = auth::resolve(&st, auth::Credentials::Session(token))
            .await
            .map_err(fail)?;
        Ok((st, actor))
    }

    /// A refusal of what the request asks (not found, not allowed, in use, a conflict, a host
    /// that cannot be reached): the operator's answer on a form, not a failed call.
    pub fn refusal(e: &Error) -> bool {
        matches!(e.status().as_u16(), 400 | 403 | 404 | 405 | 409 | 502)
    }

    /// A list request of one page of a dashboard list (an empty `order_by` orders by
    /// `default_order`).
    pub fn list_query(
        path: &str,
        search: String,
        order_by: String,
        default_order: &str,
        page: u64,
    ) -> cyborg_core::services::list::ListRequest {
        let order_by = if order_by.is_empty() {
            default_order.to_string()
        } else {
            order_by
        };
        let mut query = vec![
            ("page_size".to_string(), super::LIST_PAGE_SIZE.to_string()),
            ("page".to_string(), page.max(1).to_string()),
            ("order_by".to_string(), order_by),
        ];
        if !search.is_empty() {
            query.push(("search".to_string(), search));
        }
        cyborg_core::services::list::ListRequest::new(path, query)
    }

    /// A save's answer: input the service refused is the form's answer (its messages by field;
    /// a refusal of the whole request under `form`), not a failed call.
    pub fn form_outcome<T>(
        result: Result<T, Error>,
    ) -> Result<crate::dto::FormOutcome<T>, RpcError> {
        use crate::dto::FormOutcome;
        match result {
            Ok(saved) => Ok(FormOutcome::Saved(saved)),
            Err(Error::Validation(fields)) => Ok(FormOutcome::Invalid(fields)),
            Err(e) if refusal(&e) => Ok(FormOutcome::Invalid(
                [("form".to_string(), vec![e.client_message()])].into(),
            )),
            Err(e) => Err(fail(e)),
        }
    }

    /// A delete's answer: `Some(message)` when the service refused it, not a failed call.
    pub fn delete_outcome(result: Result<(), Error>) -> Result<Option<String>, RpcError> {
        match result {
            Ok(()) => Ok(None),
            Err(e) if refusal(&e) => Ok(Some(e.client_message())),
            Err(e) => Err(fail(e)),
        }
    }
}

/// Rows per page of the dashboard's lists.
pub const LIST_PAGE_SIZE: u64 = 25;
/// Runs the schedule editor previews.
pub const PREVIEW_RUNS: i64 = 5;

/// The logged-in user, or `None` without a live session (the page then goes to the login).
#[server(prefix = "/rpc", endpoint = "session_user", input = Json)]
pub async fn current_user() -> Result<Option<SessionUser>, RpcError> {
    use cyborg_core::{error::Error, services::auth};
    let Some(token) = ssr::token() else {
        return Ok(None);
    };
    match auth::resolve(&ssr::state()?, auth::Credentials::Session(token)).await {
        Ok(actor) => Ok(Some(session_user(&actor))),
        Err(Error::Unauthorized(_)) => Ok(None),
        Err(e) => Err(ssr::fail(e)),
    }
}

#[cfg(feature = "ssr")]
fn session_user(a: &cyborg_core::services::Actor) -> SessionUser {
    SessionUser {
        id: a.user.id,
        email: a.user.email.clone(),
        first_name: a.user.first_name.clone(),
        last_name: a.user.last_name.clone(),
        is_superuser: a.user.is_superuser,
    }
}

/// Logs in: sets the session cookie (the same one as `POST /api/session/`) and goes to `next`
/// when it is a local path, else to the overview.
///
/// A refused email/password pair is the form's answer, not a failed call: it comes back as
/// `Ok(Some(message))` with status 200. (An error status would make the browser log a failed
/// request on the console for an operator's mere typo.) Other failures are errors.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(
    email: String,
    password: String,
    next: String,
) -> Result<Option<String>, RpcError> {
    use cyborg_core::{error::Error, services::auth};
    let from = ssr::parts().map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| {
        crate::session::ClientAddr::of(&p.extensions)
    });
    let token = match auth::login(&ssr::state()?, &email, &password, from).await {
        Ok((token, _user)) => token,
        Err(Error::Unauthorized(message)) => return Ok(Some(message)),
        Err(e) => return Err(ssr::fail(e)),
    };
    ssr::set_cookie(&token, auth::SESSION_TTL.num_seconds());
    leptos_axum::redirect(&super::safe_next(&next));
    Ok(None)
}

/// Logs out: ends the session, clears the cookie and goes to the login page.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), RpcError> {
    if let Some(token) = ssr::token() {
        cyborg_core::services::auth::logout(&ssr::state()?, &token)
            .await
            .map_err(ssr::fail)?;
    }
    ssr::set_cookie("", 0);
    leptos_axum::redirect("/login");
    Ok(())
}

/// The overview page's counts, chart data, next runs and last jobs.
#[server(prefix = "/rpc", endpoint = "overview", input = Json)]
pub async fn overview_data() -> Result<Overview, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::overview::overview(&st, &actor)
        .await
        .map_err(ssr::fail)
}

/// One page of the schedules, searched and ordered by the REST API's list engine (`search`,
/// `order_by` as in `GET /api/v1/schedules/`; an empty `order_by` orders by name).
#[server(prefix = "/rpc", endpoint = "schedules", input = Json)]
pub async fn list_schedules(
    search: String,
    order_by: String,
    page: u64,
) -> Result<Page<Schedule>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let req = ssr::list_query("/api/v1/schedules/", search, order_by, "name", page);
    cyborg_core::services::schedules::list(&st, &actor, &req)
        .await
        .map_err(ssr::fail)
}

/// The next `PREVIEW_RUNS` runs of a crontab being typed, or why a save would refuse it.
#[server(prefix = "/rpc", endpoint = "schedule_preview", input = Json)]
pub async fn preview_schedule(crontab: String) -> Result<SchedulePreview, RpcError> {
    use cyborg_core::{error::Error, services::calendar};
    let (st, actor) = ssr::caller().await?;
    let input = crate::dto::SchedulePreviewInput {
        crontab: Some(crontab),
        count: Some(PREVIEW_RUNS),
    };
    match calendar::preview(&st, &actor, input).await {
        Ok(runs) => Ok(SchedulePreview {
            runs,
            error: String::new(),
        }),
        // What a save would answer for the crontab is the preview's answer, not a failed call.
        Err(Error::Validation(fields)) => Ok(SchedulePreview {
            runs: Vec::new(),
            error: fields
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        }),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Creates (`id` absent) or updates a schedule. Refused input is the form's answer
/// (`FormOutcome::Invalid` with the service's messages by field), not a failed call.
#[server(prefix = "/rpc", endpoint = "save_schedule", input = Json)]
pub async fn save_schedule(
    id: Option<i32>,
    name: String,
    crontab: String,
    enabled: bool,
) -> Result<FormOutcome<Schedule>, RpcError> {
    use crate::dto::ScheduleInput;
    use cyborg_core::services::schedules;
    let (st, actor) = ssr::caller().await?;
    let input = ScheduleInput {
        name: Some(name),
        crontab: Some(crontab),
        enabled: Some(enabled),
    };
    ssr::form_outcome(match id {
        None => schedules::create(&st, &actor, input).await,
        Some(id) => schedules::update(&st, &actor, id, input, false).await,
    })
}

/// Deletes a schedule. A refusal (a policy uses it) is the answer `Some(message)`, not a
/// failed call.
#[server(prefix = "/rpc", endpoint = "delete_schedule", input = Json)]
pub async fn delete_schedule(id: i32) -> Result<Option<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::delete_outcome(cyborg_core::services::schedules::delete(&st, &actor, id).await)
}

/// The names of the policies that use a schedule.
#[server(prefix = "/rpc", endpoint = "schedule_dependents", input = Json)]
pub async fn schedule_dependents(id: i32) -> Result<Vec<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::policies::names_using(&st, &actor, "schedule", id, |name| name)
        .await
        .map_err(ssr::fail)
}

/// The month grid of the calendar page (`month` `YYYY-MM`, empty for the current month), of
/// every enabled policy or of one.
#[server(prefix = "/rpc", endpoint = "calendar_month", input = Json)]
pub async fn month_grid(month: String, policy: Option<i32>) -> Result<CalendarMonth, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let month = (!month.is_empty()).then_some(month);
    let now = chrono::Utc::now();
    cyborg_core::services::calendar::month_view(&st, &actor, month.as_deref(), policy, now)
        .await
        .map_err(ssr::fail)
}

/// One page of a resource list (clients, repositories, policies, users) as table rows, searched
/// and ordered by the REST API's list engine (an empty `order_by` orders by the naming field).
#[server(prefix = "/rpc", endpoint = "resources", input = Json)]
pub async fn list_resource(
    kind: ResourceKind,
    search: String,
    order_by: String,
    page: u64,
) -> Result<Page<ResourceRow>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let req = ssr::list_query(&kind.api_path(), search, order_by, kind.label_field(), page);
    super::resource_calls::list(&st, &actor, kind, req)
        .await
        .map_err(ssr::fail)
}

/// Creates (`id` absent) or updates an object from its form's values by field name.
#[server(prefix = "/rpc", endpoint = "save_resource", input = Json)]
pub async fn save_resource(
    kind: ResourceKind,
    id: Option<i32>,
    values: BTreeMap<String, String>,
) -> Result<FormOutcome<ResourceRow>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::form_outcome(super::resource_calls::save(&st, &actor, kind, id, &values).await)
}

/// Deletes an object; a refusal (a repository in use, the last superuser) is `Some(message)`.
#[server(prefix = "/rpc", endpoint = "delete_resource", input = Json)]
pub async fn delete_resource(kind: ResourceKind, id: i32) -> Result<Option<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::delete_outcome(super::resource_calls::delete(&st, &actor, kind, id).await)
}

/// What deleting the object touches, for the confirmation.
#[server(prefix = "/rpc", endpoint = "resource_dependents", input = Json)]
pub async fn resource_dependents(kind: ResourceKind, id: i32) -> Result<Vec<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    super::resource_calls::dependents(&st, &actor, kind, id)
        .await
        .map_err(ssr::fail)
}

/// The objects the resource's form picks from (a policy's clients, repository, schedule).
#[server(prefix = "/rpc", endpoint = "resource_choices", input = Json)]
pub async fn resource_choices(kind: ResourceKind) -> Result<Choices, RpcError> {
    let (st, actor) = ssr::caller().await?;
    super::resource_calls::choices(&st, &actor, kind)
        .await
        .map_err(ssr::fail)
}

/// One page of the jobs, newest first, filtered as `GET /api/v1/jobs/?status=…&job_type=…&
/// policy=…&client=…` (empty filters are left out).
#[server(prefix = "/rpc", endpoint = "jobs", input = Json)]
pub async fn list_jobs(
    status: String,
    job_type: String,
    policy: String,
    client: String,
    page: u64,
) -> Result<Page<Job>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let mut req = ssr::list_query("/api/v1/jobs/", String::new(), String::new(), "-id", page);
    for (k, v) in [
        ("status", status),
        ("job_type", job_type),
        ("policy", policy),
        ("client", client),
    ] {
        if !v.is_empty() {
            req.params.push((k.to_string(), v));
        }
    }
    cyborg_core::services::jobs::list(&st, &actor, &req)
        .await
        .map_err(ssr::fail)
}

/// A job and the end of its log.
#[server(prefix = "/rpc", endpoint = "job", input = Json)]
pub async fn load_job(id: i32) -> Result<JobView, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::jobs::view(&st, &actor, id)
        .await
        .map_err(ssr::fail)
}

/// The policies and clients the jobs list filters by.
#[server(prefix = "/rpc", endpoint = "job_filters", input = Json)]
pub async fn job_filters() -> Result<Choices, RpcError> {
    let (st, actor) = ssr::caller().await?;
    super::resource_calls::job_filters(&st, &actor)
        .await
        .map_err(ssr::fail)
}

/// What a job button did: the job to show next, or why it was refused (a job already over, a
/// launch while the same backup runs, not a superuser).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum JobOutcome {
    /// Go to this job's page.
    Show(i32),
    Refused(String),
}

#[cfg(feature = "ssr")]
fn job_outcome(result: Result<i32, cyborg_core::error::Error>) -> Result<JobOutcome, RpcError> {
    match result {
        Ok(id) => Ok(JobOutcome::Show(id)),
        Err(e) if ssr::refusal(&e) => Ok(JobOutcome::Refused(e.client_message())),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Cancels a job; answers the same job to show.
#[server(prefix = "/rpc", endpoint = "cancel_job", input = Json)]
pub async fn cancel_job(id: i32) -> Result<JobOutcome, RpcError> {
    let (st, actor) = ssr::caller().await?;
    job_outcome(
        cyborg_core::services::jobs::cancel(&st, &actor, id)
            .await
            .map(|_| id),
    )
}

/// Runs a job again; answers the new job.
#[server(prefix = "/rpc", endpoint = "relaunch_job", input = Json)]
pub async fn relaunch_job(id: i32) -> Result<JobOutcome, RpcError> {
    let (st, actor) = ssr::caller().await?;
    job_outcome(
        cyborg_core::services::jobs::relaunch(&st, &actor, id)
            .await
            .map(|l| l.job),
    )
}

/// Launches a policy now; answers its first backup job.
#[server(prefix = "/rpc", endpoint = "launch_policy", input = Json)]
pub async fn launch_now(id: i32) -> Result<JobOutcome, RpcError> {
    let (st, actor) = ssr::caller().await?;
    // The service refuses a launch that would make no job (no enabled client).
    job_outcome(
        cyborg_core::services::jobs::launch_policy(&st, &actor, id)
            .await
            .map(|l| l.job),
    )
}

/// Makes a restore job; answers its id, or the service's messages by field.
#[server(prefix = "/rpc", endpoint = "restore", input = Json)]
pub async fn restore_items(input: RestoreInput) -> Result<FormOutcome<i32>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::form_outcome(
        cyborg_core::services::restore::restore(&st, &actor, input)
            .await
            .map(|l| l.job),
    )
}

/// What a module finds on a client for the policy form: its items, or why not (the service's
/// refusal or field messages, as text for the form).
#[server(prefix = "/rpc", endpoint = "module_items", input = Json)]
pub async fn module_items(
    module: String,
    client: i32,
    params: Vec<(String, String)>,
) -> Result<Result<Vec<ModuleItem>, String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    match cyborg_core::services::modules::query(&st, &actor, &module, client, &params).await {
        Ok(list) => Ok(Ok(list.items)),
        // Field messages and refusals are the form's answer, as text.
        Err(e) if ssr::refusal(&e) => Ok(Err(e.client_message())),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Checks a repository's integrity (default sample); answers the job.
#[server(prefix = "/rpc", endpoint = "check_integrity", input = Json)]
pub async fn check_integrity(id: i32) -> Result<JobOutcome, RpcError> {
    let (st, actor) = ssr::caller().await?;
    job_outcome(
        cyborg_core::services::integrity::launch(&st, &actor, id, Default::default())
            .await
            .map(|l| l.job),
    )
}

/// The nodes of this database, live ones first.
#[server(prefix = "/rpc", endpoint = "nodes", input = Json)]
pub async fn cluster_nodes() -> Result<Page<Node>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::nodes::list(&st, &actor)
        .await
        .map_err(ssr::fail)
}

/// Search results shown at once on the catalog page.
pub const CATALOG_HITS: u64 = 100;

/// The archives of a client (an empty `client`: of every client), newest first.
#[server(prefix = "/rpc", endpoint = "catalog_archives", input = Json)]
pub async fn catalog_archives(client: Option<i32>) -> Result<Vec<ArchiveRef>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::catalogs::archives(&st, &actor, client)
        .await
        .map_err(ssr::fail)
}

/// A page of the items directly inside `dir` of an archive (`""`: its top), after the path
/// `after` (`""`: the first page).
#[server(prefix = "/rpc", endpoint = "catalog_dir", input = Json)]
pub async fn browse_dir(archive: i32, dir: String, after: String) -> Result<CatalogDir, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::catalogs::browse(&st, &actor, archive, &dir, &after)
        .await
        .map_err(ssr::fail)
}

/// Every version of one archived path across the catalogued archives of one client (an empty
/// `client`: of every client), oldest first (`GET /api/v1/catalogs/history/`).
#[server(prefix = "/rpc", endpoint = "catalog_history", input = Json)]
pub async fn path_history(path: String, client: Option<i32>) -> Result<CatalogHistory, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let mut params = vec![("path".to_string(), path)];
    if let Some(c) = client {
        params.push(("client".to_string(), c.to_string()));
    }
    cyborg_core::services::catalogs::history(&st, &actor, &params)
        .await
        .map_err(ssr::fail)
}

/// The first `CATALOG_HITS` entries whose path contains `text` (any case), of one client's
/// archives or of all, by archive and path (`path__icontains` of `GET /api/v1/catalogs/`).
#[server(prefix = "/rpc", endpoint = "catalog_search", input = Json)]
pub async fn search_catalog(
    client: Option<i32>,
    text: String,
) -> Result<Page<CatalogEntry>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let mut query = vec![
        ("path__icontains".to_string(), text),
        ("order_by".to_string(), "-archive_name,path".to_string()),
        ("page_size".to_string(), CATALOG_HITS.to_string()),
    ];
    if let Some(c) = client {
        query.push(("client".to_string(), c.to_string()));
    }
    let req = cyborg_core::services::list::ListRequest::new("/api/v1/catalogs/", query);
    cyborg_core::services::catalogs::list(&st, &actor, &req)
        .await
        .map_err(ssr::fail)
}

/// What the next prune of a policy keeps and deletes, per client.
#[server(prefix = "/rpc", endpoint = "retention", input = Json)]
pub async fn policy_retention(policy: i32) -> Result<Retention, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::retention::preview(&st, &actor, policy)
        .await
        .map_err(ssr::fail)
}

/// The host key page of a client or a remote repository's host, after `op` (fetch the key it
/// presents now, or pin the one presented last).
#[server(prefix = "/rpc", endpoint = "host_key", input = Json)]
pub async fn host_key(kind: HostKind, id: i32, op: HostKeyOp) -> Result<HostKeyView, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::host_keys::page(&st, &actor, kind, id, op)
        .await
        .map_err(ssr::fail)
}

/// The settings page's data: the key to authorize, the settings, the notification channels
/// (superusers) and the caller's API tokens.
#[server(prefix = "/rpc", endpoint = "settings_view", input = Json)]
pub async fn settings_page_data() -> Result<SettingsView, RpcError> {
    use cyborg_core::services::{api_tokens, list::ListRequest, notifications, settings};
    let (st, actor) = ssr::caller().await?;
    let key = settings::ssh_public_key(&st, &actor)
        .await
        .map_err(ssr::fail)?;
    let channels = if actor.is_superuser() {
        let all = ListRequest::of(
            "/api/v1/notifications/",
            &[("page_size", "1000".into()), ("order_by", "name".into())],
        );
        notifications::list(&st, &actor, &all)
            .await
            .map_err(ssr::fail)?
            .results
    } else {
        Vec::new()
    };
    let current = settings::get(&st, &actor).await.map_err(ssr::fail)?;
    let (mut repository_name, mut schedule_name, mut self_backups) =
        (String::new(), String::new(), Vec::new());
    if actor.is_superuser() {
        if let Some(id) = current.self_backup_repository {
            repository_name = cyborg_core::services::repositories::get(&st, &actor, id)
                .await
                .map(|r| r.name)
                .unwrap_or_else(|_| format!("repository {id}"));
        }
        if let Some(id) = current.self_backup_schedule {
            schedule_name = cyborg_core::services::schedules::get(&st, &actor, id)
                .await
                .map(|s| format!("{} ({})", s.name, s.crontab))
                .unwrap_or_else(|_| format!("schedule {id}"));
        }
        self_backups = settings::self_backup_runs(&st, &actor)
            .await
            .map_err(ssr::fail)?;
    }
    Ok(SettingsView {
        pubkey: key.pubkey,
        authorized_keys: key.authorized_keys,
        settings: settings::get(&st, &actor).await.map_err(ssr::fail)?,
        is_superuser: actor.is_superuser(),
        channels,
        tokens: api_tokens::list(&st, &actor).await.map_err(ssr::fail)?,
        self_backup_repository: repository_name,
        self_backup_schedule: schedule_name,
        self_backups,
    })
}

/// Backs the server itself up now (superusers); answers the finished run.
#[server(prefix = "/rpc", endpoint = "self_backup", input = Json)]
pub async fn self_backup_run_now() -> Result<SelfBackupRun, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::settings::self_backup_now(&st, &actor)
        .await
        .map_err(ssr::fail)
}

/// Makes an API token for the caller; the answer holds its secret, shown once.
#[server(prefix = "/rpc", endpoint = "create_token", input = Json)]
pub async fn create_token(input: ApiTokenInput) -> Result<FormOutcome<ApiToken>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::form_outcome(cyborg_core::services::api_tokens::create(&st, &actor, input).await)
}

/// Revokes one of the caller's API tokens; `Some(message)` when refused.
#[server(prefix = "/rpc", endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(id: i32) -> Result<Option<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::delete_outcome(cyborg_core::services::api_tokens::revoke(&st, &actor, id).await)
}

/// Sends a channel's test message now.
#[server(prefix = "/rpc", endpoint = "test_channel", input = Json)]
pub async fn test_channel(id: i32) -> Result<NotificationTest, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::notifications::test(&st, &actor, id)
        .await
        .map_err(ssr::fail)
}

/// The open alerts, then the 20 most recently resolved.
#[server(prefix = "/rpc", endpoint = "alerts_view", input = Json)]
pub async fn alerts_page_data() -> Result<AlertsView, RpcError> {
    use cyborg_core::services::{alerts, list::ListRequest};
    let (st, actor) = ssr::caller().await?;
    let open = ListRequest::of(
        "/api/v1/alerts/",
        &[
            ("resolved__isnull", "true".into()),
            ("order_by", "-first_seen".into()),
            ("page_size", "1000".into()),
        ],
    );
    let resolved = ListRequest::of(
        "/api/v1/alerts/",
        &[
            ("resolved__isnull", "false".into()),
            ("order_by", "-resolved".into()),
            ("page_size", "20".into()),
        ],
    );
    Ok(AlertsView {
        open: alerts::list(&st, &actor, &open)
            .await
            .map_err(ssr::fail)?
            .results,
        resolved: alerts::list(&st, &actor, &resolved)
            .await
            .map_err(ssr::fail)?
            .results,
    })
}

/// Acknowledges an open alert; `Some(message)` when refused (already resolved).
#[server(prefix = "/rpc", endpoint = "acknowledge_alert", input = Json)]
pub async fn acknowledge_alert(id: i32) -> Result<Option<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::delete_outcome(
        cyborg_core::services::alerts::acknowledge(&st, &actor, id)
            .await
            .map(|_| ()),
    )
}

/// One page of the archives, newest first, filtered as `GET /api/v1/archives/?repository=…&
/// search=…&foreign=true` (an empty `repository` and `foreign` false are left out).
#[server(prefix = "/rpc", endpoint = "archives", input = Json)]
pub async fn archive_list(
    repository: String,
    search: String,
    foreign: bool,
    page: u64,
) -> Result<Page<Archive>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let mut req = ssr::list_query("/api/v1/archives/", search, String::new(), "-created", page);
    if !repository.is_empty() {
        req.params.push(("repository".to_string(), repository));
    }
    if foreign {
        req.params.push(("foreign".to_string(), "true".to_string()));
    }
    cyborg_core::services::archives::list(&st, &actor, &req)
        .await
        .map_err(ssr::fail)
}

/// The repositories by name, for the archives list's filter.
#[server(prefix = "/rpc", endpoint = "archive_filters", input = Json)]
pub async fn archive_filters() -> Result<Choices, RpcError> {
    let (st, actor) = ssr::caller().await?;
    super::resource_calls::archive_filters(&st, &actor)
        .await
        .map_err(ssr::fail)
}

/// What an archive page shows: the archive with borg's own view of it (`GET
/// /api/v1/archives/{id}/`), the other archives of its repository (newest first, for "Compare
/// with…" and the previous one) and whether the caller may rename and delete it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ArchiveView {
    pub archive: Archive,
    pub siblings: Vec<Archive>,
    pub is_superuser: bool,
}

/// The archives of a repository the comparison offers, at most.
pub const ARCHIVE_SIBLINGS: u64 = 1000;

/// An archive, borg's view of it and the other archives of its repository.
#[server(prefix = "/rpc", endpoint = "archive", input = Json)]
pub async fn archive_detail(id: i32) -> Result<ArchiveView, RpcError> {
    use cyborg_core::services::{archives, list::ListRequest};
    let (st, actor) = ssr::caller().await?;
    let archive = archives::get(&st, &actor, id).await.map_err(ssr::fail)?;
    let others = ListRequest::of(
        "/api/v1/archives/",
        &[
            ("repository", archive.repository.to_string()),
            ("order_by", "-created".into()),
            ("page_size", ARCHIVE_SIBLINGS.to_string()),
        ],
    );
    let siblings = archives::list(&st, &actor, &others)
        .await
        .map_err(ssr::fail)?
        .results
        .into_iter()
        .filter(|a| a.id != id)
        .collect();
    Ok(ArchiveView {
        archive,
        siblings,
        is_superuser: actor.is_superuser(),
    })
}

/// One page of what changed between two archives of one repository, from the older to the
/// newer (`GET /api/v1/archives/{id}/diff/?other=…&change=…`; an empty `change`: all).
#[server(prefix = "/rpc", endpoint = "archive_diff", input = Json)]
pub async fn archive_diff_page(
    id: i32,
    other: i32,
    change: String,
    page: u64,
) -> Result<ArchiveDiff, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let mut params = vec![
        ("other".to_string(), other.to_string()),
        ("page".to_string(), page.max(1).to_string()),
        ("page_size".to_string(), LIST_PAGE_SIZE.to_string()),
    ];
    if !change.is_empty() {
        params.push(("change".to_string(), change));
    }
    let req = cyborg_core::services::list::ListRequest::new(
        format!("/api/v1/archives/{id}/diff/"),
        params,
    );
    cyborg_core::services::archives::diff(&st, &actor, id, &req)
        .await
        .map_err(ssr::fail)
}

/// Renames an archive (in borg, then its record); a refused name is the form's answer by field.
#[server(prefix = "/rpc", endpoint = "archive_rename", input = Json)]
pub async fn archive_rename_to(id: i32, name: String) -> Result<FormOutcome<Archive>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    let input = crate::dto::ArchiveInput { name: Some(name) };
    ssr::form_outcome(cyborg_core::services::archives::rename(&st, &actor, id, input).await)
}

/// Deletes an archive from borg and its record; a refusal (a job runs on the repository, an
/// append-only repository, not a superuser) is `Some(message)`.
#[server(prefix = "/rpc", endpoint = "archive_delete", input = Json)]
pub async fn archive_remove(id: i32) -> Result<Option<String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    ssr::delete_outcome(cyborg_core::services::archives::delete(&st, &actor, id).await)
}

/// The repository key page: the repository, its key export (or why there is none to show: not a
/// superuser, an unencrypted repository, borg unreachable) and its lock.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RepositoryKeyView {
    pub id: i32,
    pub name: String,
    pub path: String,
    pub encryption: String,
    pub key: Result<RepositoryKey, String>,
    pub lock: RepositoryLock,
    pub is_superuser: bool,
}

/// A repository's key export (plain and paper) and its lock state.
#[server(prefix = "/rpc", endpoint = "repository_key", input = Json)]
pub async fn repository_key_export(id: i32) -> Result<RepositoryKeyView, RpcError> {
    use cyborg_core::services::repositories;
    let (st, actor) = ssr::caller().await?;
    let repo = repositories::get(&st, &actor, id)
        .await
        .map_err(ssr::fail)?;
    let key = match repositories::key(&st, &actor, id).await {
        Ok(k) => Ok(k),
        Err(e) if ssr::refusal(&e) => Err(e.client_message()),
        Err(e) => return Err(ssr::fail(e)),
    };
    let lock = repositories::lock(&st, &actor, id)
        .await
        .map_err(ssr::fail)?;
    Ok(RepositoryKeyView {
        id: repo.id,
        name: repo.name,
        path: repo.path,
        encryption: repo.encryption,
        key,
        lock,
        is_superuser: actor.is_superuser(),
    })
}

/// Whether borg's lock of a repository is held right now.
#[server(prefix = "/rpc", endpoint = "repository_lock", input = Json)]
pub async fn repository_lock_state(id: i32) -> Result<RepositoryLock, RpcError> {
    let (st, actor) = ssr::caller().await?;
    cyborg_core::services::repositories::lock(&st, &actor, id)
        .await
        .map_err(ssr::fail)
}

/// Breaks borg's lock of a repository (`borg break-lock`); the lock as it is then, or why it
/// was refused (a job runs on it, not a superuser).
#[server(prefix = "/rpc", endpoint = "repository_break_lock", input = Json)]
pub async fn repository_break_lock(id: i32) -> Result<Result<RepositoryLock, String>, RpcError> {
    let (st, actor) = ssr::caller().await?;
    match cyborg_core::services::repositories::break_lock(&st, &actor, id).await {
        Ok(lock) => Ok(Ok(lock)),
        Err(e) if ssr::refusal(&e) => Ok(Err(e.client_message())),
        Err(e) => Err(ssr::fail(e)),
    }
}
