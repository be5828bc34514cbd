//! Test harness: starts the real server on 127.0.0.1:0 over a fresh database — SQLite in a temp
//! directory, or, with `CYBORG_TEST_DB=postgres`, a new PostgreSQL database that is dropped
//! afterwards — and talks to it over real HTTP.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use cyborg_core::config::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "admin-password";
/// Base URL of the PostgreSQL server used with `CYBORG_TEST_DB=postgres`.
const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432";

pub fn backend() -> &'static str {
    match std::env::var("CYBORG_TEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") => "postgres",
        _ => "sqlite",
    }
}

/// An HTTP client that says, as a browser on the dashboard's own pages does, that its requests
/// come from this site (`Sec-Fetch-Site: same-origin`): cookie-authenticated writes need it
/// (`server::csrf`). The CSRF tests use a bare client instead.
pub fn browser_like_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "sec-fetch-site",
        reqwest::header::HeaderValue::from_static("same-origin"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub db_url: String,
    pub data_dir: PathBuf,
    /// Bearer token of the first superuser.
    pub admin_token: String,
    pg_database: Option<String>,
    running: Running,
    /// Environment given to the server process (and to its restarts) over the defaults.
    env: Vec<(String, String)>,
    _dir: TempDir,
}

/// How the server under test runs: a task of the test's runtime, or its own OS process (for
/// tests that kill it or run several against one database).
enum Running {
    Task(tokio::task::JoinHandle<anyhow::Result<()>>),
    Process(std::process::Child),
}

impl Running {
    fn stopped(&mut self) -> bool {
        match self {
            Running::Task(t) => t.is_finished(),
            Running::Process(c) => c.try_wait().ok().flatten().is_some(),
        }
    }

    fn stop(&mut self) {
        match self {
            Running::Task(t) => t.abort(),
            Running::Process(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// What the test server runs besides the API.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The job engine (runner, recovery).
    pub engine: bool,
    /// The scheduler (with the engine).
    pub scheduler: bool,
    /// `CYBORG_METRICS_TOKEN`.
    pub metrics_token: Option<&'static str>,
    /// `CYBORG_METRICS_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: true,
            scheduler: true,
            metrics_token: None,
            metrics_addr: None,
        }
    }
}

impl TestServer {
    /// The server with its job engine and scheduler.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// The API alone: tests that seed jobs in any status, or compare database snapshots, need no
    /// engine acting behind their back.
    pub async fn start_api_only() -> Self {
        Self::start_with(Options {
            engine: false,
            scheduler: false,
            metrics_token: None,
            metrics_addr: None,
        })
        .await
    }

    /// A fresh database for one test: a SQLite file in `dir` or a new PostgreSQL database.
    pub async fn new_database(dir: &Path) -> (String, Option<String>) {
        match backend() {
            "postgres" => {
                let name = format!("cyborg_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(format!("{PG_BASE}/postgres"))
                    .await
                    .expect("PostgreSQL on 127.0.0.1:5432");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                (format!("{PG_BASE}/{name}"), Some(name))
            }
            _ => (format!("sqlite://{}/test.db?mode=rwc", dir.display()), None),
        }
    }

    pub async fn start_with(opts: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db_url, pg_database) = Self::new_database(dir.path()).await;
        let config = Config {
            database_url: Some(db_url.clone()),
            database_url_file: None,
            data_dir: dir.path().join("data"),
            site_addr: "127.0.0.1:0".parse().unwrap(),
            site_root: dir.path().join("site").display().to_string(),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            admin_password_file: None,
            secret_key: Some("test-secret-key".into()),
            secret_key_file: None,
            engine: opts.engine,
            scheduler: opts.scheduler,
            catalog_index_mb: 64,
            trusted_proxies: Vec::new(),
            metrics_token: opts.metrics_token.map(String::from),
            metrics_token_file: None,
            metrics_addr: opts.metrics_addr,
            log: "warn".into(),
            node: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(server::start(config, Some(listener)));
        let http = browser_like_client();
        let mut server = TestServer {
            addr,
            http,
            db_url,
            data_dir: dir.path().join("data"),
            admin_token: String::new(),
            pg_database,
            running: Running::Task(task),
            env: Vec::new(),
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    /// The `cyborgbackup` binary as its own process, with engine and scheduler, on a fresh
    /// database.
    pub async fn spawn_process() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db_url, pg_database) = Self::new_database(dir.path()).await;
        Self::spawn_on(dir, db_url, pg_database).await
    }

    /// Another server process on the same database, with a data directory of its own (so a node
    /// of its own); it leaves the database to `self`.
    pub async fn another_process(&self) -> Self {
        Self::spawn_on(
            tempfile::tempdir().expect("temp dir"),
            self.db_url.clone(),
            None,
        )
        .await
    }

    /// The binary as its own process in a mount namespace of its own where `/etc/hosts` also
    /// maps each of `names` to 127.0.0.1: clients with distinct host names on one test sshd.
    pub async fn spawn_process_with_hosts(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let hosts = dir.path().join("hosts");
        let mut text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        text.push_str(&format!("\n127.0.0.1 {}\n", names.join(" ")));
        std::fs::write(&hosts, text).unwrap();
        let (db_url, pg_database) = Self::new_database(dir.path()).await;
        Self::spawn_with(dir, db_url, pg_database, Some(hosts), Vec::new()).await
    }

    async fn spawn_on(dir: TempDir, db_url: String, pg_database: Option<String>) -> Self {
        Self::spawn_with(dir, db_url, pg_database, None, Vec::new()).await
    }

    /// A node of a cluster: the binary on a fresh database (`of: None`) or on `of`'s, with
    /// `env` over the defaults (lease, capacity, labels).
    pub async fn spawn_node(of: Option<&TestServer>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db_url, pg_database) = match of {
            Some(s) => (s.db_url.clone(), None),
            None => Self::new_database(dir.path()).await,
        };
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn_with(dir, db_url, pg_database, None, env).await
    }

    /// Runs the binary on `self`'s database with `env` and expects it to refuse to start:
    /// answers what it printed.
    pub fn start_refused(&self, env: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Self::command_piped(&self.db_url, &dir.path().join("data"), addr, None, &env);
        let out = child
            .wait_with_output()
            .expect("waiting for the refused server");
        assert!(!out.status.success(), "the server started: {out:?}");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    async fn spawn_with(
        dir: TempDir,
        db_url: String,
        pg_database: Option<String>,
        hosts: Option<PathBuf>,
        env: Vec<(String, String)>,
    ) -> Self {
        let data_dir = dir.path().join("data");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Self::command(&db_url, &data_dir, addr, hosts.as_deref(), &env);
        let mut server = TestServer {
            addr,
            http: browser_like_client(),
            db_url,
            data_dir,
            admin_token: String::new(),
            pg_database,
            running: Running::Process(child),
            env,
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    fn command(
        db_url: &str,
        data_dir: &Path,
        addr: SocketAddr,
        hosts: Option<&Path>,
        env: &[(String, String)],
    ) -> std::process::Child {
        Self::build_command(db_url, data_dir, addr, hosts, env)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("starting the cyborgbackup binary")
    }

    fn command_piped(
        db_url: &str,
        data_dir: &Path,
        addr: SocketAddr,
        hosts: Option<&Path>,
        env: &[(String, String)],
    ) -> std::process::Child {
        Self::build_command(db_url, data_dir, addr, hosts, env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting the cyborgbackup binary")
    }

    fn build_command(
        db_url: &str,
        data_dir: &Path,
        addr: SocketAddr,
        hosts: Option<&Path>,
        env: &[(String, String)],
    ) -> std::process::Command {
        let binary = env!("CARGO_BIN_EXE_cyborgbackup");
        let mut cmd = match hosts {
            None => std::process::Command::new(binary),
            Some(hosts) => {
                // unshare makes the namespace's mounts private: the bind mount stays inside.
                let mut c = std::process::Command::new("unshare");
                c.args([
                    "-m",
                    "sh",
                    "-c",
                    "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
                ])
                .arg(hosts)
                .arg(binary);
                c
            }
        };
        cmd.env("DATABASE_URL", db_url)
            .env("CYBORG_DATA_DIR", data_dir)
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", data_dir.join("site"))
            .env("CYBORG_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("CYBORG_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CYBORG_SECRET_KEY", "test-secret-key")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)));
        // An empty CYBORG_SECRET_KEY in `env`: none configured, the server makes its key file.
        if env
            .iter()
            .any(|(k, v)| k == "CYBORG_SECRET_KEY" && v.is_empty())
        {
            cmd.env_remove("CYBORG_SECRET_KEY");
        }
        cmd
    }

    /// Kills the server process with SIGKILL (no clean-up of any kind) and starts it again on
    /// the same database and data directory.
    pub async fn kill_and_restart(&mut self) {
        let Running::Process(child) = &mut self.running else {
            panic!("kill_and_restart needs a server started with spawn_process");
        };
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        self.restart().await;
    }

    /// Kills the server process with SIGKILL and leaves it dead.
    pub fn kill(&mut self) {
        let Running::Process(child) = &mut self.running else {
            panic!("kill needs a server started as a process");
        };
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }

    /// Stops the server process as an init system does (SIGTERM), waits until it has exited
    /// (its jobs drained), and starts it again on the same database and data directory.
    pub async fn terminate_and_restart(&mut self) {
        let Running::Process(child) = &mut self.running else {
            panic!("terminate_and_restart needs a server started as a process");
        };
        let pid = child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not stop after SIGTERM"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.restart().await;
    }

    /// Starts the (stopped) server process again on the same database and data directory.
    pub async fn start_again(&mut self) {
        self.restart().await;
    }

    /// Runs the binary with `args` on this server's database and data directory (and its
    /// environment) and answers how it went.
    pub fn run_command(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Self::build_command(&self.db_url, &self.data_dir, addr, None, &self.env);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running the cyborgbackup binary")
    }

    async fn restart(&mut self) {
        self.addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        self.running = Running::Process(Self::command(
            &self.db_url,
            &self.data_dir,
            self.addr,
            None,
            &self.env,
        ));
        self.wait_ready().await;
    }

    /// The node id of this server's data directory.
    pub fn node_id(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("node-id"))
            .expect("node-id")
            .trim()
            .to_string()
    }

    async fn wait_ready(&mut self) {
        for _ in 0..600 {
            if let Ok(r) = self.http.get(self.url("/api/v1/ping/")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(!self.running.stopped(), "the server stopped while starting");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.admin_token = self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A bearer token for the given credentials (panics when refused).
    pub async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .raw(
                Method::POST,
                "/api/token/obtain/",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "token for {email}: {body}");
        body["access"].as_str().expect("access token").to_string()
    }

    /// Sends a request with an optional bearer token and JSON body; answers status and JSON
    /// (`Value::Null` for an empty body, a string for a non-JSON one).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        read(resp).await
    }

    /// Sends raw bytes as the body (for malformed JSON).
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.raw(Method::GET, path, Some(&self.admin_token.clone()), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            Method::POST,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            Method::PATCH,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            Method::PUT,
            path,
            Some(&self.admin_token.clone()),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.raw(Method::DELETE, path, Some(&self.admin_token.clone()), None)
            .await
    }

    /// Creates an object as the admin and answers it (panics unless 201).
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path} {body}: {v}");
        v
    }

    /// A non-superuser and their bearer token.
    pub async fn regular_user(&self, email: &str) -> (i64, String) {
        let u = self
            .create(
                "/api/v1/users/",
                json!({"email": email, "password": "user-password", "first_name": "Reg"}),
            )
            .await;
        (
            u["id"].as_i64().unwrap(),
            self.token(email, "user-password").await,
        )
    }

    /// A direct connection to the server's database, for seeding what the API cannot write.
    pub async fn db(&self) -> DatabaseConnection {
        cyborg_core::db::connect(&self.db_url)
            .await
            .expect("test database")
    }

    /// A schedule, a repository, a client and a policy using them; answers their ids.
    pub async fn fixture(&self) -> Fixture {
        let schedule = self
            .create(
                "/api/v1/schedules/",
                json!({"name": "Nightly", "crontab": "0 3 * * * *"}),
            )
            .await;
        let repository = self
            .create("/api/v1/repositories/", json!({"name": "Main", "path": "/srv/borg/main", "repository_key": "s3cret-passphrase"}))
            .await;
        let client = self
            .create("/api/v1/clients/", json!({"hostname": "web1.example.com"}))
            .await;
        let policy = self
            .create(
                "/api/v1/policies/",
                json!({
                    "name": "Web config", "policy_type": "config", "repository": repository["id"],
                    "schedule": schedule["id"], "clients": [client["id"]], "keep_daily": 7
                }),
            )
            .await;
        Fixture {
            schedule: schedule["id"].as_i64().unwrap(),
            repository: repository["id"].as_i64().unwrap(),
            client: client["id"].as_i64().unwrap(),
            policy: policy["id"].as_i64().unwrap(),
        }
    }
}

pub struct Fixture {
    pub schedule: i64,
    pub repository: i64,
    pub client: i64,
    pub policy: i64,
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.running.stop();
        if let Some(name) = self.pg_database.take() {
            drop_pg_database(name);
        }
    }
}

/// Drops a test's PostgreSQL database, forcing off the connections an aborted server still
/// holds. Runs outside async code: a short-lived runtime on its own thread does it.
pub fn drop_pg_database(name: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok(admin) = Database::connect(format!("{PG_BASE}/postgres")).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    })
    .join();
}

/// Seeds one archive the way a finished backup would leave it (the catalog has no write API):
/// a successful backup job, the archive row, and one catalog entry per `(path, size)`, sharing
/// `catalog_paths` rows with earlier archives. Answers `(job id, archive id)`.
pub async fn seed_archive(
    s: &TestServer,
    repository: i64,
    archive_name: &str,
    files: &[(&str, i64)],
) -> (i32, i32) {
    use cyborg_core::entities::{archive, job};
    use cyborg_dto::{JobStatus, JobType, LaunchType};
    use sea_orm::{ActiveModelTrait, Set};

    let db = s.db().await;
    let t = chrono::Utc::now();
    let job = job::ActiveModel {
        uuid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(format!("backup {archive_name}")),
        job_type: Set(JobType::Backup),
        launch_type: Set(LaunchType::Manual),
        status: Set(JobStatus::Successful),
        failed: Set(false),
        started: Set(Some(t)),
        finished: Set(Some(t)),
        elapsed: Set(1.0),
        policy_id: Set(None),
        client_id: Set(None),
        repository_id: Set(Some(repository as i32)),
        archive_name: Set(archive_name.into()),
        original_size: Set(0),
        compressed_size: Set(0),
        deduplicated_size: Set(0),
        job_explanation: Set(String::new()),
        master_job_id: Set(None),
        depends_on_id: Set(None),
        created: Set(t),
        modified: Set(t),
        created_by: Set(None),
        modified_by: Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("seed job");
    let archive = archive::ActiveModel {
        repository_id: Set(repository as i32),
        client_id: Set(None),
        policy_id: Set(None),
        job_id: Set(Some(job.id)),
        name: Set(archive_name.into()),
        created: Set(t),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("seed archive");
    // Through the real ingestion, as a catalog job would write it.
    let mut listing = String::new();
    for (path, size) in files {
        listing.push_str(
            &serde_json::json!({
                "type": "-", "mode": "-rw-r--r--", "user": "root", "group": "root",
                "path": path, "healthy": true, "size": size,
                "mtime": "2024-05-06T07:08:09.000000",
            })
            .to_string(),
        );
        listing.push('\n');
    }
    cyborg_core::catalog::ingest(&db, archive.id, listing.as_bytes())
        .await
        .expect("seed catalog");
    db.close().await.ok();
    (job.id, archive.id)
}

/// `path` with the query string built from `pairs`, every value percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost")
        .unwrap()
        .join(path)
        .unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    match url.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
        _ => url.path().to_string(),
    }
}
pub mod borg;
pub mod databases;
pub mod receivers;
pub mod sshd;
pub use sshd::free_port;
pub mod tree;
