//! The JSON REST API under `/api/v1` (and the token endpoints under `/api`): one router per
//! resource, merged here; the OpenAPI document is collected from the handlers themselves.
mod api_tokens;
mod archives;
pub(crate) mod auth;
mod calendar;
mod catalogs;
mod clients;
pub mod crud;
pub mod extract;
mod health;
mod jobs;
mod nodes;
mod notifications;
mod policies;
mod repositories;
mod restore;
mod root;
mod schedules;
mod settings;
mod tokens;
mod users;

use axum::{Json, Router, extract::State, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::api::auth::UserAuth;

use crate::{error::Result, state::AppState};

pub use auth::SESSION_COOKIE;

#[derive(OpenApi)]
#[openapi(
    info(title = "CyBorgBackup API", description = "Self-hosted BorgBackup manager."),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = []))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every API route, and the OpenAPI document that describes them.
pub fn api_router() -> Router<AppState> {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(root::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(clients::router())
        .merge(clients::actions::router())
        .merge(schedules::router())
        .merge(schedules::actions::router())
        .merge(repositories::router())
        .merge(repositories::actions::router())
        .merge(policies::router())
        .merge(policies::actions::router())
        .merge(calendar::router())
        .merge(catalogs::router())
        .merge(archives::router())
        .merge(jobs::router())
        .merge(restore::router())
        .merge(settings::router())
        .merge(api_tokens::router())
        .merge(health::router())
        .merge(nodes::router())
        .merge(notifications::router())
        .merge(notifications::actions::router())
        .split_for_parts();
    doc.info.version = app::VERSION.into();
    let doc = serde_json::to_value(&doc).expect("the OpenAPI document serializes");
    router
        .route(
            "/api/v1/openapi.json",
            get(move |st, actor| openapi(st, actor, doc.clone())),
        )
        .route("/metrics", get(crate::metrics::metrics))
}

async fn openapi(
    State(_): State<AppState>,
    _: UserAuth,
    doc: serde_json::Value,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(doc))
}
