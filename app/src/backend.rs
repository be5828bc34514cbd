//! What the dashboard's server functions need from the server. `app` cannot depend on `server`
//! (the server depends on `app`), so the server implements this trait by calling its service
//! layer and provides it to every render and server function as `Arc<dyn Backend>` context.
//! Each method takes the caller's session token: the server resolves it to a user with the same
//! code as the REST API, so a permission or validation rule lives in the service layer only.
use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use crate::{
    dto::{
        ArchiveRef, CalendarMonth, CatalogDir, CatalogEntry, FieldErrors, HostKeyOp, HostKeyView,
        HostKind, Job, JobView, Launched, ModuleList, Overview, Page, RestoreInput, Retention,
        Schedule, ScheduleInput, SchedulePreview, SessionUser,
    },
    resources::{Choices, ResourceKind, ResourceRow},
};

/// Why a backend call failed, in the words the operator should read.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendError {
    /// No valid session (missing, expired, logged out, wrong credentials).
    Unauthorized(String),
    /// Input the service refused: its messages by field, as the REST API's 400 carries them.
    Invalid(FieldErrors),
    /// A request the service refused for what it asks (in use, not found, not allowed): its
    /// message, for the operator.
    Refused(String),
    /// Anything else (the server's own failure): a short message; the details are in its log.
    Failed(String),
    /// Not now: too many failed logins (429) or too busy (503); try again after `retry_after`
    /// seconds.
    Busy {
        status: u16,
        retry_after: u64,
        message: String,
    },
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Unauthorized(m)
            | BackendError::Refused(m)
            | BackendError::Failed(m)
            | BackendError::Busy { message: m, .. } => f.write_str(m),
            BackendError::Invalid(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(field, ms)| format!("{field}: {}", ms.join(" ")))
                    .collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

pub type BackendResult<T> = Result<T, BackendError>;
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = BackendResult<T>> + Send + 'a>>;

/// A new dashboard session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    /// Seconds the session lives; the cookie's Max-Age.
    pub max_age: i64,
    pub user: SessionUser,
}

pub trait Backend: Send + Sync + 'static {
    /// Checks email and password and opens a session (`services::auth::login`); `from` is the
    /// client's address (failed logins are throttled per address).
    fn login<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
        from: std::net::IpAddr,
    ) -> BackendFuture<'a, NewSession>;
    /// Ends a session (`services::auth::logout`); an unknown token is not an error.
    fn logout<'a>(&'a self, token: &'a str) -> BackendFuture<'a, ()>;
    /// The user of a live session, or `Unauthorized`.
    fn session_user<'a>(&'a self, token: &'a str) -> BackendFuture<'a, SessionUser>;
    /// The overview page's data, for the user of the session.
    fn overview<'a>(&'a self, token: &'a str) -> BackendFuture<'a, Overview>;
    /// One page of `GET /api/v1/schedules/` with these query parameters (page, search, order_by,
    /// filters: the list engine of the REST API).
    fn schedules<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<Schedule>>;
    /// The next `count` runs of a crontab (`POST /api/v1/schedules/preview/`).
    fn schedule_preview<'a>(
        &'a self,
        token: &'a str,
        crontab: String,
        count: i64,
    ) -> BackendFuture<'a, SchedulePreview>;
    /// Creates (`id` `None`) or updates a schedule.
    fn save_schedule<'a>(
        &'a self,
        token: &'a str,
        id: Option<i32>,
        input: ScheduleInput,
    ) -> BackendFuture<'a, Schedule>;
    /// Deletes a schedule (refused while a policy uses it).
    fn delete_schedule<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, ()>;
    /// The month grid of every enabled policy's runs (`YYYY-MM`; the current month when `None`),
    /// or of one policy's.
    fn calendar_month<'a>(
        &'a self,
        token: &'a str,
        month: Option<String>,
        policy: Option<i32>,
    ) -> BackendFuture<'a, CalendarMonth>;
    /// The names of the policies that use a schedule, for the delete confirmation.
    fn schedule_dependents<'a>(&'a self, token: &'a str, id: i32)
    -> BackendFuture<'a, Vec<String>>;
    /// One page of a resource's REST list with these query parameters, as table rows.
    fn resource_list<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<ResourceRow>>;
    /// Creates (`id` `None`) or updates an object from its form's values (`resources::input_of`).
    fn save_resource<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: Option<i32>,
        values: BTreeMap<String, String>,
    ) -> BackendFuture<'a, ResourceRow>;
    /// Deletes an object (`Refused` when the service refuses, e.g. a repository in use).
    fn delete_resource<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: i32,
    ) -> BackendFuture<'a, ()>;
    /// What deleting the object touches, named for the confirmation.
    fn resource_dependents<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
        id: i32,
    ) -> BackendFuture<'a, Vec<String>>;
    /// One page of `GET /api/v1/jobs/` with these query parameters.
    fn jobs<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<Job>>;
    /// A job and the end of its log.
    fn job_view<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, JobView>;
    /// Cancels a job (`Refused` when it is over).
    fn cancel_job<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, ()>;
    /// Runs a job again as a new job.
    fn relaunch_job<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched>;
    /// Launches a policy now (`launch_type` `manual`).
    fn launch_policy<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched>;
    /// Makes an integrity job of a repository with the default sample
    /// (`POST /api/v1/repositories/{id}/integrity/`).
    fn check_integrity<'a>(&'a self, token: &'a str, id: i32) -> BackendFuture<'a, Launched>;
    /// Makes a restore job (`POST /api/v1/restore/`).
    fn restore<'a>(&'a self, token: &'a str, input: RestoreInput) -> BackendFuture<'a, Launched>;
    /// What a module finds on a client
    /// (`GET /api/v1/policies/module/{module}/{client}/?user=&host=&port=&policy=`).
    fn module_items<'a>(
        &'a self,
        token: &'a str,
        module: String,
        client: i32,
        params: Vec<(String, String)>,
    ) -> BackendFuture<'a, ModuleList>;
    /// The policies and clients the jobs list filters by (fields `policy`, `client`).
    fn job_filters<'a>(&'a self, token: &'a str) -> BackendFuture<'a, Choices>;
    /// The archives in the catalog, newest first, of one client or of all.
    fn catalog_archives<'a>(
        &'a self,
        token: &'a str,
        client: Option<i32>,
    ) -> BackendFuture<'a, Vec<ArchiveRef>>;
    /// A page of the items directly inside a directory of an archive (`""`: the top), after
    /// the path `after` (`""`: the first page).
    fn catalog_dir<'a>(
        &'a self,
        token: &'a str,
        archive: i32,
        dir: String,
        after: String,
    ) -> BackendFuture<'a, CatalogDir>;
    /// One page of `GET /api/v1/catalogs/` with these query parameters.
    fn catalog_search<'a>(
        &'a self,
        token: &'a str,
        query: Vec<(String, String)>,
    ) -> BackendFuture<'a, Page<CatalogEntry>>;
    /// The objects the resource's form picks from, by field.
    fn resource_choices<'a>(
        &'a self,
        token: &'a str,
        kind: ResourceKind,
    ) -> BackendFuture<'a, Choices>;
    /// The retention preview of a policy (`GET /api/v1/policies/{id}/retention/`).
    fn retention<'a>(&'a self, token: &'a str, policy: i32) -> BackendFuture<'a, Retention>;
    /// The host key page of a client or a remote repository, after `op` (`…/host_key/scan/`,
    /// `…/host_key/accept/`).
    fn host_key<'a>(
        &'a self,
        token: &'a str,
        kind: HostKind,
        id: i32,
        op: HostKeyOp,
    ) -> BackendFuture<'a, HostKeyView>;
}

/// How the server hands the backend to the app (a Leptos context value).
pub type SharedBackend = Arc<dyn Backend>;
