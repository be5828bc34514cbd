//! The CyBorgBackup server: the HTTP front of `cyborg_core` — the REST API, the Leptos pages and
//! server functions (`app`), the web surface's guards — put together by `start`, and the binary.
pub mod api;
pub mod csrf;
pub mod error;
pub mod metrics;
pub mod router;
pub mod security_headers;

// The core's modules the HTTP layer calls, under the names it uses for them.
pub(crate) use cyborg_core::{services, state};

use std::net::SocketAddr;

use anyhow::Context;
use cyborg_core::config::Config;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

/// Where the pages' files are and how the WASM is named (cargo-leptos' build).
pub fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("cyborgbackup")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Binds the configured address (or the one given) and serves until stopped.
pub async fn start(config: Config, listener: Option<TcpListener>) -> anyhow::Result<()> {
    let state = cyborg_core::prepare(&config).await?;
    // Path searches are fast from the first one on, instead of after a first slow one.
    state.catalog_index.warm_up(state.db.clone());
    if config.engine {
        state
            .engine
            .start(config.scheduler, &config.node)
            .await
            .context("starting the job engine")?;
        if config.scheduler {
            tokio::spawn(cyborg_core::self_backup::schedule(state.clone()));
        }
    }
    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.site_addr)
            .await
            .with_context(|| format!("listening on {}", config.site_addr))?,
    };
    tracing::info!(
        "CyBorgBackup {} listening on http://{}",
        app::VERSION,
        listener.local_addr()?
    );
    if let Some(addr) = config.metrics_addr {
        let metrics = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr} for /metrics"))?;
        tracing::info!("/metrics also on http://{addr}/metrics, without authentication");
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics::open_metrics))
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, app).await {
                tracing::error!("the /metrics listener stopped: {e}");
            }
        });
    }
    let leptos = leptos_options(&config, config.site_addr);
    let engine = state.engine.clone();
    // On SIGTERM the engine drains first (no more claims; the running jobs end) while the API
    // still answers, then the HTTP server stops.
    let stop = async move {
        router::shutdown_signal().await;
        engine.drain().await;
    };
    router::serve(listener, router::Site { app: state, leptos }, stop).await
}
