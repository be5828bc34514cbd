//! The whole HTTP surface: the API, the Leptos pages and server functions, static files.
use std::net::{IpAddr, SocketAddr};

use app::session::ClientAddr;
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, FromRef, Request, State},
    http::{StatusCode, Uri, uri::PathAndQuery},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower::{Layer, util::MapRequestLayer};
use tower_http::{
    CompressionLevel,
    compression::{CompressionLayer, DefaultPredicate, Predicate},
    trace::TraceLayer,
};

use crate::{
    api::api_router,
    error::{ApiError, Error},
    state::AppState,
};

/// The router's state: the core's (every handler and server function) and the pages' options.
#[derive(Clone)]
pub struct Site {
    pub app: AppState,
    pub leptos: LeptosOptions,
}

impl FromRef<Site> for AppState {
    fn from_ref(site: &Site) -> Self {
        site.app.clone()
    }
}

impl FromRef<Site> for LeptosOptions {
    fn from_ref(site: &Site) -> Self {
        site.leptos.clone()
    }
}

pub fn app_router(site: Site) -> Router {
    let routes = generate_route_list(app::App);
    // The dashboard's server functions call the services with this state (app::dashboard::rpc).
    let app_state = site.app.clone();
    Router::new()
        .merge(api_router().with_state(site.app.clone()))
        .leptos_routes_with_context(&site, routes, move || provide_context(app_state.clone()), {
            let options = site.leptos.clone();
            move || app::shell(options.clone())
        })
        // Routed requests only: they have a route pattern to be counted under.
        .route_layer(middleware::from_fn_with_state(
            site.app.clone(),
            crate::metrics::record,
        ))
        .fallback(fallback)
        .method_not_allowed_fallback(|| async { ApiError(Error::MethodNotAllowed) })
        .layer(middleware::from_fn(crate::csrf::guard))
        .layer(middleware::from_fn(crate::security_headers::add))
        .layer(middleware::from_fn_with_state(
            site.app.clone(),
            client_addr,
        ))
        // The site's own files (WASM, JS, CSS: the same bytes every time, what every page load
        // waits for) at the best level, everything else at the default one (docs/PERFORMANCE.md).
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Best)
                .compress_when(DefaultPredicate::new().and(site_file as fn(_, _, &_, &_) -> bool)),
        )
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(site)
}

/// A file of the built site: WebAssembly, JavaScript or CSS.
fn site_file(
    _: StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("application/wasm")
                || t.starts_with("text/javascript")
                || t.starts_with("application/javascript")
                || t.starts_with("text/css")
        })
}

/// Records where the request came from (`app::session::ClientAddr`): the peer, or the address a
/// trusted proxy appended to `X-Forwarded-For`.
async fn client_addr(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let addr = match peer {
        Some(p) if st.trusted_proxies.contains(&p) => req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back()
            .unwrap_or(p),
        Some(p) => p,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    };
    req.extensions_mut().insert(ClientAddr(addr));
    next.run(req).await
}

/// Unknown API paths answer JSON; everything else is a static file or the app's 404 page.
async fn fallback(uri: Uri, State(site): State<Site>, req: Request<Body>) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        return ApiError(Error::not_found()).into_response();
    }
    leptos_axum::file_and_error_handler(app::shell)(uri, State(site), req).await
}

/// Every API route answers with and without the trailing slash, without a redirect.
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

/// Serves until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    site: Site,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = MapRequestLayer::new(normalize_path).layer(app_router(site));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
    )
    .with_graceful_shutdown(stop)
    .await?;
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
