//! The core of CyBorgBackup: everything that is not HTTP. Storage (entities, database, data
//! directory), the service layer (every read and write, with its permission and validation
//! rules), the job engine (borg over SSH, scheduler, runner), the catalog, crontab and secrets.
//! The server's REST API and the dashboard's server functions are two front doors onto
//! `services`; docs/ARCHITECTURE.md draws the layers.
pub mod catalog;
pub mod config;
pub mod crontab;
pub mod data_dir;
pub mod db;
pub mod engine;
pub mod entities;
pub mod error;
pub mod identity;
pub mod metrics;
pub mod notify;
pub mod secrets;
pub mod self_backup;
pub mod services;
pub mod settings;
pub mod ssh_keys;
pub mod stamps;
pub mod state;
pub mod validate;

use anyhow::Context;

use crate::{config::Config, secrets::Secrets, state::AppState};

/// Everything a server needs, made ready: data directory, database (migrated), secret key, SSH
/// key pair, pinned host keys, and the first superuser when there is no user yet.
pub async fn prepare(config: &Config) -> anyhow::Result<AppState> {
    let db = data_dir::open_database(config).await?;
    let secrets = Secrets::load(config.secret_key()?.as_deref(), &config.data_dir)?;
    identity::establish(&db, &secrets, &config.data_dir)
        .await
        .context("checking this node against the database's identity")?;
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
    let mut state = AppState::new(
        db,
        secrets,
        config.data_dir.clone(),
        config.catalog_index_mb << 20,
    );
    state.trusted_proxies = std::sync::Arc::new(config.trusted_proxies.clone());
    state.metrics_token = config.metrics_token()?.map(std::sync::Arc::new);
    state.self_backup = Some(std::sync::Arc::new(self_backup::Source::of(config)?));
    Ok(state)
}
