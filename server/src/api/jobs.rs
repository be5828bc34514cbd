//! `/api/v1/jobs/` (read and delete; the engine makes jobs), their logs, and `/api/v1/stats/`.
use app::dto::{ErrorDetail, FieldErrors, Job, JobEvent, JobStdout, Page, StatsDay};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::extract::{Id, ListParams, Query},
    error::{Error, Result},
    services::{Actor, jobs},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, remove))
        .routes(routes!(stdout))
        .routes(routes!(events))
        .routes(routes!(stats))
}

/// Every job. Filters include `status`, `job_type`, `launch_type`, `policy`, `client`,
/// `repository`, `archive_name`, `failed`, `created`, `started`, `finished`; `search` looks in
/// `name` and `archive_name`.
#[utoipa::path(get, path = "/api/v1/jobs/", tag = "jobs", params(ListParams),
    responses((status = 200, body = Page<Job>), (status = 400, body = FieldErrors),
              (status = 401, body = ErrorDetail)))]
async fn list(State(st): State<AppState>, actor: Actor, q: Query) -> Result<Json<Page<Job>>> {
    Ok(Json(
        jobs::list(&st, &actor, &q.list("/api/v1/jobs/")).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorDetail)))]
async fn read(State(st): State<AppState>, actor: Actor, Id(id): Id) -> Result<Json<Job>> {
    Ok(Json(jobs::get(&st, &actor, id).await?))
}

/// Deletes a finished job and its log (superuser); 409 while it is queued or running.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 204), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail)))]
async fn remove(State(st): State<AppState>, actor: Actor, Id(id): Id) -> Result<StatusCode> {
    jobs::delete(&st, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole log of the job: `?format=txt` (the default) as `text/plain`, `?format=json` as
/// `{"content": "…"}`; lines in order, joined by `\n`.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/stdout/", tag = "jobs",
    params(("id" = i32, Path), ("format" = Option<String>, Query, description = "txt or json")),
    responses((status = 200, content((String = "text/plain"), (JobStdout = "application/json"))),
              (status = 400, body = FieldErrors), (status = 404, body = ErrorDetail)))]
async fn stdout(
    State(st): State<AppState>,
    actor: Actor,
    Id(id): Id,
    Query(pairs): Query,
) -> Result<Response> {
    let mut format = "txt".to_string();
    for (k, v) in pairs {
        match k.as_str() {
            "format" => format = v,
            _ => {
                return Err(Error::field(
                    &k,
                    "Unknown parameter; only format=txt|json is accepted.",
                ));
            }
        }
    }
    if format != "txt" && format != "json" {
        return Err(Error::field(
            "format",
            format!("'{format}' is not a known format; use txt or json."),
        ));
    }
    let content = jobs::stdout(&st, &actor, id).await?;
    Ok(if format == "json" {
        Json(JobStdout { content }).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            content,
        )
            .into_response()
    })
}

/// The job's log as numbered lines, paginated; default order `counter`. Filters: `counter`,
/// `stdout`, `created`, `search`.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events/", tag = "jobs",
    params(("id" = i32, Path), ListParams),
    responses((status = 200, body = Page<JobEvent>), (status = 400, body = FieldErrors),
              (status = 404, body = ErrorDetail)))]
async fn events(
    State(st): State<AppState>,
    actor: Actor,
    Id(id): Id,
    q: Query,
) -> Result<Json<Page<JobEvent>>> {
    let path = format!("/api/v1/jobs/{id}/events/");
    Ok(Json(jobs::events(&st, &actor, id, &q.list(&path)).await?))
}

/// The last 30 UTC days, today included, oldest first: per day the bytes read (`size`) and
/// added (`dedup`) by successful backups, and the number of jobs that ended successfully
/// (`success`) or failed or in error (`failed`).
#[utoipa::path(get, path = "/api/v1/stats/", tag = "jobs",
    responses((status = 200, body = Vec<StatsDay>), (status = 401, body = ErrorDetail)))]
async fn stats(State(st): State<AppState>, actor: Actor) -> Result<Json<Vec<StatsDay>>> {
    Ok(Json(jobs::stats(&st, &actor).await?))
}
