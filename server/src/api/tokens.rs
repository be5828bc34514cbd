//! Token endpoints (`/api/token/…`) and the dashboard session (`/api/session/`).
use app::dto::{ErrorDetail, FieldErrors, TokenObtain, TokenPair, TokenRefresh, User};
use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, StatusCode, header::SET_COOKIE, request::Parts},
    response::IntoResponse,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use app::session::{ClientAddr, over_tls, session_cookie as cookie};

use crate::{
    api::{auth::session_cookie, extract::ApiJson},
    error::Result,
    services::{Actor, auth, users},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(obtain))
        .routes(routes!(refresh))
        .routes(routes!(login, logout))
}

/// Exchanges email and password for an access token (15 minutes) and a refresh token (7 days).
#[utoipa::path(post, path = "/api/token/obtain/", tag = "auth", request_body = TokenObtain,
    responses((status = 200, body = TokenPair), (status = 400, body = FieldErrors), (status = 401, body = ErrorDetail)))]
async fn obtain(
    State(st): State<AppState>,
    Extension(from): Extension<ClientAddr>,
    ApiJson(body): ApiJson<TokenObtain>,
) -> Result<Json<TokenPair>> {
    Ok(Json(
        auth::obtain(&st, &body.email, &body.password, from.0).await?,
    ))
}

/// Exchanges a refresh token for a new pair; each refresh token works once.
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth", request_body = TokenRefresh,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorDetail)))]
async fn refresh(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<TokenRefresh>,
) -> Result<Json<TokenPair>> {
    Ok(Json(auth::refresh(&st, &body.refresh).await?))
}

/// Logs in for the dashboard: sets the HttpOnly session cookie and answers the user.
#[utoipa::path(post, path = "/api/session/", tag = "auth", request_body = TokenObtain,
    responses((status = 200, body = User), (status = 401, body = ErrorDetail)))]
async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    Extension(from): Extension<ClientAddr>,
    ApiJson(body): ApiJson<TokenObtain>,
) -> Result<impl IntoResponse> {
    let (token, user) = auth::login(&st, &body.email, &body.password, from.0).await?;
    let actor = Actor::new(user);
    let me = users::get(&st, &actor, actor.id()).await?;
    let max_age = auth::SESSION_TTL.num_seconds();
    Ok((
        [(SET_COOKIE, cookie(&token, max_age, over_tls(&headers)))],
        Json(me),
    ))
}

/// Ends the dashboard session and clears its cookie.
#[utoipa::path(delete, path = "/api/session/", tag = "auth", responses((status = 204)))]
async fn logout(State(st): State<AppState>, parts: Parts) -> Result<impl IntoResponse> {
    if let Some(token) = session_cookie(&parts) {
        auth::logout(&st, &token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, cookie("", 0, over_tls(&parts.headers)))],
    ))
}
