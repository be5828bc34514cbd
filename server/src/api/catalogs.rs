//! `/api/v1/catalogs/`: read-only.
use app::dto::{CatalogEntry, CatalogHistory, ErrorDetail, FieldErrors, Page};
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::auth::UserAuth;

use crate::{
    api::extract::{BigId, ListParams, Query},
    error::Result,
    services::{catalogs, download},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(history))
        .routes(routes!(read))
        .routes(routes!(download))
}

/// Every archived file. Filters include `archive_name`, `job`, `path`, `path__startswith`,
/// `path__icontains`, `archive`, `repository`, `client`, `policy` and `search`.
#[utoipa::path(get, path = "/api/v1/catalogs/", tag = "catalogs", params(ListParams),
    responses((status = 200, body = Page<CatalogEntry>), (status = 400, body = FieldErrors)))]
async fn list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: Query,
) -> Result<Json<Page<CatalogEntry>>> {
    Ok(Json(
        catalogs::list(&st, &actor, &q.list("/api/v1/catalogs/")).await?,
    ))
}

/// Every version of one path across the catalogued archives, oldest first: its attributes, the
/// archives holding it (each with the path's entry id), whether it appeared, changed or
/// reappeared, and whether the next archive changed it, lost it or is yet to come. `path` is
/// required (exact, as archived); `repository`, `policy` and `client` narrow it.
#[utoipa::path(get, path = "/api/v1/catalogs/history/", tag = "catalogs",
    params(("path" = String, Query), ("repository" = Option<i32>, Query),
           ("policy" = Option<i32>, Query), ("client" = Option<i32>, Query)),
    responses((status = 200, body = CatalogHistory), (status = 400, body = FieldErrors)))]
async fn history(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Query(params): Query,
) -> Result<Json<CatalogHistory>> {
    Ok(Json(catalogs::history(&st, &actor, &params).await?))
}

#[utoipa::path(get, path = "/api/v1/catalogs/{id}/", tag = "catalogs", params(("id" = i64, Path)),
    responses((status = 200, body = CatalogEntry), (status = 404, body = ErrorDetail)))]
async fn read(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    BigId(id): BigId,
) -> Result<Json<CatalogEntry>> {
    Ok(Json(catalogs::get(&st, &actor, id).await?))
}

/// The entry's content (superuser): a file's bytes, or a folder as an uncompressed tar, read out
/// of its archive on the client that made it and streamed as borg produces it. 409 for a symlink
/// or device, or when that client was deleted; 502 when the client cannot be reached or borg
/// fails before sending anything (a failure later breaks the transfer rather than ending it).
#[utoipa::path(get, path = "/api/v1/catalogs/{id}/download/", tag = "catalogs",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The file, or a tar of the folder",
               content_type = "application/octet-stream"),
              (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
async fn download(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    BigId(id): BigId,
) -> Result<Response> {
    let d = download::download(&st, &actor, id).await?;
    let mut resp = axum::body::Body::from_stream(d.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(d.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&download::content_disposition(&d.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(n) = d.length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(resp)
}
