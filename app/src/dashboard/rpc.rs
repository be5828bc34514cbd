//! The dashboard's server functions. Each one reads the caller's session cookie, asks the
//! server's [`Backend`](crate::backend::Backend) (provided as context), and answers DTOs.
use leptos::prelude::*;

use std::collections::BTreeMap;

use leptos::server_fn::codec::Json;

use crate::{
    dto::{
        ArchiveRef, CalendarMonth, CatalogDir, CatalogEntry, FormOutcome, HostKeyOp, HostKeyView,
        HostKind, Job, JobView, ModuleItem, Overview, Page, RestoreInput, Retention, Schedule,
        SchedulePreview, SessionUser,
    },
    resources::{Choices, ResourceKind, ResourceRow},
};

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::*;

    use crate::backend::{BackendError, SharedBackend};

    pub fn backend() -> Result<SharedBackend, ServerFnError> {
        use_context::<SharedBackend>()
            .ok_or_else(|| ServerFnError::new("The dashboard backend is not configured."))
    }

    pub fn parts() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
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

    /// The error as the server function answers it. A call made to `/rpc/…` without a valid
    /// session answers 401, one the service refused 400 (not the framework's 500: only the
    /// server's own failures are 500); during a page render the status is the page's business
    /// (the session guard's redirect), so it is left alone.
    pub fn fail(e: BackendError) -> ServerFnError {
        let status = match &e {
            BackendError::Unauthorized(_) => Some(http::StatusCode::UNAUTHORIZED),
            BackendError::Invalid(_) | BackendError::Refused(_) => {
                Some(http::StatusCode::BAD_REQUEST)
            }
            BackendError::Busy {
                status,
                retry_after,
                ..
            } => {
                if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                    res.insert_header(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from(*retry_after),
                    );
                }
                http::StatusCode::from_u16(*status).ok()
            }
            BackendError::Failed(_) => None,
        };
        if let Some(status) = status
            && parts().is_some_and(|p| p.uri.path().starts_with("/rpc/"))
            && let Some(res) = use_context::<leptos_axum::ResponseOptions>()
        {
            res.set_status(status);
        }
        ServerFnError::new(e.to_string())
    }

    pub const NO_SESSION: &str = "Your session has expired; log in again.";

    /// The session token of the call, or the error a call without a session answers.
    pub fn need_token() -> Result<String, ServerFnError> {
        token().ok_or_else(|| fail(BackendError::Unauthorized(NO_SESSION.into())))
    }

    /// The list engine's query of one page of a dashboard list (an empty `order_by` orders by
    /// `default_order`).
    pub fn list_query(
        search: String,
        order_by: String,
        default_order: &str,
        page: u64,
    ) -> Vec<(String, String)> {
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
        query
    }

    /// A save's answer: input the service refused is the form's answer (its messages by field;
    /// a refusal of the whole request under `form`), not a failed call.
    pub fn form_outcome<T>(
        result: Result<T, BackendError>,
    ) -> Result<crate::dto::FormOutcome<T>, ServerFnError> {
        use crate::dto::FormOutcome;
        match result {
            Ok(saved) => Ok(FormOutcome::Saved(saved)),
            Err(BackendError::Invalid(fields)) => Ok(FormOutcome::Invalid(fields)),
            Err(BackendError::Refused(message)) => Ok(FormOutcome::Invalid(
                [("form".to_string(), vec![message])].into(),
            )),
            Err(e) => Err(fail(e)),
        }
    }

    /// A delete's answer: `Some(message)` when the service refused it, not a failed call.
    pub fn delete_outcome(
        result: Result<(), BackendError>,
    ) -> Result<Option<String>, ServerFnError> {
        match result {
            Ok(()) => Ok(None),
            Err(BackendError::Refused(message)) => Ok(Some(message)),
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
pub async fn current_user() -> Result<Option<SessionUser>, ServerFnError> {
    use crate::backend::BackendError;
    let Some(token) = ssr::token() else {
        return Ok(None);
    };
    match ssr::backend()?.session_user(&token).await {
        Ok(u) => Ok(Some(u)),
        Err(BackendError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(ssr::fail(e)),
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
) -> Result<Option<String>, ServerFnError> {
    use crate::backend::BackendError;
    let from = ssr::parts().map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| {
        crate::session::ClientAddr::of(&p.extensions)
    });
    let session = match ssr::backend()?.login(&email, &password, from).await {
        Ok(session) => session,
        Err(BackendError::Unauthorized(message)) => return Ok(Some(message)),
        Err(e) => return Err(ssr::fail(e)),
    };
    ssr::set_cookie(&session.token, session.max_age);
    leptos_axum::redirect(&super::safe_next(&next));
    Ok(None)
}

/// Logs out: ends the session, clears the cookie and goes to the login page.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    if let Some(token) = ssr::token() {
        ssr::backend()?.logout(&token).await.map_err(ssr::fail)?;
    }
    ssr::set_cookie("", 0);
    leptos_axum::redirect("/login");
    Ok(())
}

/// The overview page's counts, chart data, next runs and last jobs.
#[server(prefix = "/rpc", endpoint = "overview", input = Json)]
pub async fn overview_data() -> Result<Overview, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?.overview(&token).await.map_err(ssr::fail)
}

/// One page of the schedules, searched and ordered by the REST API's list engine (`search`,
/// `order_by` as in `GET /api/v1/schedules/`; an empty `order_by` orders by name).
#[server(prefix = "/rpc", endpoint = "schedules", input = Json)]
pub async fn list_schedules(
    search: String,
    order_by: String,
    page: u64,
) -> Result<Page<Schedule>, ServerFnError> {
    let token = ssr::need_token()?;
    let query = ssr::list_query(search, order_by, "name", page);
    ssr::backend()?
        .schedules(&token, query)
        .await
        .map_err(ssr::fail)
}

/// The next `PREVIEW_RUNS` runs of a crontab being typed, or why a save would refuse it.
#[server(prefix = "/rpc", endpoint = "schedule_preview", input = Json)]
pub async fn preview_schedule(crontab: String) -> Result<SchedulePreview, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .schedule_preview(&token, crontab, PREVIEW_RUNS)
        .await
        .map_err(ssr::fail)
}

/// Creates (`id` absent) or updates a schedule. Refused input is the form's answer
/// (`FormOutcome::Invalid` with the service's messages by field), not a failed call.
#[server(prefix = "/rpc", endpoint = "save_schedule", input = Json)]
pub async fn save_schedule(
    id: Option<i32>,
    name: String,
    crontab: String,
    enabled: bool,
) -> Result<FormOutcome<Schedule>, ServerFnError> {
    use crate::dto::ScheduleInput;
    let token = ssr::need_token()?;
    let input = ScheduleInput {
        name: Some(name),
        crontab: Some(crontab),
        enabled: Some(enabled),
    };
    ssr::form_outcome(ssr::backend()?.save_schedule(&token, id, input).await)
}

/// Deletes a schedule. A refusal (a policy uses it) is the answer `Some(message)`, not a
/// failed call.
#[server(prefix = "/rpc", endpoint = "delete_schedule", input = Json)]
pub async fn delete_schedule(id: i32) -> Result<Option<String>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::delete_outcome(ssr::backend()?.delete_schedule(&token, id).await)
}

/// The names of the policies that use a schedule.
#[server(prefix = "/rpc", endpoint = "schedule_dependents", input = Json)]
pub async fn schedule_dependents(id: i32) -> Result<Vec<String>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .schedule_dependents(&token, id)
        .await
        .map_err(ssr::fail)
}

/// The month grid of the calendar page (`month` `YYYY-MM`, empty for the current month), of
/// every enabled policy or of one.
#[server(prefix = "/rpc", endpoint = "calendar_month", input = Json)]
pub async fn month_grid(
    month: String,
    policy: Option<i32>,
) -> Result<CalendarMonth, ServerFnError> {
    let token = ssr::need_token()?;
    let month = (!month.is_empty()).then_some(month);
    ssr::backend()?
        .calendar_month(&token, month, policy)
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
) -> Result<Page<ResourceRow>, ServerFnError> {
    let token = ssr::need_token()?;
    let query = ssr::list_query(search, order_by, kind.label_field(), page);
    ssr::backend()?
        .resource_list(&token, kind, query)
        .await
        .map_err(ssr::fail)
}

/// Creates (`id` absent) or updates an object from its form's values by field name.
#[server(prefix = "/rpc", endpoint = "save_resource", input = Json)]
pub async fn save_resource(
    kind: ResourceKind,
    id: Option<i32>,
    values: BTreeMap<String, String>,
) -> Result<FormOutcome<ResourceRow>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::form_outcome(
        ssr::backend()?
            .save_resource(&token, kind, id, values)
            .await,
    )
}

/// Deletes an object; a refusal (a repository in use, the last superuser) is `Some(message)`.
#[server(prefix = "/rpc", endpoint = "delete_resource", input = Json)]
pub async fn delete_resource(kind: ResourceKind, id: i32) -> Result<Option<String>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::delete_outcome(ssr::backend()?.delete_resource(&token, kind, id).await)
}

/// What deleting the object touches, for the confirmation.
#[server(prefix = "/rpc", endpoint = "resource_dependents", input = Json)]
pub async fn resource_dependents(
    kind: ResourceKind,
    id: i32,
) -> Result<Vec<String>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .resource_dependents(&token, kind, id)
        .await
        .map_err(ssr::fail)
}

/// The objects the resource's form picks from (a policy's clients, repository, schedule).
#[server(prefix = "/rpc", endpoint = "resource_choices", input = Json)]
pub async fn resource_choices(kind: ResourceKind) -> Result<Choices, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .resource_choices(&token, kind)
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
) -> Result<Page<Job>, ServerFnError> {
    let token = ssr::need_token()?;
    let mut query = ssr::list_query(String::new(), String::new(), "-id", page);
    for (k, v) in [
        ("status", status),
        ("job_type", job_type),
        ("policy", policy),
        ("client", client),
    ] {
        if !v.is_empty() {
            query.push((k.to_string(), v));
        }
    }
    ssr::backend()?.jobs(&token, query).await.map_err(ssr::fail)
}

/// A job and the end of its log.
#[server(prefix = "/rpc", endpoint = "job", input = Json)]
pub async fn load_job(id: i32) -> Result<JobView, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .job_view(&token, id)
        .await
        .map_err(ssr::fail)
}

/// The policies and clients the jobs list filters by.
#[server(prefix = "/rpc", endpoint = "job_filters", input = Json)]
pub async fn job_filters() -> Result<Choices, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?.job_filters(&token).await.map_err(ssr::fail)
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
fn job_outcome(
    result: Result<i32, crate::backend::BackendError>,
) -> Result<JobOutcome, ServerFnError> {
    use crate::backend::BackendError;
    match result {
        Ok(id) => Ok(JobOutcome::Show(id)),
        Err(BackendError::Refused(m)) => Ok(JobOutcome::Refused(m)),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Cancels a job; answers the same job to show.
#[server(prefix = "/rpc", endpoint = "cancel_job", input = Json)]
pub async fn cancel_job(id: i32) -> Result<JobOutcome, ServerFnError> {
    let token = ssr::need_token()?;
    job_outcome(ssr::backend()?.cancel_job(&token, id).await.map(|()| id))
}

/// Runs a job again; answers the new job.
#[server(prefix = "/rpc", endpoint = "relaunch_job", input = Json)]
pub async fn relaunch_job(id: i32) -> Result<JobOutcome, ServerFnError> {
    let token = ssr::need_token()?;
    job_outcome(
        ssr::backend()?
            .relaunch_job(&token, id)
            .await
            .map(|l| l.job),
    )
}

/// Launches a policy now; answers its first backup job.
#[server(prefix = "/rpc", endpoint = "launch_policy", input = Json)]
pub async fn launch_now(id: i32) -> Result<JobOutcome, ServerFnError> {
    let token = ssr::need_token()?;
    // The service refuses a launch that would make no job (no enabled client).
    job_outcome(
        ssr::backend()?
            .launch_policy(&token, id)
            .await
            .map(|l| l.job),
    )
}

/// Makes a restore job; answers its id, or the service's messages by field.
#[server(prefix = "/rpc", endpoint = "restore", input = Json)]
pub async fn restore_items(input: RestoreInput) -> Result<FormOutcome<i32>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::form_outcome(ssr::backend()?.restore(&token, input).await.map(|l| l.job))
}

/// What a module finds on a client for the policy form: its items, or why not (the service's
/// refusal or field messages, as text for the form).
#[server(prefix = "/rpc", endpoint = "module_items", input = Json)]
pub async fn module_items(
    module: String,
    client: i32,
    params: Vec<(String, String)>,
) -> Result<Result<Vec<ModuleItem>, String>, ServerFnError> {
    use crate::backend::BackendError;
    let token = ssr::need_token()?;
    match ssr::backend()?
        .module_items(&token, module, client, params)
        .await
    {
        Ok(list) => Ok(Ok(list.items)),
        Err(BackendError::Refused(m)) => Ok(Err(m)),
        Err(BackendError::Invalid(fields)) => Ok(Err(fields
            .into_iter()
            .map(|(k, v)| format!("{k}: {}", v.join(" ")))
            .collect::<Vec<_>>()
            .join("; "))),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Checks a repository's integrity (default sample); answers the job.
#[server(prefix = "/rpc", endpoint = "check_integrity", input = Json)]
pub async fn check_integrity(id: i32) -> Result<JobOutcome, ServerFnError> {
    let token = ssr::need_token()?;
    job_outcome(
        ssr::backend()?
            .check_integrity(&token, id)
            .await
            .map(|l| l.job),
    )
}

/// Search results shown at once on the catalog page.
pub const CATALOG_HITS: u64 = 100;

/// The archives of a client (an empty `client`: of every client), newest first.
#[server(prefix = "/rpc", endpoint = "catalog_archives", input = Json)]
pub async fn catalog_archives(client: Option<i32>) -> Result<Vec<ArchiveRef>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .catalog_archives(&token, client)
        .await
        .map_err(ssr::fail)
}

/// A page of the items directly inside `dir` of an archive (`""`: its top), after the path
/// `after` (`""`: the first page).
#[server(prefix = "/rpc", endpoint = "catalog_dir", input = Json)]
pub async fn browse_dir(
    archive: i32,
    dir: String,
    after: String,
) -> Result<CatalogDir, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .catalog_dir(&token, archive, dir, after)
        .await
        .map_err(ssr::fail)
}

/// The first `CATALOG_HITS` entries whose path contains `text` (any case), of one client's
/// archives or of all, by archive and path (`path__icontains` of `GET /api/v1/catalogs/`).
#[server(prefix = "/rpc", endpoint = "catalog_search", input = Json)]
pub async fn search_catalog(
    client: Option<i32>,
    text: String,
) -> Result<Page<CatalogEntry>, ServerFnError> {
    let token = ssr::need_token()?;
    let mut query = vec![
        ("path__icontains".to_string(), text),
        ("order_by".to_string(), "-archive_name,path".to_string()),
        ("page_size".to_string(), CATALOG_HITS.to_string()),
    ];
    if let Some(c) = client {
        query.push(("client".to_string(), c.to_string()));
    }
    ssr::backend()?
        .catalog_search(&token, query)
        .await
        .map_err(ssr::fail)
}

/// What the next prune of a policy keeps and deletes, per client.
#[server(prefix = "/rpc", endpoint = "retention", input = Json)]
pub async fn policy_retention(policy: i32) -> Result<Retention, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .retention(&token, policy)
        .await
        .map_err(ssr::fail)
}

/// The host key page of a client or a remote repository's host, after `op` (fetch the key it
/// presents now, or pin the one presented last).
#[server(prefix = "/rpc", endpoint = "host_key", input = Json)]
pub async fn host_key(
    kind: HostKind,
    id: i32,
    op: HostKeyOp,
) -> Result<HostKeyView, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .host_key(&token, kind, id, op)
        .await
        .map_err(ssr::fail)
}
