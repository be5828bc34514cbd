//! What the dashboard's server functions need from the server. `app` cannot depend on `server`
//! (the server depends on `app`), so the server implements this trait by calling its service
//! layer and provides it to every render and server function as `Arc<dyn Backend>` context.
//! Each method takes the caller's session token: the server resolves it to a user with the same
//! code as the REST API, so a permission or validation rule lives in the service layer only.
use std::{future::Future, pin::Pin, sync::Arc};

use crate::dto::{
    CalendarMonth, FieldErrors, Overview, Page, Schedule, ScheduleInput, SchedulePreview,
    SessionUser,
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
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Unauthorized(m) | BackendError::Refused(m) | BackendError::Failed(m) => {
                f.write_str(m)
            }
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
    /// Checks email and password and opens a session (`services::auth::login`).
    fn login<'a>(&'a self, email: &'a str, password: &'a str) -> BackendFuture<'a, NewSession>;
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
    /// The month grid of every enabled policy's runs (`YYYY-MM`; the current month when `None`).
    fn calendar_month<'a>(
        &'a self,
        token: &'a str,
        month: Option<String>,
    ) -> BackendFuture<'a, CalendarMonth>;
    /// The names of the policies that use a schedule, for the delete confirmation.
    fn schedule_dependents<'a>(&'a self, token: &'a str, id: i32)
    -> BackendFuture<'a, Vec<String>>;
}

/// How the server hands the backend to the app (a Leptos context value).
pub type SharedBackend = Arc<dyn Backend>;
