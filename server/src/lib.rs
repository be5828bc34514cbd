//! The CyBorgBackup server: configuration, storage, the service layer, the REST API and the
//! Leptos dashboard, put together by `start`.
pub mod api;
pub mod catalog;
pub mod config;
pub mod crontab;
pub mod csrf;
pub mod dashboard;
pub mod data_dir;
pub mod db;
pub mod engine;
pub mod entities;
pub mod error;
pub mod router;
pub mod secrets;
pub mod security_headers;
pub mod services;
pub mod ssh_keys;
pub mod state;

use std::net::SocketAddr;

use anyhow::Context;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

use crate::{config::Config, secrets::Secrets, state::AppState};

/// Everything `serve` needs, made ready: data directory, database (migrated), secret key, and the
/// first superuser when there is no user yet.
pub async fn prepare(config: &Config) -> anyhow::Result<AppState> {
    let db = data_dir::open_database(config).await?;
    let secrets = Secrets::load(config.secret_key()?.as_deref(), &config.data_dir)?;
    ssh_keys::ensure_key_pair(&config.data_dir).context("preparing the server's SSH key pair")?;
    engine::host_keys::pin_legacy_keys(&db, &config.data_dir)
        .await
        .context("pinning the host keys trusted before")?;
    match services::auth::ensure_first_superuser(
        &db,
        config.admin_email.as_deref(),
        config.admin_password()?.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the first superuser: {e}"))?
    {
        Some((email, Some(password))) => {
            // Never in the log (logs are kept, shipped and read by others): in a file only
            // this server's user can read.
            let file = data_dir::write_initial_password(&config.data_dir, &password)?;
            tracing::warn!(
                "created the superuser {email}; its password is in {} (readable by this \
                 server's user only): log in, change it, then delete the file",
                file.display()
            )
        }
        Some((email, None)) => tracing::info!("created the superuser {email}"),
        None => {}
    }
    let leptos = leptos_options(config, config.site_addr);
    let mut state = AppState::new(
        db,
        secrets,
        leptos,
        config.data_dir.clone(),
        config.catalog_index_mb << 20,
    );
    state.trusted_proxies = std::sync::Arc::new(config.trusted_proxies.clone());
    Ok(state)
}

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
    let state = prepare(&config).await?;
    // Path searches are fast from the first one on, instead of after a first slow one.
    state.catalog_index.warm_up(state.db.clone());
    if config.engine {
        state
            .engine
            .start(config.scheduler)
            .await
            .context("starting the job engine")?;
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
    router::serve(listener, state).await
}
