//! Fixtures for end-to-end job tests: a real server, a real sshd authorizing the server's key on
//! 127.0.0.1, and a client, repository, schedule and `folders` policy pointing at them.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{TestServer, sshd::TestSshd};

pub const PASSPHRASE: &str = "pass-Phrase-7f3a9c-never-in-ps";

pub struct Borg {
    pub sshd: TestSshd,
    /// Holds the backed-up trees and the repository.
    pub root: TempDir,
    pub client: i64,
    pub repository: i64,
    pub repo_path: PathBuf,
    pub schedule: i64,
}

impl Borg {
    /// sshd authorizing `s`'s key, a client for it, a repository under a temp dir, and a schedule
    /// that never fires during a test (1 January).
    pub async fn new(s: &TestServer) -> Borg {
        let sshd = TestSshd::start(&server_key(s).await);
        Self::with_sshd(s, sshd).await
    }

    /// The same over a given sshd (one with stand-in tools on its PATH, say).
    pub async fn with_sshd(s: &TestServer, sshd: TestSshd) -> Borg {
        let root = tempfile::tempdir().expect("temp dir");
        let repo_path = root.path().join("repo");
        Self::with_repository(s, sshd, root, repo_path).await
    }

    /// The same with the repository at `repo_path` (under `root`, which the fixture keeps).
    pub async fn with_repository(
        s: &TestServer,
        sshd: TestSshd,
        root: TempDir,
        repo_path: PathBuf,
    ) -> Borg {
        let client = s
            .create(
                "/api/v1/clients/",
                json!({"hostname": "127.0.0.1", "port": sshd.port, "username": "root",
                       "host_key": sshd.host_public_key()}),
            )
            .await;
        let repository = s
            .create(
                "/api/v1/repositories/",
                json!({"name": "Test repo", "path": repo_path.display().to_string(),
                       "repository_key": PASSPHRASE}),
            )
            .await;
        let schedule = s
            .create(
                "/api/v1/schedules/",
                json!({"name": "New year", "crontab": "0 0 1 1 * *"}),
            )
            .await;
        Borg {
            sshd,
            root,
            client: client["id"].as_i64().unwrap(),
            repository: repository["id"].as_i64().unwrap(),
            repo_path,
            schedule: schedule["id"].as_i64().unwrap(),
        }
    }

    /// A `folders` policy on this client and repository.
    pub async fn policy(&self, s: &TestServer, name: &str, extra_vars: Value, more: Value) -> i64 {
        let mut more = more;
        if more.get("policy_type").is_none() {
            more["policy_type"] = json!("folders");
        }
        self.typed_policy(s, name, extra_vars, more).await
    }

    /// A policy on this client and repository; `more` gives its `policy_type` and any other field.
    pub async fn typed_policy(
        &self,
        s: &TestServer,
        name: &str,
        extra_vars: Value,
        more: Value,
    ) -> i64 {
        let mut body = json!({
            "name": name, "extra_vars": extra_vars.to_string(),
            "clients": [self.client], "repository": self.repository, "schedule": self.schedule,
        });
        for (k, v) in more.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        s.create("/api/v1/policies/", body).await["id"]
            .as_i64()
            .unwrap()
    }

    /// A `folders` policy over `<root>/src` holding a 200 GiB sparse file: its backup runs long
    /// enough to cancel or kill. Answers the policy and the source folder.
    pub async fn slow_policy(&self, s: &TestServer, name: &str) -> (i64, PathBuf) {
        let src = self.root.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        sparse_file(&src.join("huge.img"), 200);
        let policy = self
            .policy(
                s,
                name,
                json!({"folders": [src.display().to_string()]}),
                json!({}),
            )
            .await;
        (policy, src)
    }

    /// A `folders` policy over `folder`, launched, its whole chain (backup, catalog) waited for
    /// and asserted successful. Answers the policy and the archive's name.
    pub async fn back_up(&self, s: &TestServer, name: &str, folder: &Path) -> (i64, String) {
        let policy = self
            .policy(
                s,
                name,
                json!({"folders": [folder.display().to_string()]}),
                json!({}),
            )
            .await;
        let ids = launch(s, policy).await;
        let chain = wait_chain(s, ids[0], Duration::from_secs(300)).await;
        assert!(
            chain.iter().all(|j| j["status"] == "successful"),
            "{chain:?}"
        );
        (
            policy,
            chain[0]["archive_name"].as_str().unwrap().to_string(),
        )
    }

    /// The bytes of `item` in `archive`, read by `borg extract --stdout` here.
    pub fn extract_stdout(&self, archive: &str, item: &str) -> Vec<u8> {
        let out = Command::new("borg")
            .args(["extract", "--stdout", "--"])
            .arg(format!("{}::{archive}", self.repo_path.display()))
            .arg(item)
            .env("BORG_PASSPHRASE", PASSPHRASE)
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .output()
            .expect("running borg extract");
        assert!(
            out.status.success(),
            "borg extract: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The archive names borg lists in the repository.
    pub fn borg_archives(&self) -> Vec<String> {
        let out = Command::new("borg")
            .args(["list", "--short"])
            .arg(&self.repo_path)
            .env("BORG_PASSPHRASE", PASSPHRASE)
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .output()
            .expect("running borg list");
        assert!(out.status.success(), "borg list: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The server's public key, for an sshd to authorize.
pub async fn server_key(s: &TestServer) -> String {
    let (_, key) = s.get("/api/v1/settings/ssh_public_key/").await;
    key["pubkey"].as_str().expect("pubkey").to_string()
}

/// Launches `policy` and answers the backup job ids (asserting 201).
pub async fn launch(s: &TestServer, policy: i64) -> Vec<i64> {
    let (st, body) = s
        .post(&format!("/api/v1/policies/{policy}/launch/"), json!({}))
        .await;
    assert_eq!(st.as_u16(), 201, "launch: {body}");
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_i64().unwrap())
        .collect()
}

pub async fn job(s: &TestServer, id: i64) -> Value {
    let (st, j) = s.get(&format!("/api/v1/jobs/{id}/")).await;
    assert_eq!(st.as_u16(), 200, "job {id}: {j}");
    j
}

const FINISHED: &[&str] = &["successful", "failed", "error", "canceled"];

/// Waits until job `id` is over and answers it.
pub async fn wait_done(s: &TestServer, id: i64, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let j = job(s, id).await;
        if FINISHED.contains(&j["status"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} still {} after {timeout:?}: {j}",
            j["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every job of the chain of backup job `id` (itself, its check job, catalog, prune), waited for
/// until over.
pub async fn wait_chain(s: &TestServer, id: i64, timeout: Duration) -> Vec<Value> {
    let backup = wait_done(s, id, timeout).await;
    let (_, list) = s
        .get(&format!("/api/v1/jobs/?master_job={id}&order_by=id"))
        .await;
    let mut all = vec![backup];
    for j in list["results"].as_array().unwrap() {
        all.push(wait_done(s, j["id"].as_i64().unwrap(), timeout).await);
    }
    all
}

/// The job's whole log.
pub async fn stdout(s: &TestServer, id: i64) -> String {
    let resp = s
        .http
        .get(s.url(&format!("/api/v1/jobs/{id}/stdout/?format=txt")))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap();
    resp.text().await.unwrap()
}

/// Waits until `cond` holds on the job (polling), answering it.
pub async fn wait_job(
    s: &TestServer,
    id: i64,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let j = job(s, id).await;
        if cond(&j) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "job {id}: {what} not reached: {j}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a process whose command line contains `needle` runs.
pub fn process_running(needle: &str) -> bool {
    ps_args().lines().any(|l| l.contains(needle))
}

pub fn ps_args() -> String {
    let out = Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A sparse file of `gib` GiB: borg reads every byte, so a backup of it lasts long enough to
/// cancel or kill while it runs, yet it takes no disk space.
pub fn sparse_file(path: &Path, gib: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(gib << 30).unwrap();
}

/// Polls the job row until borg's pid on the client is recorded (borg really runs), failing
/// if the job ends first.
pub async fn wait_remote_pid(s: &TestServer, id: i64) -> i32 {
    use sea_orm::EntityTrait;
    let db = s.db().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = cyborg_core::entities::job::Entity::find_by_id(id as i32)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        if let Some(pid) = j.remote_pid {
            return pid;
        }
        assert!(
            !FINISHED.contains(&j.status.as_str()),
            "job ended before borg ran: {j:?}"
        );
        assert!(Instant::now() < deadline, "no remote pid: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
