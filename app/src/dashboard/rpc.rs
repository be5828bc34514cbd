//! The dashboard's server functions. Each one reads the caller's session cookie, asks the
//! server's [`Backend`](crate::backend::Backend) (provided as context), and answers DTOs.
use leptos::prelude::*;

use crate::dto::{
    CalendarMonth, FormOutcome, Overview, Page, Schedule, SchedulePreview, SessionUser,
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
        let status = match e {
            BackendError::Unauthorized(_) => Some(http::StatusCode::UNAUTHORIZED),
            BackendError::Invalid(_) | BackendError::Refused(_) => {
                Some(http::StatusCode::BAD_REQUEST)
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
}

/// Rows per page of the dashboard's lists.
pub const LIST_PAGE_SIZE: u64 = 25;
/// Runs the schedule editor previews.
pub const PREVIEW_RUNS: i64 = 5;

/// The logged-in user, or `None` without a live session (the page then goes to the login).
#[server(prefix = "/rpc", endpoint = "session_user")]
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
    let session = match ssr::backend()?.login(&email, &password).await {
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
#[server(prefix = "/rpc", endpoint = "overview")]
pub async fn overview_data() -> Result<Overview, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?.overview(&token).await.map_err(ssr::fail)
}

/// One page of the schedules, searched and ordered by the REST API's list engine (`search`,
/// `order_by` as in `GET /api/v1/schedules/`; an empty `order_by` orders by name).
#[server(prefix = "/rpc", endpoint = "schedules")]
pub async fn list_schedules(
    search: String,
    order_by: String,
    page: u64,
) -> Result<Page<Schedule>, ServerFnError> {
    let token = ssr::need_token()?;
    let mut query = vec![
        ("page_size".to_string(), LIST_PAGE_SIZE.to_string()),
        ("page".to_string(), page.max(1).to_string()),
        (
            "order_by".to_string(),
            if order_by.is_empty() {
                "name".to_string()
            } else {
                order_by
            },
        ),
    ];
    if !search.is_empty() {
        query.push(("search".to_string(), search));
    }
    ssr::backend()?
        .schedules(&token, query)
        .await
        .map_err(ssr::fail)
}

/// The next `PREVIEW_RUNS` runs of a crontab being typed, or why a save would refuse it.
#[server(prefix = "/rpc", endpoint = "schedule_preview")]
pub async fn preview_schedule(crontab: String) -> Result<SchedulePreview, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .schedule_preview(&token, crontab, PREVIEW_RUNS)
        .await
        .map_err(ssr::fail)
}

/// Creates (`id` absent) or updates a schedule. Refused input is the form's answer
/// (`FormOutcome::Invalid` with the service's messages by field), not a failed call.
#[server(prefix = "/rpc", endpoint = "save_schedule")]
pub async fn save_schedule(
    id: Option<i32>,
    name: String,
    crontab: String,
    enabled: bool,
) -> Result<FormOutcome<Schedule>, ServerFnError> {
    use crate::{backend::BackendError, dto::ScheduleInput};
    let token = ssr::need_token()?;
    let input = ScheduleInput {
        name: Some(name),
        crontab: Some(crontab),
        enabled: Some(enabled),
    };
    match ssr::backend()?.save_schedule(&token, id, input).await {
        Ok(saved) => Ok(FormOutcome::Saved(saved)),
        Err(BackendError::Invalid(fields)) => Ok(FormOutcome::Invalid(fields)),
        Err(BackendError::Refused(message)) => Ok(FormOutcome::Invalid(
            [("form".to_string(), vec![message])].into(),
        )),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// Deletes a schedule. A refusal (a policy uses it) is the answer `Some(message)`, not a
/// failed call.
#[server(prefix = "/rpc", endpoint = "delete_schedule")]
pub async fn delete_schedule(id: i32) -> Result<Option<String>, ServerFnError> {
    use crate::backend::BackendError;
    let token = ssr::need_token()?;
    match ssr::backend()?.delete_schedule(&token, id).await {
        Ok(()) => Ok(None),
        Err(BackendError::Refused(message)) => Ok(Some(message)),
        Err(e) => Err(ssr::fail(e)),
    }
}

/// The names of the policies that use a schedule.
#[server(prefix = "/rpc", endpoint = "schedule_dependents")]
pub async fn schedule_dependents(id: i32) -> Result<Vec<String>, ServerFnError> {
    let token = ssr::need_token()?;
    ssr::backend()?
        .schedule_dependents(&token, id)
        .await
        .map_err(ssr::fail)
}

/// The month grid of the calendar page (`month` `YYYY-MM`, empty for the current month).
#[server(prefix = "/rpc", endpoint = "calendar_month")]
pub async fn month_grid(month: String) -> Result<CalendarMonth, ServerFnError> {
    let token = ssr::need_token()?;
    let month = (!month.is_empty()).then_some(month);
    ssr::backend()?
        .calendar_month(&token, month)
        .await
        .map_err(ssr::fail)
}
