//! `GET /metrics` (Prometheus' text format, rendered by `cyborg_core::metrics`) and the
//! middleware that counts HTTP requests by route pattern.
use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{api::auth::UserAuth, error::ApiError, state::AppState};

/// Counts a routed request (API and pages) under its route pattern, with its latency.
pub async fn record(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    st.engine.metrics.http_request(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

/// Behind the metrics token (`CYBORG_METRICS_TOKEN`) or any user's credentials.
pub async fn metrics(
    State(st): State<AppState>,
    headers: HeaderMap,
    auth: Result<UserAuth, ApiError>,
) -> Response {
    let by_token = st.metrics_token.as_deref().is_some_and(|expected| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), expected.as_bytes()))
    });
    if !by_token && let Err(refused) = auth {
        return refused.into_response();
    }
    open_metrics(State(st)).await
}

/// Without authentication: served on `CYBORG_METRICS_ADDR` only.
pub async fn open_metrics(State(st): State<AppState>) -> Response {
    match st.engine.metrics.render(&st.db).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("rendering /metrics: {e:#}");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
