//! The one error type of the services and the engine, and the one place that decides what it
//! means to a client: its HTTP status, the message shown and what stays in the log. The REST API
//! (`server::error`) and the dashboard's server functions (`app::dashboard::rpc`) both answer
//! from here, so a refusal keeps its meaning whichever door it went through; nothing a client
//! sent ends as a 500.
use cyborg_dto::FieldErrors;
use http::StatusCode;
use sea_orm::{DbErr, SqlErr};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that is wrong as a whole (bad JSON, a malformed query value).
    #[error("{0}")]
    BadRequest(String),
    /// Messages by field name.
    #[error("invalid input: {0:?}")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// What the server needed from elsewhere failed: a client unreachable over SSH, borg's error.
    #[error("{0}")]
    BadGateway(String),
    /// Throttled (failed logins, too many live streams): 429 with `Retry-After` in seconds.
    #[error("{message}")]
    TooManyRequests { retry_after: u64, message: String },
    /// Busy right now (every password-check slot taken): 503 with `Retry-After`.
    #[error("{message}")]
    Unavailable { retry_after: u64, message: String },
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), vec![message.into()]);
        Error::Validation(errors)
    }

    pub fn not_found() -> Self {
        Error::NotFound("Not found.".into())
    }

    pub fn forbidden() -> Self {
        Error::Forbidden("You do not have permission to perform this action.".into())
    }

    pub fn unauthorized() -> Self {
        Error::Unauthorized("Authentication credentials were not provided.".into())
    }

    /// The status a client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::Validation(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(e) => match e.sql_err() {
                // A race lost between our own uniqueness/reference checks and the write: the
                // client's request conflicts with the stored state, it is not a server fault.
                Some(SqlErr::UniqueConstraintViolation(_))
                | Some(SqlErr::ForeignKeyConstraintViolation(_)) => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds to wait before trying again (429, 503).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests { retry_after, .. } | Error::Unavailable { retry_after, .. } => {
                Some((*retry_after).max(1))
            }
            _ => None,
        }
    }

    /// The one line a client reads. The server's own failures are logged here with their
    /// details and answered with a short message; field messages are joined (`field: message`).
    pub fn client_message(&self) -> String {
        match self {
            Error::Validation(fields) => fields_line(fields, |field| field.to_string()),
            Error::BadRequest(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::BadGateway(m)
            | Error::Unauthorized(m)
            | Error::TooManyRequests { message: m, .. }
            | Error::Unavailable { message: m, .. } => m.clone(),
            Error::MethodNotAllowed => "Method not allowed.".into(),
            Error::Database(e) if self.status() == StatusCode::CONFLICT => {
                tracing::info!("write refused by a database constraint: {e}");
                "The change conflicts with existing data (a duplicate or a missing reference)."
                    .into()
            }
            Error::Database(e) => {
                tracing::error!("database error: {e}");
                "Internal server error.".into()
            }
            Error::Internal(e) => {
                tracing::error!("internal error: {e:#}");
                "Internal server error.".into()
            }
        }
    }
}

/// Field messages as one line, each under the name `name_of` gives its field (an API field, a
/// command-line flag, an environment variable): `name: message message; name: message`.
pub fn fields_line(fields: &FieldErrors, name_of: impl Fn(&str) -> String) -> String {
    fields
        .iter()
        .map(|(field, ms)| format!("{}: {}", name_of(field), ms.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}
