//! `/api/v1/archives/`: list, detail (with `borg info`), rename, delete, diff.
use axum::{Json, extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use app::dto::{Archive, ArchiveDiff, ArchiveInput, ErrorDetail, FieldErrors, Page};

use crate::{
    api::{
        auth::UserAuth,
        extract::{ApiJson, Id, ListParams, Query},
    },
    error::Result,
    services::archives,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, rename, remove))
        .routes(routes!(diff))
}

/// Every archive the server knows (filters: `repository`, `policy`, `client`, `name`,
/// `created__gte`/`__lte`, `foreign`; ordering with `order_by`).
#[utoipa::path(get, path = "/api/v1/archives/", tag = "archives", params(ListParams),
    responses((status = 200, body = Page<Archive>), (status = 400, body = FieldErrors),
              (status = 401, body = ErrorDetail)))]
async fn list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: Query,
) -> Result<Json<Page<Archive>>> {
    Ok(Json(
        archives::list(&st, &actor, &q.list("/api/v1/archives/")).await?,
    ))
}

/// The archive with borg's view of it (`borg`: sizes, file count, duration, command line,
/// host); `borg_error` says why that is missing when borg could not be asked.
#[utoipa::path(get, path = "/api/v1/archives/{id}/", tag = "archives",
    params(("id" = i32, Path)),
    responses((status = 200, body = Archive), (status = 404, body = ErrorDetail)))]
async fn read(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<Json<Archive>> {
    Ok(Json(archives::get(&st, &actor, id).await?))
}

/// Renames the archive in borg and here (superuser; 409 while a job runs on the repository
/// or for an append-only repository).
#[utoipa::path(patch, path = "/api/v1/archives/{id}/", tag = "archives",
    params(("id" = i32, Path)), request_body = ArchiveInput,
    responses((status = 200, body = Archive), (status = 400, body = FieldErrors),
              (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
async fn rename(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
    ApiJson(input): ApiJson<ArchiveInput>,
) -> Result<Json<Archive>> {
    Ok(Json(archives::rename(&st, &actor, id, input).await?))
}

/// Deletes the archive from borg (then `borg compact`), its record and its catalog
/// (superuser; 409 while a job runs on the repository or for an append-only repository).
#[utoipa::path(delete, path = "/api/v1/archives/{id}/", tag = "archives",
    params(("id" = i32, Path)),
    responses((status = 204), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
async fn remove(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<StatusCode> {
    archives::delete(&st, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What changed between this archive and `other` (same repository), from the older to the
/// newer: added, removed and changed paths with sizes and mtimes (`borg diff --json-lines`,
/// sizes from the catalog where both are catalogued); `change` filters; paginated.
#[utoipa::path(get, path = "/api/v1/archives/{id}/diff/", tag = "archives",
    params(("id" = i32, Path), ("other" = i32, Query), ("change" = Option<String>, Query),
           ("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query)),
    responses((status = 200, body = ArchiveDiff), (status = 400, body = FieldErrors),
              (status = 404, body = ErrorDetail), (status = 502, body = ErrorDetail)))]
async fn diff(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
    q: Query,
) -> Result<Json<ArchiveDiff>> {
    let path = format!("/api/v1/archives/{id}/diff/");
    Ok(Json(archives::diff(&st, &actor, id, &q.list(&path)).await?))
}
