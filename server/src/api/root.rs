//! `/api/v1/` itself: the index of sub-APIs, ping, config and me.
use std::collections::BTreeMap;

use app::dto::{ApiConfig, ErrorDetail, Page, Ping, User};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::auth::UserAuth;

use crate::{error::Result, services::users, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(ping))
        .routes(routes!(config))
        .routes(routes!(me))
}

/// The sub-APIs by name.
#[utoipa::path(get, path = "/api/v1/", tag = "root", responses((status = 200, body = BTreeMap<String, String>)))]
async fn index() -> Json<BTreeMap<&'static str, &'static str>> {
    Json(BTreeMap::from([
        ("ping", "/api/v1/ping/"),
        ("config", "/api/v1/config/"),
        ("me", "/api/v1/me/"),
        ("users", "/api/v1/users/"),
        ("clients", "/api/v1/clients/"),
        ("schedules", "/api/v1/schedules/"),
        ("repositories", "/api/v1/repositories/"),
        ("policies", "/api/v1/policies/"),
        ("catalogs", "/api/v1/catalogs/"),
        ("calendar", "/api/v1/calendar/"),
        ("jobs", "/api/v1/jobs/"),
        ("restore", "/api/v1/restore/"),
        ("stats", "/api/v1/stats/"),
        ("health", "/api/v1/health/"),
        ("alerts", "/api/v1/alerts/"),
        ("notifications", "/api/v1/notifications/"),
        ("tokens", "/api/v1/me/tokens/"),
        ("settings", "/api/v1/settings/"),
        ("openapi", "/api/v1/openapi.json"),
    ]))
}

/// Answers without authentication: is the API up, and which version.
#[utoipa::path(get, path = "/api/v1/ping/", tag = "root", responses((status = 200, body = Ping)))]
async fn ping() -> Json<Ping> {
    Json(Ping {
        version: app::VERSION.into(),
        ping: "pong".into(),
    })
}

#[utoipa::path(get, path = "/api/v1/config/", tag = "root",
    responses((status = 200, body = ApiConfig), (status = 401, body = ErrorDetail)))]
async fn config(_: UserAuth) -> Json<ApiConfig> {
    Json(ApiConfig {
        version: app::VERSION.into(),
        debug: cfg!(debug_assertions),
        // The server answers on whatever name reaches it; there is no host allow-list.
        allowed_hosts: vec!["*".into()],
        time_zone: "UTC".into(),
    })
}

/// The caller, as a one-element list.
#[utoipa::path(get, path = "/api/v1/me/", tag = "root",
    responses((status = 200, body = Page<User>), (status = 401, body = ErrorDetail)))]
async fn me(State(st): State<AppState>, UserAuth(actor): UserAuth) -> Result<Json<Page<User>>> {
    Ok(Json(users::me(&st, &actor).await?))
}
