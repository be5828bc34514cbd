//! What every service call, handler and server function can reach.
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};

use sea_orm::DatabaseConnection;

use crate::{
    catalog::search_index::SearchIndex,
    engine::Engine,
    secrets::Secrets,
    services::{job_stream::StreamSlots, login_guard::LoginGuard},
};

/// Verified Basic credentials by digest: (user id, password stamp, when verified).
pub type BasicCache = Mutex<HashMap<String, (i32, String, Instant)>>;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub secrets: Secrets,
    pub basic_cache: Arc<BasicCache>,
    /// `CYBORG_DATA_DIR`: the SQLite file, the secret key, the SSH key pair (`ssh/`).
    pub data_dir: PathBuf,
    /// Launches, cancels and runs jobs; the hub of live job updates.
    pub engine: Engine,
    /// The in-memory index of the catalog's paths for path searches.
    pub catalog_index: Arc<SearchIndex>,
    /// Failed-login throttling and the argon2 slots.
    pub logins: Arc<LoginGuard>,
    /// Proxies whose `X-Forwarded-For` names the client (`CYBORG_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Each user's open live streams.
    pub streams: Arc<StreamSlots>,
    /// `CYBORG_METRICS_TOKEN`: a bearer token that may read `/metrics`.
    pub metrics_token: Option<Arc<String>>,
    /// What the server's own backup reads besides the database (see `self_backup`).
    pub self_backup: Option<Arc<crate::self_backup::Source>>,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        secrets: Secrets,
        data_dir: PathBuf,
        catalog_index_bytes: usize,
    ) -> Self {
        let catalog_index = SearchIndex::new(catalog_index_bytes);
        let engine = Engine::new(
            db.clone(),
            secrets.clone(),
            data_dir.clone(),
            catalog_index.clone(),
        );
        Self {
            db,
            secrets,
            basic_cache: Arc::default(),
            data_dir,
            engine,
            catalog_index,
            logins: Arc::default(),
            trusted_proxies: Arc::default(),
            streams: Arc::default(),
            metrics_token: None,
            self_backup: None,
        }
    }
}
