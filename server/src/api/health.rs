//! `/api/v1/health/` (per policy and client), `/api/v1/health/repositories/`,
//! `/api/v1/stats/health/` (the counts) and `/api/v1/alerts/`.
use app::dto::{Alert, ErrorDetail, FieldErrors, HealthRow, HealthSummary, Page, RepositoryHealth};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::UserAuth,
        extract::{Id, ListParams, Query},
    },
    error::Result,
    services::{alerts, health},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(repositories))
        .routes(routes!(summary))
        .routes(routes!(alert_list))
        .routes(routes!(alert_read))
        .routes(routes!(acknowledge))
}

/// Every policy × client pair, worst first (`late`, `failing`, `never`, `ok`, `disabled`).
/// Filters: `state`, `state__in`, `policy`, `client`, `repository`, `search`.
#[utoipa::path(get, path = "/api/v1/health/", tag = "health", params(ListParams),
    responses((status = 200, body = Page<HealthRow>), (status = 400, body = FieldErrors),
              (status = 401, body = ErrorDetail)))]
async fn list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: Query,
) -> Result<Json<Page<HealthRow>>> {
    Ok(Json(
        health::list(&st, &actor, &q.list("/api/v1/health/")).await?,
    ))
}

/// Each repository's checks, newest archive and the bytes its backups added per day.
#[utoipa::path(get, path = "/api/v1/health/repositories/", tag = "health",
    responses((status = 200, body = Vec<RepositoryHealth>), (status = 401, body = ErrorDetail)))]
async fn repositories(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<Vec<RepositoryHealth>>> {
    Ok(Json(health::repository_list(&st, &actor).await?))
}

/// How many pairs are in each state, and the open alerts. (`/api/v1/stats/` itself keeps the
/// original API's shape: an array of days.)
#[utoipa::path(get, path = "/api/v1/stats/health/", tag = "health",
    responses((status = 200, body = HealthSummary), (status = 401, body = ErrorDetail)))]
async fn summary(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<HealthSummary>> {
    Ok(Json(health::summary(&st, &actor).await?))
}

/// Alerts, newest first; `resolved__isnull=true` for the open ones; filters `kind`, `policy`,
/// `client`, `repository`, `job`, dates.
#[utoipa::path(get, path = "/api/v1/alerts/", tag = "health", params(ListParams),
    responses((status = 200, body = Page<Alert>), (status = 400, body = FieldErrors),
              (status = 401, body = ErrorDetail)))]
async fn alert_list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: Query,
) -> Result<Json<Page<Alert>>> {
    Ok(Json(
        alerts::list(&st, &actor, &q.list("/api/v1/alerts/")).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}/", tag = "health", params(("id" = i32, Path)),
    responses((status = 200, body = Alert), (status = 404, body = ErrorDetail)))]
async fn alert_read(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<Json<Alert>> {
    Ok(Json(alerts::get(&st, &actor, id).await?))
}

/// Marks an open alert as seen; it still resolves by itself. 409 when already resolved.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge/", tag = "health",
    params(("id" = i32, Path)),
    responses((status = 200, body = Alert), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail)))]
async fn acknowledge(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<Json<Alert>> {
    Ok(Json(alerts::acknowledge(&st, &actor, id).await?))
}
