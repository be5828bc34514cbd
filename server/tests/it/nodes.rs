//! Several server processes (nodes) on one database: one identity, jobs each run once by one
//! node with at most one borg per repository across the cluster, a node killed in the middle of
//! a backup taken over within the lease, and a rolling restart that loses no job. Real server
//! processes, real sshd clients and real borg; the cluster tests need PostgreSQL (SQLite has one
//! node, which the identity test and the rest of the suite cover).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::common::{
    TestServer, backend,
    borg::{
        Borg, PASSPHRASE, job, launch, server_key, sparse_file, stdout, wait_chain, wait_remote_pid,
    },
    sshd::{self, TestSshd},
};
use cyborg_core::entities::job as job_row;
use cyborg_dto::{JobStatus, JobType};

const CHAIN: Duration = Duration::from_secs(600);
/// The lease of the takeover test: short, so the test is too; the heartbeat fits three times.
const LEASE: &str = "6";

/// Several nodes need PostgreSQL; on SQLite (one node, which the identity test and the rest of
/// the suite cover) the cluster tests say they did not run.
fn cluster_backend() -> bool {
    let pg = backend() == "postgres";
    if !pg {
        eprintln!("not run on {}: several nodes need PostgreSQL", backend());
    }
    pg
}

fn need_sshd() {
    if let Some(why) = sshd::unavailable() {
        panic!("this test needs a real sshd: {why}");
    }
}

/// The nodes as the API lists them, by id.
async fn nodes(s: &TestServer) -> BTreeMap<String, Value> {
    let (st, page) = s.get("/api/v1/nodes/").await;
    assert_eq!(st.as_u16(), 200, "{page}");
    assert_eq!(
        page["count"].as_u64().unwrap() as usize,
        page["results"].as_array().unwrap().len()
    );
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_one_identity_and_another_secret_key_is_refused() {
    let a = TestServer::spawn_node(None, &[("CYBORG_MAX_JOBS", "3")]).await;
    let listed = nodes(&a).await;
    let me = &listed[&a.node_id()];
    assert_eq!(me["state"], "alive", "{me}");
    assert_eq!(me["capacity"], 3, "{me}");
    assert!(me["heartbeat_age"].as_f64().unwrap() < 10.0, "{me}");
    assert_eq!(me["running"], 0);

    if backend() == "postgres" {
        // A second node presents the same key to clients, whatever its data directory had.
        let b = TestServer::spawn_node(Some(&a), &[("CYBORG_NODE_LABELS", "pull-a, eu")]).await;
        assert_eq!(server_key(&a).await, server_key(&b).await);
        let key = |s: &TestServer| std::fs::read(s.data_dir.join("ssh/id_ed25519")).unwrap();
        assert_eq!(key(&a), key(&b));
        let listed = nodes(&b).await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[&b.node_id()]["labels"], json!(["pull-a", "eu"]));
        assert!(listed.values().all(|n| n["state"] == "alive"));
    }

    // The shared private key is stored encrypted, and no answer carries it.
    let db = a.db().await;
    let row = cyborg_core::entities::server_identity::Entity::find_by_id(1)
        .one(&db)
        .await
        .unwrap()
        .expect("the identity row");
    assert!(
        row.ssh_private_key.starts_with("enc:v1:"),
        "stored in clear"
    );
    assert!(!row.ssh_private_key.contains("PRIVATE KEY"));
    assert!(!row.secret_check.contains("secret key check"));
    for path in [
        "/api/v1/nodes/",
        "/api/v1/settings/ssh_public_key/",
        "/api/v1/settings/",
    ] {
        let (_, body) = a.get(path).await;
        assert!(!body.to_string().contains("PRIVATE KEY"), "{path}: {body}");
    }

    // Another secret key could not decrypt a single stored passphrase: refused at start.
    let said = a.start_refused(&[("CYBORG_SECRET_KEY", "another-secret-key")]);
    assert!(
        said.contains("secret key is not the one this database was set up with"),
        "{said}"
    );
    assert_eq!(
        nodes(&a).await.len(),
        if backend() == "postgres" { 2 } else { 1 }
    );
}

/// The jobs rows (the node, start and end of each), oldest first.
async fn job_rows(s: &TestServer) -> Vec<job_row::Model> {
    job_row::Entity::find()
        .order_by_asc(job_row::Column::Id)
        .all(&s.db().await)
        .await
        .unwrap()
}

/// One run: started, finished, job id, node.
type Run<'a> = (DateTime<Utc>, DateTime<Utc>, i32, &'a str);

/// Fails when two jobs sharing a key (a repository, a client) ran at the same time.
fn assert_one_at_a_time(
    jobs: &[job_row::Model],
    what: &str,
    key: impl Fn(&job_row::Model) -> Option<i32>,
) {
    let mut by: BTreeMap<i32, Vec<Run>> = BTreeMap::new();
    for j in jobs {
        if let (Some(k), Some(s), Some(f)) = (key(j), j.started, j.finished) {
            by.entry(k).or_default().push((s, f, j.id, &j.runner_node));
        }
    }
    for (k, mut runs) in by {
        runs.sort();
        for w in runs.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "{what} {k}: job {} (node {}) started at {} before job {} (node {}) ended at {}",
                w[1].2,
                w[1].3,
                w[1].0,
                w[0].2,
                w[0].3,
                w[0].1
            );
        }
    }
}

/// A client on a sshd of its own, a repository, and `policies` folders policies over them.
struct Fleet {
    root: tempfile::TempDir,
    _sshds: Vec<TestSshd>,
    clients: Vec<i64>,
    repositories: Vec<(i64, PathBuf)>,
    schedule: i64,
}

impl Fleet {
    async fn new(s: &TestServer, clients: usize, repositories: usize) -> Fleet {
        let key = server_key(s).await;
        let root = tempfile::tempdir().unwrap();
        let mut sshds = Vec::new();
        let mut ids = Vec::new();
        for i in 0..clients {
            // 127.0.0.2, .3…: a host name of its own for each client, on this machine.
            let address = format!("127.0.0.{}", i + 2);
            let d = TestSshd::start_also_on(&key, &address);
            let c = s
                .create(
                    "/api/v1/clients/",
                    json!({"hostname": address, "port": d.port, "username": "root",
                           "host_key": d.host_public_key()}),
                )
                .await;
            ids.push(c["id"].as_i64().unwrap());
            sshds.push(d);
        }
        let mut repos = Vec::new();
        for r in 0..repositories {
            let path = root.path().join(format!("repo-{r}"));
            let repo = s
                .create(
                    "/api/v1/repositories/",
                    json!({"name": format!("R{r}"), "path": path.display().to_string(),
                           "repository_key": PASSPHRASE}),
                )
                .await;
            repos.push((repo["id"].as_i64().unwrap(), path));
        }
        let schedule = s
            .create(
                "/api/v1/schedules/",
                json!({"name": "New year", "crontab": "0 0 1 1 * *"}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        Fleet {
            root,
            _sshds: sshds,
            clients: ids,
            repositories: repos,
            schedule,
        }
    }

    /// Policy `i` backs up a folder of its own from client `i % clients` into repository
    /// `i % repositories`; `fill` puts what the folder holds.
    async fn policy(&self, s: &TestServer, i: usize, fill: impl Fn(&Path)) -> i64 {
        let src = self.root.path().join(format!("src-{i}"));
        std::fs::create_dir_all(&src).unwrap();
        fill(&src);
        s.create(
            "/api/v1/policies/",
            json!({"name": format!("P{i}"), "policy_type": "folders",
                   "extra_vars": json!({"folders": [src.display().to_string()]}).to_string(),
                   "clients": [self.clients[i % self.clients.len()]],
                   "repository": self.repositories[i % self.repositories.len()].0,
                   "schedule": self.schedule}),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }
}

fn borg_archives(repo: &Path) -> Vec<String> {
    let out = std::process::Command::new("borg")
        .args(["list", "--short"])
        .arg(repo)
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .expect("borg list");
    assert!(out.status.success(), "borg list: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_run_thirty_policies_each_job_once() {
    if !cluster_backend() {
        return;
    }
    need_sshd();
    let a = TestServer::spawn_node(None, &[]).await;
    let b = TestServer::spawn_node(Some(&a), &[]).await;
    let c = TestServer::spawn_node(Some(&a), &[]).await;
    let ids: BTreeSet<String> = [&a, &b, &c].iter().map(|s| s.node_id()).collect();
    assert_eq!(ids.len(), 3);
    let fleet = Fleet::new(&a, 10, 3).await;
    let mut policies = Vec::new();
    for i in 0..30 {
        policies.push(
            fleet
                .policy(&a, i, |src| {
                    std::fs::write(src.join("a.txt"), format!("policy {i}\n")).unwrap();
                    std::fs::create_dir_all(src.join("sub")).unwrap();
                    std::fs::write(src.join("sub/b.bin"), vec![i as u8; 100_000]).unwrap();
                })
                .await,
        );
    }
    // All launched at once, through the three nodes in turn.
    let servers = [&a, &b, &c];
    let mut backups = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        backups.extend(launch(servers[i % 3], *p).await);
    }
    assert_eq!(backups.len(), 30);
    for id in &backups {
        for j in wait_chain(&b, *id, CHAIN).await {
            assert_eq!(
                j["status"],
                "successful",
                "{j}\n{}",
                stdout(&b, j["id"].as_i64().unwrap()).await
            );
        }
    }

    let jobs = job_rows(&a).await;
    // Every job ran on one of the three nodes, and the work was shared.
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for j in &jobs {
        assert!(
            ids.contains(&j.runner_node),
            "job {} ran on {:?}",
            j.id,
            j.runner_node
        );
        *per_node.entry(j.runner_node.clone()).or_default() += 1;
    }
    assert!(per_node.len() >= 2, "one node did everything: {per_node:?}");
    // One borg per repository and one job per client at any moment, across the nodes.
    assert_one_at_a_time(&jobs, "repository", |j| j.repository_id);
    assert_one_at_a_time(&jobs, "client", |j| j.client_id);
    // Each backup ran once: exactly one archive per policy, ten in each repository.
    for (_, path) in &fleet.repositories {
        let names = borg_archives(path);
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with("-2")), "{names:?}");
    }
    let backup_jobs: Vec<_> = jobs
        .iter()
        .filter(|j| j.job_type == JobType::Backup)
        .collect();
    assert_eq!(backup_jobs.len(), 30);
    let api = job(&c, backups[0]).await;
    assert!(
        ids.contains(api["execution_node"].as_str().unwrap()),
        "{api}"
    );
    let (_, filtered) = c
        .get(&format!(
            "/api/v1/jobs/?execution_node={}&page_size=200",
            api["execution_node"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        filtered["count"].as_u64().unwrap() as usize,
        per_node[api["execution_node"].as_str().unwrap()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_backup_is_taken_over_within_the_lease() {
    if !cluster_backend() {
        return;
    }
    need_sshd();
    let env = [
        ("CYBORG_NODE_LEASE_SECONDS", LEASE),
        ("CYBORG_NODE_HEARTBEAT_SECONDS", "1"),
    ];
    let a = TestServer::spawn_node(None, &env).await;
    let b = TestServer::spawn_node(Some(&a), &env).await;
    let c = TestServer::spawn_node(Some(&a), &env).await;
    let borg = Borg::new(&a).await;
    let (policy, src) = borg.slow_policy(&a, "Killed").await;
    let ids = launch(&a, policy).await;
    let pid = wait_remote_pid(&a, ids[0]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "borg runs");
    let runner = job(&a, ids[0]).await["execution_node"]
        .as_str()
        .unwrap()
        .to_string();
    let mut servers = [a, b, c];
    let victim = servers
        .iter()
        .position(|s| s.node_id() == runner)
        .expect("the backup runs on one of the nodes");
    servers[victim].kill();
    let killed_at = Instant::now();
    let survivor = &servers[(victim + 1) % 3];

    // Within the lease and ten seconds: marked, with the reason, and its borg stopped.
    let lease = Duration::from_secs(LEASE.parse().unwrap());
    let j = loop {
        let j = job(survivor, ids[0]).await;
        if j["status"] != "running" {
            break j;
        }
        assert!(
            killed_at.elapsed() < lease + Duration::from_secs(10),
            "still running {:?} after the node died: {j}",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(j["status"], "error", "{j}");
    let why = j["job_explanation"].as_str().unwrap();
    assert!(
        why.contains(&format!("Node {runner}")) && why.contains("stopped answering"),
        "{why}"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "borg {pid} survived the takeover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed = nodes(survivor).await;
    let dead = &listed[&runner];
    assert_eq!(dead["state"], "dead", "{dead}");
    let by = dead["taken_over_by"].as_str().unwrap();
    assert!(by != runner && listed.contains_key(by), "{dead}");
    let log = stdout(survivor, ids[0]).await;
    assert!(log.contains("stopped answering"), "{log}");
    // The catalog job after it never runs.
    let (_, chain) = survivor
        .get(&format!(
            "/api/v1/jobs/?master_job={}&job_type=catalog",
            ids[0]
        ))
        .await;
    assert_eq!(chain["count"], 1, "{chain}");
    assert_eq!(chain["results"][0]["status"], "canceled", "{chain}");

    // The repository is usable: the next run of the policy succeeds on a live node.
    std::fs::remove_file(src.join("huge.img")).unwrap();
    std::fs::write(src.join("a.txt"), b"a\n").unwrap();
    let again = launch(survivor, policy).await;
    for j in wait_chain(survivor, again[0], CHAIN).await {
        assert_eq!(
            j["status"],
            "successful",
            "{j}\n{}",
            stdout(survivor, j["id"].as_i64().unwrap()).await
        );
        assert_ne!(j["execution_node"], runner.as_str());
    }
    let archives = borg.borg_archives();
    assert!(
        archives.iter().any(|n| !n.ends_with(".checkpoint")),
        "{archives:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_node_loses_no_job() {
    if !cluster_backend() {
        return;
    }
    need_sshd();
    let a = TestServer::spawn_node(None, &[]).await;
    let b = TestServer::spawn_node(Some(&a), &[]).await;
    let c = TestServer::spawn_node(Some(&a), &[]).await;
    let fleet = Fleet::new(&a, 3, 3).await;
    let mut policies = Vec::new();
    for i in 0..9 {
        // A sparse GiB: a few seconds of borg each, so restarts meet running jobs.
        policies.push(
            fleet
                .policy(&a, i, |src| sparse_file(&src.join("disk.img"), 1))
                .await,
        );
    }
    let mut backups = Vec::new();
    for p in &policies {
        backups.extend(launch(&a, *p).await);
    }
    let mut servers = [a, b, c];
    let mut met_running = 0;
    for s in servers.iter_mut() {
        let id = s.node_id();
        met_running += job_rows(s)
            .await
            .iter()
            .filter(|j| j.runner_node == id && j.status == JobStatus::Running)
            .count();
        s.terminate_and_restart().await;
        let listed = nodes(s).await;
        assert_eq!(listed[&id]["state"], "alive", "{listed:?}");
    }
    assert!(met_running > 0, "no restart met a running job");
    let s = &servers[0];
    for id in &backups {
        for j in wait_chain(s, *id, CHAIN).await {
            assert_eq!(
                j["status"],
                "successful",
                "{j}\n{}",
                stdout(s, j["id"].as_i64().unwrap()).await
            );
        }
    }
    let jobs = job_rows(s).await;
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Successful),
        "{jobs:?}"
    );
    assert_one_at_a_time(&jobs, "repository", |j| j.repository_id);
    let total: usize = fleet
        .repositories
        .iter()
        .map(|(_, p)| borg_archives(p).len())
        .sum();
    assert_eq!(total, 9);
    // No node stopped with work in hand: none was taken over.
    assert!(
        job_row::Entity::find()
            .filter(job_row::Column::JobExplanation.contains("stopped answering"))
            .all(&s.db().await)
            .await
            .unwrap()
            .is_empty()
    );
}
