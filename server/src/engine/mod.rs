//! The job engine (SPEC §7): launching chains of jobs, running them on clients over OpenSSH with
//! real borg, their logs, cancel, recovery after a restart, and the scheduler.
//!
//! - `launch`: a launch makes, per enabled client, `[check] → backup → [catalog] → [prune]`,
//!   each `waiting` on the one before; the first is `pending`.
//! - `runner`: claims `pending` jobs (at most one running job per repository and per client,
//!   across every server process on the database) and finishes them: status, dependents.
//! - `exec`: what each job type does on the client; `remote`: one borg process over SSH, its
//!   pid, its output, cancel.
//! - `recovery`: at start-up, jobs this node left `running` are stopped and marked `error`.
//! - `scheduler`: launches policies whose `next_run` has come, exactly once per run.
//! - `shell` / `ssh`: quoting for the remote shell, the OpenSSH command.
//! - `download`: one borg's output streamed to an HTTP client (catalog downloads).
//! - `pull`: pull mode, the repository served from this server through a forwarded socket.
//! - `vm`: the VM provider registry (Proxmox first); `sources`: what each policy type reads.
mod agent;
pub mod borg;
pub mod download;
mod exec;
pub mod launch;
pub mod log;
pub mod node;
pub mod pull;
mod recovery;
mod remote;
mod runner;
mod scheduler;
pub mod shell;
pub mod sources;
pub mod ssh;
pub mod vm;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

pub use log::{Hub, JobUpdate};

use crate::{catalog::search_index::SearchIndex, secrets::Secrets};

/// How often the runner looks for work it was not woken for (jobs launched by another process,
/// cancel requests made there), and the scheduler for due policies.
pub const POLL: Duration = Duration::from_secs(2);

/// The engine shared by the API and the background tasks. Cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

pub struct Inner {
    pub db: DatabaseConnection,
    pub secrets: Secrets,
    pub data_dir: PathBuf,
    pub hub: Hub,
    /// The path search index, rebuilt after a catalog job adds paths.
    pub catalog_index: Arc<SearchIndex>,
    /// Set once the engine runs jobs in this process (see [`Engine::start`]).
    node: OnceLock<node::Node>,
    /// The server's ssh-agent, forwarded to clients for remote repositories; started on first
    /// need (`None` inside: it could not be started).
    agent: tokio::sync::OnceCell<Option<agent::Agent>>,
    wake: Notify,
    /// Cancel switches of the jobs this process is running.
    running: Mutex<HashMap<i32, watch::Sender<bool>>>,
    /// Serialises claims (and launches) inside this process; the database lock does it across
    /// processes.
    claim: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for Engine {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        secrets: Secrets,
        data_dir: PathBuf,
        catalog_index: Arc<SearchIndex>,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            secrets,
            data_dir,
            hub: Hub::default(),
            catalog_index,
            node: OnceLock::new(),
            agent: tokio::sync::OnceCell::new(),
            wake: Notify::new(),
            running: Mutex::default(),
            claim: tokio::sync::Mutex::new(()),
        }))
    }

    /// Takes this data directory's node identity, recovers what a previous life of this node
    /// left running, then runs jobs and (when `scheduler`) launches due policies until the
    /// process ends.
    pub async fn start(&self, scheduler: bool) -> anyhow::Result<()> {
        let node = node::acquire(&self.data_dir)?;
        tracing::info!("job engine node {}", node.id);
        if self.node.set(node).is_err() {
            anyhow::bail!("the job engine is already running");
        }
        recovery::recover(self).await?;
        tokio::spawn(runner::run(self.clone()));
        if scheduler {
            tokio::spawn(scheduler::run(self.clone()));
        }
        Ok(())
    }

    /// This process's node id, when it runs jobs.
    pub fn node_id(&self) -> Option<&str> {
        self.node.get().map(|n| n.id.as_str())
    }

    /// The agent socket to forward for a repository at `path`: only a remote repository (on
    /// another host, reached by the client over SSH) needs the server's key on the client.
    pub async fn agent_for(&self, path: &str) -> Option<PathBuf> {
        if path.starts_with('/') {
            return None;
        }
        self.agent
            .get_or_init(|| async {
                agent::start(&self.data_dir)
                    .await
                    // The job then fails with SSH's own reason (permission denied).
                    .inspect_err(|e| tracing::warn!("no ssh-agent to forward to clients: {e:#}"))
                    .ok()
            })
            .await
            .as_ref()
            .map(|a| a.socket.clone())
    }

    /// How to reach `client` for a borg on the repository at `repository_path` (with the agent
    /// when that repository is remote).
    pub async fn target(
        &self,
        client: &crate::entities::client::Model,
        repository_path: &str,
    ) -> ssh::SshTarget {
        ssh::SshTarget {
            agent: self.agent_for(repository_path).await,
            ..self.direct_target(client)
        }
    }

    /// How to reach `client` for a command that needs no repository (never an agent).
    pub fn direct_target(&self, client: &crate::entities::client::Model) -> ssh::SshTarget {
        ssh::SshTarget {
            hostname: client.hostname.clone(),
            port: u16::try_from(client.port).unwrap_or(22),
            username: client.username.clone(),
            data_dir: self.data_dir.clone(),
            agent: None,
            reverse: None,
        }
    }

    /// Asks the runner to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Cancels a job: a queued one at once, a running one by stopping its processes (here, or
    /// through the database flag in the process that runs it). Answers the job after the change.
    pub async fn cancel(&self, job_id: i32) -> crate::error::Result<crate::entities::job::Model> {
        runner::cancel(self, job_id).await
    }
}
