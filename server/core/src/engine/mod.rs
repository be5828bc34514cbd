//! The job engine: launching chains of jobs, running them on clients over OpenSSH with
//! real borg, their logs, cancel, recovery after a restart, and the scheduler.
//!
//! - `launch`: a launch makes, per enabled client, `[check] → backup → [catalog] → [prune]`,
//!   each `waiting` on the one before; the first is `pending`.
//! - `runner`: claims `pending` jobs (at most one running job per repository and per client,
//!   across every server process on the database) and finishes them: status, dependents.
//! - `exec`: what each job type does on the client; `remote`: one borg process over SSH, its
//!   pid, its output, cancel.
//! - `recovery`: at start-up, jobs this node left `running` are stopped and marked `error`;
//!   the same for the jobs of a dead node another node takes over.
//! - `cluster`: the nodes of one database (heartbeats, takeover of dead nodes, draining).
//! - `scheduler`: launches policies whose `next_run` has come, exactly once per run.
//! - `monitor`: evaluates the alert rules, wakes the notification sender, prunes old job logs.
//! - `shell` / `ssh`: quoting for the remote shell, the OpenSSH command.
//! - `download`: one borg's output streamed to an HTTP client (catalog downloads).
//! - `access`: how a job reaches its client and repository; `tunnel`: the repository served
//!   through the job's connection (pull mode, remote repositories); `host_keys`: pinned keys;
//!   `location`: the forms of a repository path.
//! - `retention`: which archives of a lineage a policy keeps (borg's rules, decided here).
//! - `vm`: the VM provider registry (Proxmox first); `sources`: what each policy type reads.
mod access;
pub mod borg;
pub mod cluster;
pub mod direct;
pub mod download;
mod exec;
pub mod hold;
pub mod host_keys;
pub mod launch;
pub mod location;
pub mod log;
pub mod monitor;
pub mod node;
pub mod plans;
mod recovery;
mod remote;
pub mod repo_options;
pub mod retention;
pub(crate) mod runner;
mod scheduler;
pub mod shell;
pub mod sources;
pub mod ssh;
pub mod tunnel;
pub mod vm;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

pub use access::Access;
pub use exec::is_ssh_failure;
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
    /// How this node takes part (capacity, labels, lease), once started.
    membership: OnceLock<cluster::Membership>,
    /// Set on SIGTERM: no more claims.
    draining: AtomicBool,
    /// Jobs end `successful` the moment they are claimed, running nothing (`end_jobs_at_once`).
    instant_jobs: AtomicBool,
    wake: Notify,
    /// Cancel switches of the jobs this process is running.
    running: Mutex<HashMap<i32, watch::Sender<bool>>>,
    /// Serialises claims (and launches) inside this process; the database lock does it across
    /// processes.
    claim: tokio::sync::Mutex<()>,
    /// The series this process counts for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Wakes the health monitor (a job ended) and the notification sender (an alert changed).
    pub monitor_wake: Arc<Notify>,
    pub notify_wake: Arc<Notify>,
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
            membership: OnceLock::new(),
            draining: AtomicBool::new(false),
            instant_jobs: AtomicBool::new(false),
            wake: Notify::new(),
            running: Mutex::default(),
            claim: tokio::sync::Mutex::new(()),
            metrics: Arc::default(),
            monitor_wake: Arc::default(),
            notify_wake: Arc::default(),
        }))
    }

    /// Takes this data directory's node identity, registers the node, recovers what a previous
    /// life of this node left running (unless another node took it over), then runs jobs, beats
    /// and (when `scheduler`) launches due policies until the process ends.
    pub async fn start(
        &self,
        scheduler: bool,
        config: &crate::config::NodeConfig,
    ) -> anyhow::Result<()> {
        let node = node::acquire(&self.data_dir)?;
        tracing::info!("job engine node {}", node.id);
        if self.node.set(node).is_err() {
            anyhow::bail!("the job engine is already running");
        }
        let me = cluster::Membership::from(config);
        let _ = self.membership.set(me.clone());
        if cluster::register(self, &me).await? {
            recovery::recover(self).await?;
        }
        tokio::spawn(runner::run(self.clone()));
        tokio::spawn(cluster::run(self.clone(), me));
        if scheduler {
            tokio::spawn(scheduler::run(self.clone()));
            // Alerts, notifications and housekeeping follow the scheduler: a process that
            // launches nothing on its own (CYBORG_SCHEDULER=false) does not evaluate rules either.
            tokio::spawn(monitor::run(self.clone()));
            tokio::spawn(crate::notify::run(
                self.db.clone(),
                self.secrets.clone(),
                self.notify_wake.clone(),
            ));
        }
        Ok(())
    }

    /// This process's node id, when it runs jobs.
    pub fn node_id(&self) -> Option<&str> {
        self.node.get().map(|n| n.id.as_str())
    }

    /// How this node takes part, once the engine runs.
    pub fn membership(&self) -> Option<&cluster::Membership> {
        self.membership.get()
    }

    /// After SIGTERM: no more claims; answers once the running jobs ended or the drain time
    /// passed (docs/OPERATIONS.md).
    pub async fn drain(&self) {
        if let Some(me) = self.membership.get() {
            cluster::drain(self, me).await;
        }
    }

    /// For benchmarks of the claiming and scheduling machinery alone
    /// (`benches/cluster_claims.rs`): from now on every claimed job ends `successful` at once
    /// without connecting anywhere. Nothing in the server calls it.
    #[doc(hidden)]
    pub fn end_jobs_at_once(&self) {
        self.instant_jobs.store(true, Ordering::SeqCst);
    }

    fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// How many jobs this process runs now.
    pub fn running_here(&self) -> usize {
        self.running.lock().expect("running map lock").len()
    }

    /// Stops every job this process runs (as a cancel would): another node took them over.
    fn stop_all_local(&self) {
        for tx in self.running.lock().expect("running map lock").values() {
            let _ = tx.send(true);
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
