//! `/api/v1/nodes/`: the server processes running jobs on this database (read-only).
use app::dto::{ErrorDetail, Node, Page};
use axum::{Json, extract::State};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::auth::UserAuth, error::Result, services::nodes, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Every node, live ones first: heartbeat and its age (database clock), capacity, labels,
/// state (`alive`, `draining`, `stopped`, `dead`), running jobs, and who took a dead one over.
#[utoipa::path(get, path = "/api/v1/nodes/", tag = "nodes",
    responses((status = 200, body = Page<Node>), (status = 401, body = ErrorDetail)))]
async fn list(State(st): State<AppState>, UserAuth(actor): UserAuth) -> Result<Json<Page<Node>>> {
    Ok(Json(nodes::list(&st, &actor).await?))
}
