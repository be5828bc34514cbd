//! The REST API's answer for a service error: the status, message and log line come from
//! `cyborg_core::error::Error` (the same ones the dashboard's server functions use); this only
//! writes them as the JSON body of the API (`{"detail": …}`, or messages by field) with the
//! headers the status calls for.
use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use cyborg_dto::ErrorDetail;

pub use cyborg_core::error::Error;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A service error on its way out through the REST API.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError(e.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        let retry_after = e.retry_after();
        let mut resp = match e {
            Error::Validation(errors) => (status, Json(errors)).into_response(),
            e => (
                status,
                Json(ErrorDetail {
                    detail: e.client_message(),
                }),
            )
                .into_response(),
        };
        if status == axum::http::StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cyborgbackup\", Bearer"),
            );
        }
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
