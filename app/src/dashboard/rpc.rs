//! The dashboard's server functions. Each one reads the caller's session cookie, asks the
//! server's [`Backend`](crate::backend::Backend) (provided as context), and answers DTOs.
use leptos::prelude::*;

use crate::dto::{Overview, SessionUser};

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
    /// session answers 401 (not the framework's 500); during a page render the status is the
    /// page's business (the session guard's redirect), so it is left alone.
    pub fn fail(e: BackendError) -> ServerFnError {
        if matches!(e, BackendError::Unauthorized(_))
            && parts().is_some_and(|p| p.uri.path().starts_with("/rpc/"))
            && let Some(res) = use_context::<leptos_axum::ResponseOptions>()
        {
            res.set_status(http::StatusCode::UNAUTHORIZED);
        }
        ServerFnError::new(e.to_string())
    }

    pub const NO_SESSION: &str = "Your session has expired; log in again.";
}

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
    let token = ssr::token().ok_or_else(|| {
        ssr::fail(crate::backend::BackendError::Unauthorized(
            ssr::NO_SESSION.into(),
        ))
    })?;
    ssr::backend()?.overview(&token).await.map_err(ssr::fail)
}
