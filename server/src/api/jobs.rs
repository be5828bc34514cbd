//! `/api/v1/jobs/` (read and delete; the engine makes jobs), their logs, and `/api/v1/stats/`.
use std::convert::Infallible;

use app::dto::{ErrorDetail, FieldErrors, Job, JobEvent, JobStdout, Launched, Page, StatsDay};
use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::{Stream, StreamExt};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::auth::UserAuth;

use crate::{
    api::{
        auth::Watching,
        extract::{Id, ListParams, Query},
    },
    error::{Error, Result},
    services::{
        job_stream::{self, StreamEvent},
        jobs,
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, remove))
        .routes(routes!(stdout))
        .routes(routes!(events))
        .routes(routes!(stats))
        .routes(routes!(cancel))
        .routes(routes!(relaunch))
        .routes(routes!(stream_one))
        .routes(routes!(stream_all))
}

/// Cancels the job (superuser): a queued job at once, with the jobs waiting on it; a running one
/// by stopping its borg on the client and its ssh here. 202 with the job; 409 when it is over.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 202, body = Job), (status = 403, body = ErrorDetail),
              (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail)))]
async fn cancel(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<(StatusCode, Json<Job>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(jobs::cancel(&st, &actor, id).await?),
    ))
}

/// Runs the job again as a new job (superuser): a backup with its catalog and prune jobs for the
/// same client, or a check, catalog or prune job on its own. 201; 409 while a backup of the same
/// policy and client is active.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/relaunch/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 201, body = Launched), (status = 403, body = ErrorDetail),
              (status = 404, body = ErrorDetail), (status = 409, body = ErrorDetail)))]
async fn relaunch(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<(StatusCode, Json<Launched>)> {
    Ok((
        StatusCode::CREATED,
        Json(jobs::relaunch(&st, &actor, id).await?),
    ))
}

fn sse(s: impl Stream<Item = StreamEvent> + Send + 'static) -> Response {
    let s = s.map(|e| {
        let mut ev = Event::default().event(e.event).data(e.data);
        if let Some(id) = e.id {
            ev = ev.id(id);
        }
        Ok::<_, Infallible>(ev)
    });
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}

/// Server-sent events of one job: `line` events (`id:` = the line counter, data
/// `{"counter","stdout"}`) from after `?after=N` or the `Last-Event-ID` header (default: the
/// whole log), and `status` events (data: the job's status fields) on every change; the stream
/// ends once the job is over.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/stream/", tag = "jobs",
    params(("id" = i32, Path), ("after" = Option<i32>, Query, description = "last line counter seen")),
    responses((status = 200, content_type = "text/event-stream", body = String),
              (status = 400, body = FieldErrors), (status = 404, body = ErrorDetail)))]
async fn stream_one(
    State(st): State<AppState>,
    Watching(watch): Watching,
    Id(id): Id,
    headers: HeaderMap,
    Query(pairs): Query,
) -> Result<Response> {
    let mut after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0);
    for (k, v) in pairs {
        match k.as_str() {
            "after" => {
                after = v.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    Error::field("after", "A line counter (an integer ≥ 0) is expected.")
                })?
            }
            _ => {
                return Err(Error::field(
                    &k,
                    "Unknown parameter; only after=<line counter> is accepted.",
                )
                .into());
            }
        }
    }
    Ok(sse(job_stream::one(&st, watch, id, after).await?))
}

/// Server-sent events of every job: `status` on each change of any job, `line` (data
/// `{"job","counter","stdout"}`) for the jobs this server process runs, `lagged` when this
/// watcher fell behind. Never ends.
#[utoipa::path(get, path = "/api/v1/jobs/stream/", tag = "jobs",
    responses((status = 200, content_type = "text/event-stream", body = String),
              (status = 401, body = ErrorDetail)))]
async fn stream_all(State(st): State<AppState>, Watching(watch): Watching) -> Result<Response> {
    Ok(sse(job_stream::all(&st, watch).await?))
}

/// Every job. Filters include `status`, `job_type`, `launch_type`, `policy`, `client`,
/// `repository`, `archive_name`, `failed`, `created`, `started`, `finished`; `search` looks in
/// `name` and `archive_name`.
#[utoipa::path(get, path = "/api/v1/jobs/", tag = "jobs", params(ListParams),
    responses((status = 200, body = Page<Job>), (status = 400, body = FieldErrors),
              (status = 401, body = ErrorDetail)))]
async fn list(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    q: Query,
) -> Result<Json<Page<Job>>> {
    Ok(Json(
        jobs::list(&st, &actor, &q.list("/api/v1/jobs/")).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 200, body = Job), (status = 404, body = ErrorDetail)))]
async fn read(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<Json<Job>> {
    Ok(Json(jobs::get(&st, &actor, id).await?))
}

/// Deletes a finished job and its log (superuser); 409 while it is queued or running.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}/", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 204), (status = 403, body = ErrorDetail), (status = 404, body = ErrorDetail),
              (status = 409, body = ErrorDetail)))]
async fn remove(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
    Id(id): Id,
) -> Result<StatusCode> {
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
    UserAuth(actor): UserAuth,
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
                )
                .into());
            }
        }
    }
    if format != "txt" && format != "json" {
        return Err(Error::field(
            "format",
            format!("'{format}' is not a known format; use txt or json."),
        )
        .into());
    }
    let chunks = jobs::stdout(&st, &actor, id).await?;
    Ok(if format == "json" {
        // `{"content": "…"}` written as the log is read: the text's JSON string form, chunk
        // by chunk, between the object's opening and closing.
        let body = futures_util::stream::once(async { Ok(String::from("{\"content\":\"")) })
            .chain(chunks.map(|c| {
                c.map(|text| {
                    let quoted = serde_json::to_string(&text).unwrap_or_default();
                    quoted[1..quoted.len() - 1].to_string()
                })
            }))
            .chain(futures_util::stream::once(async {
                Ok(String::from("\"}"))
            }))
            .map(|c| c.map_err(std::io::Error::other));
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(body),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Body::from_stream(chunks.map(|c| c.map_err(std::io::Error::other))),
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
    UserAuth(actor): UserAuth,
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
async fn stats(
    State(st): State<AppState>,
    UserAuth(actor): UserAuth,
) -> Result<Json<Vec<StatsDay>>> {
    Ok(Json(jobs::stats(&st, &actor).await?))
}
