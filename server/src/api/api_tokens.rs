//! `/api/v1/me/tokens/`: the caller's personal API tokens.
use app::dto::{ApiToken, ApiTokenInput, ErrorDetail, FieldErrors};
use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::UserAuth,
        extract::{ApiJson, Id},
    },
    error::Result,
    services::api_tokens,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// The caller's tokens, newest first; the secret is never shown again.
#[utoipa::path(get, path = "/api/v1/me/tokens/", tag = "auth",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorDetail)))]
async fn list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<Vec<ApiToken>>> {
    Ok(Json(api_tokens::list(&st, &actor).await?))
}

/// Makes a token (`scope` `read` or `write`, `expires` RFC 3339 or null); the answer holds the
/// token, the only time it is shown. Use it as `Authorization: Bearer <token>`.
#[utoipa::path(post, path = "/api/v1/me/tokens/", tag = "auth", request_body = ApiTokenInput,
    responses((status = 201, body = ApiToken), (status = 400, body = FieldErrors),
              (status = 403, body = ErrorDetail)))]
async fn create(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    ApiJson(input): ApiJson<ApiTokenInput>,
) -> Result<(StatusCode, Json<ApiToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(api_tokens::create(&st, &actor, input).await?),
    ))
}

/// Revokes one of the caller's tokens at once.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}/", tag = "auth", params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = ErrorDetail)))]
async fn revoke(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<StatusCode> {
    api_tokens::revoke(&st, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
