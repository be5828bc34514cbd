//! `/api/v1/settings/`: the server-wide settings and the server's SSH public key.
use app::dto::{ErrorDetail, FieldErrors, SelfBackupRun, Settings, SshPublicKey};
use axum::{Json, extract::State};
use serde_json::{Map, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::auth::UserAuth;

use crate::{api::extract::ApiJson, error::Result, services::settings, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, update))
        .routes(routes!(ssh_public_key))
        .routes(routes!(self_backup_runs, self_backup_now))
}

/// The recent runs of the server's own backup, newest first (superuser).
#[utoipa::path(get, path = "/api/v1/settings/self_backup/", tag = "settings",
    responses((status = 200, body = Vec<SelfBackupRun>), (status = 403, body = ErrorDetail)))]
async fn self_backup_runs(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<Vec<SelfBackupRun>>> {
    Ok(Json(settings::self_backup_runs(&st, &actor).await?))
}

/// Backs the server itself up now into `self_backup_repository` (superuser): a consistent
/// database dump, the secret key and the SSH key pair; answers the finished run. 409 when no
/// repository is set or a run is under way.
#[utoipa::path(post, path = "/api/v1/settings/self_backup/", tag = "settings",
    responses((status = 200, body = SelfBackupRun), (status = 403, body = ErrorDetail),
              (status = 409, body = ErrorDetail)))]
async fn self_backup_now(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<SelfBackupRun>> {
    Ok(Json(settings::self_backup_now(&st, &actor).await?))
}

/// The settings, defaults filled in.
#[utoipa::path(get, path = "/api/v1/settings/", tag = "settings",
    responses((status = 200, body = Settings), (status = 401, body = ErrorDetail)))]
async fn read(State(st): State<AppState>, UserAuth(actor): UserAuth) -> Result<Json<Settings>> {
    Ok(Json(settings::get(&st, &actor).await?))
}

/// Changes the settings sent (superuser). Unknown keys and invalid values are a 400, and then
/// nothing is written.
#[utoipa::path(patch, path = "/api/v1/settings/", tag = "settings", request_body(content = Settings,
        description = "Any of the settings' fields; the ones left out keep their value."),
    responses((status = 200, body = Settings), (status = 400, body = FieldErrors),
              (status = 403, body = ErrorDetail)))]
async fn update(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    ApiJson(input): ApiJson<Map<String, Value>>,
) -> Result<Json<Settings>> {
    Ok(Json(settings::update(&st, &actor, input).await?))
}

/// The public key clients must put in `authorized_keys` for the server to reach them.
#[utoipa::path(get, path = "/api/v1/settings/ssh_public_key/", tag = "settings",
    responses((status = 200, body = SshPublicKey), (status = 401, body = ErrorDetail)))]
async fn ssh_public_key(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<SshPublicKey>> {
    Ok(Json(settings::ssh_public_key(&st, &actor).await?))
}
