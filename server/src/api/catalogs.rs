//! `/api/v1/catalogs/`: read-only.
use app::dto::{CatalogEntry, ErrorDetail, FieldErrors, Page};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::extract::{BigId, ListParams, Query},
    error::Result,
    services::{Actor, catalogs},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
}

/// Every archived file. Filters include `archive_name`, `job`, `path`, `path__startswith`,
/// `path__icontains`, `archive`, `repository`, `client`, `policy` and `search`.
#[utoipa::path(get, path = "/api/v1/catalogs/", tag = "catalogs", params(ListParams),
    responses((status = 200, body = Page<CatalogEntry>), (status = 400, body = FieldErrors)))]
async fn list(
    State(st): State<AppState>,
    actor: Actor,
    q: Query,
) -> Result<Json<Page<CatalogEntry>>> {
    Ok(Json(
        catalogs::list(&st, &actor, &q.list("/api/v1/catalogs/")).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/catalogs/{id}/", tag = "catalogs", params(("id" = i64, Path)),
    responses((status = 200, body = CatalogEntry), (status = 404, body = ErrorDetail)))]
async fn read(
    State(st): State<AppState>,
    actor: Actor,
    BigId(id): BigId,
) -> Result<Json<CatalogEntry>> {
    Ok(Json(catalogs::get(&st, &actor, id).await?))
}
