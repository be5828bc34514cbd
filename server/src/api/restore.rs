//! `POST /api/v1/restore/`
use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use app::dto::{ErrorDetail, FieldErrors, Launched, RestoreInput};

use crate::api::auth::UserAuth;

use crate::{api::extract::ApiJson, error::Result, services::restore, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(restore))
}

/// Restores items of an archive on a client (superuser): a `restore` job runs `borg extract`
/// there, into `dest_folder` (created if missing; the archive's paths are recreated below it,
/// nothing lands outside it). `dry_run` lists what would be restored and writes nothing. 201
/// `{"job": id, "jobs": [id]}`; follow it like any job.
#[utoipa::path(post, path = "/api/v1/restore/", tag = "restore", request_body = RestoreInput,
    responses((status = 201, body = Launched), (status = 400, body = FieldErrors),
              (status = 403, body = ErrorDetail)))]
async fn restore(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    ApiJson(input): ApiJson<RestoreInput>,
) -> Result<(StatusCode, Json<Launched>)> {
    Ok((
        StatusCode::CREATED,
        Json(restore::restore(&st, &actor, input).await?),
    ))
}
