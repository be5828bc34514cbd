//! What the dashboard's server functions need from the server. `app` cannot depend on `server`
//! (the server depends on `app`), so the server implements this trait by calling its service
//! layer and provides it to every render and server function as `Arc<dyn Backend>` context.
//! Each method takes the caller's session token: the server resolves it to a user with the same
//! code as the REST API, so a permission or validation rule lives in the service layer only.
use std::{future::Future, pin::Pin, sync::Arc};

use crate::dto::{Overview, SessionUser};

/// Why a backend call failed, in the words the operator should read.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendError {
    /// No valid session (missing, expired, logged out, wrong credentials).
    Unauthorized(String),
    /// Anything else: the message of the service's error.
    Failed(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Unauthorized(m) | BackendError::Failed(m) => f.write_str(m),
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
}

/// How the server hands the backend to the app (a Leptos context value).
pub type SharedBackend = Arc<dyn Backend>;
