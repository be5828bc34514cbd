//! Configuration: each setting is an environment variable and a command-line flag.
use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cyborgbackup",
    version,
    about = "Self-hosted BorgBackup manager"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard and the API (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Create a user, reading the password from standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        superuser: bool,
    },
    /// Rebuild the data directory and the (empty) database from a self-backup archive; borg
    /// reads BORG_PASSPHRASE (and BORG_RSH for a remote repository) from the environment.
    RestoreServer {
        /// The borg repository holding the self-backups (a folder or ssh://…).
        #[arg(long)]
        repository: String,
        /// The archive (default: the newest `cyborgbackup-server-*`).
        #[arg(long)]
        archive: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://…` or `postgres://…`; default a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The same, read from a file (its first line), for a URL holding a password.
    #[arg(long, env = "DATABASE_URL_FILE", conflicts_with = "database_url")]
    pub database_url_file: Option<PathBuf>,
    /// Holds the SQLite file, the server's SSH key pair, known_hosts and the secret key.
    #[arg(long, env = "CYBORG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,
    /// Where cargo-leptos put the site (WASM, CSS, assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Email of the superuser created when no user exists.
    #[arg(long, env = "CYBORG_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that superuser; when unset a random one is written once to
    /// `<data dir>/initial-admin-password` (owner-only).
    #[arg(long, env = "CYBORG_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// The same, read from a file (its first line): a password on a command line shows in `ps`.
    #[arg(
        long,
        env = "CYBORG_ADMIN_PASSWORD_FILE",
        conflicts_with = "admin_password"
    )]
    pub admin_password_file: Option<PathBuf>,
    /// Signs tokens and encrypts secrets at rest; generated once into the data directory when unset.
    #[arg(long, env = "CYBORG_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// The same, read from a file (its first line).
    #[arg(long, env = "CYBORG_SECRET_KEY_FILE", conflicts_with = "secret_key")]
    pub secret_key_file: Option<PathBuf>,
    /// Run jobs in this process (`false`: serve the API and dashboard only; jobs launched here
    /// then wait for a process that runs them).
    #[arg(long, env = "CYBORG_ENGINE", default_value_t = true, action = clap::ArgAction::Set)]
    pub engine: bool,
    /// Launch policies when their schedule comes (with `engine`).
    #[arg(long, env = "CYBORG_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub scheduler: bool,
    /// Memory for the in-memory index of catalog paths that makes path searches fast, in MiB
    /// (about the total length of the distinct paths plus 12 bytes a path); 0 turns it off.
    /// A catalog whose paths do not fit is searched by a scan in the database.
    #[arg(long, env = "CYBORG_CATALOG_INDEX_MB", default_value_t = 1024)]
    pub catalog_index_mb: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated addresses): failed
    /// logins are throttled per client address, which behind a proxy is the one it forwards.
    #[arg(long, env = "CYBORG_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A bearer token that may read `/metrics` (for Prometheus' `authorization` setting); any
    /// user's credentials (an API token too) may read it as well.
    #[arg(long, env = "CYBORG_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The same, read from a file (its first line).
    #[arg(
        long,
        env = "CYBORG_METRICS_TOKEN_FILE",
        conflicts_with = "metrics_token"
    )]
    pub metrics_token_file: Option<PathBuf>,
    /// A second listen address that serves only `/metrics`, without authentication (bind it
    /// where only Prometheus can reach it, such as 127.0.0.1:9464).
    #[arg(long, env = "CYBORG_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Tracing filter.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// This process as a node among several on one database (docs/OPERATIONS.md).
    #[command(flatten)]
    pub node: NodeConfig,
}

/// How this process takes part in running jobs beside other nodes on the same database.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeConfig {
    /// Jobs this node runs at once (default: twice its cores).
    #[arg(long, env = "CYBORG_MAX_JOBS")]
    pub max_jobs: Option<usize>,
    /// This node's labels (comma-separated): a repository with `node_labels` has its jobs run
    /// only by nodes with one of them (a pull-mode repository's folder is on those nodes).
    #[arg(long, env = "CYBORG_NODE_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// A node whose heartbeat is older than this is dead and another node takes over its jobs.
    #[arg(long, env = "CYBORG_NODE_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u64,
    /// How often this node writes its heartbeat and looks for dead nodes.
    #[arg(long, env = "CYBORG_NODE_HEARTBEAT_SECONDS", default_value_t = 5)]
    pub heartbeat_seconds: u64,
    /// On SIGTERM, how long the running jobs may take to end before the process exits anyway
    /// (the jobs left are then taken over as for a dead node).
    #[arg(long, env = "CYBORG_DRAIN_SECONDS", default_value_t = 600)]
    pub drain_seconds: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_jobs: None,
            labels: Vec::new(),
            lease_seconds: 30,
            heartbeat_seconds: 5,
            drain_seconds: 600,
        }
    }
}

impl NodeConfig {
    /// `max_jobs`, or twice the cores; at least one.
    pub fn capacity(&self) -> usize {
        self.max_jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() * 2))
            .max(1)
    }

    /// The labels, trimmed, without empty ones.
    pub fn labels(&self) -> Vec<String> {
        self.labels
            .iter()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Config {
    pub fn database_url(&self) -> anyhow::Result<String> {
        Ok(match secret(&self.database_url, &self.database_url_file)? {
            Some(url) => url,
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("cyborgbackup.db").display()
            ),
        })
    }

    pub fn admin_password(&self) -> anyhow::Result<Option<String>> {
        secret(&self.admin_password, &self.admin_password_file)
    }

    pub fn metrics_token(&self) -> anyhow::Result<Option<String>> {
        Ok(secret(&self.metrics_token, &self.metrics_token_file)?.filter(|t| !t.is_empty()))
    }

    pub fn secret_key(&self) -> anyhow::Result<Option<String>> {
        secret(&self.secret_key, &self.secret_key_file)
    }
}

/// A setting given as a value or as a file holding it (its first line, without the newline).
fn secret(value: &Option<String>, file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    use anyhow::Context;
    match (value, file) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(
                text.lines()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('\r')
                    .to_string(),
            ))
        }
        (None, None) => Ok(None),
    }
}
