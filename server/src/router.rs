//! The whole HTTP surface: the API, the Leptos pages and server functions, static files.
use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Uri, uri::PathAndQuery},
    response::{IntoResponse, Response},
};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower::{Layer, util::MapRequestLayer};
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

use crate::{api::api_router, error::Error, state::AppState};

pub fn app_router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let leptos_state = state.clone();
    // The dashboard's server functions reach the service layer through this (see app::backend).
    let backend = crate::dashboard::backend(state.clone());
    Router::new()
        .merge(api_router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(Arc::new(leptos_state.clone()));
                provide_context(backend.clone());
            },
            {
                let options = state.leptos.clone();
                move || app::shell(options.clone())
            },
        )
        .fallback(fallback)
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Unknown API paths answer JSON; everything else is a static file or the app's 404 page.
async fn fallback(uri: Uri, State(st): State<AppState>, req: Request<Body>) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        return Error::not_found().into_response();
    }
    leptos_axum::file_and_error_handler(app::shell)(uri, State(st), req).await
}

/// SPEC §4: every API route answers with and without the trailing slash, without a redirect.
/// Routes are declared with the slash; a request without one is given it before routing
/// (files such as `openapi.json` keep their name).
pub fn normalize_path(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or("");
    if path.starts_with("/api") && !path.ends_with('/') && !last.contains('.') {
        let pq = match uri.query() {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        if let Ok(pq) = pq.parse::<PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(new) = Uri::from_parts(parts) {
                *req.uri_mut() = new;
            }
        }
    }
    req
}

/// Serves until the process is told to stop.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let app = MapRequestLayer::new(normalize_path).layer(app_router(state));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(uri: &str) -> String {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn api_paths_get_their_slash() {
        assert_eq!(norm("/api/v1/ping"), "/api/v1/ping/");
        assert_eq!(norm("/api/v1/ping/"), "/api/v1/ping/");
        assert_eq!(norm("/api/v1/clients?page=2"), "/api/v1/clients/?page=2");
        assert_eq!(norm("/api/v1/openapi.json"), "/api/v1/openapi.json");
        assert_eq!(norm("/pkg/app.wasm"), "/pkg/app.wasm");
        assert_eq!(norm("/"), "/");
    }
}
